// bench_tensor.cpp — the tensor layer's speed: matmul in GFLOP/s on square and LLM shapes
// (weights stored [out, in] as Hugging Face stores them, used transposed as x @ Wᵀ), and
// broadcast add / softmax in GB/s, and a decode step's layer products with their weights on
// 4 KiB pages and on huge pages. OpenBLAS runs the same shapes when it is installed.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "bench_common.hpp"
#include "xla/ops.hpp"

#ifdef XLA_BENCH_OPENBLAS
#include <cblas.h>
#endif

namespace {

void set_flops(benchmark::State& st, double flops) {
  st.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

// x [M, K] @ W[N, K]ᵀ — a transposed view, consumed without a copy.
void BM_Matmul(benchmark::State& st) {
  const int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  const bool weight_layout = st.range(3) != 0;
  xla::Generator g(1);
  xla::Tensor a = xla::randn({M, K}, g);
  xla::Tensor b = weight_layout ? xla::randn({N, K}, g).transpose(0, 1) : xla::randn({K, N}, g);
  for (auto _ : st) benchmark::DoNotOptimize(xla::matmul(a, b));
  set_flops(st, 2.0 * double(M) * double(N) * double(K));
}

#ifdef XLA_BENCH_OPENBLAS
void BM_OpenBLAS(benchmark::State& st) {
  const int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  const bool weight_layout = st.range(3) != 0;
  xla::Generator g(1);
  xla::Tensor a = xla::randn({M, K}, g), b = weight_layout ? xla::randn({N, K}, g) : xla::randn({K, N}, g);
  xla::Tensor c = xla::Tensor::empty({M, N});
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, weight_layout ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), 1.f,
                a.data<float>(), int(K), b.data<float>(), weight_layout ? int(K) : int(N), 0.f, c.data<float>(), int(N));
    benchmark::ClobberMemory();
  }
  set_flops(st, 2.0 * double(M) * double(N) * double(K));
}
#endif

// Each shape is registered as libxla then OpenBLAS, back to back: the machine's speed
// drifts over minutes, so neighbours are what can be compared. {M, K, N, weight layout}
const bool registered = [] {
  std::vector<std::vector<int64_t>> shapes;
  for (int64_t n : {512, 1024, 2048, 4096}) shapes.push_back({n, n, n, 0});
  for (int64_t m : {1, 512}) {
    shapes.push_back({m, 640, 2048, 1});    // q/gate/up projections of Gemma 3 270M
    shapes.push_back({m, 2048, 640, 1});    // down projection
    shapes.push_back({m, 640, 262144, 1});  // tied LM head
  }
  for (const auto& s : shapes) {
    benchmark::RegisterBenchmark("BM_Matmul", BM_Matmul)->Args(s)->Unit(benchmark::kMillisecond)->UseRealTime();
#ifdef XLA_BENCH_OPENBLAS
    benchmark::RegisterBenchmark("BM_OpenBLAS", BM_OpenBLAS)->Args(s)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
  }
  return true;
}();

// One token through the layer products of Gemma 3 270M (18 × q, k, v, o, gate, up, down:
// 403 MB of f32 weights) twice an iteration: weights made one by one (a few MB each, on
// 4 KiB pages), then the same weights gathered onto huge pages as a model's are
// (move_to_huge_pages). In turns, so that both see the same minute of the machine's memory.
void BM_LayerProductsOnPages(benchmark::State& st) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1024, 640}, {256, 640},  {256, 640}, {640, 1024},
                                                           {2048, 640}, {2048, 640}, {640, 2048}};
  xla::Generator g(4);
  std::vector<xla::Tensor> small, huge, inputs;
  double bytes = 0;
  for (int layer = 0; layer < 18; ++layer)
    for (auto [out, in] : shapes) {
      small.push_back(xla::randn({out, in}, g));
      huge.push_back(small.back().clone());
      inputs.push_back(xla::randn({1, in}, g));
      bytes += double(out * in * 4);
    }
  std::vector<xla::Tensor*> gathered;
  for (xla::Tensor& w : huge) gathered.push_back(&w);
  xla::move_to_huge_pages(gathered);
  auto seconds = [&](const std::vector<xla::Tensor>& weights) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < weights.size(); ++i)
      benchmark::DoNotOptimize(xla::matmul(inputs[i], weights[i].transpose(0, 1)));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> on_small, on_huge;
  for (auto _ : st) {
    on_small.push_back(bytes / seconds(small) / 1e9);
    on_huge.push_back(bytes / seconds(huge) / 1e9);
  }
  st.counters["GB/s_4KiB_pages"] = bench::median(on_small);
  st.counters["GB/s_huge_pages"] = bench::median(on_huge);
}
BENCHMARK(BM_LayerProductsOnPages)->Unit(benchmark::kMillisecond)->Iterations(20);

// [rows, cols] + [cols]: reads the matrix once, writes the result once.
void BM_BroadcastAdd(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  xla::Generator g(2);
  xla::Tensor x = xla::randn({rows, cols}, g), bias = xla::randn({cols}, g);
  for (auto _ : st) benchmark::DoNotOptimize(xla::add(x, bias));
  st.SetBytesProcessed(int64_t(st.iterations()) * rows * cols * 8);
}
BENCHMARK(BM_BroadcastAdd)->Args({4096, 4096})->Args({512, 640})->UseRealTime();

void BM_Softmax(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  xla::Generator g(3);
  xla::Tensor x = xla::randn({rows, cols}, g);
  for (auto _ : st) benchmark::DoNotOptimize(xla::softmax(x, -1));
  st.SetBytesProcessed(int64_t(st.iterations()) * rows * cols * 8);
}
BENCHMARK(BM_Softmax)->Args({4096, 4096})->Args({8, 262144})->UseRealTime();

// The machine's own yardstick, measured in the same run: 8 bytes per element read and
// written by the plainest parallel loop (y = x + 1 over 128 MB), what elementwise ops are
// compared with.
void BM_CopyBandwidth(benchmark::State& st) {
  const int64_t n = int64_t(16) << 20;
  std::vector<float> x(static_cast<size_t>(n), 1.f), y(static_cast<size_t>(n));
  for (auto _ : st) {
#pragma omp parallel for num_threads(xla::num_threads())
    for (int64_t i = 0; i < n; ++i) y[size_t(i)] = x[size_t(i)] + 1.f;
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * n * 8);
}
BENCHMARK(BM_CopyBandwidth)->UseRealTime();

}  // namespace
