// Gradient tests for indexing (index_select, gather, embedding — with repeated indices so
// gradients accumulate), joining and splitting (concat, stack, split), triangles (tril,
// triu) and cross_entropy (ignore_index rows, label smoothing 0 and 0.1, [N, C] and
// [B, T, C] logits): gradcheck on the logits, and the value and the gradient against a
// double-precision reference computed here.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "grad_util.hpp"

using namespace gt;

namespace {

// A leaf [r, c] that is the transpose of contiguous [c, r] data.
Tensor transposed_param(int64_t r, int64_t c, uint64_t seed) { return req(T(lcg_values(r * c, seed), {c, r}).transpose(0, 1)); }

}  // namespace

// ---------------------------------------------------------------------------------------
// index_select
// ---------------------------------------------------------------------------------------

TEST(GradIndexSelect, RepeatedIndicesAccumulate) {
  struct Case {
    int axis;
    Tensor index;
    const char* name;
  };
  const std::vector<Case> cases = {
      {0, I64({2, 0, 2, 3, 2}, {5}), "axis 0, i64, index 2 three times"},
      {1, I32({1, 1, 0}, {3}), "axis 1, i32, index 1 twice, column 2 unused"},
      {-1, I64({2, 2}, {2}), "axis -1, only column 2, twice"},
      {0, I64({1}, {1}), "axis 0, a single row"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto f = [c](const std::vector<Tensor>& in) { return ag::index_select(in[0], c.axis, c.index); };
    Tensor x = param({4, 3}, 1);
    expect_same_forward(f({x}), xla::index_select(x, c.axis, c.index));
    check_grad(f, {x});
    check_grad(f, {transposed_param(4, 3, 2)});
  }
  // 3-D, the middle axis.
  Tensor idx = I64({0, 2, 0, 0}, {4});
  check_grad([idx](const std::vector<Tensor>& in) { return ag::index_select(in[0], 1, idx); }, {param({2, 3, 2}, 3)});
}

TEST(GradIndexSelect, ExactRowCounts) {
  // index_select(x [3,2], 0, [1, 1, 2]) with a ones seed: row 1 is picked twice → 2,
  // row 2 once → 1, row 0 never → 0.
  Tensor x = req(T({1, 2, 3, 4, 5, 6}, {3, 2}));
  Tensor y = ag::index_select(x, 0, I64({1, 1, 2}, {3}));
  expect_grad(grads_of(y, {x}, T(std::vector<float>(6, 1.f), {3, 2}))[0], {3, 2}, {0, 0, 2, 2, 1, 1});
}

// ---------------------------------------------------------------------------------------
// gather
// ---------------------------------------------------------------------------------------

TEST(GradGather, RepeatedIndicesAccumulate) {
  struct Case {
    Shape xs;
    int axis;
    Tensor index;
    const char* name;
  };
  const std::vector<Case> cases = {
      {{3, 4}, 1, I64({0, 0, 3, 1, 0, 2, 2, 2, 1, 3, 3, 0, 1, 1, 1}, {3, 5}), "[3,4] axis 1, index [3,5]"},
      {{3, 4}, 0, I64({0, 1, 2, 2, 2, 2, 0, 1, 1, 0, 0, 0, 2, 1, 1, 2, 0, 0, 0, 1}, {5, 4}), "[3,4] axis 0, index [5,4]"},
      {{3, 4}, -1, I64({3, 3, 3, 0, 0, 0}, {3, 2}), "[3,4] axis -1, index [3,2]"},
      {{2, 3, 2}, 1, I64({0, 1, 2, 2, 2, 2, 1, 0, 0, 0, 1, 1, 2, 0, 1, 1}, {2, 4, 2}), "[2,3,2] axis 1, index [2,4,2]"},
      {{2, 3, 2}, 2, I32({1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1}, {2, 3, 2}), "[2,3,2] axis 2, i32 index [2,3,2]"},
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto f = [c](const std::vector<Tensor>& in) { return ag::gather(in[0], c.axis, c.index); };
    Tensor x = param(c.xs, seed++);
    expect_same_forward(f({x}), xla::gather(x, c.axis, c.index));
    check_grad(f, {x});
  }
  {
    SCOPED_TRACE("transposed leaf, axis 1");
    Tensor idx = I64({2, 2, 0, 1, 1, 1, 0, 0}, {4, 2});
    check_grad([idx](const std::vector<Tensor>& in) { return ag::gather(in[0], 1, idx); }, {transposed_param(4, 3, 20)});
  }
}

TEST(GradGather, ExactCounts) {
  // gather(x [2,3], axis 1, [[0,0,2],[1,1,1]]) with a ones seed:
  // row 0 picks column 0 twice and column 2 once → [2, 0, 1]; row 1 picks column 1 three
  // times → [0, 3, 0].
  Tensor x = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  Tensor y = ag::gather(x, 1, I64({0, 0, 2, 1, 1, 1}, {2, 3}));
  expect_grad(grads_of(ag::sum(y), {x})[0], {2, 3}, {2, 0, 1, 0, 3, 0});
}

// ---------------------------------------------------------------------------------------
// embedding
// ---------------------------------------------------------------------------------------

TEST(GradEmbedding, RepeatedIdsAccumulate) {
  struct Case {
    Tensor ids;
    const char* name;
  };
  const std::vector<Case> cases = {
      {I64({1, 3, 1, 0, 3, 3}, {2, 3}), "ids [2,3] i64 with repeats, row 2 and 4 unused"},
      {I32({4, 4, 2}, {3}), "ids [3] i32"},
      {I64({2}, {}), "0-d id"},
      {I64({0, 1, 2, 3, 4, 0, 1, 2}, {2, 2, 2}), "ids [2,2,2]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto f = [c](const std::vector<Tensor>& in) { return ag::embedding(in[0], c.ids); };
    Tensor w = param({5, 3}, 30);
    expect_same_forward(f({w}), xla::embedding(w, c.ids));
    check_grad(f, {w});
    check_grad(f, {transposed_param(5, 3, 31)});
  }
}

TEST(GradEmbedding, RepeatedIdGetsTwiceTheRowGradient) {
  // weight [4,2], ids [1, 3, 1], seed s = [[1,2],[3,4],[5,6]]:
  // row 1 gets s0 + s2 = [6, 8]; row 3 gets s1 = [3, 4]; rows 0 and 2 get 0.
  Tensor w = req(T({0, 0, 0, 0, 0, 0, 0, 0}, {4, 2}));
  Tensor y = ag::embedding(w, I64({1, 3, 1}, {3}));
  expect_shape(y, {3, 2});
  expect_grad(grads_of(y, {w}, T({1, 2, 3, 4, 5, 6}, {3, 2}))[0], {4, 2}, {0, 0, 6, 8, 0, 0, 3, 4});
  // With a ones seed a repeated id gets exactly 2x a single id's gradient.
  Tensor v = req(T({0, 0, 0, 0, 0, 0, 0, 0}, {4, 2}));
  Tensor z = ag::embedding(v, I64({2, 0, 2}, {3}));
  expect_grad(grads_of(ag::sum(z), {v})[0], {4, 2}, {1, 1, 0, 0, 2, 2, 0, 0});
}

// ---------------------------------------------------------------------------------------
// concat / stack / split
// ---------------------------------------------------------------------------------------

TEST(GradConcat, AxesViewsAndRepeats) {
  {
    SCOPED_TRACE("axis 1: [2,3] [2,1] [2,2]");
    auto f = [](const std::vector<Tensor>& in) { return ag::concat({in[0], in[1], in[2]}, 1); };
    Tensor a = param({2, 3}, 41), b = param({2, 1}, 42), c = param({2, 2}, 43);
    expect_same_forward(f({a, b, c}), xla::concat({a, b, c}, 1));
    check_grad(f, {a, b, c});
  }
  {
    SCOPED_TRACE("axis 0: [1,3] [2,3], axis -1 on 3-D");
    check_grad([](const std::vector<Tensor>& in) { return ag::concat({in[0], in[1]}, 0); }, {param({1, 3}, 44), param({2, 3}, 45)});
    check_grad([](const std::vector<Tensor>& in) { return ag::concat({in[0], in[1]}, -1); },
               {param({2, 2, 3}, 46), param({2, 2, 1}, 47)});
  }
  {
    SCOPED_TRACE("a transposed leaf and a step-2 sliced leaf");
    Tensor s = req(T(lcg_values(12, 48), {2, 6}).slice(1, 0, 6, 2));
    check_grad([](const std::vector<Tensor>& in) { return ag::concat({in[0], in[1]}, 0); }, {transposed_param(2, 3, 49), s});
  }
  {
    SCOPED_TRACE("the same leaf twice, and a constant that does not require grad");
    Tensor k = T({9, 9, 9}, {1, 3});
    check_grad([k](const std::vector<Tensor>& in) { return ag::concat({in[0], k, in[0]}, 0); }, {param({2, 3}, 50)});
  }
}

TEST(GradStack, Axes) {
  for (int axis : {0, 1, 2, -1}) {
    SCOPED_TRACE(axis);
    auto f = [axis](const std::vector<Tensor>& in) { return ag::stack({in[0], in[1], in[2]}, axis); };
    Tensor a = param({2, 3}, 51), b = transposed_param(2, 3, 52), c = param({2, 3}, 53);
    expect_same_forward(f({a, b, c}), xla::stack({a, b, c}, axis));
    check_grad(f, {a, b, c});
  }
  // 0-d inputs stack to [2]; the same leaf twice.
  check_grad([](const std::vector<Tensor>& in) { return ag::stack({in[0], in[1]}, 0); }, {param({}, 54), param({}, 55)});
  check_grad([](const std::vector<Tensor>& in) { return ag::stack({in[0], in[0]}, 1); }, {param({3}, 56)});
}

TEST(GradSplit, PiecesUsedDifferentlyOrNotAtAll) {
  {
    SCOPED_TRACE("[2,6] into {1,2,3} along axis 1; piece 1 unused");
    auto f = [](const std::vector<Tensor>& in) {
      std::vector<Tensor> p = ag::split(in[0], {1, 2, 3}, 1);
      EXPECT_EQ(p.size(), 3u);
      return ag::add(ag::sum(ag::mul(p[0], p[0])), ag::sum(ag::exp(p[2])));
    };
    check_grad(f, {param({2, 6}, 61)});
    check_grad(f, {transposed_param(2, 6, 62)});
  }
  {
    SCOPED_TRACE("[4,3] into {3,1} along axis 0; both pieces, recombined");
    auto f = [](const std::vector<Tensor>& in) {
      std::vector<Tensor> p = ag::split(in[0], {3, 1}, 0);
      return ag::mul(p[0], p[1]);  // [3,3] * [1,3] broadcast
    };
    check_grad(f, {param({4, 3}, 63)});
  }
  {
    SCOPED_TRACE("split then concat in reverse order, axis -1");
    auto f = [](const std::vector<Tensor>& in) {
      std::vector<Tensor> p = ag::split(in[0], {2, 2}, -1);
      return ag::concat({p[1], p[0]}, -1);
    };
    check_grad(f, {param({2, 3, 4}, 64)});
  }
}

TEST(GradSplit, ExactValues) {
  // split x [5] into {2, 3}; loss = sum(p0) + sum(p1 * [1, 2, 3]) → [1, 1, 1, 2, 3].
  Tensor x = req(T({5, 4, 3, 2, 1}));
  std::vector<Tensor> p = ag::split(x, {2, 3}, 0);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_TRUE(xla::requires_grad(p[0]));
  Tensor loss = ag::add(ag::sum(p[0]), ag::sum(ag::mul(p[1], T({1, 2, 3}))));
  expect_grad(grads_of(loss, {x})[0], {5}, {1, 1, 1, 2, 3});
  // Only the second piece used: the first piece's elements get 0.
  Tensor y = req(T({5, 4, 3, 2, 1}));
  expect_grad(grads_of(ag::sum(ag::split(y, {2, 3}, 0)[1]), {y})[0], {5}, {0, 0, 1, 1, 1});
}

// ---------------------------------------------------------------------------------------
// tril / triu
// ---------------------------------------------------------------------------------------

TEST(GradTrilTriu, DiagonalsBatchesAndViews) {
  for (int64_t k : {0, 1, -1, 5, -5}) {
    SCOPED_TRACE("k = " + std::to_string(k));
    auto lo = [k](const std::vector<Tensor>& in) { return ag::tril(in[0], k); };
    auto up = [k](const std::vector<Tensor>& in) { return ag::triu(in[0], k); };
    Tensor x = param({3, 4}, 71);
    expect_same_forward(lo({x}), xla::tril(x, k));
    expect_same_forward(up({x}), xla::triu(x, k));
    check_grad(lo, {x});
    check_grad(up, {x});
    Tensor b = param({2, 3, 4}, 72);
    check_grad(lo, {b});
    check_grad(up, {b});
    Tensor t = transposed_param(4, 3, 73);
    check_grad(lo, {t});
    check_grad(up, {t});
  }
}

TEST(GradTrilTriu, ExactMasks) {
  // With a ones seed, d tril(x)/dx is the kept mask: col - row <= 0 for tril, >= 1 for triu(k=1).
  Tensor x = req(T(std::vector<float>(9, 2.f), {3, 3}));
  Tensor ones = T(std::vector<float>(9, 1.f), {3, 3});
  expect_grad(grads_of(ag::tril(x), {x}, ones)[0], {3, 3}, {1, 0, 0, 1, 1, 0, 1, 1, 1});
  expect_grad(grads_of(ag::triu(x, 1), {x}, ones)[0], {3, 3}, {0, 1, 1, 0, 0, 1, 0, 0, 0});
}

// ---------------------------------------------------------------------------------------
// cross_entropy
// ---------------------------------------------------------------------------------------

namespace {

// Reference in double over row-major logits [rows, C] and targets [rows]:
// loss = mean over rows with target != ignore of (1-ε)(lse - x_t) + ε(lse - mean_c x_c);
// grad (d loss / d x) = (softmax(x) - q) / n_valid with q = (1-ε) onehot(t) + ε/C, 0 on
// ignored rows.
struct CeRef {
  double loss;
  std::vector<float> grad;
};

CeRef ce_reference(const std::vector<float>& x, const std::vector<int64_t>& t, int64_t C, int64_t ignore, double eps) {
  const size_t rows = t.size();
  CeRef r{0.0, std::vector<float>(x.size(), 0.f)};
  std::vector<double> lse(rows, 0.0);
  int64_t n = 0;
  double total = 0;
  for (size_t i = 0; i < rows; ++i) {
    if (t[i] == ignore) continue;
    ++n;
    const float* row = &x[i * size_t(C)];
    double m = -std::numeric_limits<double>::infinity(), mean = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, double(row[c]));
    double s = 0;
    for (int64_t c = 0; c < C; ++c) {
      s += std::exp(double(row[c]) - m);
      mean += double(row[c]);
    }
    mean /= double(C);
    lse[i] = m + std::log(s);
    total += (1 - eps) * (lse[i] - double(row[t[i]])) + eps * (lse[i] - mean);
  }
  r.loss = total / double(n);  // NaN when every row is ignored
  for (size_t i = 0; i < rows; ++i) {
    if (t[i] == ignore) continue;
    for (int64_t c = 0; c < C; ++c) {
      double p = std::exp(double(x[i * size_t(C) + size_t(c)]) - lse[i]);
      double q = (c == t[i] ? 1 - eps : 0) + eps / double(C);
      r.grad[i * size_t(C) + size_t(c)] = float((p - q) / double(n));
    }
  }
  return r;
}

// Value, exact gradient and gradcheck of cross_entropy(logits, targets) for one setting.
void check_ce(const Tensor& logits, const std::vector<int64_t>& targets, const Shape& tshape, int64_t ignore, float eps) {
  const int64_t C = logits.shape().back();
  Tensor t = I64(targets, tshape);
  CeRef ref = ce_reference(logits.to_vector(), targets, C, ignore, double(eps));
  // value
  Tensor loss = ag::cross_entropy(logits, t, ignore, eps);
  expect_tensor(loss, {}, {float(ref.loss)}, 1e-5f);
  // exact gradient (the fused backward against the double-precision formula)
  expect_grad(grads_of(loss, {logits})[0], logits.shape(), ref.grad, 1e-5f);
  // gradcheck
  check_grad([t, ignore, eps](const std::vector<Tensor>& in) { return ag::cross_entropy(in[0], t, ignore, eps); },
             {logits});
}

}  // namespace

TEST(GradCrossEntropy, RowsWithIgnoreIndex) {
  // [5,4] logits, row 2 ignored (the default ignore_index -100).
  for (float eps : {0.f, 0.1f}) {
    SCOPED_TRACE(eps);
    check_ce(req(T(lcg_values(20, 81, -2.f, 2.f), {5, 4})), {0, 3, -100, 1, 2}, {5}, -100, eps);
  }
}

TEST(GradCrossEntropy, BatchTimeClassLogits) {
  // [B=2, T=3, C=4] logits, targets [2,3] with two ignored positions.
  for (float eps : {0.f, 0.1f}) {
    SCOPED_TRACE(eps);
    check_ce(req(T(lcg_values(24, 82, -2.f, 2.f), {2, 3, 4})), {1, -100, 3, 0, 2, -100}, {2, 3}, -100, eps);
  }
}

TEST(GradCrossEntropy, NoIgnoredRowsAndCustomIgnoreIndex) {
  for (float eps : {0.f, 0.1f}) {
    SCOPED_TRACE(eps);
    check_ce(req(T(lcg_values(12, 83, -3.f, 3.f), {3, 4})), {3, 0, 2}, {3}, -100, eps);
    // ignore_index = -1.
    check_ce(req(T(lcg_values(16, 84, -2.f, 2.f), {4, 4})), {2, -1, 0, -1}, {4}, -1, eps);
  }
}

TEST(GradCrossEntropy, TransposedLogits) {
  // Logits [N=3, C=5] stored as the transpose of [5, 3] data (class stride 3).
  for (float eps : {0.f, 0.1f}) {
    SCOPED_TRACE(eps);
    Tensor x = req(T(lcg_values(15, 85, -2.f, 2.f), {5, 3}).transpose(0, 1));
    ASSERT_FALSE(x.is_contiguous());
    check_ce(x, {4, -100, 1}, {3}, -100, eps);
  }
}

TEST(GradCrossEntropy, HandComputedValue) {
  // Two classes, logits [0, ln 3] (softmax [1/4, 3/4], lse = ln 4), target 1:
  // ε = 0:   loss = lse - x_1 = ln 4 - ln 3 = ln(4/3); grad = [1/4, 3/4 - 1] = [1/4, -1/4].
  // ε = 0.1: loss = 0.9 ln(4/3) + 0.1 (ln 4 - ln 3 / 2); q = [0.05, 0.95] → grad [0.2, -0.2].
  const float l3 = float(std::log(3.0));
  Tensor x = req(T({0.f, l3}, {1, 2}));
  Tensor t = I64({1}, {1});
  Tensor loss = ag::cross_entropy(x, t);
  expect_tensor(loss, {}, {float(std::log(4.0 / 3.0))}, 1e-6f);
  expect_grad(grads_of(loss, {x})[0], {1, 2}, {0.25f, -0.25f}, 1e-6f);
  Tensor ls = ag::cross_entropy(x, t, -100, 0.1f);
  expect_tensor(ls, {}, {float(0.9 * std::log(4.0 / 3.0) + 0.1 * (std::log(4.0) - std::log(3.0) / 2))}, 1e-6f);
  expect_grad(grads_of(ls, {x})[0], {1, 2}, {0.2f, -0.2f}, 1e-6f);
  // An ignored row does not count in the mean: appending one changes nothing.
  Tensor x2 = req(T({0.f, l3, 5.f, -5.f}, {2, 2}));
  Tensor loss2 = ag::cross_entropy(x2, I64({1, -100}, {2}));
  expect_tensor(loss2, {}, {float(std::log(4.0 / 3.0))}, 1e-6f);
  expect_grad(grads_of(loss2, {x2})[0], {2, 2}, {0.25f, -0.25f, 0.f, 0.f}, 1e-6f);
}

TEST(GradCrossEntropy, AllRowsIgnoredGivesNaN) {
  // 0 / 0, as PyTorch.
  Tensor x = req(T(lcg_values(6, 86), {2, 3}));
  Tensor loss = ag::cross_entropy(x, I64({-100, -100}, {2}));
  EXPECT_TRUE(std::isnan(loss.item()));
}

TEST(GradCrossEntropy, ComposedWithALinearLayer) {
  // logits = h @ w + b, loss = cross_entropy(logits, t, label_smoothing 0.1): gradients for
  // h, w and b through the fused backward.
  Tensor h = param({4, 3}, 91), w = param({3, 5}, 92), b = param({5}, 93);
  Tensor t = I64({4, 0, -100, 2}, {4});
  check_grad(
      [t](const std::vector<Tensor>& in) { return ag::cross_entropy(ag::add(ag::matmul(in[0], in[1]), in[2]), t, -100, 0.1f); },
      {h, w, b});
}
