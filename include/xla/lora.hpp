// lora.hpp — LoRA (low-rank adaptation) on a linear layer: a frozen base weight W plus a
// trainable low-rank update scaling · B·A. A plain struct of tensors; forward is built from
// xla::ag ops, so gradients reach A and B (and x), never W unless the caller asks for it.
#pragma once
#include <cstdint>

#include "xla/nn.hpp"

namespace xla::nn {

// The LoRA projection itself, the one implementation every adapter uses (LoraLinear below,
// the adapters inside GemmaModel): x [..., in] → linear(x, w) + scaling · linear(linear(x, a), b)
// with w [out, in], a [r, in], b [out, r].
Tensor lora_linear(const Tensor& x, const Tensor& w, const Tensor& a, const Tensor& b, float scaling);

struct LoraLinear {
  Tensor weight;  // [out, in], frozen: the layer never marks it as requiring grad
  Tensor lora_a;  // [r, in], f32: Kaiming-uniform U(-1/√in, 1/√in) at create (nn.Linear's default)
  Tensor lora_b;  // [out, r], f32: zeros at create, so the layer starts equal to the base
  float alpha = 16;
  int64_t rank = 8;
  bool enabled = true;

  // Wraps `weight` (kept as given, any floating dtype) with fresh A and B that require grad;
  // A is drawn from Generator(seed). Throws Status::Shape unless weight is 2-D, and
  // Status::InvalidArg for rank < 1.
  static LoraLinear create(const Tensor& weight, int64_t rank, float alpha, uint64_t seed);

  float scaling() const { return alpha / float(rank); }

  // x [..., in] → [..., out]: linear(x, W) + scaling · linear(linear(x, A), B) when enabled,
  // linear(x, W) alone when not.
  Tensor forward(const Tensor& x) const;

  // W + scaling · B·A [out, in] (a copy of W when disabled), so linear(x, merged_weight())
  // equals forward(x) either way. No history (computed under NoGradGuard); in W's dtype so
  // that it drops into the model in place of W (for export or adapter-free inference).
  Tensor merged_weight() const;
};

}  // namespace xla::nn
