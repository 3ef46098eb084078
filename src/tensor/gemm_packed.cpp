// gemm_packed.cpp — our own blocked f32 GEMM for x86 (AVX2+FMA or AVX-512), in the
// classic Goto/BLIS shape: pack a KC×NC panel of B and an MC×KC block of A into
// contiguous micro-panels, then run a 6×(2 vectors) register-tiled micro-kernel.
// Why not only Eigen: on this machine's AVX2 cores Eigen's serial GEMM reaches ~0.7× of
// OpenBLAS; this kernel closes the gap (benchmarks/bench_tensor.cpp measures both).
// Summation order depends only on K (fixed KC blocks), never on the thread split, so
// results are bitwise the same for any thread count.
#include "gemm_packed.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "xla/dtype.hpp"

namespace xla::detail {

#if XLA_HAVE_PACKED_GEMM

namespace {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int W = 16;
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec vset1(float x) { return _mm512_set1_ps(x); }
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
#else
using Vec = __m256;
constexpr int W = 8;
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec vset1(float x) { return _mm256_set1_ps(x); }
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
#endif

constexpr int MR = 6;       // rows of C per micro-tile
constexpr int NR = 2 * W;   // columns of C per micro-tile (two vectors)
// Block sizes for 32 KB L1 / 512 KB L2 / shared L3 (KC 192–768 and MC 72–144 measured
// alike within this machine's noise; prefetching C was what mattered).
constexpr int64_t KC = 384;   // deepest packed panel; K is cut into equal blocks up to this
constexpr int64_t MC = 120;   // rows of A per packed block (120×384 floats = 180 KB: in L2)
constexpr int64_t NC = 3072; // columns of B per packed panel (384×3072 floats = 4.5 MB: in L3)

// The micro-kernel: C[6, NR] (+)= A-panel[6, kc] · B-panel[kc, NR], twelve accumulators.
inline void micro_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  // C's rows are far apart (ldc floats): no hardware prefetcher guesses them, so ask for
  // them now and let the k loop hide the misses.
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  Vec c00 = vzero(), c01 = vzero(), c10 = vzero(), c11 = vzero(), c20 = vzero(), c21 = vzero();
  Vec c30 = vzero(), c31 = vzero(), c40 = vzero(), c41 = vzero(), c50 = vzero(), c51 = vzero();
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const Vec b0 = vload(b), b1 = vload(b + W);
    Vec ar = vset1(a[0]);
    c00 = vfma(ar, b0, c00); c01 = vfma(ar, b1, c01);
    ar = vset1(a[1]);
    c10 = vfma(ar, b0, c10); c11 = vfma(ar, b1, c11);
    ar = vset1(a[2]);
    c20 = vfma(ar, b0, c20); c21 = vfma(ar, b1, c21);
    ar = vset1(a[3]);
    c30 = vfma(ar, b0, c30); c31 = vfma(ar, b1, c31);
    ar = vset1(a[4]);
    c40 = vfma(ar, b0, c40); c41 = vfma(ar, b1, c41);
    ar = vset1(a[5]);
    c50 = vfma(ar, b0, c50); c51 = vfma(ar, b1, c51);
    a += MR;
    b += NR;
  }
  auto put = [&](int r, Vec lo, Vec hi) {
    float* row = c + r * ldc;
    if (accumulate) {
      lo = vadd(vload(row), lo);
      hi = vadd(vload(row + W), hi);
    }
    vstore(row, lo);
    vstore(row + W, hi);
  };
  put(0, c00, c01); put(1, c10, c11); put(2, c20, c21);
  put(3, c30, c31); put(4, c40, c41); put(5, c50, c51);
}

// A block [mc, kc] (element (i, k) at A[i*rs + k*cs]) → micro-panels of MR rows, k-major,
// zero-padded to a multiple of MR rows.
void pack_a(const float* A, int64_t rs, int64_t cs, int64_t mc, int64_t kc, float* out) {
  for (int64_t p = 0; p < mc; p += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - p);
    const float* src = A + p * rs;
    if (cs == 1) {
      for (int64_t k = 0; k < kc; ++k) {
        int r = 0;
        for (; r < rows; ++r) out[k * MR + r] = src[r * rs + k];
        for (; r < MR; ++r) out[k * MR + r] = 0.f;
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int r = 0;
        for (; r < rows; ++r) out[k * MR + r] = src[r * rs + k * cs];
        for (; r < MR; ++r) out[k * MR + r] = 0.f;
      }
    }
    out += MR * kc;
  }
}

inline float widen(float v) { return v; }
inline float widen(uint16_t v) { return bf16_to_f32(v); }

// B panel [kc, nc] (element (k, j) at B[k*rs + j*cs]) → micro-panels of NR columns,
// k-major, zero-padded to a multiple of NR columns. T = float, or uint16_t for bf16.
template <typename T>
void pack_b(const T* B, int64_t rs, int64_t cs, int64_t kc, int64_t nc, float* out) {
  for (int64_t q = 0; q < nc; q += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - q);
    const T* src = B + q * cs;
    if (cs == 1 && cols == NR) {  // row-major B: one contiguous run per k
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = 0; j < NR; ++j) out[k * NR + j] = widen(src[k * rs + j]);
    } else if (rs == 1) {  // column-major B (a transposed weight): read each column along k
      for (int64_t j = 0; j < NR; ++j)
        for (int64_t k = 0; k < kc; ++k) out[k * NR + j] = j < cols ? widen(src[j * cs + k]) : 0.f;
    } else {
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = 0; j < NR; ++j) out[k * NR + j] = j < cols ? widen(src[k * rs + j * cs]) : 0.f;
    }
    out += NR * kc;
  }
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

// Per-thread packing buffers, allocated once per thread.
float* scratch(size_t floats, int which) {
  thread_local std::unique_ptr<float, AlignedFree> buf[2];
  thread_local size_t cap[2] = {0, 0};
  if (cap[which] < floats) {
    buf[which].reset(static_cast<float*>(std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64)));
    if (!buf[which]) throw std::bad_alloc();
    cap[which] = floats;
  }
  return buf[which].get();
}

}  // namespace

void gemm_packed(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
                 int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, const uint16_t* B_bf16, bool accumulate_c) {
  // Equal K blocks (640 = 2 × 320, not 384 + 256): every pass over C does the same work.
  const int64_t k_blocks = (K + KC - 1) / KC;
  const int64_t kc_max = (K + k_blocks - 1) / k_blocks;
  float* Bp = scratch(size_t(kc_max) * size_t((std::min(NC, N) + NR - 1) / NR * NR), 0);
  float* Ap = scratch(size_t(kc_max) * size_t((std::min(MC, M) + MR - 1) / MR * MR), 1);
  alignas(64) float tile[MR * NR];
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      const bool accumulate = accumulate_c || pc > 0;
      if (B_bf16)
        pack_b(B_bf16 + pc * b_rs + jc * b_cs, b_rs, b_cs, kc, nc, Bp);
      else
        pack_b(B + pc * b_rs + jc * b_cs, b_rs, b_cs, kc, nc, Bp);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        pack_a(A + ic * a_rs + pc * a_cs, a_rs, a_cs, mc, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t cols = std::min<int64_t>(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t rows = std::min<int64_t>(MR, mc - ir);
            float* c = C + (ic + ir) * ldc + jc + jr;
            const float* ap = Ap + ir * kc;
            const float* bp = Bp + jr * kc;
            if (rows == MR && cols == NR) {
              micro_kernel(kc, ap, bp, c, ldc, accumulate);
            } else {  // edge tile: compute whole, keep the valid part (same arithmetic as above)
              micro_kernel(kc, ap, bp, tile, NR, false);
              for (int64_t r = 0; r < rows; ++r)
                for (int64_t j = 0; j < cols; ++j)
                  c[r * ldc + j] = accumulate ? c[r * ldc + j] + tile[r * NR + j] : tile[r * NR + j];
            }
          }
        }
      }
    }
  }
}

#endif  // XLA_HAVE_PACKED_GEMM

}  // namespace xla::detail
