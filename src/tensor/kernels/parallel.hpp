// parallel.hpp — libxla's one way to run loops on several cores: regions on the library's
// own worker threads (thread_pool.cpp), as many as num_threads() allows, serial below a
// grain so that tiny ops pay no thread wake-up.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "xla/tensor.hpp"

namespace xla::detail {

using RegionJob = void (*)(void* ctx, int thread, int team);

// Calls job(ctx, t, team) for every t in [0, team), t = 0 on the calling thread, and returns
// when all have returned (rethrowing the first exception any threw). Inside a region, and
// while another thread's region holds the workers, the caller runs every part itself.
void run_region(int team, RegionJob job, void* ctx);

// Whether this thread is running part of a region (work started here would not get more
// cores).
bool in_parallel_region();

// run_region for a callable fn(t, team).
template <typename F>
void on_threads(int team, F&& fn) {
  using Fn = std::remove_reference_t<F>;
  RegionJob job = [](void* ctx, int t, int n) { (*static_cast<Fn*>(ctx))(t, n); };
  run_region(team, job, const_cast<void*>(static_cast<const void*>(&fn)));
}

// Splits [0, n) into at most num_threads() contiguous ranges of at least `grain` items and
// calls fn(begin, end) for each, in parallel when there is more than one range.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  int nt = int(std::min<int64_t>(num_threads(), max_chunks));
  if (nt <= 1 || in_parallel_region()) {
    fn(int64_t(0), n);
    return;
  }
  on_threads(nt, [&](int t, int T) {
    int64_t begin = n * t / T, end = n * (t + 1) / T;
    if (begin < end) fn(begin, end);
  });
}

// Elements per thread below which elementwise work stays on one core.
constexpr int64_t kElementwiseGrain = 1 << 15;
// The same for work that costs several times a pass over memory per element (an exp, a
// square root and a division): waking a second core pays off sooner (the demo model's
// training step ran 4% faster with its softmax rows and Adam on this grain; 2-core Zen 5,
// 2026-12-05).
constexpr int64_t kHeavyElementGrain = 1 << 13;

}  // namespace xla::detail
