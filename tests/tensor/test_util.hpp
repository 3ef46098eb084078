// test_util.hpp — small helpers shared by the tensor unit tests (tests/tensor/*.cpp).
//
// Expected values in the tests are always derived independently of libxla: either written
// by hand (with the derivation in a comment) or computed by a naive loop in double here or
// in the test itself. The helpers below only build inputs and compare results.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <source_location>
#include <string>
#include <vector>

#include "xla/dtype.hpp"
#include "xla/error.hpp"
#include "xla/ops.hpp"
#include "xla/shape.hpp"
#include "xla/tensor.hpp"

// Expects `stmt` to throw xla::Error with the given status and a message containing `needle`
// (the op's name). `stmt` is evaluated twice (EXPECT_THROW, then to inspect the error), so it
// must be free of side effects — every op is.
#define EXPECT_XLA_ERROR(stmt, expected_status, needle)                                     \
  do {                                                                                      \
    EXPECT_THROW((void)(stmt), ::xla::Error);                                               \
    try {                                                                                   \
      (void)(stmt);                                                                         \
    } catch (const ::xla::Error& xt_err_) {                                                 \
      EXPECT_EQ(int(xt_err_.status()), int(expected_status))                                \
          << "wrong status for `" #stmt "`; message: " << xt_err_.what();                   \
      EXPECT_NE(std::string(xt_err_.what()).find(needle), std::string::npos)                \
          << "message of `" #stmt "` should name '" << (needle) << "': " << xt_err_.what(); \
    } catch (...) {                                                                         \
    }                                                                                       \
  } while (0)

namespace xt {

using xla::DType;
using xla::Shape;
using xla::Tensor;

// ---------------------------------------------------------------------------------------
// Building inputs
// ---------------------------------------------------------------------------------------

// f32 tensor from row-major values.
inline Tensor T(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector(v, s); }
// 1-D f32 tensor.
inline Tensor T(const std::vector<float>& v) { return Tensor::from_vector(v, Shape{int64_t(v.size())}); }

inline std::vector<float> iota_values(int64_t n, float start = 0.f, float step = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + float(i) * step;
  return v;
}
// f32 tensor whose row-major element i is start + i*step (built by hand, not with xla::arange).
inline Tensor iota(const Shape& s, float start = 0.f, float step = 1.f) {
  return T(iota_values(s.numel(), start, step), s);
}

// Deterministic values in [lo, hi) from a 64-bit LCG (independent of xla::rand).
inline std::vector<float> lcg_values(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u = double(s >> 11) * 0x1.0p-53;  // [0, 1)
    x = float(lo + (hi - lo) * u);
  }
  return v;
}

// Deterministic N(0, scale²) values (std::mt19937: the same on every platform's libstdc++).
inline std::vector<float> normal_values(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// C = A · Bᵀ in double: A [M, K], B [N, K] row-major (the naive reference of the kernel tests).
inline std::vector<double> naive_abt(const std::vector<float>& a, const std::vector<float>& b, int64_t M, int64_t N,
                                     int64_t K) {
  std::vector<double> c(size_t(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += double(a[size_t(m * K + k)]) * double(b[size_t(n * K + k)]);
      c[size_t(m * N + n)] = sum;
    }
  return c;
}

// The activations that a product of a few rows (up to 64) with Q8 weights multiplies: each
// row of a [M, K] in blocks of 32, each block as integers x = round(a · 32767 / max|a|)
// (ties to even) times its scale s = max|a| / 32767. Written here from that definition.
inline std::vector<float> q8_activations(const std::vector<float>& a) {
  std::vector<float> out(a.size());
  for (size_t b = 0; b < a.size(); b += 32) {
    float largest = 0;
    for (size_t i = b; i < b + 32; ++i) largest = std::max(largest, std::fabs(a[i]));
    const float s = largest / 32767.f, inv = largest == 0 ? 0.f : 32767.f / largest;
    for (size_t i = b; i < b + 32; ++i) out[i] = float(double(std::nearbyint(a[i] * inv)) * double(s));
  }
  return out;
}

// max |got - want| over the largest |want|; infinite when any element is NaN (which a plain
// max would skip: NaN compares false).
inline double max_rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 1e-30, err = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::fabs(double(got[i]) - want[i]);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
  }
  return err / scale;
}

// from_data over a vector; an empty vector still passes a valid (non-null) pointer.
template <class E>
Tensor from_vec(const std::vector<E>& v, const Shape& s, DType dt) {
  static const E dummy{};
  return Tensor::from_data(v.empty() ? &dummy : v.data(), s, dt);
}
inline Tensor I64(const std::vector<int64_t>& v, const Shape& s) { return from_vec(v, s, DType::I64); }
inline Tensor I32(const std::vector<int32_t>& v, const Shape& s) { return from_vec(v, s, DType::I32); }
inline Tensor U8(const std::vector<uint8_t>& v, const Shape& s) { return from_vec(v, s, DType::U8); }
// bf16 / f16 tensors from f32 values, narrowed with dtype.hpp's round-to-nearest-even.
inline Tensor BF16(const std::vector<float>& v, const Shape& s) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = xla::f32_to_bf16(v[i]);
  return from_vec(h, s, DType::BF16);
}
inline Tensor F16(const std::vector<float>& v, const Shape& s) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = xla::f32_to_f16(v[i]);
  return from_vec(h, s, DType::F16);
}

// ---------------------------------------------------------------------------------------
// Reading results
// ---------------------------------------------------------------------------------------

// Row-major copy of the elements, reinterpreted as E (E's size must match the dtype).
template <class E>
std::vector<E> raw(const Tensor& t) {
  EXPECT_EQ(xla::dtype_size(t.dtype()), sizeof(E)) << "raw<E>: tensor is " << xla::dtype_name(t.dtype());
  std::vector<E> out(static_cast<size_t>(t.numel()));
  if (!out.empty()) t.copy_to(out.data());
  return out;
}
inline std::vector<int64_t> i64s(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::I64) << "tensor is " << xla::dtype_name(t.dtype());
  return raw<int64_t>(t);
}
inline std::vector<uint8_t> u8s(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::U8) << "tensor is " << xla::dtype_name(t.dtype());
  return raw<uint8_t>(t);
}

inline void expect_shape(const Tensor& t, const Shape& shape,
                         std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_shape");
  EXPECT_EQ(t.shape().str(), shape.str());
}

// Compares t.to_vector() with `want`. tol == 0: exact (bitwise-equal value, inf included).
// tol > 0: |got - want| <= tol * max(1, |want|) (relative for large values, absolute near 0).
// A NaN in `want` expects a NaN. Reports at most 10 mismatching elements.
inline void expect_values(const Tensor& t, const std::vector<float>& want, float tol = 0.f,
                          std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_values");
  ASSERT_EQ(t.numel(), int64_t(want.size())) << "shape " << t.shape().str();
  std::vector<float> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  int reported = 0;
  for (size_t i = 0; i < want.size() && reported < 10; ++i) {
    float w = want[i], g = got[i];
    bool ok;
    if (std::isnan(w)) ok = std::isnan(g);
    else if (tol == 0.f || std::isinf(w)) ok = (g == w);
    else ok = std::fabs(double(g) - double(w)) <= double(tol) * std::max(1.0, std::fabs(double(w)));
    if (!ok) {
      ADD_FAILURE() << "element " << i << ": got " << g << ", want " << w << " (tol " << tol << ")";
      ++reported;
    }
  }
}

// Shape, dtype and values at once.
inline void expect_tensor(const Tensor& t, const Shape& shape, const std::vector<float>& want, float tol = 0.f,
                          DType dtype = DType::F32, std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_tensor");
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(t.shape().str(), shape.str());
  EXPECT_EQ(xla::dtype_name(t.dtype()), std::string(xla::dtype_name(dtype)));
  expect_values(t, want, tol, loc);
}

// Same shape, same dtype and the same bytes (used for thread-count independence).
inline void expect_bitwise_equal(const Tensor& a, const Tensor& b,
                                 std::source_location loc = std::source_location::current()) {
  testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_bitwise_equal");
  ASSERT_EQ(a.shape().str(), b.shape().str());
  ASSERT_EQ(a.dtype(), b.dtype());
  std::vector<unsigned char> x(a.nbytes()), y(b.nbytes());
  if (!x.empty()) a.copy_to(x.data());
  if (!y.empty()) b.copy_to(y.data());
  EXPECT_TRUE(x == y) << "tensors differ bitwise";
}

// ---------------------------------------------------------------------------------------
// Naive references (double precision)
// ---------------------------------------------------------------------------------------

// Calls f(idx) for every multi-index of `shape`, in row-major order (once for a 0-d shape).
template <class F>
void for_each_index(const Shape& shape, F&& f) {
  if (shape.numel() == 0) return;
  std::vector<int64_t> idx(size_t(shape.size()), 0);
  for (;;) {
    f(static_cast<const std::vector<int64_t>&>(idx));
    int d = shape.size() - 1;
    for (; d >= 0; --d) {
      if (++idx[size_t(d)] < shape[d]) break;
      idx[size_t(d)] = 0;
    }
    if (d < 0) return;
  }
}

// Row-major position in a tensor of shape `src` of the element that NumPy broadcasting maps
// to the output multi-index `idx` (shapes right-aligned; size-1 source dims read index 0).
inline int64_t bcast_index(const Shape& src, const std::vector<int64_t>& idx) {
  int64_t lin = 0;
  int off = int(idx.size()) - src.size();
  for (int d = 0; d < src.size(); ++d) {
    int64_t i = src[d] == 1 ? 0 : idx[size_t(d + off)];
    lin = lin * src[d] + i;
  }
  return lin;
}

// out[idx] = f(a[bcast(idx)], b[bcast(idx)]) over the (hand-written) broadcast shape `out`.
inline std::vector<float> ref_binary(const std::vector<float>& a, const Shape& sa, const std::vector<float>& b,
                                     const Shape& sb, const Shape& out,
                                     const std::function<double(double, double)>& f) {
  std::vector<float> r;
  r.reserve(size_t(out.numel()));
  for_each_index(out, [&](const std::vector<int64_t>& idx) {
    r.push_back(float(f(double(a[size_t(bcast_index(sa, idx))]), double(b[size_t(bcast_index(sb, idx))]))));
  });
  return r;
}

// Sets libxla's thread count for a scope and restores the previous one.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(xla::num_threads()) { xla::set_num_threads(n); }
  ~ThreadCount() { xla::set_num_threads(saved); }
  int saved;
};

}  // namespace xt
