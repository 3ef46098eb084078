// dpo_api.cpp — C entry points for the DPO loss from summed log-probs (xla::train::dpo_loss
// in double). Checks what only C can get wrong — NULL arrays, n < 1, struct sizes — and
// leaves the options and values to the C++ layer.
#include <cstddef>
#include <cstring>

#include "handles.hpp"
#include "xla/dpo.hpp"

using namespace xla;
using namespace xla::capi;

static_assert(XLA_DPO_SIGMOID == int32_t(train::DpoLoss::Sigmoid) && XLA_DPO_IPO == int32_t(train::DpoLoss::Ipo) &&
              XLA_DPO_HINGE == int32_t(train::DpoLoss::Hinge));

namespace {

// The caller's params over the defaults, as far as its struct_size reaches (capi.md rule 7:
// a struct from an older header is shorter; NULL means the defaults).
train::DpoOptions options_of(const xla_dpo_params* user) {
  const xla_dpo_params p = read_options(user, xla_dpo_params_init, "xla_dpo_params");
  return {p.beta, p.label_smoothing, train::DpoLoss(p.loss_type)};
}

}  // namespace

extern "C" {

void xla_dpo_params_init(xla_dpo_params* p) {
  if (!p) return;
  clear_struct(p);
  p->beta = 0.1f;
  p->label_smoothing = 0.f;
  p->loss_type = XLA_DPO_SIGMOID;
}

xla_status xla_dpo_loss(const xla_dpo_params* p, const double* policy_chosen, const double* policy_rejected,
                        const double* ref_chosen, const double* ref_rejected, int64_t n, xla_dpo_metrics* out) {
  return guard("xla_dpo_loss", [&] {
    require_ptr(out, "out");
    check_result_size(out, &xla_dpo_metrics::loss, "xla_dpo_metrics");
    require_ptr(policy_chosen, "policy_chosen");
    require_ptr(policy_rejected, "policy_rejected");
    require_ptr(ref_chosen, "ref_chosen");
    require_ptr(ref_rejected, "ref_rejected");
    if (n < 1) invalid("n must be at least 1, got " + std::to_string(n));
    const train::DpoOptions o = options_of(p);
    const size_t len = size_t(n);
    const train::DpoMetrics m = train::dpo_loss(o, {policy_chosen, len}, {policy_rejected, len}, {ref_chosen, len},
                                                {ref_rejected, len});
    write_dpo_metrics(m, out);
  });
}

}  // extern "C"

void xla::capi::write_dpo_metrics(const train::DpoMetrics& m, xla_dpo_metrics* out) {
  clear_result(out);
  put(out, &xla_dpo_metrics::loss, m.loss);
  put(out, &xla_dpo_metrics::reward_chosen, m.reward_chosen);
  put(out, &xla_dpo_metrics::reward_rejected, m.reward_rejected);
  put(out, &xla_dpo_metrics::reward_accuracy, m.reward_accuracy);
  put(out, &xla_dpo_metrics::reward_margin, m.reward_margin);
  put(out, &xla_dpo_metrics::logp_chosen, m.logp_chosen);
  put(out, &xla_dpo_metrics::logp_rejected, m.logp_rejected);
}
