// test_compile_gemma.cpp — Gemma through the compiler, on every oracle model: the compiled
// forward gives the eager logits bit for bit (so the reference's, within the oracle
// tests' tolerance), and a compiled training step the eager loss and every gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "xla/autograd.hpp"
#include "xla/compile.hpp"
#include "xla/gemma.hpp"
#include "xla/loss.hpp"
#include "xla/ops.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using namespace xla;

namespace {

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/gemma/";

Tensor tokens(const std::vector<int32_t>& ids, int64_t batch = 1) {
  return Tensor::from_data(ids.data(), {batch, int64_t(ids.size()) / batch}, DType::I32);
}

// Pseudo-random ids below the vocabulary.
std::vector<int32_t> ids_of(size_t n, int64_t vocab, uint32_t seed) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = int32_t((seed * 2654435761u + i * 40503u) % uint32_t(vocab));
  return v;
}

void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  size_t differ = 0;
  for (size_t i = 0; i < x.size(); ++i) differ += std::memcmp(&x[i], &y[i], sizeof(float)) != 0;
  EXPECT_EQ(differ, 0u) << what << ": " << differ << " of " << x.size() << " values differ";
}

class CompiledGemma : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { model = GemmaModel::load(kOracle + GetParam()); }
  // Every weight, made a parameter that wants its gradient.
  std::vector<Tensor*> trainable() {
    std::vector<Tensor*> params;
    for (auto& [name, t] : model.named_parameters()) {
      set_requires_grad(*t, true);
      params.push_back(t);
    }
    return params;
  }
  // Inputs and next-token targets of 2 rows of 7, from 16 pseudo-random ids.
  std::vector<Tensor> batch(uint32_t seed) {
    std::vector<int32_t> ids = ids_of(16, model.vocab_size(), seed);
    std::vector<int32_t> x(ids.begin(), ids.end() - 2), y(ids.begin() + 1, ids.end() - 1);
    return {tokens(x, 2), tokens(y, 2)};
  }
  // A training step {loss, gradients...} compiled from one batch and replayed on another:
  // nothing runs by closure, the second replay makes no tensor, and it gives the eager
  // loss and every gradient bit for bit.
  template <typename Step>
  void expect_replay_allocates_nothing_and_equals_eager(Step&& step) {
    CompiledFunction f = compile(step, batch(1));
    EXPECT_EQ(f.stats().eager_steps, 0) << f.dump(GraphStage::Optimized, GraphFormat::Text);
    std::vector<Tensor> in = batch(5);
    f.run(in);
    const uint64_t before = storages_created();
    std::vector<Tensor> got = f.run(in);
    EXPECT_EQ(storages_created() - before, 0u);
    std::vector<Tensor> want = step(in);
    ASSERT_EQ(got.size(), want.size());
    expect_same_bits(got[0], want[0], "loss");
    for (size_t k = 1; k < got.size(); ++k) {
      ASSERT_TRUE(got[k].defined()) << "gradient " << k;
      expect_same_bits(got[k], want[k], "gradient " + std::to_string(k));
    }
    dump = f.dump(GraphStage::Optimized, GraphFormat::Text);
  }
  GemmaModel model;
  std::string dump;  // the last compiled step's optimised graph
};

}  // namespace

TEST_P(CompiledGemma, ForwardEqualsEagerBitwise) {
  NoGradGuard no_grad;
  const int64_t V = model.vocab_size();
  auto forward = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{model.forward(in[0])}; };
  CompiledFunction f = compile(forward, {tokens(ids_of(12, V, 1), 2)});
  EXPECT_GT(f.stats().fused_loops, 0);
  for (uint32_t seed : {2u, 3u}) {
    Tensor t = tokens(ids_of(12, V, seed), 2);
    expect_same_bits(f.run({t})[0], model.forward(t), "logits, seed " + std::to_string(seed));
  }
}

// Every buffer of a forward is planned: the fused layers' kernels write into the arena as
// the products do, and RoPE's tables of constant positions fold.
TEST_P(CompiledGemma, ForwardAllocatesNoTensor) {
  NoGradGuard no_grad;
  auto forward = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{model.forward(in[0])}; };
  Tensor t = tokens(ids_of(12, model.vocab_size(), 1), 2);
  CompiledFunction f = compile(forward, {t});
  EXPECT_EQ(f.stats().eager_steps, 0) << f.dump(GraphStage::Optimized, GraphFormat::Text);
  f.run({t});
  const uint64_t before = storages_created();
  f.run({t});
  EXPECT_EQ(storages_created() - before, 0u);
}

// A prompt of 130 tokens: attention runs in blocks of 64 queries, joined by concat, which
// writes into the arena as well. The logits equal eager ones bit for bit.
TEST_P(CompiledGemma, LongForwardAllocatesNoTensor) {
  NoGradGuard no_grad;
  auto forward = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{model.forward(in[0])}; };
  CompiledFunction f = compile(forward, {tokens(ids_of(130, model.vocab_size(), 1))});
  EXPECT_EQ(f.stats().eager_steps, 0) << f.dump(GraphStage::Optimized, GraphFormat::Text);
  Tensor t = tokens(ids_of(130, model.vocab_size(), 2));
  f.run({t});
  const uint64_t before = storages_created();
  const Tensor got = f.run({t})[0];
  EXPECT_EQ(storages_created() - before, 0u);
  expect_same_bits(got, model.forward(t), "logits over 130 tokens");
}

// Through the cross-entropy over full logits: it and its gradient write into the arena too.
TEST_P(CompiledGemma, TrainingStepEqualsEagerBitwise) {
  std::vector<Tensor*> params = trainable();
  expect_replay_allocates_nothing_and_equals_eager([&](const std::vector<Tensor>& in) {
    for (Tensor* p : params) zero_grad(*p);
    Tensor logits = model.forward(in[0]);
    Tensor loss = ag::cross_entropy(logits, in[1]);
    backward(loss);
    std::vector<Tensor> out = {detach(loss)};
    for (Tensor* p : params) out.push_back(grad(*p));
    return out;
  });
}

// The training step as the trainer compiles it, through the fused head and loss: the loss
// kernel's gradients and its logits workspace, the embedding's gradient and the norms'
// zeroed weight gradients all go into the arena. A small chunk makes the loss run three
// chunks.
TEST_P(CompiledGemma, FusedLossTrainingStepAllocatesNoTensor) {
  std::vector<Tensor*> params = trainable();
  train::LossOptions o;
  o.chunk_bytes = 5 * 4 * model.vocab_size();  // 5 rows of logits at a time, of 14
  expect_replay_allocates_nothing_and_equals_eager([&](const std::vector<Tensor>& in) {
    for (Tensor* p : params) zero_grad(*p);
    Tensor loss = train::lm_loss(model, in[0], in[1], o);
    backward(loss);
    std::vector<Tensor> out = {detach(loss)};
    for (Tensor* p : params) out.push_back(grad(*p));
    return out;
  });
  EXPECT_NE(dump.find("workspace 4 (linear_cross_entropy)"), std::string::npos) << dump;
}

// Repeated ids: eagerly, a tied embedding's rows are added into the head's gradient in
// place, one by one; a capture adds them up first (a graph holds values), so sums of a
// repeated row round in another order: equal within 1e-6 of the largest gradient.
TEST_P(CompiledGemma, RepeatedIdsGiveTheEagerGradientsWithinRounding) {
  std::vector<Tensor*> params = trainable();
  auto step = [&](const std::vector<Tensor>& in) {
    for (Tensor* p : params) zero_grad(*p);
    backward(ag::cross_entropy(model.forward(in[0]), in[1]));
    std::vector<Tensor> out;
    for (Tensor* p : params) out.push_back(grad(*p));
    return out;
  };
  const std::vector<int32_t> x = {5, 9, 5, 5, 9, 2, 5, 7}, y = {9, 5, 5, 9, 2, 5, 7, 5};
  std::vector<Tensor> in = {tokens(x, 2), tokens(y, 2)};
  CompiledFunction f = compile(step, in);
  std::vector<Tensor> got = f.run(in), want = step(in);
  for (size_t k = 0; k < got.size(); ++k) {
    std::vector<float> a = got[k].to_vector(), b = want[k].to_vector();
    double worst = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, double(std::fabs(a[i] - b[i])));
      scale = std::max(scale, double(std::fabs(b[i])));
    }
    EXPECT_LE(worst, 1e-6 * scale) << "gradient " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Oracle, CompiledGemma, ::testing::Values("gemma1", "gemma2", "gemma3"));
