// test_engine.cpp — the serving engine against what it must equal: Google's reference logits
// and greedy continuations (../shared/oracle/gemma), and generate() / Session for one request
// alone, whatever shares the steps, however prompts are chunked, with or without the prefix
// cache, through preemption; then its limits: queue, cancellation, bad requests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "xla/gemma.hpp"
#include "xla/engine.hpp"

using namespace xla;

namespace {

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/gemma/";

struct Oracle {
  GemmaModel model;
  nlohmann::json ref;
  std::vector<float> decode_logits;  // [sequences, 8, V]
};

const Oracle& oracle(const std::string& variant) {
  static std::map<std::string, Oracle> cache;
  auto it = cache.find(variant);
  if (it != cache.end()) return it->second;
  Oracle o;
  o.model = GemmaModel::load(kOracle + variant);
  std::ifstream f(kOracle + variant + "/reference.json");
  o.ref = nlohmann::json::parse(f);
  std::ifstream b(kOracle + variant + "/decode_logits.f32", std::ios::binary);
  const size_t n = 2 * 8 * size_t(o.model.vocab_size());
  o.decode_logits.resize(n);
  b.read(reinterpret_cast<char*>(o.decode_logits.data()), std::streamsize(n * sizeof(float)));
  EXPECT_TRUE(b) << "decode_logits.f32 is short";
  return cache.emplace(variant, std::move(o)).first->second;
}

std::vector<int32_t> random_prompt(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<int32_t> p{2};
  while (int64_t(p.size()) < n) p.push_back(int32_t(3 + g() % uint64_t(vocab - 3)));
  return p;
}

EngineRequest request(std::vector<int32_t> prompt, int32_t new_tokens, float temperature = 0, uint64_t seed = 0) {
  EngineRequest r;
  r.prompt = std::move(prompt);
  r.generation.max_new_tokens = new_tokens;
  r.generation.sampler.temperature = temperature;
  r.generation.sampler.seed = seed;
  return r;
}

// Runs the engine until idle; every event of each request, in order.
std::map<uint64_t, std::vector<EngineEvent>> drain(Engine& e, int max_steps = 100000) {
  std::map<uint64_t, std::vector<EngineEvent>> out;
  for (int i = 0; i < max_steps && !e.idle(); ++i)
    for (EngineEvent& ev : e.step()) out[ev.id].push_back(std::move(ev));
  EXPECT_TRUE(e.idle()) << "the engine did not finish";
  return out;
}

std::vector<int32_t> tokens_of(const std::vector<EngineEvent>& events) {
  std::vector<int32_t> t;
  for (const EngineEvent& e : events) t.push_back(e.token);
  return t;
}

float max_abs_diff(const std::vector<float>& a, const float* b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// The logits a Session gives before each of `tokens` (prompt fed, then each token fed).
std::vector<std::vector<float>> session_logits(const GemmaModel& m, const std::vector<int32_t>& prompt,
                                               const std::vector<int32_t>& tokens) {
  Session s(m);
  std::vector<std::vector<float>> out{s.feed(prompt)};
  for (size_t i = 0; i + 1 < tokens.size(); ++i) out.push_back(s.feed({tokens[i]}));
  return out;
}

class EngineOracle : public ::testing::TestWithParam<std::string> {};

// Both reference sequences at once, prompts cut in chunks of 5: Google's greedy
// continuation exactly, and its decode logits within 1e-4.
TEST_P(EngineOracle, ReferenceContinuationsTogether) {
  const Oracle& o = oracle(GetParam());
  EngineOptions opt;
  opt.max_batch_tokens = 5;
  Engine e(o.model, opt);
  std::vector<uint64_t> ids;
  for (int s = 0; s < 2; ++s) {
    EngineRequest r = request(o.ref["sequences"][s]["token_ids"].get<std::vector<int32_t>>(), 8);
    r.keep_logits = true;
    ids.push_back(e.submit(r));
  }
  auto out = drain(e);
  const int64_t V = o.model.vocab_size();
  for (int s = 0; s < 2; ++s) {
    const auto& ev = out[ids[size_t(s)]];
    EXPECT_EQ(tokens_of(ev), o.ref["sequences"][s]["greedy_continuation"].get<std::vector<int32_t>>());
    ASSERT_EQ(ev.size(), 8u);
    for (size_t t = 0; t < 8; ++t)
      EXPECT_LT(max_abs_diff(ev[t].logits, o.decode_logits.data() + (size_t(s) * 8 + t) * size_t(V)), 1e-4f)
          << "sequence " << s << " step " << t;
    EXPECT_EQ(ev.back().finish, Finish::Length);
  }
}

// Six requests of different lengths (all past the sliding window of 8), greedy and seeded
// sampling, through steps of 7 tokens: each equals generate() alone, and its logits the
// single-sequence Session's.
TEST_P(EngineOracle, EachRequestEqualsGenerateAlone) {
  const Oracle& o = oracle(GetParam());
  const int64_t V = o.model.vocab_size();
  EngineOptions opt;
  opt.max_batch_tokens = 7;
  opt.max_seqs = 4;  // six requests: two wait for a place
  Engine e(o.model, opt);
  std::vector<EngineRequest> reqs;
  for (int i = 0; i < 6; ++i) {
    EngineRequest r = request(random_prompt(9 + 5 * i, V, 100 + uint64_t(i)), 12 + i, i % 2 ? 0.9f : 0.f, 7 + uint64_t(i));
    if (i == 3) {
      r.generation.sampler.top_k = 20;
      r.generation.sampler.top_p = 0.9f;
      r.generation.sampler.repetition_penalty = 1.3f;
    }
    r.keep_logits = true;
    reqs.push_back(r);
  }
  std::vector<uint64_t> ids;
  for (const auto& r : reqs) ids.push_back(e.submit(r));
  auto out = drain(e);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& ev = out[ids[i]];
    const std::vector<int32_t> want = generate(o.model, reqs[i].prompt, reqs[i].generation);
    EXPECT_EQ(tokens_of(ev), want) << "request " << i;
    auto logits = session_logits(o.model, reqs[i].prompt, want);
    for (size_t t = 0; t < std::min(ev.size(), logits.size()); ++t)
      EXPECT_LT(max_abs_diff(logits[t], ev[t].logits.data()), 1e-4f) << "request " << i << " token " << t;
  }
  EXPECT_EQ(e.stats().kv_tokens_used, 0) << "finished requests hold no blocks";
}

// The same request alone with chunks of 1, 3 and 64 tokens, and beside others: the same
// tokens, logits within float noise.
TEST_P(EngineOracle, ChunkingAndCompanyDoNotChangeARequest) {
  const Oracle& o = oracle(GetParam());
  const int64_t V = o.model.vocab_size();
  const EngineRequest r = [&] {
    EngineRequest x = request(random_prompt(37, V, 5), 10, 0.7f, 99);
    x.keep_logits = true;
    return x;
  }();
  std::vector<std::vector<EngineEvent>> runs;
  for (int chunk : {1, 3, 64}) {
    for (bool company : {false, true}) {
      EngineOptions opt;
      opt.max_batch_tokens = chunk;
      Engine e(o.model, opt);
      if (company) e.submit(request(random_prompt(20, V, 6), 15));
      const uint64_t id = e.submit(r);
      if (company) e.submit(request(random_prompt(25, V, 8), 5, 1.0f, 3));
      runs.push_back(drain(e)[id]);
    }
  }
  for (size_t k = 1; k < runs.size(); ++k) {
    EXPECT_EQ(tokens_of(runs[k]), tokens_of(runs[0])) << "run " << k;
    for (size_t t = 0; t < runs[0].size(); ++t) EXPECT_LT(max_abs_diff(runs[0][t].logits, runs[k][t].logits.data()), 1e-4f);
  }
}

// With batch_invariant, the same: bit for bit.
TEST_P(EngineOracle, BatchInvariantIsBitIdentical) {
  const Oracle& o = oracle(GetParam());
  const int64_t V = o.model.vocab_size();
  EngineRequest r = request(random_prompt(37, V, 5), 10, 0.7f, 99);
  r.keep_logits = true;
  std::vector<std::vector<EngineEvent>> runs;
  for (int chunk : {1, 3, 64}) {
    for (int company : {0, 1, 3}) {
      EngineOptions opt;
      opt.max_batch_tokens = chunk;
      opt.batch_invariant = true;
      Engine e(o.model, opt);
      for (int c = 0; c < company; ++c) e.submit(request(random_prompt(20 + c, V, 6 + uint64_t(c)), 15));
      const uint64_t id = e.submit(r);
      if (company) e.submit(request(random_prompt(25, V, 8), 5, 1.0f, 3));
      runs.push_back(drain(e)[id]);
    }
  }
  for (size_t k = 1; k < runs.size(); ++k) {
    ASSERT_EQ(tokens_of(runs[k]), tokens_of(runs[0])) << "run " << k;
    for (size_t t = 0; t < runs[0].size(); ++t) EXPECT_EQ(runs[0][t].logits, runs[k][t].logits) << "run " << k << " token " << t;
  }
}

// A second request with the same 32-token prefix reuses its blocks (both groups: the sliding
// layers' window included) and still equals generate(); a different prefix reuses nothing.
TEST_P(EngineOracle, PrefixCacheReusesBlocksExactly) {
  const Oracle& o = oracle(GetParam());
  const int64_t V = o.model.vocab_size();
  Engine e(o.model);
  std::vector<int32_t> shared = random_prompt(32, V, 11), a = shared, b = shared, c = random_prompt(40, V, 12);
  for (int i = 0; i < 8; ++i) a.push_back(int32_t(10 + i)), b.push_back(int32_t(40 + i));
  const uint64_t ia = e.submit(request(a, 6));
  auto out = drain(e);
  EXPECT_EQ(e.stats().prefix_tokens_reused, 0);
  const uint64_t ib = e.submit(request(b, 6, 0.8f, 4));
  auto out_b = drain(e);
  EXPECT_EQ(e.stats().prefix_tokens_reused, 32);
  const uint64_t ic = e.submit(request(c, 6));
  auto out_c = drain(e);
  EXPECT_EQ(e.stats().prefix_tokens_reused, 32) << "an unrelated prompt reuses nothing";
  // c's first block, then the shared prompt's second: the first is found, the second is
  // not — a key is chained to everything before it
  std::vector<int32_t> d = c;
  std::copy(shared.begin() + 16, shared.begin() + 32, d.begin() + 16);
  const uint64_t id = e.submit(request(d, 3));
  EXPECT_EQ(tokens_of(drain(e)[id]), generate(o.model, d, request(d, 3).generation));
  EXPECT_EQ(e.stats().prefix_tokens_reused, 32 + 16) << "a block is found only after the same prefix";
  EXPECT_EQ(tokens_of(out[ia]), generate(o.model, a, request(a, 6).generation));
  EXPECT_EQ(tokens_of(out_b[ib]), generate(o.model, b, request(b, 6, 0.8f, 4).generation));
  EXPECT_EQ(tokens_of(out_c[ic]), generate(o.model, c, request(c, 6).generation));
  // the whole prompt cached: its last token is still computed, for the logits
  const uint64_t ia2 = e.submit(request(a, 6));
  EXPECT_EQ(tokens_of(drain(e)[ia2]), tokens_of(out[ia]));
  EXPECT_EQ(e.stats().prefix_tokens_reused, 32 + 16 + 32);
}

// Room for 48 tokens of KV, three requests of 40: sequences are preempted and recomputed,
// none fails, each still equals generate().
TEST_P(EngineOracle, PreemptionRecomputesExactly) {
  const Oracle& o = oracle(GetParam());
  const int64_t V = o.model.vocab_size();
  for (bool prefix : {true, false}) {
    EngineOptions opt;
    opt.kv_tokens = 48;
    opt.block_tokens = 8;
    opt.prefix_cache = prefix;
    Engine e(o.model, opt);
    std::vector<EngineRequest> reqs;
    std::vector<uint64_t> ids;
    for (int i = 0; i < 3; ++i) {
      reqs.push_back(request(random_prompt(14 + i, V, 30 + uint64_t(i)), 24, i == 1 ? 1.0f : 0.f, uint64_t(i)));
      ids.push_back(e.submit(reqs.back()));
    }
    auto out = drain(e);
    EXPECT_GT(e.stats().preemptions, 0);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(tokens_of(out[ids[i]]), generate(o.model, reqs[i].prompt, reqs[i].generation)) << "request " << i;
    EXPECT_EQ(e.stats().kv_tokens_used, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Gemma, EngineOracle, ::testing::Values("gemma1", "gemma2", "gemma3"));

// bf16 keys and values: half the memory, logits close to f32's.
TEST(Engine, Bf16CacheHalvesMemoryAndStaysClose) {
  const Oracle& o = oracle("gemma3");
  EngineOptions f32opt, bf16opt;
  bf16opt.kv_dtype = DType::BF16;
  Engine a(o.model, f32opt), b(o.model, bf16opt);
  EngineRequest r = request(random_prompt(30, o.model.vocab_size(), 1), 4);
  r.keep_logits = true;
  const uint64_t ia = a.submit(r), ib = b.submit(r);
  auto ea = drain(a)[ia], eb = drain(b)[ib];
  EXPECT_EQ(b.stats().kv_bytes * 2, a.stats().kv_bytes);
  const float d = max_abs_diff(ea[0].logits, eb[0].logits.data());
  EXPECT_GT(d, 0.f) << "the bf16 cache rounds";
  EXPECT_LT(d, 0.05f);
}

TEST(Engine, StopIdsLogprobsAndContextEnd) {
  const Oracle& o = oracle("gemma1");
  const int64_t V = o.model.vocab_size();
  Engine e(o.model);
  const std::vector<int32_t> prompt = random_prompt(12, V, 3);
  const std::vector<int32_t> free_run = generate(o.model, prompt, request(prompt, 6, 1.f, 5).generation);
  size_t k = 1;  // the first token that did not come before: the stop id
  while (k < 6 && std::find(free_run.begin(), free_run.begin() + ptrdiff_t(k), free_run[k]) != free_run.begin() + ptrdiff_t(k)) ++k;
  ASSERT_LT(k, 6u) << "a sampled run of six with no new token after the first";
  EngineRequest r = request(prompt, 6, 1.f, 5);
  r.generation.stop_ids = {free_run[k]};
  r.top_logprobs = 3;
  const uint64_t id = e.submit(r);
  EngineRequest full = request(random_prompt(120, V, 4), 50);  // context 128: 8 tokens fit
  const uint64_t id_full = e.submit(full);
  auto out = drain(e);
  const auto& ev = out[id];
  ASSERT_EQ(ev.size(), k + 1);
  EXPECT_EQ(ev[k].finish, Finish::Stop);
  EXPECT_EQ(ev[0].finish, Finish::None);
  // log-probs: of the logits the token was drawn from; the top list is sorted
  auto logits = session_logits(o.model, prompt, free_run);
  const auto& l0 = logits[0];
  double z = 0;
  const float mx = *std::max_element(l0.begin(), l0.end());
  for (float x : l0) z += std::exp(double(x) - mx);
  EXPECT_NEAR(ev[0].logprob, l0[size_t(free_run[0])] - (mx + std::log(z)), 1e-4);
  ASSERT_EQ(ev[0].top.size(), 3u);
  const int32_t best = int32_t(std::max_element(l0.begin(), l0.end()) - l0.begin());
  EXPECT_EQ(ev[0].top[0].first, best);
  EXPECT_NEAR(ev[0].top[0].second, l0[size_t(best)] - (mx + std::log(z)), 1e-4);
  EXPECT_GE(ev[0].top[0].second, ev[0].top[1].second);
  EXPECT_GE(ev[0].top[1].second, ev[0].top[2].second);
  EXPECT_EQ(out[id_full].size(), 8u) << "the context (128) ends the request";
  EXPECT_EQ(out[id_full].back().finish, Finish::Length);
}

TEST(Engine, CancelFreesBlocksAndUnknownIdsAreErrors) {
  const Oracle& o = oracle("gemma1");
  const int64_t V = o.model.vocab_size();
  Engine e(o.model);
  const uint64_t a = e.submit(request(random_prompt(20, V, 1), 50));
  const uint64_t b = e.submit(request(random_prompt(20, V, 2), 3));
  std::map<uint64_t, std::vector<EngineEvent>> out;
  for (int i = 0; i < 2; ++i)
    for (EngineEvent& ev : e.step()) out[ev.id].push_back(ev);
  EXPECT_GT(e.stats().kv_tokens_used, 0);
  e.cancel(a);
  e.cancel(a);  // still live until the next step: harmless
  for (auto& [id, evs] : drain(e)) out[id].insert(out[id].end(), evs.begin(), evs.end());
  ASSERT_FALSE(out[a].empty());
  EXPECT_EQ(out[a].back().finish, Finish::Cancelled);
  EXPECT_EQ(out[a].back().token, -1);
  EXPECT_EQ(out[b].size(), 3u);
  EXPECT_EQ(e.stats().kv_tokens_used, 0);
  EXPECT_EQ(e.stats().running, 0);
  for (uint64_t id : {a, b, uint64_t(77)}) {
    try {
      e.cancel(id);
      ADD_FAILURE() << "cancel(" << id << ") should fail";
    } catch (const Error& err) {
      EXPECT_EQ(err.status(), Status::InvalidArg);
      EXPECT_NE(std::string(err.what()).find("unknown or finished"), std::string::npos) << err.what();
    }
  }
  // a waiting request cancelled before its first step never runs
  const uint64_t c = e.submit(request(random_prompt(10, V, 3), 5));
  e.cancel(c);
  auto out_c = drain(e);
  ASSERT_EQ(out_c[c].size(), 1u);
  EXPECT_EQ(out_c[c][0].finish, Finish::Cancelled);
}

TEST(Engine, FullQueueIsBusyAndNothingElseMoves) {
  const Oracle& o = oracle("gemma1");
  const int64_t V = o.model.vocab_size();
  EngineOptions opt;
  opt.max_queue = 2;
  Engine e(o.model, opt);
  const auto p = random_prompt(10, V, 1);
  const uint64_t a = e.submit(request(p, 4)), b = e.submit(request(p, 4));
  try {
    e.submit(request(p, 4));
    ADD_FAILURE() << "a third request should not fit a queue of 2";
  } catch (const Error& err) {
    EXPECT_EQ(err.status(), Status::Busy);
    EXPECT_NE(std::string(err.what()).find("queue is full"), std::string::npos) << err.what();
  }
  auto out = drain(e);
  EXPECT_EQ(out[a].size(), 4u);
  EXPECT_EQ(out[b].size(), 4u);
  EXPECT_EQ(b, a + 1) << "a refused request takes no id";
  EXPECT_EQ(e.submit(request(p, 4)), b + 1);
}

TEST(Engine, BadRequestsAreInvalidArgsNamingTheProblem) {
  const Oracle& o = oracle("gemma1");
  Engine e(o.model);
  auto expect_invalid = [&](EngineRequest r, const std::string& words) {
    try {
      e.submit(r);
      ADD_FAILURE() << "expected an error about " << words;
    } catch (const Error& err) {
      EXPECT_EQ(err.status(), Status::InvalidArg) << err.what();
      EXPECT_NE(std::string(err.what()).find(words), std::string::npos) << err.what();
    }
  };
  expect_invalid(request({}, 4), "empty prompt");
  expect_invalid(request(std::vector<int32_t>(128, 5), 4), "does not fit the context of 128");
  expect_invalid(request({2, 512}, 4), "prompt[1] = 512 is outside the vocabulary");
  expect_invalid(request({2, -1}, 4), "prompt[1] = -1");
  expect_invalid(request({2, 5}, 0), "max_new_tokens");
  expect_invalid(request({2, 5}, 4, -1.f), "temperature");
  EngineRequest top = request({2, 5}, 4);
  top.top_logprobs = 21;
  expect_invalid(top, "top_logprobs");
  EXPECT_TRUE(e.idle()) << "nothing was queued";
  EngineOptions bad;
  bad.max_seqs = 0;
  EXPECT_THROW(Engine(o.model, bad), Error);
  bad = {};
  bad.kv_dtype = DType::I32;
  EXPECT_THROW(Engine(o.model, bad), Error);
}

// Requests submitted from several threads while one thread steps: all finish, each exact.
TEST(Engine, SubmitFromOtherThreadsWhileOneSteps) {
  const Oracle& o = oracle("gemma3");
  const int64_t V = o.model.vocab_size();
  Engine e(o.model);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i) prompts.push_back(random_prompt(10 + i, V, 50 + uint64_t(i)));
  std::vector<uint64_t> ids(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < 8; i += 4) ids[size_t(i)] = e.submit(request(prompts[size_t(i)], 6));
    });
  std::map<uint64_t, std::vector<EngineEvent>> out;
  for (int step = 0; step < 10; ++step)
    for (EngineEvent& ev : e.step()) out[ev.id].push_back(ev);
  for (auto& th : threads) th.join();
  for (auto& [id, evs] : drain(e)) out[id].insert(out[id].end(), evs.begin(), evs.end());
  for (size_t i = 0; i < 8; ++i)
    EXPECT_EQ(tokens_of(out[ids[i]]), generate(o.model, prompts[i], request(prompts[i], 6).generation));
}

}  // namespace
