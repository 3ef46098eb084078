// gemm.cpp — the f32 matrix-multiply entry: picks the kernel and splits C across cores.
// Split rule: cut the larger of M and N into one aligned block per thread (every thread
// then packs its own panels; nobody waits). Kernels: our packed SIMD GEMM (gemm_packed.cpp)
// where the CPU has AVX2/AVX-512, Eigen's serial GEMM elsewhere. A few rows (M <= 64: a
// decode step, a short chunk, the GEMV at M = 1) against a column-major B (x·Wᵀ, every linear layer) are
// dot products that read B once — memory-bound, so each core streams its share of B — and
// give each row the same bits whatever M is.
#include "gemm.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <vector>

#include "gemm_packed.hpp"
#include "xla/dtype.hpp"
#include "parallel.hpp"

namespace xla::detail {
namespace {

using Stride = Eigen::OuterStride<>;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <typename M> using CMap = Eigen::Map<const M, 0, Stride>;

// Runs block(begin, end) over [0, extent) cut into one aligned range per thread.
template <typename F>
void split(int64_t extent, int64_t align, int threads, F&& block) {
  if (threads <= 1) {
    block(int64_t(0), extent);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t units = (extent + align - 1) / align;
    int64_t b0 = std::min(extent, units * t / T * align), b1 = std::min(extent, units * (t + 1) / T * align);
    if (b1 > b0) block(b0, b1);
  }
}

template <typename AM, typename BM>
void gemm_eigen(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads) {
  CMap<AM> a(A.ptr, M, K, Stride(A.ld));
  CMap<BM> b(B.ptr, K, N, Stride(B.ld));
  Eigen::Map<RowMat, 0, Stride> c(C, M, N, Stride(ldc));
  if (N >= M)
    split(N, 16, threads, [&](int64_t n0, int64_t n1) { c.middleCols(n0, n1 - n0).noalias() = a * b.middleCols(n0, n1 - n0); });
  else
    split(M, 8, threads, [&](int64_t m0, int64_t m1) { c.middleRows(m0, m1 - m0).noalias() = a.middleRows(m0, m1 - m0) * b; });
}

inline float widen(float v) { return v; }
inline float widen(uint16_t v) { return bf16_to_f32(v); }

// a·b + c, fused where the CPU has FMA: spelled out, so that the vector loop, its scalar tail
// and every caller round alike, whatever the compiler would contract on its own.
inline float mul_add(float a, float b, float c) {
#if defined(__FMA__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

#if defined(__AVX2__) && defined(__FMA__)
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) {  // bf16 → f32: the 16 bits become the high half
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}
#endif

// A tile of C: R rows of A (lda apart) against NC columns of B (ldb apart), out[r·ldc + c] =
// Σ_k a[r][k]·b[c][k] with element k in lane k mod 8, the lanes then summed pairwise (4, 2, 1
// apart). Each element is its own accumulator, so its bits do not depend on the tile it is
// computed in: one row (the GEMV), a decode batch and any number of rows (RowInvariantGemm)
// agree. A 4 × 3 tile reads 7 vectors for 12 multiply-adds: bound by the FMA units.
template <int R, int NC, typename T>
inline void dot_tile(const float* a, int64_t lda, const T* b, int64_t ldb, int64_t n, float* out, int64_t ldc,
                     const T* next = nullptr) {
  constexpr int64_t L = 8;
  int64_t k = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();
  for (; k + L <= n; k += L) {
    __m256 bv[NC];
    for (int c = 0; c < NC; ++c) bv[c] = load8(b + c * ldb + k);
    if (next)  // the next columns, while these are multiplied: memory and FMAs overlap
      for (int c = 0; c < NC; ++c) _mm_prefetch(reinterpret_cast<const char*>(next + c * ldb + k), _MM_HINT_T0);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_loadu_ps(a + r * lda + k);
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_fmadd_ps(av, bv[c], acc[r][c]);
    }
  }
  if (k == n) {  // no tail: the pairwise sum in registers (the same additions as below)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < NC; ++c) {
        __m128 x = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));
        x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
        out[r * ldc + c] = _mm_cvtss_f32(x);
      }
    return;
  }
  alignas(32) float lanes[R][NC][L];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) _mm256_store_ps(lanes[r][c], acc[r][c]);
#else
  float lanes[R][NC][L] = {};
#endif
  for (; k < n; ++k)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < NC; ++c)
        lanes[r][c][k % L] = mul_add(a[r * lda + k], widen(b[c * ldb + k]), lanes[r][c][k % L]);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) {
      float* v = lanes[r][c];
      for (int64_t w = L / 2; w > 0; w /= 2)
        for (int64_t j = 0; j < w; ++j) v[j] += v[j + w];
      out[r * ldc + c] = v[0];
    }
}

template <int NC, typename T>
inline void dot_rows(int64_t M, const float* a, int64_t lda, const T* b, int64_t ldb, int64_t K, float* C, int64_t ldc) {
  int64_t m = 0;
  const T* next = b + NC * ldb;  // prefetched by the first tile of rows
  for (; m + 4 <= M; m += 4) dot_tile<4, NC>(a + m * lda, lda, b, ldb, K, C + m * ldc, ldc, m == 0 ? next : nullptr);
  switch (M - m) {
    case 3: dot_tile<3, NC>(a + m * lda, lda, b, ldb, K, C + m * ldc, ldc, m == 0 ? next : nullptr); break;
    case 2: dot_tile<2, NC>(a + m * lda, lda, b, ldb, K, C + m * ldc, ldc, m == 0 ? next : nullptr); break;
    case 1: dot_tile<1, NC>(a + m * lda, lda, b, ldb, K, C + m * ldc, ldc, m == 0 ? next : nullptr); break;
    default: break;
  }
}

// C[m, n] for every row m of A (row-major, lda) and columns [n0, n1) of a column-major B,
// three columns (weight rows) at a time: they stay in L1 while the rows of A meet them.
template <typename T>
void dot_columns(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const T* Bp, int64_t ldb,
                 float* C, int64_t ldc) {
  int64_t n = n0;
  for (; n + 3 <= n1; n += 3) dot_rows<3>(M, a, lda, Bp + n * ldb, ldb, K, C + n, ldc);
  for (; n < n1; ++n) dot_rows<1>(M, a, lda, Bp + n * ldb, ldb, K, C + n, ldc);
}

// y[N] = x[K] · B[K, N] with B row-major (M = 1; a column-major B takes gemm_dots).
// Memory-bound: each thread streams its own columns of B once, y += x[k] · B[k, :] in column
// blocks that stay in L1. Our loop rather than Eigen's GEMV, which is serial and whose
// rounding depends on the buffers' alignment.
template <typename T>
void gemv(int64_t N, int64_t K, MatRef A, const T* Bp, int64_t ldb, float* y, int threads) {
  std::vector<float> packed;
  const float* x = A.ptr;
  if (A.col_major && A.ld != 1) {  // (0, k) at ptr[k·ld]: gather the row
    packed.resize(size_t(K));
    for (int64_t k = 0; k < K; ++k) packed[size_t(k)] = A.ptr[k * A.ld];
    x = packed.data();
  }
  split(N, 64, threads, [&](int64_t n0, int64_t n1) {
    constexpr int64_t kCols = 2048;
    for (int64_t c0 = n0; c0 < n1; c0 += kCols) {
      const int64_t c1 = std::min(n1, c0 + kCols);
      std::fill(y + c0, y + c1, 0.f);
      for (int64_t k = 0; k < K; ++k) {
        const float xk = x[k];
        const T* row = Bp + k * ldb;
        for (int64_t n = c0; n < c1; ++n) y[n] += xk * widen(row[n]);
      }
    }
  });
}

// C = A·B with B column-major (x·Wᵀ), every element through dot_tile(): the same bits for a
// row whatever M is, M = 1 (decode, the LM head) included. Each thread takes its own columns
// of B and reads them once: memory-bound for a few rows.
template <typename T>
void gemm_dots(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, const T* Bp, float* C, int64_t ldc, int threads) {
  std::vector<float> packed;
  const float* a = A.ptr;
  int64_t lda = A.ld;
  if (A.col_major && (M > 1 || A.ld != 1)) {  // rows of A contiguous
    packed.resize(size_t(M * K));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) packed[size_t(m * K + k)] = A.ptr[m + k * A.ld];
    a = packed.data();
    lda = K;
  }
  split(N, 8, threads, [&](int64_t n0, int64_t n1) { dot_columns(M, n0, n1, K, a, lda, Bp, B.ld, C, ldc); });
}

thread_local bool t_row_invariant = false;

// Up to this many rows against a column-major B (a decode batch through a weight), reading B
// once beats packing it: the packed kernel copies all of B for a few rows of work. Measured
// on Gemma 3 270M's shapes (2-core Zen 3, 2026-12-03): dots faster up to 64 rows, packing
// from 128.
constexpr int64_t kFewRows = 64;

}  // namespace

RowInvariantGemm::RowInvariantGemm(bool on) : prev_(t_row_invariant) { t_row_invariant = on; }
RowInvariantGemm::~RowInvariantGemm() { t_row_invariant = prev_; }

int gemm_threads(int64_t M, int64_t N, int64_t K) {
  // a GEMV is bound by memory, not FLOPs: one core cannot stream B at the machine's bandwidth
  if (M == 1) return int(std::clamp<int64_t>(N * K / (64 * 1024) + 1, 1, num_threads()));
  double flops = 2.0 * double(M) * double(N) * double(K);
  int64_t by_work = int64_t(flops / 4e6) + 1;  // ~4 MFLOP a thread before a split pays
  return int(std::clamp<int64_t>(by_work, 1, num_threads()));
}

void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads, bool accumulate) {
  if (M == 0 || N == 0 || (K == 0 && accumulate)) return;
  const bool by_dots = B.col_major && (M == 1 || t_row_invariant || M <= kFewRows);
  if (accumulate && (M == 1 || by_dots || !XLA_HAVE_PACKED_GEMM)) {  // kernels that only overwrite: via a temporary
    std::vector<float> tmp(size_t(M * N));
    gemm(M, N, K, A, B, tmp.data(), N, threads, false);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += tmp[size_t(i * N + j)];
    return;
  }
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  if (omp_in_parallel()) threads = 1;
  if (by_dots)
    return B.bf16 ? gemm_dots(M, N, K, A, B, B.bf16, C, ldc, threads) : gemm_dots(M, N, K, A, B, B.ptr, C, ldc, threads);
  if (M == 1) return B.bf16 ? gemv(N, K, A, B.bf16, B.ld, C, threads) : gemv(N, K, A, B.ptr, B.ld, C, threads);
#if XLA_HAVE_PACKED_GEMM
  if (M > 1) {
    const int64_t a_rs = A.col_major ? 1 : A.ld, a_cs = A.col_major ? A.ld : 1;
    const int64_t b_rs = B.col_major ? 1 : B.ld, b_cs = B.col_major ? B.ld : 1;
    if (N >= M)
      split(N, 32, threads, [&](int64_t n0, int64_t n1) {
        gemm_packed(M, n1 - n0, K, A.ptr, a_rs, a_cs, B.ptr ? B.ptr + n0 * b_cs : nullptr, b_rs, b_cs, C + n0, ldc,
                    B.bf16 ? B.bf16 + n0 * b_cs : nullptr, accumulate);
      });
    else
      split(M, 6, threads, [&](int64_t m0, int64_t m1) {
        gemm_packed(m1 - m0, N, K, A.ptr + m0 * a_rs, a_rs, a_cs, B.ptr, b_rs, b_cs, C + m0 * ldc, ldc, B.bf16, accumulate);
      });
    return;
  }
#endif
  std::vector<float> widened;
  if (B.bf16) {  // Eigen reads f32 only: widen B (K × N as laid out) once
    const int64_t span = B.col_major ? (N - 1) * B.ld + K : (K - 1) * B.ld + N;
    widened.resize(size_t(span));
    for (int64_t i = 0; i < span; ++i) widened[size_t(i)] = bf16_to_f32(B.bf16[i]);
    B.ptr = widened.data();
    B.bf16 = nullptr;
  }
  if (!A.col_major && !B.col_major) return gemm_eigen<RowMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  if (!A.col_major && B.col_major) return gemm_eigen<RowMat, ColMat>(M, N, K, A, B, C, ldc, threads);
  if (A.col_major && !B.col_major) return gemm_eigen<ColMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  return gemm_eigen<ColMat, ColMat>(M, N, K, A, B, C, ldc, threads);
}

}  // namespace xla::detail
