// bench_grpo.cpp — the GRPO trainer's speed: one round of samples (prompts × group
// completions) drawn by the serving engine in one batched run against one Session per
// completion, and the optimizer step on those samples, on the demo's model and on the Gemma 3
// 270M shape (random f32 weights). Samples/s and sampled tokens/s per sampler, the training
// part's tokens/s, each read against bench_roofline's ceilings (--context): sampling against
// the one-sequence decode bound (read bandwidth ÷ the weight bytes a forward reads), training
// against the FMA peak (6 FLOPs per weight per token).
//
//   bench_grpo [--context FILE] [--config FILE] [--quick]
//
// Speeds are printed, never asserted; --quick (a 2-layer model, a few tokens) is the ctest
// smoke run: both samplers must draw whole rounds and the steps must stay finite.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "xla/gemma.hpp"
#include "xla/grpo_trainer.hpp"
#include "xla/tokenizer.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "../shared"
#endif

namespace {

using xla::GemmaConfig;
using xla::train::GrpoSampler;

// Weights a forward multiplies by (the tied head once) and the bytes it reads (f32).
double matmul_params(const GemmaConfig& c) {
  const double C = double(c.hidden_size), HD = double(c.num_heads * c.head_dim), KD = double(c.num_kv_heads * c.head_dim);
  const double layer = C * HD + 2 * C * KD + HD * C + 3 * C * double(c.intermediate_size);
  return double(c.num_layers) * layer + double(c.vocab_size) * C;
}

GemmaConfig tiny(GemmaConfig c) {
  c.num_layers = 2;
  c.sliding = {1, 0};
  c.hidden_size = 64;
  c.intermediate_size = 256;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 32;
  c.query_pre_attn_scalar = 32;
  c.vocab_size = 259;  // bytes: no tokenizer needed
  c.sliding_window = 32;
  return c;
}

struct Case {
  const char* name;
  GemmaConfig config;
  int prompts, group, prompt_tokens, completion_tokens;
};

struct Figures {
  double sampling_s = 0, samples_per_s = 0, tokens_per_s = 0, train_s = 0, train_tokens = 0, step_s = 0;
  bool ok = true;
};

Figures run(const Case& k, GrpoSampler sampler) {
  xla::GemmaModel m = xla::GemmaModel::create(k.config, 1);
  xla::train::Optimizer opt(m, xla::train::OptimizerOptions::defaults(xla::train::OptimizerKind::AdamW, 1e-5));
  std::vector<xla::train::PromptExample> ps;
  for (int p = 0; p < k.prompts; ++p) {
    std::vector<int32_t> ids{2};
    for (int i = 1; i < k.prompt_tokens; ++i) ids.push_back(int32_t(3 + (p * 7919 + i * 104729) % (k.config.vocab_size - 3)));
    ps.push_back({ids, "", ""});
  }
  const xla::train::PromptDataset data(ps);
  xla::train::GrpoTrainerOptions o;
  o.progress = 0;
  o.grpo.group_size = k.group;
  o.batch_size = k.prompts * k.group;  // the round in one micro-batch
  o.max_completion_length = k.completion_tokens;
  o.stop_ids = {int32_t(k.config.vocab_size - 1)};  // a rare token: completions run their full length
  o.sampler = sampler;
  o.engine.max_seqs = k.prompts * k.group;
  o.engine.max_batch_tokens = std::max(512, k.prompts * k.group);
  o.steps = 2;
  o.rewards = {{"even", [](const xla::train::Completion& c) {
                  double even = 0;
                  for (int32_t t : c.ids) even += t % 2 == 0;
                  return even / double(std::max<size_t>(1, c.ids.size()));
                }}};
  // the rewards see decoded text: the Gemma 3 tokenizer for a 262,144-word model, bytes else
  xla::train::TextCodec codec;
  static std::optional<xla::Tokenizer> tok;
  if (k.config.vocab_size > xla::train::TextCodec::kByteVocab) {
    if (!tok) tok = xla::Tokenizer::load(XLA_TOKENIZER_JSON);
    codec.tokenizer = &*tok;
  }
  xla::train::GrpoTrainer t(m, opt, data, codec, o);
  Figures f;
  for (int s = 0; s < 2; ++s) {  // the first step warms the allocator and the caches
    const auto t0 = std::chrono::steady_clock::now();
    const xla::train::GrpoStepMetrics r = t.step();
    f.step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    f.sampling_s = r.sampling_s;
    f.samples_per_s = r.samples_per_s;
    f.tokens_per_s = r.sampled_tokens_per_s;
    f.ok = f.ok && std::isfinite(r.loss) && r.sampled;
    const auto& round = t.round();
    f.ok = f.ok && round.completions.size() == size_t(k.prompts * k.group);
    f.train_tokens = 0;
    for (const auto& c : round.completions) f.train_tokens += double(k.prompt_tokens) + double(c.size()) - 1;
  }
  f.train_s = f.step_s - f.sampling_s;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string context_path, config_path = std::string(XLA_SHARED_DIR) + "/bench/gemma3-270m.config.json";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--context") == 0 && i + 1 < argc) context_path = argv[++i];
    else if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else {
      std::fprintf(stderr, "bench_grpo: unknown argument '%s' (usage: bench_grpo [--context FILE] [--config FILE] [--quick])\n",
                   argv[i]);
      return 2;
    }
  }
  std::ifstream f(config_path);
  if (!f) {
    std::fprintf(stderr, "bench_grpo: cannot read %s\n", config_path.c_str());
    return 2;
  }
  std::stringstream text;
  text << f.rdbuf();
  const GemmaConfig big = GemmaConfig::from_json(text.str());
  std::vector<Case> cases;
  if (quick) cases = {{"tiny (--quick)", tiny(big), 2, 4, 6, 4}};
  else cases = {{"demo model", bench::demo_config(), 8, 8, 7, 6}, {"Gemma 3 270M shape", big, 4, 8, 32, 32}};
  const bench::Ceilings roof = context_path.empty() ? bench::Ceilings{} : bench::read_context(context_path, "bench_grpo");
  std::printf("bench_grpo: one GRPO step (a round of prompts × group completions, then forward + backward + AdamW), "
              "random f32 weights, %d threads\n", xla::num_threads());
  if (roof.known())
    std::printf("ceilings (bench_roofline, this sitting): f32 FMA %.1f GFLOP/s, read %.1f GB/s; cpu %s (%s); commit %s\n",
                roof.fma_gflops, roof.read_gbs, roof.cpu.c_str(), roof.flags.c_str(), roof.commit.c_str());
  else
    std::printf("ceilings: not given (pass --context build/benchmarks/roofline.context after `make bench`)\n");
  bool ok = true;
  for (const Case& k : cases) {
    const double params = matmul_params(k.config);
    const double decode_bound = roof.known() ? roof.read_gbs * 1e9 / (4 * params) : 0;  // tokens/s, one sequence
    std::printf("\n%s: %d prompts × %d completions, prompts of %d tokens, completions of %d\n", k.name, k.prompts, k.group,
                k.prompt_tokens, k.completion_tokens);
    std::printf("  %-9s %10s %12s %14s %12s %12s %12s\n", "sampler", "sampling s", "samples/s", "sampled tok/s",
                "× 1-seq bound", "train tok/s", "of FMA peak");
    double engine_tok = 0;
    for (GrpoSampler s : {GrpoSampler::Engine, GrpoSampler::Sessions}) {
      const Figures fig = run(k, s);
      ok = ok && fig.ok;
      const double train_tok_s = fig.train_tokens / fig.train_s;
      const double train_frac = roof.known() ? 6 * params * train_tok_s / (roof.fma_gflops * 1e9) : 0;
      std::printf("  %-9s %10.2f %12.2f %14.1f %12.2f %12.1f %11.1f%%\n", s == GrpoSampler::Engine ? "engine" : "sessions",
                  fig.sampling_s, fig.samples_per_s, fig.tokens_per_s, decode_bound > 0 ? fig.tokens_per_s / decode_bound : 0,
                  train_tok_s, 100 * train_frac);
      std::printf("{\"bench\": \"grpo\", \"model\": \"%s\", \"sampler\": \"%s\", \"sampling_s\": %.4f, \"samples_per_s\": %.3f, "
                  "\"sampled_tokens_per_s\": %.2f, \"train_tokens_per_s\": %.2f, \"step_s\": %.4f}\n",
                  k.name, s == GrpoSampler::Engine ? "engine" : "sessions", fig.sampling_s, fig.samples_per_s,
                  fig.tokens_per_s, train_tok_s, fig.step_s);
      if (s == GrpoSampler::Engine) engine_tok = fig.tokens_per_s;
      else std::printf("  engine / sessions sampling: %.2f×\n", engine_tok / fig.tokens_per_s);
    }
    std::fflush(stdout);
  }
  if (!ok) {
    std::fprintf(stderr, "bench_grpo: a round was incomplete or a loss not finite\n");
    return 1;
  }
  std::printf("bench_grpo: checks passed\n");
  return 0;
}
