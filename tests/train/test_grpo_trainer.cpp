// test_grpo_trainer.cpp — the GRPO trainer: a tiny model learns to emit the rewarded tokens
// (the reward rises, the KL to its frozen start stays bounded); the step's kl against log-probs
// scored one token at a time by another path; a resume mid-round equal to the uninterrupted
// run; μ > 1 reusing a round (ratio 1 on its first step); the sessions sampler; prompt data,
// built-in rewards and TRL's metric names; and bad input refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tiny.hpp"
#include "xla/gemma.hpp"
#include "xla/grpo_trainer.hpp"
#include "xla/loss.hpp"

using json = nlohmann::json;
using namespace xla;
using train::GrpoTrainer;
using train::GrpoTrainerOptions;

namespace {

constexpr int32_t kByte = train::TextCodec::kByteOffset;  // byte b is id b + 3

// Prompts "p0".."p{n-1}" over bytes.
train::PromptDataset prompts(int n) {
  std::vector<std::string> texts;
  for (int i = 0; i < n; ++i) texts.push_back("p" + std::to_string(i));
  return train::PromptDataset::from_text(texts, {}, train::TextCodec{});
}

// 1 when the completion's first token is a lowercase letter (about a tenth of the bytes of a
// random model): frequent enough that most groups carry a signal.
train::Reward lowercase_first() {
  return {"lowercase", [](const train::Completion& c) {
            return !c.ids.empty() && c.ids[0] >= 'a' + kByte && c.ids[0] <= 'z' + kByte ? 1.0 : 0.0;
          }};
}

GrpoTrainerOptions quiet() {
  GrpoTrainerOptions o;
  o.progress = 0;
  o.grpo.group_size = 4;
  o.batch_size = 8;
  o.max_completion_length = 3;
  o.engine.max_seqs = 8;
  return o;
}

std::vector<float> weights(GemmaModel& m) {
  std::vector<float> all;
  for (auto& [name, p] : m.named_parameters()) {
    const std::vector<float> v = p->contiguous().to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

template <typename F>
void expect_error(F&& f, Status status, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming: " << words;
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << "'" << e.what() << "' does not name: " << words;
  }
}

// Two runs from one start, the reference its frozen copy: with beta = 1e-6 (the KL measured,
// hardly felt) the reward goes to ~1 and the policy drifts far; with beta = 0.3 the reward
// still rises while the KL stays small. One RL run is one draw (its last bits decide which
// completions are sampled), so the claims are checked over four sampling seeds: each run's
// KL is bounded, and the reward rises on average.
TEST(GrpoTrainer, LearnsTheRewardedTokenWithBoundedKl) {
  const GemmaModel start = GemmaModel::create(tiny_config(3), 21);
  const train::PromptDataset data = prompts(8);
  struct Curve {
    std::vector<double> reward, kl;
    double mean(const std::vector<double>& v, size_t from, size_t to) const {
      double s = 0;
      for (size_t i = from; i < to; ++i) s += v[i];
      return s / double(to - from);
    }
  };
  auto train_with = [&](float beta, uint64_t seed) {
    GemmaModel policy = start.clone();
    train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 2e-2));
    GrpoTrainerOptions o = quiet();
    o.grpo.beta = beta;
    o.grad_accum = 2;
    o.steps = 40;
    o.seed = seed;
    o.rewards = {lowercase_first()};
    GrpoTrainer t(policy, opt, data, train::TextCodec{}, o);
    Curve c;
    t.run([&](const train::GrpoStepMetrics& m) {
      c.reward.push_back(m.reward);
      c.kl.push_back(m.kl);
      EXPECT_TRUE(m.sampled);               // μ = 1: every step draws
      EXPECT_EQ(m.clip_ratio_region, 0.0);  // on-policy: the ratio is 1
      return true;
    });
    return c;
  };
  double rise = 0;
  const uint64_t seeds[] = {1, 2, 3, 4};
  for (uint64_t seed : seeds) {
    const Curve free = train_with(1e-6f, seed), held = train_with(0.3f, seed);
    ASSERT_EQ(free.reward.size(), 40u);
    ASSERT_EQ(held.reward.size(), 40u);
    const double free_kl = free.mean(free.kl, 30, 40);
    std::printf("seed %d  beta 1e-6: reward %.3f -> %.3f, kl %.3f at the end;  beta 0.3: reward %.3f -> %.3f, kl %.3f\n",
                int(seed), free.mean(free.reward, 0, 5), free.mean(free.reward, 35, 40), free_kl,
                held.mean(held.reward, 0, 5), held.mean(held.reward, 35, 40), held.mean(held.kl, 30, 40));
    EXPECT_LT(free.mean(free.reward, 0, 5), 0.3);
    EXPECT_GT(free.mean(free.reward, 35, 40), 0.9);
    EXPECT_GT(free_kl, 2.0);
    EXPECT_EQ(held.kl[0], 0.0);  // the policy starts as its frozen copy
    // a step's KL is estimated from its few samples: its mean over any 5 steps is what stays low
    for (size_t i = 0; i + 5 <= held.kl.size(); ++i) EXPECT_LT(held.mean(held.kl, i, i + 5), 0.5 * free_kl) << i;
    EXPECT_LT(held.mean(held.kl, 30, 40), 0.3 * free_kl);
    rise += (held.mean(held.reward, 35, 40) - held.mean(held.reward, 0, 5)) / std::size(seeds);
  }
  EXPECT_GT(rise, 0.15);
}

// The step's kl from the trainer's batched, padded, gathered log-probs against one-token-at-a-
// time scoring of each completion through sequence_logprob: the alignment of every completion
// token, the padding, the temperature and the k3 formula.
TEST(GrpoTrainer, KlMatchesTokenByTokenScoring) {
  const GemmaModel start = GemmaModel::create(tiny_config(2), 5);  // Gemma 2: the final soft-cap too
  const GemmaModel ref = GemmaModel::create(tiny_config(2), 6);
  GemmaModel policy = start.clone();
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-3));
  const train::PromptDataset data = prompts(3);
  GrpoTrainerOptions o = quiet();
  o.grpo.group_size = 3;
  o.batch_size = 9;
  o.max_completion_length = 5;
  o.grpo.beta = 0.1f;
  o.reference = train::ReferenceKind::Model;
  o.reference_model = &ref;
  o.sampling.temperature = 1.f;
  o.steps = 1;
  o.rewards = {lowercase_first()};
  GrpoTrainer t(policy, opt, data, train::TextCodec{}, o);
  const train::GrpoStepMetrics m = t.step();
  const GrpoTrainer::Round& r = t.round();
  ASSERT_EQ(r.completions.size(), 9u);
  double kl = 0;
  std::vector<size_t> lengths;
  for (size_t i = 0; i < 9; ++i) {
    std::vector<int32_t> row = data[r.prompts[i / 3]].ids;
    const size_t p = row.size();
    const auto& c = r.completions[i];
    ASSERT_FALSE(c.empty());
    lengths.push_back(c.size());
    row.insert(row.end(), c.begin(), c.end());
    double sum = 0;
    for (size_t j = 0; j < c.size(); ++j) {
      const std::vector<int32_t> upto(row.begin(), row.begin() + long(p + j + 1));
      const double lp = train::sequence_logprob(start, upto, int64_t(p + j));
      const double lr = train::sequence_logprob(ref, upto, int64_t(p + j));
      sum += std::exp(lr - lp) - (lr - lp) - 1;
    }
    kl += sum / double(c.size());
  }
  kl /= 9;
  EXPECT_NEAR(m.kl, kl, 1e-4 * kl) << "completions of lengths " << lengths[0] << ".." << lengths[8];
  EXPECT_GT(kl, 0.01);
  // the reward is the weighted sum the function gave, its mean over the round
  double want = 0;
  for (size_t i = 0; i < 9; ++i) want += r.parts[0][i];
  EXPECT_DOUBLE_EQ(m.reward, want / 9);
}

// Sampling at another temperature scores under logits / T: with T = 0.5 the first step's kl
// (policy = reference copy) is 0 and the completions are sharper; the loss is finite.
TEST(GrpoTrainer, TemperatureScoresTheSamplingDistribution) {
  GemmaModel policy = GemmaModel::create(tiny_config(3), 8);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-3));
  const train::PromptDataset data = prompts(2);
  GrpoTrainerOptions o = quiet();
  o.sampling.temperature = 0.5f;
  o.grpo.beta = 0.04f;
  o.steps = 2;
  o.rewards = {lowercase_first()};
  GrpoTrainer t(policy, opt, data, train::TextCodec{}, o);
  const train::GrpoStepMetrics m = t.step();
  EXPECT_EQ(m.kl, 0.0);
  EXPECT_TRUE(std::isfinite(m.loss));
  EXPECT_GT(t.step().kl, 0.0);
}

// μ = 2: the first step of a round has ratio 1 (old = the policy that sampled); the second
// reuses the samples after an update, so the ratios move.
TEST(GrpoTrainer, NumIterationsReuseTheRound) {
  GemmaModel policy = GemmaModel::create(tiny_config(3), 9);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 5e-2));
  const train::PromptDataset data = prompts(4);
  GrpoTrainerOptions o = quiet();
  o.num_iterations = 2;
  o.grpo.epsilon = 0.01f;  // a narrow clip: the second step's ratios leave it
  o.grpo.epsilon_high = 0.01f;
  o.steps = 4;
  o.rewards = {lowercase_first()};
  GrpoTrainer t(policy, opt, data, train::TextCodec{}, o);
  const train::GrpoStepMetrics a = t.step();
  const std::vector<std::vector<int32_t>> first_round = t.round().completions;
  const train::GrpoStepMetrics b = t.step();
  EXPECT_TRUE(a.sampled);
  EXPECT_FALSE(b.sampled);
  EXPECT_EQ(t.round().completions, first_round);
  EXPECT_EQ(a.clip_ratio_region, 0.0);
  EXPECT_GT(b.clip_ratio_region, 0.0);
  EXPECT_EQ(a.reward, b.reward);
  EXPECT_TRUE(t.step().sampled);
}

// Four steps with μ = 2 and a checkpoint after step 3 (mid-round): new objects resumed from it
// give step 4 bit-identical to the uninterrupted run, and the same weights.
TEST(GrpoTrainer, ResumeMidRoundEqualsTheUninterruptedRun) {
  const std::string dir = scratch_dir("grpo_resume");
  const train::PromptDataset data = prompts(6);
  const GemmaModel start = GemmaModel::create(tiny_config(3), 13);
  auto options = [&](const std::string& ckpt) {
    GrpoTrainerOptions o = quiet();
    o.num_iterations = 2;
    o.grad_accum = 2;
    o.steps = 5;
    o.seed = 4;
    o.grpo.beta = 0.02f;
    o.schedule = {train::ScheduleKind::Cosine, 1, 0, 0.1};
    o.checkpoint_dir = ckpt;
    o.metrics_path = ckpt.empty() ? "" : ckpt + "/metrics.jsonl";
    o.rewards = {lowercase_first()};
    return o;
  };
  const train::OptimizerOptions adamw = train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 2e-2);
  GemmaModel a = start.clone();
  train::Optimizer oa(a, adamw);
  GrpoTrainer ta(a, oa, data, train::TextCodec{}, options(""));
  std::vector<train::GrpoStepMetrics> straight;
  ta.run([&](const train::GrpoStepMetrics& m) {
    straight.push_back(m);
    return true;
  });
  {
    GemmaModel b = start.clone();
    train::Optimizer ob(b, adamw);
    GrpoTrainer tb(b, ob, data, train::TextCodec{}, options(dir));
    EXPECT_FALSE(tb.resume());
    tb.run([](const train::GrpoStepMetrics& m) { return m.step < 3; });
    tb.save();  // mid-round: step 4 will reuse step 3's samples
  }
  GemmaModel c = start.clone();
  train::Optimizer oc(c, adamw);
  GrpoTrainer tc(c, oc, data, train::TextCodec{}, options(dir));
  ASSERT_TRUE(tc.resume());
  EXPECT_EQ(tc.current_step(), 3);
  std::vector<train::GrpoStepMetrics> rest;
  tc.run([&](const train::GrpoStepMetrics& m) {
    rest.push_back(m);
    return true;
  });
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_FALSE(rest[0].sampled);  // step 4 reuses the round drawn at step 3
  EXPECT_TRUE(rest[1].sampled);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rest[i].loss, straight[3 + i].loss) << "step " << 4 + i;
    EXPECT_EQ(rest[i].kl, straight[3 + i].kl) << "step " << 4 + i;
    EXPECT_EQ(rest[i].reward, straight[3 + i].reward) << "step " << 4 + i;
  }
  EXPECT_TRUE(weights(c) == weights(a));
  std::ifstream f(dir + "/metrics.jsonl");
  std::string line;
  std::vector<int64_t> steps;
  while (std::getline(f, line)) steps.push_back(json::parse(line)["step"].get<int64_t>());
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  // another reference cannot resume this run
  GemmaModel other = GemmaModel::create(tiny_config(3), 14);
  train::Optimizer oo(other, adamw);
  GrpoTrainer to(other, oo, data, train::TextCodec{}, options(dir));
  expect_error([&] { to.resume(); }, Status::InvalidArg, "was trained against reference frozen-copy:");
}

// The sessions sampler: each completion is generate() with its seed; both samplers give rounds
// of the same shape, and the truncation flag follows the stop token.
TEST(GrpoTrainer, SessionsSamplerDrawsWhatGenerateDraws) {
  GemmaModel policy = GemmaModel::create(tiny_config(3), 15);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-3));
  const train::PromptDataset data = prompts(2);
  GrpoTrainerOptions o = quiet();
  o.sampler = train::GrpoSampler::Sessions;
  o.max_completion_length = 6;
  o.stop_ids = {'e' + kByte, 'a' + kByte};
  o.rewards = {lowercase_first()};
  GrpoTrainer t(policy, opt, data, train::TextCodec{}, o);
  const std::vector<size_t> idx{1, 0};
  const GrpoTrainer::Round r = t.sample(idx, 7);
  ASSERT_EQ(r.completions.size(), 8u);
  int64_t tokens = 0;
  for (size_t i = 0; i < 8; ++i) {
    const auto& c = r.completions[i];
    const bool stopped = c.back() == 'e' + kByte || c.back() == 'a' + kByte;
    EXPECT_EQ(r.truncated[i] != 0, !stopped);
    EXPECT_EQ(stopped || c.size() == 6, true);
    tokens += int64_t(c.size());
  }
  EXPECT_EQ(r.sampled_tokens, tokens);
  // the same round again: the seeds derive from the round number and the row
  EXPECT_EQ(t.sample(idx, 7).completions, r.completions);
  EXPECT_NE(t.sample(idx, 8).completions, r.completions);
  // the engine draws rounds of the same shape
  o.sampler = train::GrpoSampler::Engine;
  GrpoTrainer te(policy, opt, data, train::TextCodec{}, o);
  const GrpoTrainer::Round re = te.sample(idx, 7);
  ASSERT_EQ(re.completions.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    const auto& c = re.completions[i];
    EXPECT_EQ(re.truncated[i] != 0, c.back() != 'e' + kByte && c.back() != 'a' + kByte);
  }
}

// The engine computes each group's prompt once: its first completion goes ahead, the other
// group_size − 1 reuse the prompt's full blocks (16 tokens each) from the prefix cache.
TEST(GrpoTrainer, EngineSharesEachGroupsPrompt) {
  GemmaModel policy = GemmaModel::create(tiny_config(3), 19);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-3));
  std::vector<train::PromptExample> ps;
  for (int p = 0; p < 2; ++p) {
    std::vector<int32_t> ids{2};
    for (int i = 1; i < 40; ++i) ids.push_back(int32_t(3 + (p * 31 + i * 7) % 250));
    ps.push_back({ids, "", ""});
  }
  const train::PromptDataset data(ps);
  GrpoTrainerOptions o = quiet();
  o.rewards = {lowercase_first()};
  GrpoTrainer t(policy, opt, data, train::TextCodec{}, o);
  const std::vector<size_t> idx{0, 1};
  const GrpoTrainer::Round r = t.sample(idx, 0);
  EXPECT_EQ(r.prefix_tokens_reused, 2 * 3 * 32);  // 2 prompts × 3 followers × 2 full blocks
  for (const auto& c : r.completions) EXPECT_FALSE(c.empty());
  // sessions share nothing: each completion computes its prompt
  o.sampler = train::GrpoSampler::Sessions;
  GrpoTrainer ts(policy, opt, data, train::TextCodec{}, o);
  EXPECT_EQ(ts.sample(idx, 0).prefix_tokens_reused, 0);
}

TEST(GrpoTrainer, BuiltInRewardsAndPromptData) {
  const std::string dir = scratch_dir("grpo_data");
  {
    std::ofstream f(dir + "/prompts.jsonl");
    f << "{\"prompt\": \"2+2=\", \"answer\": \"4\"}\n\n{\"prompt_ids\": [2, 60, 61], \"answer\": 7}\n{\"prompt\": \"x\"}\n";
  }
  const train::PromptDataset d = train::PromptDataset::from_jsonl(dir + "/prompts.jsonl", train::TextCodec{});
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].ids, (std::vector<int32_t>{2, '2' + kByte, '+' + kByte, '2' + kByte, '=' + kByte}));
  EXPECT_EQ(d[0].answer, "4");
  EXPECT_EQ(d[1].ids, (std::vector<int32_t>{2, 60, 61}));
  EXPECT_EQ(d[1].answer, "7");
  EXPECT_EQ(d[2].answer, "");
  const train::Reward exact = train::exact_match_reward();
  const std::vector<int32_t> none;
  EXPECT_EQ(exact.fn({d[0], none, " 4\n", false}), 1.0);
  EXPECT_EQ(exact.fn({d[0], none, "4.", false}), 0.0);
  EXPECT_EQ(exact.fn({d[2], none, "", false}), 0.0);  // no answer: never a match
  const train::Reward fmt = train::format_reward("[0-9]+\\.", 0.5);
  EXPECT_EQ(fmt.weight, 0.5);
  EXPECT_EQ(fmt.fn({d[0], none, "42.", false}), 1.0);
  EXPECT_EQ(fmt.fn({d[0], none, "42", false}), 0.0);
  EXPECT_EQ(fmt.fn({d[0], none, "x42.", false}), 0.0);  // the whole text
  expect_error([] { train::format_reward("[0-9"); }, Status::InvalidArg, "does not compile");
  {
    std::ofstream f(dir + "/bad.jsonl");
    f << "{\"prompt\": \"a\"}\n{\"prompt\": 3}\n";
  }
  expect_error([&] { train::PromptDataset::from_jsonl(dir + "/bad.jsonl", train::TextCodec{}); }, Status::Format,
               "bad.jsonl:2");
  {
    std::ofstream f(dir + "/far.jsonl");
    f << "{\"prompt_ids\": [2, 5]}\n{\"prompt_ids\": [2, 444442, 6]}\n";
  }
  expect_error([&] { train::PromptDataset::from_jsonl(dir + "/far.jsonl", train::TextCodec{}); }, Status::Format,
               "far.jsonl:2: \"prompt_ids\" holds 444442, outside the vocabulary of 259 tokens");
  // chat: the prompt as a user turn and the model's turn opener, after <bos>
  const std::vector<std::string> one{"hi"};
  const train::PromptDataset chat = train::PromptDataset::from_text(one, {}, train::TextCodec{}, true);
  const std::string turn = "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n";
  std::vector<int32_t> want{2};
  for (char ch : turn) want.push_back(int32_t(static_cast<unsigned char>(ch)) + kByte);
  EXPECT_EQ(chat[0].ids, want);
  EXPECT_EQ(chat[0].text, "hi");
  const std::vector<std::string> texts{"a"}, answers{"b", "c"};
  expect_error([&] { train::PromptDataset::from_text(texts, answers, train::TextCodec{}); }, Status::InvalidArg,
               "2 answers for 1 prompts");
}

TEST(GrpoTrainer, LogsTrlMetricNames) {
  const std::string dir = scratch_dir("grpo_metrics");
  GemmaModel policy = GemmaModel::create(tiny_config(3), 16);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-3));
  const train::PromptDataset data = prompts(4);
  GrpoTrainerOptions o = quiet();
  o.grpo.beta = 0.04f;
  o.steps = 2;
  o.metrics_path = dir + "/m.jsonl";
  o.rewards = {lowercase_first(), {"half", [](const train::Completion&) { return 0.5; }, 2.0}};
  GrpoTrainer t(policy, opt, data, train::TextCodec{}, o);
  std::vector<train::GrpoStepMetrics> ms;
  t.run([&](const train::GrpoStepMetrics& m) {
    ms.push_back(m);
    return true;
  });
  std::ifstream f(o.metrics_path);
  std::string line;
  ASSERT_TRUE(std::getline(f, line));
  const json j = json::parse(line);
  for (const char* key : {"loss", "kl", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean",
                          "reward", "reward_std", "rewards/lowercase/mean", "rewards/lowercase/std",
                          "rewards/half/mean", "rewards/half/std", "frac_reward_zero_std", "completions/mean_length",
                          "completions/min_length", "completions/max_length", "completions/clipped_ratio",
                          "grad_norm", "learning_rate", "step", "epoch", "samples_per_s", "sampled_tokens_per_s"})
    EXPECT_TRUE(j.contains(key)) << key;
  // the total is the weighted sum: lowercase's mean + 2 × 0.5
  EXPECT_DOUBLE_EQ(j["reward"].get<double>(), j["rewards/lowercase/mean"].get<double>() + 1.0);
  EXPECT_EQ(j["rewards/half/std"].get<double>(), 0.0);
  EXPECT_EQ(ms[0].reward_means.size(), 2u);
  EXPECT_GT(ms[0].samples_per_s, 0.0);
  EXPECT_LE(ms[0].completion_max_length, 3.0);
}

TEST(GrpoTrainer, BadInputIsRefusedByName) {
  GemmaModel policy = GemmaModel::create(tiny_config(3), 17);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-3));
  const train::PromptDataset data = prompts(4);
  auto make = [&](const GrpoTrainerOptions& o) { GrpoTrainer t(policy, opt, data, train::TextCodec{}, o); };
  GrpoTrainerOptions o = quiet();
  o.rewards = {lowercase_first()};
  make(o);  // fine
  GrpoTrainerOptions b = o;
  b.batch_size = 6;  // groups of 4
  expect_error([&] { make(b); }, Status::InvalidArg, "batch_size 6 is not a multiple of group_size 4");
  b = o;
  b.grpo.group_size = 1;
  expect_error([&] { make(b); }, Status::InvalidArg, "group_size");
  b = o;
  b.sampling.temperature = 0;
  expect_error([&] { make(b); }, Status::InvalidArg, "temperature must be > 0");
  b = o;
  b.num_iterations = 0;
  expect_error([&] { make(b); }, Status::InvalidArg, "num_iterations");
  b = o;
  b.batch_size = 24;  // 6 prompts a micro-batch, 4 in the set
  expect_error([&] { make(b); }, Status::InvalidArg, "fewer than a micro-batch");
  b = o;
  b.max_completion_length = int32_t(policy.config.max_position_embeddings);
  expect_error([&] { make(b); }, Status::InvalidArg, "exceeds the model's context");
  b = o;
  b.grpo.beta = 0.1f;
  b.reference = train::ReferenceKind::Precomputed;
  expect_error([&] { make(b); }, Status::InvalidArg, "Precomputed");
  b.reference = train::ReferenceKind::LoraDisabled;
  expect_error([&] { make(b); }, Status::InvalidArg, "LoRA");
  b = o;
  b.rewards.push_back(lowercase_first());
  expect_error([&] { make(b); }, Status::InvalidArg, "two reward functions are named 'lowercase'");
  b = o;
  b.stop_ids = {300};
  expect_error([&] { make(b); }, Status::InvalidArg, "stop id 300");
  const train::PromptDataset wide({{{2, 400}, "", ""}, {{2, 5}, "", ""}});
  GrpoTrainerOptions two = o;
  two.batch_size = 4;
  expect_error([&] { GrpoTrainer t(policy, opt, wide, train::TextCodec{}, two); }, Status::InvalidArg,
               "prompt 0 has token id 400");
  // a vocabulary beyond the bytes needs a tokenizer to decode completions for the rewards
  GemmaConfig big = tiny_config(3);
  big.vocab_size = 300;
  GemmaModel wide_vocab = GemmaModel::create(big, 18);
  train::Optimizer ow(wide_vocab, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-3));
  expect_error([&] { GrpoTrainer t(wide_vocab, ow, data, train::TextCodec{}, o); }, Status::InvalidArg,
               "pass the tokenizer");
  // no reward yet: the first step says so
  GrpoTrainerOptions none = o;
  none.rewards.clear();
  GrpoTrainer t0(policy, opt, data, train::TextCodec{}, none);
  expect_error([&] { t0.step(); }, Status::InvalidArg, "no reward function");
  // a reward that is not finite names itself and the prompt
  GrpoTrainerOptions nan = o;
  nan.rewards = {{"broken", [](const train::Completion& c) { return c.ids.size() > 100 ? 0.0 : std::nan(""); }}};
  GrpoTrainer tn(policy, opt, data, train::TextCodec{}, nan);
  expect_error([&] { tn.step(); }, Status::InvalidArg, "reward 'broken' gave nan");
  EXPECT_EQ(tn.current_step(), 0);
}

}  // namespace
