// parallel.hpp — libxla's one way to run loops on several cores: OpenMP regions sized with
// a num_threads clause (the host's omp_set_num_threads is never touched), serial below a
// grain so that tiny ops pay no thread wake-up.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "xla/tensor.hpp"

namespace xla::detail {

// Splits [0, n) into at most num_threads() contiguous ranges of at least `grain` items and
// calls fn(begin, end) for each, in parallel when there is more than one range.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  int nt = int(std::min<int64_t>(num_threads(), max_chunks));
  if (nt <= 1 || omp_in_parallel()) {
    fn(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t begin = n * t / T, end = n * (t + 1) / T;
    if (begin < end) fn(begin, end);
  }
}

// Elements per thread below which elementwise work stays on one core.
constexpr int64_t kElementwiseGrain = 1 << 15;
// The same for work that costs several times a pass over memory per element (an exp, a
// square root and a division): waking a second core pays off sooner (the demo model's
// training step ran 4% faster with its softmax rows and Adam on this grain; 2-core Zen 5,
// 2026-12-05).
constexpr int64_t kHeavyElementGrain = 1 << 13;

}  // namespace xla::detail
