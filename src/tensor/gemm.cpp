// gemm.cpp — the f32 matrix-multiply entry: picks the kernel and splits C across cores.
// Split rule: cut the larger of M and N into one aligned block per thread, each packing its
// own panels of B; cut along N, the threads first pack A between them where the kernel packs
// it (it reads a row-major A in place for f32 products). Kernels: the run-time path's packed
// SIMD GEMM (src/tensor/isa) where the CPU has AVX2/AVX-512, Eigen's serial GEMM on the
// baseline.
// A few rows (M <= 64: a decode step, a short chunk, the GEMV at M = 1) against a
// column-major B (x·Wᵀ, every linear layer) are dot products, against a row-major B rows
// times the matrix: both read B once — memory-bound, so each core streams its share of B —
// and give each row the same bits whatever M is.
#include "gemm.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "cpu_kernels.hpp"
#include "parallel.hpp"
#include "xla/dtype.hpp"

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
  on_threads(threads, [&](int t, int T) {
    int64_t units = (extent + align - 1) / align;
    int64_t b0 = std::min(extent, units * t / T * align), b1 = std::min(extent, units * (t + 1) / T * align);
    if (b1 > b0) block(b0, b1);
  });
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

// The rows of A contiguous (lda = K), in `packed` when A is column-major.
const float* rows_of(int64_t M, int64_t K, MatRef A, std::vector<float>& packed, int64_t& lda) {
  lda = A.ld;
  if (!A.col_major || (M == 1 && A.ld == 1)) return A.ptr;
  packed.resize(size_t(M * K));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) packed[size_t(m * K + k)] = A.ptr[m + k * A.ld];
  lda = K;
  return packed.data();
}

// C = A·B for a few rows of A and a row-major B (attention's probabilities · V; x · W): the
// path's row kernel, each thread its own columns of B, read once. Rows of A made contiguous.
void gemm_rows(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads) {
  std::vector<float> packed;
  int64_t lda;
  const float* a = rows_of(M, K, A, packed, lda);
  const CpuKernels& kernels = cpu_kernels();
  split(N, 64, threads, [&](int64_t n0, int64_t n1) {
    kernels.rows_times_matrix(M, n0, n1, K, a, lda, B.ptr, B.bf16, B.ld, C, ldc);
  });
}

// C = A·B with B column-major (x·Wᵀ), every element through the path's dot products: the
// same bits for a row whatever M is, M = 1 (decode, the LM head) included. Each thread takes
// its own columns of B and reads them once: memory-bound for a few rows. Several products
// sharing A have their columns laid end to end and split once; a thread's range may cover
// parts of several.
void dots_split(int64_t M, int64_t K, MatRef A, const GroupedProduct* parts, int count, int threads) {
  std::vector<float> packed;
  int64_t lda;
  const float* a = rows_of(M, K, A, packed, lda);
  int64_t total = 0;
  for (int i = 0; i < count; ++i) total += parts[i].N;
  const CpuKernels& kernels = cpu_kernels();
  split(total, 8, threads, [&](int64_t n0, int64_t n1) {
    int64_t start = 0;
    for (int i = 0; i < count; ++i) {
      const GroupedProduct& p = parts[i];
      const int64_t lo = std::max(n0, start) - start, hi = std::min(n1, start + p.N) - start;
      if (lo < hi) {
        const WeightRows rows{p.B.ptr, p.B.bf16, p.B.q8, p.B.q8_scales, p.B.ld};
        kernels.dots(M, lo, hi, K, a, lda, rows, p.C, p.ldc);
      }
      start += p.N;
    }
  });
}

// B (K × N as laid out) widened to f32 in `out`, for the kernels that read f32 only.
void widen_b(MatRef& B, int64_t K, int64_t N, std::vector<float>& out) {
  const int64_t span = B.col_major ? (N - 1) * B.ld + K : (K - 1) * B.ld + N;
  out.resize(size_t(span));
  if (B.bf16)
    for (int64_t i = 0; i < span; ++i) out[size_t(i)] = bf16_to_f32(B.bf16[i]);
  else
    for (int64_t i = 0; i < span; ++i) out[size_t(i)] = float(B.q8[i]) * f16_to_f32(B.q8_scales[i / kQ8Block]);
  B.ptr = out.data();
  B.bf16 = nullptr;
  B.q8 = nullptr;
  B.q8_scales = nullptr;
}

thread_local bool t_row_invariant = false;

// Up to this many rows against a column-major B (a decode batch through a weight), reading B
// once beats packing it: the packed kernel copies all of B for a few rows of work. Measured
// on Gemma 3 270M's shapes (2-core Zen 3, 2026-12-03): dots faster up to 64 rows, packing
// from 128.
constexpr int64_t kFewRows = 64;

// Whether an M-row product reads B once instead of packing it (the dot products for a
// column-major B, the row kernel for a row-major one).
bool few_rows(int64_t M) { return M == 1 || t_row_invariant || M <= kFewRows; }

}  // namespace

RowInvariantGemm::RowInvariantGemm(bool on) : prev_(t_row_invariant) { t_row_invariant = on; }
RowInvariantGemm::~RowInvariantGemm() { t_row_invariant = prev_; }

int gemm_threads(int64_t M, int64_t N, int64_t K) {
  // A GEMV, or a few rows (a decode step's attention: the query heads of a kv head against
  // its cached keys), is bound by memory, not FLOPs: one core cannot stream B at the
  // machine's bandwidth.
  const int64_t by_bytes = M <= kFewRowsByBytes ? N * K / (64 * 1024) + 1 : 1;
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int64_t by_work = M == 1 ? 1 : int64_t(flops / 4e6) + 1;  // ~4 MFLOP a thread before a split pays
  return int(std::clamp<int64_t>(std::max(by_bytes, by_work), 1, num_threads()));
}

void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads, bool accumulate) {
  if (M == 0 || N == 0 || (K == 0 && accumulate)) return;
  const CpuKernels& kernels = cpu_kernels();
  const bool by_dots = B.col_major && few_rows(M);
  const bool by_rows = !B.col_major && !B.q8 && few_rows(M);
  if (accumulate && (by_rows || by_dots || !kernels.gemm_packed)) {  // kernels that only overwrite: via a temporary
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
  if (in_parallel_region()) threads = 1;
  if (by_dots) {
    const GroupedProduct product{B, N, C, ldc};
    return dots_split(M, K, A, &product, 1, threads);
  }
  if (by_rows) return gemm_rows(M, N, K, A, B, C, ldc, threads);
  std::vector<float> widened;
  if (kernels.gemm_packed) {
    const int64_t a_rs = A.col_major ? 1 : A.ld, a_cs = A.col_major ? A.ld : 1;
    const int64_t b_rs = B.col_major ? 1 : B.ld, b_cs = B.col_major ? B.ld : 1;
    // the column range [n0, n1) of B: its offset from B's first element
    auto packed = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1, const float* A_packed) {
      const int64_t off = n0 * b_cs;
      kernels.gemm_packed(m1 - m0, n1 - n0, K, A.ptr + m0 * a_rs, a_rs, a_cs, A_packed, B.ptr ? B.ptr + off : nullptr,
                          B.bf16 ? B.bf16 + off : nullptr, B.q8 ? B.q8 + off : nullptr,
                          B.q8 ? B.q8_scales + off / kQ8Block : nullptr, b_rs, b_cs, C + m0 * ldc + n0, ldc,
                          accumulate);
    };
    if (N < M) {  // rows in whole micro-panels: 6 for the f32 kernel, 8 for the bf16 one
      split(M, 24, threads, [&](int64_t m0, int64_t m1) { packed(m0, m1, 0, N, nullptr); });
      return;
    }
    // Every thread's columns need all of A: the threads pack it once between them, then
    // each runs its columns from the shared packing (the arithmetic is the same). Not for
    // one thread, an A read in place, or an A so large that keeping its packing would cost
    // more memory than it saves time.
    constexpr size_t kMostSharedFloats = size_t(4) << 20;  // 16 MB
    const size_t need = threads > 1 ? kernels.packed_a_floats(M, K, a_cs, B.bf16 != nullptr) : 0;
    if (need == 0 || need > kMostSharedFloats)
      return split(N, 32, threads, [&](int64_t n0, int64_t n1) { packed(0, M, n0, n1, nullptr); });
    thread_local std::unique_ptr<float[]> shared_a;  // grown, never shrunk or cleared
    thread_local size_t shared_floats = 0;
    if (need > shared_floats) {
      shared_a.reset(new float[need]);
      shared_floats = need;
    }
    float* A_packed = shared_a.get();
    on_threads(threads,
               [&](int t, int T) { kernels.pack_a_part(M, K, A.ptr, a_rs, a_cs, B.bf16 != nullptr, t, T, A_packed); });
    // column ranges start at multiples of 32: on a Q8 block boundary in either layout
    return split(N, 32, threads, [&](int64_t n0, int64_t n1) { packed(0, M, n0, n1, A_packed); });
  }
  if (B.bf16 || B.q8) widen_b(B, K, N, widened);  // Eigen reads f32 only
  if (!A.col_major && !B.col_major) return gemm_eigen<RowMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  if (!A.col_major && B.col_major) return gemm_eigen<RowMat, ColMat>(M, N, K, A, B, C, ldc, threads);
  if (A.col_major && !B.col_major) return gemm_eigen<ColMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  return gemm_eigen<ColMat, ColMat>(M, N, K, A, B, C, ldc, threads);
}

bool gemm_grouped_dots(int64_t M, int64_t K, MatRef A, const GroupedProduct* parts, int count) {
  if (M == 0 || K == 0 || count == 0 || !few_rows(M)) return false;
  int64_t total = 0;
  for (int i = 0; i < count; ++i) {
    if (!parts[i].B.col_major) return false;
    total += parts[i].N;
  }
  dots_split(M, K, A, parts, count, in_parallel_region() ? 1 : gemm_threads(M, total, K));
  return true;
}

}  // namespace xla::detail
