// bench_compile.cpp — compiled against eager: the elementwise parts of a Gemma 3 270M layer
// (RMSNorm with its residual add, GeGLU, RoPE on the queries) at decode (1 row) and prefill
// (128 and 2048 rows), where memory is the bound (bytes_per_second against the roofline's
// read bandwidth), and a small MLP's training step (forward, backward), where the per-op
// overhead is the bound.
// Each run also counts the tensors it allocates (allocs_per_run). And a whole forward of one
// token without a cache (a decode step's work at position 0: every layer, the LM head) of
// the Gemma 3 270M shape and of the demo's small model, eager and compiled, and the demo's
// training step: these alternate eager and compiled in one loop (counters eager_ms,
// compiled_ms), so that the machine's drift, up to 2× within minutes, hits both alike; so
// does the compiled decode step over a KV cache (BM_DecodeStep270MAlternating, and
// BM_DecodeStepNarrowAlternating for the same structure with tiny products). The training
// step also reports its compiled function's products (CompiledFunction::profile): their
// time, their share, and the speedup over eager they leave room for (speedup_bound).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>

#include "bench_common.hpp"
#include "xla/autograd.hpp"
#include "xla/compile.hpp"
#include "xla/gemma.hpp"
#include "xla/loss.hpp"
#include "xla/nn.hpp"
#include "xla/ops.hpp"
#include "xla/optim.hpp"

using namespace xla;

namespace {

constexpr int64_t kHidden = 640, kFfn = 2048;  // Gemma 3 270M

Tensor normal(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, g);
}

// h = x + residual; y = h · rsqrt(mean(h²) + ε) · (1 + w): the norm before each block.
std::vector<Tensor> add_norm(const std::vector<Tensor>& in, const Tensor& w) {
  Tensor h = add(in[0], in[1]);
  Tensor r = rsqrt(add(mean(mul(h, h), {-1}, true), Tensor::scalar(1e-6f)));
  return {h, mul(mul(h, r), add(Tensor::scalar(1.f), w))};
}

// GeGLU: gelu_tanh(gate) · up over the [rows, 2·ffn] output of the fused gate/up product.
std::vector<Tensor> geglu(const std::vector<Tensor>& in) {
  Tensor gate = in[0].slice(-1, 0, kFfn), up = in[0].slice(-1, kFfn, 2 * kFfn);
  return {mul(gelu_tanh(gate), up)};
}

template <typename F>
void run_case(benchmark::State& st, F&& fn, const std::vector<Tensor>& inputs, int64_t bytes, bool compiled) {
  CompiledFunction f = compile(fn, inputs);
  uint64_t allocs = 0;
  for (auto _ : st) {
    const uint64_t before = storages_created();
    if (compiled)
      benchmark::DoNotOptimize(f.run(inputs).data());
    else
      benchmark::DoNotOptimize(fn(inputs).data());
    allocs += storages_created() - before;
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * bytes);
  st.counters["allocs_per_run"] = double(allocs) / double(st.iterations());
  st.counters["fused_loops"] = double(f.stats().fused_loops);
}

void BM_AddNorm(benchmark::State& st) {
  const int64_t rows = st.range(0);
  Tensor w = normal({kHidden}, 1);
  std::vector<Tensor> in = {normal({rows, kHidden}, 2), normal({rows, kHidden}, 3)};
  // read x, residual and w once, write h and y: the least any implementation moves
  const int64_t bytes = (4 * rows * kHidden + kHidden) * 4;
  run_case(
      st, [&](const std::vector<Tensor>& x) { return add_norm(x, w); }, in, bytes, st.range(1) != 0);
}
BENCHMARK(BM_AddNorm)->ArgNames({"rows", "compiled"})->ArgsProduct({{1, 128, 2048}, {0, 1}});

void BM_GeGLU(benchmark::State& st) {
  const int64_t rows = st.range(0);
  std::vector<Tensor> in = {normal({rows, 2 * kFfn}, 4)};
  const int64_t bytes = (2 * rows * kFfn + rows * kFfn) * 4;
  run_case(st, geglu, in, bytes, st.range(1) != 0);
}
BENCHMARK(BM_GeGLU)->ArgNames({"rows", "compiled"})->ArgsProduct({{1, 128, 2048}, {0, 1}});

// RoPE on a layer's queries, [1, 4 heads, rows, 256], with the tables of `rows` positions:
// every element of x read and written once, each table read once.
void BM_Rope(benchmark::State& st) {
  const int64_t rows = st.range(0), heads = 4, dim = 256;
  std::vector<int64_t> pos(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) pos[size_t(i)] = 100 + i;
  const nn::RopeTables tables = nn::rope_tables(Tensor::from_data(pos.data(), {rows}, DType::I64), dim, 1e6);
  std::vector<Tensor> in = {normal({1, heads, rows, dim}, 8)};
  const int64_t bytes = (2 * heads * rows * dim + 2 * rows * dim) * 4;
  run_case(
      st, [&](const std::vector<Tensor>& x) { return std::vector<Tensor>{nn::apply_rope(x[0], tables)}; }, in, bytes,
      st.range(1) != 0);
}
BENCHMARK(BM_Rope)->ArgNames({"rows", "compiled"})->ArgsProduct({{1, 128, 2048}, {0, 1}});

// A 3-layer MLP's training step on a batch of 16: small tensors, so the time is per-op cost.
void BM_MlpTrainStep(benchmark::State& st) {
  std::vector<Tensor> w = {normal({64, 128}, 5), normal({128, 128}, 6), normal({128, 16}, 7)};
  for (Tensor& t : w) {
    t.mul_(0.1f);
    set_requires_grad(t, true);
  }
  auto step = [&](const std::vector<Tensor>& in) {
    for (Tensor& t : w) zero_grad(t);
    Tensor h = ag::gelu_tanh(ag::matmul(in[0], w[0]));
    h = ag::gelu_tanh(ag::matmul(h, w[1]));
    Tensor d = ag::sub(ag::matmul(h, w[2]), in[1]);
    Tensor loss = ag::mean(ag::mul(d, d));
    backward(loss);
    return std::vector<Tensor>{detach(loss), grad(w[0]), grad(w[1]), grad(w[2])};
  };
  std::vector<Tensor> in = {normal({16, 64}, 8), normal({16, 16}, 9)};
  run_case(st, step, in, 0, st.range(0) != 0);
}
BENCHMARK(BM_MlpTrainStep)->ArgNames({"compiled"})->Arg(0)->Arg(1);

xla::GemmaConfig config_270m() {
  std::ifstream f(std::string(XLA_SHARED_DIR) + "/bench/gemma3-270m.config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return GemmaConfig::from_json(ss.str());
}

void one_token_forward(benchmark::State& st, const GemmaConfig& cfg) {
  GemmaModel m = GemmaModel::create(cfg, 1);
  NoGradGuard no_grad;
  const int32_t id = 7;
  std::vector<Tensor> in = {Tensor::from_data(&id, {1, 1}, DType::I32)};
  auto forward = [&](const std::vector<Tensor>& x) { return std::vector<Tensor>{m.forward(x[0])}; };
  run_case(st, forward, in, 0, st.range(0) != 0);
}

// Runs eager() then compiled() each iteration, and products() when given (the same work's
// matrix products alone, timed in the same iteration so that a drift of the machine's
// bandwidth moves all three alike); their mean times are the counters. The time outside
// the products is the median over iterations of each one's difference: the bandwidth here
// jumps by up to 2× from one second to the next, and a mean of differences a few percent
// of the step keeps the jumps.
template <typename E, typename C>
void alternate(benchmark::State& st, E&& eager, C&& compiled, const std::function<void()>& products = nullptr) {
  auto ms = [](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int i = 0; i < 3; ++i) eager(), compiled();  // warm: caches, the block cache, AdamW's moments
  double e = 0, c = 0, p = 0;
  std::vector<double> eager_outside, compiled_outside;
  uint64_t eager_allocs = 0, compiled_allocs = 0;
  for (auto _ : st) {
    uint64_t before = storages_created();
    const double ei = ms(eager);
    eager_allocs += storages_created() - before;
    before = storages_created();
    const double ci = ms(compiled);
    compiled_allocs += storages_created() - before;
    e += ei;
    c += ci;
    if (products) {
      const double pi = ms(products);
      p += pi;
      eager_outside.push_back(ei - pi);
      compiled_outside.push_back(ci - pi);
    }
  }
  const double n = double(st.iterations());
  st.counters["eager_ms"] = e / n;
  st.counters["compiled_ms"] = c / n;
  if (products) {
    st.counters["gemv_ms"] = p / n;
    st.counters["eager_outside_gemv_ms"] = bench::median(eager_outside);
    st.counters["compiled_outside_gemv_ms"] = bench::median(compiled_outside);
  }
  st.counters["speedup"] = e / c;
  st.counters["eager_allocs"] = double(eager_allocs) / n;
  st.counters["compiled_allocs"] = double(compiled_allocs) / n;
}

void BM_OneTokenForward270MAlternating(benchmark::State& st) {
  GemmaModel m = GemmaModel::create(config_270m(), 1);
  NoGradGuard no_grad;
  const int32_t id = 7;
  std::vector<Tensor> in = {Tensor::from_data(&id, {1, 1}, DType::I32)};
  auto forward = [&](const std::vector<Tensor>& x) { return std::vector<Tensor>{m.forward(x[0])}; };
  CompiledFunction f = compile(forward, in);
  alternate(
      st, [&] { benchmark::DoNotOptimize(forward(in).data()); }, [&] { benchmark::DoNotOptimize(f.run(in).data()); });
}
BENCHMARK(BM_OneTokenForward270MAlternating)->Unit(benchmark::kMillisecond)->Iterations(50);

// The decode step proper (Model::compile_decode): one token after 128 through the KV cache,
// eager (forward over the cache) and compiled, each on its own cache, alternating; and the
// same token's products alone (every projection and the LM head as x·Wᵀ) in the same
// iterations, so that the time outside GEMV is each step's time minus gemv_ms.
void decode_step_alternating(benchmark::State& st, const GemmaConfig& config, DType dtype) {
  GemmaModel m = GemmaModel::create(config, 1, dtype);
  NoGradGuard no_grad;
  std::vector<int32_t> prompt(128);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 2) % uint64_t(config.vocab_size));
  Tensor p = Tensor::from_data(prompt.data(), {1, 128}, DType::I32);
  auto eager_cache = m.new_state(), compiled_cache = m.new_state();
  m.forward(p, eager_cache.get(), nullptr, true);
  m.forward(p, compiled_cache.get(), nullptr, true);
  std::unique_ptr<DecodeStep> step = m.compile_decode(compiled_cache.get());
  int32_t id = 7;
  Tensor token = Tensor::from_data(&id, {1, 1}, DType::I32);
  std::vector<Tensor> weights = {m.head_weight()};
  for (const GemmaLayer& L : m.layers)
    weights.insert(weights.end(), {L.q_proj, L.k_proj, L.v_proj, L.o_proj, L.gate_proj, L.up_proj, L.down_proj});
  std::vector<Tensor> inputs;  // a row for each weight, made before the timing
  for (const Tensor& w : weights) inputs.push_back(full({1, w.shape()[1]}, 1.0));
  auto products = [&] {
    for (size_t i = 0; i < weights.size(); ++i) benchmark::DoNotOptimize(matmul(inputs[i], weights[i].transpose(0, 1)));
  };
  alternate(
      st, [&] { benchmark::DoNotOptimize(m.forward(token, eager_cache.get(), nullptr, true)); },
      [&] { benchmark::DoNotOptimize(step->step(id)); }, products);
  st.counters["captures"] = double(step->captures());
}

void BM_DecodeStep270MAlternating(benchmark::State& st) {
  decode_step_alternating(st, config_270m(), DType(st.range(0)));
}
BENCHMARK(BM_DecodeStep270MAlternating)
    ->ArgNames({"dtype"})
    ->Arg(int(DType::F32))
    ->Arg(int(DType::BF16))
    ->Arg(int(DType::Q8))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(40);

// The same step for a model of the 270M's structure (18 layers, 4 heads, 1 KV head, its
// windows) with tiny products (width 64, head_dim 32, a vocabulary of 512): what is left
// is the step's own cost outside the products, which the drift of the big one's bandwidth hides.
void BM_DecodeStepNarrowAlternating(benchmark::State& st) {
  GemmaConfig c = config_270m();
  c.vocab_size = 512;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.head_dim = 32;
  decode_step_alternating(st, c, DType::BF16);
}
BENCHMARK(BM_DecodeStepNarrowAlternating)
    ->Unit(benchmark::kMicrosecond)
    ->Iterations(100);  // one span: no capture timed

void BM_OneTokenForwardDemo(benchmark::State& st) { one_token_forward(st, bench::demo_config()); }
BENCHMARK(BM_OneTokenForwardDemo)->ArgNames({"compiled"})->Arg(0)->Arg(1);

// The demo model's training step (64 × 12 tokens, AdamW), as TrainerOptions::compile runs it.
void BM_DemoTrainStepAlternating(benchmark::State& st) {
  GemmaModel m = GemmaModel::create(bench::demo_config(), 1);
  train::Optimizer opt(m, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-4));
  const int64_t B = 64, T = 12, V = m.vocab_size();
  std::vector<int32_t> ids(size_t(B * T)), next(size_t(B * T));
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = int32_t((i * 7919 + 2) % uint64_t(V));
    next[i] = int32_t((i * 7919 + 9) % uint64_t(V));
  }
  std::vector<Tensor> in = {Tensor::from_data(ids.data(), {B, T}, DType::I32),
                            Tensor::from_data(next.data(), {B, T}, DType::I32)};
  std::vector<Tensor> params = opt.parameters();
  CompiledFunction f = compile(
      [&](const std::vector<Tensor>& x) {
        opt.zero_grad();
        Tensor loss = train::lm_loss(m, x[0], x[1]);
        backward(loss);
        std::vector<Tensor> out = {detach(loss)};
        for (const Tensor& p : params) out.push_back(grad(p));
        return out;
      },
      in);
  auto eager_step = [&] {
    opt.zero_grad();
    backward(train::lm_loss(m, in[0], in[1]));
    opt.step();
  };
  alternate(st, eager_step, [&] {
    opt.zero_grad();
    const std::vector<Tensor>& r = f.run(in);
    for (size_t i = 0; i < params.size(); ++i) accumulate_grad(params[i], r[i + 1]);
    opt.step();
  });
  // What bounds the speedup: a compiled step whose other work all took no time would still
  // take as long as its matrix products. profile() times them, in turns with eager steps.
  double eager_ms = 0, products_s = 0, function_s = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    eager_step();
    eager_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const RunProfile p = f.profile(in);
    products_s += p.seconds_in("matmul");
    function_s += p.seconds;
  }
  st.counters["products_ms"] = 1e3 * products_s / 20;
  st.counters["products_share"] = products_s / function_s;  // of the compiled function's time
  st.counters["speedup_bound"] = eager_ms / (1e3 * products_s);
}
BENCHMARK(BM_DemoTrainStepAlternating)->Unit(benchmark::kMillisecond)->Iterations(100);

}  // namespace
