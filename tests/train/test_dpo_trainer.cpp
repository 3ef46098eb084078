// test_dpo_trainer.cpp — the DPO trainer (include/xla/dpo_trainer.hpp) against TRL's numbers in
// ../shared/oracle/dpo (policy gemma1, reference ref_model.safetensors): per-token and summed
// completion log-probs, loss and metrics, global and per-tensor gradient norms, the 12 gradient
// entries and the whole gradient file, for every loss type. Then: the batch layout written out
// by hand; the four kinds of reference give the same steps; a resumed run continues bit for
// bit; the precomputed cache is reused and invalidated; JSONL (text, chat, ids) and the
// errors; metrics JSONL with TRL's names; a tiny model learns its preferences.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tiny.hpp"
#include "xla/gemma.hpp"
#include "xla/autograd.hpp"
#include "xla/dpo_trainer.hpp"
#include "xla/loss.hpp"
#include "xla/safetensors.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using namespace xla;
using json = nlohmann::json;
namespace fs = std::filesystem;
using train::DpoLoss;
using train::ReferenceKind;

namespace {

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/";

std::string fresh_dir(const std::string& name) { return scratch_dir("dpo_" + name); }

json dpo_case() {
  std::ifstream f(kOracle + "dpo/dpo_case.json");
  EXPECT_TRUE(f.good());
  return json::parse(f);
}

GemmaModel policy_model() { return GemmaModel::load(kOracle + "gemma/gemma1"); }

// The reference: gemma1's config with ref_model.safetensors as its weights, as a model folder.
GemmaModel reference_model() {
  static const std::string dir = [] {
    std::string d = fresh_dir("reference");
    fs::copy_file(kOracle + "gemma/gemma1/config.json", d + "/config.json");
    fs::copy_file(kOracle + "dpo/ref_model.safetensors", d + "/model.safetensors");
    return d;
  }();
  return GemmaModel::load(dir);
}

train::PreferenceDataset oracle_pair(const json& c) {
  return train::PreferenceDataset({{c["prompt_ids"].get<std::vector<int32_t>>(), c["chosen_ids"].get<std::vector<int32_t>>(),
                                    c["rejected_ids"].get<std::vector<int32_t>>()}});
}

// A few pairs of random ids in [3, vocab): prompts start with <bos>, completions end with <eos>.
train::PreferenceDataset random_pairs(size_t n, int32_t vocab, uint64_t seed) {
  uint64_t s = seed * 2654435761u + 1;
  auto next = [&](int32_t lo, int32_t hi) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + int32_t((s >> 33) % uint64_t(hi - lo));
  };
  std::vector<train::PreferenceExample> pairs;
  for (size_t i = 0; i < n; ++i) {
    train::PreferenceExample e;
    e.prompt = {2};
    for (int k = next(2, 7); k > 0; --k) e.prompt.push_back(next(3, vocab));
    for (auto* c : {&e.chosen, &e.rejected}) {
      for (int k = next(1, 6); k > 0; --k) c->push_back(next(3, vocab));
      c->push_back(1);
    }
    pairs.push_back(std::move(e));
  }
  return train::PreferenceDataset(std::move(pairs));
}

train::DpoTrainerOptions quiet(ReferenceKind kind = ReferenceKind::FrozenCopy, const GemmaModel* ref = nullptr) {
  train::DpoTrainerOptions o;
  o.reference.kind = kind;
  o.reference.model = ref;
  o.batch_size = 1;
  o.steps = 10;
  o.progress = 0;
  o.max_grad_norm = 0;
  return o;
}

double rel(double got, double want) { return std::fabs(got - want) / std::max(std::fabs(want), 1e-12); }

double l2(const Tensor& t) {
  double s = 0;
  for (float v : t.to_vector()) s += double(v) * double(v);
  return std::sqrt(s);
}

std::vector<std::vector<float>> trainable(train::Optimizer& opt) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : opt.parameters()) out.push_back(p.to_vector());
  return out;
}

template <class F>
void expect_error(F f, Status status, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing: " << part;
  } catch (const Error& e) {
    EXPECT_EQ(int(e.status()), int(status)) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// ---- the oracle ----

TEST(DpoTrainerOracle, PerTokenAndSummedLogprobs) {
  const json c = dpo_case();
  const json& lp = c["logps"];
  train::PreferenceDataset data = oracle_pair(c);
  const train::PreferenceBatch batch = train::make_preference_batch(data, std::vector<size_t>{0});
  const size_t P = c["prompt_ids"].size();
  const GemmaModel models[2] = {policy_model(), reference_model()};
  const char* who[2] = {"policy", "reference"};
  double worst = 0;
  for (int k = 0; k < 2; ++k) {
    NoGradGuard no_grad;
    Tensor per_token;
    const std::vector<float> sums = train::completion_logprobs(models[k], batch, false, &per_token).to_vector();
    const std::vector<float> avg = train::completion_logprobs(models[k], batch, true).to_vector();
    const int64_t L = per_token.shape()[1];
    const std::vector<float> tok = per_token.to_vector();
    for (int r = 0; r < 2; ++r) {
      const std::string side = r == 0 ? "chosen" : "rejected";
      const std::vector<double> want = lp[std::string(who[k]) + "_" + side + "_token_logps"].get<std::vector<double>>();
      // row r: the completion's j-th token is predicted at position P - 1 + j; nothing else counts
      for (int64_t t = 0; t < L; ++t) {
        const int64_t j = t - int64_t(P) + 1;
        const double w = (j >= 0 && j < int64_t(want.size())) ? want[size_t(j)] : 0.0;
        EXPECT_NEAR(tok[size_t(r * L + t)], w, 1e-4) << who[k] << " " << side << " position " << t;
        worst = std::max(worst, std::fabs(tok[size_t(r * L + t)] - w));
      }
      const double sum = lp[std::string(who[k]) + "_" + side + "_logps"].get<double>();
      EXPECT_NEAR(sums[size_t(r)], sum, 1e-4) << who[k] << " " << side;
      EXPECT_NEAR(avg[size_t(r)], sum / double(want.size()), 1e-5) << who[k] << " " << side;  // ipo's average
      EXPECT_EQ(batch.tokens[size_t(r)], int32_t(want.size()));
    }
  }
  std::printf("dpo_case.json log-probs: max abs error %.2e\n", worst);
}

// For every loss type: loss, metrics, gradient norms (global and per tensor), gradient entries,
// and for sigmoid the whole gradient file.
TEST(DpoTrainerOracle, LossMetricsAndGradientsForEveryLossType) {
  const json c = dpo_case();
  GemmaModel policy = policy_model();
  GemmaModel ref = reference_model();
  train::PreferenceDataset data = oracle_pair(c);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::SGD, 0.0));
  double worst_metric = 0, worst_norm = 0, worst_file = 0;
  for (auto& [key, r] : c["results"].items()) {
    SCOPED_TRACE(key);
    const std::string type = r["loss_type"];
    train::DpoTrainerOptions o = quiet(ReferenceKind::Model, &ref);
    o.dpo.beta = r["beta"].get<float>();
    o.dpo.label_smoothing = r["label_smoothing"].get<float>();
    o.dpo.loss = type == "sigmoid" ? DpoLoss::Sigmoid : type == "ipo" ? DpoLoss::Ipo : DpoLoss::Hinge;
    train::DpoTrainer t(policy, opt, data, nullptr, o);
    opt.zero_grad();
    train::DpoMetrics m;
    Tensor loss = t.loss(train::make_preference_batch(data, std::vector<size_t>{0}), &m);
    backward(loss);
    const json& want = r["metrics"];
    const std::pair<double, double> pairs[] = {{m.loss, r["loss"].get<double>()},
                                               {loss.item(), r["loss"].get<double>()},
                                               {m.reward_chosen, want["rewards/chosen"].get<double>()},
                                               {m.reward_rejected, want["rewards/rejected"].get<double>()},
                                               {m.reward_margin, want["rewards/margins"].get<double>()},
                                               {m.logp_chosen, want["logps/chosen"].get<double>()},
                                               {m.logp_rejected, want["logps/rejected"].get<double>()}};
    for (const auto& [got, w] : pairs) {
      EXPECT_LT(rel(got, w), 1e-5) << got << " vs " << w;
      worst_metric = std::max(worst_metric, rel(got, w));
    }
    EXPECT_EQ(m.reward_accuracy, want["rewards/accuracies"].get<double>());
    // gradient norms
    double total = 0;
    for (auto& [name, p] : policy.named_parameters()) {
      const double n = l2(grad(*p));
      total += n * n;
      const double w = r["grad_l2_norm_per_tensor"][name].get<double>();
      EXPECT_LT(rel(n, w), 1e-4) << name << ": " << n << " vs " << w;
      worst_norm = std::max(worst_norm, rel(n, w));
    }
    EXPECT_LT(rel(std::sqrt(total), r["grad_global_l2_norm"].get<double>()), 1e-4);
    EXPECT_EQ(r["grad_l2_norm_per_tensor"].size(), policy.named_parameters().size());
    if (key != "sigmoid") continue;
    // the 12 entries, and every tensor of the gradient file
    std::map<std::string, Tensor*> by_name;
    for (auto& [name, p] : policy.named_parameters()) by_name[name] = p;
    for (const json& e : c["grad_entries_sigmoid"]) {
      const Tensor g = grad(*by_name.at(e["name"]));
      int64_t flat = 0;
      for (size_t d = 0; d < e["index"].size(); ++d) flat = flat * g.shape()[int(d)] + e["index"][d].get<int64_t>();
      const double got = g.to_vector()[size_t(flat)], w = e["grad"].get<double>();
      EXPECT_LT(std::fabs(got - w), 1e-4 * std::max(1.0, std::fabs(w))) << e["name"] << " " << e["index"] << ": " << got << " vs " << w;
    }
    io::SafetensorsFile file = io::SafetensorsFile::open(kOracle + "dpo/grads_sigmoid.safetensors");
    EXPECT_EQ(file.names().size(), policy.named_parameters().size());
    for (const std::string& name : file.names()) {
      const std::vector<float> w = file.tensor(name, DType::F32).to_vector(), got = grad(*by_name.at(name)).to_vector();
      ASSERT_EQ(w.size(), got.size()) << name;
      double max_w = 0, max_d = 0;
      for (size_t i = 0; i < w.size(); ++i) {
        max_w = std::max(max_w, std::fabs(double(w[i])));
        max_d = std::max(max_d, std::fabs(double(got[i]) - double(w[i])));
      }
      EXPECT_LT(max_d / max_w, 1e-4) << name;
      worst_file = std::max(worst_file, max_d / max_w);
    }
  }
  opt.zero_grad();
  std::printf("dpo_case.json through the trainer: metrics %.2e rel, gradient norms %.2e rel, gradient file %.2e of each tensor's max\n",
              worst_metric, worst_norm, worst_file);
}

// ---- the batch ----

TEST(DpoTrainer, BatchLayoutChosenRowsThenRejectedPromptAndPaddingIgnored) {
  // pair 0: prompt [2 10 11], chosen [20 1], rejected [30 31 32 1]; pair 1: prompt [2 12], chosen [21 22 1], rejected [33 1]
  train::PreferenceDataset d({{{2, 10, 11}, {20, 1}, {30, 31, 32, 1}}, {{2, 12}, {21, 22, 1}, {33, 1}}});
  train::PreferenceBatch b = train::make_preference_batch(d, std::vector<size_t>{1, 0}, 0);
  // rows: pair 1 chosen, pair 0 chosen, pair 1 rejected, pair 0 rejected; L = 7 - 1 = 6 (pair 0 rejected)
  ASSERT_EQ(b.inputs.shape().str(), Shape({4, 6}).str());
  const std::vector<int32_t> in = {2, 12, 21, 22, 0, 0,     //
                                   2, 10, 11, 20, 0, 0,     //
                                   2, 12, 33, 0, 0, 0,      //
                                   2, 10, 11, 30, 31, 32};  //
  // position t predicts token t + 1; only completion tokens count
  const std::vector<int32_t> tg = {-100, 21, 22, 1, -100, -100,    //
                                   -100, -100, 20, 1, -100, -100,  //
                                   -100, 33, 1, -100, -100, -100,  //
                                   -100, -100, 30, 31, 32, 1};     //
  std::vector<int32_t> got_in(24), got_tg(24);
  b.inputs.copy_to(got_in.data());
  b.targets.copy_to(got_tg.data());
  EXPECT_EQ(got_in, in);
  EXPECT_EQ(got_tg, tg);
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{3, 2, 2, 4}));
  EXPECT_EQ(b.index, (std::vector<size_t>{1, 0}));
}

// One log-prob path: scoring prompt + completion from `start` (xla_model_logprob's
// sequence_logprob) gives what the trainer's completion_logprobs gives that row, and both
// equal log-softmax of the model's own full logits, computed here in double.
TEST(DpoTrainer, SequenceLogprobIsTheTrainersPath) {
  const GemmaModel m = GemmaModel::create(tiny_config(2), 11);  // Gemma 2: the final soft-cap counts too
  const train::PreferenceDataset data = random_pairs(3, 259, 21);
  const train::PreferenceBatch b = train::make_preference_batch(data, std::vector<size_t>{0, 1, 2});
  const std::vector<float> summed = train::completion_logprobs(m, b, false).to_vector();  // [6]
  for (size_t r = 0; r < 6; ++r) {
    const train::PreferenceExample& e = data[r % 3];
    std::vector<int32_t> ids = e.prompt;
    const std::vector<int32_t>& completion = r < 3 ? e.chosen : e.rejected;
    ids.insert(ids.end(), completion.begin(), completion.end());
    const int64_t start = int64_t(e.prompt.size()), n = int64_t(ids.size());
    const double got = train::sequence_logprob(m, ids, start);
    // the oracle: Σ_{i >= start} logits[i-1][ids[i]] - logsumexp(logits[i-1]), in double
    const std::vector<float> logits = m.forward(Tensor::from_data(ids.data(), {1, n}, DType::I32)).to_vector();
    const int64_t V = m.vocab_size();
    double want = 0;
    for (int64_t i = start; i < n; ++i) {
      const float* row = logits.data() + (i - 1) * V;
      double mx = -INFINITY, z = 0;
      for (int64_t c = 0; c < V; ++c) mx = std::max(mx, double(row[c]));
      for (int64_t c = 0; c < V; ++c) z += std::exp(double(row[c]) - mx);
      want += double(row[ids[size_t(i)]]) - mx - std::log(z);
    }
    EXPECT_NEAR(got, want, 1e-4 * std::fabs(want)) << "row " << r;
    EXPECT_NEAR(got, double(summed[r]), 1e-5 * std::fabs(want)) << "row " << r;
  }
  EXPECT_EQ(train::sequence_logprob(m, data[0].prompt, int64_t(data[0].prompt.size())), 0.0);  // nothing to score
  expect_error([&] { train::sequence_logprob(m, data[0].prompt, 0); }, Status::InvalidArg, "start 0");
}

// ---- the four references ----

// A LoRA policy over gemma1 (fresh adapters: B = 0, so at the start policy = base = reference),
// trained 2 steps with each kind of reference. Step 1 has zero margins; step 2 sees a policy
// that moved away from a reference that must not have moved.
TEST(DpoTrainer, FourReferenceKindsGiveTheSameSteps) {
  const GemmaModel base = policy_model();
  train::PreferenceDataset data = random_pairs(6, 512, 11);
  std::vector<std::vector<std::vector<float>>> weights;
  std::vector<std::vector<train::DpoStepMetrics>> metrics;
  const std::string cache = fresh_dir("four_cache");
  for (ReferenceKind kind : {ReferenceKind::FrozenCopy, ReferenceKind::Model, ReferenceKind::Precomputed,
                             ReferenceKind::LoraDisabled}) {
    GemmaModel policy = base.clone();
    policy.add_lora(4, 8.f, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 3);
    train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-2));
    train::DpoTrainerOptions o = quiet(kind, kind == ReferenceKind::Model ? &base : nullptr);
    o.batch_size = 3;
    o.seed = 5;
    o.dpo.beta = 0.5f;
    o.reference.cache_dir = cache;
    train::DpoTrainer t(policy, opt, data, nullptr, o);
    metrics.emplace_back();
    metrics.back().push_back(t.step());
    metrics.back().push_back(t.step());
    weights.push_back(trainable(opt));
  }
  EXPECT_NEAR(metrics[0][0].loss, std::log(2.0), 1e-6);   // step 1: every margin is 0
  for (size_t k = 0; k < 4; ++k) {  // step 1: policy = reference, every pair a tie, which TRL's `>` never counts
    EXPECT_EQ(metrics[k][0].reward_margin, 0.0) << "reference kind " << k;
    EXPECT_EQ(metrics[k][0].reward_accuracy, 0.0) << "reference kind " << k;
  }
  EXPECT_GT(std::fabs(metrics[0][1].reward_margin), 1e-4);  // step 2: the policy moved
  for (size_t k = 1; k < 4; ++k) {
    SCOPED_TRACE("reference kind " + std::to_string(k));
    for (int s = 0; s < 2; ++s) {
      EXPECT_EQ(metrics[k][size_t(s)].loss, metrics[0][size_t(s)].loss) << "step " << s + 1;
      EXPECT_EQ(metrics[k][size_t(s)].reward_margin, metrics[0][size_t(s)].reward_margin) << "step " << s + 1;
      EXPECT_EQ(metrics[k][size_t(s)].grad_norm, metrics[0][size_t(s)].grad_norm) << "step " << s + 1;
    }
    EXPECT_TRUE(weights[k] == weights[0]) << "the adapters after 2 steps differ";
  }
}

// With the oracle's reference model: another model (b) and its precomputed log-probs (c) give
// the same step, for summed log-probs (sigmoid) and per-token averages (ipo).
TEST(DpoTrainer, PrecomputedEqualsTheLiveReference) {
  const GemmaModel ref = reference_model();
  train::PreferenceDataset data = random_pairs(4, 512, 3);
  for (DpoLoss type : {DpoLoss::Sigmoid, DpoLoss::Ipo}) {
    std::vector<std::vector<float>> after[2];
    double loss[2];
    for (int k = 0; k < 2; ++k) {
      GemmaModel policy = policy_model();
      train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::Adam, 1e-3));
      train::DpoTrainerOptions o = quiet(k == 0 ? ReferenceKind::Model : ReferenceKind::Precomputed, &ref);
      o.batch_size = 2;
      o.dpo.loss = type;
      train::DpoTrainer t(policy, opt, data, nullptr, o);
      loss[k] = t.step().loss;
      after[k] = trainable(opt);
    }
    EXPECT_EQ(loss[0], loss[1]) << "loss type " << int(type);
    EXPECT_TRUE(after[0] == after[1]) << "loss type " << int(type);
  }
}

// ---- resume ----

TEST(DpoTrainer, HalfSaveResumeHalfIsBitIdentical) {
  const std::string dir = fresh_dir("resume");
  train::PreferenceDataset data = random_pairs(7, 259, 21);
  auto options = [&](const std::string& ckpt) {
    train::DpoTrainerOptions o = quiet();
    o.batch_size = 2;
    o.grad_accum = 2;
    o.steps = 6;
    o.seed = 9;
    o.max_grad_norm = 1.0;
    o.schedule = {train::ScheduleKind::Cosine, 2, 0, 0.1};
    o.checkpoint_dir = ckpt;
    o.metrics_path = ckpt.empty() ? "" : ckpt + "/metrics.jsonl";
    return o;
  };
  const GemmaModel start = GemmaModel::create(tiny_config(2), 4);
  // straight through
  GemmaModel a = start.clone();
  train::Optimizer oa(a, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 3e-3));
  train::DpoTrainer ta(a, oa, data, nullptr, options(""));
  std::vector<double> losses;
  ta.run([&](const train::DpoStepMetrics& m) {
    losses.push_back(m.loss);
    return true;
  });
  // 3 steps and a checkpoint …
  {
    GemmaModel b = start.clone();
    train::Optimizer ob(b, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 3e-3));
    train::DpoTrainer tb(b, ob, data, nullptr, options(dir));
    EXPECT_FALSE(tb.resume());
    tb.run([](const train::DpoStepMetrics& m) { return m.step < 3; });
    tb.save();
  }
  // … then new objects from the same starting policy continue
  GemmaModel c = start.clone();
  train::Optimizer oc(c, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 3e-3));
  train::DpoTrainer tc(c, oc, data, nullptr, options(dir));
  ASSERT_TRUE(tc.resume());
  EXPECT_EQ(tc.current_step(), 3);
  std::vector<double> rest;
  tc.run([&](const train::DpoStepMetrics& m) {
    rest.push_back(m.loss);
    return true;
  });
  ASSERT_EQ(rest.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(rest[i], losses[3 + i]) << "step " << 4 + i;
  EXPECT_TRUE(trainable(oc) == trainable(oa));
  // the metrics file holds each step once
  std::ifstream f(dir + "/metrics.jsonl");
  std::string line;
  std::vector<int64_t> steps;
  while (std::getline(f, line)) steps.push_back(json::parse(line)["step"].get<int64_t>());
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  // a trainer whose reference differs from the run's refuses to resume it
  GemmaModel other = GemmaModel::create(tiny_config(2), 5);
  train::Optimizer oo(other, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 3e-3));
  train::DpoTrainer to(other, oo, data, nullptr, options(dir));
  expect_error([&] { to.resume(); }, Status::InvalidArg, "was trained against reference frozen-copy:");
}

// ---- the precomputed cache ----

TEST(DpoTrainer, PrecomputedCacheIsReusedAndInvalidated) {
  const std::string dir = fresh_dir("cache");
  GemmaModel ref = GemmaModel::create(tiny_config(1), 8);
  train::PreferenceDataset data = random_pairs(5, 259, 4), eval = random_pairs(3, 259, 5);
  auto make = [&](GemmaModel& policy, train::Optimizer& opt, const train::PreferenceDataset& d) {
    train::DpoTrainerOptions o = quiet(ReferenceKind::Precomputed, &ref);
    o.batch_size = 2;
    o.reference.cache_dir = dir;
    return std::make_unique<train::DpoTrainer>(policy, opt, d, &eval, o);
  };
  GemmaModel policy = GemmaModel::create(tiny_config(1), 9);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::SGD, 0.0));
  auto first = make(policy, opt, data);
  const std::string path = first->reference_cache_path();
  EXPECT_FALSE(first->reference_cache_loaded());
  ASSERT_TRUE(fs::exists(path));
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.path().extension() == ".safetensors";
  EXPECT_EQ(files, 2);  // the training set's and the eval set's
  const train::PreferenceBatch batch = train::make_preference_batch(data, std::vector<size_t>{3, 1});
  const std::vector<float> computed = first->reference_logprobs(batch).to_vector();
  // the live reference gives the same numbers
  {
    NoGradGuard no_grad;
    EXPECT_EQ(train::completion_logprobs(ref, batch, false).to_vector(), computed);
  }
  // a second construction loads the file instead of running the model
  const auto stamp = fs::last_write_time(path);
  auto second = make(policy, opt, data);
  EXPECT_TRUE(second->reference_cache_loaded());
  EXPECT_EQ(second->reference_cache_path(), path);
  EXPECT_EQ(fs::last_write_time(path), stamp);
  EXPECT_EQ(second->reference_logprobs(batch).to_vector(), computed);
  EXPECT_EQ(second->evaluate().loss, first->evaluate().loss);
  // other data: another file
  train::PreferenceDataset more = random_pairs(5, 259, 6);
  auto third = make(policy, opt, more);
  EXPECT_FALSE(third->reference_cache_loaded());
  EXPECT_NE(third->reference_cache_path(), path);
  // another reference weight: another file, computed again
  Tensor& w = ref.layers[1].up_proj;
  w.add_(Tensor::from_vector(std::vector<float>(size_t(w.numel()), 1e-3f), w.shape()));
  auto fourth = make(policy, opt, data);
  EXPECT_FALSE(fourth->reference_cache_loaded());
  EXPECT_NE(fourth->reference_cache_path(), path);
  EXPECT_NE(fourth->reference_logprobs(batch).to_vector(), computed);
  // a damaged cache file is computed again, never trusted
  {
    std::ofstream f(fourth->reference_cache_path(), std::ios::binary | std::ios::trunc);
    f << "garbage";
  }
  auto fifth = make(policy, opt, data);
  EXPECT_FALSE(fifth->reference_cache_loaded());
  EXPECT_EQ(fifth->reference_logprobs(batch).to_vector(), fourth->reference_logprobs(batch).to_vector());
}

// ---- data from JSONL ----

TEST(DpoTrainer, JsonlTextChatAndIds) {
  const std::string dir = fresh_dir("jsonl");
  {
    std::ofstream f(dir + "/text.jsonl");
    f << R"({"prompt": "2+2=", "chosen": "4", "rejected": "5!"})" << "\n\n"
      << R"({"prompt": "hi", "chosen": "hello", "rejected": "go away"})" << "\n";
    std::ofstream g(dir + "/ids.jsonl");
    g << R"({"prompt_ids": [2, 7, 8], "chosen_ids": [9, 1], "rejected_ids": [10, 11, 1]})" << "\n";
  }
  const train::TextCodec bytes;
  auto b = [](char ch) { return int32_t((unsigned char)ch) + 3; };
  train::PreferenceDataset text = train::PreferenceDataset::from_jsonl(dir + "/text.jsonl", bytes);
  ASSERT_EQ(text.size(), 2u);
  EXPECT_EQ(text[0].prompt, (std::vector<int32_t>{2, b('2'), b('+'), b('2'), b('=')}));  // <bos> prompt
  EXPECT_EQ(text[0].chosen, (std::vector<int32_t>{b('4'), 1}));                        // completion <eos>
  EXPECT_EQ(text[0].rejected, (std::vector<int32_t>{b('5'), b('!'), 1}));
  train::PreferenceDataset chat = train::PreferenceDataset::from_jsonl(dir + "/text.jsonl", bytes, 0, true);
  EXPECT_EQ(bytes.decode(chat[0].prompt), "<start_of_turn>user\n2+2=<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(chat[0].prompt.front(), 2);
  EXPECT_EQ(bytes.decode(chat[0].chosen), "4<end_of_turn>");
  EXPECT_EQ(chat[0].chosen.back(), 1);
  train::PreferenceDataset ids = train::PreferenceDataset::from_jsonl(dir + "/ids.jsonl", bytes);
  EXPECT_EQ(ids[0].prompt, (std::vector<int32_t>{2, 7, 8}));
  EXPECT_EQ(ids[0].chosen, (std::vector<int32_t>{9, 1}));
  EXPECT_EQ(ids[0].rejected, (std::vector<int32_t>{10, 11, 1}));
  // fingerprints follow the ids; split keeps every pair once
  EXPECT_NE(text.fingerprint(), chat.fingerprint());
  EXPECT_EQ(text.fingerprint(), train::PreferenceDataset::from_jsonl(dir + "/text.jsonl", bytes).fingerprint());
  auto [tr, va] = random_pairs(10, 259, 1).split(0.3, 7);
  EXPECT_EQ(tr.size(), 7u);
  EXPECT_EQ(va.size(), 3u);
}

TEST(DpoTrainer, ErrorsNameTheProblem) {
  const std::string dir = fresh_dir("errors");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  const train::TextCodec bytes;
  const std::string ok = R"({"prompt": "a", "chosen": "b", "rejected": "c"})";
  expect_error([&] { train::PreferenceDataset::from_jsonl(write("m.jsonl", ok + "\n" + R"({"prompt": "a", "chosen": "b"})"), bytes); },
               Status::Format, "m.jsonl:2: missing key \"rejected\"");
  expect_error([&] { train::PreferenceDataset::from_jsonl(write("e.jsonl", ok + "\n\n" + R"({"prompt": "a", "chosen": "", "rejected": "c"})"), bytes); },
               Status::Format, "e.jsonl:3: empty chosen completion");
  expect_error([&] { train::PreferenceDataset::from_jsonl(write("i.jsonl", R"({"prompt_ids": [2], "chosen_ids": [], "rejected_ids": [4]})"), bytes); },
               Status::Format, "i.jsonl:1: empty chosen completion");
  expect_error([&] { train::PreferenceDataset::from_jsonl(write("t.jsonl", R"({"prompt_ids": [2], "chosen_ids": "x", "rejected_ids": [4]})"), bytes); },
               Status::Format, "t.jsonl:1: \"chosen_ids\" must be an array");
  expect_error([&] { train::PreferenceDataset::from_jsonl(write("v.jsonl", R"({"prompt_ids": [2], "chosen_ids": [5], "rejected_ids": [259]})"), bytes); },
               Status::Format, "v.jsonl:1: \"rejected_ids\" holds 259, outside the vocabulary of 259 tokens");
  expect_error([&] { train::PreferenceDataset::from_jsonl(write("j.jsonl", ok + "\n{oops"), bytes); },
               Status::Format, "j.jsonl:2: not JSON");
  expect_error([&] { train::PreferenceDataset::from_jsonl(write("l.jsonl", ok + "\n" + R"({"prompt": "abcde", "chosen": "b", "rejected": "cc"})"), bytes, 8); },
               Status::Format, "l.jsonl:2: prompt + rejected is 9 tokens, more than max_len 8 (6 + 3)");
  expect_error([&] { train::PreferenceDataset({{{2}, {5, 6}, {}}}); }, Status::InvalidArg, "pair 0: empty rejected completion");
  expect_error([&] { train::PreferenceDataset({{{2, 3}, {4}, {5}}, {{2, 3, 4, 5}, {6, 7}, {8}}}, 5); }, Status::InvalidArg,
               "pair 1: prompt + chosen is 6 tokens, more than max_len 5");
  // the trainer's checks
  GemmaModel policy = GemmaModel::create(tiny_config(1), 1);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::SGD, 0.0));
  train::PreferenceDataset data = random_pairs(3, 259, 2);
  expect_error([&] { train::DpoTrainer(policy, opt, data, nullptr, quiet(ReferenceKind::LoraDisabled)); },
               Status::InvalidArg, "LoraDisabled reference needs a policy with LoRA adapters");
  expect_error([&] { train::DpoTrainer(policy, opt, data, nullptr, quiet(ReferenceKind::Model)); }, Status::InvalidArg,
               "the Model reference needs reference.model");
  train::DpoTrainerOptions big = quiet();
  big.batch_size = 4;
  expect_error([&] { train::DpoTrainer(policy, opt, data, nullptr, big); }, Status::InvalidArg,
               "the training set has 3 pairs, fewer than a batch of 4");
  train::PreferenceDataset wide({{{2, 3}, {4, 300}, {5}}});
  expect_error([&] { train::DpoTrainer(policy, opt, wide, nullptr, quiet()); }, Status::InvalidArg,
               "pair 0 of the training set has token id 300, outside the policy's vocabulary of 259");
  train::DpoTrainerOptions bad = quiet();
  bad.dpo.label_smoothing = 0.1f;
  bad.dpo.loss = DpoLoss::Hinge;
  expect_error([&] { train::DpoTrainer(policy, opt, data, nullptr, bad); }, Status::InvalidArg, "label_smoothing");
}

// ---- the loop ----

// A tiny model learns a preference (chosen completions end in 'a', rejected ones in 'z'):
// the held-out reward accuracy and margin rise; the metrics file carries TRL's names.
TEST(DpoTrainer, LearnsPreferencesAndLogsTrlNames) {
  const std::string dir = fresh_dir("learn");
  std::vector<train::PreferenceExample> pairs;
  for (int32_t i = 0; i < 24; ++i) pairs.push_back({{2, 40 + i % 12, 60 + i % 5}, {70 + i % 3, 100, 1}, {70 + i % 3, 125, 1}});
  train::PreferenceDataset all(std::move(pairs));
  auto [tr, va] = all.split(0.25, 3);
  GemmaModel policy = GemmaModel::create(tiny_config(3), 2);
  train::Optimizer opt(policy, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-2));
  train::DpoTrainerOptions o = quiet();
  o.batch_size = 4;
  o.steps = 12;
  o.eval_every = 12;
  o.metrics_path = dir + "/metrics.jsonl";
  train::DpoTrainer t(policy, opt, tr, &va, o);
  const train::DpoMetrics before = t.evaluate();
  EXPECT_EQ(before.reward_margin, 0.0);  // policy = reference
  EXPECT_EQ(before.reward_accuracy, 0.0);  // ties: TRL counts chosen > rejected only
  int64_t seen = 0;
  EXPECT_EQ(t.run([&](const train::DpoStepMetrics&) { return ++seen < 12; }), 12);
  const train::DpoMetrics after = t.evaluate();
  std::printf("dpo on a tiny model, 12 steps: held-out loss %.4f -> %.4f, accuracy %.2f -> %.2f, margin %.3f -> %.3f\n",
              before.loss, after.loss, before.reward_accuracy, after.reward_accuracy, before.reward_margin,
              after.reward_margin);
  EXPECT_EQ(after.reward_accuracy, 1.0);
  EXPECT_GT(after.reward_margin, 1.0);
  EXPECT_LT(after.loss, before.loss);
  std::ifstream f(o.metrics_path);
  std::string line, last;
  int lines = 0;
  while (std::getline(f, line)) last = line, ++lines;
  EXPECT_EQ(lines, 12);
  const json j = json::parse(last);
  for (const char* k : {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                        "logps/chosen", "logps/rejected", "grad_norm", "learning_rate", "step", "epoch",
                        "eval_loss", "eval_rewards/accuracies", "eval_rewards/margins"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["step"].get<int64_t>(), 12);
  EXPECT_DOUBLE_EQ(j["epoch"].get<double>(), 3.0);  // 18 pairs, 4 a batch: 4 batches an epoch, 12 steps
  EXPECT_EQ(j["eval_loss"].get<double>(), after.loss);
  // a stopping callback stops
  train::DpoTrainer again(policy, opt, tr, nullptr, quiet());
  EXPECT_EQ(again.run([](const train::DpoStepMetrics& m) { return m.step < 2; }), 2);
}

// A trainer without data steps on the caller's batches exactly as one with data does.
TEST(DpoTrainer, StepOnACallersBatch) {
  const GemmaModel start = GemmaModel::create(tiny_config(2), 6);
  train::PreferenceDataset one = random_pairs(1, 259, 12);
  GemmaModel a = start.clone(), b = start.clone();
  train::Optimizer oa(a, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-2));
  train::Optimizer ob(b, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-2));
  train::DpoTrainer with_data(a, oa, one, nullptr, quiet());
  train::DpoTrainer without(b, ob, quiet());
  const train::PreferenceBatch batch = train::make_preference_batch(one, std::vector<size_t>{0});
  for (int i = 0; i < 3; ++i) {
    const train::DpoStepMetrics x = with_data.step(), y = without.step(batch);
    EXPECT_EQ(x.loss, y.loss) << "step " << i + 1;
    EXPECT_EQ(x.reward_margin, y.reward_margin) << "step " << i + 1;
    EXPECT_EQ(y.step, i + 1);
    if (i == 0) {  // the policy is still the reference: a tie, not a win
      EXPECT_EQ(x.reward_margin, 0.0);
      EXPECT_EQ(x.reward_accuracy, 0.0);
    }
  }
  EXPECT_TRUE(trainable(oa) == trainable(ob));
  expect_error([&] { without.step(); }, Status::InvalidArg, "no training set");
  expect_error([&] { train::DpoTrainer(b, ob, quiet(ReferenceKind::Precomputed)); }, Status::InvalidArg,
               "the Precomputed reference needs the training set");
}

// LoRA in the training layer: only adapters are trained, checkpoints carry them.
TEST(DpoTrainer, LoraParamGroupsAndCheckpoints) {
  const std::string dir = fresh_dir("lora_ckpt");
  GemmaModel m = GemmaModel::create(tiny_config(3), 1);
  set_requires_grad(m.embed_tokens, true);  // left over from an earlier full fine-tune
  m.add_lora(2, 4.f, {"q_proj", "down_proj"}, 7);
  std::vector<train::ParamGroup> groups = train::default_param_groups(m, 0.05);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].weight_decay, 0.05);
  EXPECT_EQ(groups[0].names.size(), size_t(2 * 2 * 2));
  EXPECT_EQ(groups[0].names[0], "model.layers.0.self_attn.q_proj.lora_A.weight");
  for (auto& [name, p] : m.named_parameters()) EXPECT_FALSE(requires_grad(*p)) << name;
  train::Optimizer opt(std::move(groups), train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-2));
  train::PreferenceDataset data = random_pairs(4, 259, 8);
  train::DpoTrainerOptions o = quiet(ReferenceKind::LoraDisabled);
  o.batch_size = 2;
  o.checkpoint_dir = dir;
  train::DpoTrainer t(m, opt, data, nullptr, o);
  const std::vector<float> embed = m.embed_tokens.to_vector();
  t.step();
  t.step();
  t.save();
  EXPECT_EQ(m.embed_tokens.to_vector(), embed);  // the base is frozen
  EXPECT_TRUE(fs::exists(train::latest_training_state(dir) + "/adapters.safetensors"));
  // into a fresh model with fresh adapters: the trained ones come back
  GemmaModel n = GemmaModel::create(tiny_config(3), 1);
  n.add_lora(2, 4.f, {"q_proj", "down_proj"}, 99);
  train::Optimizer on(n, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-2));
  train::TrainState s = train::load_training_state(dir, n, &on);
  EXPECT_EQ(s.step, 2);
  EXPECT_EQ(s.trainer, "dpo");
  auto a = m.lora_parameters(), b = n.lora_parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].second->to_vector(), b[i].second->to_vector()) << a[i].first;
  // a model without adapters, or with others, is refused
  GemmaModel plain = GemmaModel::create(tiny_config(3), 1);
  expect_error([&] { train::load_training_state(dir, plain, nullptr); }, Status::Format, "holds LoRA adapters, the model has none");
  GemmaModel other = GemmaModel::create(tiny_config(3), 1);
  other.add_lora(4, 4.f, {"q_proj", "down_proj"}, 1);
  expect_error([&] { train::load_training_state(dir, other, nullptr); }, Status::Format, "rank 2");
}

}  // namespace
