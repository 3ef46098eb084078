// test_layers.cpp — linear (with and without bias), Gemma's RMSNorm, RoPE, the attention
// mask and GQA attention: values derived by hand or by a naive loop in the test, plus
// gradchecks through the composed layers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "../autograd/grad_util.hpp"
#include "xla/autograd.hpp"
#include "xla/nn.hpp"

using xla::Tensor;
namespace nn = xla::nn;

namespace {
Tensor T(std::vector<float> v, xla::Shape s) { return Tensor::from_vector(v, s); }
void expect_near_all(const Tensor& t, const std::vector<float>& want, float tol = 1e-5f) {
  std::vector<float> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}
}  // namespace

TEST(Linear, WeightLayoutAndBias) {
  // x [1, 2] · W[3, 2]ᵀ: rows of W are the output features; + b
  Tensor x = T({1, 2}, {1, 2}), w = T({1, 0, 0, 1, 1, 1}, {3, 2}), b = T({10, 20, 30}, {3});
  expect_near_all(nn::linear(x, w), {1, 2, 3});
  expect_near_all(nn::linear(x, w, b), {11, 22, 33});
  EXPECT_THROW(nn::linear(x, w, T({1, 2}, {2})), xla::Error);
  EXPECT_THROW(nn::linear(T({1, 2, 3}, {1, 3}), w), xla::Error);
  std::string report = xla::gradcheck([](const std::vector<Tensor>& in) { return nn::linear(in[0], in[1], in[2]); },
                                      [&] {
                                        Tensor a = x.clone(), c = w.clone(), d = b.clone();
                                        xla::set_requires_grad(a, true);
                                        xla::set_requires_grad(c, true);
                                        xla::set_requires_grad(d, true);
                                        return std::vector<Tensor>{a, c, d};
                                      }());
  EXPECT_EQ(report, "");
}

// linears(x, {w…}) is linear(x, w) for each weight, bit for bit: the grouped dot products of
// a few rows without gradients (each weight's rows end to end, split across the cores), the
// separate products for many rows or with gradients; f32, bf16 and q8 weights.
TEST(Linear, SeveralWeightsOfOneInputEqualEachLinear) {
  auto normal = [](xla::Shape s, uint64_t seed) {
    xla::Generator gen(seed);
    return xla::randn(s, gen);
  };
  auto bitwise = [](const Tensor& a, const Tensor& b) {
    ASSERT_TRUE(a.shape() == b.shape()) << a.shape().str() << " vs " << b.shape().str();
    std::vector<float> x = a.to_vector(), y = b.to_vector();
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
  };
  for (xla::DType dtype : {xla::DType::F32, xla::DType::BF16, xla::DType::Q8})
    for (int64_t rows : {1, 3, 100}) {
      SCOPED_TRACE(std::string(xla::dtype_name(dtype)) + " rows " + std::to_string(rows));
      // N = 1040 + 264 + 264: each thread's range of the 1568 rows spans two weights
      std::vector<Tensor> w = {normal({1040, 96}, 1).to(dtype), normal({264, 96}, 2).to(dtype),
                               normal({264, 96}, 3).to(dtype)};
      Tensor x = normal({1, rows, 96}, 4);
      xla::NoGradGuard no_grad;
      std::vector<Tensor> got = nn::linears(x, w);
      ASSERT_EQ(got.size(), 3u);
      for (size_t i = 0; i < w.size(); ++i) bitwise(got[i], nn::linear(x, w[i]));
    }
  // with gradients: the separate products, each differentiable
  Tensor x = normal({2, 8}, 5), a = normal({3, 8}, 6), b = normal({5, 8}, 7);
  xla::set_requires_grad(x, true);
  std::vector<Tensor> y = nn::linears(x, {a, b});
  xla::backward(xla::ag::add(xla::ag::sum(y[0]), xla::ag::sum(y[1])));
  expect_near_all(xla::grad(x), xla::add(xla::sum(a, {0}, true), xla::sum(b, {0}, true)).expand({2, 8}).to_vector());
  EXPECT_XLA_ERROR(nn::linears(x, {a, normal({4, 7}, 8)}), xla::Status::Shape, "in-features 7");
}

TEST(RmsNorm, GemmaScalesByOnePlusW) {
  // x = [3, 4]: mean(x²) = 12.5, x / √12.5 = [0.8485, 1.1314]; w = [0, 1] → × [1, 2]
  Tensor y = nn::rms_norm(T({3, 4}, {1, 2}), T({0, 1}, {2}), 0.f);
  expect_near_all(y, {float(3 / std::sqrt(12.5)), float(2 * 4 / std::sqrt(12.5))});
}

TEST(Rope, RotatesPairsByPositionTimesFrequency) {
  // D = 4: frequencies base^(-0/4) = 1 and base^(-2/4) = 1/100 for base 10⁴; position 2
  Tensor pos = xla::arange(2, 3, 1, xla::DType::I64);
  nn::RopeTables r = nn::rope_tables(pos, 4, 10000.0);
  expect_near_all(r.cos, {std::cos(2.f), std::cos(0.02f), std::cos(2.f), std::cos(0.02f)});
  // x = [1, 0, 0, 0] (x₁ = [1, 0], x₂ = [0, 0]): out = x·cos + [-x₂, x₁]·sin = [cos 2, 0, sin 2, 0]
  Tensor y = nn::apply_rope(T({1, 0, 0, 0}, {1, 1, 1, 4}), r);
  expect_near_all(y, {std::cos(2.f), 0, std::sin(2.f), 0});
  // linear scaling divides positions: scaling 2 at position 2 equals position 1
  nn::RopeTables s = nn::rope_tables(pos, 4, 10000.0, 2.0);
  expect_near_all(s.sin, {std::sin(1.f), std::sin(0.01f), std::sin(1.f), std::sin(0.01f)});
}

TEST(AttentionMask, CausalAndSlidingWindow) {
  // queries at 3, 4; keys at 0..4; window 2: a query sees itself and one before it
  Tensor q = xla::arange(3, 5, 1, xla::DType::I64), k = xla::arange(0, 5, 1, xla::DType::I64);
  expect_near_all(nn::attention_mask(q, k, 0), {1, 1, 1, 1, 0, 1, 1, 1, 1, 1});
  expect_near_all(nn::attention_mask(q, k, 2), {0, 0, 1, 1, 0, 0, 0, 0, 1, 1});
}

TEST(Attention, GroupedQueryMatchesNaiveLoop) {
  // H = 4 query heads over KVH = 2 kv heads: head h reads kv head h / 2
  const int64_t H = 4, KVH = 2, T = 3, D = 2;
  xla::Generator g(5);
  Tensor q = xla::randn({1, H, T, D}, g), k = xla::randn({1, KVH, T, D}, g), v = xla::randn({1, KVH, T, D}, g);
  Tensor pos = xla::arange(0, T, 1, xla::DType::I64);
  Tensor out = nn::attention(q, k, v, nn::attention_mask(pos, pos, 0), 0.5f, 0.f);
  std::vector<float> qv = q.to_vector(), kv = k.to_vector(), vv = v.to_vector(), got = out.to_vector();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t kh = h / (H / KVH);
      std::vector<double> p(size_t(t + 1));
      double z = 0, m = -1e30;
      for (int64_t s = 0; s <= t; ++s) {
        double dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += qv[size_t((h * T + t) * D + d)] * kv[size_t((kh * T + s) * D + d)];
        p[size_t(s)] = 0.5 * dot;
        m = std::max(m, p[size_t(s)]);
      }
      for (double& x : p) z += (x = std::exp(x - m));
      for (int64_t d = 0; d < D; ++d) {
        double want = 0;
        for (int64_t s = 0; s <= t; ++s) want += p[size_t(s)] / z * vv[size_t((kh * T + s) * D + d)];
        EXPECT_NEAR(got[size_t((h * T + t) * D + d)], want, 1e-5) << "head " << h << " t " << t;
      }
    }
  // and it is differentiable end to end
  std::string report = xla::gradcheck(
      [&](const std::vector<Tensor>& in) { return nn::attention(in[0], in[1], in[2], nn::attention_mask(pos, pos, 2), 0.5f, 5.f); },
      [&] {
        Tensor a = q.clone(), b = k.clone(), c = v.clone();
        xla::set_requires_grad(a, true);
        xla::set_requires_grad(b, true);
        xla::set_requires_grad(c, true);
        return std::vector<Tensor>{a, b, c};
      }());
  EXPECT_EQ(report, "");
}

// Prompts of 128 tokens and more run attention in blocks of queries, each against only the
// keys its mask allows: the same numbers as the naive loop, for causal and sliding masks.
TEST(Attention, BlockedLongPromptsMatchNaiveLoop) {
  const int64_t H = 2, KVH = 1, T = 300, D = 4;
  xla::Generator g(9);
  Tensor q = xla::randn({1, H, T, D}, g), k = xla::randn({1, KVH, T, D}, g), v = xla::randn({1, KVH, T, D}, g);
  Tensor pos = xla::arange(0, T, 1, xla::DType::I64);
  std::vector<float> qv = q.to_vector(), kv = k.to_vector(), vv = v.to_vector();
  for (int64_t window : {int64_t(0), int64_t(40)}) {
    std::vector<float> got = nn::attention(q, k, v, nn::attention_mask(pos, pos, window), 0.5f, 0.f).to_vector();
    double worst = 0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t lo = window ? std::max<int64_t>(0, t - window + 1) : 0;
        std::vector<double> p;
        double m = -1e30, z = 0;
        for (int64_t s = lo; s <= t; ++s) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qv[size_t((h * T + t) * D + d)] * kv[size_t(s * D + d)];
          p.push_back(0.5 * dot);
          m = std::max(m, p.back());
        }
        for (double& x : p) z += (x = std::exp(x - m));
        for (int64_t d = 0; d < D; ++d) {
          double want = 0;
          for (int64_t s = lo; s <= t; ++s) want += p[size_t(s - lo)] / z * vv[size_t(s * D + d)];
          worst = std::max(worst, std::fabs(got[size_t((h * T + t) * D + d)] - want));
        }
      }
    EXPECT_LT(worst, 1e-5) << "window " << window;
  }
}

// One query position (a decode step) takes a one-pass kernel over blocks of 32 keys. Checked
// against the naive loop on views with strides (the cache's first S slots), a mask with
// holes (a slot hidden alone, a whole block hidden, hidden slots at both ends), two batch
// rows and soft-capping; against the unfused ops (which a query needing a gradient takes);
// for the same bits on one thread and on several; and for NaN where a key is NaN or nothing
// is visible.
TEST(Attention, OneQueryMatchesNaiveLoopAndTheUnfusedOps) {
  const int64_t B = 2, H = 4, KVH = 2, G = H / KVH, S = 200, D = 16;
  xla::Generator g(11);
  Tensor q = xla::randn({B, H, 1, D}, g);
  Tensor k = xla::randn({B, KVH, 300, D}, g).slice(2, 0, S), v = xla::randn({B, KVH, 300, D}, g).slice(2, 0, S);
  std::vector<float> allowed(S, 1.f);
  allowed[0] = allowed[1] = allowed[S - 1] = allowed[77] = 0.f;
  for (int64_t s = 96; s < 128; ++s) allowed[size_t(s)] = 0.f;
  Tensor mask = Tensor::from_vector(allowed, {1, S}).to(xla::DType::U8);
  std::vector<float> qv = q.to_vector(), kv = k.to_vector(), vv = v.to_vector();
  for (float cap : {0.f, 5.f}) {
    std::vector<float> got = nn::attention(q, k, v, mask, 0.25f, cap).to_vector();
    double worst = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t kh = h / G;
        std::vector<double> p(size_t(S), 0.0);
        double m = -1e30, z = 0;
        for (int64_t s = 0; s < S; ++s) {
          if (!allowed[size_t(s)]) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qv[size_t((b * H + h) * D + d)] * kv[size_t(((b * KVH + kh) * S + s) * D + d)];
          p[size_t(s)] = cap > 0 ? cap * std::tanh(0.25 * dot / cap) : 0.25 * dot;
          m = std::max(m, p[size_t(s)]);
        }
        for (int64_t s = 0; s < S; ++s)
          if (allowed[size_t(s)]) z += (p[size_t(s)] = std::exp(p[size_t(s)] - m));
        for (int64_t d = 0; d < D; ++d) {
          double want = 0;
          for (int64_t s = 0; s < S; ++s)
            if (allowed[size_t(s)]) want += p[size_t(s)] / z * vv[size_t(((b * KVH + kh) * S + s) * D + d)];
          worst = std::max(worst, std::fabs(got[size_t((b * H + h) * D + d)] - want));
        }
      }
    EXPECT_LT(worst, 2e-6) << "softcap " << cap;

    Tensor q_grad = q.clone();
    xla::set_requires_grad(q_grad, true);
    std::vector<float> unfused = xla::detach(nn::attention(q_grad, k, v, mask, 0.25f, cap)).to_vector();
    double apart = 0;
    for (size_t i = 0; i < got.size(); ++i) apart = std::max(apart, double(std::fabs(got[i] - unfused[i])));
    EXPECT_LT(apart, 2e-6) << "softcap " << cap;

    xla::set_num_threads(1);
    std::vector<float> one_thread = nn::attention(q, k, v, mask, 0.25f, cap).to_vector();
    xla::set_num_threads(0);
    EXPECT_EQ(std::memcmp(one_thread.data(), got.data(), got.size() * sizeof(float)), 0) << "softcap " << cap;
  }
  // a NaN in the keys reaches the heads that read them, even from a block of nothing but NaN
  // (slots 162…193: the visible slots start at 2, in blocks of 32)
  std::vector<float> k_nan = kv;
  for (int64_t s = 162; s < 194; ++s) k_nan[size_t(((0 * KVH + 1) * S + s) * D)] = NAN;
  std::vector<float> got =
      nn::attention(q, Tensor::from_vector(k_nan, {B, KVH, S, D}), v, mask, 0.25f, 0.f).to_vector();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      EXPECT_EQ(std::isnan(got[size_t((b * H + h) * D)]), b == 0 && h / G == 1) << "batch " << b << " head " << h;
  Tensor none = Tensor::zeros({1, S}, xla::DType::U8);
  for (float x : nn::attention(q, k, v, none, 0.25f, 0.f).to_vector()) EXPECT_TRUE(std::isnan(x));
}

// Many query positions with nothing to record take one pass for scale, soft-cap, mask and
// softmax: the same bits as the unfused ops (taken when q needs a gradient), for short
// prompts and for long ones in blocks of queries, with a query that sees nothing (NaN).
TEST(Attention, ManyQueriesFusedSoftmaxIsTheUnfusedOps) {
  const int64_t B = 1, H = 4, KVH = 2, D = 8;
  for (int64_t T : {int64_t(5), int64_t(300)}) {
    const int64_t S = T + 3;
    xla::Generator g(12);
    Tensor q = xla::randn({B, H, T, D}, g).mul_(3.f);
    Tensor k = xla::randn({B, KVH, S, D}, g), v = xla::randn({B, KVH, S, D}, g);
    std::vector<float> allowed(size_t(T * S), 0.f);
    for (int64_t t = 0; t < T; ++t)  // causal over a cache holding 3 earlier slots, a window of 9
      for (int64_t s = std::max<int64_t>(0, t + 3 - 8); s <= t + 3; ++s) allowed[size_t(t * S + s)] = 1.f;
    for (int64_t s = 0; s < S; ++s) allowed[size_t(1 * S + s)] = 0.f;  // query 1 sees nothing
    Tensor mask = Tensor::from_vector(allowed, {T, S}).to(xla::DType::U8);
    for (float cap : {0.f, 2.f}) {
      std::vector<float> fused = nn::attention(q, k, v, mask, 0.3f, cap).to_vector();
      Tensor q_grad = q.clone();
      xla::set_requires_grad(q_grad, true);
      std::vector<float> unfused = xla::detach(nn::attention(q_grad, k, v, mask, 0.3f, cap)).to_vector();
      ASSERT_EQ(fused.size(), unfused.size());
      EXPECT_EQ(std::memcmp(fused.data(), unfused.data(), fused.size() * sizeof(float)), 0)
          << "T " << T << " softcap " << cap;
      for (int64_t h = 0; h < H; ++h) EXPECT_TRUE(std::isnan(fused[size_t((h * T + 1) * D)])) << "T " << T;
      EXPECT_FALSE(std::isnan(fused[size_t(2 * D)])) << "T " << T;
    }
  }
}
