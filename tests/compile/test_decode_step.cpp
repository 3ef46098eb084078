// test_decode_step.cpp — a Session whose one-token steps replay a compiled graph
// (Model::compile_decode) against one that runs them eagerly, on every oracle model: the
// same greedy tokens and the same logits to float rounding, past sliding windows that wrap
// and spans that grow, with no tensor allocated per step, and a failed step undone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "xla/gemma.hpp"
#include "xla/generate.hpp"
#include "xla/kv_cache.hpp"
#include "xla/mamba.hpp"
#include "xla/ops.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using namespace xla;

namespace {

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/";

// The largest |a - b| over the largest |b|.
double relative_gap(const std::vector<float>& a, const std::vector<float>& b) {
  double gap = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    gap = std::max(gap, std::fabs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return std::isfinite(gap) ? gap / scale : INFINITY;
}

int32_t argmax(const std::vector<float>& v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

const std::vector<int32_t> kPrompt = {2, 17, 5, 31, 9};

// Greedy decoding of `steps` tokens in both sessions, comparing every step's logits.
void expect_steps_agree(const Model& model, int steps, double tolerance, const std::string& what) {
  Session eager(model), compiled(model, {.compile = true});
  ASSERT_TRUE(compiled.compiled());
  std::vector<float> a = eager.feed(kPrompt), b = compiled.feed(kPrompt);
  double worst = 0;
  for (int i = 0; i < steps; ++i) {
    const int32_t next = argmax(a);
    ASSERT_EQ(argmax(b), next) << what << ": step " << i;
    a = eager.feed({next});
    b = compiled.feed({next});
    worst = std::max(worst, relative_gap(b, a));
  }
  EXPECT_LE(worst, tolerance) << what;
  EXPECT_EQ(compiled.length(), eager.length());
  std::printf("%s: %d steps, largest gap %.2e of the largest logit\n", what.c_str(), steps, worst);
}

class CompiledDecode : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { model = GemmaModel::load(kOracle + "gemma/" + GetParam()); }
  GemmaModel model;
};

}  // namespace

// 5 prompt tokens and 70 steps: spans 16 … 128, and the window-8 rings wrap many times.
TEST_P(CompiledDecode, GreedyStepsEqualEagerOnes) { expect_steps_agree(model, 70, 2e-6, GetParam() + " f32"); }

TEST_P(CompiledDecode, Bf16AndQ8WeightsToo) {
  for (DType dtype : {DType::BF16, DType::Q8}) {
    GemmaModel m = GemmaModel::load(kOracle + "gemma/" + GetParam(), dtype);
    expect_steps_agree(m, 20, 2e-6, GetParam() + " " + dtype_name(dtype));
  }
}

TEST_P(CompiledDecode, StepsAllocateNoTensor) {
  auto cache = model.new_state();
  model.forward(Tensor::from_data(kPrompt.data(), {1, int64_t(kPrompt.size())}, DType::I32), cache.get());
  std::unique_ptr<DecodeStep> step = model.compile_decode(cache.get());
  step->step(3);  // compiles the span of 16
  const uint64_t before = storages_created();
  for (int32_t t : {4, 5, 6}) step->step(t);
  EXPECT_EQ(storages_created() - before, 0u);
  EXPECT_EQ(step->captures(), 1);
  EXPECT_EQ(cache->length(), int64_t(kPrompt.size()) + 4);
}

// Compiled steps against Google's reference decode: each greedy step's logits within the
// oracle tolerance (1e-4 absolute), and the reference's continuation.
TEST_P(CompiledDecode, GreedyDecodeMatchesTheReference) {
  const std::string dir = kOracle + "gemma/" + GetParam();
  const nlohmann::json ref = nlohmann::json::parse(std::ifstream(dir + "/reference.json"));
  std::ifstream raw(dir + "/decode_logits.f32", std::ios::binary | std::ios::ate);
  std::vector<float> all(size_t(raw.tellg()) / sizeof(float));
  raw.seekg(0);
  raw.read(reinterpret_cast<char*>(all.data()), std::streamsize(all.size() * sizeof(float)));
  const size_t V = size_t(model.vocab_size());
  for (const auto& seq : ref["sequences"]) {
    const auto ids = seq["token_ids"].get<std::vector<int32_t>>();
    const auto want = seq["greedy_continuation"].get<std::vector<int32_t>>();
    const float* expect = all.data() + seq["decode_logits"]["offset_bytes"].get<size_t>() / sizeof(float);
    Session s(model, {.compile = true});
    std::vector<float> logits = s.feed(ids);
    std::vector<int32_t> got;
    for (size_t j = 0; j < want.size(); ++j) {
      double gap = 0;
      for (size_t v = 0; v < V; ++v) gap = std::max(gap, std::fabs(double(logits[v]) - double(expect[j * V + v])));
      EXPECT_LT(gap, 1e-4) << "step " << j;
      got.push_back(argmax(logits));
      logits = s.feed({got.back()});
    }
    EXPECT_EQ(got, want);
  }
}

// A step that fails (a token out of range, an empty cache) leaves the cache as it was: the
// steps after it still equal eager ones.
TEST_P(CompiledDecode, FailedStepLeavesTheCache) {
  Session eager(model), compiled(model, {.compile = true});
  std::vector<float> a = eager.feed(kPrompt), b = compiled.feed(kPrompt);
  try {
    compiled.feed({int32_t(model.vocab_size())});
    ADD_FAILURE() << "an id past the vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::InvalidArg);
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
  EXPECT_EQ(compiled.length(), int64_t(kPrompt.size()));
  for (int32_t t : {7, 8, 9, 10, 11, 12, 13, 14, 15, 16}) {
    a = eager.feed({t});
    b = compiled.feed({t});
  }
  EXPECT_LE(relative_gap(b, a), 2e-6);

  auto empty = model.new_state();
  auto step = model.compile_decode(empty.get());
  EXPECT_THROW(step->step(1), Error);
  EXPECT_EQ(empty->length(), 0);
}

TEST_P(CompiledDecode, SwitchesOffAndOnMidConversation) {
  Session eager(model), s(model, {.compile = true});
  std::vector<float> a = eager.feed(kPrompt), b = s.feed(kPrompt);
  int32_t t = 3;
  for (int i = 0; i < 24; ++i, t = (t * 7 + 1) % 50) {
    if (i % 6 == 0) s.set_compile(i % 12 != 0);  // off, on, off, on
    a = eager.feed({t});
    b = s.feed({t});
  }
  EXPECT_LE(relative_gap(b, a), 2e-6);
  s.reset();
  EXPECT_TRUE(s.compiled());
  EXPECT_EQ(s.length(), 0);
}

// Adapters added to the model, or switched off, after the steps were captured: the next
// steps capture again and follow the model, as eager ones do.
TEST_P(CompiledDecode, FollowsLoraAddedOrSwitchedAfterCapture) {
  Session eager(model), compiled(model, {.compile = true});
  std::vector<float> a = eager.feed(kPrompt), b = compiled.feed(kPrompt);
  for (int32_t t : {3, 4}) a = eager.feed({t}), b = compiled.feed({t});
  model.add_lora(2, 4.f);
  for (auto& [name, w] : model.lora_parameters())
    if (name.find("lora_B") != std::string::npos) w->copy_(full(w->shape(), 0.05));
  for (int32_t t : {5, 6}) a = eager.feed({t}), b = compiled.feed({t});
  EXPECT_LE(relative_gap(b, a), 2e-6) << "adapters added";
  model.lora_enabled = false;
  for (int32_t t : {7, 8}) a = eager.feed({t}), b = compiled.feed({t});
  EXPECT_LE(relative_gap(b, a), 2e-6) << "adapters switched off";
}

INSTANTIATE_TEST_SUITE_P(Oracle, CompiledDecode, ::testing::Values("gemma1", "gemma2", "gemma3"));

TEST(CompiledDecodeMamba, IsRefusedByName) {
  MambaModel m = MambaModel::load(kOracle + "mamba");
  try {
    Session s(m, {.compile = true});
    ADD_FAILURE() << "a Mamba session compiled";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::Unsupported);
    EXPECT_NE(std::string(e.what()).find("mamba"), std::string::npos) << e.what();
  }
}
