// grpo_loss.cpp — the GRPO loss, its gradient with respect to the per-token log-probs and
// TRL's metrics, in double; and the autograd node that hands that gradient to the policy's
// log-probs (see include/xla/grpo.hpp for the formulas).
#include <cmath>
#include <string>
#include <vector>

#include "float_text.hpp"
#include "xla/autograd.hpp"
#include "xla/grpo.hpp"
#include "op_trace.hpp"  // src/tensor/kernels

namespace xla::train {

namespace {

constexpr const char* kOp = "grpo_loss";

[[noreturn]] void bad(const std::string& m) { fail(Status::InvalidArg, kOp, m); }

// The per-token arrays' values inside the mask must be finite; outside it they are padding.
void check_masked(std::span<const double> v, const char* name, std::span<const int32_t> lengths, int64_t n_tok) {
  for (size_t i = 0; i < lengths.size(); ++i)
    for (int64_t t = 0; t < lengths[i]; ++t) {
      const double x = v[i * size_t(n_tok) + size_t(t)];
      if (!std::isfinite(x))
        bad(std::string(name) + "[" + std::to_string(i) + "][" + std::to_string(t) + "] is not finite (" +
            shortest_text(x) + ")");
    }
}

// Hands the double form's d loss / d logps to logps, scaled by the incoming gradient.
struct GrpoLossNode final : autograd::Node {
  void backward(const Tensor& g, Tensor* gi) override {
    if (needs(0)) gi[0] = mul(saved(0), g.to(DType::F32));
  }
};

std::vector<double> doubles_of(const Tensor& t, const char* name, const Shape& want) {
  if (t.dtype() != DType::F32) fail(Status::DType, kOp, std::string(name) + " must be f32, got " + dtype_name(t.dtype()));
  if (t.shape() != want)
    fail(Status::Shape, kOp, std::string(name) + " has shape " + t.shape().str() + ", expected " + want.str());
  const std::vector<float> f = t.to_vector();
  return std::vector<double>(f.begin(), f.end());
}

}  // namespace

void validate(const GrpoOptions& o) {
  if (o.group_size < 2)
    bad("group_size must be at least 2 (advantages compare completions of one prompt), got " +
        std::to_string(o.group_size));
  if (!(o.beta >= 0) || !std::isfinite(o.beta)) bad("beta must be >= 0 and finite, got " + shortest_text(o.beta));
  if (!(o.epsilon >= 0 && o.epsilon < 1)) bad("epsilon must be in [0, 1), got " + shortest_text(o.epsilon));
  if (!(o.epsilon_high >= 0) || !std::isfinite(o.epsilon_high))
    bad("epsilon_high must be >= 0 and finite, got " + shortest_text(o.epsilon_high));
  if (o.loss != GrpoLoss::Grpo && o.loss != GrpoLoss::Bnpo && o.loss != GrpoLoss::DrGrpo)
    bad("loss type " + std::to_string(int32_t(o.loss)) + " is not grpo (0), bnpo (1) or dr_grpo (2)");
  if (o.max_completion_length < 0)
    bad("max_completion_length must be >= 0, got " + std::to_string(o.max_completion_length));
}

std::vector<double> grpo_advantages(std::span<const double> rewards, int32_t group_size, bool scale_rewards) {
  if (group_size < 2) bad("group_size must be at least 2, got " + std::to_string(group_size));
  const size_t n = rewards.size(), g = size_t(group_size);
  if (n == 0 || n % g != 0)
    fail(Status::Shape, kOp, std::to_string(n) + " sequences do not make whole groups of " + std::to_string(g));
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(rewards[i]))
      bad("rewards[" + std::to_string(i) + "] is not finite (" + shortest_text(rewards[i]) + ")");
  std::vector<double> a(n);
  for (size_t s = 0; s < n; s += g) {
    double sum = 0;
    for (size_t i = s; i < s + g; ++i) sum += rewards[i];
    const double mean = sum / double(g);
    double ss = 0;
    for (size_t i = s; i < s + g; ++i) ss += (rewards[i] - mean) * (rewards[i] - mean);
    const double std = std::sqrt(ss / double(g - 1));
    for (size_t i = s; i < s + g; ++i) a[i] = scale_rewards ? (rewards[i] - mean) / (std + 1e-4) : rewards[i] - mean;
  }
  return a;
}

GrpoMetrics grpo_loss(const GrpoOptions& o, std::span<const double> logps, std::span<const double> old_logps,
                      std::span<const double> ref_logps, std::span<const int32_t> lengths,
                      std::span<const double> rewards, int64_t n_seq, int64_t n_tok, std::span<double> advantages_out,
                      std::span<double> grad_out) {
  validate(o);
  if (n_seq < 1 || n_tok < 1)
    fail(Status::Shape, kOp, "n_seq and n_tok must be >= 1, got " + std::to_string(n_seq) + " and " + std::to_string(n_tok));
  if (n_seq % o.group_size != 0)
    fail(Status::Shape, kOp, std::to_string(n_seq) + " sequences do not divide into groups of " +
                                 std::to_string(o.group_size) + " completions per prompt");
  const size_t S = size_t(n_seq), T = size_t(n_tok), ST = S * T;
  auto sized = [&](size_t have, size_t want, const char* name) {
    if (have != want)
      fail(Status::Shape, kOp, std::string(name) + " has " + std::to_string(have) + " values, expected " +
                                   std::to_string(want));
  };
  sized(logps.size(), ST, "logps");
  if (!old_logps.empty()) sized(old_logps.size(), ST, "old_logps");
  if (!ref_logps.empty()) sized(ref_logps.size(), ST, "ref_logps");
  sized(lengths.size(), S, "lengths");
  sized(rewards.size(), S, "rewards");
  if (!advantages_out.empty()) sized(advantages_out.size(), S, "advantages_out");
  if (!grad_out.empty()) sized(grad_out.size(), ST, "grad_out");
  const double beta = as_written(o.beta);
  if (beta != 0 && ref_logps.empty())
    bad("beta is " + shortest_text(o.beta) + " but no ref_logps were given: the KL term needs the reference");
  const int64_t cap = o.max_completion_length;
  int64_t total = 0;
  for (size_t i = 0; i < S; ++i) {
    const int32_t len = lengths[i];
    if (len < 0 || len > n_tok)
      bad("lengths[" + std::to_string(i) + "] is " + std::to_string(len) + ", outside [0, n_tok = " +
          std::to_string(n_tok) + "]");
    if (cap > 0 && len > cap)
      bad("lengths[" + std::to_string(i) + "] is " + std::to_string(len) + ", longer than max_completion_length " +
          std::to_string(cap));
    total += len;
  }
  if (total == 0) bad("every completion is empty: no token to take a loss over");
  check_masked(logps, "logps", lengths, n_tok);
  if (!old_logps.empty()) check_masked(old_logps, "old_logps", lengths, n_tok);
  if (beta != 0) check_masked(ref_logps, "ref_logps", lengths, n_tok);

  const std::vector<double> adv = grpo_advantages(rewards, o.group_size, o.scale_rewards);
  const double lo = 1 - as_written(o.epsilon), hi = 1 + as_written(o.epsilon_high);
  const double divisor = o.loss == GrpoLoss::Bnpo     ? double(total)
                         : o.loss == GrpoLoss::DrGrpo ? double(S) * double(cap > 0 ? cap : n_tok)
                                                      : 0;  // grpo: per row
  if (!grad_out.empty()) std::fill(grad_out.begin(), grad_out.end(), 0.0);
  double loss = 0, kl = 0;
  int64_t low = 0, high = 0, region = 0;
  for (size_t i = 0; i < S; ++i) {
    const double A = adv[i];
    const int64_t len = lengths[i];
    // grpo weighs each row by 1 / (its length · S); the others weigh every token alike
    const double w = o.loss == GrpoLoss::Grpo ? 1.0 / (double(std::max<int64_t>(len, 1)) * double(S)) : 1.0 / divisor;
    double row = 0, row_kl = 0;
    for (int64_t t = 0; t < len; ++t) {
      const size_t k = i * T + size_t(t);
      const double lp = logps[k];
      const double ratio = old_logps.empty() ? 1.0 : std::exp(lp - old_logps[k]);
      const double clipped = std::min(std::max(ratio, lo), hi);
      const double unclipped_term = ratio * A, clipped_term = clipped * A;
      double l = -std::min(unclipped_term, clipped_term);
      // the clip holds the loss (no gradient) only when its term is strictly the smaller
      double g = unclipped_term > clipped_term ? 0.0 : -A * ratio;
      if (beta != 0) {
        const double d = ref_logps[k] - lp, e = std::exp(d);
        const double k3 = e - d - 1;
        l += beta * k3;
        g += beta * (1 - e);
        row_kl += k3;
      }
      const bool is_low = ratio < lo && A < 0, is_high = ratio > hi && A > 0;
      low += is_low;
      high += is_high;
      region += is_low || is_high;
      row += l;
      if (!grad_out.empty()) grad_out[k] = g * w;
    }
    kl += row_kl / double(std::max<int64_t>(len, 1));
    if (o.loss == GrpoLoss::Grpo) loss += row / double(std::max<int64_t>(len, 1));
    else loss += row;
  }
  loss = o.loss == GrpoLoss::Grpo ? loss / double(S) : loss / divisor;
  if (!std::isfinite(loss)) bad("the log-probs are too far apart: the loss overflows");
  if (!advantages_out.empty()) std::copy(adv.begin(), adv.end(), advantages_out.begin());
  const double n = double(total);
  GrpoMetrics m;
  m.loss = loss;
  m.kl = beta != 0 ? kl / double(S) : 0;
  m.clip_ratio_low = double(low) / n;
  m.clip_ratio_high = double(high) / n;
  m.clip_ratio_region = double(region) / n;
  return m;
}

Tensor grpo_loss(const GrpoOptions& o, const Tensor& logps, const Tensor& old_logps, const Tensor& ref_logps,
                 std::span<const int32_t> lengths, std::span<const double> rewards, GrpoMetrics* metrics) {
  detail::UntracedScope untraced;  // raw kernels: a capture must not freeze their results
  validate(o);
  if (!logps.defined()) bad("logps is undefined");
  if (logps.ndim() != 2) fail(Status::Shape, kOp, "logps must be [n_seq, n_tok], got " + logps.shape().str());
  const Shape shape = logps.shape();
  const int64_t S = shape[0], T = shape[1];
  const std::vector<double> lp = doubles_of(logps, "logps", shape);
  const std::vector<double> old = old_logps.defined() ? doubles_of(old_logps, "old_logps", shape) : std::vector<double>();
  const std::vector<double> ref = ref_logps.defined() ? doubles_of(ref_logps, "ref_logps", shape) : std::vector<double>();
  std::vector<double> grad(size_t(S * T));
  const GrpoMetrics m = grpo_loss(o, lp, old, ref, lengths, rewards, S, T, {}, grad);
  Tensor y = Tensor::scalar(float(m.loss));
  if (auto* n = autograd::record<GrpoLossNode>(y, kOp, {&logps})) {
    const std::vector<float> g(grad.begin(), grad.end());
    n->save(Tensor::from_vector(g, shape));
  }
  if (metrics) *metrics = m;
  return y;
}

}  // namespace xla::train
