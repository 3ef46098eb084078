// Tests for nn::LoraLinear (include/xla/lora.hpp): creation (shapes, init, what requires
// grad), the forward against the base layer and the merged weight, gradients reaching A
// and B only, gradcheck w.r.t. A, B and x, and the errors.
#include <cmath>
#include <cstdint>
#include <vector>

#include "../autograd/grad_util.hpp"
#include "xla/lora.hpp"

using namespace gt;
namespace nn = xla::nn;

namespace {

constexpr int64_t kOut = 5, kIn = 6, kRank = 3;

Tensor base_weight(uint64_t seed = 11) { return T(lcg_values(kOut * kIn, seed), {kOut, kIn}); }

// A layer whose B is random (as after some training): the low-rank path then matters.
nn::LoraLinear trained_layer(float alpha = 6.f) {
  nn::LoraLinear l = nn::LoraLinear::create(base_weight(), kRank, alpha, 7);
  l.lora_b = param({kOut, kRank}, 21);
  return l;
}

// W + s · B·A in double, row-major [out, in].
std::vector<float> ref_merged(const nn::LoraLinear& l) {
  std::vector<float> w = l.weight.to_vector(), a = l.lora_a.to_vector(), b = l.lora_b.to_vector();
  std::vector<float> m(w.size());
  for (int64_t o = 0; o < kOut; ++o)
    for (int64_t i = 0; i < kIn; ++i) {
      double s = 0;
      for (int64_t r = 0; r < kRank; ++r) s += double(b[size_t(o * kRank + r)]) * double(a[size_t(r * kIn + i)]);
      m[size_t(o * kIn + i)] = float(double(w[size_t(o * kIn + i)]) + double(l.scaling()) * s);
    }
  return m;
}

bool all_zero(const Tensor& g) {
  for (float v : g.to_vector())
    if (v != 0.f) return false;
  return true;
}

TEST(Lora, CreateShapesInitAndGradFlags) {
  Tensor w = base_weight();
  nn::LoraLinear l = nn::LoraLinear::create(w, kRank, 12.f, 7);
  EXPECT_TRUE(l.weight.shares_storage(w));
  expect_shape(l.lora_a, {kRank, kIn});
  expect_tensor(l.lora_b, {kOut, kRank}, std::vector<float>(size_t(kOut * kRank), 0.f));
  EXPECT_EQ(l.rank, kRank);
  EXPECT_EQ(l.alpha, 12.f);
  EXPECT_TRUE(l.enabled);
  EXPECT_TRUE(xla::requires_grad(l.lora_a));
  EXPECT_TRUE(xla::requires_grad(l.lora_b));
  EXPECT_FALSE(xla::requires_grad(l.weight));
  // A ~ U(-1/√in, 1/√in): inside the bound, not all zero, not all equal
  const double bound = 1.0 / std::sqrt(double(kIn));
  std::vector<float> a = l.lora_a.to_vector();
  for (float v : a) EXPECT_LE(std::fabs(double(v)), bound);
  EXPECT_NE(a.front(), a.back());
  // the same seed draws the same A, another seed another one
  EXPECT_EQ(nn::LoraLinear::create(w, kRank, 12.f, 7).lora_a.to_vector(), a);
  EXPECT_NE(nn::LoraLinear::create(w, kRank, 12.f, 8).lora_a.to_vector(), a);
}

TEST(Lora, ScalingIsAlphaOverRank) {
  EXPECT_EQ(nn::LoraLinear::create(base_weight(), 4, 16.f, 1).scaling(), 4.f);
  EXPECT_EQ(nn::LoraLinear::create(base_weight(), 8, 8.f, 1).scaling(), 1.f);
  EXPECT_EQ(nn::LoraLinear::create(base_weight(), 2, 1.f, 1).scaling(), 0.5f);
  nn::LoraLinear l;  // the struct's defaults: alpha 16, rank 8
  EXPECT_EQ(l.scaling(), 2.f);
}

TEST(Lora, AtInitForwardEqualsBaseExactly) {
  nn::LoraLinear l = nn::LoraLinear::create(base_weight(), kRank, 16.f, 7);
  Tensor x = T(lcg_values(2 * 3 * kIn, 31), {2, 3, kIn});
  Tensor y = l.forward(x);
  expect_shape(y, {2, 3, kOut});
  expect_bitwise_equal(y, nn::linear(x, l.weight));  // base + s · (x A ᵀ) · 0
  expect_bitwise_equal(l.merged_weight(), l.weight);
}

TEST(Lora, ForwardEqualsLinearWithMergedWeight) {
  nn::LoraLinear l = trained_layer();
  Tensor merged = l.merged_weight();
  EXPECT_FALSE(xla::requires_grad(merged));
  expect_tensor(merged, {kOut, kIn}, ref_merged(l), 1e-6f);
  Tensor x = T(lcg_values(4 * kIn, 41), {4, kIn});
  Tensor y = l.forward(x);
  expect_same_forward(y, nn::linear(x, merged), 1e-5f);
  // and the low-rank path really contributes
  std::vector<float> base = nn::linear(x, l.weight).to_vector(), got = y.to_vector();
  double diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff = std::max(diff, std::fabs(double(got[i]) - double(base[i])));
  EXPECT_GT(diff, 1e-2);
}

TEST(Lora, DisabledEqualsBase) {
  nn::LoraLinear l = trained_layer();
  l.enabled = false;
  Tensor x = T(lcg_values(4 * kIn, 51), {4, kIn});
  expect_bitwise_equal(l.forward(x), nn::linear(x, l.weight));
  expect_bitwise_equal(l.merged_weight(), l.weight);  // what the disabled layer computes
}

TEST(Lora, GradientsReachAAndBOnly) {
  nn::LoraLinear l = trained_layer();
  Tensor x = T(lcg_values(4 * kIn, 61), {4, kIn});
  std::vector<Tensor> g = grads_of(weighted_sum(l.forward(x)), {l.lora_a, l.lora_b});
  ASSERT_TRUE(g[0].defined());
  ASSERT_TRUE(g[1].defined());
  EXPECT_FALSE(all_zero(g[0]));
  EXPECT_FALSE(all_zero(g[1]));
  EXPECT_FALSE(xla::requires_grad(l.weight));
  EXPECT_FALSE(xla::grad(l.weight).defined());
}

TEST(Lora, AtInitOnlyBGetsGradient) {
  // dL/dA = s · Bᵀ · G · X with B = 0, while dL/dB = s · Gᵀ · (X Aᵀ) is not zero: training
  // moves B first, A follows.
  nn::LoraLinear l = nn::LoraLinear::create(base_weight(), kRank, 16.f, 7);
  Tensor x = T(lcg_values(4 * kIn, 71), {4, kIn});
  std::vector<Tensor> g = grads_of(weighted_sum(l.forward(x)), {l.lora_a, l.lora_b});
  ASSERT_TRUE(g[0].defined());
  EXPECT_TRUE(all_zero(g[0]));
  EXPECT_FALSE(all_zero(g[1]));
}

TEST(Lora, GradcheckWrtABAndX) {
  nn::LoraLinear l = trained_layer();
  Tensor x = param({2, 3, kIn}, 81);
  auto f = [l](const std::vector<Tensor>& in) {
    nn::LoraLinear m = l;
    m.lora_a = in[0];
    m.lora_b = in[1];
    return m.forward(in[2]);
  };
  check_grad(f, {l.lora_a, l.lora_b, x});
}

TEST(Lora, Bf16BaseWeight) {
  // A bf16 base stays bf16 (frozen, used in place); merged_weight comes back in bf16.
  Tensor w = BF16(lcg_values(kOut * kIn, 91), {kOut, kIn});
  nn::LoraLinear l = nn::LoraLinear::create(w, kRank, 6.f, 7);
  l.lora_b = param({kOut, kRank}, 92);
  Tensor x = T(lcg_values(2 * kIn, 93), {2, kIn});
  Tensor y = l.forward(x);
  EXPECT_EQ(y.dtype(), DType::F32);
  Tensor merged = l.merged_weight();
  EXPECT_EQ(merged.dtype(), DType::BF16);
  // the bf16 rounding of the merge (relative 2⁻⁸) is the only difference
  expect_same_forward(y, nn::linear(x, merged), 2e-2f);
}

TEST(Lora, Errors) {
  EXPECT_XLA_ERROR(nn::LoraLinear::create(T(lcg_values(6, 1)), 2, 4.f, 0), xla::Status::Shape, "lora");
  EXPECT_XLA_ERROR(nn::LoraLinear::create(base_weight(), 0, 4.f, 0), xla::Status::InvalidArg, "rank");
  nn::LoraLinear l = trained_layer();
  EXPECT_XLA_ERROR(l.forward(T(lcg_values(2 * (kIn + 1), 2), {2, kIn + 1})), xla::Status::Shape, "linear");
  nn::LoraLinear bad_a = l;
  bad_a.lora_a = T(lcg_values(kRank * (kIn - 1), 3), {kRank, kIn - 1});
  EXPECT_XLA_ERROR(bad_a.forward(T(lcg_values(kIn, 4), {1, kIn})), xla::Status::Shape, "lora_a");
  nn::LoraLinear bad_rank = l;
  bad_rank.rank = kRank + 1;  // A and B are still rank kRank
  EXPECT_XLA_ERROR(bad_rank.merged_weight(), xla::Status::Shape, "lora_a");
  nn::LoraLinear bad_b = l;
  bad_b.lora_b = T(lcg_values(kOut * kRank, 5), {kRank, kOut});
  EXPECT_XLA_ERROR(bad_b.forward(T(lcg_values(kIn, 6), {1, kIn})), xla::Status::Shape, "lora_b");
}

}  // namespace
