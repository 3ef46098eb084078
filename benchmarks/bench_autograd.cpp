// bench_autograd.cpp — the fixed cost of the autograd machinery on 1-element tensors,
// where the arithmetic is nothing and only bookkeeping is left: an op without grad, an op
// that records a node, and backward per node (a chain of 1,000 muls).
// PyTorch 1.13 on the 2-core Zen 4 of ../shared/bench/README.md: 1.05 µs/op without grad,
// 1.5 µs with, 1.5 µs per node.
#include <benchmark/benchmark.h>

#include <chrono>

#include "xla/autograd.hpp"

namespace {

void BM_OpWithoutGrad(benchmark::State& st) {
  xla::Tensor a = xla::Tensor::scalar(1.f), b = xla::Tensor::scalar(2.f);
  for (auto _ : st) benchmark::DoNotOptimize(xla::ag::mul(a, b));
}
BENCHMARK(BM_OpWithoutGrad);

void BM_OpWithGrad(benchmark::State& st) {
  xla::Tensor a = xla::Tensor::scalar(1.f), b = xla::Tensor::scalar(2.f);
  xla::set_requires_grad(a, true);
  for (auto _ : st) benchmark::DoNotOptimize(xla::ag::mul(a, b));
}
BENCHMARK(BM_OpWithGrad);

// Backward alone, per node: the chain is built outside the timed region.
void BM_BackwardPerNode(benchmark::State& st) {
  const int nodes = 1000;
  xla::Tensor x = xla::Tensor::scalar(1.f), c = xla::Tensor::scalar(1.0001f);
  xla::set_requires_grad(x, true);
  for (auto _ : st) {
    xla::Tensor y = x;
    for (int i = 0; i < nodes; ++i) y = xla::ag::mul(y, c);
    auto t0 = std::chrono::steady_clock::now();
    xla::backward(y);
    st.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    xla::zero_grad(x);
  }
  st.counters["per_node"] = benchmark::Counter(double(st.iterations()) * nodes,
                                               benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_BackwardPerNode)->UseManualTime();

}  // namespace
