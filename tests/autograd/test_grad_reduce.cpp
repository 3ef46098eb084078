// Gradient tests for the reductions of xla::ag (sum, mean, max, min, logsumexp, var) and
// the along-an-axis ops softmax and log_softmax; argmax is not differentiable.
//
// Each reduction is gradchecked over single axes (negative ones too), several axes and all
// axes, with keepdims true and false, on a contiguous [2,3,4] leaf, a permuted leaf, a
// step-2 sliced leaf and a 0-d leaf. max / min inputs are a shuffle of distinct values
// 0.1 apart (no ties within the finite-difference step). Exact values cover ties (max / min
// share the gradient), var's correction, and keepdims seeds.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "grad_util.hpp"

using namespace gt;

namespace {

using ReduceOp = std::function<Tensor(const Tensor&, const std::vector<int>&, bool)>;

struct AxesCase {
  std::vector<int> axes;
  bool keep;
};

std::string describe(const AxesCase& c) {
  std::string s = "axes {";
  for (size_t i = 0; i < c.axes.size(); ++i) s += (i ? "," : "") + std::to_string(c.axes[i]);
  return s + "} keepdims " + (c.keep ? "true" : "false");
}

const std::vector<AxesCase> kAxesCases = {
    {{}, false},     {{}, true},        {{0}, false},     {{1}, true},   {{-1}, false},  {{2}, true},
    {{0, 2}, false}, {{0, 2}, true},    {{-1, 0}, false}, {{1, 2}, true}, {{0, 1, 2}, false},
    {{0, 1, 2}, true},
};

// [2,3,4] leaves holding `vals` (24 values): contiguous, permuted ({2,1,0} of a [4,3,2]
// buffer) and every second element along the last axis of a [2,3,8] buffer.
Tensor contiguous_leaf(const std::vector<float>& vals) { return req(T(vals, {2, 3, 4})); }
Tensor permuted_leaf(const std::vector<float>& vals) {
  // Element (i,j,k) of the view is buffer[k][j][i]; fill the buffer so the view holds vals.
  std::vector<float> buf(24);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) buf[size_t(k * 6 + j * 2 + i)] = vals[size_t(i * 12 + j * 4 + k)];
  return req(T(buf, {4, 3, 2}).permute({2, 1, 0}));
}
Tensor strided_leaf(const std::vector<float>& vals) {
  std::vector<float> buf(48, 7.f);  // the skipped elements (7) must not matter
  for (size_t i = 0; i < 24; ++i) buf[2 * i] = vals[i];
  return req(T(buf, {2, 3, 8}).slice(2, 0, 8, 2));
}

void check_reduce(const ReduceOp& agop, const ReduceOp& plain, const std::vector<float>& vals, double eps = kEps) {
  for (const AxesCase& c : kAxesCases) {
    SCOPED_TRACE(describe(c));
    auto f = [agop, c](const std::vector<Tensor>& in) { return agop(in[0], c.axes, c.keep); };
    Tensor x = contiguous_leaf(vals);
    expect_same_forward(agop(x, c.axes, c.keep), plain(x, c.axes, c.keep), 1e-5f);
    check_grad(f, {x}, eps);
    Tensor p = permuted_leaf(vals);
    ASSERT_FALSE(p.is_contiguous());
    expect_same_forward(agop(p, c.axes, c.keep), plain(x, c.axes, c.keep), 1e-5f);
    check_grad(f, {p}, eps);
  }
  for (const AxesCase& c : {AxesCase{{1}, false}, AxesCase{{0, 2}, true}, AxesCase{{}, false}}) {
    SCOPED_TRACE("step-2 sliced leaf, " + describe(c));
    Tensor s = strided_leaf(vals);
    expect_same_forward(agop(s, c.axes, c.keep), plain(contiguous_leaf(vals), c.axes, c.keep), 1e-5f);
    check_grad([agop, c](const std::vector<Tensor>& in) { return agop(in[0], c.axes, c.keep); }, {s}, eps);
  }
  {
    SCOPED_TRACE("reduction over axis 1 of ag::expand([3] → [2,3])");
    Tensor v = req(T({vals[0], vals[5], vals[10]}));
    check_grad([agop](const std::vector<Tensor>& in) { return agop(ag::expand(in[0], {2, 3}), {1}, false); }, {v}, eps);
  }
}

ReduceOp wrap(Tensor (*op)(const Tensor&, const std::vector<int>&, bool)) { return op; }

}  // namespace

// ---------------------------------------------------------------------------------------
// gradcheck
// ---------------------------------------------------------------------------------------

TEST(GradSum, AxesAndKeepdims) { check_reduce(wrap(ag::sum), wrap(xla::sum), lcg_values(24, 1)); }
TEST(GradMean, AxesAndKeepdims) { check_reduce(wrap(ag::mean), wrap(xla::mean), lcg_values(24, 2)); }
TEST(GradMax, AxesAndKeepdimsNoTies) { check_reduce(wrap(ag::max), wrap(xla::max), distinct_values(24, 3)); }
TEST(GradMin, AxesAndKeepdimsNoTies) { check_reduce(wrap(ag::min), wrap(xla::min), distinct_values(24, 4)); }
TEST(GradLogSumExp, AxesAndKeepdims) {
  check_reduce(wrap(ag::logsumexp), wrap(xla::logsumexp), lcg_values(24, 5, -2.f, 2.f));
}
TEST(GradVar, AxesAndKeepdimsCorrection1) {
  ReduceOp agop = [](const Tensor& x, const std::vector<int>& a, bool k) { return ag::var(x, a, k, 1); };
  ReduceOp plain = [](const Tensor& x, const std::vector<int>& a, bool k) { return xla::var(x, a, k, 1); };
  check_reduce(agop, plain, lcg_values(24, 6));
}
TEST(GradVar, AxesAndKeepdimsCorrection0) {
  ReduceOp agop = [](const Tensor& x, const std::vector<int>& a, bool k) { return ag::var(x, a, k, 0); };
  ReduceOp plain = [](const Tensor& x, const std::vector<int>& a, bool k) { return xla::var(x, a, k, 0); };
  check_reduce(agop, plain, lcg_values(24, 7));
}
TEST(GradVar, DefaultCorrectionIsOne) {
  // ag::var's default correction is 1: same forward as correction=1, and gradchecks.
  Tensor x = param({3, 4}, 8);
  expect_same_forward(ag::var(x, {1}), xla::var(x, {1}, false, 1));
  check_grad([](const std::vector<Tensor>& in) { return ag::var(in[0], {1}); }, {x});
}

TEST(GradReduce, ZeroDimInputs) {
  // A 0-d input reduced over all (zero) axes is the identity for sum, mean, max, min and
  // logsumexp (keepdims or not).
  for (bool keep : {false, true}) {
    SCOPED_TRACE(keep);
    for (auto op : {ag::sum, ag::mean, ag::max, ag::min, ag::logsumexp}) {
      Tensor x = req(Tensor::scalar(0.375f));
      check_grad([op, keep](const std::vector<Tensor>& in) { return op(in[0], {}, keep); }, {x});
    }
  }
}

TEST(GradLogSumExp, LargeValuesStayFinite) {
  // Values in [80, 100]: exp overflows f32, a stable logsumexp (and its softmax backward)
  // does not. The loss is ~100, so a larger eps keeps f32 rounding out of the difference.
  Tensor x = req(T(lcg_values(8, 9, 80.f, 100.f), {2, 4}));
  check_grad([](const std::vector<Tensor>& in) { return ag::logsumexp(in[0], {-1}); }, {x}, 1e-2);
  check_grad([](const std::vector<Tensor>& in) { return ag::softmax(in[0], -1); }, {x}, 1e-2);
  check_grad([](const std::vector<Tensor>& in) { return ag::log_softmax(in[0], 0); }, {x}, 1e-2);
}

TEST(GradSoftmax, Axes) {
  // The weighted sum matters here: sum(softmax) is constant along the axis, so an
  // unweighted loss would check only a zero gradient.
  for (int axis : {0, 1, 2, -1}) {
    SCOPED_TRACE(axis);
    auto f = [axis](const std::vector<Tensor>& in) { return ag::softmax(in[0], axis); };
    std::vector<float> v = lcg_values(24, 10, -2.f, 2.f);
    Tensor x = contiguous_leaf(v);
    expect_same_forward(ag::softmax(x, axis), xla::softmax(x, axis));
    check_grad(f, {x});
    check_grad(f, {permuted_leaf(v)});
    check_grad(f, {strided_leaf(v)});
  }
  Tensor r = req(T(lcg_values(5, 11), {5}));
  check_grad([](const std::vector<Tensor>& in) { return ag::softmax(in[0], 0); }, {r});
}

TEST(GradLogSoftmax, Axes) {
  for (int axis : {0, 1, 2, -1}) {
    SCOPED_TRACE(axis);
    auto f = [axis](const std::vector<Tensor>& in) { return ag::log_softmax(in[0], axis); };
    std::vector<float> v = lcg_values(24, 12, -2.f, 2.f);
    Tensor x = contiguous_leaf(v);
    expect_same_forward(ag::log_softmax(x, axis), xla::log_softmax(x, axis));
    check_grad(f, {x});
    check_grad(f, {permuted_leaf(v)});
    check_grad(f, {strided_leaf(v)});
  }
}

TEST(GradReduce, Composite) {
  // Layer-norm-like chain: (x - mean) * rsqrt(var + 1e-5) over the last axis, keepdims.
  Tensor x = param({3, 5}, 13, -2.f, 2.f);
  check_grad(
      [](const std::vector<Tensor>& in) {
        Tensor m = ag::mean(in[0], {-1}, true);
        Tensor v = ag::var(in[0], {-1}, true, 0);
        return ag::mul(ag::sub(in[0], m), ag::rsqrt(ag::add(v, Tensor::scalar(1e-5f))));
      },
      {x});
  // logsumexp minus max over the same axis (both keepdims=false), then a mean.
  Tensor y = req(T(distinct_values(12, 14), {3, 4}));
  check_grad([](const std::vector<Tensor>& in) { return ag::mean(ag::sub(ag::logsumexp(in[0], {0}), ag::max(in[0], {0}))); },
             {y});
}

// ---------------------------------------------------------------------------------------
// Exact values
// ---------------------------------------------------------------------------------------

TEST(GradSum, KeepdimsSeedBroadcastsBack) {
  // y = sum(x [2,3], axis 1): d(seed·y)/dx_ij = seed_i, for keepdims (seed [2,1]) and not (seed [2]).
  Tensor x = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  expect_grad(grads_of(ag::sum(x, {1}, true), {x}, T({1, 2}, {2, 1}))[0], {2, 3}, {1, 1, 1, 2, 2, 2});
  expect_grad(grads_of(ag::sum(x, {1}, false), {x}, T({1, 2}, {2}))[0], {2, 3}, {1, 1, 1, 2, 2, 2});
  // Over axis 0 with seed [3, -1, 0.5]: every row gets the seed.
  expect_grad(grads_of(ag::sum(x, {0}), {x}, T({3, -1, 0.5f}))[0], {2, 3}, {3, -1, 0.5f, 3, -1, 0.5f});
  // Over all axes: ones.
  expect_grad(grads_of(ag::sum(x), {x})[0], {2, 3}, {1, 1, 1, 1, 1, 1});
}

TEST(GradMean, ExactValues) {
  // mean over axis 1 of [2,3] with seed [1, 2] → seed_i / 3; mean over all of 6 → 1/6.
  Tensor x = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  const float t = 1.f / 3;
  expect_grad(grads_of(ag::mean(x, {1}), {x}, T({1, 2}))[0], {2, 3}, {t, t, t, 2 * t, 2 * t, 2 * t});
  const float s = 1.f / 6;
  expect_grad(grads_of(ag::mean(x), {x})[0], {2, 3}, {s, s, s, s, s, s});
}

TEST(GradMax, TieOverAnAxisSplitsTheGradient) {
  // max over axis 1 of [[1, 3, 3], [2, 0, 1]]: row 0 ties between columns 1 and 2, which
  // share its gradient (1/2 each); row 1's max is unique. Seed [1, 1].
  Tensor x = req(T({1, 3, 3, 2, 0, 1}, {2, 3}));
  expect_grad(grads_of(ag::sum(ag::max(x, {1})), {x})[0], {2, 3}, {0, 0.5f, 0.5f, 1, 0, 0});
  // keepdims with seed [[2], [-1]]: the same split, scaled.
  expect_grad(grads_of(ag::max(x, {1}, true), {x}, T({2, -1}, {2, 1}))[0], {2, 3}, {0, 1, 1, -1, 0, 0});
  // Over all axes of [3, 1, 3, 3]: three-way tie, 1/3 each.
  Tensor y = req(T({3, 1, 3, 3}));
  const float t = 1.f / 3;
  expect_grad(grads_of(ag::max(y), {y})[0], {4}, {t, 0, t, t});
}

TEST(GradMin, TieOverAnAxisSplitsTheGradient) {
  // min over axis 0 of [[1, 5], [1, 2]]: column 0 ties (1/2 each), column 1's min is row 1.
  Tensor x = req(T({1, 5, 1, 2}, {2, 2}));
  expect_grad(grads_of(ag::sum(ag::min(x, {0})), {x})[0], {2, 2}, {0.5f, 0, 0.5f, 1});
  // No tie, all axes: only the minimum (-4 at index 2) gets 1.
  Tensor y = req(T({3, 1, -4, 2}));
  expect_grad(grads_of(ag::min(y), {y})[0], {4}, {0, 0, 1, 0});
}

TEST(GradVar, ExactValuesForBothCorrections) {
  // var = sum (x - m)² / (n - c); d/dx_i = 2 (x_i - m) / (n - c) (the m-term sums to 0).
  // x = [1, 2, 3, 4], m = 2.5: c = 1 → 2·[-1.5, -.5, .5, 1.5]/3 = [-1, -1/3, 1/3, 1];
  //                             c = 0 → 2·[-1.5, -.5, .5, 1.5]/4 = [-.75, -.25, .25, .75].
  Tensor x = req(T({1, 2, 3, 4}));
  expect_grad(grads_of(ag::var(x, {}, false, 1), {x})[0], {4}, {-1.f, -1.f / 3, 1.f / 3, 1.f}, 1e-6f);
  expect_grad(grads_of(ag::var(x, {}, false, 0), {x})[0], {4}, {-0.75f, -0.25f, 0.25f, 0.75f}, 1e-6f);
  // Over axis 1 of [[1, 3], [0, 4]] with correction 1 (n - c = 1): rows m = 2 and 2 →
  // 2·[-1, 1] and 2·[-2, 2].
  Tensor y = req(T({1, 3, 0, 4}, {2, 2}));
  expect_grad(grads_of(ag::sum(ag::var(y, {1})), {y})[0], {2, 2}, {-2, 2, -4, 4}, 1e-6f);
}

TEST(GradLogSumExp, GradientIsSoftmax) {
  // d/dx logsumexp(x) = softmax(x): x = [0, ln 3] → [1/4, 3/4].
  Tensor x = req(T({0.f, float(std::log(3.0))}));
  expect_grad(grads_of(ag::logsumexp(x), {x})[0], {2}, {0.25f, 0.75f}, 1e-6f);
}

TEST(GradSoftmax, SumAlongTheAxisHasZeroGradient) {
  // Each row of softmax sums to 1 whatever x is, so d/dx sum(softmax(x, -1)) = 0.
  Tensor x = req(T(lcg_values(6, 15, -2.f, 2.f), {2, 3}));
  expect_grad(grads_of(ag::sum(ag::softmax(x, -1)), {x})[0], {2, 3}, {0, 0, 0, 0, 0, 0}, 1e-6f);
  // Seed on one element: d softmax_0 / d x_j = s_0 (δ_0j - s_j); x = [0, ln 3] → s = [1/4, 3/4]
  // → [1/4 · 3/4, -1/4 · 3/4] = [3/16, -3/16].
  Tensor y = req(T({0.f, float(std::log(3.0))}));
  expect_grad(grads_of(ag::softmax(y, 0), {y}, T({1, 0}))[0], {2}, {0.1875f, -0.1875f}, 1e-6f);
}

TEST(GradLogSoftmax, RowSumGradient) {
  // sum_j log_softmax(x)_j = sum_j x_j - C·lse(x) → d/dx_i = 1 - C·softmax(x)_i.
  // x = [0, ln 3] (C = 2): softmax [1/4, 3/4] → [1 - 1/2, 1 - 3/2] = [1/2, -1/2].
  Tensor x = req(T({0.f, float(std::log(3.0))}, {1, 2}));
  expect_grad(grads_of(ag::sum(ag::log_softmax(x, -1)), {x})[0], {1, 2}, {0.5f, -0.5f}, 1e-6f);
}

TEST(GradArgmax, NotDifferentiable) {
  Tensor x = req(T({1, 5, 2, 7, 0, 3}, {2, 3}));
  Tensor i = ag::argmax(x, 1);
  EXPECT_FALSE(xla::requires_grad(i));
  EXPECT_EQ(i64s(i), (std::vector<int64_t>{1, 0}));
  Tensor k = ag::argmax(x, 0, true);
  EXPECT_FALSE(xla::requires_grad(k));
  expect_shape(k, {1, 3});
}
