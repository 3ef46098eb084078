// bench_mamba.cpp — Mamba-130M (benchmarks/mamba-130m.config.json, random weights, made by
// xla::create_model): prefill of 512 tokens and decode of 64 tokens after a 128-token prompt,
// one token at a time through the model's recurrent state (conv window + SSM state), in
// tokens/s. Decode is read against the bandwidth bound (the bytes a step reads ÷ the read
// bandwidth), prefill against the FMA peak, both from the same sitting.
//
//   bench_mamba [--context FILE] [--config FILE] [--bf16] [--reps N] [--quick]
//
// --context: bench_roofline's ceilings (make bench writes them); without it the read
// bandwidth is measured here, before the model runs. Speeds are printed, never asserted; the
// one check is that decoding through the state gives the logits of one forward over the
// whole sequence. --quick: a 2-layer model and a few tokens (a smoke run).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "read_bandwidth.hpp"
#include "xla/autograd.hpp"
#include "xla/model.hpp"
#include "xla/ops.hpp"

#ifndef XLA_BENCH_DIR
#define XLA_BENCH_DIR "benchmarks"
#endif

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::vector<int32_t> token_ids(int64_t n, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919 + 2) % vocab);
  return ids;
}

xla::Tensor as_tokens(const std::vector<int32_t>& ids) {
  return xla::Tensor::from_data(ids.data(), {1, int64_t(ids.size())}, xla::DType::I32);
}

int32_t greedy(const xla::Tensor& logits) {  // [1, 1, V]
  return int32_t(xla::argmax(logits.reshape({logits.numel()}), 0).item());
}

// A 2-layer model of the same family for --quick.
std::string shrink(const std::string& config_json) {
  nlohmann::json j = nlohmann::json::parse(config_json);
  j["num_hidden_layers"] = 2;
  j["hidden_size"] = 64;
  j["intermediate_size"] = 128;
  j["time_step_rank"] = 4;
  j["vocab_size"] = 512;
  return j.dump();
}

}  // namespace

int main(int argc, char** argv) {
  std::string context_path, config_path = std::string(XLA_BENCH_DIR) + "/mamba-130m.config.json";
  bool quick = false, bf16 = false;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--context") == 0 && i + 1 < argc) context_path = argv[++i];
    else if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--bf16") == 0) bf16 = true;
    else if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else {
      std::fprintf(stderr, "bench_mamba: unknown argument '%s' (usage: bench_mamba [--context FILE] [--config FILE] "
                           "[--bf16] [--reps N] [--quick])\n", argv[i]);
      return 2;
    }
  }
  std::ifstream f(config_path);
  if (!f) {
    std::fprintf(stderr, "bench_mamba: cannot read %s\n", config_path.c_str());
    return 2;
  }
  std::stringstream text;
  text << f.rdbuf();
  std::string config;
  try {
    config = quick ? shrink(text.str()) : text.str();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_mamba: %s: %s\n", config_path.c_str(), e.what());
    return 2;
  }
  const int64_t prefill_tokens = quick ? 16 : 512, prompt_tokens = quick ? 8 : 128, gen_tokens = quick ? 4 : 64;
  if (quick) reps = 1;

  bench::Ceilings roof;
  if (!context_path.empty()) {
    roof = bench::read_context(context_path, "bench_mamba");
  } else if (!quick) {
    // the FMA peak stays unknown: prefill is not read against it
    roof.read_gbs = bench::ReadBandwidth(xla::num_threads()).gbs(xla::num_threads(), 5);
  }

  std::unique_ptr<xla::Model> model;
  try {
    model = xla::create_model(config, 1, bf16 ? xla::DType::BF16 : xla::DType::F32);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_mamba: %s: %s\n", config_path.c_str(), e.what());
    return 1;
  }
  const int64_t V = model->vocab_size();
  const double weight_bytes = bench::weight_bytes(*model);
  double weights = 0, matmul_weights = 0;  // every weight once; those of the projections
  for (auto& [name, t] : model->named_parameters()) {
    weights += double(t->numel());
    if (t->ndim() == 2 && name.find("proj") != std::string::npos) matmul_weights += double(t->numel());
  }
  const double head_weights = double(model->head_weight().numel());

  const std::string name = quick ? "a 2-layer model (--quick)" : config_path.substr(config_path.find_last_of('/') + 1);
  std::printf("bench_mamba: %s (%s), %lld layers, %.1fM weights, %s weights (random), %d threads\n", name.c_str(),
              model->architecture().c_str(), (long long)nlohmann::json::parse(config).value("num_hidden_layers", 0),
              weights / 1e6, bf16 ? "bf16" : "f32", xla::num_threads());
  if (roof.fma_gflops > 0)
    std::printf("ceilings (bench_roofline, this sitting): f32 FMA %.1f GFLOP/s, read %.1f GB/s; cpu %s (%s); commit %s\n",
                roof.fma_gflops, roof.read_gbs, roof.cpu.c_str(), roof.flags.c_str(), roof.commit.c_str());
  else if (roof.read_gbs > 0)
    std::printf("ceilings: read %.1f GB/s, measured now by this program; FMA peak not given (pass --context "
                "build/benchmarks/roofline.context after `make bench`)\n", roof.read_gbs);
  else
    std::printf("ceilings: not measured (--quick)\n");

  xla::NoGradGuard no_grad;
  bool ok = true;

  // ---- prefill: the state filled, logits of the last position only (as a generator prefills)
  {
    const std::vector<int32_t> ids = token_ids(prefill_tokens, V);
    std::vector<double> seconds;
    for (int r = 0; r <= reps; ++r) {
      std::unique_ptr<xla::ModelState> state = model->new_state();
      const auto t0 = Clock::now();
      xla::Tensor logits = model->forward(as_tokens(ids), state.get(), nullptr, true);
      if (r) seconds.push_back(since(t0));  // the first run warms up
      ok = ok && std::isfinite(logits.to_vector()[0]);
    }
    const double s = median(seconds), tok_s = double(prefill_tokens) / s;
    // 2 FLOPs per projection weight per token, the head once (last_only); the scan's own
    // elementwise work (~6 I·S per token and layer) is left out: a few per cent
    const double flops = 2 * matmul_weights * double(prefill_tokens) + 2 * head_weights;
    std::printf("prefill %lld tokens: %.3f s (median of %d), %.1f tokens/s, %.1f GFLOP/s", (long long)prefill_tokens, s,
                reps, tok_s, flops / s / 1e9);
    if (roof.fma_gflops > 0) std::printf(", %.1f%% of the FMA peak", 100 * flops / s / 1e9 / roof.fma_gflops);
    std::printf("\n{\"bench\": \"mamba\", \"phase\": \"prefill\", \"tokens\": %lld, \"seconds\": %.4f, \"tokens_per_s\": %.2f, "
                "\"gflops\": %.2f, \"fma_peak_gflops\": %.1f}\n",
                (long long)prefill_tokens, s, tok_s, flops / s / 1e9, roof.fma_gflops);
  }

  // ---- decode: gen_tokens greedy steps after a prompt, one token at a time through the state
  {
    const std::vector<int32_t> prompt = token_ids(prompt_tokens, V);
    std::vector<double> rates;
    std::vector<int32_t> sequence;
    xla::Tensor last_logits;
    size_t state_bytes = 0;
    for (int r = 0; r <= reps; ++r) {
      std::unique_ptr<xla::ModelState> state = model->new_state();
      xla::Tensor logits = model->forward(as_tokens(prompt), state.get(), nullptr, true);
      sequence = prompt;
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < gen_tokens; ++i) {
        const int32_t next = greedy(logits);
        sequence.push_back(next);
        logits = model->forward(as_tokens({next}), state.get(), nullptr, true);
      }
      if (r) rates.push_back(double(gen_tokens) / since(t0));
      last_logits = logits;
      state_bytes = state->nbytes();
      if (state->length() != prompt_tokens + gen_tokens) {
        std::fprintf(stderr, "bench_mamba: the state has seen %lld tokens, not %lld\n", (long long)state->length(),
                     (long long)(prompt_tokens + gen_tokens));
        ok = false;
      }
    }
    // what a step reads: every weight once (the tied embedding as the LM head), and the state,
    // read and written
    const double bytes = weight_bytes + 2 * double(state_bytes);
    const double bound = roof.read_gbs * 1e9 / bytes, tok_s = median(rates);
    std::printf("decode %lld after %lld: %.2f tokens/s (median of %d); a step reads %.1f MB (state %.2f MB)",
                (long long)gen_tokens, (long long)prompt_tokens, tok_s, reps, bytes / 1e6, double(state_bytes) / 1e6);
    if (bound > 0) std::printf("; bandwidth bound %.1f tokens/s: %.1f%%", bound, 100 * tok_s / bound);
    std::printf("\n");
    std::printf("{\"bench\": \"mamba\", \"phase\": \"decode\", \"prompt\": %lld, \"gen\": %lld, \"tokens_per_s\": %.3f, "
                "\"bytes_per_token\": %.0f, \"state_bytes\": %zu, \"read_gbs\": %.2f, \"bound_tokens_per_s\": %.3f}\n",
                (long long)prompt_tokens, (long long)gen_tokens, tok_s, bytes, state_bytes, roof.read_gbs, bound);

    // the check: the last step's logits are those of one forward over the whole sequence
    // (prompt and generated tokens), without a state
    xla::Tensor full = model->forward(as_tokens(sequence), nullptr, nullptr, true);
    const double diff = xla::max(xla::abs(xla::sub(full.reshape({V}), last_logits.reshape({V})))).item();
    std::printf("decode through the state vs one forward over all %zu tokens: max |logit difference| %.2e\n",
                sequence.size(), diff);
    if (!(diff < 1e-3)) ok = false;
  }
  std::fflush(stdout);
  if (!ok) {
    std::fprintf(stderr, "bench_mamba: a check failed (non-finite logits, a wrong state length, or decode != forward)\n");
    return 1;
  }
  std::printf("bench_mamba: checks passed\n");
  return 0;
}
