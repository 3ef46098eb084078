// dpo.hpp — the DPO loss (Rafailov et al. 2023) from summed completion log-probs, with the
// semantics of Hugging Face TRL 0.x (DPOTrainer.dpo_loss and its metrics). Two forms: one in
// double for the numbers (metrics, the C API), one over autograd tensors for training. It is
// not a trainer: computing the log-probs of a policy and a frozen reference is the caller's.
//
// With m = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected) per pair:
//   sigmoid  -(1 - ε) logσ(β m) - ε logσ(-β m)   (ε = label_smoothing: cDPO; 0 = plain DPO)
//   ipo      (m - 1/(2β))²                        (Azar et al. 2023, eq. 17)
//   hinge    max(0, 1 - β m)                      (SLiC)
// and the loss is the mean over the batch. IPO as TRL 0.x means it takes per-token *averaged*
// log-probs (sum / completion length, for all four arrays); that averaging is the caller's,
// and the rewards are then computed from the averages too (TRL 1.x averages inside the loss
// only and keeps summed rewards; see docs/dpo.md).
//
// Metrics, TRL's names in brackets, each a mean over the batch:
//   reward_chosen   [rewards/chosen]     β (policy_chosen - ref_chosen)
//   reward_rejected [rewards/rejected]   β (policy_rejected - ref_rejected)
//   reward_accuracy [rewards/accuracies] fraction of pairs with reward_chosen > reward_rejected (strictly)
//   reward_margin   [rewards/margins]    reward_chosen - reward_rejected
//   logp_chosen     [logps/chosen]       policy_chosen
//   logp_rejected   [logps/rejected]     policy_rejected
#pragma once
#include <cstdint>
#include <span>

#include "xla/tensor.hpp"

namespace xla::train {

// Same numbers as XLA_DPO_SIGMOID / IPO / HINGE of xla.h (capi checks this).
enum class DpoLoss : int32_t { Sigmoid = 0, Ipo = 1, Hinge = 2 };

struct DpoOptions {
  float beta = 0.1f;            // > 0 and finite: the strength of the pull towards the reference
  float label_smoothing = 0.f;  // in [0, 0.5); sigmoid only (TRL ignores it for the others with a
                                // warning; a library without a warning channel refuses it instead)
  DpoLoss loss = DpoLoss::Sigmoid;
};

struct DpoMetrics {
  double loss = 0;
  double reward_chosen = 0, reward_rejected = 0, reward_accuracy = 0, reward_margin = 0;
  double logp_chosen = 0, logp_rejected = 0;  // policy, mean over the batch
};

// Throws Error(Status::InvalidArg) naming the field: beta not > 0 or not finite; label_smoothing
// outside [0, 0.5) or nonzero with a loss other than sigmoid; an unknown loss type.
void validate(const DpoOptions& o);

// The loss and metrics in double from four arrays of the same length n >= 1 (summed completion
// log-probs; per-token averages for ipo). Stable for any finite β m: logσ(x) is evaluated as
// min(x, 0) - log1p(exp(-|x|)). Throws Error(Status::InvalidArg) for bad options, n = 0,
// different lengths or a non-finite value, naming the array and index.
DpoMetrics dpo_loss(const DpoOptions& o, std::span<const double> policy_chosen,
                    std::span<const double> policy_rejected, std::span<const double> ref_chosen,
                    std::span<const double> ref_rejected);

// The differentiable form: the mean loss as a 0-d f32 tensor recorded for autograd (built from
// xla::ag ops), so backward() reaches whatever produced policy_chosen and policy_rejected. The
// reference log-probs are detached: no gradient ever flows into them. All four are f32 [n],
// n >= 1, finite. When `metrics` is given it receives the double-precision numbers of the
// function above for the same values (its loss may differ from the f32 one in the last bits).
Tensor dpo_loss(const DpoOptions& o, const Tensor& policy_chosen,  // [n]
                const Tensor& policy_rejected,                      // [n]
                const Tensor& ref_chosen,                           // [n]
                const Tensor& ref_rejected,                         // [n]
                DpoMetrics* metrics = nullptr);

}  // namespace xla::train
