// Gradient tests for matmul (1-D, 2-D, batched with broadcast batch dims, transposed and
// strided operands) and for the view ops of xla::ag (reshape, permute, transpose, slice,
// select, expand, squeeze, unsqueeze), contiguous and cast — alone and chained, on inputs
// that are themselves views.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "grad_util.hpp"

using namespace gt;

namespace {

Fn mm() {
  return [](const std::vector<Tensor>& in) { return ag::matmul(in[0], in[1]); };
}

}  // namespace

// ---------------------------------------------------------------------------------------
// matmul: gradcheck
// ---------------------------------------------------------------------------------------

TEST(GradMatmul, OneAndTwoDims) {
  struct Case {
    Shape sa, sb, out;
    const char* name;
  };
  const std::vector<Case> cases = {
      {{3}, {3}, {}, "[3] @ [3] → 0-d"},
      {{3}, {3, 4}, {4}, "[3] @ [3,4] → [4]"},
      {{2, 3}, {3}, {2}, "[2,3] @ [3] → [2]"},
      {{2, 3}, {3, 4}, {2, 4}, "[2,3] @ [3,4]"},
      {{1, 3}, {3, 1}, {1, 1}, "[1,3] @ [3,1]"},
      {{5, 1}, {1, 4}, {5, 4}, "outer product [5,1] @ [1,4]"},
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor a = param(c.sa, seed++), b = param(c.sb, seed++);
    Tensor y = ag::matmul(a, b);
    expect_shape(y, c.out);
    expect_same_forward(y, xla::matmul(a, b), 1e-6f);
    check_grad(mm(), {a, b});
  }
}

TEST(GradMatmul, BatchedWithBroadcastBatchDims) {
  struct Case {
    Shape sa, sb, out;
    const char* name;
  };
  const std::vector<Case> cases = {
      {{2, 2, 3}, {2, 3, 4}, {2, 2, 4}, "[2,2,3] @ [2,3,4]"},
      {{2, 2, 3}, {3, 4}, {2, 2, 4}, "[2,2,3] @ [3,4] (b broadcast over the batch)"},
      {{3, 5, 4}, {4, 6}, {3, 5, 6}, "[3,5,4] @ [4,6] (a weight shared by 15 rows: one product for its gradient)"},
      {{2, 3, 1, 4}, {4, 2}, {2, 3, 1, 2}, "[2,3,1,4] @ [4,2] (two batch dims, one row each)"},
      {{2, 3}, {2, 3, 4}, {2, 2, 4}, "[2,3] @ [2,3,4] (a broadcast over the batch)"},
      {{2, 1, 2, 3}, {3, 3, 4}, {2, 3, 2, 4}, "[2,1,2,3] @ [3,3,4] (batch dims broadcast both ways)"},
      {{1, 2, 3}, {2, 3, 4}, {2, 2, 4}, "[1,2,3] @ [2,3,4] (size-1 batch)"},
      {{3}, {2, 3, 4}, {2, 4}, "[3] @ [2,3,4]"},
      {{2, 4, 3}, {3}, {2, 4}, "[2,4,3] @ [3]"},
  };
  uint64_t seed = 20;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor a = param(c.sa, seed++), b = param(c.sb, seed++);
    Tensor y = ag::matmul(a, b);
    expect_shape(y, c.out);
    expect_same_forward(y, xla::matmul(a, b), 1e-6f);
    check_grad(mm(), {a, b});
  }
}

TEST(GradMatmul, TransposedAndStridedOperands) {
  {
    SCOPED_TRACE("both leaves are transposed views");
    Tensor a = req(T(lcg_values(6, 41), {3, 2}).transpose(0, 1));   // [2,3], strides {1,2}
    Tensor b = req(T(lcg_values(12, 42), {4, 3}).transpose(0, 1));  // [3,4], strides {1,3}
    expect_same_forward(ag::matmul(a, b), xla::matmul(a.contiguous(), b.contiguous()), 1e-6f);
    check_grad(mm(), {a, b});
  }
  {
    SCOPED_TRACE("batched permuted leaves (last two axes swapped)");
    Tensor a = req(T(lcg_values(12, 43), {2, 3, 2}).permute({0, 2, 1}));  // [2,2,3]
    Tensor b = req(T(lcg_values(24, 44), {2, 4, 3}).permute({0, 2, 1}));  // [2,3,4]
    check_grad(mm(), {a, b});
  }
  {
    SCOPED_TRACE("a permuted batch times a shared weight (its rows are gathered for the product)");
    Tensor a = req(T(lcg_values(30, 49), {5, 3, 2}).permute({1, 0, 2}));  // [3,5,2]
    check_grad(mm(), {a, param({2, 4}, 50)});
  }
  {
    SCOPED_TRACE("batch axis permuted to the middle");
    Tensor a = req(T(lcg_values(12, 45), {2, 2, 3}).permute({1, 0, 2}));  // [2,2,3], batch stride 3
    check_grad(mm(), {a, param({2, 3, 4}, 46)});
  }
  {
    SCOPED_TRACE("ag::transpose inside f: a @ b^T, batched");
    check_grad([](const std::vector<Tensor>& in) { return ag::matmul(in[0], ag::transpose(in[1], -1, -2)); },
               {param({2, 2, 3}, 47), param({2, 4, 3}, 48)});
  }
  {
    SCOPED_TRACE("a batch times a transposed 2-D weight (a linear layer)");
    check_grad([](const std::vector<Tensor>& in) { return ag::matmul(in[0], ag::transpose(in[1], 0, 1)); },
               {param({2, 3, 4}, 58), param({5, 4}, 59)});
  }
  {
    SCOPED_TRACE("a^T @ b with ag::transpose of a 2-D leaf");
    check_grad([](const std::vector<Tensor>& in) { return ag::matmul(ag::transpose(in[0], 0, 1), in[1]); },
               {param({3, 2}, 49), param({3, 4}, 50)});
  }
  {
    SCOPED_TRACE("step-2 sliced operands");
    Tensor a = req(T(lcg_values(12, 51), {2, 6}).slice(1, 0, 6, 2));  // [2,3], strides {6,2}
    Tensor b = req(T(lcg_values(24, 52), {6, 4}).slice(0, 1, 6, 2));  // [3,4], strides {8,1}
    check_grad(mm(), {a, b});
  }
  {
    SCOPED_TRACE("expanded constant batch operand (stride 0), only a checked");
    Tensor b = T(lcg_values(12, 53), {3, 4}).unsqueeze(0).expand({2, 3, 4});
    check_grad(mm(), {param({2, 2, 3}, 54), b});
  }
  {
    SCOPED_TRACE("ag::expand of a leaf to a batch");
    check_grad([](const std::vector<Tensor>& in) { return ag::matmul(in[0], ag::expand(in[1], {2, 3, 4})); },
               {param({2, 2, 3}, 55), param({3, 4}, 56)});
  }
  {
    SCOPED_TRACE("x @ x^T uses x twice");
    check_grad([](const std::vector<Tensor>& in) { return ag::matmul(in[0], ag::transpose(in[0], 0, 1)); },
               {param({3, 4}, 57)});
  }
}

// A linear layer's weight W is used as the view Wᵀ. Its gradient is made in Wᵀ's layout, so
// that the transpose back is W's own: backward makes no more tensors than for a weight used
// as it is stored, where a gradient made row-major would be copied once more to lay it out.
TEST(GradMatmul, ATransposedWeightsGradientIsNotCopiedIntoItsLayout) {
  const Tensor x = T(lcg_values(2 * 3 * 4, 60), {2, 3, 4}), w_rows = T(lcg_values(5 * 4, 61), {5, 4});
  auto tensors_made = [&](bool transposed, Tensor& weight_grad) {
    Tensor w = req(transposed ? w_rows.clone() : w_rows.transpose(0, 1).contiguous());  // W, or Wᵀ stored
    Tensor y = ag::matmul(x, transposed ? ag::transpose(w, 0, 1) : w);
    Tensor loss = ag::sum(ag::mul(y, y));
    const uint64_t before = xla::storages_created();
    backward(loss);
    weight_grad = grad(w);
    return xla::storages_created() - before;
  };
  Tensor as_stored_grad, as_view_grad;
  const uint64_t as_stored = tensors_made(false, as_stored_grad), as_view = tensors_made(true, as_view_grad);
  EXPECT_EQ(as_view, as_stored);
  EXPECT_TRUE(as_view_grad.is_contiguous());
  expect_same_forward(as_view_grad, as_stored_grad.transpose(0, 1).contiguous(), 1e-6f);
}

TEST(GradMatmul, TwoLayerChain) {
  // y = tanh(x @ w1 + b1) @ w2: gradients flow through two matmuls, a broadcast add and tanh.
  Tensor x = param({4, 3}, 61), w1 = param({3, 5}, 62), b1 = param({5}, 63), w2 = param({5, 2}, 64);
  check_grad(
      [](const std::vector<Tensor>& in) {
        return ag::matmul(ag::tanh(ag::add(ag::matmul(in[0], in[1]), in[2])), in[3]);
      },
      {x, w1, b1, w2});
}

// ---------------------------------------------------------------------------------------
// matmul: exact values
// ---------------------------------------------------------------------------------------

TEST(GradMatmul, OnesSeedGivesRowAndColumnSums) {
  // y = a @ b, a [2,3], b [3,4], seed ones [2,4]:
  // dL/da_ik = sum_j b_kj (the row sums of b, the same for every i);
  // dL/db_kj = sum_i a_ik (the column sums of a, the same for every j).
  Tensor a = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  Tensor b = req(T({1, 2, 3, 4, 0, 1, 0, 1, -1, -1, 2, 2}, {3, 4}));  // row sums 10, 2, 2
  auto g = grads_of(ag::matmul(a, b), {a, b}, T(std::vector<float>(8, 1.f), {2, 4}));
  expect_grad(g[0], {2, 3}, {10, 2, 2, 10, 2, 2});
  // column sums of a: 1+4 = 5, 2+5 = 7, 3+6 = 9.
  expect_grad(g[1], {3, 4}, {5, 5, 5, 5, 7, 7, 7, 7, 9, 9, 9, 9});
}

TEST(GradMatmul, DotProductExact) {
  // d(a·b)/da = b, d(a·b)/db = a.
  Tensor a = req(T({1, 2, 3})), b = req(T({-4, 5, 0.5f}));
  auto g = grads_of(ag::matmul(a, b), {a, b});
  expect_grad(g[0], {3}, {-4, 5, 0.5f});
  expect_grad(g[1], {3}, {1, 2, 3});
}

TEST(GradMatmul, BroadcastBatchGradientIsSummed) {
  // a [2,1,2] (two batches of one row), b [2,1] shared by both batches, seed ones [2,1,1]:
  // dL/db_k = sum over batches of a_b0k = (1 + 3, 2 + 4) = (4, 6); dL/da_b0k = b_k.
  Tensor a = req(T({1, 2, 3, 4}, {2, 1, 2})), b = req(T({10, 20}, {2, 1}));
  auto g = grads_of(ag::matmul(a, b), {a, b}, T({1, 1}, {2, 1, 1}));
  expect_grad(g[0], {2, 1, 2}, {10, 20, 10, 20});
  expect_grad(g[1], {2, 1}, {4, 6});
}

// ---------------------------------------------------------------------------------------
// View ops: gradcheck
// ---------------------------------------------------------------------------------------

TEST(GradReshape, ContiguousAndPermutedInputs) {
  for (const Shape& s : {Shape{6, 4}, Shape{24}, Shape{4, 3, 2}, Shape{2, 1, 12}}) {
    SCOPED_TRACE(s.str());
    auto f = [s](const std::vector<Tensor>& in) { return ag::reshape(in[0], s); };
    Tensor x = param({2, 3, 4}, 71);
    expect_shape(ag::reshape(x, s), s);
    check_grad(f, {x});
    // A permuted leaf cannot be reshaped as a view: reshape copies, the gradient must follow.
    Tensor p = req(T(lcg_values(24, 72), {4, 3, 2}).permute({2, 1, 0}));
    expect_same_forward(ag::reshape(p, s), p.contiguous().reshape(s));
    check_grad(f, {p});
  }
  // To and from 0-d.
  check_grad([](const std::vector<Tensor>& in) { return ag::reshape(in[0], {}); }, {param({1, 1}, 73)});
  check_grad([](const std::vector<Tensor>& in) { return ag::reshape(in[0], {1, 1, 1}); }, {param({}, 74)});
}

TEST(GradPermute, OrdersAndTranspose) {
  for (const xla::Dims& order : {xla::Dims{2, 0, 1}, xla::Dims{1, 2, 0}, xla::Dims{0, 2, 1}, xla::Dims{0, 1, 2}, xla::Dims{2, 1, 0}}) {
    SCOPED_TRACE(order.str());
    Tensor x = param({2, 3, 4}, 81);
    expect_same_forward(ag::permute(x, order), x.permute(order).contiguous());
    check_grad([order](const std::vector<Tensor>& in) { return ag::permute(in[0], order); }, {x});
  }
  for (auto [a, b] : {std::pair{0, 2}, std::pair{-1, -2}, std::pair{1, 1}}) {
    SCOPED_TRACE(std::to_string(a) + "," + std::to_string(b));
    check_grad([a, b](const std::vector<Tensor>& in) { return ag::transpose(in[0], a, b); }, {param({2, 3, 4}, 82)});
  }
  // Transposing a leaf that is itself a transposed view gives back the buffer's order.
  Tensor v = req(T(lcg_values(6, 83), {2, 3}).transpose(0, 1));
  check_grad([](const std::vector<Tensor>& in) { return ag::transpose(in[0], 0, 1); }, {v});
}

TEST(GradSlice, StepsAndBounds) {
  struct Case {
    int axis;
    int64_t start, stop, step;
  };
  for (Case c : {Case{1, 0, 3, 2}, Case{-1, 1, 4, 2}, Case{0, 1, 2, 1}, Case{2, 0, 4, 3}, Case{1, -2, 3, 1},
                 Case{2, 1, 100, 1}}) {
    SCOPED_TRACE("axis " + std::to_string(c.axis) + " [" + std::to_string(c.start) + ":" + std::to_string(c.stop) +
                 ":" + std::to_string(c.step) + "]");
    Tensor x = param({2, 3, 4}, 91);
    expect_same_forward(ag::slice(x, c.axis, c.start, c.stop, c.step),
                        x.slice(c.axis, c.start, c.stop, c.step).contiguous());
    check_grad([c](const std::vector<Tensor>& in) { return ag::slice(in[0], c.axis, c.start, c.stop, c.step); }, {x});
  }
  // A slice of a leaf that is itself a step-2 slice (composite stride 4).
  Tensor s = req(T(lcg_values(16, 92), {2, 8}).slice(1, 0, 8, 2));  // [2,4]
  check_grad([](const std::vector<Tensor>& in) { return ag::slice(in[0], 1, 1, 4, 2); }, {s});
}

TEST(GradSelect, AxesAndNegativeIndex) {
  struct Case {
    int axis;
    int64_t index;
  };
  for (Case c : {Case{0, 1}, Case{1, 0}, Case{-1, 2}, Case{2, -1}, Case{1, -3}}) {
    SCOPED_TRACE("axis " + std::to_string(c.axis) + " index " + std::to_string(c.index));
    Tensor x = param({2, 3, 4}, 101);
    expect_same_forward(ag::select(x, c.axis, c.index), x.select(c.axis, c.index).contiguous());
    check_grad([c](const std::vector<Tensor>& in) { return ag::select(in[0], c.axis, c.index); }, {x});
  }
  // Select down to 0-d.
  check_grad([](const std::vector<Tensor>& in) { return ag::select(in[0], 0, 2); }, {param({4}, 102)});
}

TEST(GradExpand, SizeOneAndNewLeadingDims) {
  struct Case {
    Shape in, out;
  };
  for (Case c : {Case{{3}, {2, 3}}, Case{{2, 1, 3}, {2, 4, 3}}, Case{{1}, {2, 3, 5}}, Case{{}, {2, 3}},
                 Case{{2, 1}, {3, 2, 4}}, Case{{2, 3}, {2, 3}}}) {
    SCOPED_TRACE(c.in.str() + " → " + c.out.str());
    Tensor x = param(c.in, 111);
    expect_shape(ag::expand(x, c.out), c.out);
    check_grad([c](const std::vector<Tensor>& in) { return ag::expand(in[0], c.out); }, {x});
  }
  // -1 keeps a size (Tensor::expand's rule).
  check_grad([](const std::vector<Tensor>& in) { return ag::expand(in[0], {4, -1, 3}); }, {param({2, 1}, 112)});
}

TEST(GradSqueezeUnsqueeze, Axes) {
  for (int axis : {1, -2}) {
    SCOPED_TRACE("squeeze " + std::to_string(axis));
    Tensor x = param({2, 1, 3}, 121);
    expect_shape(ag::squeeze(x, axis), {2, 3});
    check_grad([axis](const std::vector<Tensor>& in) { return ag::squeeze(in[0], axis); }, {x});
  }
  for (int axis : {0, 1, 2, -1}) {
    SCOPED_TRACE("unsqueeze " + std::to_string(axis));
    Tensor x = param({2, 3}, 122);
    check_grad([axis](const std::vector<Tensor>& in) { return ag::unsqueeze(in[0], axis); }, {x});
  }
  // Round trip on a transposed leaf; squeeze down to 0-d and unsqueeze a 0-d.
  Tensor v = req(T(lcg_values(6, 123), {3, 2}).transpose(0, 1));
  check_grad([](const std::vector<Tensor>& in) { return ag::squeeze(ag::unsqueeze(in[0], 1), 1); }, {v});
  check_grad([](const std::vector<Tensor>& in) { return ag::squeeze(in[0], 0); }, {param({1}, 124)});
  check_grad([](const std::vector<Tensor>& in) { return ag::unsqueeze(in[0], 0); }, {param({}, 125)});
}

TEST(GradContiguous, PackedAndStridedInputs) {
  auto f = [](const std::vector<Tensor>& in) { return ag::contiguous(in[0]); };
  check_grad(f, {param({2, 3}, 131)});  // already packed: may return the input's data
  Tensor t = req(T(lcg_values(6, 132), {3, 2}).transpose(0, 1));
  Tensor c = ag::contiguous(t);
  EXPECT_TRUE(c.is_contiguous());
  expect_same_forward(c, t.contiguous());
  check_grad(f, {t});
  check_grad(f, {req(T(lcg_values(12, 133), {2, 6}).slice(1, 1, 6, 2))});
  // contiguous of an ag::expand (stride 0 → packed copy).
  check_grad([](const std::vector<Tensor>& in) { return ag::contiguous(ag::expand(in[0], {4, 3})); }, {param({3}, 134)});
}

TEST(GradCast, F32ToF32) {
  auto f = [](const std::vector<Tensor>& in) { return ag::cast(in[0], DType::F32); };
  Tensor x = param({2, 3}, 141);
  Tensor y = ag::cast(x, DType::F32);
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_TRUE(xla::requires_grad(y));
  check_grad(f, {x});
  check_grad(f, {req(T(lcg_values(6, 142), {3, 2}).transpose(0, 1))});
}

TEST(GradCast, ThroughBF16IsStraightThrough) {
  // cast f32 → bf16 → f32 is differentiable between floating dtypes with derivative 1 (the
  // rounding is not differentiated). loss = sum(cast(cast(x, bf16), f32) * w) → grad = w;
  // w is exactly representable in bf16, so no rounding of the gradient can hide.
  Tensor x = req(T({0.3f, -1.7f, 2.9f, 0.01f}));
  Tensor h = ag::cast(x, DType::BF16);
  EXPECT_EQ(h.dtype(), DType::BF16);
  EXPECT_TRUE(xla::requires_grad(h));
  Tensor w = T({0.5f, -1.25f, 2.f, 3.f});
  Tensor g = grads_of(ag::sum(ag::mul(ag::cast(h, DType::F32), w)), {x})[0];
  expect_grad(g, {4}, {0.5f, -1.25f, 2.f, 3.f}, 0.f);
}

TEST(GradViews, ChainedViewOutputs) {
  // x [4,6] → slice(1, 0:6:2) [4,3] → permute {1,0} [3,4] → unsqueeze(0) [1,3,4]
  //   → expand [2,3,4] → reshape [6,4] (a copy: expanded data is not a view-able shape)
  //   → select(1, 2) [6] → unsqueeze(1) [6,1] → squeeze(1) [6] → exp.
  auto chain = [](const Tensor& x) {
    Tensor t = ag::slice(x, 1, 0, 6, 2);
    t = ag::permute(t, {1, 0});
    t = ag::unsqueeze(t, 0);
    t = ag::expand(t, {2, 3, 4});
    t = ag::reshape(t, {6, 4});
    t = ag::select(t, 1, 2);
    t = ag::unsqueeze(t, 1);
    t = ag::squeeze(t, 1);
    return ag::exp(t);
  };
  Tensor x = param({4, 6}, 151);
  // Forward: element r of the result is exp(x[2][2·(r mod 3)]) (row r of [6,4] is row r mod 3
  // of the [3,4] permuted slice; column 2 of that is x row 2, column 2·(r mod 3)).
  std::vector<float> xv = x.to_vector(), want;
  for (int r = 0; r < 6; ++r) want.push_back(float(std::exp(double(xv[size_t(2 * 6 + 2 * (r % 3))]))));
  expect_tensor(chain(x), {6}, want, 1e-6f);
  check_grad([chain](const std::vector<Tensor>& in) { return chain(in[0]); }, {x});
  // The same chain on a transposed leaf, and its output combined with another view of x.
  Tensor v = req(T(lcg_values(24, 152), {6, 4}).transpose(0, 1));  // [4,6]
  check_grad(
      [chain](const std::vector<Tensor>& in) {
        // rows 0 and 2, columns 0..2 of x → [2,3] → [6], times the chain's [6].
        Tensor other = ag::reshape(ag::slice(ag::slice(in[0], 0, 0, 3, 2), 1, 0, 3), {6});
        return ag::mul(chain(in[0]), other);
      },
      {v});
  // Views feeding ops feeding views: transpose(reshape(x) * b) summed over an axis.
  check_grad(
      [](const std::vector<Tensor>& in) {
        Tensor t = ag::mul(ag::reshape(in[0], {3, 2, 4}), ag::unsqueeze(in[1], -1));
        return ag::sum(ag::transpose(t, 0, 2), {1});
      },
      {param({6, 4}, 153), param({2}, 154)});
}

// ---------------------------------------------------------------------------------------
// View ops: exact values
// ---------------------------------------------------------------------------------------

TEST(GradExpand, GradientSumsOverTheCopies) {
  // expand [3] → [2,3] with a ones seed: each element is used twice → 2.
  Tensor x = req(T({1, 2, 3}));
  expect_grad(grads_of(ag::expand(x, {2, 3}), {x}, T(std::vector<float>(6, 1.f), {2, 3}))[0], {3}, {2, 2, 2});
  // [2,1,3] → [2,4,3]: four copies along axis 1 → 4.
  Tensor y = req(T({1, 2, 3, 4, 5, 6}, {2, 1, 3}));
  expect_grad(grads_of(ag::sum(ag::expand(y, {2, 4, 3})), {y})[0], {2, 1, 3}, {4, 4, 4, 4, 4, 4});
}

TEST(GradSlice, SkippedElementsGetZero) {
  // slice(x [6], 1:6:2) picks x1, x3, x5; seed [1, 2, 3] → grad [0, 1, 0, 2, 0, 3].
  Tensor x = req(T({0, 1, 2, 3, 4, 5}));
  expect_grad(grads_of(ag::slice(x, 0, 1, 6, 2), {x}, T({1, 2, 3}))[0], {6}, {0, 1, 0, 2, 0, 3});
}

TEST(GradSelect, OnlyTheSelectedColumn) {
  // select(x [2,3], axis 1, -1) = column 2; seed [5, 7] → grad [[0,0,5],[0,0,7]].
  Tensor x = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  expect_grad(grads_of(ag::select(x, 1, -1), {x}, T({5, 7}))[0], {2, 3}, {0, 0, 5, 0, 0, 7});
}

TEST(GradPermute, SeedComesBackTransposed) {
  // y = transpose(x [2,3]) = [3,2]; seed s [3,2] = [[1,2],[3,4],[5,6]] → grad x = s^T.
  Tensor x = req(T({0, 0, 0, 0, 0, 0}, {2, 3}));
  expect_grad(grads_of(ag::transpose(x, 0, 1), {x}, T({1, 2, 3, 4, 5, 6}, {3, 2}))[0], {2, 3}, {1, 3, 5, 2, 4, 6});
  // permute {2,0,1} of [1,2,3] → [3,1,2]: seed row-major over [3,1,2] = 0..5;
  // grad x[0][j][k] = seed[k][0][j] → x order (j,k): (0,0)=0 (0,1)=2 (0,2)=4 (1,0)=1 (1,1)=3 (1,2)=5.
  Tensor z = req(Tensor::zeros({1, 2, 3}));
  expect_grad(grads_of(ag::permute(z, {2, 0, 1}), {z}, iota({3, 1, 2}))[0], {1, 2, 3}, {0, 2, 4, 1, 3, 5});
}

TEST(GradReshape, PermutedLeafExact) {
  // p = transpose of buffer [[1,2,3],[4,5,6]] → p [3,2] = [[1,4],[2,5],[3,6]]; reshape(p, [6])
  // with seed 0..5 → grad p (row-major over [3,2]) = 0..5, i.e. [[0,1],[2,3],[4,5]].
  Tensor p = req(T({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1));
  expect_grad(grads_of(ag::reshape(p, {6}), {p}, iota({6}))[0], {3, 2}, {0, 1, 2, 3, 4, 5});
}
