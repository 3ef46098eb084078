// read_bandwidth.hpp — the read bandwidth from memory, the ceiling a decode step is read
// against: each thread sums its own contiguous share of a 256 MiB array (far beyond any
// cache), which it also wrote first. The array stays allocated, so a benchmark can measure
// again between its turns, in the same minutes as its own figures (a shared machine's
// bandwidth drifts by up to 2× within minutes). The threads are plain threads that end with
// each sweep: an OpenMP team would go on spinning for a while after it, on the cores the
// library's own threads are about to use.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace bench {

// Sums x[lo, hi) with eight independent 8-wide accumulators: the loads, not the adds, set the pace.
#if defined(__x86_64__)
__attribute__((target("avx2"))) inline float sum_range(const float* x, size_t lo, size_t hi) {
  __m256 acc[8];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (size_t i = lo; i + 64 <= hi; i += 64)
    for (int k = 0; k < 8; ++k) acc[k] = _mm256_add_ps(acc[k], _mm256_load_ps(x + i + 8 * k));
  for (int k = 1; k < 8; ++k) acc[0] = _mm256_add_ps(acc[0], acc[k]);
  return _mm256_cvtss_f32(acc[0]);
}
#else
inline float sum_range(const float* x, size_t lo, size_t hi) {
  float acc[8] = {};
  for (size_t i = lo; i + 8 <= hi; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += x[i + size_t(k)];
  return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}
#endif

class ReadBandwidth {
 public:
  // The array, written by `threads` threads (each its share). Throws std::bad_alloc.
  explicit ReadBandwidth(int threads) : threads_(std::max(1, threads)) {
    x_.reset(static_cast<float*>(std::aligned_alloc(64, kFloats * sizeof(float))));
    if (!x_) throw std::bad_alloc();
    const size_t share = share_of(threads_);
    float* x = x_.get();
    on_threads(threads_, [=](size_t t) {
      for (size_t i = t * share; i < (t + 1) * share; ++i) x[i] = float(i & 15);
    });
  }

  // GB/s with `threads` threads (at most those of the constructor): the best of `sweeps`
  // sweeps, since a shared machine is only ever slower than its ceiling.
  double gbs(int threads, int sweeps) const {
    threads = std::clamp(threads, 1, threads_);
    const size_t share = share_of(threads);
    const float* x = x_.get();
    double best = 1e30;
    for (int r = 0; r < sweeps; ++r) {
      std::vector<float> sums(size_t(threads), 0.f);
      const auto t0 = std::chrono::steady_clock::now();
      on_threads(threads, [&](size_t t) { sums[t] = sum_range(x, t * share, (t + 1) * share); });
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      for (float v : sums) sink_ = sink_ + v;
    }
    return double(share * size_t(threads) * sizeof(float)) / best / 1e9;
  }

 private:
  static constexpr size_t kFloats = size_t(256) << 20 >> 2;  // 256 MiB
  static size_t share_of(int threads) { return kFloats / size_t(threads) / 64 * 64; }
  // work(t) for t < threads: t = 0 on the calling thread, each other on a thread of its own
  template <typename Work>
  static void on_threads(int threads, const Work& work) {
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t) others.emplace_back([&work, t] { work(size_t(t)); });
    work(0);
    for (std::thread& th : others) th.join();
  }

  int threads_;
  std::unique_ptr<float, decltype(&std::free)> x_{nullptr, &std::free};
  mutable volatile float sink_ = 0;  // the sums land here, so the compiler cannot drop the loops
};

}  // namespace bench
