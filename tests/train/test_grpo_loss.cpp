// test_grpo_loss.cpp — the GRPO loss against TRL's formulas (../shared/oracle/grpo): every case
// of grpo_cases.json (advantages, loss, d loss / d logps, metrics) within 1e-10 relative; the
// gradient against central differences; the autograd form against the double form and
// gradcheck; padding never read; and each bad input refused with its name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "xla/autograd.hpp"
#include "xla/grpo.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using json = nlohmann::json;
using xla::Status;
using xla::Tensor;
using xla::train::GrpoLoss;
using xla::train::GrpoMetrics;
using xla::train::GrpoOptions;
using Vec = std::vector<double>;

namespace {

json cases() {
  const std::string path = std::string(XLA_SHARED_DIR) + "/oracle/grpo/grpo_cases.json";
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  return json::parse(f)["cases"];
}

GrpoOptions options_of(const json& c) {
  GrpoOptions o;
  o.group_size = c["group_size"].get<int32_t>();
  o.beta = c["beta"].get<float>();
  o.epsilon = c["epsilon"].get<float>();
  o.epsilon_high = c["epsilon_high"].get<float>();
  const std::string t = c["loss_type"].get<std::string>();
  o.loss = t == "grpo" ? GrpoLoss::Grpo : t == "bnpo" ? GrpoLoss::Bnpo : GrpoLoss::DrGrpo;
  EXPECT_TRUE(t == "grpo" || t == "bnpo" || t == "dr_grpo") << t;
  o.scale_rewards = c["scale_rewards"].get<bool>();
  o.max_completion_length = c["max_completion_length"].get<int32_t>();
  return o;
}

Vec flat(const json& rows) {
  Vec v;
  for (const auto& r : rows)
    for (const auto& x : r) v.push_back(x.get<double>());
  return v;
}

// Relative error; an expected 0 must come out as 0 to 1e-15 (the oracle's zeros are exact).
double rel_err(double got, double want) { return std::fabs(got - want) / std::max(std::fabs(want), 1e-5); }

struct Case {
  GrpoOptions o;
  Vec logps, old, ref, rewards;
  std::vector<int32_t> lengths;
  int64_t S = 0, T = 0;
  json expected;
};

Case load(const json& c) {
  Case k;
  k.o = options_of(c);
  k.logps = flat(c["logps"]);
  k.old = flat(c["old_logps"]);
  k.ref = flat(c["ref_logps"]);
  k.rewards = c["rewards"].get<Vec>();
  k.lengths = c["lengths"].get<std::vector<int32_t>>();
  k.S = int64_t(c["logps"].size());
  k.T = int64_t(c["logps"][0].size());
  k.expected = c["expected"];
  return k;
}

TEST(GrpoLoss, MatchesEveryOracleCase) {
  const json all = cases();
  ASSERT_GE(all.size(), 5u);
  double worst = 0;
  for (const auto& c : all) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const Case k = load(c);
    Vec adv(size_t(k.S)), grad(size_t(k.S * k.T));
    const GrpoMetrics m = xla::train::grpo_loss(k.o, k.logps, k.old, k.ref, k.lengths, k.rewards, k.S, k.T, adv, grad);
    const json& e = k.expected;
    auto check = [&](double got, double want, const std::string& what) {
      const double err = rel_err(got, want);
      worst = std::max(worst, err);
      EXPECT_LE(err, 1e-10) << what << ": got " << got << ", want " << want;
    };
    check(m.loss, e["loss"], "loss");
    const Vec want_adv = e["advantages"].get<Vec>();
    for (size_t i = 0; i < adv.size(); ++i) check(adv[i], want_adv[i], "advantages[" + std::to_string(i) + "]");
    const Vec want_grad = flat(e["grad_logps"]);
    ASSERT_EQ(want_grad.size(), grad.size());
    for (size_t i = 0; i < grad.size(); ++i) check(grad[i], want_grad[i], "grad[" + std::to_string(i) + "]");
    check(m.clip_ratio_low, e["clip_ratio/low_mean"], "clip_ratio/low_mean");
    check(m.clip_ratio_high, e["clip_ratio/high_mean"], "clip_ratio/high_mean");
    check(m.clip_ratio_region, e["clip_ratio/region_mean"], "clip_ratio/region_mean");
    if (e.contains("kl")) check(m.kl, e["kl"], "kl");
    else EXPECT_EQ(m.kl, 0.0);
  }
  std::printf("largest relative error over the oracle cases: %.3g\n", worst);
}

// The oracle covers the on-policy case through old == logps; NULL old must be the same thing.
TEST(GrpoLoss, OnPolicyWithoutOldLogpsEqualsOldEqualLogps) {
  for (const auto& c : cases()) {
    const Case k = load(c);
    Vec g1(k.logps.size()), g2(k.logps.size());
    const GrpoMetrics a = xla::train::grpo_loss(k.o, k.logps, k.logps, k.ref, k.lengths, k.rewards, k.S, k.T, {}, g1);
    const GrpoMetrics b = xla::train::grpo_loss(k.o, k.logps, {}, k.ref, k.lengths, k.rewards, k.S, k.T, {}, g2);
    EXPECT_EQ(a.loss, b.loss);
    EXPECT_EQ(g1, g2);
    EXPECT_EQ(b.clip_ratio_region, 0.0);
  }
}

// d loss / d logps against central differences of the double form, on every case.
TEST(GrpoLoss, GradientMatchesFiniteDifferences) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const Case k = load(c);
    Vec grad(k.logps.size());
    xla::train::grpo_loss(k.o, k.logps, k.old, k.ref, k.lengths, k.rewards, k.S, k.T, {}, grad);
    const double h = 1e-6;
    for (size_t i = 0; i < k.logps.size(); ++i) {
      Vec up = k.logps, down = k.logps;
      up[i] += h;
      down[i] -= h;
      const double lu = xla::train::grpo_loss(k.o, up, k.old, k.ref, k.lengths, k.rewards, k.S, k.T).loss;
      const double ld = xla::train::grpo_loss(k.o, down, k.old, k.ref, k.lengths, k.rewards, k.S, k.T).loss;
      EXPECT_NEAR(grad[i], (lu - ld) / (2 * h), 1e-7 + 1e-5 * std::fabs(grad[i])) << "logps[" << i << "]";
    }
  }
}

Tensor tensor_of(const Vec& v, int64_t S, int64_t T) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_vector(f, {S, T});
}

// The autograd form: the double form's loss rounded once, its gradient delivered by backward.
TEST(GrpoLoss, AutogradFormHandsTheGradientToLogps) {
  const Case k = load(cases()[1]);  // off-policy, with the KL term
  Tensor lp = tensor_of(k.logps, k.S, k.T);
  xla::set_requires_grad(lp, true);
  const Tensor old = tensor_of(k.old, k.S, k.T), ref = tensor_of(k.ref, k.S, k.T);
  GrpoMetrics m;
  const Tensor loss = xla::train::grpo_loss(k.o, lp, old, ref, k.lengths, k.rewards, &m);
  // the f32 inputs' numbers in double, for the comparison
  const std::vector<float> lf = lp.to_vector(), of = old.to_vector(), rf = ref.to_vector();
  const Vec ld(lf.begin(), lf.end()), od(of.begin(), of.end()), rd(rf.begin(), rf.end());
  Vec grad(ld.size());
  const GrpoMetrics want = xla::train::grpo_loss(k.o, ld, od, rd, k.lengths, k.rewards, k.S, k.T, {}, grad);
  EXPECT_EQ(m.loss, want.loss);
  EXPECT_EQ(loss.item(), float(want.loss));
  xla::backward(loss);
  const std::vector<float> g = xla::grad(lp).to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], float(grad[i])) << i;
  // and autograd's own finite differences through the node, with the sampling policy at
  // logps (ratios near 1, away from the clip's kinks, where differences are not derivatives)
  const Tensor here = xla::detach(lp).contiguous();
  const std::string report = xla::gradcheck(
      [&](const std::vector<Tensor>& in) { return xla::train::grpo_loss(k.o, in[0], here, ref, k.lengths, k.rewards); },
      {lp}, 1e-3, 1e-4, 1e-2);
  EXPECT_EQ(report, "");
}

// Padding (values past a row's length) is never read: NaN there changes nothing.
TEST(GrpoLoss, PaddingIsNeverRead) {
  const Case k = load(cases()[1]);
  Vec lp = k.logps, old = k.old, ref = k.ref;
  for (int64_t i = 0; i < k.S; ++i)
    for (int64_t t = k.lengths[size_t(i)]; t < k.T; ++t) {
      const size_t j = size_t(i * k.T + t);
      lp[j] = old[j] = ref[j] = std::numeric_limits<double>::quiet_NaN();
    }
  Vec g1(lp.size()), g2(lp.size());
  const GrpoMetrics a = xla::train::grpo_loss(k.o, k.logps, k.old, k.ref, k.lengths, k.rewards, k.S, k.T, {}, g1);
  const GrpoMetrics b = xla::train::grpo_loss(k.o, lp, old, ref, k.lengths, k.rewards, k.S, k.T, {}, g2);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.kl, b.kl);
  EXPECT_EQ(g1, g2);
}

// Calls the double form and returns the error's message ("" when it succeeded).
std::string error_of(const GrpoOptions& o, const Vec& lp, const Vec& old, const Vec& ref,
                     const std::vector<int32_t>& len, const Vec& r, int64_t S, int64_t T) {
  try {
    xla::train::grpo_loss(o, lp, old, ref, len, r, S, T);
  } catch (const xla::Error& e) {
    return e.what();
  }
  return "";
}

TEST(GrpoLoss, BadInputIsRefusedByName) {
  GrpoOptions o;
  o.group_size = 2;
  const Vec lp(8, -1.0), r{1, 0, 0.5, 0.25};
  const std::vector<int32_t> len{2, 1, 2, 2};
  EXPECT_EQ(error_of(o, lp, {}, {}, len, r, 4, 2), "");
  auto has = [](const std::string& msg, const char* word) {
    EXPECT_NE(msg.find(word), std::string::npos) << "'" << msg << "' does not name " << word;
  };
  GrpoOptions g1 = o;
  g1.group_size = 1;
  has(error_of(g1, lp, {}, {}, len, r, 4, 2), "group_size");
  GrpoOptions g3 = o;
  g3.group_size = 3;
  has(error_of(g3, lp, {}, {}, len, r, 4, 2), "groups of 3");
  has(error_of(o, lp, {}, {}, {2, 3, 2, 2}, r, 4, 2), "lengths[1]");
  has(error_of(o, lp, {}, {}, {2, -1, 2, 2}, r, 4, 2), "lengths[1]");
  has(error_of(o, lp, {}, {}, {0, 0, 0, 0}, r, 4, 2), "empty");
  GrpoOptions capped = o;
  capped.loss = GrpoLoss::DrGrpo;
  capped.max_completion_length = 1;
  has(error_of(capped, lp, {}, {}, len, r, 4, 2), "max_completion_length");
  has(error_of(o, lp, {}, {}, len, {1, std::nan(""), 0, 0}, 4, 2), "rewards[1]");
  has(error_of(o, lp, {}, {}, len, {1, INFINITY, 0, 0}, 4, 2), "rewards[1]");
  Vec nan_lp = lp;
  nan_lp[3] = std::nan("");  // row 1, token 1: past row 1's length of 1, so not read
  EXPECT_EQ(error_of(o, nan_lp, {}, {}, len, r, 4, 2), "");
  nan_lp[2] = std::nan("");  // row 1, token 0: read
  has(error_of(o, nan_lp, {}, {}, len, r, 4, 2), "logps[1][0]");
  GrpoOptions kl = o;
  kl.beta = 0.04f;
  has(error_of(kl, lp, {}, {}, len, r, 4, 2), "ref_logps");
  has(error_of(o, lp, {}, {}, len, {1, 0, 0}, 4, 2), "rewards");
  has(error_of(o, Vec(7, -1.0), {}, {}, len, r, 4, 2), "logps");
  GrpoOptions e = o;
  e.epsilon = 1.f;
  has(error_of(e, lp, {}, {}, len, r, 4, 2), "epsilon");
  e = o;
  e.epsilon_high = -0.1f;
  has(error_of(e, lp, {}, {}, len, r, 4, 2), "epsilon_high");
  e = o;
  e.beta = -1.f;
  has(error_of(e, lp, {}, {}, len, r, 4, 2), "beta");
  e = o;
  e.loss = GrpoLoss(7);
  has(error_of(e, lp, {}, {}, len, r, 4, 2), "loss type 7");
}

}  // namespace
