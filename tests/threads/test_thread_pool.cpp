// test_thread_pool.cpp — the library's worker threads (parallel.hpp): every part of a region
// runs exactly once, on as many threads as asked; nested regions and a second caller run
// serially with the same parts; an exception in any part reaches the caller and leaves the
// pool working; a forked child gets workers of its own. Also built under ThreadSanitizer.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "parallel.hpp"
#include "xla/tensor.hpp"

namespace {

using xla::detail::in_parallel_region;
using xla::detail::on_threads;
using xla::detail::parallel_for;

struct ThreadsGuard {
  explicit ThreadsGuard(int n) { xla::set_num_threads(n); }
  ~ThreadsGuard() { xla::set_num_threads(0); }
};

TEST(ThreadPool, EveryPartRunsOnceOnItsOwnThread) {
  for (int team : {2, 3, 4}) {
    std::vector<std::atomic<int>> runs(static_cast<size_t>(team));
    std::mutex mu;
    std::set<std::thread::id> ids;
    for (int rep = 0; rep < 50; ++rep)
      on_threads(team, [&](int t, int T) {
        EXPECT_EQ(T, team);
        EXPECT_TRUE(in_parallel_region());
        runs[size_t(t)].fetch_add(1);
        std::lock_guard<std::mutex> g(mu);
        ids.insert(std::this_thread::get_id());
      });
    for (int t = 0; t < team; ++t) EXPECT_EQ(runs[size_t(t)].load(), 50) << "team " << team << " part " << t;
    EXPECT_EQ(int(ids.size()), team) << "a team of " << team << " ran on " << ids.size() << " threads";
    EXPECT_TRUE(ids.count(std::this_thread::get_id())) << "part 0 runs on the caller";
  }
  EXPECT_FALSE(in_parallel_region());
}

TEST(ThreadPool, ParallelForCoversEachIndexOnce) {
  ThreadsGuard threads(3);
  for (int64_t n : {1, 2, 3, 7, 64, 1000, 100003}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      ASSERT_LT(b, e);
      for (int64_t i = b; i < e; ++i) seen[size_t(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[size_t(i)].load(), 1) << "n " << n << " index " << i;
  }
}

TEST(ThreadPool, NestedRegionsRunSeriallyOnTheirThread) {
  std::atomic<int> inner{0};
  on_threads(2, [&](int, int) {
    const auto me = std::this_thread::get_id();
    on_threads(3, [&](int, int T) {
      EXPECT_EQ(T, 3);
      EXPECT_EQ(std::this_thread::get_id(), me);
      inner.fetch_add(1);
    });
  });
  EXPECT_EQ(inner.load(), 6);
}

TEST(ThreadPool, TwoCallersAtOnceEachGetEveryPart) {
  ThreadsGuard threads(2);
  constexpr int64_t n = 1 << 12;
  // Each region's parts must all have run, once, when it returns, whoever else is calling.
  auto calls = [&](std::vector<float>& out, float k, int& wrong) {
    for (int rep = 0; rep < 3000; ++rep) {
      std::atomic<int> parts[2] = {0, 0};
      on_threads(2, [&](int t, int T) {
        for (int64_t i = n * t / T; i < n * (t + 1) / T; ++i) out[size_t(i)] = k * float(i) + float(rep);
        parts[t].fetch_add(1);
      });
      wrong += parts[0].load() != 1 || parts[1].load() != 1 || out[0] != float(rep) ||
               out[n - 1] != k * float(n - 1) + float(rep);
    }
  };
  std::vector<float> a(n), b(n);
  int wrong_a = 0, wrong_b = 0;
  std::thread other([&] { calls(b, 3.f, wrong_b); });
  calls(a, 2.f, wrong_a);
  other.join();
  EXPECT_EQ(wrong_a, 0);
  EXPECT_EQ(wrong_b, 0);
}

TEST(ThreadPool, AnExceptionInAWorkerReachesTheCaller) {
  for (int thrower : {0, 1}) {
    std::atomic<int> finished{0};
    try {
      on_threads(2, [&](int t, int) {
        if (t == thrower) throw std::runtime_error("part " + std::to_string(t));
        finished.fetch_add(1);
      });
      FAIL() << "no exception from part " << thrower;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "part " + std::to_string(thrower));
    }
    EXPECT_EQ(finished.load(), 1) << "the other part ran to its end before the caller went on";
  }
  std::atomic<int> after{0};
  on_threads(2, [&](int, int) { after.fetch_add(1); });
  EXPECT_EQ(after.load(), 2);
}

TEST(ThreadPool, WorkersAfterLongIdleWakeUp) {
  // past the spin: the workers are asleep and must be woken for the next region
  for (int rep = 0; rep < 3; ++rep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::mutex mu;
    std::set<std::thread::id> ids;
    on_threads(2, [&](int, int) {
      std::lock_guard<std::mutex> g(mu);
      ids.insert(std::this_thread::get_id());
    });
    EXPECT_EQ(ids.size(), 2u);
  }
}

TEST(ThreadPool, AForkedChildRunsRegionsOnWorkersOfItsOwn) {
  on_threads(2, [](int, int) {});  // the parent's workers exist before the fork
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);  // a child whose regions wait for workers it does not have dies, not hangs
    std::mutex mu;
    std::set<std::thread::id> ids;
    for (int rep = 0; rep < 50; ++rep)
      on_threads(2, [&](int, int) {
        std::lock_guard<std::mutex> g(mu);
        ids.insert(std::this_thread::get_id());
      });
    _exit(ids.size() == 2 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's regions did not run on two threads";
}

}  // namespace

// A process that may not start another thread (here: no address space left for a thread's
// stack) still runs every part of a region, on the calling thread. Not under ThreadSanitizer,
// whose runtime needs address space of its own.
TEST(ThreadPoolLimits, NoThreadToStartRunsEveryPartOnTheCaller) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    if (pages <= 0) _exit(2);
    const rlim_t now = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE));
    const rlimit limit{now + (1 << 20), now + (1 << 20)};  // 1 MiB more: less than one thread's stack
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
    int parts = 0;
    bool caller_only = true;
    const auto me = std::this_thread::get_id();
    // more workers than the stacks the C library keeps from the parent's threads
    on_threads(64, [&](int, int) {
      ++parts;  // one thread: no race
      caller_only = caller_only && std::this_thread::get_id() == me;
    });
    _exit(parts == 64 && caller_only ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died (signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: parts missing or run elsewhere; 2, 3: the limit could not be set";
}
