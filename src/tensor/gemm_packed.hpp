// gemm_packed.hpp — the serial, cache-blocked f32 GEMM with an x86 SIMD micro-kernel.
// Available when compiled for AVX2+FMA or AVX-512 (XLA_NATIVE builds on x86); elsewhere
// gemm.cpp uses Eigen's kernel instead.
#pragma once
#include <cstdint>

#if defined(__x86_64__) && ((defined(__AVX2__) && defined(__FMA__)) || defined(__AVX512F__))
#define XLA_HAVE_PACKED_GEMM 1
#else
#define XLA_HAVE_PACKED_GEMM 0
#endif

namespace xla::detail {

#if XLA_HAVE_PACKED_GEMM
// C[M, N] = A[M, K] · B[K, N]; element (i, k) of A at A[i*a_rs + k*a_cs], (k, j) of B at
// B[k*b_rs + j*b_cs]; C row-major with leading dimension ldc, overwritten (or added to when
// accumulate). K > 0. When B_bf16 is not null, B is read from it (bf16 bits) instead of B.
void gemm_packed(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
                 int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, const uint16_t* B_bf16 = nullptr,
                 bool accumulate = false);
#endif

}  // namespace xla::detail
