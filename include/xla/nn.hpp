// nn.hpp — the neural-network building blocks of Gemma, as functions of tensors (weights
// are passed in, so a model is just its tensors — no module hierarchy). All differentiable:
// built from the xla::ag ops, or (RMSNorm, RoPE, the GeGLU gate) single fused nodes; all
// run as plain ops under NoGradGuard.
#pragma once
#include <cstdint>

#include "xla/autograd.hpp"

namespace xla::nn {

// x [..., in] · w[out, in]ᵀ (+ b[out])  → [..., out]  (Hugging Face's weight layout, used in
// place; an undefined b means no bias)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// linear(x, w) for each weight, with one input read by several projections (a layer's q, k
// and v; GeGLU's gate and up): the same results; without gradients and for a few rows (a
// decode step), one split of all the weights' rows across the cores instead of one each.
std::vector<Tensor> linears(const Tensor& x, const std::vector<Tensor>& weights);

// Gemma's RMSNorm over the last axis: x · rsqrt(mean(x²) + eps) · (1 + w), in f32.
Tensor rms_norm(const Tensor& x, const Tensor& w, float eps);

// Rotary position embedding, Hugging Face's rotate-half convention.
struct RopeTables {
  Tensor cos, sin;  // [T, head_dim], f32: angle(t, i) = pos_t / scaling · base^(-2(i mod D/2)/D)
};
// positions: i32/i64 [T] absolute positions; scaling: linear rope_scaling factor (1 = none).
RopeTables rope_tables(const Tensor& positions, int64_t head_dim, double base, double scaling = 1.0);
// x [B, H, T, D] → x·cos + rotate_half(x)·sin, rotate_half(x) = [-x₂, x₁] of the two halves.
Tensor apply_rope(const Tensor& x, const RopeTables& rope);

// Which keys each query may see: u8 [T, S], 1 where k_pos ≤ q_pos and, when window > 0,
// q_pos - k_pos < window (a token sees itself and the window - 1 before it).
Tensor attention_mask(const Tensor& q_pos, const Tensor& k_pos, int64_t window);

// Grouped-query attention. q [B, H, T, D]; k, v [B, KVH, S, D] with H a multiple of KVH:
// head h reads kv head h / (H / KVH), by viewing q as [B, KVH, (H/KVH)·T, D] — the K/V heads
// are never repeated in memory. scores = q·kᵀ·scale, soft-capped (cap·tanh(s / cap)) when
// softcap > 0, masked by `allowed` [T, S], softmax over S. Returns [B, H, T, D]. One query
// position with no gradient to record (a decode step) runs as a single pass over blocks of
// keys, reading only the slots from the first to the last one `allowed` shows; more positions
// with none (a prompt) scale, cap, mask and softmax their scores in one pass, bit for bit the
// ops a gradient needs.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& allowed, float scale, float softcap);

// gelu_tanh(a) ⊙ b as one node (saves a and b only).
Tensor gelu_tanh_mul(const Tensor& a, const Tensor& b);

// Gemma's gated MLP: down(gelu_tanh(gate(x)) ⊙ up(x)).
Tensor geglu_mlp(const Tensor& x, const Tensor& gate, const Tensor& up, const Tensor& down);

// cap · tanh(x / cap)
Tensor softcap(const Tensor& x, float cap);

}  // namespace xla::nn
