// grpo_api.cpp — the C entry points of the GRPO loss (xla::train::grpo_loss in double).
// Checks what only C can get wrong — NULL arrays, sizes, struct sizes, flag values — and
// leaves the options and values to the C++ layer.
#include <cstddef>
#include <cstring>
#include <limits>

#include "handles.hpp"
#include "xla/grpo.hpp"

using namespace xla;
using namespace xla::capi;

static_assert(XLA_GRPO_LOSS_GRPO == int32_t(train::GrpoLoss::Grpo) &&
              XLA_GRPO_LOSS_BNPO == int32_t(train::GrpoLoss::Bnpo) &&
              XLA_GRPO_LOSS_DR_GRPO == int32_t(train::GrpoLoss::DrGrpo));

train::GrpoOptions xla::capi::grpo_options_of(const xla_grpo_params* user) {
  const xla_grpo_params p = read_options(user, xla_grpo_params_init, "xla_grpo_params");
  if (p.scale_rewards != 0 && p.scale_rewards != 1)
    invalid("xla_grpo_params.scale_rewards must be 0 or 1, got " + std::to_string(p.scale_rewards));
  train::GrpoOptions o;
  o.group_size = p.group_size;
  o.beta = p.beta;
  o.epsilon = p.epsilon;
  o.epsilon_high = p.epsilon_high;
  o.loss = train::GrpoLoss(p.loss_type);
  o.scale_rewards = p.scale_rewards == 1;
  o.max_completion_length = p.max_completion_length;
  train::validate(o);
  return o;
}

void xla::capi::write_grpo_metrics(const train::GrpoMetrics& m, xla_grpo_metrics* out) {
  clear_result(out);
  put(out, &xla_grpo_metrics::loss, m.loss);
  put(out, &xla_grpo_metrics::kl, m.kl);
  put(out, &xla_grpo_metrics::clip_ratio_low, m.clip_ratio_low);
  put(out, &xla_grpo_metrics::clip_ratio_high, m.clip_ratio_high);
  put(out, &xla_grpo_metrics::clip_ratio_region, m.clip_ratio_region);
}

extern "C" {

void xla_grpo_params_init(xla_grpo_params* p) {
  if (!p) return;
  clear_struct(p);
  p->group_size = 0;
  p->beta = 0.f;
  p->epsilon = 0.2f;
  p->epsilon_high = 0.2f;
  p->loss_type = XLA_GRPO_LOSS_GRPO;
  p->scale_rewards = 1;
  p->max_completion_length = 0;
}

xla_status xla_grpo_loss(const xla_grpo_params* p, const double* logps, const double* old_logps,
                         const double* ref_logps, const int32_t* lengths, const double* rewards, int64_t n_seq,
                         int64_t n_tok, double* advantages_out, double* grad_out, xla_grpo_metrics* out) {
  return guard("xla_grpo_loss", [&] {
    require_ptr(out, "out");
    check_result_size(out, &xla_grpo_metrics::loss, "xla_grpo_metrics");
    require_ptr(logps, "logps");
    require_ptr(lengths, "lengths");
    require_ptr(rewards, "rewards");
    if (n_seq < 1 || n_tok < 1)
      invalid("n_seq and n_tok must be >= 1, got " + std::to_string(n_seq) + " and " + std::to_string(n_tok));
    if (n_seq > std::numeric_limits<int64_t>::max() / n_tok)
      invalid("n_seq * n_tok overflows: " + std::to_string(n_seq) + " x " + std::to_string(n_tok));
    const train::GrpoOptions o = grpo_options_of(p);
    const size_t S = size_t(n_seq), ST = S * size_t(n_tok);
    std::vector<double> adv(advantages_out ? S : 0), grad(grad_out ? ST : 0);
    const train::GrpoMetrics m =
        train::grpo_loss(o, {logps, ST}, old_logps ? std::span<const double>(old_logps, ST) : std::span<const double>(),
                         ref_logps ? std::span<const double>(ref_logps, ST) : std::span<const double>(), {lengths, S},
                         {rewards, S}, n_seq, n_tok, adv, grad);
    // written only on success: a failed call leaves the caller's arrays as they were
    if (advantages_out) std::memcpy(advantages_out, adv.data(), S * sizeof(double));
    if (grad_out) std::memcpy(grad_out, grad.data(), ST * sizeof(double));
    write_grpo_metrics(m, out);
  });
}

}  // extern "C"
