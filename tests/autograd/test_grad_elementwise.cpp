// Gradient tests for the elementwise ops of xla::ag: unary, binary (NumPy broadcasting in
// every position, 0-d operands), where, and the non-differentiable comparisons.
//
// Every differentiable op goes through xla::gradcheck on contiguous inputs, on leaves that
// are views (a transposed view, a slice with step 2), next to an expanded operand that does
// not require grad, and on 0-d inputs; then a few gradients are checked against numbers
// derived by hand.
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "grad_util.hpp"

using namespace gt;

namespace {

using Gen = std::function<std::vector<float>(int64_t n, uint64_t seed)>;
using UnaryOp = Tensor (*)(const Tensor&);
using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);

// Input domains, all away from the kinks and singularities of the ops they feed.
const Gen kGeneral = [](int64_t n, uint64_t s) { return lcg_values(n, s, -1.f, 1.f); };
const Gen kAwayFromZero = [](int64_t n, uint64_t s) { return away_from_zero(n, s, 0.25f, 1.f); };
const Gen kPositive = [](int64_t n, uint64_t s) { return lcg_values(n, s, 0.5f, 2.f); };
const Gen kGridA = [](int64_t n, uint64_t s) { return grid_values(n, s, 0.03f); };
const Gen kGridB = [](int64_t n, uint64_t s) { return grid_values(n, s, 0.08f); };

// A leaf that requires grad, with values from `gen`.
Tensor leaf(const Gen& gen, const Shape& s, uint64_t seed) { return req(T(gen(s.numel(), seed), s)); }
// A leaf [r, c] that is the transpose of contiguous [c, r] data (strides {1, r}).
Tensor transposed_leaf(const Gen& gen, int64_t r, int64_t c, uint64_t seed) {
  return req(T(gen(r * c, seed), {c, r}).transpose(0, 1));
}
// A leaf [r, c] that is every second column of contiguous [r, 2c] data (offset 1).
Tensor strided_leaf(const Gen& gen, int64_t r, int64_t c, uint64_t seed) {
  return req(T(gen(r * 2 * c, seed), {r, 2 * c}).slice(1, 1, 2 * c, 2));
}

// ---- unary battery ----
void check_unary(UnaryOp agop, UnaryOp plain, const Gen& gen) {
  auto f = [agop](const std::vector<Tensor>& in) { return agop(in[0]); };
  {
    SCOPED_TRACE("contiguous [3,4]");
    Tensor x = leaf(gen, {3, 4}, 11);
    expect_same_forward(agop(x), plain(x));
    check_grad(f, {x});
  }
  {
    SCOPED_TRACE("transposed leaf [3,4]");
    Tensor x = transposed_leaf(gen, 3, 4, 12);
    ASSERT_FALSE(x.is_contiguous());
    expect_same_forward(agop(x), plain(x));
    check_grad(f, {x});
  }
  {
    SCOPED_TRACE("step-2 sliced leaf [3,4]");
    Tensor x = strided_leaf(gen, 3, 4, 13);
    expect_same_forward(agop(x), plain(x));
    check_grad(f, {x});
  }
  {
    SCOPED_TRACE("0-d leaf");
    Tensor x = req(T(gen(1, 14), {}));
    expect_same_forward(agop(x), plain(x));
    check_grad(f, {x});
  }
  {
    SCOPED_TRACE("op of an ag view: op(transpose(x))");
    Tensor x = leaf(gen, {4, 3}, 15);
    check_grad([agop](const std::vector<Tensor>& in) { return agop(ag::transpose(in[0], 0, 1)); }, {x});
  }
}

// ---- binary battery: every broadcasting position, 0-d operands, 3-D both ways ----
void check_binary_broadcast(BinaryOp agop, BinaryOp plain, const Gen& ga, const Gen& gb) {
  struct Case {
    Shape sa, sb;
    const char* name;
  };
  const std::vector<Case> cases = {
      {{2, 3}, {2, 3}, "[2,3] op [2,3]"},     {{2, 3}, {3}, "[2,3] op [3]"},
      {{3}, {2, 3}, "[3] op [2,3]"},          {{2, 3}, {2, 1}, "[2,3] op [2,1]"},
      {{2, 1}, {2, 3}, "[2,1] op [2,3]"},     {{1, 3}, {2, 1}, "[1,3] op [2,1]"},
      {{2, 1}, {1, 3}, "[2,1] op [1,3]"},     {{2, 3}, {}, "[2,3] op 0-d"},
      {{}, {2, 3}, "0-d op [2,3]"},           {{}, {}, "0-d op 0-d"},
      {{2, 1, 3}, {4, 1}, "[2,1,3] op [4,1]"}, {{4, 1}, {2, 1, 3}, "[4,1] op [2,1,3]"},
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor a = leaf(ga, c.sa, seed++), b = leaf(gb, c.sb, seed++);
    expect_same_forward(agop(a, b), plain(a, b));
    check_grad([agop](const std::vector<Tensor>& in) { return agop(in[0], in[1]); }, {a, b});
  }
}

void check_binary_views(BinaryOp agop, const Gen& ga, const Gen& gb) {
  auto f = [agop](const std::vector<Tensor>& in) { return agop(in[0], in[1]); };
  {
    SCOPED_TRACE("transposed leaf op step-2 sliced leaf");
    check_grad(f, {transposed_leaf(ga, 2, 3, 201), strided_leaf(gb, 2, 3, 202)});
  }
  {
    SCOPED_TRACE("step-2 sliced leaf op transposed leaf");
    check_grad(f, {strided_leaf(ga, 2, 3, 203), transposed_leaf(gb, 2, 3, 204)});
  }
  {
    SCOPED_TRACE("transposed leaf [2,3] op [3]");
    check_grad(f, {transposed_leaf(ga, 2, 3, 205), leaf(gb, {3}, 206)});
  }
  {
    SCOPED_TRACE("leaf [2,3] op expanded constant [2,3] (stride 0, not requiring grad)");
    Tensor b = T(gb(3, 207), {3}).unsqueeze(0).expand({2, 3});
    check_grad(f, {leaf(ga, {2, 3}, 208), b});
  }
  {
    SCOPED_TRACE("expanded constant op leaf [2,3]");
    Tensor a = T(ga(2, 209), {2, 1}).expand({2, 3});
    check_grad(f, {a, leaf(gb, {2, 3}, 210)});
  }
  {
    // A stride-0 leaf that requires grad: its .grad is per logical element (shape [2,3]);
    // gradcheck's numeric side perturbs logical elements one at a time too.
    SCOPED_TRACE("expanded leaf [2,3] (stride 0, requiring grad) op leaf [3]");
    Tensor a = req(T(ga(2, 213), {2, 1}).expand({2, 3}));
    check_grad(f, {a, leaf(gb, {3}, 214)});
  }
  {
    SCOPED_TRACE("ag::expand of [1,3] and of [2,1] leaves, then op");
    check_grad(
        [agop](const std::vector<Tensor>& in) { return agop(ag::expand(in[0], {2, 3}), ag::expand(in[1], {2, 3})); },
        {leaf(ga, {1, 3}, 211), leaf(gb, {2, 1}, 212)});
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Unary ops: gradcheck
// ---------------------------------------------------------------------------------------

TEST(GradNeg, ContiguousViewsAndScalar) { check_unary(ag::neg, xla::neg, kGeneral); }
TEST(GradAbs, ContiguousViewsAndScalar) { check_unary(ag::abs, xla::abs, kAwayFromZero); }
TEST(GradExp, ContiguousViewsAndScalar) { check_unary(ag::exp, xla::exp, kGeneral); }
TEST(GradLog, ContiguousViewsAndScalar) { check_unary(ag::log, xla::log, kPositive); }
TEST(GradSqrt, ContiguousViewsAndScalar) { check_unary(ag::sqrt, xla::sqrt, kPositive); }
TEST(GradRsqrt, ContiguousViewsAndScalar) { check_unary(ag::rsqrt, xla::rsqrt, kPositive); }
TEST(GradTanh, ContiguousViewsAndScalar) { check_unary(ag::tanh, xla::tanh, kGeneral); }
TEST(GradSigmoid, ContiguousViewsAndScalar) { check_unary(ag::sigmoid, xla::sigmoid, kGeneral); }
TEST(GradRelu, ContiguousViewsAndScalar) { check_unary(ag::relu, xla::relu, kAwayFromZero); }
TEST(GradGelu, ContiguousViewsAndScalar) { check_unary(ag::gelu, xla::gelu, kGeneral); }
TEST(GradGeluTanh, ContiguousViewsAndScalar) { check_unary(ag::gelu_tanh, xla::gelu_tanh, kGeneral); }
TEST(GradSilu, ContiguousViewsAndScalar) { check_unary(ag::silu, xla::silu, kGeneral); }

TEST(GradUnary, WideRangeOfTheSmoothOnes) {
  // Larger magnitudes than [-1, 1] (still f32-friendly): the saturating regions of tanh,
  // sigmoid, gelu and silu.
  const Gen wide = [](int64_t n, uint64_t s) { return lcg_values(n, s, -4.f, 4.f); };
  for (UnaryOp op : {ag::tanh, ag::sigmoid, ag::gelu, ag::gelu_tanh, ag::silu}) {
    Tensor x = leaf(wide, {3, 4}, 31);
    check_grad([op](const std::vector<Tensor>& in) { return op(in[0]); }, {x});
  }
}

// ---------------------------------------------------------------------------------------
// Unary ops: exact values
// ---------------------------------------------------------------------------------------

TEST(GradUnary, ExactValuesAtKnownPoints) {
  // Each x is a leaf [2]; loss = sum(op(x)), so grad = op'(x) elementwise.
  auto g = [](UnaryOp op, std::vector<float> v) {
    Tensor x = req(T(v));
    return grads_of(ag::sum(op(x)), {x})[0];
  };
  // neg' = -1.
  expect_grad(g(ag::neg, {0.5f, -2.f}), {2}, {-1.f, -1.f});
  // |x|' = sign(x).
  expect_grad(g(ag::abs, {0.5f, -2.f}), {2}, {1.f, -1.f});
  // exp'(x) = exp(x): exp(0) = 1, exp(1) = e.
  expect_grad(g(ag::exp, {0.f, 1.f}), {2}, {1.f, float(std::exp(1.0))}, 1e-6f);
  // log'(x) = 1/x: 1/2, 1/4.
  expect_grad(g(ag::log, {2.f, 4.f}), {2}, {0.5f, 0.25f});
  // sqrt'(x) = 1/(2 sqrt x): x=4 → 1/4, x=1 → 1/2.
  expect_grad(g(ag::sqrt, {4.f, 1.f}), {2}, {0.25f, 0.5f});
  // rsqrt'(x) = -x^(-3/2)/2: x=4 → -1/16, x=1 → -1/2.
  expect_grad(g(ag::rsqrt, {4.f, 1.f}), {2}, {-0.0625f, -0.5f});
  // tanh'(x) = 1 - tanh²: x=0 → 1, x=1 → 1 - tanh(1)².
  expect_grad(g(ag::tanh, {0.f, 1.f}), {2}, {1.f, float(1 - std::tanh(1.0) * std::tanh(1.0))}, 1e-6f);
  // sigmoid' = s(1-s): x=0 → 1/4, x=2 → s(2)(1-s(2)).
  const double s2 = 1 / (1 + std::exp(-2.0));
  expect_grad(g(ag::sigmoid, {0.f, 2.f}), {2}, {0.25f, float(s2 * (1 - s2))}, 1e-6f);
  // relu' = 0 for x < 0, 1 for x > 0.
  expect_grad(g(ag::relu, {-2.f, -0.5f}), {2}, {0.f, 0.f});
  expect_grad(g(ag::relu, {0.5f, 3.f}), {2}, {1.f, 1.f});
  // gelu'(x) = Φ(x) + x φ(x): x=0 → 1/2; x=1 → Φ(1) + φ(1).
  const double Phi1 = 0.5 * (1 + std::erf(1 / std::sqrt(2.0))), phi1 = std::exp(-0.5) / std::sqrt(2 * std::numbers::pi);
  expect_grad(g(ag::gelu, {0.f, 1.f}), {2}, {0.5f, float(Phi1 + phi1)}, 1e-5f);
  // gelu_tanh(x) = x/2 (1 + tanh(u)), u = c (x + 0.044715 x³), c = sqrt(2/π):
  // derivative = (1 + tanh u)/2 + x/2 (1 - tanh² u) c (1 + 3·0.044715 x²); at 0 → 1/2.
  const double c = std::sqrt(2 / std::numbers::pi), u1 = c * (1 + 0.044715), t1 = std::tanh(u1);
  const double gt1 = 0.5 * (1 + t1) + 0.5 * (1 - t1 * t1) * c * (1 + 3 * 0.044715);
  expect_grad(g(ag::gelu_tanh, {0.f, 1.f}), {2}, {0.5f, float(gt1)}, 1e-5f);
  // silu(x) = x s(x): derivative s(x)(1 + x(1 - s(x))); x=0 → 1/2; x=2 → s2 (1 + 2 (1 - s2)).
  expect_grad(g(ag::silu, {0.f, 2.f}), {2}, {0.5f, float(s2 * (1 + 2 * (1 - s2)))}, 1e-6f);
}

TEST(GradUnary, TransposedLeafGetsGradOfItsOwnShape) {
  // x is the [3,2] transpose of contiguous [2,3] data; loss = sum(x * w) → grad = w, with
  // x's shape and in x's logical (row-major over [3,2]) order.
  Tensor x = req(T({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1));
  Tensor w = T({1, -2, 3, -4, 5, -6}, {3, 2});
  Tensor g = grads_of(ag::sum(ag::mul(ag::exp(ag::neg(ag::neg(ag::log(ag::exp(x))))), w)), {x})[0];
  // exp(-(-(log(exp x)))) = exp(x) up to rounding, so d/dx = w * exp(x); x logical = [[1,4],[2,5],[3,6]].
  const std::vector<float> xl = {1, 4, 2, 5, 3, 6}, wv = {1, -2, 3, -4, 5, -6};
  std::vector<float> want;
  for (size_t i = 0; i < 6; ++i) want.push_back(float(double(wv[i]) * std::exp(double(xl[i]))));
  expect_grad(g, {3, 2}, want, 1e-5f);
}

// ---------------------------------------------------------------------------------------
// Binary ops: gradcheck
// ---------------------------------------------------------------------------------------

TEST(GradAdd, BroadcastsBothWays) { check_binary_broadcast(ag::add, xla::add, kGeneral, kGeneral); }
TEST(GradAdd, ViewInputs) { check_binary_views(ag::add, kGeneral, kGeneral); }
TEST(GradSub, BroadcastsBothWays) { check_binary_broadcast(ag::sub, xla::sub, kGeneral, kGeneral); }
TEST(GradSub, ViewInputs) { check_binary_views(ag::sub, kGeneral, kGeneral); }
TEST(GradMul, BroadcastsBothWays) { check_binary_broadcast(ag::mul, xla::mul, kGeneral, kGeneral); }
TEST(GradMul, ViewInputs) { check_binary_views(ag::mul, kGeneral, kGeneral); }
TEST(GradDiv, BroadcastsBothWays) { check_binary_broadcast(ag::div, xla::div, kGeneral, kAwayFromZero); }
TEST(GradDiv, ViewInputs) { check_binary_views(ag::div, kGeneral, kAwayFromZero); }
// Grids 0.03 and 0.08 off k/10: every pair differs by >= 0.05 >> eps, so no ties.
TEST(GradMaximum, BroadcastsBothWays) { check_binary_broadcast(ag::maximum, xla::maximum, kGridA, kGridB); }
TEST(GradMaximum, ViewInputs) { check_binary_views(ag::maximum, kGridA, kGridB); }
TEST(GradMinimum, BroadcastsBothWays) { check_binary_broadcast(ag::minimum, xla::minimum, kGridA, kGridB); }
TEST(GradMinimum, ViewInputs) { check_binary_views(ag::minimum, kGridA, kGridB); }
// Positive base only: d/db a^b = a^b ln a.
TEST(GradPow, BroadcastsBothWays) { check_binary_broadcast(ag::pow, xla::pow, kPositive, kGeneral); }
TEST(GradPow, ViewInputs) { check_binary_views(ag::pow, kPositive, kGeneral); }

TEST(GradPow, ConstantExponents) {
  // x^2, x^0.5, x^-1 with a 0-d exponent that does not require grad (passed as an input).
  for (float e : {2.f, 0.5f, -1.f, 3.f}) {
    SCOPED_TRACE(e);
    Tensor x = leaf(kPositive, {2, 3}, 41);
    check_grad([](const std::vector<Tensor>& in) { return ag::pow(in[0], in[1]); }, {x, Tensor::scalar(e)});
  }
}

TEST(GradMul, SameInputOnBothSides) {
  // x*x uses x twice: the two contributions accumulate (gradcheck sees 2 x w).
  Tensor x = leaf(kGeneral, {2, 3}, 42);
  check_grad([](const std::vector<Tensor>& in) { return ag::mul(in[0], in[0]); }, {x});
  Tensor y = leaf(kGeneral, {3}, 43);
  check_grad([](const std::vector<Tensor>& in) { return ag::div(ag::add(in[0], in[1]), ag::exp(in[1])); },
             {leaf(kGeneral, {2, 3}, 44), y});
}

// ---------------------------------------------------------------------------------------
// Binary ops: exact values
// ---------------------------------------------------------------------------------------

TEST(GradMul, SquareGivesTwoX) {
  // d/dx sum(x*x) = 2x.
  Tensor x = req(T({-1.5f, 0.25f, 2.f, 3.f}));
  expect_grad(grads_of(ag::sum(ag::mul(x, x)), {x})[0], {4}, {-3.f, 0.5f, 4.f, 6.f});
}

TEST(GradAdd, SameTensorTwiceGivesTwo) {
  // add(x, x) with a ones seed: each use sends 1, so grad = 2 everywhere.
  Tensor x = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  Tensor y = ag::add(x, x);
  expect_grad(grads_of(y, {x}, T({1, 1, 1, 1, 1, 1}, {2, 3}))[0], {2, 3}, {2, 2, 2, 2, 2, 2});
}

TEST(GradMul, BroadcastExactValues) {
  // loss = sum_{ij} a_ij b_j with a [2,3], b [3]:
  // d/da_ij = b_j (broadcast back over rows), d/db_j = sum_i a_ij (summed over the broadcast).
  Tensor a = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  Tensor b = req(T({10, -20, 30}));
  auto g = grads_of(ag::sum(ag::mul(a, b)), {a, b});
  expect_grad(g[0], {2, 3}, {10, -20, 30, 10, -20, 30});
  expect_grad(g[1], {3}, {5, 7, 9});
}

TEST(GradSub, BroadcastExactValues) {
  // loss = sum_{ij} (a_i0 - b_0j) with a [2,1], b [1,3]: out [2,3].
  // d/da_i0 = 3 (three columns), d/db_0j = -2 (two rows).
  Tensor a = req(T({1, 2}, {2, 1}));
  Tensor b = req(T({1, 2, 3}, {1, 3}));
  auto g = grads_of(ag::sum(ag::sub(a, b)), {a, b});
  expect_grad(g[0], {2, 1}, {3, 3});
  expect_grad(g[1], {1, 3}, {-2, -2, -2});
}

TEST(GradDiv, ExactValues) {
  // d/da (a/b) = 1/b, d/db (a/b) = -a/b²: a=[1,2], b=[2,4] → [1/2, 1/4], [-1/4, -2/16].
  Tensor a = req(T({1, 2})), b = req(T({2, 4}));
  auto g = grads_of(ag::sum(ag::div(a, b)), {a, b});
  expect_grad(g[0], {2}, {0.5f, 0.25f});
  expect_grad(g[1], {2}, {-0.25f, -0.125f});
}

TEST(GradPow, ExactValues) {
  // d/da a^b = b a^(b-1): 3·2² = 12, 2·3 = 6; d/db a^b = a^b ln a: 8 ln 2, 9 ln 3.
  Tensor a = req(T({2, 3})), b = req(T({3, 2}));
  auto g = grads_of(ag::sum(ag::pow(a, b)), {a, b});
  expect_grad(g[0], {2}, {12.f, 6.f}, 1e-5f);
  expect_grad(g[1], {2}, {float(8 * std::log(2.0)), float(9 * std::log(3.0))}, 1e-5f);
}

TEST(GradMaximum, TieSendsHalfEachWay) {
  // maximum(a, b) = [1 (tie), 2 (a), 5 (b), -1 (tie)]: grads a = [.5, 1, 0, .5], b = [.5, 0, 1, .5].
  Tensor a = req(T({1, 2, 3, -1})), b = req(T({1, 0, 5, -1}));
  auto g = grads_of(ag::sum(ag::maximum(a, b)), {a, b});
  expect_grad(g[0], {4}, {0.5f, 1.f, 0.f, 0.5f});
  expect_grad(g[1], {4}, {0.5f, 0.f, 1.f, 0.5f});
}

TEST(GradMinimum, TieSendsHalfEachWay) {
  // minimum(a, b) = [1 (tie), 0 (b), 3 (a)]: grads a = [.5, 0, 1], b = [.5, 1, 0].
  Tensor a = req(T({1, 2, 3})), b = req(T({1, 0, 5}));
  auto g = grads_of(ag::sum(ag::minimum(a, b)), {a, b});
  expect_grad(g[0], {3}, {0.5f, 0.f, 1.f});
  expect_grad(g[1], {3}, {0.5f, 1.f, 0.f});
}

TEST(GradMaximum, TiesWithBroadcastScalar) {
  // maximum(a [2,2], b 0-d = 1) over a = [[1, 2], [3, 1]]: ties at (0,0) and (1,1).
  // grad a = [.5, 1, 1, .5]; grad b = .5 + .5 (the two ties, summed over the broadcast) = 1.
  Tensor a = req(T({1, 2, 3, 1}, {2, 2})), b = req(Tensor::scalar(1.f));
  auto g = grads_of(ag::sum(ag::maximum(a, b)), {a, b});
  expect_grad(g[0], {2, 2}, {0.5f, 1.f, 1.f, 0.5f});
  expect_grad(g[1], {}, {1.f});
}

// ---------------------------------------------------------------------------------------
// where
// ---------------------------------------------------------------------------------------

TEST(GradWhere, BroadcastsInEveryPosition) {
  auto f = [](const Tensor& cond) {
    return [cond](const std::vector<Tensor>& in) { return ag::where(cond, in[0], in[1]); };
  };
  const Tensor m23 = U8({1, 0, 0, 1, 1, 0}, {2, 3});
  {
    SCOPED_TRACE("cond [2,3], a [2,3], b [3]");
    check_grad(f(m23), {param({2, 3}, 51), param({3}, 52)});
  }
  {
    SCOPED_TRACE("cond [2,1], a [1,3], b [2,1]");
    check_grad(f(U8({0, 1}, {2, 1})), {param({1, 3}, 53), param({2, 1}, 54)});
  }
  {
    SCOPED_TRACE("cond [3], a 0-d, b [2,3]");
    check_grad(f(U8({1, 0, 1}, {3})), {param({}, 55), param({2, 3}, 56)});
  }
  {
    SCOPED_TRACE("cond 0-d (true), a [2,3], b [2,1]");
    check_grad(f(U8({1}, {})), {param({2, 3}, 57), param({2, 1}, 58)});
  }
  {
    SCOPED_TRACE("cond [2,3], a [2,1], b 0-d");
    check_grad(f(m23), {param({2, 1}, 59), param({}, 60)});
  }
  {
    SCOPED_TRACE("cond [2,1,3], a [4,1], b [3] → [2,4,3]");
    check_grad(f(U8({1, 0, 1, 0, 0, 1}, {2, 1, 3})), {param({4, 1}, 61), param({3}, 62)});
  }
  {
    SCOPED_TRACE("f32 cond (nonzero = true), transposed a, step-2 sliced b");
    Tensor cond = T({0.f, 2.5f, -1.f, 0.f, 0.f, 1.f}, {2, 3});
    check_grad(f(cond), {transposed_leaf(kGeneral, 2, 3, 63), strided_leaf(kGeneral, 2, 3, 64)});
  }
  {
    SCOPED_TRACE("only a requires grad; b an expanded constant");
    Tensor b = T({0.5f, -0.5f, 0.25f}, {3}).expand({2, 3});
    check_grad(f(m23), {param({2, 3}, 65), b});
  }
  {
    SCOPED_TRACE("cond computed by ag::gt from the inputs themselves");
    check_grad([](const std::vector<Tensor>& in) { return ag::where(ag::gt(in[0], in[1]), in[0], ag::mul(in[1], in[1])); },
               {req(T(grid_values(6, 66, 0.03f), {2, 3})), req(T(grid_values(3, 67, 0.08f), {3}))});
  }
}

TEST(GradWhere, ExactValuesWithBroadcast) {
  // where(cond [2,3], a 0-d, b [2,3]) with cond = [[1,0,1],[0,0,1]], loss = sum(out * w):
  // d/da = sum of w where cond (w00 + w02 + w12 = 1 + 3 + 6 = 10);
  // d/db = w where !cond, 0 elsewhere.
  Tensor cond = U8({1, 0, 1, 0, 0, 1}, {2, 3});
  Tensor a = req(Tensor::scalar(0.5f)), b = req(T({1, 2, 3, 4, 5, 6}, {2, 3}));
  Tensor w = T({1, 2, 3, 4, 5, 6}, {2, 3});
  auto g = grads_of(ag::sum(ag::mul(ag::where(cond, a, b), w)), {a, b});
  expect_grad(g[0], {}, {10.f});
  expect_grad(g[1], {2, 3}, {0, 2, 0, 4, 5, 0});
}

// ---------------------------------------------------------------------------------------
// Comparisons: masks that never require grad
// ---------------------------------------------------------------------------------------

TEST(GradComparisons, NeverRequireGrad) {
  Tensor a = req(T({1, 2, 3})), b = req(T({2, 2, 2}));
  using Cmp = Tensor (*)(const Tensor&, const Tensor&);
  struct C {
    Cmp agop, plain;
    const char* name;
  };
  for (C c : {C{ag::eq, xla::eq, "eq"}, C{ag::ne, xla::ne, "ne"}, C{ag::lt, xla::lt, "lt"}, C{ag::le, xla::le, "le"},
              C{ag::gt, xla::gt, "gt"}, C{ag::ge, xla::ge, "ge"}}) {
    SCOPED_TRACE(c.name);
    Tensor m = c.agop(a, b);
    EXPECT_FALSE(xla::requires_grad(m));
    EXPECT_EQ(xla::grad_fn_name(m), "");
    expect_same_forward(m, c.plain(a, b), 0.f);
  }
  // eq on [1,2,3] vs 2 → [0,1,0].
  expect_tensor(ag::eq(a, b), {3}, {0, 1, 0}, 0.f, DType::U8);
}

TEST(GradOps, RecordNamesAndRequiresGrad) {
  // Outputs of recorded ops require grad and are not leaves; the header names "mul" and
  // "matmul". Without an input that requires grad, or under NoGradGuard, nothing is recorded.
  Tensor a = req(T({1, 2, 3, 4}, {2, 2})), c = T({1, 1, 1, 1}, {2, 2});
  Tensor m = ag::mul(a, c);
  EXPECT_TRUE(xla::requires_grad(m));
  EXPECT_FALSE(xla::is_leaf(m));
  EXPECT_EQ(xla::grad_fn_name(m), "mul");
  EXPECT_EQ(xla::grad_fn_name(ag::matmul(a, c)), "matmul");
  EXPECT_EQ(xla::grad_fn_name(a), "");
  EXPECT_FALSE(xla::requires_grad(ag::mul(c, c)));
  {
    xla::NoGradGuard ng;
    EXPECT_FALSE(xla::requires_grad(ag::mul(a, c)));
  }
}

TEST(GradGraph, IntermediateUsedTwiceAndExpandedLeaf) {
  // t = tanh(x) feeds three consumers: gradients from all three paths add up at t.
  check_grad(
      [](const std::vector<Tensor>& in) {
        Tensor t = ag::tanh(in[0]);
        return ag::add(ag::mul(t, t), ag::add(ag::sigmoid(t), ag::exp(in[1])));
      },
      {param({2, 3}, 81), param({3}, 82)});
  // Exact: e = expand(c [2,1] data) as a leaf of shape [2,3]; loss = sum(e * w) → grad = w,
  // one entry per logical element (not summed over the aliased copies).
  Tensor e = req(T({1, 2}, {2, 1}).expand({2, 3}));
  Tensor w = T({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_grad(grads_of(ag::sum(ag::mul(e, w)), {e})[0], {2, 3}, {1, 2, 3, 4, 5, 6});
}

// ---------------------------------------------------------------------------------------
// gradcheck itself is not vacuous
// ---------------------------------------------------------------------------------------

TEST(GradCheck, ReportsAWrongGradient) {
  // x * detach(x): backward sees only one factor (grad x·w) while finite differences see
  // d(x²)/dx = 2x·w, so gradcheck must report input 0. The inputs are away from 0 so the
  // two differ by more than the tolerance.
  Tensor x = req(T(away_from_zero(6, 71, 0.5f, 1.f), {2, 3}));
  std::string report =
      xla::gradcheck([](const std::vector<Tensor>& in) { return ag::sum(ag::mul(in[0], xla::detach(in[0]))); }, {x});
  EXPECT_NE(report, "");
  EXPECT_NE(report.find("input 0"), std::string::npos) << report;
  // The correct function passes.
  EXPECT_EQ(xla::gradcheck([](const std::vector<Tensor>& in) { return ag::sum(ag::mul(in[0], in[0])); }, {x}), "");
}
