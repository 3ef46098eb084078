// bench_roofline.cpp — this machine's ceilings, measured now: the f32 FMA peak, the bf16
// peak (AVX512_BF16 dot products, where the CPU has them) and the read bandwidth from memory.
// `make bench` runs it first and hands its figures to the other benchmarks, whose GFLOP/s
// and GB/s mean something only beside these: a shared machine's speed drifts, so the
// ceilings must come from the same sitting, with the thread count libxla uses.
//
//   bench_roofline [--context FILE]   a table on stdout; FILE gets the same figures as
//                                     key=value pairs for Google Benchmark's --benchmark_context
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <string>

#include "read_bandwidth.hpp"
#include "xla/tensor.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

// Best of `reps` timings of f() in seconds: a shared machine is only ever slower than its ceiling.
template <class F>
double best_seconds(int reps, F f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// Independent accumulator chains per thread: enough to hide an FMA's latency (4-5 cycles) on
// two FMA ports, so the loop is bound by issue rate, not by the dependency between steps.
constexpr int kChains = 12;
constexpr long kSteps = 100'000'000;  // per thread: ~0.2 s at two FMAs per cycle

volatile float g_sink;  // results land here, so the compiler cannot drop the loops

// Runs loop() on every thread at once; each returns its FLOP count. The kernels are separate
// functions, called through a pointer: an OpenMP region or a lambda would not inherit their
// target attributes (AVX-512 on a build for AVX2).
double gflops(int threads, double (*loop)(int)) {
  double flops = 0;
  const double s = best_seconds(3, [&] {
    double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += loop(omp_get_thread_num());
    flops = total;
  });
  return flops / s / 1e9;
}

#if defined(__x86_64__)
// f32: acc = acc * a + b on 8 lanes; 2 FLOPs per lane per step.
__attribute__((target("avx2,fma"))) double fma_avx2(int seed) {
  __m256 acc[kChains];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(float(c + seed));
  for (long i = 0; i < kSteps; ++i)
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  for (int c = 1; c < kChains; ++c) acc[0] = _mm256_add_ps(acc[0], acc[c]);
  g_sink = _mm256_cvtss_f32(acc[0]);
  return double(kSteps) * kChains * 8 * 2;
}

// The same on 16 lanes (AVX-512).
__attribute__((target("avx512f"))) double fma_avx512(int seed) {
  __m512 acc[kChains];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c + seed));
  for (long i = 0; i < kSteps; ++i)
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  for (int c = 1; c < kChains; ++c) acc[0] = _mm512_add_ps(acc[0], acc[c]);
  g_sink = _mm512_cvtss_f32(acc[0]);
  return double(kSteps) * kChains * 16 * 2;
}

// bf16: vdpbf16ps adds two bf16 products into each of 16 f32 lanes: 4 FLOPs per lane per step.
__attribute__((target("avx512f,avx512bf16"))) double dot_bf16(int seed) {
  __m512 acc[kChains];
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(3e-3f), _mm512_set1_ps(4e-3f));
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c + seed));
  for (long i = 0; i < kSteps; ++i)
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], x, y);
  for (int c = 1; c < kChains; ++c) acc[0] = _mm512_add_ps(acc[0], acc[c]);
  g_sink = _mm512_cvtss_f32(acc[0]);
  return double(kSteps) * kChains * 16 * 4;
}
#endif

// The CPU's name as /proc/cpuinfo gives it (a virtual machine may hide the exact model).
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      std::string name = line.substr(line.find(':') + 1);
      name.erase(0, name.find_first_not_of(' '));
      std::replace(name.begin(), name.end(), ',', ' ');  // the context is comma-separated
      return name;
    }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  const char* context_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--context") == 0 && i + 1 < argc) {
      context_path = argv[++i];
    } else {
      std::fprintf(stderr, "bench_roofline: unknown argument '%s' (usage: bench_roofline [--context FILE])\n", argv[i]);
      return 2;
    }
  }
  const int threads = xla::num_threads();
  std::string isa = "none", flags;
  double fma1 = 0, fma = 0, bf16 = 0;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool has_bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  flags = std::string(avx2 ? "avx2 fma" : "no avx2/fma") + (avx512 ? " avx512f" : " no-avx512") +
          (has_bf16 ? " avx512_bf16" : " no-avx512_bf16");
  if (avx512) {
    isa = "avx512";
    fma1 = gflops(1, fma_avx512);
    fma = gflops(threads, fma_avx512);
  } else if (avx2) {
    isa = "avx2";
    fma1 = gflops(1, fma_avx2);
    fma = gflops(threads, fma_avx2);
  }
  if (has_bf16) bf16 = gflops(threads, dot_bf16);
#else
  flags = "not x86-64: FMA and bf16 peaks not measured";
#endif

  double read1 = 0, read = 0;
  try {
    const bench::ReadBandwidth memory(threads);
    read1 = memory.gbs(1, 10);
    read = memory.gbs(threads, 10);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "bench_roofline: cannot allocate 256 MiB for the bandwidth test\n");
    return 1;
  }

  const std::string cpu = cpu_model();
  char bf16_text[160];
  if (bf16 > 0)
    std::snprintf(bf16_text, sizeof bf16_text, "%.1f GFLOP/s on %d threads (AVX512_BF16 dot products)", bf16, threads);
  else
    std::snprintf(bf16_text, sizeof bf16_text, "none: no AVX512_BF16 (libxla widens bf16 weights to f32: the f32 peak applies)");
  std::printf("ceilings of this machine (bench_roofline, measured now)\n");
  std::printf("  cpu             %s, %d threads, %s\n", cpu.c_str(), threads, flags.c_str());
  std::printf("  f32 FMA peak    %.1f GFLOP/s on 1 thread, %.1f on %d (%s)\n", fma1, fma, threads, isa.c_str());
  std::printf("  bf16 peak       %s\n", bf16_text);
  std::printf("  read bandwidth  %.1f GB/s on 1 thread, %.1f on %d (sum over 256 MiB)\n", read1, read, threads);
  if (fma > 0) std::printf("  ridge point     %.1f FLOP per byte read (f32 peak / bandwidth)\n", fma / read);
  std::fflush(stdout);

  if (context_path) {
    char bf16_value[32] = "none";
    if (bf16 > 0) std::snprintf(bf16_value, sizeof bf16_value, "%.1f", bf16);
    std::ofstream out(context_path);
    out << std::fixed << std::setprecision(1) << "cpu=" << cpu << ",cpu_flags=" << flags << ",threads=" << threads << ",roof_f32_fma_gflops=" << fma
        << ",roof_bf16_gflops=" << bf16_value << ",roof_read_gbs=" << read << "\n";
    if (!out) {
      std::fprintf(stderr, "bench_roofline: cannot write %s\n", context_path);
      return 1;
    }
  }
  return 0;
}
