// grad_util.hpp — helpers shared by the autograd tests (tests/autograd/test_grad_*.cpp).
//
// Two kinds of checks:
// - xla::gradcheck (central differences vs backward) through expect_gradcheck / check_grad.
//   check_grad always reduces the op's output to a scalar itself, as sum(out * w) with fixed
//   weights w (|w| in [0.5, 1.5], mixed signs), so every output element matters and the
//   test never depends on how gradcheck treats a non-scalar output.
// - exact gradient values: grads_of runs backward once and returns the leaves' .grad;
//   the expected numbers are derived by hand (derivation in a comment) or by a naive loop.
//
// Inputs are f32 with moderate values (LCG in [-1, 1] by default, see test_util.hpp) and
// are kept away from kinks: abs / relu / maximum / max never see a tie or a zero within
// the finite-difference step, log / sqrt / rsqrt / pow only see positive bases.
#pragma once
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <numeric>
#include <source_location>
#include <string>
#include <vector>

#include "../tensor/test_util.hpp"
#include "xla/autograd.hpp"

namespace gt {

using namespace xt;
namespace ag = xla::ag;

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Default gradcheck settings: f32 compute type (see autograd.hpp).
constexpr double kEps = 1e-3;
constexpr double kAtol = 1e-2;
constexpr double kRtol = 1e-2;

// ---------------------------------------------------------------------------------------
// Building inputs
// ---------------------------------------------------------------------------------------

// Marks t as a leaf that requires grad and returns it (t may be a view of plain data:
// views made by the Tensor methods carry no autograd history, so they are leaves).
inline Tensor req(Tensor t) {
  xla::set_requires_grad(t, true);
  return t;
}

// f32 leaf of `shape` that requires grad, values from the LCG in [lo, hi).
inline Tensor param(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  return req(T(lcg_values(shape.numel(), seed, lo, hi), shape));
}

// Values with |v| in [lo, hi) and LCG-chosen signs: far from 0 (for abs, relu, div).
inline std::vector<float> away_from_zero(int64_t n, uint64_t seed, float lo = 0.25f, float hi = 1.f) {
  std::vector<float> mag = lcg_values(n, seed, lo, hi), sgn = lcg_values(n, seed + 1000, -1.f, 1.f);
  for (size_t i = 0; i < mag.size(); ++i) mag[i] = sgn[i] < 0 ? -mag[i] : mag[i];
  return mag;
}

// Values on the grid k/10 + offset, k in [-10, 10] chosen by the LCG. Two sets with offsets
// 0.03 and 0.08 never come closer than 0.05 (for maximum / minimum without ties).
inline std::vector<float> grid_values(int64_t n, uint64_t seed, float offset) {
  std::vector<float> v = lcg_values(n, seed, -1.f, 1.f);
  for (float& x : v) x = float(std::round(double(x) * 10.0) / 10.0 + double(offset));
  return v;
}

// A permutation of the distinct values (k - n/2) / 10, k = 0..n-1, shuffled by the LCG:
// every pair of elements differs by at least 0.1 (for max / min without ties).
inline std::vector<float> distinct_values(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) v[size_t(k)] = float(double(k - n / 2) / 10.0);
  std::vector<float> r = lcg_values(n, seed, 0.f, 1.f);
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher–Yates with the LCG draws
    int64_t j = int64_t(double(r[size_t(i)]) * double(i + 1));
    if (j > i) j = i;
    std::swap(v[size_t(i)], v[size_t(j)]);
  }
  return v;
}

// Fixed weights of y's shape with |w| in [0.5, 1.5) and mixed signs.
inline Tensor weights_like(const Tensor& y, uint64_t seed = 4242) {
  return T(away_from_zero(y.numel(), seed, 0.5f, 1.5f), y.shape());
}

// sum(y * w): a scalar loss in which every element of y matters.
inline Tensor weighted_sum(const Tensor& y, uint64_t seed = 4242) {
  return ag::sum(ag::mul(y, weights_like(y, seed)));
}

// ---------------------------------------------------------------------------------------
// gradcheck
// ---------------------------------------------------------------------------------------

// Runs xla::gradcheck(f, inputs) and expects an empty report. Also expects the inputs to
// hold the same values afterwards (gradcheck's perturbations must be undone) and turns an
// exception (an op not implemented, a shape error) into a failure naming it.
inline void expect_gradcheck(const Fn& f, const std::vector<Tensor>& inputs, double eps = kEps, double atol = kAtol,
                             double rtol = kRtol, std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_gradcheck");
  std::vector<std::vector<float>> before;
  for (Tensor t : inputs) {
    before.push_back(t.to_vector());
    xla::zero_grad(t);
  }
  std::string report;
  try {
    report = xla::gradcheck(f, inputs, eps, atol, rtol);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "gradcheck threw: " << e.what();
    return;
  }
  EXPECT_EQ(report, "");
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<float> after = inputs[i].to_vector();
    ASSERT_EQ(after.size(), before[i].size());
    for (size_t j = 0; j < after.size(); ++j)
      if (std::fabs(double(after[j]) - double(before[i][j])) > 1e-6 * std::max(1.0, std::fabs(double(before[i][j])))) {
        ADD_FAILURE() << "gradcheck left input " << i << " changed at element " << j << ": " << before[i][j] << " -> "
                      << after[j];
        break;
      }
  }
}

// gradcheck of weighted_sum(f(inputs)): f may return any shape (0-d included).
inline void check_grad(const Fn& f, const std::vector<Tensor>& inputs, double eps = kEps, double atol = kAtol,
                       double rtol = kRtol, std::source_location loc = std::source_location::current()) {
  expect_gradcheck([f](const std::vector<Tensor>& in) { return weighted_sum(f(in)); }, inputs, eps, atol, rtol, loc);
}

// ---------------------------------------------------------------------------------------
// Exact gradients
// ---------------------------------------------------------------------------------------

// Clears the leaves' .grad, runs backward(root, seed) and returns each leaf's .grad.
inline std::vector<Tensor> grads_of(const Tensor& root, std::vector<Tensor> leaves, const Tensor& seed = Tensor()) {
  for (Tensor& t : leaves) xla::zero_grad(t);
  xla::backward(root, seed);
  std::vector<Tensor> g;
  for (const Tensor& t : leaves) g.push_back(xla::grad(t));
  return g;
}

// Expects the .grad g to be defined with `shape` (the leaf's) and the given values.
inline void expect_grad(const Tensor& g, const Shape& shape, const std::vector<float>& want, float tol = 1e-6f,
                        std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_grad");
  ASSERT_TRUE(g.defined()) << "no gradient accumulated";
  expect_tensor(g, shape, want, tol, DType::F32, loc);
}

// Expects the forward of an ag op to equal the plain op's (the same values, shape, dtype).
inline void expect_same_forward(const Tensor& got, const Tensor& want, float tol = 1e-6f,
                                std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_same_forward");
  expect_tensor(got, want.shape(), want.to_vector(), tol, want.dtype(), loc);
}

}  // namespace gt
