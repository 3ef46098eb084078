// bench_train.cpp — one training step (forward + backward + AdamW) of the Gemma 3 270M
// architecture (../shared/bench/gemma3-270m.config.json, random weights, f32) at batch
// 4 × 256 tokens, as ../shared/bench/torch_gemma3.py train measures PyTorch (~51–59
// tokens/s at 10.7 GiB peak on the 2-core Zen 4 of ../shared/bench/README.md). Counters:
// tokens/s, the phases' seconds, peak memory.
// Also the demo's small model (examples/c/demo.c), where per-op overhead shows, eager and
// compiled (xla/compile.hpp: forward and backward replayed from a graph captured once, as
// TrainerOptions::compile does).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <optional>
#include <fstream>
#include <sstream>

#include "bench_common.hpp"
#include "xla/gemma.hpp"
#include "xla/autograd.hpp"
#include "xla/compile.hpp"
#include "xla/loss.hpp"
#include "xla/optim.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "../shared"
#endif

namespace {

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

xla::GemmaConfig config_270m() {
  std::ifstream f(std::string(XLA_SHARED_DIR) + "/bench/gemma3-270m.config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return xla::GemmaConfig::from_json(ss.str());
}

void train_steps(benchmark::State& st, const xla::GemmaConfig& cfg, int64_t B, int64_t T, bool compiled = false) {
  xla::GemmaModel m = xla::GemmaModel::create(cfg, 1);
  xla::train::Optimizer opt(m, xla::train::OptimizerOptions::defaults(xla::train::OptimizerKind::AdamW, 1e-4));
  std::vector<int32_t> ids(size_t(B * (T + 1)));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919 + 2) % uint64_t(cfg.vocab_size));
  std::vector<int32_t> in, tg;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      in.push_back(ids[size_t(b * (T + 1) + t)]);
      tg.push_back(ids[size_t(b * (T + 1) + t + 1)]);
    }
  const xla::Tensor inputs = xla::Tensor::from_data(in.data(), {B, T}, xla::DType::I32);
  const xla::Tensor targets = xla::Tensor::from_data(tg.data(), {B, T}, xla::DType::I32);
  std::vector<xla::Tensor> params = opt.parameters();
  std::optional<xla::CompiledFunction> graph;
  if (compiled) {
    graph = xla::compile(
        [&](const std::vector<xla::Tensor>& x) {
          opt.zero_grad();
          xla::Tensor loss = xla::train::lm_loss(m, x[0], x[1]);
          xla::backward(loss);
          std::vector<xla::Tensor> out = {xla::detach(loss)};
          for (const xla::Tensor& p : params) out.push_back(xla::grad(p));
          return out;
        },
        {inputs, targets});
    opt.zero_grad();
  }
  double fwd = 0, bwd = 0, upd = 0;
  auto step = [&](bool timed) {
    auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    xla::Tensor loss;
    double a = 0;
    if (graph) {  // forward and backward in one replay: the split is not measured
      const std::vector<xla::Tensor>& r = graph->run({inputs, targets});
      for (size_t i = 0; i < params.size(); ++i) xla::accumulate_grad(params[i], r[i + 1]);
      loss = r[0];
    } else {
      loss = xla::train::lm_loss(m, inputs, targets);
      a = seconds_since(t0);
      xla::backward(loss);
    }
    const double b = seconds_since(t0);
    opt.step();
    const double c = seconds_since(t0);
    if (timed) fwd += a, bwd += b - a, upd += c - b;
    benchmark::DoNotOptimize(loss.item());
  };
  step(false);  // warm-up: allocates the AdamW moments, as PyTorch's step 0
  for (auto _ : st) step(true);
  const double n = double(st.iterations());
  st.counters["tokens/s"] = benchmark::Counter(double(B * T) * n, benchmark::Counter::kIsRate);
  st.counters["forward_s"] = fwd / n;
  st.counters["backward_s"] = bwd / n;
  st.counters["adamw_s"] = upd / n;
  st.counters["peak_MiB"] = peak_rss_mib();
}

void BM_TrainStep270M(benchmark::State& st) { train_steps(st, config_270m(), 4, 256); }
BENCHMARK(BM_TrainStep270M)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(3);

void BM_TrainStepDemo(benchmark::State& st) { train_steps(st, bench::demo_config(), 64, 12); }
BENCHMARK(BM_TrainStepDemo)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_TrainStepDemoCompiled(benchmark::State& st) { train_steps(st, bench::demo_config(), 64, 12, true); }
BENCHMARK(BM_TrainStepDemoCompiled)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
