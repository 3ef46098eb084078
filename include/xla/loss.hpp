// loss.hpp — language-model losses that never hold the whole [tokens, vocabulary] logits.
// The LM head (hidden · Wᵀ) and the cross-entropy are fused and computed a chunk of tokens
// at a time: with Gemma's 262,144-word vocabulary, 1,024 tokens of f32 logits would be
// 1 GiB; a chunk is at most LossOptions::chunk_bytes. See docs/training.md.
#pragma once
#include <cstdint>
#include <vector>

#include "xla/model.hpp"

namespace xla::train {

struct LossOptions {
  int64_t ignore_index = -100;  // targets equal to this count nowhere (prompt tokens, padding)
  float label_smoothing = 0;    // in [0, 1]: PyTorch's cross_entropy(label_smoothing=…)
  float z_loss = 0;             // coefficient of mean(logsumexp²) (PaLM's z-loss); 0 = off
  float softcap = 0;            // final logit soft-capping cap·tanh(x/cap) (Gemma 2); 0 = off
  int64_t chunk_bytes = 256 << 20;  // f32 logits held at once (at least one token's row)
};

// What the loss is made of, for metrics (means over the counted tokens).
struct LossParts {
  double cross_entropy = 0, z_loss = 0;
  int64_t tokens = 0;  // targets that are not ignore_index
};

// mean over counted tokens of CE(hidden · weightᵀ, targets) + z_loss·lse².
// hidden [..., C] f32, weight [V, C] (f32 or bf16), targets [...] i32/i64 in [0, V) or
// ignore_index. Differentiable in hidden and weight. When a gradient will be needed (grad
// mode on, an input requires grad), the gradient is formed during this call, chunk by
// chunk, while the logits are at hand — backward then only scales it: one GEMM pass fewer
// than recomputing the logits. No counted token gives NaN, as PyTorch's mean does.
Tensor linear_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                            const LossOptions& options = {}, LossParts* parts = nullptr);

// log p(target) per position, [...] f32 (0 where the target is ignore_index), from the same
// fused head. Differentiable (backward recomputes the logits chunk by chunk): what DPO and
// sequence scoring need.
// temperature divides the (soft-capped) logits first: the log-probs of what a sampler at
// that temperature draws from (GRPO's ratios are taken under it, as TRL does).
Tensor linear_token_logprobs(const Tensor& hidden, const Tensor& weight, const Tensor& targets, float softcap = 0,
                             int64_t ignore_index = -100, int64_t chunk_bytes = 256 << 20, float temperature = 1.f);

// The causal language-model loss of a Gemma: inputs [B, T] token ids; targets [B, T] the
// token each position should predict (inputs shifted by one, ignore_index where no loss is
// wanted: prompts, padding). The model's final soft-cap is applied.
Tensor lm_loss(const Model& model, const Tensor& inputs, const Tensor& targets, LossOptions options = {},
               LossParts* parts = nullptr);

// ---- log-probs of given tokens: one path (src/train/logprob.cpp) ----
// Every scorer of tokens under a Gemma goes through token_logprobs — the fused head above with
// the model's final soft-cap, never the [tokens, vocabulary] logits: sequence_logprobs (DPO's
// completion_logprobs sums with it), and sequence_logprob (xla_model_logprob).

// log p(targets[b, t] | inputs[b, ≤t]) per position: [B, T] f32, 0 where the target is
// ignore_index. inputs and targets [B, T] token ids. Differentiable in the model's weights.
// temperature (> 0): of logits / temperature.
Tensor token_logprobs(const Model& model, const Tensor& inputs, const Tensor& targets,
                      int64_t ignore_index = -100, float temperature = 1.f);
// Summed log-probability of each row's counted targets: [B] f32, differentiable.
Tensor sequence_logprobs(const Model& model, const Tensor& inputs, const Tensor& targets,
                         int64_t ignore_index = -100);
// Σ log p(tokens[i] | tokens[<i]) for i in [start, n), the per-token values summed in double
// (1 <= start <= n; start = n gives 0). No gradient.
double sequence_logprob(const Model& model, const std::vector<int32_t>& tokens, int64_t start);

}  // namespace xla::train
