// test_avx512_emulated.cpp — the AVX-512 and AVX512-BF16 kernels, compiled here
// with scalar stand-ins for their intrinsics (avx512_emulation.hpp), against
// naive loops in double: their loops, tails, masks and the bf16 pair packing
// are checked on every CPU, not only where the instructions exist (where
// CpuPaths checks the real ones).

#define XLA_ISA isa_emulated_avx512bf16
#define XLA_ISA_NAME "emulated avx512bf16"
#define XLA_EMULATE_AVX512BF16 1
#include "isa_kernels.inc"
#include "test_util.hpp"

namespace {

using xla::detail::WeightRows;
const xla::detail::CpuKernels& emulated() { return xla::detail::isa_emulated_avx512bf16::table(); }

float bf16_round(float x) { return xla::bf16_to_f32(xla::f32_to_bf16(x)); }

struct Weights {
  std::vector<float> values;  // [N, K], as the kernels must read them
  std::vector<uint16_t> bf16;
  xla::Tensor q8;
};

Weights weights(int64_t N, int64_t K, uint32_t seed) {
  Weights w;
  w.values = xt::normal_values(size_t(N * K), seed, 0.1f);
  for (float& v : w.values) w.bf16.push_back(xla::f32_to_bf16(v));
  if (K % 32 == 0) w.q8 = xla::quantize_q8(xla::Tensor::from_vector(w.values, {N, K}));
  return w;
}

TEST(EmulatedAvx512, DotProductsMatchNaiveLoops) {
  for (int64_t M : {1, 2, 5})
    for (int64_t N : {1, 4, 7})
      for (int64_t K : {32, 45, 64, 100, 640}) {
        SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
        std::vector<float> a = xt::normal_values(size_t(M * K), uint32_t(K + M));
        Weights w = weights(N, K, uint32_t(N * 31 + K));
        std::vector<float> c(size_t(M * N));
        // f32: FMA in 16 lanes
        emulated().dots(M, 0, N, K, a.data(), K, WeightRows{w.values.data(), nullptr, nullptr, nullptr, K}, c.data(),
                        N);
        EXPECT_LT(xt::max_rel_error(c, xt::naive_abt(a, w.values, M, N, K)), 1e-6);
        // bf16 on the bf16 unit: a rounded to bf16, products exact, f32 sums
        // (NaN after the last row: a kernel that reads past K — no mask — turns
        // it into NaN)
        std::vector<uint16_t> padded(w.bf16);
        padded.resize(padded.size() + 64, 0x7fc0);
        emulated().dots(M, 0, N, K, a.data(), K, WeightRows{nullptr, padded.data(), nullptr, nullptr, K}, c.data(), N);
        std::vector<float> a16(a), b16(w.bf16.size());
        for (float& x : a16) x = bf16_round(x);
        for (size_t i = 0; i < b16.size(); ++i) b16[i] = xla::bf16_to_f32(w.bf16[i]);
        EXPECT_LT(xt::max_rel_error(c, xt::naive_abt(a16, b16, M, N, K)), 1e-6);
        // a few rows times the row-major K × N matrix (the weights read as [K,
        // N] here)
        if (N == 7) {
          std::vector<float> bt(size_t(K * 45)), cr(size_t(M * 45));
          for (size_t i = 0; i < bt.size(); ++i) bt[i] = std::sin(float(i));
          emulated().rows_times_matrix(M, 0, 45, K, a.data(), K, bt.data(), nullptr, 45, cr.data(), 45);
          std::vector<float> btt(size_t(45 * K));  // transposed for the naive loop
          for (int64_t k = 0; k < K; ++k)
            for (int64_t n = 0; n < 45; ++n) btt[size_t(n * K + k)] = bt[size_t(k * 45 + n)];
          EXPECT_LT(xt::max_rel_error(cr, xt::naive_abt(a, btt, M, 45, K)),
                    1e-5);  // k summed in order: K roundings
        }
        // q8
        if (w.q8.defined()) {
          const WeightRows rows{nullptr, nullptr, static_cast<const int8_t*>(w.q8.raw_data()), w.q8.q8_scales(), K};
          emulated().dots(M, 0, N, K, a.data(), K, rows, c.data(), N);  // a in 16-bit blocks
          EXPECT_LT(xt::max_rel_error(c, xt::naive_abt(xt::q8_activations(a), w.q8.to_vector(), M, N, K)), 1e-6);
        }
      }
}

// The packed GEMM, B column-major (x·Wᵀ) and row-major, sizes across the
// micro-tile (6 × 32) and k blocks (the bf16 kernel takes k in pairs, odd K
// included), overwrite and accumulate.
TEST(EmulatedAvx512, PackedGemmMatchesNaiveLoops) {
  for (int64_t M : {6, 13})
    for (int64_t N : {32, 45})
      for (int64_t K : {31, 64, 801}) {
        SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
        std::vector<float> a = xt::normal_values(size_t(M * K), uint32_t(K * 3 + M));
        Weights w = weights(N, K, uint32_t(N + K));
        // row-major copies of B (K × N) for the second layout
        std::vector<float> br(size_t(K * N));
        std::vector<uint16_t> br16(size_t(K * N));
        for (int64_t n = 0; n < N; ++n)
          for (int64_t k = 0; k < K; ++k) {
            br[size_t(k * N + n)] = w.values[size_t(n * K + k)];
            br16[size_t(k * N + n)] = w.bf16[size_t(n * K + k)];
          }
        std::vector<float> a16(a), b16(w.bf16.size());
        for (float& x : a16) x = bf16_round(x);
        for (size_t i = 0; i < b16.size(); ++i) b16[i] = xla::bf16_to_f32(w.bf16[i]);
        const std::vector<double> want = xt::naive_abt(a, w.values, M, N, K), want16 = xt::naive_abt(a16, b16, M, N, K);
        for (bool col_major : {true, false}) {
          SCOPED_TRACE(col_major ? "B column-major" : "B row-major");
          const int64_t rs = col_major ? 1 : N, cs = col_major ? K : 1;
          std::vector<float> c(size_t(M * N), 0.f);
          emulated().gemm_packed(M, N, K, a.data(), K, 1, nullptr, col_major ? w.values.data() : br.data(), nullptr,
                                 nullptr, nullptr, rs, cs, c.data(), N, false);
          EXPECT_LT(xt::max_rel_error(c, want), 1e-6);
          emulated().gemm_packed(M, N, K, a.data(), K, 1, nullptr, nullptr, col_major ? w.bf16.data() : br16.data(),
                                 nullptr, nullptr, rs, cs, c.data(), N, false);
          EXPECT_LT(xt::max_rel_error(c, want16), 1e-6);
          // accumulate: C += A·B on top of the previous result
          emulated().gemm_packed(M, N, K, a.data(), K, 1, nullptr, nullptr, col_major ? w.bf16.data() : br16.data(),
                                 nullptr, nullptr, rs, cs, c.data(), N, true);
          std::vector<double> twice(want16);
          for (double& x : twice) x *= 2;
          EXPECT_LT(xt::max_rel_error(c, twice), 1e-6);
        }
        if (w.q8.defined()) {
          std::vector<float> c(size_t(M * N));
          emulated().gemm_packed(M, N, K, a.data(), K, 1, nullptr, nullptr, nullptr,
                                 static_cast<const int8_t*>(w.q8.raw_data()), w.q8.q8_scales(), 1, K, c.data(), N,
                                 false);
          EXPECT_LT(xt::max_rel_error(c, xt::naive_abt(a, w.q8.to_vector(), M, N, K)), 1e-6);
        }
      }
}

// A packed beforehand, in parts (as threads splitting N share it), gives the bits of the
// kernel packing A itself: f32, bf16 pairs and q8 B, rows across the micro-tile and the MC
// block (130), k across blocks of unequal length (770: f32 blocks of 257, 257, 256, pair
// blocks of 386 and 384; 771: the last pair half empty), A row- and column-major.
TEST(EmulatedAvx512, SharedPackingOfAGivesTheSameBits) {
  const int64_t N = 64;
  for (int64_t M : {5, 130})
    for (int64_t K : {64, 770, 771})
      for (bool a_col_major : {false, true}) {
        SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K) + (a_col_major ? " A column-major" : ""));
        const std::vector<float> a = xt::normal_values(size_t(M * K), uint32_t(M + K));
        const int64_t a_rs = a_col_major ? 1 : K, a_cs = a_col_major ? M : 1;
        Weights w = weights(N, K, uint32_t(7 * K));
        const int8_t* q8 = w.q8.defined() ? static_cast<const int8_t*>(w.q8.raw_data()) : nullptr;
        for (int kind = 0; kind < 3; ++kind) {
          if (kind == 2 && !q8) continue;
          const bool bf16 = kind == 1;
          auto run = [&](const float* A_packed) {
            std::vector<float> c(size_t(M * N));
            emulated().gemm_packed(M, N, K, a.data(), a_rs, a_cs, A_packed, kind == 0 ? w.values.data() : nullptr,
                                   bf16 ? w.bf16.data() : nullptr, kind == 2 ? q8 : nullptr,
                                   kind == 2 ? w.q8.q8_scales() : nullptr, 1, K, c.data(), N, false);
            return c;
          };
          // A row-major against an f32 or q8 B is read in place (no packing asked for); here it
          // is packed all the same, to the size a column-major one takes
          EXPECT_EQ(emulated().packed_a_floats(M, K, a_cs, bf16) == 0, !bf16 && !a_col_major);
          const int64_t column_major_cs = M;
          std::vector<float> packed(emulated().packed_a_floats(M, K, column_major_cs, bf16), std::nanf(""));
          for (int part = 0; part < 3; ++part)
            emulated().pack_a_part(M, K, a.data(), a_rs, a_cs, bf16, part, 3, packed.data());
          const std::vector<float> own = run(nullptr), shared = run(packed.data());
          std::vector<float> a_rows(a.size()), b(w.values);  // A row-major, as the naive loop reads it
          for (int64_t i = 0; i < M; ++i)
            for (int64_t k = 0; k < K; ++k) {
              const float x = a[size_t(i * a_rs + k * a_cs)];
              a_rows[size_t(i * K + k)] = bf16 ? bf16_round(x) : x;
            }
          if (bf16)
            for (size_t i = 0; i < b.size(); ++i) b[i] = xla::bf16_to_f32(w.bf16[i]);
          if (kind == 2) b = w.q8.to_vector();
          EXPECT_LT(xt::max_rel_error(own, xt::naive_abt(a_rows, b, M, N, K)), 1e-6);
          EXPECT_EQ(0, std::memcmp(own.data(), shared.data(), own.size() * sizeof(float))) << "B kind " << kind;
        }
      }
}

}  // namespace

// The 16-lane + − × ÷ with non-temporal stores: the scalar bits at every offset from a 64-byte
// boundary (the vectors start at the next one) and with either side one value.
TEST(EmulatedAvx512, StreamingArithmeticGivesTheScalarBits) {
  const std::vector<float> a = xt::normal_values(70, 5), b = xt::normal_values(70, 6);
  for (int op = 0; op < 4; ++op)
    for (int one = 0; one < 4; ++one)
      for (int64_t offset = 0; offset < 16; ++offset) {
        alignas(64) float buffer[96];
        float* got = buffer + offset;
        const bool a_one = one & 1, b_one = one & 2;
        emulated().arith_f32_streaming(xla::detail::Arith(op), a.data(), a_one, b.data(), b_one, got, 70);
        for (int64_t i = 0; i < 70; ++i) {
          const float x = a_one ? a[0] : a[size_t(i)], y = b_one ? b[0] : b[size_t(i)];
          const float want = op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
          ASSERT_EQ(std::memcmp(&got[i], &want, 4), 0) << "op " << op << " one " << one << " offset " << offset;
        }
      }
}

// GELU in 16 lanes gives each element the bits of the loop's scalar tail, and GELU's values.
TEST(EmulatedAvx512, GeluGivesTheScalarBits) {
  std::vector<float> xs = xt::normal_values(45, 8, 3.f);
  xs.insert(xs.end(), {0.f, -0.f, -10.6f, -11.f, 9.f});
  std::vector<float> whole(xs.size());
  emulated().gelu_tanh_f32(xs.data(), whole.data(), int64_t(xs.size()));
  for (size_t i = 0; i < xs.size(); ++i) {
    float alone;
    emulated().gelu_tanh_f32(&xs[i], &alone, 1);
    ASSERT_EQ(std::memcmp(&alone, &whole[i], 4), 0) << "gelu_tanh(" << xs[i] << ")";
    const double v = xs[i], gelu = 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    EXPECT_NEAR(whole[i], gelu, 2e-7 * std::max(1.0, std::fabs(v))) << "gelu_tanh(" << xs[i] << ")";
  }
}

// RMSNorm forward and backward: the AVX-512 loops (f64 lanes, tails of 8 and 16) give the
// baseline path's bits.
TEST(EmulatedAvx512, RmsNormGivesTheBaselineBits) {
  const xla::detail::CpuKernels& base = xla::detail::isa_baseline::table();
  for (int64_t C : {1, 8, 13, 16, 33, 640}) {
    SCOPED_TRACE("C=" + std::to_string(C));
    const int64_t rows = 2;
    const std::vector<float> x = xt::normal_values(size_t(rows * C), uint32_t(C)),
                             w = xt::normal_values(size_t(C), 5, 0.3f),
                             g = xt::normal_values(size_t(rows * C), uint32_t(C + 3));
    std::vector<float> y(x.size()), y_want(x.size()), rstd(2), rstd_want(2);
    emulated().rms_norm_rows(rows, C, x.data(), w.data(), 1e-6f, y.data(), rstd.data());
    base.rms_norm_rows(rows, C, x.data(), w.data(), 1e-6f, y_want.data(), rstd_want.data());
    EXPECT_EQ(std::memcmp(y.data(), y_want.data(), y.size() * 4), 0);
    EXPECT_EQ(std::memcmp(rstd.data(), rstd_want.data(), 8), 0);
    std::vector<float> dx(x.size()), dx_want(x.size()), dw(w.size()), dw_want(w.size());
    emulated().rms_norm_grad_rows(rows, C, x.data(), w.data(), rstd_want.data(), g.data(), dx.data(), dw.data());
    base.rms_norm_grad_rows(rows, C, x.data(), w.data(), rstd_want.data(), g.data(), dx_want.data(), dw_want.data());
    EXPECT_EQ(std::memcmp(dx.data(), dx_want.data(), dx.size() * 4), 0);
    EXPECT_EQ(std::memcmp(dw.data(), dw_want.data(), dw.size() * 4), 0);
  }
}

// The slope of the tanh GELU: the AVX-512 loops around the path's tanh give the formula's
// bits as the baseline rounds it (each operation on its own, even where tests build with FMA).
__attribute__((optimize("fp-contract=off"))) void gelu_slope_formula(const std::vector<float>& x,
                                                                     std::vector<float>& out) {
  constexpr float k = 0.7978845608028654f, c = 0.044715f;
  for (size_t i = 0; i < x.size(); ++i) out[i] = k * (x[i] + c * x[i] * x[i] * x[i]);
  emulated().tanh_f32(out.data(), out.data(), int64_t(out.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const float t = out[i];
    out[i] = 0.5f * (1.f + t) + 0.5f * x[i] * (1.f - t * t) * k * (1.f + 3.f * c * x[i] * x[i]);
  }
}

TEST(EmulatedAvx512, GeluSlopeGivesTheFormulasBits) {
  const std::vector<float> x = xt::normal_values(37, 9, 2.f);
  std::vector<float> got(x.size()), want(x.size());
  emulated().gelu_tanh_slope_f32(x.data(), got.data(), int64_t(x.size()));
  gelu_slope_formula(x, want);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0);
}
