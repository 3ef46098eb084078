// dpo_loss.cpp — the DPO loss and TRL's metrics, in double and as an autograd graph (see
// include/xla/dpo.hpp for the formulas). Only the loss: the log-probs come from the caller.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "float_text.hpp"
#include "xla/autograd.hpp"
#include "xla/dpo.hpp"
#include "op_trace.hpp"  // src/tensor/kernels

namespace xla::train {

namespace {

// log σ(x) without overflow or cancellation for any finite x: for x < 0 the min() carries x
// and log1p sees exp(x), never exp(-x).
double log_sigmoid(double x) { return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x))); }

const char* loss_name(DpoLoss l) {
  switch (l) {
    case DpoLoss::Sigmoid: return "sigmoid";
    case DpoLoss::Ipo: return "ipo";
    case DpoLoss::Hinge: return "hinge";
  }
  return "?";
}

void check_values(std::span<const double> v, const char* name) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      fail(Status::InvalidArg, "dpo_loss", std::string(name) + "[" + std::to_string(i) + "] is not finite (" + shortest_text(v[i]) + ")");
}

// The tensor form's checks: f32, 1-D, the length of the first. Returns the values in double.
std::vector<double> values_of(const Tensor& t, const char* name, int64_t n) {
  if (!t.defined()) fail(Status::InvalidArg, "dpo_loss", std::string(name) + " is undefined");
  if (t.dtype() != DType::F32)
    fail(Status::DType, "dpo_loss", std::string(name) + " must be f32, got " + dtype_name(t.dtype()));
  if (t.ndim() != 1 || (n >= 0 && t.numel() != n))
    fail(Status::Shape, "dpo_loss", std::string(name) + " has shape " + t.shape().str() + ", expected [" +
                            (n >= 0 ? std::to_string(n) : std::string("n")) + "]");
  std::vector<float> f = t.to_vector();
  return std::vector<double>(f.begin(), f.end());
}

// log σ(x) from autograd ops, as in double: min(x, 0) - log(1 + exp(-|x|)). Without an
// ag::log1p the last term rounds to 0 once exp(-|x|) < 2^-24, which is its f32 value anyway;
// its gradient, exp(-|x|) / (1 + exp(-|x|)), is still formed from the unrounded exp.
Tensor log_sigmoid(const Tensor& x) {
  Tensor soft = ag::log(ag::add(Tensor::scalar(1.f), ag::exp(ag::neg(ag::abs(x)))));
  return ag::sub(ag::minimum(x, Tensor::scalar(0.f)), soft);
}

}  // namespace

void validate(const DpoOptions& o) {
  if (!(o.beta > 0) || !std::isfinite(o.beta))
    fail(Status::InvalidArg, "dpo_loss", "beta must be > 0 and finite, got " + shortest_text(o.beta));
  if (o.loss != DpoLoss::Sigmoid && o.loss != DpoLoss::Ipo && o.loss != DpoLoss::Hinge)
    fail(Status::InvalidArg, "dpo_loss", "loss type " + std::to_string(int32_t(o.loss)) +
                                 " is not sigmoid (0), ipo (1) or hinge (2)");
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 0.5f))
    fail(Status::InvalidArg, "dpo_loss", "label_smoothing must be in [0, 0.5), got " + shortest_text(o.label_smoothing));
  if (o.label_smoothing != 0 && o.loss != DpoLoss::Sigmoid)
    fail(Status::InvalidArg, "dpo_loss", std::string("label_smoothing applies to the sigmoid loss only, got ") +
                                 shortest_text(o.label_smoothing) + " with " + loss_name(o.loss));
}

DpoMetrics dpo_loss(const DpoOptions& o, std::span<const double> policy_chosen,
                    std::span<const double> policy_rejected, std::span<const double> ref_chosen,
                    std::span<const double> ref_rejected) {
  validate(o);
  const size_t n = policy_chosen.size();
  if (n == 0) fail(Status::InvalidArg, "dpo_loss", "the batch is empty");
  if (policy_rejected.size() != n || ref_chosen.size() != n || ref_rejected.size() != n)
    fail(Status::Shape, "dpo_loss", "arrays of different lengths: policy_chosen " + std::to_string(n) +
                            ", policy_rejected " + std::to_string(policy_rejected.size()) + ", ref_chosen " +
                            std::to_string(ref_chosen.size()) + ", ref_rejected " +
                            std::to_string(ref_rejected.size()));
  check_values(policy_chosen, "policy_chosen");
  check_values(policy_rejected, "policy_rejected");
  check_values(ref_chosen, "ref_chosen");
  check_values(ref_rejected, "ref_rejected");

  const double beta = as_written(o.beta), eps = as_written(o.label_smoothing);
  double loss = 0, chosen = 0, rejected = 0, wins = 0, margin = 0, lp_chosen = 0, lp_rejected = 0;
  for (size_t i = 0; i < n; ++i) {
    // TRL's order: logits = (πc - πr) - (rc - rr)
    const double m = (policy_chosen[i] - policy_rejected[i]) - (ref_chosen[i] - ref_rejected[i]);
    double l = 0;
    switch (o.loss) {
      case DpoLoss::Sigmoid: l = -log_sigmoid(beta * m) * (1 - eps) - log_sigmoid(-beta * m) * eps; break;
      case DpoLoss::Ipo: l = (m - 1 / (2 * beta)) * (m - 1 / (2 * beta)); break;
      case DpoLoss::Hinge: l = std::max(0.0, 1 - beta * m); break;
    }
    const double rc = beta * (policy_chosen[i] - ref_chosen[i]), rr = beta * (policy_rejected[i] - ref_rejected[i]);
    loss += l;
    chosen += rc;
    rejected += rr;
    wins += rc > rr ? 1 : 0;
    margin += rc - rr;
    lp_chosen += policy_chosen[i];
    lp_rejected += policy_rejected[i];
  }
  const double dn = double(n);
  DpoMetrics r{loss / dn, chosen / dn, rejected / dn, wins / dn, margin / dn, lp_chosen / dn, lp_rejected / dn};
  // Finite inputs can still overflow (a margin near 1e308, squared by ipo): say so, not NaN.
  for (double v : {r.loss, r.reward_chosen, r.reward_rejected, r.reward_margin, r.logp_chosen, r.logp_rejected})
    if (!std::isfinite(v)) fail(Status::InvalidArg, "dpo_loss", "the log-probs are too large: the result overflows");
  return r;
}

Tensor dpo_loss(const DpoOptions& o, const Tensor& policy_chosen, const Tensor& policy_rejected,
                const Tensor& ref_chosen, const Tensor& ref_rejected, DpoMetrics* metrics) {
  detail::UntracedScope untraced;  // raw kernels: a capture must not freeze their results
  validate(o);
  // The double form checks the lengths and values (and gives the metrics): O(n), next to
  // whatever produced the log-probs.
  std::vector<double> pc = values_of(policy_chosen, "policy_chosen", -1);
  const int64_t n = policy_chosen.numel();
  std::vector<double> pr = values_of(policy_rejected, "policy_rejected", n), rc = values_of(ref_chosen, "ref_chosen", n),
                      rr = values_of(ref_rejected, "ref_rejected", n);
  DpoMetrics m = dpo_loss(o, pc, pr, rc, rr);

  const Tensor rc_t = detach(ref_chosen), rr_t = detach(ref_rejected);  // the reference is frozen
  Tensor margin = ag::sub(ag::sub(policy_chosen, policy_rejected), ag::sub(rc_t, rr_t));  // [n]
  Tensor losses;                                                                           // [n]
  const float beta = o.beta, eps = o.label_smoothing;
  switch (o.loss) {
    case DpoLoss::Sigmoid: {
      Tensor z = ag::mul(margin, Tensor::scalar(beta));
      losses = ag::mul(log_sigmoid(z), Tensor::scalar(-(1 - eps)));
      if (eps != 0) losses = ag::sub(losses, ag::mul(log_sigmoid(ag::neg(z)), Tensor::scalar(eps)));
      break;
    }
    case DpoLoss::Ipo: {
      Tensor d = ag::sub(margin, Tensor::scalar(float(1 / (2 * double(beta)))));
      losses = ag::mul(d, d);
      break;
    }
    case DpoLoss::Hinge:
      losses = ag::relu(ag::sub(Tensor::scalar(1.f), ag::mul(margin, Tensor::scalar(beta))));
      break;
  }
  Tensor loss = ag::mean(losses);  // 0-d
  if (metrics) *metrics = m;
  return loss;
}

}  // namespace xla::train
