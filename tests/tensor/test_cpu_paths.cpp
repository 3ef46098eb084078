// test_cpu_paths.cpp — the SIMD kernels of every instruction-set path this CPU
// runs (each test switches paths in turn), against naive loops in double; and
// Q8 weights: quantization error bounds, matmul / embedding through every path,
// and the ops that must refuse them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "cpu_kernels.hpp"
#include "test_util.hpp"

namespace {

using xla::DType;
using xla::Tensor;

// Restores the path this process started with when a test ends.
struct EveryPath {
  std::string before = xla::detail::cpu_kernels().name;
  ~EveryPath() { xla::detail::use_cpu_path(before); }
  std::vector<std::string> paths = xla::detail::available_cpu_paths();
};

TEST(CpuPaths, BaselineIsAlwaysAvailableAndUnknownPathsAreNamed) {
  EveryPath guard;
  ASSERT_FALSE(guard.paths.empty());
  EXPECT_EQ(guard.paths.front(), "baseline");
  const char* forced = std::getenv("XLA_CPU");
  EXPECT_EQ(guard.before, forced ? std::string(forced) : guard.paths.back())
      << "the best path runs unless XLA_CPU says otherwise";
  EXPECT_XLA_ERROR(xla::detail::use_cpu_path("avx9000"), xla::Status::InvalidArg, "avx9000");
}

// Every path, every weight storage, through matmul(x, Wᵀ): few rows (the dot
// products) and many (the packed GEMM or Eigen), sizes with tails, against the
// widened weight in double.
TEST(CpuPaths, LinearLayersMatchNaiveLoopsOnEveryPath) {
  EveryPath guard;
  for (const std::string& path : guard.paths) {
    xla::detail::use_cpu_path(path);
    ASSERT_STREQ(xla::detail::cpu_kernels().name, path.c_str());
    for (DType storage : {DType::F32, DType::BF16, DType::Q8})
      for (int64_t M : {1, 3, 70, 130})
        for (int64_t N : {1, 7, 67})
          for (int64_t K : {32, 96, 160}) {
            SCOPED_TRACE(path + " " + xla::dtype_name(storage) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                         " K=" + std::to_string(K));
            Tensor x = Tensor::from_vector(xt::normal_values(size_t(M * K), uint32_t(M * 7 + K)), {M, K});
            Tensor w =
                Tensor::from_vector(xt::normal_values(size_t(N * K), uint32_t(N * 13 + K), 0.1f), {N, K}).to(storage);
            std::vector<float> wv = w.to_vector();  // the values the kernels must use
            std::vector<float> got = xla::matmul(x, w.transpose(0, 1)).to_vector();
            // bf16 on the bf16 unit rounds x to bf16 too: 2^-8 relative per
            // product
            const double tol = path == "avx512bf16" && storage == DType::BF16 ? 2e-2 : 2e-6;
            // a few rows against q8 weights: x in 16-bit blocks (test_util.hpp); a single
            // weight row is a row-major [K, 1] once transposed, for the packed kernel
            const bool blocks = storage == DType::Q8 && M <= 64 && N > 1;
            const std::vector<float> xv = blocks ? xt::q8_activations(x.to_vector()) : x.to_vector();
            EXPECT_LT(xt::max_rel_error(got, xt::naive_abt(xv, wv, M, N, K)), tol);
          }
  }
}

// A depth the packed GEMM cuts into blocks of 347 (2080 = 6 × 347 − 2): its packing widens
// q8 runs of eight k that cross a 32-element block, with each block's own scale.
TEST(CpuPaths, PackedWeightsWidenAcrossQ8BlocksOnEveryPath) {
  EveryPath guard;
  for (const std::string& path : guard.paths) {
    xla::detail::use_cpu_path(path);
    for (DType storage : {DType::BF16, DType::Q8}) {
      SCOPED_TRACE(path + " " + xla::dtype_name(storage));
      const int64_t M = 70, N = 67, K = 2080;
      Tensor x = Tensor::from_vector(xt::normal_values(size_t(M * K), 5), {M, K});
      Tensor w = Tensor::from_vector(xt::normal_values(size_t(N * K), 6, 0.1f), {N, K}).to(storage);
      std::vector<float> got = xla::matmul(x, w.transpose(0, 1)).to_vector();
      const double tol = path == "avx512bf16" && storage == DType::BF16 ? 2e-2 : 2e-6;
      EXPECT_LT(xt::max_rel_error(got, xt::naive_abt(x.to_vector(), w.to_vector(), M, N, K)), tol);
    }
  }
}

// A row's bits do not depend on how many rows share the product (what makes the
// serving engine's results independent of the batch), on every path and
// storage.
TEST(CpuPaths, RowsOfFewRowProductsAreBitwiseTheSingleRowProduct) {
  EveryPath guard;
  for (const std::string& path : guard.paths) {
    xla::detail::use_cpu_path(path);
    for (DType storage : {DType::F32, DType::BF16, DType::Q8}) {
      SCOPED_TRACE(path + " " + xla::dtype_name(storage));
      const int64_t M = 7, N = 45, K = 224;
      Tensor x = Tensor::from_vector(xt::normal_values(size_t(M * K), 5), {M, K});
      Tensor w = Tensor::from_vector(xt::normal_values(size_t(N * K), 6, 0.1f), {N, K}).to(storage);
      std::vector<float> all = xla::matmul(x, w.transpose(0, 1)).to_vector();
      for (int64_t m = 0; m < M; ++m) {
        std::vector<float> one = xla::matmul(x.slice(0, m, m + 1), w.transpose(0, 1)).to_vector();
        for (int64_t n = 0; n < N; ++n)
          ASSERT_EQ(one[size_t(n)], all[size_t(m * N + n)]) << "row " << m << " col " << n;
      }
    }
  }
}

// A row-major B (x · W without a transpose; attention's probabilities · V): the
// row kernel for a few rows (each row's bits independent of M and of how many
// columns the product has), the packed GEMM for many; every path.
TEST(CpuPaths, RowMajorWeightsMatchNaiveLoops) {
  EveryPath guard;
  for (const std::string& path : guard.paths) {
    xla::detail::use_cpu_path(path);
    for (DType storage : {DType::F32, DType::BF16, DType::Q8})
      for (int64_t M : {1, 3, 6, 75}) {
        SCOPED_TRACE(path + " " + xla::dtype_name(storage) + " M=" + std::to_string(M));
        const int64_t K = 40, N = storage == DType::Q8 ? 96 : 97;  // q8 rows are whole blocks
        Tensor x = Tensor::from_vector(xt::normal_values(size_t(M * K), 8), {M, K});
        Tensor w = Tensor::from_vector(xt::normal_values(size_t(K * N), 9, 0.1f), {K, N}).to(storage);
        Tensor wt = w.to(DType::F32).transpose(0, 1).contiguous();  // [N, K] for the naive loop
        std::vector<float> got = xla::matmul(x, w).to_vector();
        // the bf16 unit's packed GEMM rounds x to bf16 too (see above)
        const double tol = path == "avx512bf16" && storage == DType::BF16 ? 2e-2 : 2e-6;
        EXPECT_LT(xt::max_rel_error(got, xt::naive_abt(x.to_vector(), wt.to_vector(), M, N, K)), tol);
        if (M <= 6 && storage != DType::Q8) {  // the last row alone: the same bits
          std::vector<float> last = xla::matmul(x.slice(0, M - 1, M), w).to_vector();
          for (int64_t n = 0; n < N; ++n) ASSERT_EQ(last[size_t(n)], got[size_t((M - 1) * N + n)]) << "col " << n;
          // a product narrower than a tile of columns (attention's): the wide one's bits
          for (int64_t narrow : {1, 12, 37}) {
            std::vector<float> part = xla::matmul(x, w.slice(1, 0, narrow)).to_vector();
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < narrow; ++n)
                ASSERT_EQ(part[size_t(m * narrow + n)], got[size_t(m * N + n)]) << narrow << " cols, at " << m << ", " << n;
          }
        }
      }
  }
}

// The elementwise ops' tanh (and GELU's tanh form, through the ops) on every path: within
// 2 ulp of tanh in double over a sweep of [-12, 12] and at the special values.
TEST(CpuPaths, TanhIsWithinTwoUlpOnEveryPath) {
  EveryPath guard;
  std::vector<float> xs;
  for (float x = -12.f; x <= 12.f; x += 1.f / 4096) xs.push_back(x);
  for (float x = 1e-30f; x < 1.f; x *= 1.01f) xs.insert(xs.end(), {x, -x});
  for (float x : {0.f, -0.f, 0.55f, std::nextafter(0.55f, 0.f), 9.f, 10.f, 1e30f, -1e30f, 1e-45f}) xs.push_back(x);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  xs.insert(xs.end(), {inf, -inf, nan});
  const Tensor x = Tensor::from_vector(xs, {int64_t(xs.size())});
  for (const std::string& path : guard.paths) {
    SCOPED_TRACE(path);
    xla::detail::use_cpu_path(path);
    const std::vector<float> t = xla::tanh(x).to_vector(), g = xla::gelu_tanh(x).to_vector();
    double worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double want = std::tanh(double(xs[i]));
      if (std::isnan(xs[i])) {
        EXPECT_TRUE(std::isnan(t[i]) && std::isnan(g[i]));
        continue;
      }
      const float w = float(want);
      const double ulp = std::nextafter(std::fabs(w), inf) - std::fabs(w);
      const double err = std::fabs(double(t[i]) - want) / ulp;
      worst = std::max(worst, err);
      ASSERT_LE(err, 2.0) << "tanh(" << xs[i] << ") = " << t[i] << ", not " << want;
      ASSERT_EQ(std::signbit(t[i]), std::signbit(xs[i])) << xs[i];
      // GELU: as the formula in double, to float rounding of its parts (at −∞ the formula is
      // −∞ · 0: NaN, as before and as the formula is written)
      const double v = xs[i], k = 0.7978845608028654;
      if (std::isinf(v)) {
        EXPECT_TRUE(v > 0 ? g[i] == inf : std::isnan(g[i])) << "gelu_tanh(" << v << ") = " << g[i];
        continue;
      }
      const double gelu = 0.5 * v * (1 + std::tanh(k * (v + 0.044715 * v * v * v)));
      ASSERT_NEAR(g[i], gelu, 2e-7 * std::max(1.0, std::fabs(v))) << "gelu_tanh(" << v << ")";
    }
    std::printf("%s: tanh within %.2f ulp\n", path.c_str(), worst);
  }
}

// GELU's vector body and a loop's scalar tail are one formula: every element gives the same
// bits in either, on every path — where −2u is clamped (x near −10.6), at the special
// values, and for ordinary x.
TEST(CpuPaths, GeluGivesTheSameBitsInAVectorAsInALoopsTail) {
  EveryPath guard;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> xs = xt::normal_values(40, 7, 3.f);
  for (float x : {0.f, -0.f, inf, -inf, nan, -10.f, -10.5f, -10.55f, -10.6f, -11.f, -40.f, 8.f, 1e-30f, -3.f, 3.f})
    xs.push_back(x);
  const int64_t n = int64_t(xs.size());
  for (const std::string& path : guard.paths) {
    SCOPED_TRACE(path);
    xla::detail::use_cpu_path(path);
    const xla::detail::CpuKernels& cpu = xla::detail::cpu_kernels();
    std::vector<float> whole(xs.size());
    cpu.gelu_tanh_f32(xs.data(), whole.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      float alone;
      cpu.gelu_tanh_f32(&xs[size_t(i)], &alone, 1);
      if (std::isnan(alone)) {
        EXPECT_TRUE(std::isnan(whole[size_t(i)])) << "gelu_tanh(" << xs[size_t(i)] << ")";
        continue;
      }
      EXPECT_EQ(std::memcmp(&alone, &whole[size_t(i)], 4), 0)
          << "gelu_tanh(" << xs[size_t(i)] << "): " << whole[size_t(i)] << " in a vector, " << alone << " alone";
    }
  }
}

// The elementwise ops' exp (the softmax's too) on every path: within 2 ulp of exp in double
// down to FLT_MIN, exactly 0 below it (−∞ included), ∞ above the largest float.
TEST(CpuPaths, ExpIsWithinTwoUlpAndFlushesToZeroOnEveryPath) {
  EveryPath guard;
  std::vector<float> xs;
  for (float x = -90.f; x <= 90.f; x += 1.f / 1024) xs.push_back(x);
  for (float x = 1e-30f; x < 1.f; x *= 1.01f) xs.insert(xs.end(), {x, -x});
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  xs.insert(xs.end(), {0.f, -0.f, -87.33654f, 88.7228f, 88.7229f, inf, -inf, nan});
  const Tensor x = Tensor::from_vector(xs, {int64_t(xs.size())});
  for (const std::string& path : guard.paths) {
    SCOPED_TRACE(path);
    xla::detail::use_cpu_path(path);
    const std::vector<float> e = xla::exp(x).to_vector();
    double worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (std::isnan(xs[i])) {
        EXPECT_TRUE(std::isnan(e[i]));
        continue;
      }
      const double want = std::exp(double(xs[i]));
      if (want < double(std::numeric_limits<float>::min()) || xs[i] < -87.33654f) {
        ASSERT_EQ(e[i], 0.f) << "exp(" << xs[i] << ")";
        continue;
      }
      if (want > double(std::numeric_limits<float>::max())) {
        ASSERT_EQ(e[i], inf) << "exp(" << xs[i] << ")";
        continue;
      }
      const float w = float(want);
      const double ulp = std::nextafter(w, inf) - w;
      const double err = std::fabs(double(e[i]) - want) / ulp;
      worst = std::max(worst, err);
      ASSERT_LE(err, 2.0) << "exp(" << xs[i] << ") = " << e[i] << ", not " << want;
    }
    EXPECT_EQ(e[xs.size() - 8], 1.f);  // exp(0), exactly
    std::printf("%s: exp within %.2f ulp\n", path.c_str(), worst);
  }
}

// The fused loops' + − × ÷ on every path, with ordinary and with non-temporal stores: the
// bits of the scalar operation, with either side one value, at lengths with vector tails
// and (streaming) at every offset from a 64-byte boundary, where the aligned part starts late.
TEST(CpuPaths, ArithmeticGivesTheScalarBitsOnEveryPath) {
  EveryPath guard;
  const std::vector<float> a = xt::normal_values(80, 1), b = xt::normal_values(80, 2);
  for (const std::string& path : guard.paths) {
    SCOPED_TRACE(path);
    xla::detail::use_cpu_path(path);
    const xla::detail::CpuKernels& cpu = xla::detail::cpu_kernels();
    for (const bool streaming : {false, true})
      for (int op = 0; op < 4; ++op)
        for (int one = 0; one < 4; ++one)  // neither, a, b, both
          for (int64_t n : {1, 15, 16, 37, 80})
            for (int64_t offset = 0; offset < (streaming ? 16 : 1); ++offset) {
              alignas(64) float buffer[96];
              float* got = buffer + offset;
              const bool a_one = one == 1 || one == 3, b_one = one == 2 || one == 3;
              (streaming ? cpu.arith_f32_streaming : cpu.arith_f32)(xla::detail::Arith(op), a.data(), a_one, b.data(),
                                                                    b_one, got, n);
              cpu.stream_fence();
              for (int64_t i = 0; i < n; ++i) {
                const float x = a_one ? a[0] : a[size_t(i)], y = b_one ? b[0] : b[size_t(i)];
                const float want = op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
                ASSERT_EQ(std::memcmp(&got[i], &want, 4), 0)
                    << "op " << op << " one " << one << " n " << n << " offset " << offset << " i " << i
                    << (streaming ? " streaming" : "");
              }
            }
  }
}

// RMSNorm's rows as plain loops: sums in double over 8 lanes added pairwise, each operation
// rounded on its own (no contraction even where the tests are built with FMA).
#define NO_CONTRACT __attribute__((optimize("fp-contract=off")))
template <typename F>
NO_CONTRACT double sum_in_lanes(int64_t n, F term) {
  double lane[8] = {};
  for (int64_t j = 0; j < n; ++j) lane[j % 8] += term(j);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}
NO_CONTRACT void rms_norm_plain(int64_t rows, int64_t C, const float* x, const float* w, float eps, float* y,
                                float* rstd) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    const double ss = sum_in_lanes(C, [&](int64_t j) { return double(xr[j]) * xr[j]; });
    const float inv = float(1.0 / std::sqrt(ss / double(C) + double(eps)));
    rstd[r] = inv;
    for (int64_t j = 0; j < C; ++j) y[r * C + j] = (xr[j] * inv) * (1.f + w[j]);
  }
}
NO_CONTRACT void rms_norm_grad_plain(int64_t rows, int64_t C, const float* x, const float* w, const float* rstd,
                                     const float* g, float* dx, float* dw) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * C, *gr = g + r * C;
    const float inv = rstd[r];
    for (int64_t j = 0; j < C; ++j) dw[j] += gr[j] * xr[j] * inv;
    const double dot = sum_in_lanes(C, [&](int64_t j) { return double(gr[j]) * (1.f + w[j]) * xr[j]; });
    const float k = float(dot / double(C)) * inv * inv * inv;
    for (int64_t j = 0; j < C; ++j) dx[r * C + j] = inv * gr[j] * (1.f + w[j]) - k * xr[j];
  }
}

// RMSNorm forward and backward give the plain loops' bits on every path: inference and
// training get the same numbers on any CPU. Widths with and without tails of 8 and 16, rows
// of very different scales, and each result left out in turn.
TEST(CpuPaths, RmsNormGivesThePlainLoopsBitsOnEveryPath) {
  EveryPath guard;
  for (const std::string& path : guard.paths) {
    SCOPED_TRACE(path);
    xla::detail::use_cpu_path(path);
    const xla::detail::CpuKernels& cpu = xla::detail::cpu_kernels();
    for (int64_t C : {1, 7, 8, 9, 15, 16, 17, 32, 100, 640, 1001}) {
      SCOPED_TRACE("C=" + std::to_string(C));
      const int64_t rows = 3;
      std::vector<float> x = xt::normal_values(size_t(rows * C), uint32_t(C)),
                         w = xt::normal_values(size_t(C), 7, 0.3f),
                         g = xt::normal_values(size_t(rows * C), uint32_t(C + 1));
      for (int64_t j = 0; j < C; ++j) x[size_t(C + j)] *= 1e-3f, x[size_t(2 * C + j)] *= 1e3f;
      std::vector<float> y(x.size()), rstd(x.size() / size_t(C)), y_want(x.size()), rstd_want(rstd.size());
      rms_norm_plain(rows, C, x.data(), w.data(), 1e-6f, y_want.data(), rstd_want.data());
      cpu.rms_norm_rows(rows, C, x.data(), w.data(), 1e-6f, y.data(), rstd.data());
      ASSERT_EQ(std::memcmp(y.data(), y_want.data(), y.size() * 4), 0);
      ASSERT_EQ(std::memcmp(rstd.data(), rstd_want.data(), rstd.size() * 4), 0);
      std::fill(rstd.begin(), rstd.end(), 0.f);
      cpu.rms_norm_rows(rows, C, x.data(), w.data(), 1e-6f, nullptr, rstd.data());
      ASSERT_EQ(std::memcmp(rstd.data(), rstd_want.data(), rstd.size() * 4), 0) << "rstd alone";
      std::fill(y.begin(), y.end(), 0.f);
      cpu.rms_norm_rows(rows, C, x.data(), w.data(), 1e-6f, y.data(), nullptr);
      ASSERT_EQ(std::memcmp(y.data(), y_want.data(), y.size() * 4), 0) << "y alone";

      std::vector<float> dx(x.size()), dw(size_t(C), 0.25f), dx_want(x.size()), dw_want(size_t(C), 0.25f);
      rms_norm_grad_plain(rows, C, x.data(), w.data(), rstd_want.data(), g.data(), dx_want.data(), dw_want.data());
      cpu.rms_norm_grad_rows(rows, C, x.data(), w.data(), rstd_want.data(), g.data(), dx.data(), dw.data());
      ASSERT_EQ(std::memcmp(dx.data(), dx_want.data(), dx.size() * 4), 0);
      ASSERT_EQ(std::memcmp(dw.data(), dw_want.data(), dw.size() * 4), 0);
      std::fill(dx.begin(), dx.end(), 0.f);
      cpu.rms_norm_grad_rows(rows, C, x.data(), w.data(), rstd_want.data(), g.data(), dx.data(), nullptr);
      ASSERT_EQ(std::memcmp(dx.data(), dx_want.data(), dx.size() * 4), 0) << "dx alone";
      std::fill(dw.begin(), dw.end(), 0.25f);
      cpu.rms_norm_grad_rows(rows, C, x.data(), w.data(), rstd_want.data(), g.data(), nullptr, dw.data());
      ASSERT_EQ(std::memcmp(dw.data(), dw_want.data(), dw.size() * 4), 0) << "dw alone";
    }
  }
}

// The slope of the tanh GELU: the plain formula around each path's own tanh, bit for bit,
// over lengths with and without vector tails.
NO_CONTRACT void gelu_slope_plain(const xla::detail::CpuKernels& cpu, const float* x, float* out, int64_t n) {
  constexpr float k = 0.7978845608028654f, c = 0.044715f;
  for (int64_t i = 0; i < n; ++i) out[i] = k * (x[i] + c * x[i] * x[i] * x[i]);
  cpu.tanh_f32(out, out, n);
  for (int64_t i = 0; i < n; ++i) {
    const float t = out[i];
    out[i] = 0.5f * (1.f + t) + 0.5f * x[i] * (1.f - t * t) * k * (1.f + 3.f * c * x[i] * x[i]);
  }
}

TEST(CpuPaths, GeluSlopeGivesThePlainFormulasBitsOnEveryPath) {
  EveryPath guard;
  std::vector<float> x = xt::normal_values(1000, 3, 2.f);
  x[0] = 0.f, x[1] = -0.f, x[2] = 12.f, x[3] = -12.f, x[4] = 1e-20f;
  for (const std::string& path : guard.paths) {
    SCOPED_TRACE(path);
    xla::detail::use_cpu_path(path);
    const xla::detail::CpuKernels& cpu = xla::detail::cpu_kernels();
    for (int64_t n : {1, 7, 8, 15, 16, 17, 100, 1000}) {
      std::vector<float> got(static_cast<size_t>(n)), want(got.size());
      cpu.gelu_tanh_slope_f32(x.data(), got.data(), n);
      gelu_slope_plain(cpu, x.data(), want.data(), n);
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << "n=" << n;
    }
  }
}

// ---- Q8 weights ----

TEST(Q8, QuantizationErrorIsWithinHalfAStepOfTheF16Scale) {
  std::vector<float> v = xt::normal_values(64 * 96, 3, 0.05f);
  v[5] = 0.3f;                                           // one block with a large value: its step is coarser, its error
                                                         // bound too
  for (int i = 0; i < 32; ++i) v[size_t(32 + i)] = 0.f;  // an all-zero block: scale 0, exact zeros
  Tensor w = Tensor::from_vector(v, {64, 96});
  Tensor q = xla::quantize_q8(w);
  EXPECT_EQ(q.dtype(), DType::Q8);
  EXPECT_EQ(q.shape(), w.shape());
  std::vector<float> back = q.to_vector();
  const uint16_t* scales = q.q8_scales();
  const int8_t* values = static_cast<const int8_t*>(q.raw_data());
  for (size_t b = 0; b < v.size() / 32; ++b) {
    float amax = 0;
    for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[b * 32 + i]));
    const float d = xla::f16_to_f32(scales[b]);
    EXPECT_EQ(scales[b], xla::f32_to_f16(amax / 127.f)) << "block " << b;
    for (size_t i = 0; i < 32; ++i) {
      const size_t at = b * 32 + i;
      EXPECT_LE(std::abs(int(values[at])), 127);
      EXPECT_EQ(back[at], float(values[at]) * d);
      EXPECT_LE(std::fabs(back[at] - v[at]), d / 2 * 1.0001f) << "element " << at;
    }
  }
  for (int i = 0; i < 32; ++i) EXPECT_EQ(back[size_t(32 + i)], 0.f);
  // the bytes read per weight: 1 value + 2/32 of a scale
  EXPECT_EQ(q.nbytes() + q.numel() / 32 * 2, size_t(64 * 96) * 17 / 16);
}

// A few rows against Q8 weights (a decode step's) multiply 16-bit blocks of the activations:
// on every path the result is the product with those blocks to f32's rounding, and within
// their bound of the product with x itself: Σ over blocks of s/2 · Σ|w|, s = max|x| / 32767.
TEST(Q8, FewRowsMultiplySixteenBitBlocksOfTheActivations) {
  EveryPath guard;
  const int64_t M = 2, N = 40, K = 640;
  std::vector<float> xv = xt::normal_values(size_t(M * K), 21);
  xv[5] = 40.f;                                      // one large value: coarse steps for its block
  for (size_t i = 64; i < 96; ++i) xv[i] = 0.f;      // an all-zero block
  for (size_t i = 96; i < 128; ++i) xv[i] *= 1e-6f;  // a small one: steps as fine as its values
  const Tensor x = Tensor::from_vector(xv, {M, K});
  const Tensor w = Tensor::from_vector(xt::normal_values(size_t(N * K), 22, 0.1f), {N, K}).to(DType::Q8);
  const std::vector<float> wv = w.to_vector();
  const std::vector<double> exact = xt::naive_abt(xv, wv, M, N, K),
                            blocks = xt::naive_abt(xt::q8_activations(xv), wv, M, N, K);
  for (const std::string& path : guard.paths) {
    SCOPED_TRACE(path);
    xla::detail::use_cpu_path(path);
    const std::vector<float> got = xla::matmul(x, w.transpose(0, 1)).to_vector();
    EXPECT_LT(xt::max_rel_error(got, blocks), 2e-6);
    EXPECT_GT(xt::max_rel_error(got, exact), 2e-6) << "the activations were not cut into 16-bit blocks";
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double bound = 0;
        for (int64_t b = 0; b < K; b += 32) {
          double largest = 0, weight = 0;
          for (int64_t k = b; k < b + 32; ++k) {
            largest = std::max(largest, double(std::fabs(xv[size_t(m * K + k)])));
            weight += std::fabs(double(wv[size_t(n * K + k)]));
          }
          bound += largest / 32767 / 2 * weight;
        }
        const size_t at = size_t(m * N + n);
        EXPECT_LE(std::fabs(double(got[at]) - exact[at]), bound + 1e-6 * std::fabs(exact[at])) << m << ", " << n;
      }
  }
}

// Rows the 16-bit blocks cannot hold keep f32 activations: NaN and Inf reach the result as in
// any product, and blocks below 2^-60 or above 2^64 keep their precision.
TEST(Q8, FewRowsWithNonFiniteOrExtremeValuesKeepF32Activations) {
  EveryPath guard;
  const int64_t M = 2, N = 8, K = 64;
  const Tensor w = Tensor::from_vector(xt::normal_values(size_t(N * K), 24, 0.1f), {N, K}).to(DType::Q8);
  const std::vector<float> wv = w.to_vector();
  for (const std::string& path : guard.paths) {
    xla::detail::use_cpu_path(path);
    for (float special : {NAN, INFINITY, 1e-25f, 1e30f}) {
      SCOPED_TRACE(path + " " + std::to_string(special));
      std::vector<float> xv = xt::normal_values(size_t(M * K), 23);
      if (std::isfinite(special)) {
        for (int64_t k = 0; k < K; ++k) xv[size_t(k)] *= special;  // all of row 0
      } else {
        xv[3] = special;
      }
      const std::vector<float> got = xla::matmul(Tensor::from_vector(xv, {M, K}), w.transpose(0, 1)).to_vector();
      const std::vector<double> exact = xt::naive_abt(xv, wv, M, N, K);
      const std::vector<float> row0(got.begin(), got.begin() + N), row1(got.begin() + N, got.end());
      EXPECT_LT(xt::max_rel_error(row1, std::vector<double>(exact.begin() + N, exact.end())), 2e-6);
      if (std::isfinite(special)) {
        EXPECT_LT(xt::max_rel_error(row0, std::vector<double>(exact.begin(), exact.begin() + N)), 2e-6);
      } else {
        for (int64_t n = 0; n < N; ++n) {
          if (wv[size_t(n * K + 3)] != 0.f) {
            EXPECT_FALSE(std::isfinite(row0[size_t(n)])) << "column " << n;
          }
        }
      }
    }
  }
}

TEST(Q8, BadInputIsNamed) {
  Tensor odd = Tensor::from_vector(xt::normal_values(40, 1), {2, 20});
  EXPECT_XLA_ERROR(xla::quantize_q8(odd), xla::Status::Shape, "multiple of the 32-element block");
  std::vector<float> v(32, 1.f);
  v[7] = NAN;
  EXPECT_XLA_ERROR(xla::quantize_q8(Tensor::from_vector(v, {1, 32})), xla::Status::InvalidArg, "element 7");
  Tensor ids = Tensor::from_data(std::vector<int32_t>(32, 1).data(), {32}, DType::I32);
  EXPECT_XLA_ERROR(xla::quantize_q8(ids), xla::Status::DType, "floating");
}

// Halves round away from zero (as std::round): a block whose largest value is 63.5 has the
// scale 63.5 / 127 = 0.5 exactly, so ±(k + 0.5) · 0.5 is the tie ±(k + 0.5), stored as ±(k + 1).
TEST(Q8, TiesRoundAwayFromZero) {
  std::vector<float> v = {63.5f};
  for (int k = 0; k < 31; ++k) v.push_back((k % 2 ? -1.f : 1.f) * (float(k / 2) + 0.5f) * 0.5f);
  Tensor q = xla::quantize_q8(Tensor::from_vector(v, {1, 32}));
  ASSERT_EQ(xla::f16_to_f32(q.q8_scales()[0]), 0.5f);
  const int8_t* values = static_cast<const int8_t*>(q.raw_data());
  EXPECT_EQ(values[0], 127);
  for (int k = 0; k < 31; ++k) EXPECT_EQ(values[1 + k], (k % 2 ? -1 : 1) * (k / 2 + 1)) << "element " << 1 + k;
}

// Bad values in ranges that different threads check: the error names the first of them.
TEST(Q8, TheFirstBadElementIsNamed) {
  std::vector<float> v = xt::normal_values(1024 * 128, 5);
  v[100] = 1e30f;   // with two threads, the first range's, found at once
  v[131000] = NAN;  // the second range's, found after a longer search
  v[131001] = INFINITY;
  EXPECT_XLA_ERROR(xla::quantize_q8(Tensor::from_vector(v, {1024, 128})), xla::Status::InvalidArg, "element 100 ");
}

TEST(Q8, EmbeddingRowsAreTheDequantizedRows) {
  Tensor q = xla::quantize_q8(Tensor::from_vector(xt::normal_values(10 * 64, 4), {10, 64}));
  std::vector<float> table = q.to_vector();
  const std::vector<int64_t> ids = {3, 0, 9, 3};
  Tensor rows = xla::embedding(q, Tensor::from_data(ids.data(), {2, 2}, DType::I64));
  EXPECT_EQ(rows.shape(), (xla::Shape{2, 2, 64}));
  EXPECT_EQ(rows.dtype(), DType::F32);
  std::vector<float> got = rows.to_vector();
  for (size_t r = 0; r < ids.size(); ++r)
    for (size_t j = 0; j < 64; ++j) ASSERT_EQ(got[r * 64 + j], table[size_t(ids[r]) * 64 + j]);
}

TEST(Q8, OpsThatMoveBytesRefuseQ8) {
  Tensor q = xla::quantize_q8(Tensor::from_vector(xt::normal_values(4 * 32, 2), {4, 32}));
  Tensor idx = Tensor::from_data(std::vector<int64_t>{1, 2}.data(), {2}, DType::I64);
  EXPECT_XLA_ERROR(xla::index_select(q, 0, idx), xla::Status::DType, "index_select");
  EXPECT_XLA_ERROR(xla::concat({q, q}, 0), xla::Status::DType, "concat");
  EXPECT_XLA_ERROR(q.transpose(0, 1).contiguous(), xla::Status::DType, "q8");
  Tensor target = q.clone();
  EXPECT_XLA_ERROR(target.copy_(Tensor::zeros({4, 32})), xla::Status::DType, "q8");
  EXPECT_XLA_ERROR(Tensor::from_data(q.raw_data(), {4, 32}, DType::Q8), xla::Status::DType, "quantize_q8");
  // arithmetic reads the dequantized values
  std::vector<float> doubled = xla::add(q, q).to_vector(), once = q.to_vector();
  for (size_t i = 0; i < once.size(); ++i) ASSERT_EQ(doubled[i], 2 * once[i]);
  // a clone is the same bytes and scales
  Tensor c = q.clone();
  EXPECT_EQ(std::memcmp(c.raw_data(), q.raw_data(), q.nbytes()), 0);
  EXPECT_EQ(std::memcmp(c.q8_scales(), q.q8_scales(), 4 * sizeof(uint16_t)), 0);
}

}  // namespace
