// Tests for the reductions of ops.hpp (sum, mean, max, min, logsumexp, var, argmax) and
// the along-an-axis ops softmax and log_softmax.
//
// check_reduce runs each reduction over every axis combination, keepdims, permuted /
// expanded / sliced views, size-1 dims, 0-d and zero-size inputs and bf16 inputs, against
// a naive double-precision reference (ref_reduce) over the inputs' logical values.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "test_util.hpp"

using namespace xt;
using xla::Status;

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

enum class Kind { Sum, Mean, Max, Min, LogSumExp, Var };

// Naive reduction in double: groups the elements of x by their non-reduced coordinates.
std::vector<float> ref_reduce(const Tensor& x, const std::vector<int>& axes, Kind kind, int correction = 1) {
  const Shape& s = x.shape();
  const int nd = s.size();
  std::vector<bool> reduced(size_t(nd), axes.empty());
  for (int a : axes) reduced[size_t(a < 0 ? a + nd : a)] = true;
  int64_t nout = 1;
  for (int d = 0; d < nd; ++d)
    if (!reduced[size_t(d)]) nout *= s[d];
  std::vector<std::vector<double>> groups(static_cast<size_t>(nout));
  std::vector<float> v = x.to_vector();
  size_t lin = 0;
  for_each_index(s, [&](const std::vector<int64_t>& idx) {
    int64_t o = 0;
    for (int d = 0; d < nd; ++d)
      if (!reduced[size_t(d)]) o = o * s[d] + idx[size_t(d)];
    groups[size_t(o)].push_back(double(v[lin++]));
  });
  std::vector<float> out;
  for (const auto& g : groups) {
    double n = double(g.size()), sum = 0, r = 0;
    for (double e : g) sum += e;
    switch (kind) {
      case Kind::Sum: r = sum; break;
      case Kind::Mean: r = sum / n; break;  // 0/0 = NaN for an empty group
      case Kind::Max: r = *std::max_element(g.begin(), g.end()); break;
      case Kind::Min: r = *std::min_element(g.begin(), g.end()); break;
      case Kind::LogSumExp: {
        double m = g.empty() ? -INFINITY : *std::max_element(g.begin(), g.end());
        if (std::isinf(m) && m < 0) { r = m; break; }
        double acc = 0;
        for (double e : g) acc += std::exp(e - m);
        r = m + std::log(acc);
        break;
      }
      case Kind::Var: {
        double mean = sum / n, ss = 0;
        for (double e : g) ss += (e - mean) * (e - mean);
        r = ss / (n - correction);
        break;
      }
    }
    out.push_back(float(r));
  }
  return out;
}

using ReduceOp = std::function<Tensor(const Tensor&, const std::vector<int>&, bool)>;

void check_reduce(const ReduceOp& op, Kind kind, const char* name, float tol, int correction = 1) {
  auto check = [&](const Tensor& x, const std::vector<int>& axes, bool keep, const Shape& out) {
    expect_tensor(op(x, axes, keep), out, ref_reduce(x, axes, kind, correction), tol);
  };
  const Tensor x = T(lcg_values(24, 3, -3, 3), {2, 3, 4});
  { SCOPED_TRACE("all axes"); check(x, {}, false, {}); }
  { SCOPED_TRACE("all axes, keepdims"); check(x, {}, true, {1, 1, 1}); }
  { SCOPED_TRACE("axis 0"); check(x, {0}, false, {3, 4}); }
  { SCOPED_TRACE("axis 1"); check(x, {1}, false, {2, 4}); }
  { SCOPED_TRACE("axis 2"); check(x, {2}, false, {2, 3}); }
  { SCOPED_TRACE("axis -1"); check(x, {-1}, false, {2, 3}); }
  { SCOPED_TRACE("axis -3"); check(x, {-3}, false, {3, 4}); }
  { SCOPED_TRACE("axis 1, keepdims"); check(x, {1}, true, {2, 1, 4}); }
  { SCOPED_TRACE("axes {0,2}"); check(x, {0, 2}, false, {3}); }
  { SCOPED_TRACE("axes {2,0} (order irrelevant)"); check(x, {2, 0}, false, {3}); }
  { SCOPED_TRACE("axes {-1,0}, keepdims"); check(x, {-1, 0}, true, {1, 3, 1}); }
  { SCOPED_TRACE("axes {0,1,2}"); check(x, {0, 1, 2}, false, {}); }
  { SCOPED_TRACE("permuted view"); check(x.permute({2, 0, 1}), {0}, false, {2, 3}); }
  { SCOPED_TRACE("permuted view, last axis"); check(x.permute({2, 0, 1}), {2}, false, {4, 2}); }
  { SCOPED_TRACE("expanded view (stride 0), over the expanded axis"); check(x.select(0, 1).select(0, 2).expand({5, 4}), {0}, false, {4}); }
  { SCOPED_TRACE("expanded view, other axis"); check(x.select(0, 0).select(0, 1).expand({5, 4}), {1}, false, {5}); }
  { SCOPED_TRACE("step-sliced view"); check(x.slice(2, 1, 4, 2), {1}, false, {2, 2}); }
  { SCOPED_TRACE("size-1 axis"); check(x.slice(1, 1, 2), {1}, false, {2, 4}); }
  { SCOPED_TRACE("size-1 dims kept"); check(x.slice(1, 1, 2), {0, 2}, false, {1}); }
  { SCOPED_TRACE("0-d input"); check(Tensor::scalar(1.5f), {}, false, {}); }
  { SCOPED_TRACE("0-d input, keepdims"); check(Tensor::scalar(-2.f), {}, true, {}); }
  { SCOPED_TRACE("bf16 input gives f32"); check(BF16(x.to_vector(), {2, 3, 4}), {1}, false, {2, 4}); }
  { SCOPED_TRACE("zero-size, reducing a non-empty axis"); check(iota({0, 3}), {1}, false, {0}); }
  { SCOPED_TRACE("zero-size, keepdims"); check(iota({2, 0, 3}), {2}, true, {2, 0, 1}); }
  EXPECT_XLA_ERROR(op(x, {3}, false), Status::InvalidArg, name);
  EXPECT_XLA_ERROR(op(x, {-4}, false), Status::InvalidArg, name);
}

// Softmax / log-softmax along one axis, in double.
std::vector<float> ref_softmax(const Tensor& x, int axis, bool log) {
  const Shape& s = x.shape();
  const int nd = s.size();
  if (axis < 0) axis += nd;
  std::vector<float> v = x.to_vector(), out(v.size());
  int64_t inner = 1;
  for (int d = axis + 1; d < nd; ++d) inner *= s[d];
  const int64_t n = s[axis], outer = x.numel() / std::max<int64_t>(n * inner, 1);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return size_t((o * n + k) * inner + i); };
      double m = -INFINITY, z = 0;
      for (int64_t k = 0; k < n; ++k) m = std::max(m, double(v[at(k)]));
      for (int64_t k = 0; k < n; ++k) z += std::exp(double(v[at(k)]) - m);
      for (int64_t k = 0; k < n; ++k) {
        double e = double(v[at(k)]) - m;
        out[at(k)] = float(log ? e - std::log(z) : std::exp(e) / z);
      }
    }
  return out;
}

void check_softmax(Tensor (*op)(const Tensor&, int), bool log, const char* name) {
  auto check = [&](const Tensor& x, int axis) {
    expect_tensor(op(x, axis), x.shape(), ref_softmax(x, axis, log), 1e-5f);
  };
  const Tensor x = T(lcg_values(60, 9, -4, 4), {3, 4, 5});
  for (int axis : {0, 1, 2, -1, -3}) {
    SCOPED_TRACE(testing::Message() << "axis " << axis);
    check(x, axis);
    check(x.permute({2, 0, 1}), axis);     // non-contiguous
    check(x.slice(2, 0, 5, 2), axis);      // step-sliced
  }
  { SCOPED_TRACE("expanded (stride 0) along the axis"); check(x.select(0, 0).select(0, 0).expand({3, 5}), 0); }
  { SCOPED_TRACE("expanded, across the expanded axis"); check(x.select(0, 0).select(0, 0).expand({3, 5}), 1); }
  { SCOPED_TRACE("size-1 axis"); check(x.slice(1, 0, 1), 1); }
  { SCOPED_TRACE("bf16 gives f32"); check(BF16(x.to_vector(), {3, 4, 5}), 2); }
  { SCOPED_TRACE("zero-size"); check(iota({0, 3}), 1); check(iota({0, 3}), 0); check(iota({2, 0}), 0); }
  EXPECT_XLA_ERROR(op(x, 3), Status::InvalidArg, name);
  EXPECT_XLA_ERROR(op(x, -4), Status::InvalidArg, name);
}

}  // namespace

// =========================================================================================
// sum, mean
// =========================================================================================

TEST(Sum, AllAxesLayoutsAndErrors) {
  check_reduce([](const Tensor& x, const std::vector<int>& a, bool k) { return xla::sum(x, a, k); }, Kind::Sum,
               "sum", 1e-5f);
}

TEST(Sum, HandValues) {
  Tensor x = T({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_tensor(xla::sum(x), {}, {21});                     // 1+...+6
  expect_tensor(xla::sum(x, {0}), {3}, {5, 7, 9});          // column sums
  expect_tensor(xla::sum(x, {1}), {2}, {6, 15});            // row sums
  expect_tensor(xla::sum(x, {-1}, true), {2, 1}, {6, 15});
  expect_tensor(xla::sum(x.transpose(0, 1), {0}), {2}, {6, 15});
  expect_tensor(xla::sum(T({1, 2, 3}).expand({4, 3}), {0}), {3}, {4, 8, 12});  // 4 copies of each
}

TEST(Sum, EmptyAxisGivesZero) {
  expect_tensor(xla::sum(iota({0, 3}), {0}), {3}, {0, 0, 0});
  expect_tensor(xla::sum(iota({2, 0}), {1}, true), {2, 1}, {0, 0});
  expect_tensor(xla::sum(iota({0})), {}, {0});
}

TEST(Sum, LargeReductionsStayAccurate) {
  // 2^20 ones: exactly 1048576. 10^6 copies of 0.1f: 10^5 * (0.1f / 0.1) = 100000.0015;
  // a plain sequential f32 accumulation drifts to ~100958, so this needs pairwise/blocked sums.
  expect_tensor(xla::sum(Tensor::scalar(1).expand({1 << 20})), {}, {1048576.f});
  expect_tensor(xla::sum(Tensor::scalar(0.1f).expand({1000, 1000}).contiguous()), {}, {100000.f}, 1e-4f);
  expect_tensor(xla::mean(Tensor::scalar(0.1f).expand({1000, 1000}).contiguous(), {1}), {1000},
                std::vector<float>(1000, 0.1f), 1e-5f);
}

TEST(Mean, AllAxesLayoutsAndErrors) {
  check_reduce([](const Tensor& x, const std::vector<int>& a, bool k) { return xla::mean(x, a, k); }, Kind::Mean,
               "mean", 1e-5f);
}

TEST(Mean, HandValues) {
  Tensor x = T({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_tensor(xla::mean(x), {}, {3.5f});                 // 21 / 6
  expect_tensor(xla::mean(x, {1}), {2}, {2, 5});           // 6/3, 15/3
  expect_tensor(xla::mean(x, {0}, true), {1, 3}, {2.5f, 3.5f, 4.5f});
  expect_tensor(xla::mean(I64({1, 2}, {2})), {}, {1.5f});  // integers widen: result f32
  expect_tensor(xla::mean(iota({0, 2}), {0}), {2}, {kNaN, kNaN});  // 0/0
}

// =========================================================================================
// max, min
// =========================================================================================

TEST(Max, AllAxesLayoutsAndErrors) {
  check_reduce([](const Tensor& x, const std::vector<int>& a, bool k) { return xla::max(x, a, k); }, Kind::Max,
               "max", 0.f);
}

TEST(Max, HandValuesAndEmptyAxisError) {
  Tensor x = T({1, 5, 3, 4, 2, 6}, {2, 3});
  expect_tensor(xla::max(x), {}, {6});
  expect_tensor(xla::max(x, {0}), {3}, {4, 5, 6});
  expect_tensor(xla::max(x, {1}, true), {2, 1}, {5, 6});
  expect_tensor(xla::max(T({-kInf, -kInf, -1e30f})), {}, {-1e30f});
  expect_tensor(xla::max(T({-3, -7})), {}, {-3});  // all negative: the identity is not 0
  EXPECT_XLA_ERROR(xla::max(iota({0, 3}), {0}), Status::Shape, "max");
  EXPECT_XLA_ERROR(xla::max(iota({0})), Status::Shape, "max");
}

TEST(Min, AllAxesLayoutsAndErrors) {
  check_reduce([](const Tensor& x, const std::vector<int>& a, bool k) { return xla::min(x, a, k); }, Kind::Min,
               "min", 0.f);
}

TEST(Min, HandValuesAndEmptyAxisError) {
  Tensor x = T({1, 5, 3, 4, 2, 6}, {2, 3});
  expect_tensor(xla::min(x), {}, {1});
  expect_tensor(xla::min(x, {0}), {3}, {1, 2, 3});
  expect_tensor(xla::min(x, {-1}), {2}, {1, 2});
  expect_tensor(xla::min(T({3, 7})), {}, {3});  // all positive: the identity is not 0
  expect_tensor(xla::min(T({kInf, 1e30f})), {}, {1e30f});
  EXPECT_XLA_ERROR(xla::min(iota({2, 0}), {1}), Status::Shape, "min");
}

// =========================================================================================
// logsumexp, var
// =========================================================================================

TEST(LogSumExp, AllAxesLayoutsAndErrors) {
  check_reduce([](const Tensor& x, const std::vector<int>& a, bool k) { return xla::logsumexp(x, a, k); },
               Kind::LogSumExp, "logsumexp", 1e-5f);
}

TEST(LogSumExp, HandValuesAndStability) {
  // log(e^1 + e^2 + e^3) = 3 + log(1 + e^-1 + e^-2) = 3.4076060
  expect_tensor(xla::logsumexp(T({1, 2, 3})), {}, {3.4076060f}, 1e-6f);
  // Columns of [[1,2,3],[4,5,6]]: log(e^1 + e^4) = 4.0485874, then 5.0485874, 6.0485874.
  expect_tensor(xla::logsumexp(T({1, 2, 3, 4, 5, 6}, {2, 3}), {0}), {3}, {4.0485874f, 5.0485874f, 6.0485874f},
                1e-6f);
  // Shifted by the max: e^1000 would overflow, e^-1000 underflow. 1000 + log 2 = 1000.6931472.
  expect_values(xla::logsumexp(T({1000, 1000})), {1000.6931472f}, 1e-6f);
  expect_values(xla::logsumexp(T({-1000, -1000})), {-999.3068528f}, 1e-6f);
  expect_values(xla::logsumexp(T({-kInf, -kInf})), {-kInf});  // log 0
  expect_values(xla::logsumexp(T({-kInf, 0})), {0});
  expect_tensor(xla::logsumexp(iota({0, 2}), {0}), {2}, {-kInf, -kInf});  // empty: log 0
}

TEST(Var, AllAxesLayoutsAndErrorsWithBesselCorrection) {
  check_reduce([](const Tensor& x, const std::vector<int>& a, bool k) { return xla::var(x, a, k); }, Kind::Var,
               "var", 1e-5f, 1);
}

TEST(Var, AllAxesLayoutsAndErrorsWithoutCorrection) {
  check_reduce([](const Tensor& x, const std::vector<int>& a, bool k) { return xla::var(x, a, k, 0); }, Kind::Var,
               "var", 1e-5f, 0);
}

TEST(Var, HandValues) {
  // [1,2,3,4]: mean 2.5, squared deviations 2.25+0.25+0.25+2.25 = 5; 5/3 (torch), 5/4 (numpy).
  expect_tensor(xla::var(T({1, 2, 3, 4})), {}, {5.f / 3}, 1e-6f);
  expect_tensor(xla::var(T({1, 2, 3, 4}), {}, false, 0), {}, {1.25f}, 1e-6f);
  // Rows of [[1,2,3,4],[2,4,6,8]]: 5/3 and 20/3; columns are pairs: var(a,b) = (a-b)^2 / 2.
  Tensor x = T({1, 2, 3, 4, 2, 4, 6, 8}, {2, 4});
  expect_tensor(xla::var(x, {1}, true), {2, 1}, {5.f / 3, 20.f / 3}, 1e-6f);
  expect_tensor(xla::var(x, {0}), {4}, {0.5f, 2, 4.5f, 8}, 1e-6f);
  // A large common offset must not destroy precision (E[x^2] - E[x]^2 in f32 would).
  expect_values(xla::var(T({10001, 10002, 10003, 10004})), {5.f / 3}, 1e-4f);
  expect_values(xla::var(T({7})), {kNaN});              // one sample, correction 1: 0/0
  expect_values(xla::var(T({7}), {}, false, 0), {0});
  expect_values(xla::var(T({3, 3, 3})), {0});
}

// =========================================================================================
// argmax
// =========================================================================================

TEST(Argmax, FirstMaximumAsI64) {
  Tensor x = T({1, 3, 3, 7, 2, 7}, {2, 3});
  Tensor r = xla::argmax(x, 1);  // row 0: 3 first at 1; row 1: 7 first at 0
  EXPECT_EQ(r.dtype(), DType::I64);
  EXPECT_EQ(r.shape().str(), "[2]");
  EXPECT_EQ(i64s(r), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(i64s(xla::argmax(x, 0)), (std::vector<int64_t>{1, 0, 1}));  // 7>1, 3>2, 7>3
  Tensor k = xla::argmax(x, -1, true);
  EXPECT_EQ(k.shape().str(), "[2, 1]");
  EXPECT_EQ(i64s(k), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(i64s(xla::argmax(x.transpose(0, 1), 0)), (std::vector<int64_t>{1, 0}));  // non-contiguous
  Tensor s = xla::argmax(T({-kInf, -5, -kInf}), 0);
  EXPECT_EQ(s.shape().str(), "[]");
  EXPECT_EQ(i64s(s), (std::vector<int64_t>{1}));
  EXPECT_EQ(i64s(xla::argmax(T({2, 2, 2}), 0)), (std::vector<int64_t>{0}));
  EXPECT_EQ(i64s(xla::argmax(BF16({0.5f, 4, -1}, {3}), 0)), (std::vector<int64_t>{1}));
}

TEST(Argmax, MatchesNaiveLoopOnEveryAxisAndLayout) {
  // Values from a small integer set so that ties (first index wins) are frequent.
  std::vector<float> v = lcg_values(60, 17, 0, 4);
  for (float& e : v) e = std::floor(e);
  const Tensor x = T(v, {3, 4, 5});
  for (const Tensor& in : {x, x.permute({1, 2, 0}), x.slice(2, 0, 5, 2), x.select(0, 1).expand({2, 4, 5})}) {
    for (int axis = 0; axis < in.ndim(); ++axis) {
      SCOPED_TRACE(testing::Message() << "shape " << in.shape().str() << " axis " << axis);
      const Shape& s = in.shape();
      std::vector<float> lv = in.to_vector();
      Shape out;
      for (int d = 0; d < s.size(); ++d)
        if (d != axis) out.push_back(s[d]);
      int64_t inner = 1;
      for (int d = axis + 1; d < s.size(); ++d) inner *= s[d];
      std::vector<int64_t> want;
      for (int64_t o = 0; o < in.numel() / (s[axis] * inner); ++o)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t best = 0;
          for (int64_t k = 1; k < s[axis]; ++k)
            if (lv[size_t((o * s[axis] + k) * inner + i)] > lv[size_t((o * s[axis] + best) * inner + i)]) best = k;
          want.push_back(best);
        }
      Tensor r = xla::argmax(in, axis);
      EXPECT_EQ(r.shape().str(), out.str());
      EXPECT_EQ(i64s(r), want);
    }
  }
}

TEST(Argmax, SizeOneZeroSizeAndErrors) {
  EXPECT_EQ(i64s(xla::argmax(iota({3, 1}), 1)), (std::vector<int64_t>{0, 0, 0}));
  Tensor e = xla::argmax(iota({0, 3}), 1);
  EXPECT_EQ(e.shape().str(), "[0]");
  EXPECT_EQ(e.dtype(), DType::I64);
  EXPECT_XLA_ERROR(xla::argmax(iota({0, 3}), 0), Status::Shape, "argmax");  // no maximum of nothing
  EXPECT_XLA_ERROR(xla::argmax(iota({2, 3}), 2), Status::InvalidArg, "argmax");
  EXPECT_XLA_ERROR(xla::argmax(iota({2, 3}), -3), Status::InvalidArg, "argmax");
}

// =========================================================================================
// softmax, log_softmax
// =========================================================================================

TEST(Softmax, EveryAxisAndLayoutMatchesNaiveLoop) { check_softmax(xla::softmax, false, "softmax"); }

// Short rows go through the vector exp a group of rows at a time: 1000 rows of 12 span
// several groups and both threads; each row keeps the bits it gets alone, a row of −∞ only
// gives NaN, and a row with one −∞ gives it weight 0.
TEST(Softmax, ShortRowsInGroupsKeepEachRowsBits) {
  std::vector<float> v = lcg_values(12000, 3, -6, 6);
  for (int j = 0; j < 12; ++j) v[size_t(500 * 12 + j)] = -INFINITY;
  v[size_t(999 * 12 + 4)] = -INFINITY;
  const Tensor x = T(v, {1000, 12});
  std::vector<float> got = xla::softmax(x, -1).to_vector(), want = ref_softmax(x, -1, false);
  for (int64_t r = 0; r < 1000; ++r) {
    std::vector<float> alone = xla::softmax(x.slice(0, r, r + 1), -1).to_vector();
    for (int64_t j = 0; j < 12; ++j) {
      const float g = got[size_t(r * 12 + j)];
      ASSERT_EQ(std::memcmp(&g, &alone[size_t(j)], sizeof g), 0) << "row " << r << " col " << j;
      if (r == 500)
        ASSERT_TRUE(std::isnan(g));
      else
        ASSERT_NEAR(g, want[size_t(r * 12 + j)], 1e-6f) << "row " << r << " col " << j;
    }
  }
  EXPECT_EQ(got[size_t(999 * 12 + 4)], 0.f);
}

TEST(Softmax, HandValuesAndStability) {
  // softmax([1,2,3]) = e^x / sum e^x = [0.09003057, 0.24472847, 0.66524096]
  expect_tensor(xla::softmax(T({1, 2, 3}), 0), {3}, {0.09003057f, 0.24472847f, 0.66524096f}, 1e-6f);
  // Invariant to a shift, even one that overflows e^x: [1000,1001,1002] ~ [0,1,2].
  expect_values(xla::softmax(T({1000, 1001, 1002}), -1), {0.09003057f, 0.24472847f, 0.66524096f}, 1e-6f);
  // -inf gets probability 0; rows of [[1,2,3],[1,1,1]] along axis 1.
  expect_values(xla::softmax(T({0, -kInf}), 0), {1, 0});
  expect_tensor(xla::softmax(T({1, 2, 3, 1, 1, 1}, {2, 3}), 1), {2, 3},
                {0.09003057f, 0.24472847f, 0.66524096f, 1.f / 3, 1.f / 3, 1.f / 3}, 1e-6f);
  // Along axis 0 of [[0,0],[ln 3, 0]]: [1/4, 3/4] and [1/2, 1/2].
  expect_tensor(xla::softmax(T({0, 0, std::log(3.f), 0}, {2, 2}), 0), {2, 2}, {0.25f, 0.5f, 0.75f, 0.5f}, 1e-6f);
  expect_values(xla::softmax(iota({4, 1}), 1), {1, 1, 1, 1});  // a single element is certain
}

TEST(LogSoftmax, EveryAxisAndLayoutMatchesNaiveLoop) { check_softmax(xla::log_softmax, true, "log_softmax"); }

TEST(LogSoftmax, HandValuesAndStability) {
  // x - logsumexp(x) = [1,2,3] - 3.4076060 = [-2.4076060, -1.4076060, -0.4076060]
  expect_tensor(xla::log_softmax(T({1, 2, 3}), 0), {3}, {-2.4076060f, -1.4076060f, -0.4076060f}, 1e-6f);
  // log(softmax) would give log(0) = -inf for the second element: the answer is -1000.
  expect_values(xla::log_softmax(T({0, -1000}), 0), {0, -1000}, 1e-6f);
  expect_values(xla::log_softmax(T({1000, 0}), 0), {0, -1000}, 1e-6f);
  // Two equal logits: log(1/2) = -0.6931472 each.
  expect_tensor(xla::log_softmax(T({5, 5, -3, -3}, {2, 2}), 1), {2, 2},
                {-0.6931472f, -0.6931472f, -0.6931472f, -0.6931472f}, 1e-6f);
  expect_values(xla::log_softmax(T({0, -kInf}), 0), {0, -kInf});
}

// =========================================================================================
// Thread-count independence
// =========================================================================================

TEST(Reduce, ResultsDoNotDependOnThreadCount) {
  const Tensor x = T(lcg_values(1 << 20, 21, -2, 3), {1024, 1024});
  auto run = [&]() {
    return std::vector<Tensor>{xla::sum(x), xla::sum(x, {0}), xla::mean(x, {1}), xla::var(x),
                               xla::max(x, {0}), xla::logsumexp(x, {1}), xla::softmax(x, 0),
                               xla::log_softmax(x, 1), xla::argmax(x, 0)};
  };
  std::vector<Tensor> one, two;
  {
    ThreadCount t(1);
    one = run();
  }
  {
    ThreadCount t(2);
    two = run();
  }
  for (size_t i = 0; i < one.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "result " << i);
    expect_bitwise_equal(one[i], two[i]);
  }
  expect_values(one[0], ref_reduce(x, {}, Kind::Sum), 1e-5f);
}

TEST(Reduce, RepeatedAxesAndUndefinedInputsAreErrors) {
  EXPECT_XLA_ERROR(xla::sum(iota({2, 3}), {0, 0}), Status::InvalidArg, "sum");
  EXPECT_XLA_ERROR(xla::mean(iota({2, 3}), {1, -1}), Status::InvalidArg, "mean");  // same axis twice
  EXPECT_XLA_ERROR(xla::max(Tensor(), {}), Status::InvalidArg, "max");
  EXPECT_XLA_ERROR(xla::softmax(Tensor(), 0), Status::InvalidArg, "softmax");
  // The valid spelling of the same reductions, for contrast: sum over {0} and mean over {1}.
  expect_tensor(xla::sum(iota({2, 3}), {0}), {3}, {3, 5, 7});      // [0+3, 1+4, 2+5]
  expect_tensor(xla::mean(iota({2, 3}), {-1}), {2}, {1, 4});       // [(0+1+2)/3, (3+4+5)/3]
}
