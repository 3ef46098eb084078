// bench_const.cpp — what a constexpr ConstTensor result costs at run time.
// A [16, 16] @ [16, 16] product evaluated by the compiler (xla::matmul on ConstTensors) is
// just data in the binary: using it costs a copy (or nothing, for a folded scalar), while the
// same product computed at run time costs 16 * 16 * 16 multiply-adds every time.
// Linked with benchmark::benchmark_main (no main here).
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>

#include "xla/const_tensor.hpp"

namespace {

using Mat16 = xla::ConstTensor<float, 16, 16>;

// Small integers: every product and partial sum is exact in float, so the constexpr and
// the runtime products agree bit for bit whatever the compiler's evaluation order.
constexpr Mat16 kA = Mat16::generate([](int64_t i, int64_t j) { return float((i * 16 + j) % 7); });
constexpr Mat16 kB = Mat16::generate([](int64_t i, int64_t j) { return float((3 * i + j) % 5) - 2.f; });

constexpr Mat16 kProduct = xla::matmul(kA, kB);  // [16, 16], computed while compiling
constexpr float kProductSum = kProduct.sum();    // a single folded constant
static_assert(kProduct == xla::matmul(kB.transpose(), kA.transpose()).transpose());  // (AB)^T = B^T A^T

// The runtime baseline: c [16, 16] = a [16, 16] @ b [16, 16], row-major, i-k-j order.
void matmul16(const float* a, const float* b, float* c) {
  for (int i = 0; i < 16; ++i) {
    float* row = c + i * 16;
    for (int j = 0; j < 16; ++j) row[j] = 0.f;
    for (int k = 0; k < 16; ++k) {
      const float aik = a[i * 16 + k];
      for (int j = 0; j < 16; ++j) row[j] += aik * b[k * 16 + j];
    }
  }
}

// Computes the product every iteration. Escaping the input pointers with DoNotOptimize
// (its asm has a memory clobber) makes the compiler assume a and b may have changed, so it
// can neither fold the product at compile time nor hoist it out of the loop; escaping c and
// ClobberMemory make the stores to c observable.
void BM_RuntimeMatmul16(benchmark::State& state) {
  std::array<float, 256> a = kA.elems, b = kB.elems, c{};
  float* pa = a.data();
  float* pb = b.data();
  float* pc = c.data();
  for (auto _ : state) {
    benchmark::DoNotOptimize(pa);
    benchmark::DoNotOptimize(pb);
    matmul16(pa, pb, pc);
    benchmark::DoNotOptimize(pc);
    benchmark::ClobberMemory();
  }
  if (c != kProduct.elems) state.SkipWithError("the runtime product differs from the constexpr one");
}
BENCHMARK(BM_RuntimeMatmul16);

// Delivers the same [16, 16] result into the same buffer: a 1 KiB copy from read-only data.
void BM_ConstexprMatmul16(benchmark::State& state) {
  std::array<float, 256> c{};
  float* pc = c.data();
  for (auto _ : state) {
    c = kProduct.elems;
    benchmark::DoNotOptimize(pc);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ConstexprMatmul16);

// A scalar derived from the product (its sum) is an immediate in the code: ~0 ns.
void BM_ConstexprMatmul16Sum(benchmark::State& state) {
  for (auto _ : state) {
    float s = kProductSum;
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ConstexprMatmul16Sum);

}  // namespace
