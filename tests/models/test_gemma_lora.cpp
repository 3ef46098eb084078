// test_gemma_lora.cpp — LoRA adapters inside GemmaModel (add_lora, lora_enabled,
// LoraDisabledGuard, lora_parameters, clone): fresh adapters leave the logits bit-identical;
// trained adapters change them as the merged weights W + s·B·A would (an independent model
// with those weights is the oracle); switched off, the model is its base bit for bit;
// gradients reach A and B only; gradcheck through adapters of a tiny model; the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "../autograd/grad_util.hpp"
#include "xla/gemma.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using namespace gt;
using xla::GemmaModel;

namespace {

const std::string kGemma1 = std::string(XLA_SHARED_DIR) + "/oracle/gemma/gemma1";

Tensor tokens() { return I32({2, 7, 100, 33, 250, 9, 411, 2, 5, 6, 7, 8, 300, 1}, {2, 7}); }

// A small Gemma 2 (soft-caps, post-norms, sliding window) for gradcheck: few weights, f32.
xla::GemmaConfig tiny() {
  xla::GemmaConfig c;
  c.version = 2;
  c.vocab_size = 37;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 8;
  c.query_pre_attn_scalar = 8;
  c.sliding_window = 4;
  c.sliding = {1, 0};
  c.attn_softcap = 50;
  c.final_softcap = 30;
  return c;
}

// Gives every B of the model random values (as after training), seeded per tensor.
void randomize_b(GemmaModel& m, float scale = 0.5f) {
  uint64_t seed = 100;
  for (auto& [name, p] : m.lora_parameters())
    if (name.find("lora_B") != std::string::npos) {
      std::vector<float> v = lcg_values(p->numel(), seed++, -scale, scale);
      xla::Tensor fresh = Tensor::from_vector(v, p->shape());
      p->copy_(fresh);
    }
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(double(x[i]) - double(y[i])));
  return d;
}

TEST(GemmaLora, FreshAdaptersLeaveTheLogitsBitIdentical) {
  GemmaModel base = GemmaModel::load(kGemma1);
  GemmaModel m = base.clone();
  m.add_lora(4, 8.f, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 5);
  EXPECT_TRUE(m.has_lora());
  EXPECT_EQ(m.lora_scaling(), 2.f);
  // B = 0: W·x + s·B·(A·x) adds exact zeros
  expect_bitwise_equal(m.forward(tokens()), base.forward(tokens()));
  // names (PEFT's), shapes, init, grad flags
  auto lp = m.lora_parameters();
  ASSERT_EQ(lp.size(), size_t(2 * 7 * 2));
  EXPECT_EQ(lp[0].first, "model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(lp[1].first, "model.layers.0.self_attn.q_proj.lora_B.weight");
  EXPECT_EQ(lp[9].first, "model.layers.0.mlp.gate_proj.lora_B.weight");
  EXPECT_EQ(lp.back().first, "model.layers.1.mlp.down_proj.lora_B.weight");
  const xla::GemmaConfig& c = m.config;
  expect_shape(*lp[0].second, {4, c.hidden_size});                    // q A [r, C]
  expect_shape(*lp[1].second, {c.num_heads * c.head_dim, 4});         // q B [H·D, r]
  expect_shape(*lp[12].second, {4, c.intermediate_size});             // down A [r, I]
  expect_shape(*lp[13].second, {c.hidden_size, 4});                   // down B [C, r]
  const double bound = 1.0 / std::sqrt(double(c.hidden_size));
  for (float v : lp[0].second->to_vector()) EXPECT_LE(std::fabs(double(v)), bound);
  EXPECT_NE(lp[0].second->to_vector(), lp[2].second->to_vector());  // each adapter its own draw
  for (auto& [name, p] : lp) {
    EXPECT_TRUE(xla::requires_grad(*p)) << name;
    EXPECT_EQ(p->dtype(), DType::F32);
    if (name.find("lora_B") != std::string::npos) {
      for (float v : p->to_vector()) ASSERT_EQ(v, 0.f) << name;
    }
  }
  // named_parameters is unchanged: base weights only
  std::set<std::string> names;
  for (auto& [n, p] : m.named_parameters()) names.insert(n);
  EXPECT_EQ(names.size(), base.named_parameters().size());
  for (const std::string& n : names) EXPECT_EQ(n.find("lora"), std::string::npos);
  // the same seed draws the same adapters
  GemmaModel again = base.clone();
  again.add_lora(4, 8.f, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 5);
  EXPECT_EQ(again.lora_parameters()[6].second->to_vector(), lp[6].second->to_vector());
}

TEST(GemmaLora, TrainedAdaptersEqualTheMergedWeightsAndOffIsTheBase) {
  GemmaModel base = GemmaModel::load(kGemma1);
  GemmaModel m = base.clone();
  m.add_lora(3, 6.f, {"q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"}, 9);
  randomize_b(m);
  const Tensor on = m.forward(tokens());
  // the oracle: a plain model whose weights are W + s·B·A, computed in double here
  GemmaModel merged = base.clone();
  const double s = m.lora_scaling();
  auto merge = [&](xla::Tensor& w, const xla::LoraAdapter& a) {
    if (!a.defined()) return;
    const int64_t out = w.shape()[0], in = w.shape()[1], r = a.a.shape()[0];
    std::vector<float> wv = w.to_vector(), av = a.a.to_vector(), bv = a.b.to_vector();
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) {
        double d = 0;
        for (int64_t k = 0; k < r; ++k) d += double(bv[size_t(o * r + k)]) * double(av[size_t(k * in + i)]);
        wv[size_t(o * in + i)] = float(double(wv[size_t(o * in + i)]) + s * d);
      }
    w = Tensor::from_vector(wv, w.shape());
  };
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const xla::GemmaLayer& a = m.layers[l];
    xla::GemmaLayer& w = merged.layers[l];
    merge(w.q_proj, a.q_lora), merge(w.k_proj, a.k_lora), merge(w.v_proj, a.v_lora), merge(w.o_proj, a.o_lora);
    merge(w.gate_proj, a.gate_lora), merge(w.up_proj, a.up_lora), merge(w.down_proj, a.down_lora);
  }
  const Tensor want = merged.forward(tokens());
  const double moved = max_abs_diff(want, base.forward(tokens()));
  EXPECT_GT(moved, 0.05);                          // the adapters matter …
  EXPECT_LT(max_abs_diff(on, want), 1e-4);         // … exactly as merged weights do
  {
    xla::LoraDisabledGuard off(m);
    EXPECT_FALSE(m.lora_enabled);
    expect_bitwise_equal(m.forward(tokens()), base.forward(tokens()));  // off: the base, bit for bit
  }
  EXPECT_TRUE(m.lora_enabled);  // the guard restores the flag
  expect_bitwise_equal(m.forward(tokens()), on);
  // the KV cache path uses the adapters too: prefill 4, then decode the rest one by one
  xla::KVCache cache = m.new_cache();
  Tensor first = m.forward(tokens().slice(1, 0, 4), &cache);
  EXPECT_LT(max_abs_diff(first, on.slice(1, 0, 4)), 1e-5);
  for (int64_t t = 4; t < 7; ++t) {
    Tensor step = m.forward(tokens().slice(1, t, t + 1), &cache);
    EXPECT_LT(max_abs_diff(step, on.slice(1, t, t + 1)), 1e-4) << "position " << t;
  }
}

TEST(GemmaLora, GradientsReachOnlyTheAdapters) {
  GemmaModel m = GemmaModel::load(kGemma1);
  m.add_lora(2, 4.f, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 1);
  randomize_b(m, 0.1f);  // with B = 0 no gradient would reach A
  xla::backward(weighted_sum(m.forward(tokens())));
  for (auto& [name, p] : m.named_parameters()) {
    EXPECT_FALSE(xla::requires_grad(*p)) << name;
    EXPECT_FALSE(xla::grad(*p).defined()) << name;
  }
  for (auto& [name, p] : m.lora_parameters()) {
    Tensor g = xla::grad(*p);
    ASSERT_TRUE(g.defined()) << name;
    double norm = 0;
    for (float v : g.to_vector()) norm += double(v) * double(v);
    EXPECT_GT(norm, 0) << name;
  }
  // switched off, the adapters take no part: no gradient reaches them
  for (auto& [name, p] : m.lora_parameters()) xla::zero_grad(*p);
  {
    xla::LoraDisabledGuard off(m);
    Tensor loss = weighted_sum(m.forward(tokens()));
    EXPECT_FALSE(xla::requires_grad(loss));  // nothing in the graph requires grad
  }
}

TEST(GemmaLora, GradcheckThroughAdaptersOfATinyModel) {
  GemmaModel m = GemmaModel::create(tiny(), 3);
  for (auto& [name, p] : m.named_parameters())  // larger weights than N(0, 0.02²): gradients that matter
    if (p->ndim() == 2) p->mul_(20.f);
  m.add_lora(2, 2.f, {"q_proj", "v_proj", "up_proj", "down_proj"}, 4);
  randomize_b(m, 0.5f);
  const Tensor in = I32({1, 5, 9, 30, 2, 17}, {1, 6});
  // every input is an adapter tensor the model reads: layer 0's q A and B, layer 1's down A and B
  std::vector<Tensor> inputs = {m.layers[0].q_lora.a, m.layers[0].q_lora.b, m.layers[1].down_lora.a,
                                m.layers[1].down_lora.b, m.layers[1].v_lora.b};
  check_grad(
      [&](const std::vector<Tensor>& x) {
        m.layers[0].q_lora = {x[0], x[1]};
        m.layers[1].down_lora = {x[2], x[3]};
        m.layers[1].v_lora.b = x[4];
        return m.forward(in);
      },
      inputs, 1e-2, 2e-3, 2e-2);
}

TEST(GemmaLora, CloneIsDeep) {
  GemmaModel m = GemmaModel::create(tiny(), 1);
  m.add_lora(2, 2.f, {"q_proj"}, 0);
  GemmaModel c = m.clone();
  EXPECT_FALSE(c.embed_tokens.shares_storage(m.embed_tokens));
  EXPECT_FALSE(c.layers[0].q_lora.a.shares_storage(m.layers[0].q_lora.a));
  EXPECT_FALSE(xla::requires_grad(c.layers[0].q_lora.a));
  EXPECT_EQ(c.lora_rank, 2);
  c.layers[0].q_lora.b.fill_(1.0);
  for (float v : m.layers[0].q_lora.b.to_vector()) EXPECT_EQ(v, 0.f);
}

TEST(GemmaLora, Errors) {
  auto fails = [](auto f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no error for " << part;
    } catch (const xla::Error& e) {
      EXPECT_EQ(e.status(), xla::Status::InvalidArg);
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  GemmaModel m = GemmaModel::create(tiny(), 1);
  fails([&] { m.add_lora(0, 8.f); }, "rank must be >= 1");
  fails([&] { m.add_lora(2, 0.f); }, "alpha");
  fails([&] { m.add_lora(2, 8.f, {"q_proj", "lm_head"}); }, "unknown target 'lm_head'");
  fails([&] { m.add_lora(2, 8.f, {"q_proj", "q_proj"}); }, "given twice");
  EXPECT_FALSE(m.has_lora());  // a failed add_lora adds nothing
  m.add_lora(2, 8.f);
  fails([&] { m.add_lora(2, 8.f); }, "already has LoRA adapters");
}

}  // namespace
