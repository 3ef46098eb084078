// lora.cpp — LoRA on a linear layer: creation (Kaiming-uniform A, zero B), the forward
// base + scaling · B(A x) from ag ops, and the merged weight W + scaling · B·A.
#include "xla/lora.hpp"

#include <cmath>
#include <string>

namespace xla::nn {

namespace {

void check_lora(const LoraLinear& l) {
  if (!l.weight.defined() || l.weight.ndim() != 2)
    fail(Status::Shape, "lora: weight must be [out, in], got " + l.weight.shape().str());
  if (l.rank < 1) fail(Status::InvalidArg, "lora: rank must be >= 1, got " + std::to_string(l.rank));
  const int64_t out = l.weight.shape()[0], in = l.weight.shape()[1];
  if (!l.lora_a.defined() || l.lora_a.ndim() != 2 || l.lora_a.shape()[0] != l.rank || l.lora_a.shape()[1] != in)
    fail(Status::Shape, "lora: lora_a must be [" + std::to_string(l.rank) + ", " + std::to_string(in) + "], got " +
                            l.lora_a.shape().str());
  if (!l.lora_b.defined() || l.lora_b.ndim() != 2 || l.lora_b.shape()[0] != out || l.lora_b.shape()[1] != l.rank)
    fail(Status::Shape, "lora: lora_b must be [" + std::to_string(out) + ", " + std::to_string(l.rank) + "], got " +
                            l.lora_b.shape().str());
}

}  // namespace

LoraLinear LoraLinear::create(const Tensor& weight, int64_t rank, float alpha, uint64_t seed) {
  if (!weight.defined() || weight.ndim() != 2)
    fail(Status::Shape, "lora: weight must be [out, in], got " + weight.shape().str());
  if (rank < 1) fail(Status::InvalidArg, "lora: rank must be >= 1, got " + std::to_string(rank));
  const int64_t out = weight.shape()[0], in = weight.shape()[1];
  LoraLinear l;
  l.weight = weight;
  l.rank = rank;
  l.alpha = alpha;
  // A: U(-1/√in, 1/√in), the bound of Kaiming-uniform with a = √5 (nn.Linear's default
  // init), so A·x keeps x's scale whatever `in` is. B: zeros, so B·A = 0 at the start.
  Generator gen(seed);
  const float bound = in > 0 ? float(1.0 / std::sqrt(double(in))) : 0.f;
  l.lora_a = rand({rank, in}, gen, -bound, bound);  // [r, in]
  l.lora_b = Tensor::zeros({out, rank});            // [out, r]
  set_requires_grad(l.lora_a, true);
  set_requires_grad(l.lora_b, true);
  return l;
}

Tensor lora_linear(const Tensor& x, const Tensor& w, const Tensor& a, const Tensor& b, float scaling) {
  Tensor base = linear(x, w);                // [..., out]
  Tensor low = linear(linear(x, a), b);      // [..., r] → [..., out]
  return ag::add(base, ag::mul(low, Tensor::scalar(scaling)));
}

Tensor LoraLinear::forward(const Tensor& x) const {
  check_lora(*this);
  if (!enabled) return linear(x, weight);
  return lora_linear(x, weight, lora_a, lora_b, scaling());
}

Tensor LoraLinear::merged_weight() const {
  check_lora(*this);
  NoGradGuard no_grad;
  if (!enabled) return weight.clone();  // what forward computes when disabled
  Tensor delta = mul(matmul(lora_b, lora_a), Tensor::scalar(scaling()));  // [out, in], f32
  Tensor merged = add(weight, delta);                                       // f32
  return weight.dtype() == DType::F32 ? merged : cast(merged, weight.dtype());
}

}  // namespace xla::nn
