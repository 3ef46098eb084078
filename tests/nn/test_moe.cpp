// Tests for nn::moe (include/xla/moe.hpp): the output and the routing against a naive
// double-precision reference, gradcheck through the routed experts and the load-balancing
// loss, which experts see tokens (and gradients), the loss's value in the cases where it
// is exactly 1, and the shape / argument errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "../autograd/grad_util.hpp"
#include "xla/moe.hpp"

using namespace gt;
namespace nn = xla::nn;

namespace {

constexpr int64_t kN = 5, kC = 4, kI = 6, kE = 3;

// ---- naive reference, in double ----

using Mat = std::vector<double>;  // row-major

Mat to_double(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  return Mat(v.begin(), v.end());
}

// x [n, in] · w[out, in]ᵀ → [n, out]
Mat ref_linear(const Mat& x, int64_t n, int64_t in, const Mat& w, int64_t out) {
  Mat y(size_t(n * out), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t k = 0; k < in; ++k) s += x[size_t(i * in + k)] * w[size_t(o * in + k)];
      y[size_t(i * out + o)] = s;
    }
  return y;
}

double ref_gelu_tanh(double v) {
  const double c = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * v * (1.0 + std::tanh(c * (v + 0.044715 * v * v * v)));
}

// down(gelu_tanh(gate x) ⊙ up x) for x [n, C] → [n, C]
Mat ref_expert(const Mat& x, int64_t n, const nn::MoeExpert& ex) {
  const int64_t inter = ex.gate.shape()[0];
  Mat g = ref_linear(x, n, kC, to_double(ex.gate), inter), u = ref_linear(x, n, kC, to_double(ex.up), inter);
  for (size_t i = 0; i < g.size(); ++i) g[i] = ref_gelu_tanh(g[i]) * u[i];
  return ref_linear(g, n, inter, to_double(ex.down), kC);
}

struct RefMoe {
  Mat y;                       // [N, C]
  std::vector<int64_t> index;  // [N, k]
  double aux = 0;
};

// The layer written out per token: logits, top-k by value (lower index on ties), softmax
// over the chosen logits, weighted sum of the chosen experts; aux = E · Σ_e f_e · P_e.
RefMoe ref_moe(const Tensor& x, const Tensor& router, const std::vector<nn::MoeExpert>& experts, int k) {
  const int64_t n = x.shape()[0], e = router.shape()[0];
  Mat xd = to_double(x), logits = ref_linear(xd, n, kC, to_double(router), e);
  std::vector<Mat> outs;
  for (const nn::MoeExpert& ex : experts) outs.push_back(ref_expert(xd, n, ex));  // every expert on every token
  RefMoe r;
  r.y.assign(size_t(n * kC), 0.0);
  std::vector<double> count(size_t(e), 0.0), prob_sum(size_t(e), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    const double* l = &logits[size_t(t * e)];
    std::vector<int64_t> order(static_cast<size_t>(e));
    for (int64_t i = 0; i < e; ++i) order[size_t(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] > l[b]; });
    double mx = l[order[0]], z = 0;
    for (int j = 0; j < k; ++j) z += std::exp(l[order[size_t(j)]] - mx);
    for (int j = 0; j < k; ++j) {
      const int64_t ex = order[size_t(j)];
      const double w = std::exp(l[ex] - mx) / z;
      r.index.push_back(ex);
      count[size_t(ex)] += 1;
      for (int64_t c = 0; c < kC; ++c) r.y[size_t(t * kC + c)] += w * outs[size_t(ex)][size_t(t * kC + c)];
    }
    double all = 0;
    for (int64_t i = 0; i < e; ++i) all += std::exp(l[i] - mx);
    for (int64_t i = 0; i < e; ++i) prob_sum[size_t(i)] += std::exp(l[i] - mx) / all;
  }
  for (int64_t i = 0; i < e; ++i) r.aux += (count[size_t(i)] / double(n * k)) * (prob_sum[size_t(i)] / double(n));
  r.aux *= double(e);
  return r;
}

// Smallest |logit_a - logit_b| over all tokens and expert pairs: routing cannot flip under
// a perturbation that moves logits by less than half of it.
double min_logit_gap(const Tensor& x, const Tensor& router) {
  const int64_t n = x.shape()[0], e = router.shape()[0];
  Mat logits = ref_linear(to_double(x), n, kC, to_double(router), e);
  double gap = 1e30;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t a = 0; a < e; ++a)
      for (int64_t b = a + 1; b < e; ++b)
        gap = std::min(gap, std::fabs(logits[size_t(t * e + a)] - logits[size_t(t * e + b)]));
  return gap;
}

std::vector<float> as_floats(const Mat& m) { return std::vector<float>(m.begin(), m.end()); }

// ---- inputs ----

// E experts with distinct LCG weights that require grad.
std::vector<nn::MoeExpert> make_experts(int64_t e, uint64_t seed) {
  std::vector<nn::MoeExpert> ex;
  for (int64_t i = 0; i < e; ++i) {
    const uint64_t s = seed + 10 * uint64_t(i);
    ex.push_back({param({kI, kC}, s), param({kI, kC}, s + 1), param({kC, kI}, s + 2)});
  }
  return ex;
}

// x [N, C] and router [E, C] (values in [-2, 2)) whose logits are at least 0.05 apart.
struct Routed {
  Tensor x, router;
};
Routed make_routed() {
  Routed r{param({kN, kC}, 101), param({kE, kC}, 202, -2.f, 2.f)};
  return r;
}

// inputs = {x, router, gate_0, up_0, down_0, gate_1, …}; the layer's y or aux_loss.
std::vector<Tensor> flatten_inputs(const Tensor& x, const Tensor& router, const std::vector<nn::MoeExpert>& ex) {
  std::vector<Tensor> in{x, router};
  for (const nn::MoeExpert& e : ex) {
    in.push_back(e.gate);
    in.push_back(e.up);
    in.push_back(e.down);
  }
  return in;
}
nn::MoeOutput run_flat(const std::vector<Tensor>& in, int k) {
  std::vector<nn::MoeExpert> ex;
  for (size_t i = 2; i + 2 < in.size(); i += 3) ex.push_back({in[i], in[i + 1], in[i + 2]});
  return nn::moe(in[0], in[1], ex, k);
}

bool all_zero(const Tensor& g) {
  if (!g.defined()) return true;
  for (float v : g.to_vector())
    if (v != 0.f) return false;
  return true;
}

// ---------------------------------------------------------------------------------------

TEST(Moe, InputsKeepRoutingAwayFromTies) {
  Routed r = make_routed();
  EXPECT_GT(min_logit_gap(r.x, r.router), 0.05);
}

TEST(Moe, ForwardMatchesReference) {
  Routed r = make_routed();
  std::vector<nn::MoeExpert> ex = make_experts(kE, 300);
  for (int k : {1, 2, 3}) {
    SCOPED_TRACE("top_k " + std::to_string(k));
    nn::MoeOutput out = nn::moe(r.x, r.router, ex, k);
    RefMoe ref = ref_moe(r.x, r.router, ex, k);
    expect_tensor(out.y, {kN, kC}, as_floats(ref.y), 1e-5f);
    EXPECT_EQ(out.expert_index.shape().str(), Shape({kN, k}).str());
    EXPECT_EQ(i64s(out.expert_index), ref.index);
    expect_tensor(out.aux_loss, {}, {float(ref.aux)}, 1e-6f);
    // every token's experts are distinct
    std::vector<int64_t> idx = i64s(out.expert_index);
    for (int64_t t = 0; t < kN; ++t)
      for (int a = 0; a < k; ++a)
        for (int b = a + 1; b < k; ++b) EXPECT_NE(idx[size_t(t * k + a)], idx[size_t(t * k + b)]);
  }
}

TEST(Moe, GradcheckTop1) {
  Routed r = make_routed();
  std::vector<Tensor> in = flatten_inputs(r.x, r.router, make_experts(kE, 400));
  check_grad([](const std::vector<Tensor>& v) { return run_flat(v, 1).y; }, in);
}

TEST(Moe, GradcheckTop2) {
  Routed r = make_routed();
  std::vector<Tensor> in = flatten_inputs(r.x, r.router, make_experts(kE, 500));
  check_grad([](const std::vector<Tensor>& v) { return run_flat(v, 2).y; }, in);
}

TEST(Moe, GradcheckYAndAuxTogether) {
  // y + aux_loss as one scalar: the router gets gradient through both paths at once.
  Routed r = make_routed();
  std::vector<Tensor> in = flatten_inputs(r.x, r.router, make_experts(kE, 550));
  expect_gradcheck(
      [](const std::vector<Tensor>& v) {
        nn::MoeOutput o = run_flat(v, 2);
        return ag::add(weighted_sum(o.y), o.aux_loss);
      },
      in);
}

TEST(Moe, AuxLossGradcheckWrtRouterAndX) {
  Routed r = make_routed();
  std::vector<nn::MoeExpert> ex = make_experts(kE, 600);
  for (int k : {1, 2}) {
    SCOPED_TRACE("top_k " + std::to_string(k));
    expect_gradcheck([&ex, k](const std::vector<Tensor>& v) { return nn::moe(v[1], v[0], ex, k).aux_loss; },
                     {r.router, r.x});
  }
}

TEST(Moe, OneWinningExpertTakesEveryToken) {
  // x > 0 everywhere and router rows 0, 1 = -1, row 2 = +1: logit_2 = Σx > 0 > logits 0, 1.
  Tensor x = req(T(lcg_values(kN * kC, 700, 0.25f, 1.f), {kN, kC}));
  std::vector<float> rv(size_t(kE * kC), -1.f);
  for (int64_t c = 0; c < kC; ++c) rv[size_t(2 * kC + c)] = 1.f;
  Tensor router = req(T(rv, {kE, kC}));
  std::vector<nn::MoeExpert> ex = make_experts(kE, 800);

  nn::MoeOutput out = nn::moe(x, router, ex, 1);
  EXPECT_EQ(i64s(out.expert_index), std::vector<int64_t>(size_t(kN), 2));
  // top_k = 1: the weight is softmax of one logit, 1, so y is expert 2's MLP on x
  Tensor want = nn::geglu_mlp(x, ex[2].gate, ex[2].up, ex[2].down);
  expect_same_forward(out.y, want, 1e-6f);
  // f = (0, 0, 1), so aux = E · P_2
  {
    RefMoe ref = ref_moe(x, router, ex, 1);
    expect_tensor(out.aux_loss, {}, {float(ref.aux)}, 1e-6f);
  }

  std::vector<Tensor> leaves = flatten_inputs(x, router, ex);
  std::vector<Tensor> g = grads_of(weighted_sum(out.y), leaves);
  for (int e = 0; e < 2; ++e)
    for (int w = 0; w < 3; ++w) EXPECT_TRUE(all_zero(g[size_t(2 + 3 * e + w)])) << "expert " << e << " weight " << w;
  for (int w = 0; w < 3; ++w) EXPECT_FALSE(all_zero(g[size_t(2 + 3 * 2 + w)])) << "expert 2 weight " << w;
  EXPECT_FALSE(all_zero(g[0]));  // x, through expert 2
  EXPECT_TRUE(all_zero(g[1]));   // the router: a weight of exactly 1 has zero derivative
}

TEST(Moe, Top2WeightsSumToOne) {
  // With every expert the same MLP, y = (Σ_j w_j) · mlp(x): equal to mlp(x) iff the two
  // weights of each token sum to 1.
  Routed r = make_routed();
  Tensor gate = param({kI, kC}, 900), up = param({kI, kC}, 901), down = param({kC, kI}, 902);
  std::vector<nn::MoeExpert> same(size_t(kE), nn::MoeExpert{gate, up, down});
  nn::MoeOutput out = nn::moe(r.x, r.router, same, 2);
  expect_same_forward(out.y, nn::geglu_mlp(r.x, gate, up, down), 1e-6f);
}

TEST(Moe, AuxLossIsOneForUniformRoutingWithBalancedAssignments) {
  // aux = E · Σ_e f_e P_e with Σ_e f_e = 1 and Σ_e P_e = 1. If every P_e = 1/E, aux = Σ_e f_e = 1;
  // if every f_e = 1/E, aux = Σ_e P_e = 1. A zero router gives logits 0, softmax exactly 1/4
  // for E = 4, and top_k = E sends every token to every expert (f_e = 4/16); every number on
  // the way (1/4, 1/16, their sums) is a power of two, so the result is 1.0f exactly.
  const int64_t e = 4;
  Tensor x = param({4, kC}, 1000);
  Tensor router = req(T(std::vector<float>(size_t(e * kC), 0.f), {e, kC}));
  std::vector<nn::MoeExpert> ex = make_experts(e, 1100);
  EXPECT_EQ(nn::moe(x, router, ex, 4).aux_loss.item(), 1.f);

  // Uniform P with unbalanced f (the tie sends every token to expert 0): still 1.
  EXPECT_EQ(nn::moe(x, router, ex, 1).aux_loss.item(), 1.f);

  // Balanced f (top_k = E) with a non-uniform router: Σ_e P_e = 1 up to rounding.
  Tensor router2 = param({e, kC}, 1200, -2.f, 2.f);
  EXPECT_NEAR(nn::moe(x, router2, ex, 4).aux_loss.item(), 1.0, 1e-6);
}

TEST(Moe, AuxLossPenalisesImbalance) {
  // Everything on expert 2 (f = (0, 0, 1)) with P_2 > 1/E gives aux = E · P_2 > 1.
  Tensor x = T(lcg_values(kN * kC, 1300, 0.25f, 1.f), {kN, kC});
  std::vector<float> rv(size_t(kE * kC), 0.f);
  for (int64_t c = 0; c < kC; ++c) rv[size_t(2 * kC + c)] = 1.f;
  Tensor router = T(rv, {kE, kC});
  std::vector<nn::MoeExpert> ex = make_experts(kE, 1400);
  nn::MoeOutput out = nn::moe(x, router, ex, 1);
  RefMoe ref = ref_moe(x, router, ex, 1);
  EXPECT_GT(ref.aux, 1.0);
  expect_tensor(out.aux_loss, {}, {float(ref.aux)}, 1e-6f);
}

TEST(Moe, NoGradModeGivesPlainTensors) {
  Routed r = make_routed();
  std::vector<nn::MoeExpert> ex = make_experts(kE, 1500);
  xla::NoGradGuard no_grad;
  nn::MoeOutput out = nn::moe(r.x, r.router, ex, 2);
  EXPECT_FALSE(xla::requires_grad(out.y));
  EXPECT_FALSE(xla::requires_grad(out.aux_loss));
  expect_tensor(out.y, {kN, kC}, as_floats(ref_moe(r.x, r.router, ex, 2).y), 1e-5f);
}

TEST(Moe, EmptyBatch) {
  std::vector<nn::MoeExpert> ex = make_experts(kE, 1600);
  nn::MoeOutput out = nn::moe(T(std::vector<float>{}, Shape{0, kC}), param({kE, kC}, 1601), ex, 2);
  expect_shape(out.y, {0, kC});
  expect_shape(out.expert_index, {0, 2});
  EXPECT_EQ(out.aux_loss.item(), 0.f);
}

TEST(Moe, Errors) {
  Routed r = make_routed();
  std::vector<nn::MoeExpert> ex = make_experts(kE, 1700);
  EXPECT_XLA_ERROR(nn::moe(r.x, r.router, ex, 0), xla::Status::InvalidArg, "moe");
  EXPECT_XLA_ERROR(nn::moe(r.x, r.router, ex, 4), xla::Status::InvalidArg, "top_k");
  EXPECT_XLA_ERROR(nn::moe(T({1, 2, 3, 4}), r.router, ex, 1), xla::Status::Shape, "moe");
  EXPECT_XLA_ERROR(nn::moe(r.x, T(lcg_values(9, 1), {kE, 3}), ex, 1), xla::Status::Shape, "router");
  std::vector<nn::MoeExpert> two(ex.begin(), ex.begin() + 2);
  EXPECT_XLA_ERROR(nn::moe(r.x, r.router, two, 1), xla::Status::Shape, "experts");
  std::vector<nn::MoeExpert> bad_gate = ex;
  bad_gate[1].gate = T(lcg_values(kI * 3, 2), {kI, 3});
  EXPECT_XLA_ERROR(nn::moe(r.x, r.router, bad_gate, 1), xla::Status::Shape, "expert 1");
  std::vector<nn::MoeExpert> bad_up = ex;
  bad_up[0].up = T(lcg_values((kI + 1) * kC, 3), {kI + 1, kC});
  EXPECT_XLA_ERROR(nn::moe(r.x, r.router, bad_up, 1), xla::Status::Shape, "up");
  std::vector<nn::MoeExpert> bad_down = ex;
  bad_down[2].down = T(lcg_values(kI * kC, 4), {kI, kC});
  EXPECT_XLA_ERROR(nn::moe(r.x, r.router, bad_down, 1), xla::Status::Shape, "down");
}

}  // namespace
