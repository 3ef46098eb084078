// Optimizers against PyTorch 1.13 (torch.optim, single-tensor path), clipping against
// hand-computed values, schedules against their formulas, groups and state round trips.
#include <gtest/gtest.h>

#include <cmath>

#include "tiny.hpp"
#include "xla/gemma.hpp"
#include "xla/autograd.hpp"
#include "xla/optim.hpp"

using namespace xla;
using train::OptimizerKind;
namespace {

// Three steps on p0 = [1, -2, 0.5] with these gradients; expected parameters after the first
// and the last step were printed by torch.optim 1.13 with the same hyper-parameters.
const std::vector<std::vector<float>> kGrads = {{0.5f, -1.f, 0.25f}, {-0.25f, 0.75f, 0.f}, {0.1f, 0.2f, -0.3f}};

struct TorchCase {
  const char* name;
  train::OptimizerOptions o;
  std::vector<float> after_first, after_last;
};
// GoogleTest prints a parameter by its name (else as 128 raw bytes in every test listing).
void PrintTo(const TorchCase& c, std::ostream* os) { *os << c.name; }

train::OptimizerOptions opts(OptimizerKind k, double lr, double wd, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8,
                             double momentum = 0, double dampening = 0, bool nesterov = false) {
  train::OptimizerOptions o;
  o.kind = k;
  o.lr = lr;
  o.weight_decay = wd;
  o.beta1 = b1;
  o.beta2 = b2;
  o.eps = eps;
  o.momentum = momentum;
  o.dampening = dampening;
  o.nesterov = nesterov;
  return o;
}

class AgainstTorch : public ::testing::TestWithParam<TorchCase> {};

TEST_P(AgainstTorch, ThreeSteps) {
  const TorchCase& c = GetParam();
  train::ParamGroup g;
  g.names = {"w"};
  Tensor p = Tensor::from_vector({1.f, -2.f, 0.5f}, {3});
  set_requires_grad(p, true);
  g.params = {p};
  g.weight_decay = c.o.weight_decay;
  train::Optimizer opt({g}, c.o);
  for (size_t s = 0; s < kGrads.size(); ++s) {
    // the gradient as backward would leave it: d(sum(p * g))/dp = g
    backward(ag::sum(ag::mul(p, Tensor::from_vector(kGrads[s], {3}))));
    opt.step();
    opt.zero_grad();
    const std::vector<float>& want = s == 0 ? c.after_first : c.after_last;
    if (s == 1) continue;
    std::vector<float> got = p.to_vector();
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[size_t(i)], want[size_t(i)], 2e-7) << "step " << s << " entry " << i;
  }
  EXPECT_EQ(opt.steps(), 3);
}

INSTANTIATE_TEST_SUITE_P(
    Torch113, AgainstTorch,
    ::testing::Values(
        TorchCase{"sgd", opts(OptimizerKind::SGD, 0.1, 0), {0.95f, -1.9f, 0.475f}, {0.965f, -1.995f, 0.505f}},
        TorchCase{"sgd_momentum_dampening_l2", opts(OptimizerKind::SGD, 0.1, 0.1, 0, 0, 0, 0.9, 0.1),
                  {0.94f, -1.88f, 0.47f}, {0.8469756245613098f, -1.7724987268447876f, 0.4337140619754791f}},
        TorchCase{"sgd_nesterov", opts(OptimizerKind::SGD, 0.1, 0, 0, 0, 0, 0.9, 0, true),
                  {0.9049999713897705f, -1.809999942779541f, 0.45249998569488525f},
                  {0.876800000667572f, -1.8973499536514282f, 0.4710249900817871f}},
        TorchCase{"adam", opts(OptimizerKind::Adam, 0.1, 0), {0.9000000357627869f, -1.9f, 0.4000000059604645f},
                  {0.841841995716095f, -1.894350290298462f, 0.3489501178264618f}},
        TorchCase{"adam_l2", opts(OptimizerKind::Adam, 0.1, 0.1, 0.8, 0.99, 1e-6),
                  {0.9000001549720764f, -1.9000000953674316f, 0.40000033378601074f},
                  {0.8108375668525696f, -1.859671711921692f, 0.3347514569759369f}},
        TorchCase{"adamw", opts(OptimizerKind::AdamW, 0.1, 0.01), {0.8990000486373901f, -1.8980000019073486f, 0.3995000123977661f},
                  {0.83907151222229f, -1.888565182685852f, 0.3477185368537903f}},
        TorchCase{"adamw_decay", opts(OptimizerKind::AdamW, 0.05, 0.5), {0.925000011920929f, -1.9000000953674316f, 0.4375000298023224f},
                  {0.8505820631980896f, -1.8034744262695312f, 0.3912111222743988f}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Optimizer, DefaultsAreTorchs) {
  EXPECT_DOUBLE_EQ(train::OptimizerOptions::defaults(OptimizerKind::AdamW).weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(train::OptimizerOptions::defaults(OptimizerKind::Adam).weight_decay, 0.0);
  train::OptimizerOptions o = train::OptimizerOptions::defaults(OptimizerKind::Adam, 3e-4);
  EXPECT_DOUBLE_EQ(o.lr, 3e-4);
  EXPECT_DOUBLE_EQ(o.beta1, 0.9);
  EXPECT_DOUBLE_EQ(o.beta2, 0.999);
  EXPECT_DOUBLE_EQ(o.eps, 1e-8);
}

TEST(Optimizer, ParamsWithoutGradientAreSkippedAndBadOptionsNamed) {
  Tensor a = Tensor::from_vector({1.f}, {1}), b = Tensor::from_vector({2.f}, {1});
  set_requires_grad(a, true);
  set_requires_grad(b, true);
  train::ParamGroup g{{"a", "b"}, {a, b}, 0, 1};
  train::Optimizer opt({g}, opts(OptimizerKind::SGD, 0.5, 0));
  backward(ag::mul(a, Tensor::scalar(2.f)));
  opt.step();
  EXPECT_FLOAT_EQ(a.item(), 0.f);
  EXPECT_FLOAT_EQ(b.item(), 2.f);
  auto expect_error = [](train::OptimizerOptions o, const std::string& what) {
    Tensor p = Tensor::from_vector({1.f}, {1});
    set_requires_grad(p, true);
    try {
      train::Optimizer bad({train::ParamGroup{{"p"}, {p}, 0, 1}}, o);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(opts(OptimizerKind::Adam, -1, 0), "lr");
  expect_error(opts(OptimizerKind::Adam, 0.1, 0, 1.0), "beta1");
  expect_error(opts(OptimizerKind::SGD, 0.1, 0, 0, 0, 0, 0, 0, true), "Nesterov");
  Tensor frozen = Tensor::from_vector({1.f}, {1});
  EXPECT_THROW(train::Optimizer({train::ParamGroup{{"f"}, {frozen}, 0, 1}}, opts(OptimizerKind::SGD, 0.1, 0)), Error);
}

TEST(Optimizer, DefaultGroupsExemptNormsAndEmbeddings) {
  GemmaConfig c;
  c.version = 3;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_layers = 1;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 4;
  c.query_pre_attn_scalar = 4;
  c.sliding_window = 4;
  c.sliding = {0};
  GemmaModel m = GemmaModel::create(c, 1);
  std::vector<train::ParamGroup> groups = train::default_param_groups(m, 0.1);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_DOUBLE_EQ(groups[0].weight_decay, 0.1);
  EXPECT_DOUBLE_EQ(groups[1].weight_decay, 0.0);
  for (const std::string& n : groups[0].names) EXPECT_EQ(n.find("norm"), std::string::npos) << n;
  bool embed_exempt = false;
  for (const std::string& n : groups[1].names) embed_exempt |= n == "model.embed_tokens.weight";
  EXPECT_TRUE(embed_exempt);
  EXPECT_EQ(groups[0].names.size(), 7u);  // q k v o gate up down
}

// AdamW's decay is decoupled: with a zero gradient the moments stay 0 and the update is
// w ← w·(1 − lr·wd) exactly, in float — and nothing at all for the exempt group (norms,
// embeddings), whose weights must come out bit for bit.
TEST(Optimizer, AdamWZeroGradientStepDecaysOnlyTheDecayGroup) {
  GemmaModel m = GemmaModel::create(tiny_config(), 3);
  const double lr = 0.1, wd = 0.1;
  train::Optimizer opt(m, train::OptimizerOptions::defaults(OptimizerKind::AdamW, lr));
  ASSERT_EQ(opt.options().weight_decay, 0.01);  // torch's default; the groups below use wd
  train::Optimizer adamw(train::default_param_groups(m, wd), opts(OptimizerKind::AdamW, lr, wd));
  std::vector<std::vector<float>> before;
  for (Tensor& p : adamw.parameters()) {
    before.push_back(p.to_vector());
    backward(ag::sum(p), Tensor::scalar(0.f));  // d(0·Σp)/dp: a defined, all-zero gradient
  }
  adamw.step();
  const float decay = float(1 - lr * wd);
  size_t i = 0, decayed = 0, exempt = 0;
  for (const train::ParamGroup& g : adamw.groups())
    for (size_t k = 0; k < g.params.size(); ++k, ++i) {
      const std::vector<float> after = g.params[k].to_vector();
      const bool decays = g.weight_decay > 0;
      (decays ? decayed : exempt) += 1;
      EXPECT_EQ(decays, g.names[k].find("norm") == std::string::npos && g.names[k].find("embed") == std::string::npos)
          << g.names[k];
      for (size_t j = 0; j < after.size(); ++j) {
        const float want = decays ? before[i][j] * decay : before[i][j];
        ASSERT_EQ(after[j], want) << g.names[k] << "[" << j << "] before " << before[i][j];
      }
    }
  EXPECT_EQ(decayed, size_t(2 * 7));     // q k v o gate up down of 2 layers
  EXPECT_GT(exempt, size_t(2 * 4));      // the norms of 2 layers, the final norm, the embedding
}

TEST(Optimizer, StateRoundTripContinuesIdentically) {
  auto make = [](Tensor& p) {
    p = Tensor::from_vector({0.3f, -0.7f, 1.1f, 0.2f}, {2, 2});
    set_requires_grad(p, true);
    return train::Optimizer({train::ParamGroup{{"w"}, {p}, 0.01, 1}}, opts(OptimizerKind::AdamW, 0.05, 0.01));
  };
  auto grad_step = [](train::Optimizer& o, Tensor& p, float k) {
    backward(ag::sum(ag::mul(ag::mul(p, p), Tensor::scalar(k))));
    o.step();
    o.zero_grad();
  };
  Tensor p1, p2;
  train::Optimizer a = make(p1), b = make(p2);
  grad_step(a, p1, 1.f);
  grad_step(a, p1, 2.f);
  grad_step(b, p2, 1.f);
  std::map<std::string, Tensor> st;
  for (auto& [n, t] : b.state()) st[n] = t.clone();
  EXPECT_EQ(st.size(), 2u);
  Tensor p3 = p2.clone();
  set_requires_grad(p3, true);
  train::Optimizer c({train::ParamGroup{{"w"}, {p3}, 0.01, 1}}, opts(OptimizerKind::AdamW, 0.05, 0.01));
  c.load_state(st, b.steps());
  grad_step(c, p3, 2.f);
  EXPECT_EQ(p3.to_vector(), p1.to_vector());  // bit-identical
  st["w.exp_avg"] = Tensor::zeros({3});
  EXPECT_THROW(c.load_state(st, 1), Error);
  st.erase("w.exp_avg");
  st["bogus.exp_avg"] = Tensor::zeros({2, 2});
  EXPECT_THROW(c.load_state(st, 1), Error);
}

TEST(ClipGradNorm, ScalesToMaxNorm) {
  Tensor a = Tensor::from_vector({1.f, 2.f}, {2}), b = Tensor::from_vector({3.f}, {1});
  set_requires_grad(a, true);
  set_requires_grad(b, true);
  // grads: a → [3, 0], b → [4]: global norm 5
  backward(ag::add(ag::sum(ag::mul(a, Tensor::from_vector({3.f, 0.f}, {2}))), ag::mul(ag::sum(b), Tensor::scalar(4.f))));
  EXPECT_DOUBLE_EQ(train::clip_grad_norm({a, b}, 10.0), 5.0);  // under the limit: untouched
  EXPECT_FLOAT_EQ(grad(a).to_vector()[0], 3.f);
  EXPECT_DOUBLE_EQ(train::clip_grad_norm({a, b}, 1.0), 5.0);
  const float coef = float(1.0 / (5.0 + 1e-6));
  EXPECT_FLOAT_EQ(grad(a).to_vector()[0], 3.f * coef);
  EXPECT_FLOAT_EQ(grad(b).to_vector()[0], 4.f * coef);
  EXPECT_NEAR(train::clip_grad_norm({a, b}, 0.0), 1.0, 1e-6);  // 0: measure only
}

TEST(ClipGradNorm, SameBitsWhateverTheThreadCount) {
  // 300,001 uneven values: a split per thread would round differently for 1, 2 and 3 threads.
  std::vector<float> v(300001);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(double(i) * 0.37)) * (1.f + float(i % 7) * 1e-3f);
  double expected = 0;
  for (float x : v) expected += double(x) * x;
  expected = std::sqrt(expected);
  double norms[3];
  for (int threads = 1; threads <= 3; ++threads) {
    Tensor p = Tensor::zeros({int64_t(v.size())});
    set_requires_grad(p, true);
    backward(ag::sum(ag::mul(p, Tensor::from_vector(v, {int64_t(v.size())}))));  // grad = v
    set_num_threads(threads);
    norms[threads - 1] = train::clip_grad_norm({p}, 0.0);
  }
  set_num_threads(0);
  EXPECT_NEAR(norms[0], expected, 1e-9 * expected);
  EXPECT_EQ(norms[0], norms[1]);  // exactly: the same bits
  EXPECT_EQ(norms[0], norms[2]);
}

TEST(Schedule, WarmupThenDecayToTheFloor) {
  train::Schedule s{train::ScheduleKind::Cosine, 10, 110, 0.1};
  EXPECT_DOUBLE_EQ(s.factor(0), 0.1);
  EXPECT_DOUBLE_EQ(s.factor(4), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(9), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(10), 1.0);
  EXPECT_NEAR(s.factor(60), 0.1 + 0.9 * 0.5, 1e-12);                               // half way: cos(π/2)
  EXPECT_NEAR(s.factor(35), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-12);  // a quarter
  EXPECT_DOUBLE_EQ(s.factor(110), 0.1);
  EXPECT_DOUBLE_EQ(s.factor(500), 0.1);
  train::Schedule lin{train::ScheduleKind::Linear, 0, 100, 0.0};
  EXPECT_DOUBLE_EQ(lin.factor(0), 1.0);
  EXPECT_DOUBLE_EQ(lin.factor(25), 0.75);
  EXPECT_DOUBLE_EQ(lin.factor(100), 0.0);
  train::Schedule constant{train::ScheduleKind::Constant, 4, 0, 0};
  EXPECT_DOUBLE_EQ(constant.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(constant.factor(1000), 1.0);
}

}  // namespace
