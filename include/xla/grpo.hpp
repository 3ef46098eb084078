// grpo.hpp — the GRPO loss (Shao et al. 2024, DeepSeekMath) with the semantics of Hugging Face
// TRL's GRPOTrainer: group-normalised advantages, PPO's two-sided clip on per-token ratios,
// an optional k3 KL estimate against a reference, and TRL's three ways of averaging. Two
// forms: one in double (the numbers, the C API's xla_grpo_loss, with d loss / d logps), one
// over an autograd tensor of per-token log-probs for training. The trainer around it is
// grpo_trainer.hpp's; docs/ chapter "Learning from its own samples" derives it.
//
// Sequences come in groups: group_size consecutive completions of one prompt. Per sequence i
// and completion token t (the first lengths[i] tokens of the row count; the rest is padding):
//   A_i   = r_i − mean_group(r)             divided by std_group(r) + 1e-4 when scale_rewards
//                                            (the unbiased std, n − 1, as torch.std)
//   ρ_it  = exp(logp_it − old_it)           old = the policy that sampled (= logp on-policy,
//                                            where ρ = 1 but its gradient is still ρ)
//   ℓ_it  = −min(ρ_it A_i, clamp(ρ_it, 1 − ε, 1 + ε_high) A_i)
//           + β (exp(ref_it − logp_it) − (ref_it − logp_it) − 1)     (the KL term when β ≠ 0)
// and the loss over the masked tokens:
//   grpo     mean over sequences of Σ_t ℓ_it / lengths_i   (a row of length 0 divides by 1)
//   bnpo     Σ ℓ / Σ lengths
//   dr_grpo  Σ ℓ / (sequences · max_completion_length)
// Metrics (TRL's names in brackets):
//   kl                 [kl]                    the k3 term without β: mean over sequences of
//                                              each one's token mean (0 when β = 0)
// and, each a mean over every masked token of the batch,
//   clip_ratio_low     [clip_ratio/low_mean]   ρ < 1 − ε with A < 0 (the clip holds the loss)
//   clip_ratio_high    [clip_ratio/high_mean]  ρ > 1 + ε_high with A > 0
//   clip_ratio_region  [clip_ratio/region_mean] either
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "xla/tensor.hpp"

namespace xla::train {

// Same numbers as XLA_GRPO_LOSS_GRPO / BNPO / DR_GRPO of xla.h (capi checks this).
enum class GrpoLoss : int32_t { Grpo = 0, Bnpo = 1, DrGrpo = 2 };

struct GrpoOptions {
  int32_t group_size = 0;      // completions per prompt (>= 2); no default
  float beta = 0.f;            // KL coefficient (>= 0); 0 = no reference needed
  float epsilon = 0.2f;        // lower clip, in [0, 1)
  float epsilon_high = 0.2f;   // upper clip, >= 0 (DAPO's clip-higher when > epsilon)
  GrpoLoss loss = GrpoLoss::Grpo;
  bool scale_rewards = true;   // divide advantages by the group's std + 1e-4
  int32_t max_completion_length = 0;  // dr_grpo's divisor; 0 = the rows' width (n_tok)
};

struct GrpoMetrics {
  double loss = 0;
  double kl = 0;
  double clip_ratio_low = 0, clip_ratio_high = 0, clip_ratio_region = 0;
};

// Throws Error(Status::InvalidArg) naming the field: group_size < 2, beta negative or not
// finite, epsilon outside [0, 1), epsilon_high negative or not finite, an unknown loss type,
// max_completion_length < 0.
void validate(const GrpoOptions& o);

// A_i of every sequence from its reward (rewards.size() a multiple of group_size, finite).
std::vector<double> grpo_advantages(std::span<const double> rewards, int32_t group_size, bool scale_rewards);

// The loss and metrics in double. logps, old_logps and ref_logps are row-major
// [n_seq, n_tok]; old_logps empty = on-policy, ref_logps empty is allowed only when beta = 0.
// lengths [n_seq] in [0, n_tok] (and <= max_completion_length when that is set), not all 0;
// rewards [n_seq], n_seq a multiple of group_size. Values outside the mask are never read.
// advantages_out [n_seq] and grad_out [n_seq · n_tok] (d loss / d logps, 0 outside the mask)
// may be empty. Throws Error(Status::InvalidArg) naming the array and index of a bad value,
// Status::Shape for sizes that do not agree.
GrpoMetrics grpo_loss(const GrpoOptions& o, std::span<const double> logps, std::span<const double> old_logps,
                      std::span<const double> ref_logps, std::span<const int32_t> lengths,
                      std::span<const double> rewards, int64_t n_seq, int64_t n_tok,
                      std::span<double> advantages_out = {}, std::span<double> grad_out = {});

// The differentiable form: logps f32 [n_seq, n_tok] (what backward() reaches, e.g.
// token_logprobs of the policy); old_logps and ref_logps f32 of the same shape or undefined
// (as above), never differentiated. The 0-d f32 loss is the double form's, rounded once; its
// backward hands d loss / d logps of the double form to logps. `metrics` (optional) gets the
// double numbers.
Tensor grpo_loss(const GrpoOptions& o, const Tensor& logps, const Tensor& old_logps, const Tensor& ref_logps,
                 std::span<const int32_t> lengths, std::span<const double> rewards, GrpoMetrics* metrics = nullptr);

}  // namespace xla::train
