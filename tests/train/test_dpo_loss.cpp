// test_dpo_loss.cpp — the DPO loss against TRL's numbers (../shared/oracle/dpo): every 0.x case
// of dpo_formulas.json pair by pair and as a batch, the loss and metrics of dpo_case.json from
// its summed log-probs; the asymptotes at |β m| = 500 written out; the autograd form against
// the calculus and against finite differences; and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "../tensor/test_util.hpp"
#include "xla/autograd.hpp"
#include "xla/dpo.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using json = nlohmann::json;
using xla::Status;
using xla::Tensor;
using xla::train::DpoLoss;
using xla::train::DpoMetrics;
using xla::train::DpoOptions;
using Vec = std::vector<double>;

namespace {

const std::string kDpo = std::string(XLA_SHARED_DIR) + "/oracle/dpo/";

json load(const std::string& name) {
  std::ifstream f(kDpo + name);
  EXPECT_TRUE(f.good()) << kDpo + name;
  return json::parse(f);
}

DpoLoss loss_type(const std::string& s) {
  if (s == "sigmoid") return DpoLoss::Sigmoid;
  if (s == "ipo") return DpoLoss::Ipo;
  if (s == "hinge") return DpoLoss::Hinge;
  ADD_FAILURE() << "unknown loss type " << s;
  return DpoLoss::Sigmoid;
}

DpoOptions options_of(const json& c) {
  DpoOptions o;
  o.beta = c["beta"].get<float>();
  o.label_smoothing = c["label_smoothing"].get<float>();
  o.loss = loss_type(c["loss_type"].get<std::string>());
  return o;
}

// Relative error, with an absolute floor for values near zero.
double rel_err(double got, double want) { return std::fabs(got - want) / std::max(std::fabs(want), 1e-12); }

// The largest relative error seen over the whole oracle comparison (reported at the end).
double g_max_formula_err = 0, g_max_case_err = 0;

void expect_close(double got, double want, double rtol, const std::string& what, double* worst) {
  const double e = got == want ? 0 : rel_err(got, want);
  *worst = std::max(*worst, e);
  EXPECT_LE(e, rtol) << what << ": got " << got << ", want " << want;
}

void expect_metrics(const DpoMetrics& m, const json& loss, const json& metrics, double rtol, const std::string& what,
                    double* worst) {
  expect_close(m.loss, loss.get<double>(), rtol, what + " loss", worst);
  expect_close(m.reward_chosen, metrics["rewards/chosen"].get<double>(), rtol, what + " rewards/chosen", worst);
  expect_close(m.reward_rejected, metrics["rewards/rejected"].get<double>(), rtol, what + " rewards/rejected", worst);
  expect_close(m.reward_accuracy, metrics["rewards/accuracies"].get<double>(), rtol, what + " rewards/accuracies", worst);
  expect_close(m.reward_margin, metrics["rewards/margins"].get<double>(), rtol, what + " rewards/margins", worst);
  expect_close(m.logp_chosen, metrics["logps/chosen"].get<double>(), rtol, what + " logps/chosen", worst);
  expect_close(m.logp_rejected, metrics["logps/rejected"].get<double>(), rtol, what + " logps/rejected", worst);
}

Vec divided(const Vec& v, const Vec& by) {
  Vec r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = v[i] / by[i];
  return r;
}

DpoMetrics run(const DpoOptions& o, double pc, double pr, double rc, double rr) {
  return xla::train::dpo_loss(o, Vec{pc}, Vec{pr}, Vec{rc}, Vec{rr});
}

}  // namespace

// ---------------------------------------------------------------------------------------
// TRL's numbers
// ---------------------------------------------------------------------------------------

TEST(DpoLoss, EveryFormulaCaseOfTrl0x) {
  const json d = load("dpo_formulas.json");
  const json& in = d["inputs"];
  const Vec pc = in["chosen_logps"], pr = in["rejected_logps"], rc = in["ref_chosen_logps"],
            rr = in["ref_rejected_logps"], lc = in["chosen_lengths"], lr = in["rejected_lengths"];
  int cases = 0;
  for (const json& c : d["cases"]) {
    if (c["trl"] != "0.x") continue;
    ++cases;
    const DpoOptions o = options_of(c);
    const std::string what = c["loss_type"].get<std::string>() + " beta " + c["beta"].dump() + " ls " +
                             c["label_smoothing"].dump();
    // TRL 0.x's ipo averages every log-prob over its completion's tokens before the loss.
    const bool avg = o.loss == DpoLoss::Ipo;
    const Vec a = avg ? divided(pc, lc) : pc, b = avg ? divided(pr, lr) : pr, r1 = avg ? divided(rc, lc) : rc,
              r2 = avg ? divided(rr, lr) : rr;
    expect_metrics(xla::train::dpo_loss(o, a, b, r1, r2), c["loss"], c["metrics"], 1e-12, what, &g_max_formula_err);
    // Pair by pair: the per-pair losses and rewards.
    for (size_t i = 0; i < a.size(); ++i) {
      const DpoMetrics m = run(o, a[i], b[i], r1[i], r2[i]);
      const std::string at = what + " pair " + std::to_string(i);
      expect_close(m.loss, c["losses"][i].get<double>(), 1e-12, at + " loss", &g_max_formula_err);
      expect_close(m.reward_chosen, c["chosen_rewards"][i].get<double>(), 1e-12, at + " chosen", &g_max_formula_err);
      expect_close(m.reward_rejected, c["rejected_rewards"][i].get<double>(), 1e-12, at + " rejected",
                   &g_max_formula_err);
    }
  }
  EXPECT_EQ(cases, 8);  // {sigmoid, sigmoid ls 0.1, ipo, hinge} x beta {0.1, 0.5}
  std::printf("dpo_formulas.json: %d TRL 0.x cases, max relative error %.3g\n", cases, g_max_formula_err);
}

TEST(DpoLoss, Trl1xDifferencesAreTheOnesDocumented) {
  // docs/dpo.md: TRL 1.x ignores label_smoothing for sigmoid, and its ipo takes the loss from
  // per-token averages but the rewards and logps metrics from the sums. Both are reachable
  // with the 0.x function: check the recorded 1.x numbers that way.
  const json d = load("dpo_formulas.json");
  const json& in = d["inputs"];
  const Vec pc = in["chosen_logps"], pr = in["rejected_logps"], rc = in["ref_chosen_logps"],
            rr = in["ref_rejected_logps"], lc = in["chosen_lengths"], lr = in["rejected_lengths"];
  double worst = 0;
  for (const json& c : d["cases"]) {
    if (c["trl"] != "1.x") continue;
    DpoOptions o = options_of(c);
    o.label_smoothing = 0;
    const DpoMetrics summed = xla::train::dpo_loss({o.beta, 0.f, DpoLoss::Sigmoid}, pc, pr, rc, rr);
    const DpoMetrics m = o.loss == DpoLoss::Ipo
                             ? xla::train::dpo_loss(o, divided(pc, lc), divided(pr, lr), divided(rc, lc), divided(rr, lr))
                             : xla::train::dpo_loss(o, pc, pr, rc, rr);
    DpoMetrics mixed = summed;
    mixed.loss = m.loss;
    expect_metrics(mixed, c["loss"], c["metrics"], 1e-12, "1.x " + c["loss_type"].get<std::string>(), &worst);
  }
}

TEST(DpoLoss, GemmaCaseFromItsSummedLogprobs) {
  // dpo_case.json: one pair scored by two small Gemma models (float32 in PyTorch); the summed
  // log-probs are inputs here, the loss and TRL metrics the oracle. Its numbers carry float32
  // rounding, hence the tolerance.
  const json d = load("dpo_case.json");
  const json& lp = d["logps"];
  const double pc = lp["policy_chosen_logps"], pr = lp["policy_rejected_logps"], rc = lp["reference_chosen_logps"],
               rr = lp["reference_rejected_logps"];
  const double nc = double(lp["policy_chosen_token_logps"].size()), nr = double(lp["policy_rejected_token_logps"].size());
  // The per-token lists add up to the sums (the oracle is self-consistent).
  double sum = 0;
  for (double v : lp["policy_chosen_token_logps"]) sum += v;
  EXPECT_NEAR(sum, pc, 1e-4);
  int cases = 0;
  for (auto& [key, r] : d["results"].items()) {
    ++cases;
    const DpoOptions o = options_of(r);
    const DpoMetrics m = o.loss == DpoLoss::Ipo ? run(o, pc / nc, pr / nr, rc / nc, rr / nr) : run(o, pc, pr, rc, rr);
    expect_metrics(m, r["loss"], r["metrics"], 2e-6, "dpo_case " + key, &g_max_case_err);
  }
  EXPECT_EQ(cases, 4);  // sigmoid, sigmoid_ls0.1, ipo, hinge
  std::printf("dpo_case.json: %d loss types, max relative error %.3g (float32 oracle)\n", cases, g_max_case_err);
}

// ---------------------------------------------------------------------------------------
// Stability: |β m| = 500
// ---------------------------------------------------------------------------------------

// TRL's accuracy is mean(chosen_rewards > rejected_rewards): a tie is not a win. Policy =
// reference (every trainer's first step) gives margins of exactly 0 and accuracy 0.
TEST(DpoLoss, AccuracyAtATieIsZero) {
  for (DpoLoss loss : {DpoLoss::Sigmoid, DpoLoss::Ipo, DpoLoss::Hinge}) {
    const DpoOptions o{0.1f, 0.f, loss};
    const DpoMetrics tie = run(o, -3.5, -7.25, -3.5, -7.25);
    EXPECT_EQ(tie.reward_margin, 0.0);
    EXPECT_EQ(tie.reward_accuracy, 0.0) << "loss type " << int(loss);
    EXPECT_EQ(run(o, -3.5, -7.25, -3.75, -7.25).reward_accuracy, 1.0);  // chosen gained 0.25: a win
    // two pairs, one win and one tie: half
    EXPECT_EQ(xla::train::dpo_loss(o, Vec{-1.0, -2.0}, Vec{-4.0, -5.0}, Vec{-1.5, -2.0}, Vec{-4.0, -5.0}).reward_accuracy,
              0.5);
  }
}

TEST(DpoLoss, SigmoidAsymptotesAtLargeMargins) {
  // β = 0.5, m = ±1000 → z = β m = ±500.
  // -logσ(500) = log(1 + e^-500) = e^-500 (to double precision: e^-500 ≈ 7.12e-218 is normal)
  // -logσ(-500) = 500 + log(1 + e^-500) = 500
  const DpoOptions o{0.5f, 0.f, DpoLoss::Sigmoid};
  const DpoMetrics win = run(o, 0, -1000, 0, 0), lose = run(o, -1000, 0, 0, 0);
  EXPECT_DOUBLE_EQ(win.loss, std::exp(-500.0));
  EXPECT_DOUBLE_EQ(lose.loss, 500.0);
  EXPECT_DOUBLE_EQ(win.reward_margin, 500.0);
  // cDPO ε = 0.25: loss(z) = (1-ε)(-logσ(z)) + ε(-logσ(-z)) → 0.25·500 and 0.75·500.
  const DpoOptions s{0.5f, 0.25f, DpoLoss::Sigmoid};
  EXPECT_DOUBLE_EQ(run(s, 0, -1000, 0, 0).loss, 125.0);
  EXPECT_DOUBLE_EQ(run(s, -1000, 0, 0, 0).loss, 375.0);
  // Far beyond: z = ±5e5 stays finite and linear.
  EXPECT_DOUBLE_EQ(run(o, -1e6, 0, 0, 0).loss, 5e5);
  EXPECT_EQ(run(o, 1e6, 0, 0, 0).loss, 0.0);
}

TEST(DpoLoss, TensorFormAtLargeMargins) {
  // The f32 graph at z = ±500: loss 0 or 500, gradient w.r.t. policy_chosen
  // dL/dπc = -β σ(-z) (n = 1): 0 at z = 500, -β at z = -500; never NaN.
  const DpoOptions o{0.5f, 0.f, DpoLoss::Sigmoid};
  for (float sign : {1.f, -1.f}) {
    Tensor pc = xt::T({sign * 1000.f}), pr = xt::T({0.f});
    xla::set_requires_grad(pc, true);
    xla::set_requires_grad(pr, true);
    Tensor loss = xla::train::dpo_loss(o, pc, pr, xt::T({0.f}), xt::T({0.f}));
    xla::backward(loss);
    const float g = xla::grad(pc).item();
    EXPECT_TRUE(std::isfinite(loss.item()) && std::isfinite(g));
    EXPECT_FLOAT_EQ(loss.item(), sign > 0 ? 0.f : 500.f);
    EXPECT_FLOAT_EQ(g, sign > 0 ? 0.f : -0.5f);
    EXPECT_FLOAT_EQ(xla::grad(pr).item(), -g);
  }
}

// ---------------------------------------------------------------------------------------
// The autograd form
// ---------------------------------------------------------------------------------------

namespace {

// Four f32 [4] inputs of summed-log-prob scale, the policy ones requiring grad.
struct Batch {
  Tensor pc, pr, rc, rr;
};
Batch batch(const Vec& pc, const Vec& pr, const Vec& rc, const Vec& rr) {
  auto f = [](const Vec& v) { return xt::T(std::vector<float>(v.begin(), v.end())); };
  Batch b{f(pc), f(pr), f(rc), f(rr)};
  xla::set_requires_grad(b.pc, true);
  xla::set_requires_grad(b.pr, true);
  return b;
}

// Far from the hinge's kink (1 - β m = 0 at m = 10 for β = 0.1, 2 for β = 0.5).
const Vec kPc = {-12.5, -30.25, -7.0, -50.0}, kPr = {-15.0, -28.0, -40.0, -49.5}, kRc = {-13.0, -29.0, -9.5, -52.0},
          kRr = {-14.0, -29.5, -20.0, -49.0};

const DpoOptions kAllLosses[] = {{0.1f, 0.f, DpoLoss::Sigmoid}, {0.5f, 0.1f, DpoLoss::Sigmoid},
                                 {0.1f, 0.f, DpoLoss::Ipo},     {0.5f, 0.f, DpoLoss::Ipo},
                                 {0.1f, 0.f, DpoLoss::Hinge},   {0.5f, 0.f, DpoLoss::Hinge}};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

TEST(DpoLossTensor, ValueAndMetricsMatchTheDoubleForm) {
  for (const DpoOptions& o : kAllLosses) {
    Batch b = batch(kPc, kPr, kRc, kRr);
    DpoMetrics m;
    Tensor loss = xla::train::dpo_loss(o, b.pc, b.pr, b.rc, b.rr, &m);
    EXPECT_EQ(loss.ndim(), 0);
    EXPECT_TRUE(xla::requires_grad(loss));
    const DpoMetrics want = xla::train::dpo_loss(o, kPc, kPr, kRc, kRr);  // inputs are exact in f32
    EXPECT_NEAR(loss.item(), want.loss, 2e-6 * std::max(1.0, want.loss));
    EXPECT_EQ(m.loss, want.loss);
    EXPECT_EQ(m.reward_margin, want.reward_margin);
    EXPECT_EQ(m.logp_rejected, want.logp_rejected);
  }
}

TEST(DpoLossTensor, GradientIsTheCalculus) {
  // With z = β m and n pairs, dL/dπc_i = -dL/dπr_i =
  //   sigmoid: -(β/n) [(1-ε) σ(-z) - ε σ(z)]
  //   ipo:     (2/n) (m - 1/(2β))
  //   hinge:   -(β/n) if 1 - z > 0 else 0
  // and the reference gets nothing, even when it requires grad.
  for (const DpoOptions& o : kAllLosses) {
    Batch b = batch(kPc, kPr, kRc, kRr);
    xla::set_requires_grad(b.rc, true);
    xla::set_requires_grad(b.rr, true);
    xla::backward(xla::train::dpo_loss(o, b.pc, b.pr, b.rc, b.rr));
    const std::vector<float> gc = xla::grad(b.pc).to_vector(), gr = xla::grad(b.pr).to_vector();
    const double beta = o.beta, eps = o.label_smoothing, n = double(kPc.size());
    for (size_t i = 0; i < kPc.size(); ++i) {
      const double m = (kPc[i] - kPr[i]) - (kRc[i] - kRr[i]), z = beta * m;
      double want = 0;
      if (o.loss == DpoLoss::Sigmoid) want = -(beta / n) * ((1 - eps) * sigmoid(-z) - eps * sigmoid(z));
      if (o.loss == DpoLoss::Ipo) want = (2 / n) * (m - 1 / (2 * beta));
      if (o.loss == DpoLoss::Hinge) want = 1 - z > 0 ? -beta / n : 0;
      EXPECT_NEAR(gc[i], want, 1e-5 * std::max(1.0, std::fabs(want))) << "pair " << i;
      EXPECT_NEAR(gr[i], -want, 1e-5 * std::max(1.0, std::fabs(want))) << "pair " << i;
    }
    EXPECT_FALSE(xla::grad(b.rc).defined());
    EXPECT_FALSE(xla::grad(b.rr).defined());
  }
}

TEST(DpoLossTensor, Gradcheck) {
  // Central differences through the whole composition, per-token-scale inputs so the f32
  // finite differences are well conditioned.
  const Vec pc = {-2.5, -2.52, -2.33, -2.5}, pr = {-2.5, -2.55, -2.67, -2.48}, rc = {-2.6, -2.42, -3.17, -2.6},
            rr = {-2.33, -2.68, -1.33, -2.45};
  for (const DpoOptions& o : kAllLosses) {
    Batch b = batch(pc, pr, rc, rr);
    const std::string report = xla::gradcheck(
        [&o](const std::vector<Tensor>& in) { return xla::train::dpo_loss(o, in[0], in[1], in[2], in[3]); },
        {b.pc, b.pr, b.rc, b.rr}, 1e-3, 1e-3, 1e-2);
    EXPECT_EQ(report, "") << "loss type " << int(o.loss) << " beta " << o.beta;
  }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

TEST(DpoLoss, BadOptions) {
  const Vec a = {-1.0}, b = {-2.0};
  auto with = [&](DpoOptions o) { return xla::train::dpo_loss(o, a, b, a, b); };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_XLA_ERROR(with({0.f, 0.f, DpoLoss::Sigmoid}), Status::InvalidArg, "beta");
  EXPECT_XLA_ERROR(with({-0.1f, 0.f, DpoLoss::Sigmoid}), Status::InvalidArg, "beta must be > 0 and finite, got -0.1");
  EXPECT_XLA_ERROR(with({nan, 0.f, DpoLoss::Sigmoid}), Status::InvalidArg, "beta");
  EXPECT_XLA_ERROR(with({inf, 0.f, DpoLoss::Sigmoid}), Status::InvalidArg, "beta");
  EXPECT_XLA_ERROR(with({0.1f, -0.1f, DpoLoss::Sigmoid}), Status::InvalidArg, "label_smoothing");
  EXPECT_XLA_ERROR(with({0.1f, 0.5f, DpoLoss::Sigmoid}), Status::InvalidArg, "[0, 0.5)");
  EXPECT_XLA_ERROR(with({0.1f, nan, DpoLoss::Sigmoid}), Status::InvalidArg, "label_smoothing");
  EXPECT_XLA_ERROR(with({0.1f, 0.1f, DpoLoss::Ipo}), Status::InvalidArg, "sigmoid loss only");
  EXPECT_XLA_ERROR(with({0.1f, 0.1f, DpoLoss::Hinge}), Status::InvalidArg, "with hinge");
  EXPECT_XLA_ERROR(with({0.1f, 0.f, DpoLoss(3)}), Status::InvalidArg, "loss type 3");
  EXPECT_NO_THROW(with({0.1f, 0.49f, DpoLoss::Sigmoid}));
}

TEST(DpoLoss, BadArrays) {
  const DpoOptions o;
  const Vec one = {-1.0}, two = {-1.0, -2.0}, none;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, none, none, none, none), Status::InvalidArg, "empty");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, two, two, one, two), Status::Shape, "ref_chosen 1");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, two, Vec{-1.0, nan}, two, two), Status::InvalidArg,
                   "policy_rejected[1] is not finite (nan)");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, one, one, one, Vec{-inf}), Status::InvalidArg, "ref_rejected[0]");
  // Finite but absurd: the ipo square overflows; an error, not an infinite loss.
  EXPECT_XLA_ERROR(xla::train::dpo_loss({0.1f, 0.f, DpoLoss::Ipo}, Vec{1e200}, Vec{-1e200}, one, one),
                   Status::InvalidArg, "overflows");
}

TEST(DpoLossTensor, BadTensors) {
  const DpoOptions o;
  const Tensor a = xt::T({-1.f, -2.f}), b = xt::T({-3.f, -4.f});
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, a, b, a, xt::T({-1.f})), Status::Shape, "ref_rejected has shape [1]");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, a.reshape({2, 1}), b, a, b), Status::Shape, "policy_chosen");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, a, b.to(xla::DType::BF16), a, b), Status::DType, "policy_rejected must be f32");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, a, b, Tensor(), b), Status::InvalidArg, "ref_chosen is undefined");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, xt::T({-1.f, NAN}), b, a, b), Status::InvalidArg,
                   "policy_chosen[1] is not finite");
  EXPECT_XLA_ERROR(xla::train::dpo_loss(o, xt::T({}), xt::T({}), xt::T({}), xt::T({})), Status::InvalidArg, "empty");
  EXPECT_XLA_ERROR(xla::train::dpo_loss({-1.f, 0.f, DpoLoss::Sigmoid}, a, b, a, b), Status::InvalidArg, "beta");
}
