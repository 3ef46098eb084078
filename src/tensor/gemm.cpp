// gemm.cpp — the f32 matrix-multiply entry: picks the kernel and splits C across cores.
// Split rule: cut the larger of M and N into one aligned block per thread (every thread
// then packs its own panels; nobody waits). Kernels: our packed SIMD GEMM (gemm_packed.cpp)
// where the CPU has AVX2/AVX-512, Eigen's serial GEMM elsewhere; M == 1 is a GEMV —
// memory-bound, so Eigen's GEMV streams each half of B on its own core.
#include "gemm.hpp"

#include <Eigen/Core>
#include <algorithm>

#include "gemm_packed.hpp"
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

}  // namespace

int gemm_threads(int64_t M, int64_t N, int64_t K) {
  double flops = 2.0 * double(M) * double(N) * double(K);
  int64_t by_work = int64_t(flops / 4e6) + 1;  // ~4 MFLOP a thread before a split pays
  return int(std::clamp<int64_t>(by_work, 1, num_threads()));
}

void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  if (omp_in_parallel()) threads = 1;
#if XLA_HAVE_PACKED_GEMM
  if (M > 1) {
    const int64_t a_rs = A.col_major ? 1 : A.ld, a_cs = A.col_major ? A.ld : 1;
    const int64_t b_rs = B.col_major ? 1 : B.ld, b_cs = B.col_major ? B.ld : 1;
    if (N >= M)
      split(N, 32, threads, [&](int64_t n0, int64_t n1) {
        gemm_packed(M, n1 - n0, K, A.ptr, a_rs, a_cs, B.ptr + n0 * b_cs, b_rs, b_cs, C + n0, ldc);
      });
    else
      split(M, 6, threads, [&](int64_t m0, int64_t m1) {
        gemm_packed(m1 - m0, N, K, A.ptr + m0 * a_rs, a_rs, a_cs, B.ptr, b_rs, b_cs, C + m0 * ldc, ldc);
      });
    return;
  }
#endif
  if (!A.col_major && !B.col_major) return gemm_eigen<RowMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  if (!A.col_major && B.col_major) return gemm_eigen<RowMat, ColMat>(M, N, K, A, B, C, ldc, threads);
  if (A.col_major && !B.col_major) return gemm_eigen<ColMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  return gemm_eigen<ColMat, ColMat>(M, N, K, A, B, C, ldc, threads);
}

}  // namespace xla::detail
