// test_mpi.cpp — data-parallel training and pipeline inference under `mpirun -np N` (ctest
// runs it on 2 and 3 ranks). Every rank runs every test: the collectives inside pair up.
//   Trainer and DpoTrainer on W ranks × batch B equal one process × batch W·B (losses, and
//   weights trained by SGD, within 1e-5 relative) after several steps, and every replica
//   holds bit-identical weights after every step, even when the ranks built different
//   initial weights; a data-parallel resume (Trainer, DpoTrainer) continues exactly, rank 0
//   alone writes, and a resume on another number of ranks is refused; the pipeline's logits
//   equal the oracle's and one process's, and its greedy continuation is the oracle's.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../train/tiny.hpp"
#include "xla/dpo_trainer.hpp"
#include "xla/gemma.hpp"
#include "xla/generate.hpp"
#include "xla/mpi.hpp"
#include "xla/pipeline.hpp"
#include "xla/trainer.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using namespace xla;
namespace fs = std::filesystem;

namespace {

mpi::WorldCollective* world = nullptr;

void barrier() {
  double x = 0;
  world->all_reduce(std::span<double>(&x, 1), ReduceOp::Sum);
}

// A folder every rank names the same (TMPDIR is the same on all), emptied by rank 0.
std::string shared_dir(const std::string& name) {
  const std::string dir = (fs::path(testing::TempDir()) / ("mpi_" + std::to_string(world->world_size()) + "_" + name)).string();
  if (world->rank() == 0) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  barrier();
  return dir;
}

train::Dataset text_data() {
  std::string text;
  for (int i = 0; i < 80; ++i) text += "pack my box with " + std::to_string(i % 9) + " dozen liquor jugs\n\n";
  return train::Dataset::from_text(text, train::TextCodec{}, 16);
}

// How many of the model's weights differ, bit for bit, from rank 0's, summed over the ranks.
double weights_unlike_rank0(Model& m) {
  double differing = 0;
  for (auto& [name, p] : m.named_parameters()) {
    Tensor mine = p->contiguous().clone();
    Tensor first = mine.clone();
    world->broadcast({static_cast<std::byte*>(first.raw_data()), first.nbytes()}, 0);
    if (std::memcmp(mine.raw_data(), first.raw_data(), mine.nbytes()) != 0) ++differing;
  }
  world->all_reduce(std::span<double>(&differing, 1), ReduceOp::Sum);
  return differing;
}

// ‖a − b‖ / ‖b‖ over every weight at once, and the largest |a − b| / max |b| of one element
struct Difference {
  double norm = 0, element = 0;
};
Difference relative_difference(Model& a, Model& b) {
  double diff2 = 0, norm2 = 0, diff = 0, scale = 0;
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    std::vector<float> x = pa[i].second->to_vector(), y = pb[i].second->to_vector();
    for (size_t j = 0; j < x.size(); ++j) {
      const double d = double(x[j]) - double(y[j]);
      diff2 += d * d, norm2 += double(y[j]) * double(y[j]);
      diff = std::max(diff, std::fabs(d)), scale = std::max(scale, std::fabs(double(y[j])));
    }
  }
  return {std::sqrt(diff2 / norm2), diff / scale};
}

train::TrainerOptions trainer_options() {
  train::TrainerOptions o;
  o.batch_size = 2;
  o.grad_accum = 2;
  o.steps = 6;
  o.progress = 0;
  o.seed = 5;
  o.schedule = {train::ScheduleKind::Cosine, 2, 0, 0.1};
  return o;
}

train::OptimizerOptions adamw() { return train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 3e-3); }
// For comparing weights: SGD's update is linear in the gradient, so the all-reduce's rounding
// stays rounding. Adam divides by √v and turns the rounding of a gradient that cancels to
// nearly 0 (DPO's chosen − rejected terms on shared prompt tokens) into a step of ±lr: its
// weights are compared through the losses and the logits instead (capi.mpi).
train::OptimizerOptions sgd() {
  train::OptimizerOptions o = train::OptimizerOptions::defaults(train::OptimizerKind::SGD, 0.05);
  o.momentum = 0.9;
  return o;
}

TEST(DataParallel, TrainerEqualsOneProcessWithTheGlobalBatch) {
  const int W = world->world_size();
  const train::Dataset data = text_data();
  // the ranks start from different weights: the trainer takes rank 0's
  GemmaModel dp_model = GemmaModel::create(tiny_config(), world->rank() == 0 ? 11 : 99);
  GemmaModel one_model = GemmaModel::create(tiny_config(), 11);
  train::Optimizer dp_opt(dp_model, sgd()), one_opt(one_model, sgd());
  train::TrainerOptions o = trainer_options();
  o.collective = world;
  train::TrainerOptions one = trainer_options();
  one.batch_size = o.batch_size * W;
  train::Trainer dp(dp_model, dp_opt, data, &data, o), single(one_model, one_opt, data, &data, one);
  for (int s = 0; s < int(o.steps); ++s) {
    const train::StepMetrics a = dp.step(), b = single.step();
    EXPECT_NEAR(a.loss, b.loss, 1e-5 * std::fabs(b.loss)) << "step " << s + 1;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-5 * b.grad_norm) << "step " << s + 1;
    EXPECT_EQ(weights_unlike_rank0(dp_model), 0) << "replicas differ after step " << s + 1;
  }
  const Difference d = relative_difference(dp_model, one_model);
  EXPECT_LE(d.element, 1e-5) << "(norm " << d.norm << ")";
  EXPECT_NEAR(dp.evaluate(), single.evaluate(), 1e-5 * single.evaluate());
}

TEST(DataParallel, ResumeContinuesExactlyAndRankZeroAloneWrites) {
  const train::Dataset data = text_data();
  const std::string dir = shared_dir("resume");
  auto options = [&](int64_t steps, bool checkpoints) {
    train::TrainerOptions o = trainer_options();
    o.collective = world;
    o.steps = steps;
    if (checkpoints) o.checkpoint_dir = dir + "/ckpt", o.metrics_path = dir + "/metrics.jsonl";
    return o;
  };
  std::vector<double> straight;
  {
    GemmaModel m = GemmaModel::create(tiny_config(), 11);
    train::Optimizer opt(m, adamw());
    train::Trainer t(m, opt, data, nullptr, options(6, false));
    t.run([&](const train::StepMetrics& s) { return straight.push_back(s.loss), true; });
  }
  {
    GemmaModel m = GemmaModel::create(tiny_config(), 11);
    train::Optimizer opt(m, adamw());
    train::Trainer t(m, opt, data, nullptr, options(3, true));
    EXPECT_EQ(t.run(), 3);  // saved at the end
  }
  barrier();
  std::vector<double> resumed;
  GemmaModel m = GemmaModel::create(tiny_config(), 11);
  train::Optimizer opt(m, adamw());
  train::Trainer t(m, opt, data, nullptr, options(6, true));
  ASSERT_TRUE(t.resume());
  t.run([&](const train::StepMetrics& s) { return resumed.push_back(s.loss), true; });
  ASSERT_EQ(resumed.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(resumed[i], straight[3 + i]) << "step " << 4 + i;
  barrier();
  std::ifstream f(dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(f, line);) {
    ++lines;
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
  EXPECT_EQ(lines, 6);  // one line per step: rank 0's only
  // one process cannot continue a run of W ranks: its global batches are other rows
  GemmaModel alone = GemmaModel::create(tiny_config(), 11);
  train::Optimizer alone_opt(alone, adamw());
  train::TrainerOptions o = options(6, true);
  o.collective = nullptr;
  o.metrics_path.clear();
  train::Trainer single(alone, alone_opt, data, nullptr, o);
  try {
    single.resume();
    ADD_FAILURE() << "a resume on another number of ranks went through";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::InvalidArg);
    EXPECT_NE(std::string(e.what()).find("data-parallel rank(s), this run has 1"), std::string::npos) << e.what();
  }
  barrier();
}

TEST(DataParallel, RanksThatDisagreeAreNamed) {
  const train::Dataset data = text_data();
  GemmaModel m = GemmaModel::create(tiny_config(), 11);
  train::Optimizer opt(m, adamw());
  train::TrainerOptions o = trainer_options();
  o.collective = world;
  o.grad_accum = world->rank() == 0 ? 2 : 3;
  try {
    train::Trainer t(m, opt, data, nullptr, o);
    ADD_FAILURE() << "ranks with different grad_accum built a trainer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the ranks disagree on grad_accum"), std::string::npos) << e.what();
  }
}

train::PreferenceDataset pairs(int n) {
  std::vector<train::PreferenceExample> v;
  for (int i = 0; i < n; ++i) {
    train::PreferenceExample e;
    for (int j = 0; j < 3 + i % 3; ++j) e.prompt.push_back(3 + (i * 7 + j * 5) % 200);
    for (int j = 0; j < 2 + i % 4; ++j) e.chosen.push_back(3 + (i * 11 + j * 3) % 200);
    for (int j = 0; j < 3 + i % 2; ++j) e.rejected.push_back(3 + (i * 13 + j * 7) % 200);
    v.push_back(e);
  }
  return train::PreferenceDataset(std::move(v));
}

TEST(DataParallel, DpoTrainerEqualsOneProcessWithTheGlobalBatch) {
  const int W = world->world_size();
  const train::PreferenceDataset train_set = pairs(24), eval_set = pairs(7);
  for (auto kind : {train::ReferenceKind::FrozenCopy, train::ReferenceKind::Precomputed}) {
    const std::string cache = shared_dir("dpo_cache");
    GemmaModel dp_model = GemmaModel::create(tiny_config(), world->rank() == 0 ? 21 : 5);
    GemmaModel one_model = GemmaModel::create(tiny_config(), 21);
    train::Optimizer dp_opt(dp_model, sgd()), one_opt(one_model, sgd());
    train::DpoTrainerOptions o;
    o.batch_size = 2;
    o.grad_accum = 2;
    o.steps = 4;
    o.progress = 0;
    o.seed = 3;
    o.reference.kind = kind;
    if (kind == train::ReferenceKind::Precomputed) o.reference.cache_dir = cache;
    train::DpoTrainerOptions one = o;
    one.batch_size = o.batch_size * W;
    one.reference.cache_dir.clear();
    o.collective = world;
    train::DpoTrainer dp(dp_model, dp_opt, train_set, &eval_set, o), single(one_model, one_opt, train_set, &eval_set, one);
    for (int s = 0; s < int(o.steps); ++s) {
      const train::DpoStepMetrics a = dp.step(), b = single.step();
      EXPECT_NEAR(a.loss, b.loss, 1e-5 * std::fabs(b.loss)) << "step " << s + 1;
      EXPECT_NEAR(a.reward_margin, b.reward_margin, 1e-5 * std::fabs(b.reward_margin) + 1e-7) << "step " << s + 1;
      EXPECT_EQ(weights_unlike_rank0(dp_model), 0) << "replicas differ after step " << s + 1;
    }
    const Difference d = relative_difference(dp_model, one_model);
    EXPECT_LE(d.element, 1e-5) << "(norm " << d.norm << ")";
    const train::DpoMetrics ea = dp.evaluate(), eb = single.evaluate();
    EXPECT_NEAR(ea.loss, eb.loss, 1e-5 * std::fabs(eb.loss));
    EXPECT_NEAR(ea.reward_accuracy, eb.reward_accuracy, 1e-12);
    if (kind == train::ReferenceKind::Precomputed) {
      barrier();
      size_t files = 0;
      for (const auto& e : fs::directory_iterator(cache)) files += e.path().extension() == ".safetensors";
      EXPECT_EQ(files, 2u);  // training and eval sets' log-probs, written once (rank 0)
    }
  }
}

TEST(DataParallel, DpoResumeContinuesExactly) {
  const train::PreferenceDataset train_set = pairs(24);
  const std::string dir = shared_dir("dpo_resume");
  auto run = [&](int64_t steps, bool resume, std::vector<double>* losses) {
    GemmaModel m = GemmaModel::create(tiny_config(), 21);
    train::Optimizer opt(m, adamw());
    train::DpoTrainerOptions o;
    o.batch_size = 2;
    o.steps = steps;
    o.progress = 0;
    o.seed = 3;
    o.collective = world;
    o.checkpoint_dir = dir + "/ckpt";
    train::DpoTrainer t(m, opt, train_set, nullptr, o);
    if (resume) {
      EXPECT_TRUE(t.resume());
    }
    t.run([&](const train::DpoStepMetrics& s) { return losses->push_back(s.loss), true; });
  };
  std::vector<double> straight, first, rest;
  run(4, false, &straight);
  barrier();
  if (world->rank() == 0) fs::remove_all(dir + "/ckpt");
  barrier();
  run(2, false, &first);
  barrier();
  run(4, true, &rest);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0], straight[2]);
  EXPECT_EQ(rest[1], straight[3]);
  barrier();
}

// ---- pipeline inference ----

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/gemma/";

std::vector<float> read_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  std::vector<float> v(size_t(f.tellg()) / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  return v;
}

class Pipeline : public testing::TestWithParam<std::string> {};

TEST_P(Pipeline, LogitsAndGreedyContinuationEqualOneProcessAndTheOracle) {
  const std::string dir = kOracle + GetParam();
  std::shared_ptr<Collective> c(world, [](Collective*) {});  // not owned
  std::unique_ptr<Model> stage = load_pipeline(dir, c);
  GemmaModel whole = GemmaModel::load(dir);
  std::ifstream rf(dir + "/reference.json");
  const nlohmann::json ref = nlohmann::json::parse(rf);
  const std::vector<float> oracle = read_f32(dir + "/logits.f32");
  const int64_t V = whole.vocab_size();
  NoGradGuard no_grad;
  for (int s = 0; s < 2; ++s) {
    const auto& seq = ref["sequences"][s];
    const std::vector<int32_t> ids = seq["token_ids"].get<std::vector<int32_t>>();
    const Tensor tokens = Tensor::from_data(ids.data(), {1, int64_t(ids.size())}, DType::I32);
    const std::vector<float> got = stage->forward(tokens).to_vector(), one = whole.forward(tokens).to_vector();
    ASSERT_EQ(got.size(), ids.size() * size_t(V));
    const float* want = oracle.data() + seq["logits"]["offset_bytes"].get<size_t>() / 4;
    double to_oracle = 0, to_one = 0, scale = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      to_oracle = std::max(to_oracle, std::fabs(double(got[i]) - double(want[i])));
      to_one = std::max(to_one, std::fabs(double(got[i]) - double(one[i])));
      scale = std::max(scale, std::fabs(double(one[i])));
    }
    EXPECT_LE(to_oracle, 1e-4) << "sequence " << s;
    EXPECT_LE(to_one, 1e-5 * scale) << "sequence " << s;
    GenerateOptions g;
    g.max_new_tokens = int(seq["greedy_continuation"].size());
    EXPECT_EQ(generate(*stage, ids, g), seq["greedy_continuation"].get<std::vector<int32_t>>()) << "sequence " << s;
  }
  // what a stage cannot give is named
  std::vector<Tensor> hidden;
  const Tensor one_token = Tensor::from_data(std::vector<int32_t>{2}.data(), {1, 1}, DType::I32);
  try {
    stage->forward(one_token, nullptr, &hidden);
    ADD_FAILURE() << "hidden states from a pipeline stage";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Unsupported);
  }
}

INSTANTIATE_TEST_SUITE_P(Oracle, Pipeline, testing::Values("gemma1", "gemma2", "gemma3"),
                         [](const testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(PipelineLoad, OtherFamiliesAndTooManyRanksAreNamed) {
  std::shared_ptr<Collective> c(world, [](Collective*) {});
  try {
    load_pipeline(std::string(XLA_SHARED_DIR) + "/oracle/mamba", c);
    ADD_FAILURE() << "a Mamba pipeline loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Unsupported) << e.what();
  }
  // a rank whose folder is missing fails, and so does every other rank
  try {
    load_pipeline(world->rank() == 1 ? "/nonexistent" : kOracle + "gemma3", c);
    ADD_FAILURE() << "a pipeline with a missing stage loaded";
  } catch (const Error& e) {
    if (world->rank() != 1) {
      EXPECT_NE(std::string(e.what()).find("another rank could not load"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(pipeline_stage(7, 0, 3), std::make_pair(int64_t(0), int64_t(3)));
  EXPECT_EQ(pipeline_stage(7, 2, 3), std::make_pair(int64_t(5), int64_t(7)));
}

}  // namespace

int main(int argc, char** argv) {
  mpi::init(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  mpi::WorldCollective w;
  world = &w;
  int failed = RUN_ALL_TESTS();
  double any = failed;  // a test that failed on one rank fails the run on every rank
  w.all_reduce(std::span<double>(&any, 1), ReduceOp::Max);
  world = nullptr;
  mpi::finalize();
  return any > 0 ? 1 : 0;
}
