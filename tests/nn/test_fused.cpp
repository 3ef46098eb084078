// The fused nodes (RMSNorm, RoPE, gelu_tanh ⊙ b) against the same math composed from ag ops,
// in value and gradient, and by finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "xla/nn.hpp"

using xla::Tensor;
namespace ag = xla::ag;
namespace nn = xla::nn;

namespace {

Tensor lcg(const xla::Shape& s, uint32_t seed, float scale = 1.f) {
  std::vector<float> v(size_t(s.numel()));
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = scale * (float(seed >> 8) / float(1 << 24) * 2.f - 1.f);
  }
  return Tensor::from_vector(v, s);
}

double max_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) d = std::max(d, std::fabs(double(x[i]) - y[i]));
  return d;
}

Tensor composed_rms(const Tensor& x, const Tensor& w, float eps) {
  Tensor ms = ag::mean(ag::mul(x, x), {-1}, true);
  return ag::mul(ag::mul(x, ag::rsqrt(ag::add(ms, Tensor::scalar(eps)))), ag::add(w, Tensor::scalar(1.f)));
}

Tensor composed_rope(const Tensor& x, const nn::RopeTables& r) {
  const int64_t D = x.shape().back();
  Tensor rotated = ag::concat({ag::neg(ag::slice(x, -1, D / 2, D)), ag::slice(x, -1, 0, D / 2)}, -1);
  return ag::add(ag::mul(x, r.cos), ag::mul(rotated, r.sin));
}

// value and both gradients of f_fused vs f_ref at the same inputs (seeded by fixed weights)
template <typename F, typename G>
void same_as_composed(F fused, G ref, std::vector<Tensor> inputs, double tol) {
  std::vector<Tensor> a, b;
  for (const Tensor& t : inputs) {
    a.push_back(t.clone());
    b.push_back(t.clone());
    xla::set_requires_grad(a.back(), true);
    xla::set_requires_grad(b.back(), true);
  }
  Tensor ya = fused(a), yb = ref(b);
  EXPECT_LT(max_diff(ya, yb), tol);
  Tensor seed = lcg(ya.shape(), 99);
  xla::backward(ya, seed);
  xla::backward(yb, seed);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT(max_diff(xla::grad(a[i]), xla::grad(b[i])), tol) << "input " << i;
}

}  // namespace

TEST(Fused, RmsNormMatchesComposedAndGradchecks) {
  auto fused = [](const std::vector<Tensor>& in) { return nn::rms_norm(in[0], in[1], 1e-6f); };
  auto ref = [](const std::vector<Tensor>& in) { return composed_rms(in[0], in[1], 1e-6f); };
  // 70 rows: more than one 64-row block of weight-gradient partials
  same_as_composed(fused, ref, {lcg({2, 35, 24}, 1, 2.f), lcg({24}, 2, 0.5f)}, 2e-5);
  Tensor x = lcg({3, 5}, 3), w = lcg({5}, 4);
  xla::set_requires_grad(x, true);
  xla::set_requires_grad(w, true);
  EXPECT_EQ(xla::gradcheck(fused, {x, w}), "");
  // a non-contiguous input (a permuted view, as q/k norms see) and a bf16 weight
  Tensor q = lcg({2, 4, 3, 8}, 5).permute({0, 2, 1, 3});
  Tensor w8 = lcg({8}, 6).to(xla::DType::BF16);
  EXPECT_LT(max_diff(nn::rms_norm(q, w8, 1e-6f), composed_rms(q.contiguous(), w8.to(xla::DType::F32), 1e-6f)), 1e-5);
  EXPECT_THROW(nn::rms_norm(lcg({2, 3}, 1), lcg({4}, 1), 1e-6f), xla::Error);
}

TEST(Fused, RopeMatchesComposedAndGradchecks) {
  Tensor pos = Tensor::from_vector({0, 1, 2, 7, 30}, {5}).to(xla::DType::I64);
  nn::RopeTables r = nn::rope_tables(pos, 8, 10000.0);
  auto fused = [&](const std::vector<Tensor>& in) { return nn::apply_rope(in[0], r); };
  auto ref = [&](const std::vector<Tensor>& in) { return composed_rope(in[0], r); };
  same_as_composed(fused, ref, {lcg({2, 3, 5, 8}, 7)}, 1e-6);
  Tensor x = lcg({1, 2, 5, 8}, 8);
  xla::set_requires_grad(x, true);
  EXPECT_EQ(xla::gradcheck(fused, {x}), "");
  // a rotation: the norm of each (i, i + D/2) pair is kept
  std::vector<float> in = x.to_vector(), out = nn::apply_rope(x, r).to_vector();
  for (size_t row = 0; row < 10; ++row)
    for (size_t i = 0; i < 4; ++i) {
      const float a = std::hypot(in[row * 8 + i], in[row * 8 + i + 4]), b = std::hypot(out[row * 8 + i], out[row * 8 + i + 4]);
      EXPECT_NEAR(a, b, 1e-6);
    }
  EXPECT_THROW(nn::apply_rope(lcg({1, 1, 4, 8}, 1), r), xla::Error);
}

TEST(Fused, GeluTanhMulMatchesComposedAndGradchecks) {
  auto fused = [](const std::vector<Tensor>& in) { return nn::gelu_tanh_mul(in[0], in[1]); };
  auto ref = [](const std::vector<Tensor>& in) { return ag::mul(ag::gelu_tanh(in[0]), in[1]); };
  same_as_composed(fused, ref, {lcg({3, 700}, 9, 4.f), lcg({3, 700}, 10)}, 1e-6);
  // the forward is bit for bit the composed ops' (GELU in blocks of 512, then the product)
  const Tensor a0 = lcg({3, 700}, 9, 4.f), b0 = lcg({3, 700}, 10);
  const std::vector<float> one_pass = nn::gelu_tanh_mul(a0, b0).to_vector();
  const std::vector<float> composed = xla::mul(xla::gelu_tanh(a0), b0).to_vector();
  EXPECT_EQ(std::memcmp(one_pass.data(), composed.data(), one_pass.size() * sizeof(float)), 0);
  Tensor a = lcg({4, 6}, 11, 3.f), b = lcg({4, 6}, 12);
  xla::set_requires_grad(a, true);
  xla::set_requires_grad(b, true);
  EXPECT_EQ(xla::gradcheck(fused, {a, b}), "");
  EXPECT_THROW(nn::gelu_tanh_mul(a, lcg({4, 5}, 1)), xla::Error);
}
