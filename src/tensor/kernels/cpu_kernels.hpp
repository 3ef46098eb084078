// cpu_kernels.hpp — the SIMD kernels of one instruction set, and the choice of set at run time.
// libxla.so is built for the x86-64 baseline; the few loops where the instruction set decides
// the speed (dot products against weights, the packed GEMM's micro-kernel, exp and tanh, the
// fused loops' arithmetic, RMSNorm's rows, GELU's slope) are compiled once per instruction
// set (isa_*.cpp, each with its own -m flags) into a table of function pointers, and the
// table of the best set this CPU has is chosen once, from cpuid. XLA_CPU (environment: baseline, avx2, avx512, avx512bf16)
// forces a lower one.
// Each path sums in its own fixed order: results are deterministic per path, not across them
// (RMSNorm's rows and GELU's slope round as the baseline does: the same bits on every path).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xla::detail {

// Q8: int8 weights in blocks of 32 consecutive values, each block with an f16 scale d:
// value = d · q, q in [-127, 127], d = max|w| / 127 over the block (symmetric, no zero point).
constexpr int64_t kQ8Block = 32;

// Where a kernel reads B (column-major, "weight rows"): row n of K values at base + n·ld.
// Exactly one of f32, bf16, q8 is set. For q8, the scale of the value at q8[i] is
// q8_scales[i / 32] (i counted from q8): rows start on block boundaries.
struct WeightRows {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  const int8_t* q8 = nullptr;
  const uint16_t* q8_scales = nullptr;  // f16 bits
  int64_t ld = 0;
};

// The four arithmetic ops, each exactly rounded: any loop, any width, gives the same bits.
enum class Arith : int { Add, Sub, Mul, Div };

struct CpuKernels {
  const char* name;  // "baseline", "avx2", "avx512", "avx512bf16"
  // C[m, n] = Σ_k a[m·lda + k] · B(n, k) for m < M, n0 <= n < n1. Each element is one dot
  // product in an order fixed by K alone: the same bits whatever M and the column range.
  // Against q8 rows, each row of a is cut into 16-bit blocks first (isa_kernels.inc): a
  // within 2^-16 of each block's largest value.
  void (*dots)(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const WeightRows& B,
               float* C, int64_t ldc);
  // C[m, n] = Σ_k a[m·lda + k] · B[k·ldb + n] for m < M, n0 <= n < n1, B row-major f32 or bf16
  // (exactly one set): a few rows against a matrix read once, no packing. Each element sums
  // over k in order: the same bits whatever M and the column range.
  void (*rows_times_matrix)(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                            const float* B_f32, const uint16_t* B_bf16, int64_t ldb, float* C, int64_t ldc);
  // The serial packed GEMM (null on the baseline path: Eigen's kernel runs instead).
  // C[M, N] (+)= A · B; element (i, k) of A at A[i·a_rs + k·a_cs], (k, j) of B at B[k·b_rs + j·b_cs]
  // in whichever of B_f32, B_bf16, B_q8 (+ scales, indexed by the value's offset from B_q8 / 32) is set.
  // A_packed: null, or all of A packed beforehand by pack_a_part (threads splitting N then
  // share one packing instead of each packing all of A).
  void (*gemm_packed)(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
                      const float* A_packed, const float* B_f32, const uint16_t* B_bf16, const int8_t* B_q8,
                      const uint16_t* B_q8_scales, int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, bool accumulate);
  // The floats that all of an M × K A (k apart by a_cs) takes packed for gemm_packed against
  // a B of this storage (bf16 or not), 0 where the kernel reads A in place; and part `part`
  // of `parts` of packing it (rows split evenly).
  size_t (*packed_a_floats)(int64_t M, int64_t K, int64_t a_cs, bool b_bf16);
  void (*pack_a_part)(int64_t M, int64_t K, const float* A, int64_t a_rs, int64_t a_cs, bool b_bf16, int part,
                      int parts, float* out);
  // y[i] = tanh(x[i]) within 2 ulp, and GELU's tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  // as x·σ(2u) (one exp, one division), for i < n (y may be x). The same bits on every path with FMA.
  void (*tanh_f32)(const float* x, float* y, int64_t n);
  void (*gelu_tanh_f32)(const float* x, float* y, int64_t n);
  // out[i] = a[i] op b[i] for i < n, where a (or b, or both) is the one value a[0] (b[0])
  // when a_one (b_one) is set; out may be a or b.
  void (*arith_f32)(Arith op, const float* a, bool a_one, const float* b, bool b_one, float* out, int64_t n);
  // The same values, written where the path has vector stores with non-temporal stores (no
  // read of each line first, and the lines not kept in the cache): for results larger than
  // the caches. Weakly ordered: the writing thread calls stream_fence before another reads.
  void (*arith_f32_streaming)(Arith op, const float* a, bool a_one, const float* b, bool b_one, float* out, int64_t n);
  void (*stream_fence)();
  // y[i] = exp(x[i]) within 2 ulp, 0 below −87.33654 (under FLT_MIN), for i < n (y may be x).
  void (*exp_f32)(const float* x, float* y, int64_t n);
  // RMSNorm over `rows` rows of C values (src/nn/fused.cpp): rstd = 1/√(Σ x²/C + eps) with the
  // sum in double over 8 lanes, y = (x·rstd)·(1 + w) (y or rstd may be null); its backward
  // given g = dL/dy: dx = rstd·g·(1 + w) − x·rstd³·Σ g·(1 + w)·x / C, dw_part += g·x·rstd
  // row after row (dx or dw_part may be null). The baseline's bits on every path.
  void (*rms_norm_rows)(int64_t rows, int64_t C, const float* x, const float* w, float eps, float* y, float* rstd);
  void (*rms_norm_grad_rows)(int64_t rows, int64_t C, const float* x, const float* w, const float* rstd, const float* g,
                             float* dx, float* dw_part);
  // out[i] = d gelu_tanh / dx at x[i] (out must not overlap x): ½(1 + t) + ½x(1 − t²)k(1 + 3cx²)
  // with t = tanh(k(x + cx³)) by tanh_f32, each other operation rounded as on the baseline.
  void (*gelu_tanh_slope_f32)(const float* x, float* out, int64_t n);
};

// The table in use: the best path this CPU runs, or the one XLA_CPU asks for (never above
// what the CPU has; an unknown or unavailable request is reported once on stderr).
const CpuKernels& cpu_kernels();
// The paths this CPU can run, lowest first ("baseline" always).
std::vector<std::string> available_cpu_paths();
// Switches the path for the whole process (tests run each numeric suite on every path).
// Throws Status::InvalidArg naming the paths this CPU has when `name` is not one of them.
void use_cpu_path(const std::string& name);

// The per-path tables (isa_*.cpp). Null where this build has no such path.
namespace isa_baseline { const CpuKernels& table(); }
namespace isa_avx2 { const CpuKernels& table(); }
namespace isa_avx512 { const CpuKernels& table(); }
namespace isa_avx512bf16 { const CpuKernels& table(); }

}  // namespace xla::detail
