// Tests for the elementwise ops of ops.hpp: unary, binary (NumPy broadcasting),
// comparisons (u8 masks), where, and broadcast_shapes.
//
// Every op is run through a shared battery (check_unary / check_binary): contiguous,
// transposed, step-sliced and expanded inputs, size-1 and zero-size dims, 0-d scalars,
// bf16/f16 inputs (widened, result f32), and broadcasting in every position; expected
// values come from the same op evaluated in double on the inputs' logical values.
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace xt;
using xla::Status;

namespace {

using UnaryOp = Tensor (*)(const Tensor&);
using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);
using Ref1 = double (*)(double);
using Ref2 = double (*)(double, double);

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

const std::vector<float> kGeneral = {-3, -2.5f, -1, -0.5f, -0.1f, 0, 0.1f, 0.5f, 1, 1.5f, 2.5f, 3};
const std::vector<float> kPositive = {0.01f, 0.1f, 0.25f, 0.5f, 1, 1.5f, 2, 3, 4, 10, 100, 1000};

std::vector<float> map_ref(Ref1 ref, const std::vector<float>& in) {
  std::vector<float> out;
  for (float v : in) out.push_back(float(ref(double(v))));
  return out;
}

// The unary battery. `vals` has 12 elements (viewed as [3,4]).
void check_unary(UnaryOp op, Ref1 ref, const std::vector<float>& vals, float tol) {
  Tensor x = T(vals, {3, 4});
  {
    SCOPED_TRACE("contiguous [3,4], input untouched");
    expect_tensor(op(x), {3, 4}, map_ref(ref, vals), tol);
    expect_values(x, vals);
    EXPECT_FALSE(op(x).shares_storage(x));
  }
  {
    SCOPED_TRACE("transposed view [4,3]");
    Tensor v = x.transpose(0, 1);
    expect_tensor(op(v), {4, 3}, map_ref(ref, v.to_vector()), tol);
  }
  {
    SCOPED_TRACE("step-sliced view [3,2]");
    Tensor v = x.slice(1, 1, 4, 2);
    expect_tensor(op(v), {3, 2}, map_ref(ref, v.to_vector()), tol);
  }
  {
    SCOPED_TRACE("expanded view [2,3,4] (stride 0)");
    Tensor v = x.unsqueeze(0).expand({2, 3, 4});
    expect_tensor(op(v), {2, 3, 4}, map_ref(ref, v.to_vector()), tol);
  }
  {
    SCOPED_TRACE("bf16 and f16 inputs are widened, result f32");
    Tensor b = BF16(vals, {3, 4});
    expect_tensor(op(b), {3, 4}, map_ref(ref, b.to_vector()), tol);
    Tensor h = F16(vals, {4, 3});
    expect_tensor(op(h), {4, 3}, map_ref(ref, h.to_vector()), tol);
  }
  {
    SCOPED_TRACE("0-d, size-1 and zero-size");
    expect_tensor(op(Tensor::scalar(vals[5])), {}, {float(ref(vals[5]))}, tol);
    expect_tensor(op(T({vals[2], vals[7]}, {1, 2, 1})), {1, 2, 1}, map_ref(ref, {vals[2], vals[7]}), tol);
    expect_tensor(op(iota({0, 3})), {0, 3}, {});
    expect_tensor(op(BF16({}, {3, 0})), {3, 0}, {});
  }
}

// Inputs: LCG values in [lo, hi), rounded to integers when `integral` (for comparisons).
struct Range {
  float lo, hi;
  bool integral = false;
};
Tensor make(const Shape& s, uint64_t seed, Range r) {
  std::vector<float> v = lcg_values(s.numel(), seed, r.lo, r.hi);
  if (r.integral)
    for (float& x : v) x = std::floor(x);
  return T(v, s);
}

// Compares op(a, b) with ref over the hand-written broadcast shape `out`.
void expect_binary(BinaryOp op, Ref2 ref, const Tensor& a, const Tensor& b, const Shape& out, float tol,
                   DType out_dtype) {
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  expect_tensor(op(a, b), out, ref_binary(av, a.shape(), bv, b.shape(), out, ref), tol, out_dtype);
  expect_values(a, av);  // inputs are left alone
  expect_values(b, bv);
}

// The binary battery: broadcasting in every position, layouts, dtypes, zero-size, errors.
void check_binary(BinaryOp op, Ref2 ref, const char* name, float tol, DType out, Range ra, Range rb) {
  auto A = [&](const Shape& s) { return make(s, 11, ra); };
  auto B = [&](const Shape& s) { return make(s, 23, rb); };
  auto check = [&](const Tensor& a, const Tensor& b, const Shape& o) { expect_binary(op, ref, a, b, o, tol, out); };
  { SCOPED_TRACE("[2,3] with [2,3]"); check(A({2, 3}), B({2, 3}), {2, 3}); }
  { SCOPED_TRACE("b [3] broadcast over a [2,3]"); check(A({2, 3}), B({3}), {2, 3}); }
  { SCOPED_TRACE("a [3] broadcast over b [2,3]"); check(A({3}), B({2, 3}), {2, 3}); }
  { SCOPED_TRACE("column b [2,1] over a [2,3]"); check(A({2, 3}), B({2, 1}), {2, 3}); }
  { SCOPED_TRACE("column a [2,1] over b [2,3]"); check(A({2, 1}), B({2, 3}), {2, 3}); }
  { SCOPED_TRACE("both sides: [2,1] with [1,3]"); check(A({2, 1}), B({1, 3}), {2, 3}); }
  { SCOPED_TRACE("both sides: [1,3,1] with [2,1,4]"); check(A({1, 3, 1}), B({2, 1, 4}), {2, 3, 4}); }
  { SCOPED_TRACE("ranks differ: [4,1,3] with [2,1]"); check(A({4, 1, 3}), B({2, 1}), {4, 2, 3}); }
  { SCOPED_TRACE("0-d a over [2,3]"); check(A({}), B({2, 3}), {2, 3}); }
  { SCOPED_TRACE("0-d b over [2,3]"); check(A({2, 3}), B({}), {2, 3}); }
  { SCOPED_TRACE("0-d with 0-d"); check(A({}), B({}), {}); }
  { SCOPED_TRACE("0-d with [1]"); check(A({}), B({1}), {1}); }
  { SCOPED_TRACE("size-1: [1] with [1]"); check(A({1}), B({1}), {1}); }
  { SCOPED_TRACE("size-1: [1,1] with [3]"); check(A({1, 1}), B({3}), {1, 3}); }
  {
    SCOPED_TRACE("non-contiguous: transposed a, step-sliced b");
    check(A({3, 2}).transpose(0, 1), B({2, 6}).slice(1, 0, 6, 2), {2, 3});
  }
  {
    SCOPED_TRACE("non-contiguous: expanded a (stride 0), permuted b");
    check(A({3}).expand({2, 4, 3}), B({3, 4, 2}).permute({2, 1, 0}), {2, 4, 3});
  }
  {
    SCOPED_TRACE("non-contiguous and broadcasting: transposed [3,1]^T with sliced column");
    check(A({3, 1}).transpose(0, 1), B({4, 2}).slice(1, 1, 2), {4, 3});
  }
  { SCOPED_TRACE("zero-size: [0,3] with [3]"); check(A({0, 3}), B({3}), {0, 3}); }
  { SCOPED_TRACE("zero-size: [2,0] with [2,1]"); check(A({2, 0}), B({2, 1}), {2, 0}); }
  { SCOPED_TRACE("zero-size: [1,0] with [3,1]"); check(A({1, 0}), B({3, 1}), {3, 0}); }
  { SCOPED_TRACE("zero-size: [0] with 0-d"); check(A({0}), B({}), {0}); }
  {
    SCOPED_TRACE("bf16 with f32, f16 with bf16: widened, result f32 (u8 for comparisons)");
    Tensor a = A({2, 3}), b = B({3});
    check(BF16(a.to_vector(), {2, 3}), b, {2, 3});
    check(a, BF16(b.to_vector(), {3}), {2, 3});
    check(F16(a.to_vector(), {2, 3}), BF16(b.to_vector(), {3}), {2, 3});
  }
  {
    SCOPED_TRACE("incompatible shapes");
    EXPECT_XLA_ERROR(op(A({2, 3}), B({4})), Status::Shape, name);
    EXPECT_XLA_ERROR(op(A({2, 3}), B({3, 2})), Status::Shape, name);
    EXPECT_XLA_ERROR(op(A({4}), B({2, 3})), Status::Shape, name);
    EXPECT_XLA_ERROR(op(A({0}), B({2})), Status::Shape, name);  // 0 and 2 do not broadcast
    EXPECT_XLA_ERROR(op(A({2, 3, 4}), B({3, 1, 4})), Status::Shape, name);
  }
}

const Range kAny{-4, 4};
const Range kNonZero{0.5f, 4};
const Range kSmallInts{-2, 3, true};  // many ties, so eq/le/ge hit both outcomes
const DType kF32 = DType::F32;
const DType kU8 = DType::U8;

}  // namespace

// =========================================================================================
// Unary
// =========================================================================================

TEST(Neg, ValuesAndLayouts) {
  check_unary(xla::neg, [](double x) { return -x; }, kGeneral, 0.f);
  expect_tensor(xla::neg(T({1, -2, kInf})), {3}, {-1, 2, -kInf});
}

TEST(Abs, ValuesAndLayouts) {
  check_unary(xla::abs, [](double x) { return std::fabs(x); }, kGeneral, 0.f);
  expect_tensor(xla::abs(T({-3, 2, -kInf, -0.0f})), {4}, {3, 2, kInf, 0});
}

TEST(Exp, ValuesAndLayouts) {
  check_unary(xla::exp, [](double x) { return std::exp(x); }, kGeneral, 1e-5f);
  // e^0 = 1, e^1 = 2.7182818, e^-inf = 0, e^100 > FLT_MAX (3.4e38) -> inf.
  expect_values(xla::exp(T({0, 1, -kInf, 100})), {1, 2.7182818f, 0, kInf}, 1e-6f);
  expect_tensor(xla::exp(I32({0, 1}, {2})), {2}, {1, 2.7182818f}, 1e-6f);  // integers widen to f32
}

TEST(Log, ValuesAndLayouts) {
  check_unary(xla::log, [](double x) { return std::log(x); }, kPositive, 1e-5f);
  // log 1 = 0, log e = 1, log 0 = -inf, log(-1) = NaN, log inf = inf.
  expect_values(xla::log(T({1, 2.7182818f, 0, -1, kInf})), {0, 1, -kInf, kNaN, kInf}, 1e-6f);
}

TEST(Sqrt, ValuesAndLayouts) {
  check_unary(xla::sqrt, [](double x) { return std::sqrt(x); }, kPositive, 1e-6f);
  // sqrt 4 = 2, sqrt 2 = 1.4142135, sqrt 0 = 0, sqrt(-1) = NaN.
  expect_values(xla::sqrt(T({4, 2, 0, -1, kInf})), {2, 1.4142135f, 0, kNaN, kInf}, 1e-6f);
  expect_tensor(xla::sqrt(I64({4, 9}, {2})), {2}, {2, 3});
}

TEST(Rsqrt, ValuesAndLayouts) {
  check_unary(xla::rsqrt, [](double x) { return 1.0 / std::sqrt(x); }, kPositive, 1e-5f);
  // 1/sqrt(4) = 0.5, 1/sqrt(0.25) = 2, 1/sqrt(0) = inf, 1/sqrt(inf) = 0, rsqrt(-1) = NaN.
  expect_values(xla::rsqrt(T({4, 0.25f, 0, kInf, -1})), {0.5f, 2, kInf, 0, kNaN}, 1e-5f);
}

TEST(Tanh, ValuesAndLayouts) {
  check_unary(xla::tanh, [](double x) { return std::tanh(x); }, kGeneral, 1e-5f);
  // tanh 0 = 0, tanh 1 = 0.7615942; saturates without overflow: tanh(+-100) = +-1.
  expect_values(xla::tanh(T({0, 1, 100, -100, kInf, -kInf})), {0, 0.7615942f, 1, -1, 1, -1}, 1e-6f);
}

TEST(Sigmoid, ValuesAndLayouts) {
  check_unary(xla::sigmoid, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, kGeneral, 1e-5f);
  // 1/(1+e^0) = 0.5, 1/(1+e^-2) = 0.8807971, 1/(1+e^100) = 3.7e-44 ~ 0, limits 0 and 1.
  expect_values(xla::sigmoid(T({0, 2, 100, -100, kInf, -kInf})), {0.5f, 0.8807971f, 1, 0, 1, 0}, 1e-6f);
}

TEST(Relu, ValuesAndLayouts) {
  check_unary(xla::relu, [](double x) { return x > 0 ? x : 0.0; }, kGeneral, 0.f);
  expect_values(xla::relu(T({-0.5f, 3, -kInf, kInf})), {0, 3, 0, kInf});
}

TEST(Gelu, ExactErfForm) {
  check_unary(xla::gelu, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, kGeneral, 1e-5f);
  // x/2 (1 + erf(x/sqrt2)): gelu(1) = 0.8413447, gelu(-1) = -0.1586553, gelu(3) = 2.9959503,
  // gelu(-10) = -7.6e-23 ~ 0, gelu(10) = 10.
  expect_values(xla::gelu(T({0, 1, -1, 3, -10, 10})), {0, 0.8413447f, -0.1586553f, 2.9959503f, 0, 10}, 1e-5f);
}

TEST(GeluTanh, TanhApproximation) {
  auto ref = [](double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
  };
  check_unary(xla::gelu_tanh, ref, kGeneral, 1e-5f);
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): (1) = 0.8411920, (-1) = -0.1588080,
  // (3) = 2.9963626; it differs from the exact gelu(1) = 0.8413447 by 1.5e-4.
  Tensor y = xla::gelu_tanh(T({0, 1, -1, 3, -10, 10, 100, -100}));
  expect_values(y, {0, 0.8411920f, -0.1588080f, 2.9963626f, 0, 10, 100, 0}, 1e-5f);
  EXPECT_GT(std::fabs(y.to_vector()[1] - 0.8413447f), 1e-4f);
}

TEST(Silu, ValuesAndLayouts) {
  check_unary(xla::silu, [](double x) { return x / (1.0 + std::exp(-x)); }, kGeneral, 1e-5f);
  // x / (1 + e^-x): silu(1) = 0.7310586, silu(-1) = -0.2689414, silu(-100) = -3.7e-42 ~ 0.
  expect_values(xla::silu(T({0, 1, -1, -100, 100})), {0, 0.7310586f, -0.2689414f, 0, 100}, 1e-5f);
}

// =========================================================================================
// Binary arithmetic
// =========================================================================================

TEST(Add, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::add, [](double a, double b) { return a + b; }, "add", 0.f, kF32, kAny, kAny);
}
TEST(Add, BroadcastsRowOverMatrix) {
  // [[1,2,3],[4,5,6]] + [10,20,30] = [[11,22,33],[14,25,36]]
  expect_tensor(xla::add(T({1, 2, 3, 4, 5, 6}, {2, 3}), T({10, 20, 30})), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_tensor(xla::add(Tensor::scalar(2), Tensor::scalar(3)), {}, {5});
  expect_values(xla::add(T({kInf, 1}), T({-kInf, kInf})), {kNaN, kInf});
}

TEST(Add, ExpandedOperandsBothOneValueAlongARow) {
  // both sides expanded views (stride 0 along the row), as a mean's gradient is: each row is
  // one value plus one value
  const Tensor a = T({1, 2, 3}, {3, 1}).expand({3, 4}), b = T({10, 20, 30}, {3, 1}).expand({3, 4});
  expect_tensor(xla::add(a, b), {3, 4}, {11, 11, 11, 11, 22, 22, 22, 22, 33, 33, 33, 33});
  expect_tensor(xla::div(b, a), {3, 4}, {10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10});
}

TEST(Sub, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::sub, [](double a, double b) { return a - b; }, "sub", 0.f, kF32, kAny, kAny);
}
TEST(Sub, BroadcastsColumnAgainstScalarRow) {
  // [5] - [[1],[2]] = [[4],[3]]; order matters: [1,2] - [3,4] = [-2,-2].
  expect_tensor(xla::sub(T({5}), T({1, 2}, {2, 1})), {2, 1}, {4, 3});
  expect_tensor(xla::sub(T({1, 2}), T({3, 4})), {2}, {-2, -2});
}

TEST(Mul, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::mul, [](double a, double b) { return a * b; }, "mul", 0.f, kF32, kAny, kAny);
}
TEST(Mul, OuterProductByBroadcasting) {
  // [[1],[2]] * [3,4] = [[3,4],[6,8]]; 0 * inf = NaN.
  expect_tensor(xla::mul(T({1, 2}, {2, 1}), T({3, 4})), {2, 2}, {3, 4, 6, 8});
  expect_values(xla::mul(T({0}), T({kInf})), {kNaN});
}

TEST(Div, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::div, [](double a, double b) { return a / b; }, "div", 1e-6f, kF32, kAny, kNonZero);
}
TEST(Div, ZeroDivisorsAndThirds) {
  // 1/0 = inf, -1/0 = -inf, 0/0 = NaN, 6/4 = 1.5, 1/3 = 0.33333334
  expect_values(xla::div(T({1, -1, 0, 6, 1}), T({0, 0, 0, 4, 3})), {kInf, -kInf, kNaN, 1.5f, 0.33333334f}, 1e-7f);
}

TEST(Maximum, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::maximum, [](double a, double b) { return a > b ? a : b; }, "maximum", 0.f, kF32, kAny, kAny);
}
TEST(Maximum, HandValues) {
  expect_tensor(xla::maximum(T({1, 5, -2, -kInf}), T({3, 2, -2, 1})), {4}, {3, 5, -2, 1});
}

TEST(Minimum, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::minimum, [](double a, double b) { return a < b ? a : b; }, "minimum", 0.f, kF32, kAny, kAny);
}
TEST(Minimum, HandValues) {
  expect_tensor(xla::minimum(T({1, 5, -2, kInf}), T({3, 2, -2, 1})), {4}, {1, 2, -2, 1});
}

TEST(Pow, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::pow, [](double a, double b) { return std::pow(a, b); }, "pow", 1e-5f, kF32, {0.5f, 3},
               {-2, 2});
}
TEST(Pow, HandValuesAndSpecialCases) {
  // 2^10 = 1024, 4^0.5 = 2, 9^0.5 = 3, 2^-1 = 0.5, x^0 = 1 (0^0 too), 0^-1 = inf,
  // integral exponents of a negative base: (-2)^3 = -8, (-2)^2 = 4; (-8)^(1/3) = NaN.
  expect_values(xla::pow(T({2, 4, 9, 2, 0, 5, 0, -2, -2, -8}), T({10, 0.5f, 0.5f, -1, 0, 0, -1, 3, 2, 1.f / 3})),
                {1024, 2, 3, 0.5f, 1, 1, kInf, -8, 4, kNaN}, 1e-6f);
}

// =========================================================================================
// Comparisons (u8 masks)
// =========================================================================================

TEST(Eq, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::eq, [](double a, double b) { return double(a == b); }, "eq", 0.f, kU8, kSmallInts, kSmallInts);
}
TEST(Ne, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::ne, [](double a, double b) { return double(a != b); }, "ne", 0.f, kU8, kSmallInts, kSmallInts);
}
TEST(Lt, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::lt, [](double a, double b) { return double(a < b); }, "lt", 0.f, kU8, kSmallInts, kSmallInts);
}
TEST(Le, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::le, [](double a, double b) { return double(a <= b); }, "le", 0.f, kU8, kSmallInts, kSmallInts);
}
TEST(Gt, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::gt, [](double a, double b) { return double(a > b); }, "gt", 0.f, kU8, kSmallInts, kSmallInts);
}
TEST(Ge, AllBroadcastPositionsLayoutsAndErrors) {
  check_binary(xla::ge, [](double a, double b) { return double(a >= b); }, "ge", 0.f, kU8, kSmallInts, kSmallInts);
}

TEST(Compare, HandValuesWithNaNAndSignedZero) {
  // a = [1, 2, 3, NaN, -0, inf], b = [2, 2, 2, NaN, 0, inf]; NaN compares unequal to everything.
  Tensor a = T({1, 2, 3, kNaN, -0.0f, kInf}), b = T({2, 2, 2, kNaN, 0, kInf});
  EXPECT_EQ(u8s(xla::eq(a, b)), (std::vector<uint8_t>{0, 1, 0, 0, 1, 1}));
  EXPECT_EQ(u8s(xla::ne(a, b)), (std::vector<uint8_t>{1, 0, 1, 1, 0, 0}));
  EXPECT_EQ(u8s(xla::lt(a, b)), (std::vector<uint8_t>{1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(u8s(xla::le(a, b)), (std::vector<uint8_t>{1, 1, 0, 0, 1, 1}));
  EXPECT_EQ(u8s(xla::gt(a, b)), (std::vector<uint8_t>{0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(u8s(xla::ge(a, b)), (std::vector<uint8_t>{0, 1, 1, 0, 1, 1}));
}

TEST(Compare, MixedDTypesCompareWidenedValues) {
  // bf16 1.5 and f16 -2 are exact; 0.1 is not a bf16 value (bf16(0.1) = 0.10009766).
  EXPECT_EQ(u8s(xla::eq(BF16({1.5f, 0.1f}, {2}), T({1.5f, 0.1f}))), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(u8s(xla::lt(F16({-2}, {1}), T({-1.5f}))), (std::vector<uint8_t>{1}));
  // Causal mask: arange-by-hand [0,1,2] as column vs row: mask[i][j] = (j <= i).
  EXPECT_EQ(u8s(xla::le(T({0, 1, 2}, {1, 3}), T({0, 1, 2}, {3, 1}))),
            (std::vector<uint8_t>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
}

TEST(Compare, IntegersCompareExactlyBeyondF32Precision) {
  // 2^40 and 2^40 + 1 are the same f32 value; two i64 tensors must still compare exactly.
  Tensor a = I64({int64_t(1) << 40, 5}, {2}), b = I64({(int64_t(1) << 40) + 1, 5}, {2});
  EXPECT_EQ(u8s(xla::eq(a, b)), (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(u8s(xla::lt(a, b)), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(u8s(xla::ne(I32({7, -7}, {2}), I64({7, 7}, {2}))), (std::vector<uint8_t>{0, 1}));
}

TEST(MaximumMinimum, NaNPropagatesFromEitherSide) {
  // As NumPy's maximum/minimum and torch.maximum: a NaN on either side gives NaN.
  expect_values(xla::maximum(T({kNaN, 1, 2}), T({1, kNaN, 3})), {kNaN, kNaN, 3});
  expect_values(xla::minimum(T({kNaN, 1, 2}), T({1, kNaN, 3})), {kNaN, kNaN, 2});
}

TEST(Elementwise, UndefinedInputsAreInvalidArgs) {
  EXPECT_XLA_ERROR(xla::exp(Tensor()), Status::InvalidArg, "exp");
  EXPECT_XLA_ERROR(xla::add(Tensor(), iota({2})), Status::InvalidArg, "add");
  EXPECT_XLA_ERROR(xla::where(U8({1}, {1}), Tensor(), iota({1})), Status::InvalidArg, "where");
  expect_tensor(xla::add(iota({2}), iota({2})), {2}, {0, 2});  // [0+0, 1+1]
}

// =========================================================================================
// where
// =========================================================================================

TEST(Where, HandValuesAndNoLeakFromUnselectedBranch) {
  // where([1,0,1], [1,2,3], [10,20,30]) = [1,20,3]
  expect_tensor(xla::where(U8({1, 0, 1}, {3}), T({1, 2, 3}), T({10, 20, 30})), {3}, {1, 20, 3});
  // NaN/inf in the branch that is not picked must not appear.
  expect_values(xla::where(U8({1, 0}, {2}), T({1, kNaN}), T({kInf, 2})), {1, 2});
}

TEST(Where, ConditionOfAnyDTypeNonzeroIsTrue) {
  // f32 cond: 0 and -0.0 are false; 2.5 and -1 are true.
  expect_values(xla::where(T({0, 2.5f, -1, -0.0f}), T({1, 1, 1, 1}), T({0, 0, 0, 0})), {0, 1, 1, 0});
  expect_values(xla::where(I64({0, 7, -1}, {3}), T({1, 2, 3}), T({4, 5, 6})), {4, 2, 3});
  expect_values(xla::where(I32({5, 0}, {2}), T({1, 2}), T({3, 4})), {1, 4});
  expect_values(xla::where(BF16({0, 0.5f}, {2}), T({1, 2}), T({3, 4})), {3, 2});
}

TEST(Where, BroadcastsEveryOperandInEveryPosition) {
  auto check = [](const Tensor& c, const Tensor& a, const Tensor& b, const Shape& out) {
    std::vector<float> cv = c.to_vector(), av = a.to_vector(), bv = b.to_vector(), want;
    for_each_index(out, [&](const std::vector<int64_t>& idx) {
      bool t = cv[size_t(bcast_index(c.shape(), idx))] != 0;
      want.push_back(t ? av[size_t(bcast_index(a.shape(), idx))] : bv[size_t(bcast_index(b.shape(), idx))]);
    });
    expect_tensor(xla::where(c, a, b), out, want);
  };
  Tensor c23 = U8({1, 0, 0, 1, 1, 0}, {2, 3});
  { SCOPED_TRACE("cond [2,1] over a [3] and 0-d b"); check(U8({1, 0}, {2, 1}), iota({3}, 1), Tensor::scalar(-1), {2, 3}); }
  { SCOPED_TRACE("0-d cond, a [2,1], b [1,3]"); check(U8({0}, {}), iota({2, 1}, 1), iota({1, 3}, 10), {2, 3}); }
  { SCOPED_TRACE("a [3] broadcast over cond [2,3]"); check(c23, iota({3}, 1), iota({2, 3}, 10), {2, 3}); }
  { SCOPED_TRACE("b 0-d broadcast over cond, a"); check(c23, iota({2, 3}, 1), Tensor::scalar(9), {2, 3}); }
  { SCOPED_TRACE("three-way [2,1,1], [1,3,1], [1,1,4]");
    check(U8({1, 0}, {2, 1, 1}), iota({1, 3, 1}, 1), iota({1, 1, 4}, 10), {2, 3, 4}); }
  { SCOPED_TRACE("cond [2,3,1], a [1,4], b [3,1]");
    check(U8({1, 0, 1, 0, 0, 1}, {2, 3, 1}), iota({1, 4}, 1), iota({3, 1}, 10), {2, 3, 4}); }
  { SCOPED_TRACE("non-contiguous: transposed cond, expanded a, sliced b");
    check(U8({1, 0, 1, 1, 0, 0}, {3, 2}).transpose(0, 1), iota({3}, 1).expand({2, 3}),
          iota({2, 6}, 10).slice(1, 0, 6, 2), {2, 3}); }
  { SCOPED_TRACE("size-1 everywhere"); check(U8({1}, {1, 1}), iota({1}, 5), iota({1, 1, 1}, 7), {1, 1, 1}); }
  { SCOPED_TRACE("all 0-d"); check(U8({0}, {}), Tensor::scalar(1), Tensor::scalar(2), {}); }
  { SCOPED_TRACE("zero-size"); check(U8({}, {0, 3}), iota({3}), Tensor::scalar(1), {0, 3}); }
}

TEST(Where, Bf16BranchesGiveF32AndShapeErrorsNameTheOp) {
  expect_tensor(xla::where(U8({1, 0}, {2}), BF16({1.5f, 2}, {2}), BF16({3, 4.5f}, {2})), {2}, {1.5f, 4.5f});
  EXPECT_XLA_ERROR(xla::where(U8({1, 0}, {2}), iota({3}), iota({3})), Status::Shape, "where");
  EXPECT_XLA_ERROR(xla::where(U8({1}, {1}), iota({2, 3}), iota({3, 2})), Status::Shape, "where");
  EXPECT_XLA_ERROR(xla::where(U8({1, 0, 1}, {3}), iota({2, 3}), iota({4, 1})), Status::Shape, "where");
}

// =========================================================================================
// broadcast_shapes and thread-count independence
// =========================================================================================

TEST(BroadcastShapes, NumPyRules) {
  EXPECT_EQ(xla::broadcast_shapes({2, 1}, {1, 3}, "op").str(), "[2, 3]");
  EXPECT_EQ(xla::broadcast_shapes({}, {4}, "op").str(), "[4]");
  EXPECT_EQ(xla::broadcast_shapes({}, {}, "op").str(), "[]");
  EXPECT_EQ(xla::broadcast_shapes({5, 1, 4}, {3, 1}, "op").str(), "[5, 3, 4]");
  EXPECT_EQ(xla::broadcast_shapes({0}, {1}, "op").str(), "[0]");
  EXPECT_EQ(xla::broadcast_shapes({1, 0}, {3, 1}, "op").str(), "[3, 0]");
  EXPECT_XLA_ERROR(xla::broadcast_shapes({2, 3}, {4}, "my_op"), Status::Shape, "my_op");
  EXPECT_XLA_ERROR(xla::broadcast_shapes({0}, {2}, "my_op"), Status::Shape, "my_op");
}

TEST(Elementwise, ResultsDoNotDependOnThreadCount) {
  Tensor a = T(lcg_values(100003, 5, -3, 3), {100003});
  Tensor b = T(lcg_values(100003, 6, 0.5f, 2), {100003});
  Tensor r1, r2, g1, g2;
  {
    ThreadCount one(1);
    r1 = xla::div(xla::add(a, b), b);
    g1 = xla::gelu(a.view({-1, 1}));
  }
  {
    ThreadCount two(2);
    r2 = xla::div(xla::add(a, b), b);
    g2 = xla::gelu(a.view({-1, 1}));
  }
  expect_bitwise_equal(r1, r2);
  expect_bitwise_equal(g1, g2);
}
