// thread_pool.cpp — the worker threads behind parallel_for and the GEMM's split.
//
// A region hands each thread its part and waits for all of them, as an OpenMP parallel
// region does, but costs about a fifth as much: a decode step of the 270M shape runs 91 of
// them, most a few tens of µs of work, and libgomp's start and end of a region took
// 2.9–3.1 µs against 0.4–0.6 µs for this hand-off (2-core Zen 5, 2026-12-05).
//
// The caller posts a region by bumping one 32-bit word (sequence number and team size) and
// runs part 0 itself; each worker spins on that word for a while after its last region, then
// sleeps on it (a futex through std::atomic::wait), so back-to-back regions never sleep and
// an idle library holds no core. One region runs at a time: a second caller, from another
// thread while the workers are busy, runs its parts one after another itself — the same
// parts, so the same bits.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "parallel.hpp"

namespace xla::detail {
namespace {

thread_local bool t_in_region = false;  // set on workers for good, on a caller during its region

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// How long a worker keeps spinning after a region before it sleeps: longer than the serial
// stretches between the regions of one step, short enough that an idle library lets the
// core go almost at once.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

// Every part on this thread, in order (marked as inside a region, so that loops within stay
// serial).
void run_serially(int team, RegionJob job, void* ctx) {
  const bool outer = t_in_region;
  t_in_region = true;
  try {
    for (int t = 0; t < team; ++t) job(ctx, t, team);
  } catch (...) {
    t_in_region = outer;
    throw;
  }
  t_in_region = outer;
}

class Pool {
 public:
  void run(int team, RegionJob job, void* ctx) {
    std::unique_lock<std::mutex> lock(dispatch_, std::try_to_lock);
    // another thread's region holds the workers, the team is too large to post, or the
    // system will not start another thread (a process limit): this thread runs every part
    if (!lock.owns_lock() || uint32_t(team) > kTeamMask || !grow(team - 1)) return run_serially(team, job, ctx);
    job_ = job;
    ctx_ = ctx;
    error_ = nullptr;
    pending_.store(team - 1, std::memory_order_relaxed);
    sequence_ = (sequence_ + 1) & kSequenceMask;
    word_.store(sequence_ << kTeamBits | uint32_t(team), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) word_.notify_all();

    t_in_region = true;
    try {
      job(ctx, 0, team);
    } catch (...) {
      keep_error(std::current_exception());
    }
    t_in_region = false;
    // The workers' parts use ctx, which lives in the caller's frame: wait for all of them,
    // thrown or not. After a few µs of spinning, yield between looks: a worker may share
    // this core (a new thread starts on its creator's core until the scheduler moves it, and
    // there may be more threads than cores), and spinning would keep it from finishing.
    // Yielding only after 4096 pauses made each of a new pool's first regions cost ~280 µs
    // (2-core Zen 5, where a pause takes ~70 ns; 2026-12-05).
    for (int spins = 0; pending_.load(std::memory_order_acquire) > 0; ++spins)
      if (spins < 256)
        cpu_relax();
      else
        std::this_thread::yield();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static constexpr int kTeamBits = 11;  // teams up to 2047 (num_threads() stops at 1024)
  static constexpr uint32_t kTeamMask = (1u << kTeamBits) - 1;
  static constexpr uint32_t kSequenceMask = (1u << (32 - kTeamBits)) - 1;

  // Whether there are at least `workers` workers, starting the missing ones.
  bool grow(int workers) {
    try {
      while (int(threads_.size()) < workers) {
        const int index = int(threads_.size()) + 1;
        const uint32_t now = word_.load(std::memory_order_relaxed);
        threads_.emplace_back([this, index, now] { work(index, now); });
      }
    } catch (const std::system_error&) {
      return false;
    }
    return true;
  }

  void keep_error(std::exception_ptr e) {
    std::lock_guard<std::mutex> g(error_mutex_);
    if (!error_) error_ = e;
  }

  // Worker `index` (1-based: the caller is thread 0) runs its part of every region whose
  // team includes it.
  void work(int index, uint32_t seen) {
    t_in_region = true;  // whatever a worker runs is inside a region: nested loops stay serial
    for (;;) {
      const uint32_t word = wait_for_change(seen);
      seen = word;
      const int team = int(word & kTeamMask);
      if (index >= team) continue;
      try {
        job_(ctx_, index, team);
      } catch (...) {
        keep_error(std::current_exception());
      }
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  uint32_t wait_for_change(uint32_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
    for (int spins = 1;; ++spins) {
      const uint32_t word = word_.load(std::memory_order_acquire);
      if (word != seen) return word;
      cpu_relax();
      if (spins % 64 == 0 && std::chrono::steady_clock::now() > until) break;
    }
    // Announce the sleep before the last look: a caller that posts after that look sees the
    // sleeper and wakes it (both sides sequentially consistent).
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    uint32_t word;
    while ((word = word_.load(std::memory_order_seq_cst)) == seen) word_.wait(seen, std::memory_order_seq_cst);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return word;
  }

  std::mutex dispatch_;  // held by the caller for the whole of its region
  std::vector<std::thread> threads_;
  uint32_t sequence_ = 0;
  RegionJob job_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint32_t> word_{0};  // sequence << kTeamBits | team: the region on offer
  std::atomic<int> pending_{0};    // workers still in the region
  std::atomic<int> sleepers_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

// The pool is never destroyed: its workers may still be asleep in it when the process
// exits. A child of fork() has none of the parent's workers, so it starts a pool of its own.
Pool*& pool() {
  static Pool* p = [] {
    pthread_atfork(nullptr, nullptr, [] { pool() = new Pool; });
    return new Pool;
  }();
  return p;
}

}  // namespace

void run_region(int team, RegionJob job, void* ctx) {
  if (team <= 1) return job(ctx, 0, 1);
  if (t_in_region) return run_serially(team, job, ctx);  // nested
  pool()->run(team, job, ctx);
}

bool in_parallel_region() { return t_in_region; }

}  // namespace xla::detail
