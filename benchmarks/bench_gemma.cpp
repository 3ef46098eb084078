// bench_gemma.cpp — Gemma 3 270M (../shared/bench/gemma3-270m.config.json, random weights):
// prefill of 512 tokens and decode of 64 tokens after a 128-token prompt, f32, bf16 and q8
// weights, in tokens/s, and the bf16 prefill against f32 in turns. On the 2-core Zen 4 (AVX-512, bf16) of
// ../shared/bench/README.md, PyTorch 1.13: prefill ~240–480, decode ~11 (f32) / ~17–22 (bf16); llama.cpp: prefill ~555
// / ~950, decode ~25–33 / ~50–60. Run bench_roofline beside it (make bench).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include "bench_common.hpp"
#include "read_bandwidth.hpp"
#include "xla/gemma.hpp"
#include "xla/generate.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "../shared"
#endif

namespace {

xla::GemmaModel& model(xla::DType dtype) {
  static std::map<int, xla::GemmaModel> models;
  auto it = models.find(int(dtype));
  if (it == models.end()) {
    std::ifstream f(std::string(XLA_SHARED_DIR) + "/bench/gemma3-270m.config.json");
    std::stringstream ss;
    ss << f.rdbuf();
    it = models.emplace(int(dtype), xla::GemmaModel::create(xla::GemmaConfig::from_json(ss.str()), 1, dtype)).first;
  }
  return it->second;
}

std::vector<int32_t> prompt(int64_t n) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919 + 2) % 262144);
  return ids;
}

// One untimed prefill first, as for decode below: the first after loading also faults in
// the pages of the activations and the cache that every later one reuses.
void BM_Prefill512(benchmark::State& st) {
  const xla::GemmaModel& m = model(xla::DType(st.range(0)));
  std::vector<int32_t> ids = prompt(512);
  xla::NoGradGuard no_grad;
  auto prefill = [&] {
    xla::KVCache cache = m.new_cache();
    // as a generator prefills: the cache filled, logits of the last position only
    benchmark::DoNotOptimize(m.forward(xla::Tensor::from_data(ids.data(), {1, 512}, xla::DType::I32), &cache, nullptr, true));
  };
  prefill();
  for (auto _ : st) prefill();
  st.counters["tokens/s"] = benchmark::Counter(512.0 * double(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Prefill512)->Arg(int(xla::DType::F32))->Arg(int(xla::DType::BF16))->Arg(int(xla::DType::Q8))->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

// The bf16 prefill's speed-up over f32, the two models taking turns: the machine's speed
// drifts by up to 2× within minutes, and two benchmarks run minutes apart measure that drift
// along with the ratio. Counters: each dtype's median tokens/s and the median of the turns'
// ratios.
void BM_Prefill512Bf16OverF32Alternating(benchmark::State& st) {
  const xla::GemmaModel& f32 = model(xla::DType::F32);
  const xla::GemmaModel& bf16 = model(xla::DType::BF16);
  std::vector<int32_t> ids = prompt(512);
  xla::NoGradGuard no_grad;
  auto seconds = [&](const xla::GemmaModel& m) {
    xla::KVCache cache = m.new_cache();
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(
        m.forward(xla::Tensor::from_data(ids.data(), {1, 512}, xla::DType::I32), &cache, nullptr, true));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  seconds(f32), seconds(bf16);  // page faults in the activations and caches, once
  std::vector<double> f32_rate, bf16_rate, ratio;
  for (auto _ : st) {
    const double a = seconds(f32), b = seconds(bf16);
    f32_rate.push_back(512 / a);
    bf16_rate.push_back(512 / b);
    ratio.push_back(a / b);
  }
  st.counters["f32_tok_s"] = bench::median(f32_rate);
  st.counters["bf16_tok_s"] = bench::median(bf16_rate);
  st.counters["bf16_over_f32"] = bench::median(ratio);
}
BENCHMARK(BM_Prefill512Bf16OverF32Alternating)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(9);

// 64 greedy tokens after a 128-token prompt; the prefill is outside the timed region.
// compiled: the session's steps replay a compiled graph (SessionOptions::compile). One
// untimed generation first: the first after loading also pays for page faults in buffers
// every later one reuses (4–13% of its time with q8 weights on Zen 5, 2026-12-05).
void BM_Decode64(benchmark::State& st) {
  const xla::GemmaModel& m = model(xla::DType(st.range(0)));
  xla::GenerateOptions opts;
  opts.max_new_tokens = 64;
  {
    xla::Session warm(m, {.compile = st.range(1) != 0});
    warm.feed(prompt(128));
    benchmark::DoNotOptimize(warm.generate({}, opts));
  }
  for (auto _ : st) {
    st.PauseTiming();
    xla::Session s(m, {.compile = st.range(1) != 0});
    s.feed(prompt(128));
    st.ResumeTiming();
    benchmark::DoNotOptimize(s.generate({}, opts));
  }
  st.counters["tokens/s"] = benchmark::Counter(64.0 * double(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Decode64)
    ->ArgNames({"dtype", "compiled"})
    ->ArgsProduct({{int(xla::DType::F32), int(xla::DType::BF16), int(xla::DType::Q8)}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

// Decode against its bound, both measured in the same minutes: each turn reads 256 MiB
// (read_bandwidth.hpp, as bench_roofline does), generates 16 greedy tokens (compiled steps,
// after a 128-token prompt), and reads again. The turn's fraction is its tokens/s over the
// bound (the mean of the two readings ÷ the weight bytes a token reads). Separate
// benchmarks minutes apart measure the machine's drift along with the fraction. Counters:
// the median fraction and the lowest and highest, the median tokens/s and GB/s.
void BM_DecodeOverBoundAlternating(benchmark::State& st) {
  xla::GemmaModel& m = model(xla::DType(st.range(0)));
  static const bench::ReadBandwidth memory(xla::num_threads());
  const double bytes = bench::weight_bytes(m);
  xla::Session s(m, {.compile = true});
  s.feed(prompt(128));
  xla::GenerateOptions opts;
  opts.max_new_tokens = 16;
  benchmark::DoNotOptimize(s.generate({}, opts));  // captures the step's graph (span 256)
  std::vector<double> fraction, rate, read;
  for (auto _ : st) {
    const double before = memory.gbs(xla::num_threads(), 3);
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(s.generate({}, opts));
    const double tokens_per_s = 16 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gbs = (before + memory.gbs(xla::num_threads(), 3)) / 2;
    fraction.push_back(tokens_per_s / (gbs * 1e9 / bytes));
    rate.push_back(tokens_per_s);
    read.push_back(gbs);
  }
  st.counters["of_bound"] = bench::median(fraction);
  st.counters["of_bound_lowest"] = *std::min_element(fraction.begin(), fraction.end());
  st.counters["of_bound_highest"] = *std::max_element(fraction.begin(), fraction.end());
  st.counters["tok_s"] = bench::median(rate);
  st.counters["read_GBps"] = bench::median(read);
  st.counters["weight_MB"] = bytes / 1e6;
}
// 7 turns of 16 tokens: the context stays below 256, inside the one captured span
BENCHMARK(BM_DecodeOverBoundAlternating)
    ->ArgNames({"dtype"})
    ->Arg(int(xla::DType::F32))
    ->Arg(int(xla::DType::BF16))
    ->Arg(int(xla::DType::Q8))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(7);

// 16 greedy tokens after a context of 128, 2048 or 8192 tokens (f32 weights; the prefill is
// outside the timed region). Weights cost the same at every length; what grows is attention
// over the cache: 3 of 18 layers are global and read the whole context, 15 read their
// 512-token window. Decode at 8192 may be slower than at 128 only by that attention.
void BM_DecodeAtContext(benchmark::State& st) {
  const xla::GemmaModel& m = model(xla::DType::F32);
  xla::GenerateOptions opts;
  opts.max_new_tokens = 16;
  for (auto _ : st) {
    st.PauseTiming();
    xla::Session s(m);
    s.feed(prompt(st.range(0)));
    st.ResumeTiming();
    benchmark::DoNotOptimize(s.generate({}, opts));
  }
  st.counters["tokens/s"] = benchmark::Counter(16.0 * double(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeAtContext)->Arg(128)->Arg(2048)->Arg(8192)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
