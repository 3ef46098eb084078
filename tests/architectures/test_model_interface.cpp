// test_model_interface.cpp — a second architecture through the code that only knows Model:
// the Mamba oracle (../shared/oracle/mamba) through load_model, generate(), a Session fed in
// pieces, the serving engine's state slots and sequence_logprob; a tiny Mamba trained by the
// SFT trainer (and resumed bit for bit), by DPO on LoRA adapters, by GRPO sampling through
// the engine; and a state of one family refused by the other.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "../train/tiny.hpp"  // scratch_dir, tiny_config
#include "xla/dpo_trainer.hpp"
#include "xla/engine.hpp"
#include "xla/gemma.hpp"
#include "xla/generate.hpp"
#include "xla/grpo_trainer.hpp"
#include "xla/loss.hpp"
#include "xla/model.hpp"
#include "xla/trainer.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using namespace xla;
using json = nlohmann::json;

namespace {

const std::string kMamba = std::string(XLA_SHARED_DIR) + "/oracle/mamba";

json reference() {
  std::ifstream f(kMamba + "/reference.json");
  return json::parse(f);
}

std::vector<int32_t> ids_of(const json& ref, int s) { return ref["sequences"][s]["ids"].get<std::vector<int32_t>>(); }
std::vector<int32_t> greedy_of(const json& ref, int s) { return ref["sequences"][s]["greedy"].get<std::vector<int32_t>>(); }

GenerateOptions greedy(int32_t n) {
  GenerateOptions o;
  o.max_new_tokens = n;  // no stop ids: the oracle's continuation runs its 8 tokens
  return o;
}

// A small Mamba over the byte vocabulary of train::TextCodec (259 ids).
const char* kTinyMamba = R"({"model_type": "mamba", "vocab_size": 259, "hidden_size": 32, "state_size": 8,
  "num_hidden_layers": 2, "expand": 2, "intermediate_size": 64, "conv_kernel": 4, "time_step_rank": 4,
  "layer_norm_epsilon": 1e-5, "use_bias": false, "use_conv_bias": true, "tie_word_embeddings": true,
  "hidden_act": "silu", "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0})";

TEST(ModelInterface, LoadModelPicksTheFamily) {
  std::unique_ptr<Model> m = load_model(kMamba);
  EXPECT_EQ(m->architecture(), "mamba");
  EXPECT_EQ(m->vocab_size(), 512);
  EXPECT_EQ(m->hidden_size(), 64);
  std::unique_ptr<Model> g = load_model(std::string(XLA_SHARED_DIR) + "/oracle/gemma/gemma2");
  EXPECT_EQ(g->architecture(), "gemma");
  EXPECT_NE(dynamic_cast<GemmaModel*>(g.get()), nullptr);
  try {
    create_model(R"({"model_type": "llama"})", 0);
    FAIL() << "an unknown model_type was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Format);
    EXPECT_NE(std::string(e.what()).find("'llama'"), std::string::npos) << e.what();
  }
}

TEST(ModelInterface, GenerateAndSessionsThroughTheRecurrentState) {
  const json ref = reference();
  std::unique_ptr<Model> m = load_model(kMamba);
  for (int s = 0; s < 2; ++s) EXPECT_EQ(generate(*m, ids_of(ref, s), greedy(8)), greedy_of(ref, s)) << "sequence " << s;
  // a session fed in three pieces continues its state: the same continuation
  const std::vector<int32_t> ids = ids_of(ref, 0);
  Session session(*m);
  session.feed({ids.begin(), ids.begin() + 5});
  session.feed({ids.begin() + 5, ids.begin() + 6});
  const std::vector<int32_t> rest(ids.begin() + 6, ids.end());
  EXPECT_EQ(session.generate(rest, greedy(8)), greedy_of(ref, 0));
  EXPECT_EQ(session.length(), int64_t(ids.size()) + 8);
  // a bad id leaves the session as it was
  EXPECT_THROW(session.feed({512}), Error);
  EXPECT_EQ(session.length(), int64_t(ids.size()) + 8);
}

TEST(ModelInterface, LogprobOfTheOracleSequences) {
  const json ref = reference();
  std::unique_ptr<Model> m = load_model(kMamba);
  for (int s = 0; s < 2; ++s)
    EXPECT_NEAR(train::sequence_logprob(*m, ids_of(ref, s), 1), ref["sequences"][s]["sum_logprob"].get<double>(), 2e-3);
}

TEST(ModelInterface, EngineStateSlotsGiveTheOracleContinuations) {
  const json ref = reference();
  std::unique_ptr<Model> m = load_model(kMamba);
  EngineOptions eo;
  eo.max_seqs = 2;           // three requests: one waits for a slot
  eo.max_batch_tokens = 7;   // prompts of 20 and 13 tokens are prefilled in chunks
  Engine e(*m, eo);
  std::map<uint64_t, std::vector<int32_t>> out;
  std::map<uint64_t, int> which;
  for (int s : {0, 1, 0}) {
    EngineRequest r;
    r.prompt = ids_of(ref, s);
    r.generation = greedy(8);
    which[e.submit(r)] = s;
  }
  size_t most_bytes = 0;
  for (int guard = 0; !e.idle() && guard < 200; ++guard) {
    for (const EngineEvent& ev : e.step()) {
      EXPECT_NE(ev.finish, Finish::Cancelled);
      out[ev.id].push_back(ev.token);
    }
    most_bytes = std::max(most_bytes, e.stats().kv_bytes);
    EXPECT_LE(e.stats().running, 2);
  }
  ASSERT_TRUE(e.idle());
  for (auto& [id, tokens] : out) EXPECT_EQ(tokens, greedy_of(ref, which[id])) << "request " << id;
  const EngineStats st = e.stats();
  EXPECT_EQ(st.prefix_tokens_reused, 0);  // no prefix cache for a recurrent model
  EXPECT_EQ(st.tokens_generated, 24);
  // two running sequences hold two constant-size states: 3 layers × (128 × 16 + 128 × 3) floats
  EXPECT_EQ(most_bytes, size_t(2 * 3 * (128 * 16 + 128 * 3) * 4));
  EXPECT_EQ(st.kv_bytes, 0u);  // all finished: the slots are given back
}

TEST(ModelInterface, TheTrainerTrainsAMambaAndResumesBitForBit) {
  const std::string dir = scratch_dir("mamba_trainer");
  train::Dataset data = train::Dataset::supervised({{"2+3=", "5"}, {"4+4=", "8"}, {"1+6=", "7"}, {"9+0=", "9"}},
                                                   train::TextCodec{}, 8);
  auto run = [&](int64_t steps, bool resume, std::vector<double>* losses) {
    std::unique_ptr<Model> m = create_model(kTinyMamba, 1);
    train::Optimizer opt(*m, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 1e-2));
    train::TrainerOptions o;
    o.batch_size = 4;
    o.steps = steps;
    o.progress = 0;
    o.checkpoint_dir = dir;
    train::Trainer t(*m, opt, data, nullptr, o);
    if (resume) {
      EXPECT_TRUE(t.resume());
    }
    while (t.current_step() < steps) losses->push_back(t.step().loss);
    t.save();
    return m;
  };
  std::vector<double> straight, first_half, second_half;
  std::unique_ptr<Model> a = run(60, false, &straight);
  EXPECT_GT(straight.front(), 4.0);  // ~ln 259 at random init
  EXPECT_LT(straight.back(), 0.1);   // memorised
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  run(30, false, &first_half);
  std::unique_ptr<Model> b = run(60, true, &second_half);
  first_half.insert(first_half.end(), second_half.begin(), second_half.end());
  EXPECT_EQ(first_half, straight);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].second->to_vector(), pb[i].second->to_vector()) << pa[i].first;
  // a Gemma checkpoint folder is another configuration
  GemmaModel g = GemmaModel::create(tiny_config(), 1);
  EXPECT_THROW(train::load_training_state(dir + "/step-00000060", g, nullptr), Error);
}

TEST(ModelInterface, DpoOnMambaLoraAdapters) {
  std::unique_ptr<Model> m = create_model(kTinyMamba, 2);
  m->add_lora(4, 8.f);
  EXPECT_EQ(m->lora_targets(), (std::vector<std::string>{"in_proj", "x_proj", "dt_proj", "out_proj"}));
  EXPECT_EQ(m->lora_parameters().size(), size_t(2 * 4 * 2));
  train::PreferenceDataset pairs({{{1, 40, 41}, {50, 51}, {60, 61}}, {{1, 42}, {52}, {62, 63}}});
  train::Optimizer opt(*m, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 5e-2));
  train::DpoTrainerOptions o;
  o.batch_size = 2;
  o.steps = 20;
  o.progress = 0;
  o.reference.kind = train::ReferenceKind::LoraDisabled;
  train::DpoTrainer t(*m, opt, pairs, nullptr, o);
  std::vector<double> losses;
  while (t.current_step() < 20) losses.push_back(t.step().loss);
  EXPECT_NEAR(losses.front(), std::log(2.0), 1e-6);  // the policy starts equal to its base
  EXPECT_LT(losses.back(), 0.5 * losses.front());
}

// GRPO samples through the engine's state slots and scores through the fused log-probs: the
// reward for a lowercase first byte rises from what a random model gives.
TEST(ModelInterface, GrpoTeachesAMambaTheRewardedToken) {
  std::unique_ptr<Model> m = create_model(kTinyMamba, 21);
  std::vector<std::string> texts;
  for (int i = 0; i < 8; ++i) texts.push_back("p" + std::to_string(i));
  const train::PromptDataset data = train::PromptDataset::from_text(texts, {}, train::TextCodec{});
  constexpr int32_t kByte = train::TextCodec::kByteOffset;
  train::Optimizer opt(*m, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 2e-2));
  train::GrpoTrainerOptions o;
  o.progress = 0;
  o.grpo.group_size = 4;
  o.grpo.beta = 0.01f;
  o.batch_size = 8;
  o.grad_accum = 2;
  o.max_completion_length = 3;
  o.engine.max_seqs = 8;
  o.steps = 30;
  o.seed = 3;
  o.rewards = {{"lowercase", [](const train::Completion& c) {
                  return !c.ids.empty() && c.ids[0] >= 'a' + kByte && c.ids[0] <= 'z' + kByte ? 1.0 : 0.0;
                }}};
  train::GrpoTrainer t(*m, opt, data, train::TextCodec{}, o);
  std::vector<double> reward;
  t.run([&](const train::GrpoStepMetrics& s) {
    reward.push_back(s.reward);
    return true;
  });
  ASSERT_EQ(reward.size(), 30u);
  const double first = (reward[0] + reward[1] + reward[2]) / 3, last = (reward[27] + reward[28] + reward[29]) / 3;
  EXPECT_LT(first, 0.4);
  EXPECT_GT(last, first + 0.4);
  EXPECT_EQ(t.round().prefix_tokens_reused, 0);  // a recurrent state shares no prompt prefix
}

TEST(ModelInterface, AStateOfAnotherFamilyIsRefused) {
  std::unique_ptr<Model> mamba = create_model(kTinyMamba, 1);
  GemmaModel gemma = GemmaModel::create(tiny_config(), 1);
  const std::vector<int32_t> ids = {1, 2, 3};
  const Tensor t = Tensor::from_data(ids.data(), {1, 3}, DType::I32);
  std::unique_ptr<ModelState> kv = gemma.new_state(), recurrent = mamba->new_state();
  EXPECT_THROW(mamba->forward(t, kv.get()), Error);
  EXPECT_THROW(gemma.forward(t, recurrent.get()), Error);
  EXPECT_EQ(kv->length(), 0);
  EXPECT_EQ(recurrent->length(), 0);
}

}  // namespace
