// The fused LM head + cross-entropy (xla/loss.hpp): against the unfused composition
// (matmul → cross_entropy) in value and gradient, by finite differences, and against the
// reference log-probs in ../shared/oracle/gemma/*/reference.json.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "xla/gemma.hpp"
#include "xla/autograd.hpp"
#include "xla/loss.hpp"
#include "xla/ops.hpp"

using namespace xla;
namespace {

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/gemma/";

Tensor lcg(const Shape& s, uint32_t seed, float scale = 1.f) {
  std::vector<float> v(size_t(s.numel()));
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = scale * (float(seed >> 8) / float(1 << 24) * 2.f - 1.f);
  }
  return Tensor::from_vector(v, s);
}

Tensor ids(const std::vector<int32_t>& v, const Shape& s) { return Tensor::from_data(v.data(), s, DType::I32); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) d = std::max(d, std::fabs(double(x[i]) - y[i]));
  return d;
}

// The same loss from the ordinary ops: logits = h·Wᵀ, softcap, cross_entropy (+ z-loss).
Tensor unfused(const Tensor& h, const Tensor& w, const Tensor& t, const train::LossOptions& o) {
  Tensor logits = ag::matmul(h, ag::transpose(w, 0, 1));
  if (o.softcap > 0)
    logits = ag::mul(ag::tanh(ag::mul(logits, Tensor::scalar(1.f / o.softcap))), Tensor::scalar(o.softcap));
  Tensor loss = ag::cross_entropy(logits, t, o.ignore_index, o.label_smoothing);
  if (o.z_loss > 0) {
    // mean of lse² over the counted rows
    std::vector<int32_t> tv(size_t(t.numel()));
    t.to(DType::I32).copy_to(tv.data());
    std::vector<float> mask;
    float counted = 0;
    for (int32_t v : tv) mask.push_back(v == o.ignore_index ? 0.f : 1.f), counted += v != o.ignore_index;
    Tensor lse = ag::logsumexp(logits, {-1});
    Tensor z = ag::sum(ag::mul(ag::mul(lse, lse), Tensor::from_vector(mask, t.shape())));
    loss = ag::add(loss, ag::mul(z, Tensor::scalar(o.z_loss / counted)));
  }
  return loss;
}

struct Case {
  const char* name;
  train::LossOptions o;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }  // not 40 raw bytes

class FusedVsUnfused : public ::testing::TestWithParam<Case> {};

TEST_P(FusedVsUnfused, ValueAndGradientsMatch) {
  train::LossOptions o = GetParam().o;
  o.chunk_bytes = 3 * 37 * 4;  // 3 rows a chunk: several chunks and a ragged last one
  const int64_t B = 2, T = 5, C = 12, V = 37;
  Tensor h = lcg({B, T, C}, 1), w = lcg({V, C}, 2, 0.7f);
  Tensor t = ids({3, 36, 0, -100, 7, 11, 11, 2, -100, 30}, {B, T});
  Tensor h1 = h.clone(), w1 = w.clone(), h2 = h.clone(), w2 = w.clone();
  for (Tensor* x : {&h1, &w1, &h2, &w2}) set_requires_grad(*x, true);
  train::LossParts parts;
  Tensor fused = train::linear_cross_entropy(h1, w1, t, o, &parts);
  Tensor ref = unfused(h2, w2, t, o);
  EXPECT_NEAR(fused.item(), ref.item(), 2e-5 * std::max(1.f, std::fabs(ref.item())));
  EXPECT_EQ(parts.tokens, 8);
  EXPECT_NEAR(parts.cross_entropy + parts.z_loss, fused.item(), 1e-5);
  backward(fused);
  backward(ref);
  EXPECT_LT(max_abs_diff(grad(h1), grad(h2)), 2e-6);
  EXPECT_LT(max_abs_diff(grad(w1), grad(w2)), 2e-6);
}

INSTANTIATE_TEST_SUITE_P(Options, FusedVsUnfused,
                         ::testing::Values(Case{"plain", {}}, Case{"smoothing", {-100, 0.1f, 0, 0, 0}},
                                           Case{"zloss", {-100, 0, 1e-2f, 0, 0}},
                                           Case{"softcap", {-100, 0, 0, 3.f, 0}},
                                           Case{"all", {-100, 0.2f, 1e-1f, 2.f, 0}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LinearCrossEntropy, GradcheckBothInputs) {
  const Tensor t = ids({1, 4, -100, 0, 6, 2}, {6});
  train::LossOptions o;
  o.label_smoothing = 0.1f;
  o.z_loss = 0.05f;
  o.softcap = 4.f;
  o.chunk_bytes = 4 * 7 * 2;
  Tensor h = lcg({6, 5}, 3), w = lcg({7, 5}, 4);
  set_requires_grad(h, true);
  set_requires_grad(w, true);
  std::string err = gradcheck(
      [&](const std::vector<Tensor>& in) { return train::linear_cross_entropy(in[0], in[1], t, o); }, {h, w});
  EXPECT_EQ(err, "");
}

TEST(LinearCrossEntropy, SeedScalesTheGradient) {
  Tensor h = lcg({4, 6}, 5), w = lcg({9, 6}, 6);
  Tensor t = ids({1, 2, 3, 8}, {4});
  Tensor h1 = h.clone(), h2 = h.clone();
  set_requires_grad(h1, true);
  set_requires_grad(h2, true);
  backward(train::linear_cross_entropy(h1, w, t));
  backward(ag::mul(train::linear_cross_entropy(h2, w, t), Tensor::scalar(-2.5f)));
  std::vector<float> a = grad(h1).to_vector(), b = grad(h2).to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], -2.5f * a[i], 1e-6);
}

TEST(LinearCrossEntropy, AllIgnoredIsNaNAndBadInputIsNamed) {
  Tensor h = lcg({2, 3}, 7), w = lcg({5, 3}, 8);
  EXPECT_TRUE(std::isnan(train::linear_cross_entropy(h, w, ids({-100, -100}, {2})).item()));
  try {
    train::linear_cross_entropy(h, w, ids({1, 5}, {2}));
    FAIL() << "target 5 of 5 classes accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target 5 is out of range [0, 5)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train::linear_cross_entropy(h, lcg({5, 4}, 9), ids({1, 2}, {2})), Error);
  EXPECT_THROW(train::linear_cross_entropy(h, w, ids({1, 2, 3}, {3})), Error);
  train::LossOptions bad;
  bad.label_smoothing = 1.5f;
  EXPECT_THROW(train::linear_cross_entropy(h, w, ids({1, 2}, {2}), bad), Error);
}

TEST(LinearTokenLogprobs, MatchLogSoftmaxAndGradcheck) {
  Tensor h = lcg({2, 3, 4}, 10), w = lcg({11, 4}, 11);
  Tensor t = ids({1, 10, -100, 0, 5, 5}, {2, 3});
  Tensor lp = train::linear_token_logprobs(h, w, t, 0, -100, 4 * 11 * 2);
  std::vector<float> ls = log_softmax(matmul(h, w.transpose(0, 1)), -1).to_vector(), got = lp.to_vector();
  const int32_t tv[] = {1, 10, -100, 0, 5, 5};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(got[size_t(i)], tv[i] < 0 ? 0.f : ls[size_t(i * 11 + tv[i])], 1e-5) << i;
  set_requires_grad(h, true);
  set_requires_grad(w, true);
  std::string err = gradcheck(
      [&](const std::vector<Tensor>& in) {
        return ag::sum(ag::mul(train::linear_token_logprobs(in[0], in[1], t, 2.5f, -100, 4 * 11 * 2),
                               Tensor::from_vector({0.5f, -1.f, 2.f, 1.5f, -0.7f, 1.f}, {2, 3})));
      },
      {h, w});
  EXPECT_EQ(err, "");
}

// With a temperature: log-softmax of (soft-capped logits) / T, and its gradient, soft-cap
// and temperature together.
TEST(LinearTokenLogprobs, TemperatureDividesTheCappedLogits) {
  Tensor h = lcg({2, 3, 4}, 12), w = lcg({11, 4}, 13);
  Tensor t = ids({1, 10, -100, 0, 5, 5}, {2, 3});
  const float T = 0.7f, cap = 2.5f;
  Tensor lp = train::linear_token_logprobs(h, w, t, cap, -100, 4 * 11 * 2, T);
  Tensor z = ag::mul(ag::tanh(ag::mul(matmul(h, w.transpose(0, 1)), Tensor::scalar(1.f / cap))), Tensor::scalar(cap / T));
  std::vector<float> ls = log_softmax(z, -1).to_vector(), got = lp.to_vector();
  const int32_t tv[] = {1, 10, -100, 0, 5, 5};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(got[size_t(i)], tv[i] < 0 ? 0.f : ls[size_t(i * 11 + tv[i])], 1e-5) << i;
  set_requires_grad(h, true);
  set_requires_grad(w, true);
  std::string err = gradcheck(
      [&](const std::vector<Tensor>& in) {
        return ag::sum(ag::mul(train::linear_token_logprobs(in[0], in[1], t, cap, -100, 4 * 11 * 2, T),
                               Tensor::from_vector({0.5f, -1.f, 2.f, 1.5f, -0.7f, 1.f}, {2, 3})));
      },
      {h, w});
  EXPECT_EQ(err, "");
  EXPECT_THROW(train::linear_token_logprobs(h, w, t, 0, -100, 1 << 20, 0.f), xla::Error);
}

// lm_loss and sequence_logprobs of the oracle models equal the reference log-probs.
class OracleLoss : public ::testing::TestWithParam<const char*> {};

TEST_P(OracleLoss, MatchesReferenceLogProbs) {
  const std::string dir = kOracle + GetParam();
  GemmaModel model = GemmaModel::load(dir);
  std::ifstream f(dir + "/reference.json");
  nlohmann::json ref = nlohmann::json::parse(f);
  for (int s = 0; s < 2; ++s) {
    const auto& seq = ref["sequences"][s];
    std::vector<int32_t> tok = seq["token_ids"].get<std::vector<int32_t>>();
    const int64_t T = int64_t(tok.size());
    std::vector<int32_t> tgt(tok.begin() + 1, tok.end());
    tgt.push_back(-100);  // the last position predicts nothing
    Tensor in = ids(tok, {1, T}), tg = ids(tgt, {1, T});
    const double sum = seq["sum_logprob"].get<double>();
    EXPECT_NEAR(train::lm_loss(model, in, tg).item(), -sum / double(T - 1), 2e-5 * std::fabs(sum / double(T - 1)));
    EXPECT_NEAR(train::sequence_logprobs(model, in, tg).item(), sum, 2e-5 * std::fabs(sum));
    // per token too
    std::vector<double> want = seq["token_logprobs"].get<std::vector<double>>();
    Tensor lp = train::linear_token_logprobs(model.final_hidden(in), model.head_weight(), tg, model.config.final_softcap);
    std::vector<float> got = lp.to_vector();
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-3) << "token " << i;
  }
}

// Gradient of the whole model through the fused loss = through logits + cross_entropy.
TEST_P(OracleLoss, ModelGradientMatchesUnfusedPath) {
  GemmaModel model = GemmaModel::load(kOracle + GetParam());
  std::vector<int32_t> tok = {2, 17, 99, 4, 250, 31, 8, 77, 5, 64};
  std::vector<int32_t> tgt(tok.begin() + 1, tok.end());
  tgt.push_back(-100);
  tgt[2] = -100;  // a masked prompt token
  Tensor in = ids(tok, {2, 5}), tg = ids(tgt, {2, 5});
  for (auto& [name, p] : model.named_parameters()) set_requires_grad(*p, true);
  backward(train::lm_loss(model, in, tg));
  std::vector<Tensor> fused;
  for (auto& [name, p] : model.named_parameters()) fused.push_back(grad(*p)), zero_grad(*p);
  backward(ag::cross_entropy(model.forward(in), tg));
  size_t i = 0;
  for (auto& [name, p] : model.named_parameters()) {
    Tensor g = grad(*p);
    double scale = 1e-6;
    for (float v : g.to_vector()) scale = std::max(scale, double(std::fabs(v)));
    EXPECT_LT(max_abs_diff(fused[i++], g), 1e-4 * scale) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Gemma, OracleLoss, ::testing::Values("gemma1", "gemma2", "gemma3"));

}  // namespace

namespace {
// bf16 weights (kept bf16, widened while the head's GEMM packs them): the fused loss equals
// cross_entropy over the same model's logits.
TEST(LinearCrossEntropy, Bf16WeightsMatchTheUnfusedPath) {
  GemmaModel model = GemmaModel::load(kOracle + "gemma2", DType::BF16);
  std::vector<int32_t> tok = {2, 17, 99, 4, 250, 31, 8, 77};
  std::vector<int32_t> tgt(tok.begin() + 1, tok.end());
  tgt.push_back(-100);
  Tensor in = ids(tok, {1, 8}), tg = ids(tgt, {1, 8});
  NoGradGuard no_grad;
  const float fused = train::lm_loss(model, in, tg).item();
  const float ref = ag::cross_entropy(model.forward(in), tg).item();
  EXPECT_NEAR(fused, ref, 1e-5f * std::fabs(ref));
}
}  // namespace
