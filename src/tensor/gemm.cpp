// gemm.cpp — the f32 matrix-multiply kernel: our OpenMP split over Eigen's serial GEMM.
// Split rule: cut the larger of M and N into one block per thread (blocks of N aligned to
// 16 columns so every thread's panel starts on a cache line). M == 1 is a GEMV over N —
// the decode/LM-head case, memory-bound, so both cores must stream their half of B.
#include "gemm.hpp"

#include <Eigen/Core>
#include <algorithm>

#include "parallel.hpp"

namespace xla::detail {
namespace {

using Stride = Eigen::OuterStride<>;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <typename M> using CMap = Eigen::Map<const M, 0, Stride>;

template <typename AM, typename BM>
void gemm_typed(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads) {
  CMap<AM> a(A.ptr, M, K, Stride(A.ld));
  CMap<BM> b(B.ptr, K, N, Stride(B.ld));
  Eigen::Map<RowMat, 0, Stride> c(C, M, N, Stride(ldc));
  if (K == 0) {
    c.setZero();
    return;
  }
  if (threads <= 1) {
    c.noalias() = a * b;
    return;
  }
  const bool split_n = N >= M;
  const int64_t extent = split_n ? N : M;
  const int64_t align = split_n ? 16 : 8;
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t units = (extent + align - 1) / align;
    int64_t b0 = std::min(extent, units * t / T * align), b1 = std::min(extent, units * (t + 1) / T * align);
    if (b1 > b0) {
      if (split_n)
        c.middleCols(b0, b1 - b0).noalias() = a * b.middleCols(b0, b1 - b0);
      else
        c.middleRows(b0, b1 - b0).noalias() = a.middleRows(b0, b1 - b0) * b;
    }
  }
}

}  // namespace

int gemm_threads(int64_t M, int64_t N, int64_t K) {
  double flops = 2.0 * double(M) * double(N) * double(K);
  int64_t by_work = int64_t(flops / 4e6) + 1;  // ~4 MFLOP a thread before a split pays
  return int(std::clamp<int64_t>(by_work, 1, num_threads()));
}

void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads) {
  if (M == 0 || N == 0) return;
  if (omp_in_parallel()) threads = 1;
  if (!A.col_major && !B.col_major) return gemm_typed<RowMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  if (!A.col_major && B.col_major) return gemm_typed<RowMat, ColMat>(M, N, K, A, B, C, ldc, threads);
  if (A.col_major && !B.col_major) return gemm_typed<ColMat, RowMat>(M, N, K, A, B, C, ldc, threads);
  return gemm_typed<ColMat, ColMat>(M, N, K, A, B, C, ldc, threads);
}

}  // namespace xla::detail
