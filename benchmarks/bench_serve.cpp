// bench_serve.cpp — the serving engine (xla::Engine) on the Gemma 3 270M shape (random f32
// weights): prefill and aggregate decode tokens/s at 1–16 concurrent sequences (a table like
// llama.cpp's batched-bench, plus one JSON line per case), against the Session it must match,
// the time to first token with a cached prefix, and the decode gaps while a long prompt is
// admitted in chunks. Throughputs are read against bench_roofline's ceilings (--context).
//
//   bench_serve [--context FILE] [--config FILE] [--quick] [--seqs 1,8] [--batch-invariant]
//     --context          bench_roofline's key=value file (make bench writes it): the ceilings
//     --config           a Hugging Face config.json (default: ../shared/bench/gemma3-270m.config.json)
//     --quick            a 2-layer model and a few tokens: a smoke run for ctest (seconds)
//     --seqs             the batch sizes of the table (default 1,2,4,8,16; 1 is always run)
//     --batch-invariant  every engine with EngineOptions::batch_invariant: request 0's logits
//                        must then be the same bits at every batch size
//
// Speeds are printed, never asserted. What is asserted (exit 1) is exactness: the engine's
// tokens equal what a Session generates for the prompt alone, its logits (of the first
// tokens) equal the Session's within 1e-4 of the largest logit at every batch size, and the
// prefix cache serves exactly the shared prefix.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "xla/gemma.hpp"
#include "xla/engine.hpp"
#include "xla/generate.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "../shared"
#endif

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0, Clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); }

// The sizes of one sitting: the full run, or the smoke run of --quick.
struct Sizes {
  std::vector<int> seqs;  // concurrent sequences
  int prompt, gen;        // per sequence
  int batch_tokens;       // max_batch_tokens of every engine
  int prefix, tail;       // cached-prefix case: prefix + tail tokens, twice
  int long_prompt;        // admitted while another sequence decodes
  int short_prompt, short_gen;
  int reps;               // the Session / 1-sequence comparison, best of
  int check;              // request 0's first tokens whose logits are compared with a Session's
};

const Sizes kFull{{1, 2, 4, 8, 16}, 512, 128, 512, 1024, 32, 2048, 64, 24, 2, 16};
const Sizes kQuick{{1, 2, 4}, 48, 8, 32, 64, 8, 160, 16, 24, 1, 8};

// FLOPs and bytes of the model's forward, from its config (f32 weights): what the ceilings
// are divided by.
struct Cost {
  const xla::GemmaConfig& c;
  double proj_params() const {  // per layer: q, k, v, o and the three MLP matrices
    const double C = double(c.hidden_size), HD = double(c.num_heads * c.head_dim), KD = double(c.num_kv_heads * c.head_dim);
    return C * HD + 2 * C * KD + HD * C + 3 * C * double(c.intermediate_size);
  }
  double weight_bytes() const {  // what one forward reads, whatever its row count (tied head = embedding)
    const double head = c.tie_word_embeddings ? 0 : double(c.vocab_size * c.hidden_size);
    return 4 * (double(c.vocab_size * c.hidden_size) + head + double(c.num_layers) * proj_params());
  }
  // Keys one query at position `pos` sees in layer l.
  double visible(size_t l, int64_t pos) const {
    const bool sliding = l < c.sliding.size() && c.sliding[l];
    return double(sliding ? std::min<int64_t>(pos + 1, c.sliding_window) : pos + 1);
  }
  double attention_flops(int64_t pos) const {  // q·kᵀ and p·v of one query over every layer
    double f = 0;
    for (size_t l = 0; l < size_t(c.num_layers); ++l) f += 4.0 * double(c.num_heads * c.head_dim) * visible(l, pos);
    return f;
  }
  double head_flops() const { return 2.0 * double(c.hidden_size * c.vocab_size); }
  // A prompt of n tokens, logits of its last position only (as the engine prefills).
  double prefill_flops(int64_t n) const {
    double f = 2.0 * proj_params() * double(c.num_layers) * double(n) + head_flops();
    for (int64_t p = 0; p < n; ++p) f += attention_flops(p);
    return f;
  }
  // One decode step of `seqs` sequences at position `pos`: the FLOPs and the bytes it reads
  // (the weights once, each sequence's visible keys and values).
  double decode_flops(int seqs, int64_t pos) const {
    return double(seqs) * (2.0 * proj_params() * double(c.num_layers) + head_flops() + attention_flops(pos));
  }
  double decode_bytes(int seqs, int64_t pos) const {
    double kv = 0;
    for (size_t l = 0; l < size_t(c.num_layers); ++l) kv += 2.0 * 4.0 * double(c.num_kv_heads * c.head_dim) * visible(l, pos);
    return weight_bytes() + double(seqs) * kv;
  }
};

// Distinct token ids for request `k` (no two requests share a first token: no prefix reuse).
std::vector<int32_t> prompt_ids(int64_t n, int k, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919 + int64_t(k) * 104729 + 3 + k) % vocab);
  return ids;
}

xla::GenerateOptions greedy(int n) {
  xla::GenerateOptions g;
  g.max_new_tokens = n;
  return g;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

bool g_exact = true;            // every exactness check so far held
bool g_batch_invariant = false; // EngineOptions::batch_invariant for every engine (--batch-invariant)

void expect_same(const char* what, const std::vector<int32_t>& engine, const std::vector<int32_t>& alone) {
  if (engine == alone) return;
  size_t i = 0;
  while (i < engine.size() && i < alone.size() && engine[i] == alone[i]) ++i;
  std::fprintf(stderr, "bench_serve: %s: the engine's tokens differ from the Session's at token %zu of %zu/%zu (%d vs %d)\n",
               what, i, engine.size(), alone.size(), i < engine.size() ? engine[i] : -1, i < alone.size() ? alone[i] : -1);
  g_exact = false;
}

// ---- a Session alone: decode after a prompt, the baseline of "engine 1 sequence" ----
struct SessionRun {
  std::vector<int32_t> tokens;
  double prefill_s = 0, decode_tok_s = 0;
};

SessionRun run_session(const xla::GemmaModel& m, const std::vector<int32_t>& prompt, int gen) {
  SessionRun r;
  xla::Session s(m);
  const auto t0 = Clock::now();
  s.feed(prompt);
  r.prefill_s = seconds_since(t0, Clock::now());
  std::vector<Clock::time_point> at;
  r.tokens = s.generate({}, greedy(gen), [&](int32_t) {
    at.push_back(Clock::now());
    return false;
  });
  // The first token comes from the prompt's logits; each later one costs one forward.
  if (at.size() > 1) r.decode_tok_s = double(at.size() - 1) / seconds_since(at.front(), at.back());
  return r;
}

// The logits a Session gives for the prompt and then for each greedy token fed back (the
// first `n` of them): what the engine's request 0 must equal to float noise (the GEMM
// rounds by row count), whatever shares its steps. A check of values, not only of the
// tokens a random model picks.
struct Reference {
  std::vector<std::vector<float>> logits;  // [n][V]
};

Reference reference(const xla::GemmaModel& m, const std::vector<int32_t>& prompt, int n) {
  Reference r;
  xla::Session s(m);
  std::vector<float> l = s.feed(prompt);
  for (int i = 0; i < n; ++i) {
    const int32_t t = int32_t(std::max_element(l.begin(), l.end()) - l.begin());  // greedy: the first largest
    r.logits.push_back(std::move(l));
    if (i + 1 < n) l = s.feed({t});
  }
  return r;
}

double g_worst_logit = 0;  // max |engine - Session| over every compared logit

void compare_logits(const char* what, const std::vector<std::vector<float>>& engine, const Reference& ref) {
  if (engine.size() < ref.logits.size()) {
    std::fprintf(stderr, "bench_serve: %s: %zu logit rows, fewer than the Session's %zu\n", what, engine.size(), ref.logits.size());
    g_exact = false;
    return;
  }
  for (size_t t = 0; t < ref.logits.size(); ++t) {
    double worst = 0, scale = 1;
    for (size_t i = 0; i < engine[t].size(); ++i) {
      worst = std::max(worst, double(std::abs(engine[t][i] - ref.logits[t][i])));
      scale = std::max(scale, double(std::abs(ref.logits[t][i])));
    }
    g_worst_logit = std::max(g_worst_logit, worst);
    if (worst > 1e-4 * scale) {
      std::fprintf(stderr, "bench_serve: %s: token %zu's logits differ from the Session's by %.3g (largest logit %.3g)\n", what, t,
                   worst, scale);
      g_exact = false;
      return;
    }
  }
}

// ---- N sequences submitted at once ----
struct BatchRun {
  int seqs = 0;
  double prefill_s = 0;        // until every sequence has its first token
  double total_s = 0;
  double decode_tok_s = 0;     // steps where all N sequences decode, and nothing else
  int decode_steps = 0;
  double ttft_mean_s = 0;
  xla::EngineStats stats;      // at the end
  int64_t peak_kv_used = 0;
  std::vector<std::vector<int32_t>> tokens;  // per request, in submission order
  std::vector<std::vector<float>> logits0;   // request 0's logits rows
};

BatchRun run_batch(const xla::GemmaModel& m, int n, const Sizes& z) {
  xla::EngineOptions o;
  o.batch_invariant = g_batch_invariant;
  o.max_seqs = n;
  o.max_batch_tokens = z.batch_tokens;
  o.max_context = z.prompt + z.gen + o.block_tokens;
  xla::Engine e(m, o);
  BatchRun r;
  r.seqs = n;
  r.tokens.resize(size_t(n));
  std::map<uint64_t, size_t> index;
  std::vector<double> first(size_t(n), -1);
  const auto t0 = Clock::now();
  for (int k = 0; k < n; ++k) {
    xla::EngineRequest q;
    q.prompt = prompt_ids(z.prompt, k, m.config.vocab_size);
    q.generation = greedy(z.gen);
    q.keep_logits = k == 0;
    index[e.submit(q)] = size_t(k);
  }
  double decode_time = 0;
  int started = 0, finished = 0;
  while (!e.idle()) {
    const bool all_decoding = started == n && finished == 0;
    const auto ts = Clock::now();
    std::vector<xla::EngineEvent> events = e.step();
    const auto te = Clock::now();
    for (xla::EngineEvent& ev : events) {
      const size_t k = index.at(ev.id);
      if (ev.token >= 0) r.tokens[k].push_back(ev.token);
      if (k == 0 && r.logits0.size() < size_t(z.check)) r.logits0.push_back(std::move(ev.logits));
      if (first[k] < 0) {
        first[k] = seconds_since(t0, te);
        ++started;
      }
      if (ev.finish != xla::Finish::None) ++finished;
    }
    if (all_decoding && events.size() == size_t(n)) {
      decode_time += seconds_since(ts, te);
      ++r.decode_steps;
    }
    r.peak_kv_used = std::max(r.peak_kv_used, e.stats().kv_tokens_used);
  }
  r.total_s = seconds_since(t0, Clock::now());
  r.prefill_s = *std::max_element(first.begin(), first.end());
  r.ttft_mean_s = std::accumulate(first.begin(), first.end(), 0.0) / n;
  r.decode_tok_s = decode_time > 0 ? double(n) * r.decode_steps / decode_time : 0;
  r.stats = e.stats();
  return r;
}

// ---- the same long prefix twice: cold, then served from the prefix cache ----
struct PrefixRun {
  double cold_ttft_s = 0, warm_ttft_s = 0;
  int64_t reused = 0;
  std::vector<int32_t> warm_tokens, warm_prompt;
};

PrefixRun run_prefix(const xla::GemmaModel& m, const Sizes& z) {
  const int gen = 4;
  xla::EngineOptions o;
  o.batch_invariant = g_batch_invariant;
  o.max_seqs = 2;
  o.max_batch_tokens = z.batch_tokens;
  o.max_context = z.prefix + z.tail + gen + o.block_tokens;
  xla::Engine e(m, o);
  const std::vector<int32_t> prefix = prompt_ids(z.prefix, 1000, m.config.vocab_size);
  PrefixRun r;
  auto ttft = [&](int tail_seed, std::vector<int32_t>* tokens, std::vector<int32_t>* prompt) {
    xla::EngineRequest q;
    q.prompt = prefix;
    const std::vector<int32_t> tail = prompt_ids(z.tail, tail_seed, m.config.vocab_size);
    q.prompt.insert(q.prompt.end(), tail.begin(), tail.end());
    q.generation = greedy(gen);
    const auto t0 = Clock::now();
    e.submit(q);
    double t_first = -1;
    while (!e.idle())
      for (const xla::EngineEvent& ev : e.step()) {
        if (t_first < 0) t_first = seconds_since(t0, Clock::now());
        if (tokens && ev.token >= 0) tokens->push_back(ev.token);
      }
    if (prompt) *prompt = q.prompt;
    return t_first;
  };
  r.cold_ttft_s = ttft(2000, nullptr, nullptr);
  const int64_t before = e.stats().prefix_tokens_reused;
  r.warm_ttft_s = ttft(3000, &r.warm_tokens, &r.warm_prompt);  // a tail that shares no token with the first
  r.reused = e.stats().prefix_tokens_reused - before;
  return r;
}

// ---- a decoding sequence while a long prompt is admitted in chunks ----
struct GapRun {
  double gap_before_s = 0;             // median gap while the sequence decodes alone
  double gap_median_s = 0, gap_max_s = 0;  // its gaps from the long prompt's arrival to its first token
  double chunk_s = 0;                  // median time of a step that carries a prefill chunk
  double prefill_s = 0;                // the long prompt's whole prefill (its chunks' steps)
  int chunk_steps = 0;
};

GapRun run_gaps(const xla::GemmaModel& m, const Sizes& z) {
  xla::EngineOptions o;
  o.batch_invariant = g_batch_invariant;
  o.max_seqs = 2;
  o.max_batch_tokens = z.batch_tokens;
  o.max_context = z.long_prompt + z.short_gen + o.block_tokens;
  xla::Engine e(m, o);
  xla::EngineRequest r_short, r_long;
  r_short.prompt = prompt_ids(z.short_prompt, 4000, m.config.vocab_size);
  r_short.generation = greedy(z.short_gen);
  r_long.prompt = prompt_ids(z.long_prompt, 5000, m.config.vocab_size);
  r_long.generation = greedy(2);
  const uint64_t id_short = e.submit(r_short);
  uint64_t id_long = 0;
  std::vector<double> at;  // the short request's token times
  std::vector<double> chunk_steps;
  bool long_started = false;
  size_t tokens_at_arrival = 0;
  const auto t0 = Clock::now();
  while (!e.idle()) {
    const auto ts = Clock::now();
    const std::vector<xla::EngineEvent> events = e.step();
    const auto te = Clock::now();
    const bool chunk_step = id_long != 0 && !long_started;  // the long prompt is being prefilled
    for (const xla::EngineEvent& ev : events) {
      if (ev.id == id_short) at.push_back(seconds_since(t0, te));
      if (ev.id == id_long) long_started = true;
    }
    if (chunk_step) chunk_steps.push_back(seconds_since(ts, te));
    if (id_long == 0 && at.size() >= 4) {  // the short one decodes steadily: the long one arrives
      id_long = e.submit(r_long);
      tokens_at_arrival = at.size();
    }
    if (long_started) break;
  }
  GapRun g;
  std::vector<double> before, during;
  for (size_t i = 1; i < tokens_at_arrival; ++i) before.push_back(at[i] - at[i - 1]);
  for (size_t i = tokens_at_arrival; i < at.size(); ++i) during.push_back(at[i] - at[i - 1]);
  g.gap_before_s = median(before);
  g.gap_median_s = median(during);
  g.gap_max_s = during.empty() ? 0 : *std::max_element(during.begin(), during.end());
  g.chunk_s = median(chunk_steps);
  g.prefill_s = std::accumulate(chunk_steps.begin(), chunk_steps.end(), 0.0);
  g.chunk_steps = int(chunk_steps.size());
  return g;
}

const char* verdict(bool pass) { return pass ? "PASS" : "FAIL"; }

xla::GemmaConfig tiny_config(xla::GemmaConfig c) {
  // Two layers (one sliding, one global) and a 512-word vocabulary: every code path, in seconds.
  c.num_layers = 2;
  c.sliding = {1, 0};
  c.hidden_size = 64;
  c.intermediate_size = 256;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 32;
  c.query_pre_attn_scalar = 32;
  c.vocab_size = 512;
  c.sliding_window = 32;
  c.max_position_embeddings = 4096;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  std::string context_path, config_path = std::string(XLA_SHARED_DIR) + "/bench/gemma3-270m.config.json";
  bool quick = false;
  std::vector<int> seqs;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--context") == 0 && i + 1 < argc) {
      context_path = argv[++i];
    } else if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--seqs") == 0 && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) {
        const int n = std::atoi(item.c_str());
        if (n < 1 || n > 256) {
          std::fprintf(stderr, "bench_serve: --seqs takes batch sizes in [1, 256], got '%s'\n", item.c_str());
          return 2;
        }
        seqs.push_back(n);
      }
    } else if (std::strcmp(argv[i], "--batch-invariant") == 0) {
      g_batch_invariant = true;
    } else {
      std::fprintf(stderr,
                   "bench_serve: unknown argument '%s' (usage: bench_serve [--context FILE] [--config FILE] [--quick] "
                   "[--seqs 1,8] [--batch-invariant])\n",
                   argv[i]);
      return 2;
    }
  }
  std::ifstream f(config_path);
  if (!f) {
    std::fprintf(stderr, "bench_serve: cannot read %s\n", config_path.c_str());
    return 2;
  }
  std::stringstream text;
  text << f.rdbuf();
  xla::GemmaConfig config = xla::GemmaConfig::from_json(text.str());
  if (quick) config = tiny_config(config);
  Sizes z = quick ? kQuick : kFull;
  if (!seqs.empty()) {  // 1 first: the table's ratios are to one sequence
    seqs.insert(seqs.begin(), 1);
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    z.seqs = seqs;
  }
  const bench::Ceilings roof = context_path.empty() ? bench::Ceilings{} : bench::read_context(context_path, "bench_serve");
  const xla::GemmaModel m = xla::GemmaModel::create(config, 1, xla::DType::F32);
  const Cost cost{m.config};
  xla::NoGradGuard no_grad;

  std::printf("bench_serve: %s, %lld layers, random f32 weights, %d threads%s\n", quick ? "tiny model (--quick)" : "Gemma 3 270M shape",
              (long long)config.num_layers, xla::num_threads(), g_batch_invariant ? ", batch_invariant engines" : "");
  if (roof.known())
    std::printf("ceilings (bench_roofline, this sitting): f32 FMA %.1f GFLOP/s, read %.1f GB/s; cpu %s (%s); commit %s\n",
                roof.fma_gflops, roof.read_gbs, roof.cpu.c_str(), roof.flags.c_str(), roof.commit.c_str());
  else
    std::printf("ceilings: not given (pass --context build/benchmarks/roofline.context after `make bench`)\n");
  std::fflush(stdout);

  // Session alone and the engine with one sequence, alternated: the ratio of one sitting.
  const std::vector<int32_t> prompt0 = prompt_ids(z.prompt, 0, config.vocab_size);
  const Reference ref = reference(m, prompt0, z.check);
  SessionRun session;
  std::vector<BatchRun> runs;
  BatchRun one;
  for (int rep = 0; rep < z.reps; ++rep) {
    SessionRun s = run_session(m, prompt0, z.gen);
    if (s.decode_tok_s > session.decode_tok_s) session = s;
    BatchRun b = run_batch(m, 1, z);
    if (rep == 0 || b.decode_tok_s > one.decode_tok_s) one = b;
  }
  // The table, as llama.cpp's batched-bench prints it: PP prompt tokens, TG new tokens, B
  // sequences, N_KV = B·(PP+TG). T_PP: until every sequence has its first token (decode
  // steps of the first ones included); S_TG: aggregate decode over the steps where all B
  // sequences decode and nothing else runs. A row is printed as soon as it is measured.
  const int64_t mid = z.prompt + z.gen / 2;  // the average decode position
  std::printf("\n|   PP |   TG |  B |  N_KV | T_PP s | S_PP t/s | S_TG t/s |   T s |  S t/s | TTFT ms | KV MiB/seq | PP/FMA | TG/bound |\n");
  std::printf("|------|------|----|-------|--------|----------|----------|-------|--------|---------|------------|--------|----------|\n");
  std::fflush(stdout);
  std::vector<std::string> json;
  for (int n : z.seqs) {
    runs.push_back(n == 1 ? one : run_batch(m, n, z));
    const BatchRun& r = runs.back();
    const std::string what = "request 0 of " + std::to_string(r.seqs);
    expect_same(what.c_str(), r.tokens[0], session.tokens);
    compare_logits(what.c_str(), r.logits0, ref);
    if (g_batch_invariant && r.logits0 != runs.front().logits0) {
      std::fprintf(stderr, "bench_serve: %s: batch_invariant, yet its logits are not the bits it had alone\n", what.c_str());
      g_exact = false;
    }
    const double pp_flops = double(r.seqs) * cost.prefill_flops(z.prompt);
    const double pp_frac = roof.known() ? pp_flops / r.prefill_s / (roof.fma_gflops * 1e9) : 0;
    const double bw_bound = roof.known() ? double(r.seqs) * roof.read_gbs * 1e9 / cost.decode_bytes(r.seqs, mid) : 0;
    const double fma_bound = roof.known() ? double(r.seqs) * roof.fma_gflops * 1e9 / cost.decode_flops(r.seqs, mid) : 0;
    const double bound = std::min(bw_bound, fma_bound);
    const double tg_frac = bound > 0 ? r.decode_tok_s / bound : 0;
    const double kv_seq = double(r.stats.kv_bytes) / r.seqs;
    char pp_text[16] = "n/a", tg_text[16] = "n/a";
    if (roof.known()) {
      std::snprintf(pp_text, sizeof pp_text, "%.1f%%", 100 * pp_frac);
      std::snprintf(tg_text, sizeof tg_text, "%.1f%%", 100 * tg_frac);
    }
    std::printf("| %4d | %4d | %2d | %5d | %6.2f | %8.1f | %8.1f | %5.1f | %6.1f | %7.0f | %10.1f | %6s | %8s |\n", z.prompt, z.gen,
                r.seqs, r.seqs * (z.prompt + z.gen), r.prefill_s, r.seqs * z.prompt / r.prefill_s, r.decode_tok_s, r.total_s,
                r.seqs * (z.prompt + z.gen) / r.total_s, 1e3 * r.ttft_mean_s, kv_seq / (1 << 20), pp_text, tg_text);
    std::fflush(stdout);
    char line[1024];
    std::snprintf(line, sizeof line,
                  "{\"bench\":\"serve\",\"case\":\"batch\",\"seqs\":%d,\"prompt\":%d,\"new_tokens\":%d,\"max_batch_tokens\":%d,"
                  "\"prefill_tok_s\":%.2f,\"prefill_of_fma_peak\":%.4f,\"decode_tok_s\":%.2f,\"decode_steps\":%d,"
                  "\"decode_bound_tok_s\":%.2f,\"decode_bw_bound_tok_s\":%.2f,\"decode_of_bound\":%.4f,\"ttft_ms_mean\":%.1f,"
                  "\"total_s\":%.3f,\"kv_bytes\":%zu,\"kv_bytes_per_seq\":%.0f,\"kv_tokens_capacity\":%lld,\"kv_tokens_peak\":%lld,"
                  "\"preemptions\":%lld}",
                  r.seqs, z.prompt, z.gen, z.batch_tokens, r.seqs * z.prompt / r.prefill_s, pp_frac, r.decode_tok_s, r.decode_steps,
                  bound, bw_bound, tg_frac, 1e3 * r.ttft_mean_s, r.total_s, r.stats.kv_bytes, kv_seq,
                  (long long)r.stats.kv_tokens_capacity, (long long)r.peak_kv_used, (long long)r.stats.preemptions);
    json.push_back(line);
  }
  std::fflush(stdout);

  const PrefixRun prefix = run_prefix(m, z);
  {  // the warm request's tokens are what a Session gives for its prompt alone
    xla::Session s(m);
    expect_same("the cached-prefix request", prefix.warm_tokens, s.generate(prefix.warm_prompt, greedy(4)));
  }
  if (prefix.reused != z.prefix) {
    std::fprintf(stderr, "bench_serve: the prefix cache served %lld prompt tokens, not the shared %d\n", (long long)prefix.reused,
                 z.prefix);
    g_exact = false;
  }
  const GapRun gaps = run_gaps(m, z);

  // Targets (printed, not asserted: a shared machine's speed drifts).
  const BatchRun* eight = nullptr;
  for (const BatchRun& r : runs)
    if (r.seqs == 8) eight = &r;
  const double ratio_session = one.decode_tok_s / session.decode_tok_s;
  const double ratio_prefix = prefix.cold_ttft_s / prefix.warm_ttft_s;
  const double ratio_gap = gaps.gap_max_s / gaps.chunk_s;
  std::printf("\nSession decode after %d tokens: %.1f tok/s; engine, 1 sequence: %.1f tok/s (%.3fx)   target >= 0.95x: %s\n",
              z.prompt, session.decode_tok_s, one.decode_tok_s, ratio_session, verdict(ratio_session >= 0.95));
  if (eight)
    std::printf("aggregate decode, 8 sequences: %.1f tok/s (%.2fx one sequence)   target >= 5x: %s\n", eight->decode_tok_s,
                eight->decode_tok_s / one.decode_tok_s, verdict(eight->decode_tok_s >= 5 * one.decode_tok_s));
  std::printf("time to first token, %d+%d tokens: cold %.1f ms, %d-token prefix cached %.1f ms (%.1fx, %lld tokens reused)   target >= 10x: %s\n",
              z.prefix, z.tail, 1e3 * prefix.cold_ttft_s, z.prefix, 1e3 * prefix.warm_ttft_s, ratio_prefix, (long long)prefix.reused,
              verdict(ratio_prefix >= 10));
  std::printf("decode gaps while a %d-token prompt is admitted (%d chunk steps of <= %d tokens, %.0f ms in all):\n"
              "  alone %.1f ms; during: median %.1f ms, max %.1f ms; one chunk's step %.1f ms (max/chunk %.2f)   target <= ~1 chunk: %s\n",
              z.long_prompt, gaps.chunk_steps, z.batch_tokens, 1e3 * gaps.prefill_s, 1e3 * gaps.gap_before_s, 1e3 * gaps.gap_median_s,
              1e3 * gaps.gap_max_s, 1e3 * gaps.chunk_s, ratio_gap, verdict(ratio_gap <= 1.5));
  std::printf("\n");
  for (const std::string& line : json) std::printf("%s\n", line.c_str());
  std::printf("{\"bench\":\"serve\",\"case\":\"session\",\"prompt\":%d,\"new_tokens\":%d,\"prefill_s\":%.3f,\"decode_tok_s\":%.2f,"
              "\"engine_1seq_decode_tok_s\":%.2f,\"engine_over_session\":%.4f}\n",
              z.prompt, z.gen, session.prefill_s, session.decode_tok_s, one.decode_tok_s, ratio_session);
  if (eight)
    std::printf("{\"bench\":\"serve\",\"case\":\"scaling\",\"decode_8_over_1\":%.3f}\n", eight->decode_tok_s / one.decode_tok_s);
  std::printf("{\"bench\":\"serve\",\"case\":\"prefix\",\"prefix\":%d,\"tail\":%d,\"cold_ttft_ms\":%.2f,\"cached_ttft_ms\":%.2f,"
              "\"speedup\":%.2f,\"reused_tokens\":%lld}\n",
              z.prefix, z.tail, 1e3 * prefix.cold_ttft_s, 1e3 * prefix.warm_ttft_s, ratio_prefix, (long long)prefix.reused);
  std::printf("{\"bench\":\"serve\",\"case\":\"gaps\",\"long_prompt\":%d,\"max_batch_tokens\":%d,\"gap_alone_ms\":%.2f,"
              "\"gap_median_ms\":%.2f,\"gap_max_ms\":%.2f,\"chunk_step_ms\":%.2f,\"chunk_steps\":%d,\"max_over_chunk\":%.3f}\n",
              z.long_prompt, z.batch_tokens, 1e3 * gaps.gap_before_s, 1e3 * gaps.gap_median_s, 1e3 * gaps.gap_max_s,
              1e3 * gaps.chunk_s, gaps.chunk_steps, ratio_gap);
  std::printf("{\"bench\":\"serve\",\"case\":\"checks\",\"exact\":%s,\"max_logit_diff\":%.3g}\n", g_exact ? "true" : "false",
              g_worst_logit);
  if (!g_exact) {
    std::printf("bench_serve: checks FAILED (see stderr)\n");
    return 1;
  }
  std::printf("bench_serve: checks passed\n");
  return 0;
}
