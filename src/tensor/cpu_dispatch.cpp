// cpu_dispatch.cpp — which kernel table runs: the best instruction set this CPU (and its
// operating system: libgcc's cpuid checks the saved register state) supports, unless the
// XLA_CPU environment variable asks for a lower one. Decided once, on first use.
#include <cpuid.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cpu_kernels.hpp"
#include "xla/error.hpp"

namespace xla::detail {
namespace {

struct Path {
  const char* name;
  const CpuKernels& (*table)();
  bool (*supported)();
};

bool has_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
bool avx2_ok() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c(); }
bool avx512_ok() {
  return avx2_ok() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
bool avx512bf16_ok() { return avx512_ok() && __builtin_cpu_supports("avx512bf16"); }
bool always() { return true; }

// Lowest first.
constexpr Path kPaths[] = {
    {"baseline", &isa_baseline::table, &always},
    {"avx2", &isa_avx2::table, &avx2_ok},
    {"avx512", &isa_avx512::table, &avx512_ok},
    {"avx512bf16", &isa_avx512bf16::table, &avx512bf16_ok},
};

const CpuKernels* best_available() {
  const CpuKernels* best = nullptr;
  for (const Path& p : kPaths)
    if (p.supported()) best = &p.table();
  return best;
}

const CpuKernels* choose() {
  __builtin_cpu_init();
  const CpuKernels* best = best_available();
  const char* want = std::getenv("XLA_CPU");
  if (!want || !*want) return best;
  for (const Path& p : kPaths)
    if (want == std::string(p.name)) {
      if (p.supported()) return &p.table();
      std::fprintf(stderr, "libxla: XLA_CPU=%s: this CPU lacks that instruction set; using %s\n", want, best->name);
      return best;
    }
  std::fprintf(stderr, "libxla: XLA_CPU=%s is not one of baseline, avx2, avx512, avx512bf16; using %s\n", want,
               best->name);
  return best;
}

std::atomic<const CpuKernels*> g_kernels{nullptr};

}  // namespace

const CpuKernels& cpu_kernels() {
  const CpuKernels* k = g_kernels.load(std::memory_order_acquire);
  if (!k) {
    static const CpuKernels* chosen = choose();  // once, thread-safe
    const CpuKernels* expected = nullptr;
    g_kernels.compare_exchange_strong(expected, chosen, std::memory_order_acq_rel);
    k = g_kernels.load(std::memory_order_acquire);
  }
  return *k;
}

std::vector<std::string> available_cpu_paths() {
  __builtin_cpu_init();
  std::vector<std::string> out;
  for (const Path& p : kPaths)
    if (p.supported()) out.emplace_back(p.name);
  return out;
}

void use_cpu_path(const std::string& name) {
  __builtin_cpu_init();
  std::string have;
  for (const Path& p : kPaths) {
    if (!p.supported()) continue;
    if (name == p.name) {
      cpu_kernels();  // the environment's choice is made (and reported) before it is replaced
      g_kernels.store(&p.table(), std::memory_order_release);
      return;
    }
    have += have.empty() ? p.name : std::string(", ") + p.name;
  }
  fail(Status::InvalidArg, "use_cpu_path", "'" + name + "' is not a kernel path this CPU runs (it has: " + have + ")");
}

}  // namespace xla::detail
