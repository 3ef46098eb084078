// gemm.hpp — C[M, N] = A[M, K] · B[K, N] over raw f32 buffers, each operand row-major or
// column-major with a leading dimension (so transposed views need no copy).
// Kernels: the run-time chosen path's (cpu_kernels.hpp) packed GEMM and dot products, Eigen's
// serial GEMM on the baseline path; the split of C across cores is always ours.
#pragma once
#include <cstdint>

namespace xla::detail {

struct MatRef {
  const float* ptr = nullptr;
  int64_t ld = 0;          // leading dimension: distance between rows (row-major) or columns
  bool col_major = false;  // true: element (i, j) is at ptr[i + j * ld]
  // B only: the matrix is stored as bf16 here instead of ptr (weights kept in bf16 are
  // widened while packing, or on the fly in the dot products: half the bytes to stream) …
  const uint16_t* bf16 = nullptr;
  // … or as Q8 blocks: int8 values, the f16 scale of q8[i] at q8_scales[i / 32].
  const int8_t* q8 = nullptr;
  const uint16_t* q8_scales = nullptr;
  void advance(int64_t elements) {
    if (bf16) bf16 += elements;
    else if (q8) {
      q8 += elements;
      q8_scales += elements / 32;  // batch entries of a Q8 tensor start on block boundaries
    } else ptr += elements;
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

// One of several products C = A·B that share A (x·Wᵀ for the weights read from one input:
// a layer's q, k and v; GeGLU's gate and up): B column-major [K, N], C row-major [M, N].
struct GroupedProduct {
  MatRef B;
  int64_t N = 0;
  float* C = nullptr;
  int64_t ldc = 0;
};

// The products of `parts` when every one is a dot-product product (B column-major, few rows
// or row-invariant, as gemm() decides): one split of all their columns across the cores
// instead of a parallel region each, the same bits. Returns false, having done nothing,
// when they are not.
bool gemm_grouped_dots(int64_t M, int64_t K, MatRef A, const GroupedProduct* parts, int count);

// Up to this many rows a product is split across the cores by the bytes of B it reads, as a
// GEMV is: a few rows are bound by memory, not FLOPs.
constexpr int64_t kFewRowsByBytes = 8;

// Threads worth using for an M×N×K product (1 below a couple of MFLOP per thread).
int gemm_threads(int64_t M, int64_t N, int64_t K);

}  // namespace xla::detail
