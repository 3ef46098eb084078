// gemm.hpp — C[M, N] = A[M, K] · B[K, N] over raw f32 buffers, each operand row-major or
// column-major with a leading dimension (so transposed views need no copy).
// Kernels: our packed SIMD GEMM (gemm_packed.cpp) on AVX2/AVX-512, Eigen's serial GEMM
// elsewhere, our GEMV for M = 1; the split of C across cores is always ours.
#pragma once
#include <cstdint>

namespace xla::detail {

struct MatRef {
  const float* ptr = nullptr;
  int64_t ld = 0;          // leading dimension: distance between rows (row-major) or columns
  bool col_major = false;  // true: element (i, j) is at ptr[i + j * ld]
  // B only: the matrix is stored as bf16 here instead of ptr (weights kept in bf16 are
  // widened while packing, or on the fly in the GEMV: half the bytes to stream).
  const uint16_t* bf16 = nullptr;
  void advance(int64_t elements) {
    if (bf16) bf16 += elements;
    else ptr += elements;
  }
};

// C is row-major with leading dimension ldc; it is overwritten, or added to when accumulate
// (C += A·B: a weight gradient summed over chunks needs no temporary). `threads` <= 1 stays serial.
void gemm(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc, int threads,
          bool accumulate = false);

// Row-invariant products, while an instance lives on the calling thread: when B is
// column-major (x·Wᵀ, every linear layer), each element of C is one dot product in the order
// the M = 1 kernel uses, so a row's bits never depend on how many rows share the product —
// what makes the serving engine's results independent of the batch. Costs speed for large M
// (no packing, no register blocking across rows).
class RowInvariantGemm {
 public:
  explicit RowInvariantGemm(bool on = true);
  ~RowInvariantGemm();
  RowInvariantGemm(const RowInvariantGemm&) = delete;
  RowInvariantGemm& operator=(const RowInvariantGemm&) = delete;

 private:
  bool prev_;
};

// Threads worth using for an M×N×K product (1 below a couple of MFLOP per thread).
int gemm_threads(int64_t M, int64_t N, int64_t K);

}  // namespace xla::detail
