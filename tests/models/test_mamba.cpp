// test_mamba.cpp — MambaModel beyond the oracle: config errors, loading errors, save → load
// bit-identical, bf16 weights, the scan and conv kernels against the recurrence written out
// here and against finite differences, a tiny model overfitting one batch, LoRA, and the
// recurrent state (constant size, untouched by a failed forward, refused from another model).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cpu_kernels.hpp"

#include "../../src/models/mamba/scan.hpp"
#include "xla/mamba.hpp"
#include "xla/safetensors.hpp"

namespace fs = std::filesystem;
using xla::Tensor;

namespace {

const char* kTinyConfig = R"({"model_type": "mamba", "vocab_size": 32, "hidden_size": 16, "state_size": 4,
  "num_hidden_layers": 2, "expand": 2, "conv_kernel": 3, "time_step_rank": "auto", "use_bias": true,
  "tie_word_embeddings": false})";

xla::MambaModel tiny(uint64_t seed = 1) { return xla::MambaModel::create(xla::MambaConfig::from_json(kTinyConfig), seed); }

Tensor I32(const std::vector<int32_t>& v, const xla::Shape& s) { return Tensor::from_data(v.data(), s, xla::DType::I32); }
const Tensor& tiny_tokens() {
  static Tensor t = I32({1, 5, 9, 30, 2, 17, 4, 4, 11, 0, 3, 8, 7, 29, 13, 21, 22, 6}, {2, 9});
  return t;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The message of the error f throws (and that it is of `status`), or a failure.
template <typename F>
std::string error_of(F f, xla::Status status) {
  try {
    f();
  } catch (const xla::Error& e) {
    EXPECT_EQ(int(e.status()), int(status)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) m = std::max(m, std::fabs(double(x[i]) - y[i]));
  return m;
}

// kTinyConfig with the keys of `patch` (JSON object text) added or replaced.
std::string with(const std::string& patch) {
  nlohmann::json j = nlohmann::json::parse(kTinyConfig);
  j.merge_patch(nlohmann::json::parse("{" + patch + "}"));
  return j.dump();
}

}  // namespace

// ---- config ----

TEST(MambaConfig, ReadsTheKeysAndDerivesTheRest) {
  xla::MambaConfig c = xla::MambaConfig::from_json(kTinyConfig);
  EXPECT_EQ(c.intermediate_size, 32);  // expand · hidden
  EXPECT_EQ(c.time_step_rank, 1);      // "auto": ⌈16 / 16⌉
  EXPECT_EQ(xla::MambaConfig::from_json(with(R"("hidden_size": 40, "intermediate_size": 80)")).time_step_rank, 3);
  EXPECT_FLOAT_EQ(c.layer_norm_epsilon, 1e-5f);
  xla::MambaConfig back = xla::MambaConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.time_step_rank, 1);
  EXPECT_TRUE(back.use_bias);
  EXPECT_FALSE(back.tie_word_embeddings);
}

TEST(MambaConfig, ErrorsNameTheKey) {
  using xla::Status;
  auto parse = [](const std::string& text) { return [text] { xla::MambaConfig::from_json(text); }; };
  EXPECT_TRUE(contains(error_of(parse(with(R"("d_state": 4)")), Status::Format), "unknown key 'd_state'"));
  EXPECT_TRUE(contains(error_of(parse(R"({"model_type": "mamba", "vocab_size": 8, "num_hidden_layers": 1})"), Status::Format),
                       "missing key 'hidden_size'"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("hidden_act": "gelu")")), Status::Format), "hidden_act"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("intermediate_size": 48)")), Status::Format), "intermediate_size"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("time_step_rank": "big")")), Status::Format), "time_step_rank"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("conv_kernel": 0)")), Status::Format), "conv_kernel"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("layer_norm_epsilon": -1)")), Status::Format), "layer_norm_epsilon"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("use_bias": 1)")), Status::Format), "use_bias"));
  EXPECT_TRUE(contains(error_of(parse(R"({"model_type": "gemma", "vocab_size": 8})"), Status::Format), "model_type 'gemma'"));
  EXPECT_TRUE(contains(error_of(parse("[1, 2]"), Status::Format), "not a JSON object"));
}

// The keys mamba_ssm's config leaves in converted *-hf folders.
TEST(MambaConfig, MambaSsmLeftoversAgreeOrAreErrors) {
  using xla::Status;
  xla::MambaConfig c = xla::MambaConfig::from_json(
      with(R"("d_model": 16, "n_layer": 2, "rms_norm": true, "fused_add_norm": true, "pad_vocab_size_multiple": 8, "ssm_cfg": {})"));
  EXPECT_EQ(c.hidden_size, 16);
  EXPECT_EQ(c.num_layers, 2);
  c = xla::MambaConfig::from_json(R"({"model_type": "mamba", "vocab_size": 8, "d_model": 32, "n_layer": 3})");
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.intermediate_size, 64);
  auto parse = [](const std::string& text) { return [text] { xla::MambaConfig::from_json(text); }; };
  EXPECT_TRUE(contains(error_of(parse(with(R"("n_layer": 3)")), Status::Format), "'n_layer' disagrees with 'num_hidden_layers'"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("d_model": 8)")), Status::Format), "'d_model' disagrees with 'hidden_size'"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("rms_norm": false)")), Status::Format), "rms_norm"));
  EXPECT_TRUE(contains(error_of(parse(with(R"("ssm_cfg": {"d_state": 8})")), Status::Format), "ssm_cfg"));
}

TEST(MambaConfig, RegistryCreatesAndNamesMamba) {
  std::unique_ptr<xla::Model> m = xla::create_model(kTinyConfig, 3);
  EXPECT_EQ(m->architecture(), "mamba");
  EXPECT_EQ(m->vocab_size(), 32);
  EXPECT_EQ(m->context_length(), int64_t(1) << 20);
  EXPECT_TRUE(contains(error_of([] { xla::create_model(R"({"model_type": "llama"})", 1); }, xla::Status::Format),
                       "mamba"));
}

// ---- checkpoints ----

TEST(MambaCheckpoint, SaveThenLoadGivesBitIdenticalLogits) {
  const std::string dir = fresh_dir("mamba_roundtrip");
  xla::MambaModel m = tiny(7);
  m.save(dir);
  xla::MambaModel back = xla::MambaModel::load(dir);
  EXPECT_EQ(m.forward(tiny_tokens()).to_vector(), back.forward(tiny_tokens()).to_vector());
  std::unique_ptr<xla::Model> any = xla::load_model(dir);
  EXPECT_EQ(any->architecture(), "mamba");
  EXPECT_EQ(any->forward(tiny_tokens()).to_vector(), m.forward(tiny_tokens()).to_vector());
  fs::remove_all(dir);
}

// bf16 weights, widened per use, compute exactly what f32 weights rounded to bf16 compute.
TEST(MambaCheckpoint, Bf16WeightsMatchRoundedF32Weights) {
  const std::string dir = fresh_dir("mamba_bf16");
  tiny(8).save(dir);
  xla::MambaModel half = xla::MambaModel::load(dir, xla::DType::BF16);
  EXPECT_EQ(half.layers[0].in_proj.dtype(), xla::DType::BF16);
  xla::MambaModel rounded = xla::MambaModel::load(dir);
  for (auto& [name, t] : rounded.named_parameters()) *t = t->to(xla::DType::BF16).to(xla::DType::F32);
  Tensor a = half.forward(tiny_tokens()), b = rounded.forward(tiny_tokens());
  // the avx512bf16 path's bf16 unit also rounds the activations that meet bf16 weights
  const bool bf16_unit = std::string(xla::detail::cpu_kernels().name) == "avx512bf16";
  EXPECT_LE(max_abs_diff(a, b), bf16_unit ? 2e-2 : 1e-5);
  EXPECT_GT(max_abs_diff(a, xla::MambaModel::load(dir).forward(tiny_tokens())), 0);  // bf16 did round
  fs::remove_all(dir);
}

TEST(MambaCheckpoint, MissingWrongShapeAndCorruptTensorsAreErrors) {
  const std::string dir = fresh_dir("mamba_bad");
  xla::MambaModel m = tiny(9);
  m.save(dir);
  auto tensors_but = [&](const std::string& drop, const std::string& reshape) {
    std::vector<std::pair<std::string, Tensor>> out;
    for (auto& [name, t] : m.named_parameters()) {
      if (name == drop) continue;
      out.emplace_back(name, name == reshape ? Tensor::zeros({3, 3}) : *t);
    }
    return out;
  };
  xla::io::save_safetensors(dir + "/model.safetensors", tensors_but("backbone.layers.1.mixer.A_log", ""), {});
  std::string msg = error_of([&] { xla::MambaModel::load(dir); }, xla::Status::Format);
  EXPECT_TRUE(contains(msg, "'backbone.layers.1.mixer.A_log' is missing")) << msg;

  xla::io::save_safetensors(dir + "/model.safetensors", tensors_but("", "backbone.layers.0.mixer.conv1d.weight"), {});
  msg = error_of([&] { xla::MambaModel::load(dir); }, xla::Status::Format);
  EXPECT_TRUE(contains(msg, "'backbone.layers.0.mixer.conv1d.weight' has shape [3, 3], config says [32, 1, 3]")) << msg;

  // a config of more layers than the files hold
  xla::io::save_safetensors(dir + "/model.safetensors", tensors_but("", ""), {});
  std::ofstream(dir + "/config.json") << with(R"("num_hidden_layers": 5)");
  msg = error_of([&] { xla::MambaModel::load(dir); }, xla::Status::Format);
  EXPECT_TRUE(contains(msg, "backbone.layers.4.norm.weight")) << msg;

  // a truncated file
  m.save(dir);
  fs::resize_file(dir + "/model.safetensors", 100);
  try {
    xla::MambaModel::load(dir);
    ADD_FAILURE() << "a truncated safetensors file loaded";
  } catch (const xla::Error& e) {
    EXPECT_NE(std::string(e.what()), "");
  }
  fs::remove_all(dir);
}

// ---- kernels ----

namespace {

// The selective scan as the HF slow path writes it: discretise to [B, T, I, S] first, then
// walk time. An independent oracle for the fused kernel.
Tensor naive_scan(const Tensor& x, const Tensor& dt, const Tensor& A, const Tensor& Bm, const Tensor& Cm,
                  const Tensor& D, const Tensor& h0, Tensor* h_last) {
  const int64_t B = x.shape()[0], T = x.shape()[1], I = x.shape()[2], S = A.shape()[1];
  std::vector<float> vx = x.to_vector(), vdt = dt.to_vector(), vA = A.to_vector(), vB = Bm.to_vector(),
                     vC = Cm.to_vector(), vD = D.to_vector();
  std::vector<double> dA(size_t(B * T * I * S)), dBx(size_t(B * T * I * S));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < I; ++i) {
        const double raw = vdt[size_t((b * T + t) * I + i)], delta = raw > 20 ? raw : std::log1p(std::exp(raw));
        for (int64_t s = 0; s < S; ++s) {
          const size_t k = size_t(((b * T + t) * I + i) * S + s);
          dA[k] = std::exp(delta * vA[size_t(i * S + s)]);
          dBx[k] = delta * vB[size_t((b * T + t) * S + s)] * vx[size_t((b * T + t) * I + i)];
        }
      }
  std::vector<double> h(size_t(B * I * S), 0.0);
  if (h0.defined()) {
    std::vector<float> v = h0.to_vector();
    h.assign(v.begin(), v.end());
  }
  std::vector<float> y(size_t(B * T * I));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < I; ++i) {
        double acc = vD[size_t(i)] * vx[size_t((b * T + t) * I + i)];
        for (int64_t s = 0; s < S; ++s) {
          double& hs = h[size_t((b * I + i) * S + s)];
          const size_t k = size_t(((b * T + t) * I + i) * S + s);
          hs = dA[k] * hs + dBx[k];
          acc += hs * vC[size_t((b * T + t) * S + s)];
        }
        y[size_t((b * T + t) * I + i)] = float(acc);
      }
  if (h_last) *h_last = Tensor::from_vector(std::vector<float>(h.begin(), h.end()), {B, I, S});
  return Tensor::from_vector(y, {B, T, I});
}

struct ScanInputs {
  Tensor x, dt, A, Bm, Cm, D, h0;
};
ScanInputs scan_inputs(int64_t B, int64_t T, int64_t I, int64_t S, uint64_t seed) {
  xla::Generator gen(seed);
  ScanInputs in;
  in.x = xla::randn({B, T, I}, gen);
  in.dt = xla::randn({B, T, I}, gen, -1.f, 1.f);
  in.A = xla::rand({I, S}, gen, -2.f, -0.2f);
  in.Bm = xla::randn({B, T, S}, gen);
  in.Cm = xla::randn({B, T, S}, gen);
  in.D = xla::randn({I}, gen);
  in.h0 = xla::randn({B, I, S}, gen);
  return in;
}

}  // namespace

TEST(MambaScan, FusedScanEqualsTheDiscretisedRecurrence) {
  ScanInputs in = scan_inputs(2, 37, 40, 5, 11);  // more channels than a backward block
  in.dt.data<float>()[3] = 25.f;                  // past softplus's threshold: δ = dt
  for (bool with_h0 : {false, true}) {
    Tensor h0 = with_h0 ? in.h0 : Tensor();
    Tensor h_fused, h_naive;
    Tensor y = xla::mamba::selective_scan(in.x, in.dt, in.A, in.Bm, in.Cm, in.D, h0, &h_fused);
    Tensor want = naive_scan(in.x, in.dt, in.A, in.Bm, in.Cm, in.D, h0, &h_naive);
    EXPECT_LE(max_abs_diff(y, want), 1e-4) << "h0 " << with_h0;
    EXPECT_LE(max_abs_diff(h_fused, h_naive), 1e-4) << "h0 " << with_h0;
  }
}

TEST(MambaScan, GradcheckOnEveryInput) {
  for (bool with_h0 : {false, true}) {
    ScanInputs in = scan_inputs(2, 5, 34, 3, 12);  // 34 channels: two backward blocks
    in.dt.data<float>()[1] = 21.f;  // one δ past the threshold (derivative 1)
    std::vector<Tensor> inputs = {in.x, in.dt, in.A, in.Bm, in.Cm, in.D};
    for (Tensor& t : inputs) xla::set_requires_grad(t, true);
    const Tensor h0 = with_h0 ? in.h0 : Tensor();
    std::string report = xla::gradcheck(
        [&](const std::vector<Tensor>& v) { return xla::mamba::selective_scan(v[0], v[1], v[2], v[3], v[4], v[5], h0); },
        inputs, 1e-2, 2e-3, 1e-2);
    EXPECT_EQ(report, "") << "h0 " << with_h0;
  }
}

// The backward's channel blocks are summed in a fixed order: the same bits on 1 or 3 threads.
TEST(MambaScan, GradientsDoNotDependOnTheThreadCount) {
  ScanInputs in = scan_inputs(2, 9, 100, 4, 16);
  std::vector<Tensor> inputs = {in.x, in.dt, in.A, in.Bm, in.Cm, in.D};
  auto grads = [&](int threads) {
    const int before = xla::num_threads();
    xla::set_num_threads(threads);
    std::vector<Tensor> xs;
    for (const Tensor& t : inputs) {
      xs.push_back(t.clone());
      xla::set_requires_grad(xs.back(), true);
    }
    xla::backward(xla::ag::sum(xla::ag::mul(xla::mamba::selective_scan(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], in.h0), in.x)));
    std::vector<std::vector<float>> out;
    for (const Tensor& t : xs) out.push_back(xla::grad(t).to_vector());
    xla::set_num_threads(before);
    return out;
  };
  EXPECT_EQ(grads(1), grads(3));
}

// The scan through ag ops around it: A = −exp(A_log), as the model builds it.
TEST(MambaScan, GradcheckThroughALog) {
  ScanInputs in = scan_inputs(1, 5, 2, 3, 13);
  Tensor a_log = xla::log(xla::neg(in.A));
  xla::set_requires_grad(a_log, true);
  std::string report = xla::gradcheck(
      [&](const std::vector<Tensor>& v) {
        return xla::mamba::selective_scan(in.x, in.dt, xla::ag::neg(xla::ag::exp(v[0])), in.Bm, in.Cm, in.D, Tensor());
      },
      {a_log}, 1e-2, 2e-3, 1e-2);
  EXPECT_EQ(report, "");
}

TEST(MambaConv, EqualsTheCausalConvWrittenOut) {
  xla::Generator gen(14);
  const int64_t B = 2, T = 6, I = 3, K = 4;
  Tensor x = xla::randn({B, T, I}, gen), w = xla::randn({I, K}, gen), bias = xla::randn({I}, gen),
         past = xla::randn({B, I, K - 1}, gen);
  for (bool with_past : {false, true}) {
    Tensor window;
    Tensor y = xla::mamba::causal_conv1d(x, w, bias, with_past ? past : Tensor(), &window);
    std::vector<float> vx = x.to_vector(), vw = w.to_vector(), vb = bias.to_vector(), vp = past.to_vector(),
                       got = y.to_vector(), win = window.to_vector();
    // x̄ = [past | x] along time; y[t] = b + Σ_k w[k]·x̄[t + k] (the first K−1 of x̄ are the past)
    auto xbar = [&](int64_t b, int64_t j, int64_t i) {  // j in [0, T + K − 1)
      return j >= K - 1 ? vx[size_t((b * T + j - (K - 1)) * I + i)] : with_past ? vp[size_t((b * I + i) * (K - 1) + j)] : 0.f;
    };
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < I; ++i) {
        for (int64_t t = 0; t < T; ++t) {
          double want = vb[size_t(i)];
          for (int64_t k = 0; k < K; ++k) want += vw[size_t(i * K + k)] * xbar(b, t + k, i);
          EXPECT_NEAR(got[size_t((b * T + t) * I + i)], want, 1e-5);
        }
        for (int64_t j = 0; j < K - 1; ++j) EXPECT_EQ(win[size_t((b * I + i) * (K - 1) + j)], xbar(b, T + j, i));
      }
  }
}

TEST(MambaConv, GradcheckOnEveryInput) {
  xla::Generator gen(15);
  std::vector<Tensor> inputs = {xla::randn({2, 5, 3}, gen), xla::randn({3, 4}, gen), xla::randn({3}, gen)};
  for (Tensor& t : inputs) xla::set_requires_grad(t, true);
  const Tensor past = xla::randn({2, 3, 3}, gen);
  for (bool with_past : {false, true}) {
    std::string report = xla::gradcheck(
        [&](const std::vector<Tensor>& v) { return xla::mamba::causal_conv1d(v[0], v[1], v[2], with_past ? past : Tensor()); },
        inputs, 1e-2, 1e-3, 1e-2);
    EXPECT_EQ(report, "") << "past " << with_past;
  }
}

// ---- training ----

namespace {

// Mean next-token cross-entropy of tokens [B, T] under the model.
Tensor lm_loss(const xla::Model& m, const Tensor& tokens) {
  const int64_t B = tokens.shape()[0], T = tokens.shape()[1];
  Tensor logits = m.forward(tokens.slice(1, 0, T - 1).contiguous());
  Tensor targets = tokens.slice(1, 1, T).contiguous().to(xla::DType::I64);
  return xla::ag::cross_entropy(xla::ag::reshape(logits, {B * (T - 1), m.vocab_size()}), targets.reshape({B * (T - 1)}));
}

// Adam (β 0.9, 0.999) over params, in place.
struct Adam {
  std::vector<Tensor> params, m, v;
  float lr;
  int step = 0;
  Adam(std::vector<Tensor> p, float lr_) : params(std::move(p)), lr(lr_) {
    for (Tensor& t : params) {
      m.push_back(Tensor::zeros(t.shape()));
      v.push_back(Tensor::zeros(t.shape()));
    }
  }
  void update() {
    ++step;
    const float c1 = 1.f - std::pow(0.9f, float(step)), c2 = 1.f - std::pow(0.999f, float(step));
    for (size_t k = 0; k < params.size(); ++k) {
      Tensor g = xla::grad(params[k]);
      if (!g.defined()) continue;
      std::vector<float> gv = g.to_vector();
      float *pm = m[k].data<float>(), *pv = v[k].data<float>(), *pp = params[k].data<float>();
      for (size_t i = 0; i < gv.size(); ++i) {
        pm[i] = 0.9f * pm[i] + 0.1f * gv[i];
        pv[i] = 0.999f * pv[i] + 0.001f * gv[i] * gv[i];
        pp[i] -= lr * (pm[i] / c1) / (std::sqrt(pv[i] / c2) + 1e-8f);
      }
      params[k].bump_version();
      xla::zero_grad(params[k]);
    }
  }
};

}  // namespace

TEST(MambaTraining, TinyModelOverfitsOneBatch) {
  xla::MambaModel m = tiny(21);
  std::vector<Tensor> params;
  for (auto& [name, t] : m.named_parameters()) {
    xla::set_requires_grad(*t, true);
    params.push_back(*t);
  }
  Adam opt(params, 1e-2f);
  float first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    Tensor loss = lm_loss(m, tiny_tokens());
    if (step == 0) first = loss.item();
    last = loss.item();
    xla::backward(loss);
    opt.update();
  }
  EXPECT_NEAR(first, std::log(32.f), 0.5f);  // a fresh model is near uniform
  EXPECT_LT(last, 0.1f) << "first " << first << ", last " << last;  // 3.6 → ~0.01 in 60 steps
  // every kind of weight received a gradient: the scan's inputs all reach the loss
  Tensor loss = lm_loss(m, tiny_tokens());
  xla::backward(loss);
  for (auto& [name, t] : m.named_parameters()) {
    Tensor g = xla::grad(*t);
    ASSERT_TRUE(g.defined()) << name;
    double norm = 0;
    for (float v : g.to_vector()) norm += double(v) * v;
    EXPECT_GT(norm, 0) << name;
  }
}

// The whole model's gradient by finite differences, on the weights the scan consumes.
TEST(MambaTraining, GradcheckThroughTheModel) {
  xla::MambaModel m = tiny(22);
  const Tensor in = I32({1, 5, 9, 30, 2}, {1, 5});
  std::vector<Tensor> inputs = {m.layers[0].A_log, m.layers[0].D, m.layers[1].dt_proj_bias, m.layers[1].conv_weight,
                                m.layers[0].norm};
  for (Tensor& t : inputs) xla::set_requires_grad(t, true);
  std::string report = xla::gradcheck(
      [&](const std::vector<Tensor>& v) {
        m.layers[0].A_log = v[0];
        m.layers[0].D = v[1];
        m.layers[1].dt_proj_bias = v[2];
        m.layers[1].conv_weight = v[3];
        m.layers[0].norm = v[4];
        return m.forward(in);
      },
      inputs, 1e-2, 2e-3, 2e-2);
  EXPECT_EQ(report, "");
}

// ---- LoRA ----

TEST(MambaLora, FreshAdaptersAreTheIdentityAndOnlyAdaptersGetGradients) {
  xla::MambaModel m = tiny(31);
  const std::vector<float> base = m.forward(tiny_tokens()).to_vector();
  m.add_lora(2, 4.f, {}, 5);
  EXPECT_EQ(m.forward(tiny_tokens()).to_vector(), base);  // B = 0: bit-identical
  std::vector<std::pair<std::string, Tensor*>> lp = m.lora_parameters();
  ASSERT_EQ(lp.size(), 2u * 4u * 2u);  // layers × targets × {A, B}
  EXPECT_EQ(lp[0].first, "backbone.layers.0.mixer.in_proj.lora_A.weight");
  EXPECT_EQ(lp[1].first, "backbone.layers.0.mixer.in_proj.lora_B.weight");
  EXPECT_EQ(lp.back().first, "backbone.layers.1.mixer.out_proj.lora_B.weight");
  xla::Generator gen(6);
  for (auto& [name, t] : lp)
    if (name.ends_with("lora_B.weight")) t->copy_(xla::randn(t->shape(), gen, 0.f, 0.1f));
  const std::vector<float> adapted = m.forward(tiny_tokens()).to_vector();
  EXPECT_NE(adapted, base);
  {
    xla::LoraDisabledGuard off(m);
    EXPECT_EQ(m.forward(tiny_tokens()).to_vector(), base);  // off: the base model exactly
  }
  xla::backward(xla::ag::sum(m.forward(tiny_tokens())));
  for (auto& [name, t] : m.named_parameters()) EXPECT_FALSE(xla::grad(*t).defined()) << name;
  for (auto& [name, t] : lp) {
    Tensor g = xla::grad(*t);
    ASSERT_TRUE(g.defined()) << name;
    double norm = 0;
    for (float v : g.to_vector()) norm += double(v) * v;
    EXPECT_GT(norm, 0) << name;
  }
  EXPECT_TRUE(contains(error_of([&] { tiny().add_lora(2, 1.f, {"q_proj"}); }, xla::Status::InvalidArg), "q_proj"));
  EXPECT_TRUE(contains(error_of([&] { m.add_lora(2, 1.f); }, xla::Status::InvalidArg), "already"));
}

TEST(MambaLora, GradcheckThroughAdapters) {
  xla::MambaModel m = tiny(33);
  m.add_lora(2, 2.f, {}, 4);
  xla::Generator gen(7);
  for (auto& [name, t] : m.lora_parameters())  // with B = 0 no gradient would reach A
    if (name.ends_with("lora_B.weight")) t->copy_(xla::randn(t->shape(), gen, 0.f, 0.3f));
  const Tensor in = I32({1, 5, 9, 30, 2}, {1, 5});
  std::vector<Tensor> inputs = {m.layers[0].in_lora.a, m.layers[0].in_lora.b, m.layers[1].x_lora.b,
                                m.layers[1].dt_lora.a, m.layers[1].out_lora.b};
  std::string report = xla::gradcheck(
      [&](const std::vector<Tensor>& v) {
        m.layers[0].in_lora = {v[0], v[1]};
        m.layers[1].x_lora.b = v[2];
        m.layers[1].dt_lora.a = v[3];
        m.layers[1].out_lora.b = v[4];
        return m.forward(in);
      },
      inputs, 1e-2, 2e-3, 2e-2);
  EXPECT_EQ(report, "");
}

TEST(MambaLora, CloneIsDeep) {
  xla::MambaModel m = tiny(32);
  m.add_lora(1, 1.f, {"x_proj"});
  xla::MambaModel c = m.clone();
  EXPECT_FALSE(c.layers[0].A_log.shares_storage(m.layers[0].A_log));
  EXPECT_FALSE(c.layers[0].x_lora.a.shares_storage(m.layers[0].x_lora.a));
  EXPECT_EQ(c.forward(tiny_tokens()).to_vector(), m.forward(tiny_tokens()).to_vector());
  c.layers[0].D.fill_(3.0);
  EXPECT_NE(c.forward(tiny_tokens()).to_vector(), m.forward(tiny_tokens()).to_vector());
}

// ---- the recurrent state ----

TEST(MambaState, ConstantSizeWhateverTheLength) {
  xla::MambaModel m = tiny(41);
  auto st = m.new_state(1000);
  EXPECT_EQ(st->nbytes(), 0u);
  m.forward(tiny_tokens().slice(1, 0, 2).contiguous(), st.get());
  const size_t after2 = st->nbytes();
  // per layer: conv window [B, I, K−1] and h [B, I, S], f32
  EXPECT_EQ(after2, size_t(2 * (2 * 32 * 2 + 2 * 32 * 4) * 4));
  for (int i = 0; i < 20; ++i) m.forward(tiny_tokens(), st.get());
  EXPECT_EQ(st->nbytes(), after2);
  EXPECT_EQ(st->length(), 2 + 20 * 9);
}

TEST(MambaState, StepByStepEqualsTheFullForwardAndCloneForks) {
  xla::MambaModel m = tiny(42);
  Tensor full = m.forward(tiny_tokens());  // [2, 9, 32]
  auto st = m.new_state();
  for (int64_t t = 0; t < 9; ++t) {
    Tensor step = m.forward(tiny_tokens().slice(1, t, t + 1).contiguous(), st.get());
    EXPECT_LE(max_abs_diff(step, full.slice(1, t, t + 1).contiguous()), 1e-5) << "position " << t;
    if (t == 4) {  // a fork continues independently: the same next step from both
      auto fork = st->clone();
      Tensor a = m.forward(tiny_tokens().slice(1, 5, 6).contiguous(), fork.get());
      EXPECT_LE(max_abs_diff(a, full.slice(1, 5, 6).contiguous()), 1e-5);
    }
  }
}

TEST(MambaState, FailedForwardLeavesTheStateAsItWas) {
  xla::MambaModel m = tiny(43);
  auto st = m.new_state();
  m.forward(tiny_tokens(), st.get());
  auto* ms = dynamic_cast<xla::MambaState*>(st.get());
  ASSERT_NE(ms, nullptr);
  auto snapshot = [&] {  // every tensor of the state, in order
    std::vector<std::vector<float>> out;
    for (size_t l = 0; l < ms->conv.size(); ++l) {
      out.push_back(ms->conv[l].to_vector());
      out.push_back(ms->ssm[l].to_vector());
    }
    return out;
  };
  const auto before = snapshot();
  // a token out of the vocabulary fails in the embedding; a batch of 3 does not fit a state of 2
  EXPECT_THROW(m.forward(I32({1, 99}, {2, 1}), st.get()), xla::Error);
  EXPECT_TRUE(contains(error_of([&] { m.forward(I32({1, 2, 3}, {3, 1}), st.get()); }, xla::Status::InvalidArg),
                       "holds 2 sequences"));
  // a failure in the second layer, after the first has run: the first layer's state is kept too
  xla::MambaModel broken = m;  // shares the weights but for one
  broken.layers[1].D = Tensor::zeros({5});
  EXPECT_TRUE(contains(error_of([&] { broken.forward(tiny_tokens(), st.get()); }, xla::Status::Shape), "D must be"));
  // no tokens at all
  EXPECT_TRUE(contains(error_of([&] { m.forward(Tensor::zeros({2, 0}, xla::DType::I32), st.get()); }, xla::Status::Shape),
                       "both at least 1"));
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(ms->length(), 9);
  // and it still continues the sequence as if nothing had happened
  xla::MambaModel fresh = m.clone();
  auto again = fresh.new_state();
  fresh.forward(tiny_tokens(), again.get());
  Tensor next = I32({4, 5}, {2, 1});
  EXPECT_EQ(m.forward(next, st.get()).to_vector(), fresh.forward(next, again.get()).to_vector());
}

TEST(MambaState, AStateOfAnotherKindOrShapeIsRefused) {
  struct OtherState final : xla::ModelState {
    int64_t length() const override { return 0; }
    size_t nbytes() const override { return 0; }
    std::unique_ptr<xla::ModelState> clone() const override { return std::make_unique<OtherState>(); }
  } other;
  xla::MambaModel m = tiny(44);
  EXPECT_TRUE(contains(error_of([&] { m.forward(tiny_tokens(), &other); }, xla::Status::InvalidArg), "MambaState"));
  // a state of a model with another width
  xla::MambaModel wide = xla::MambaModel::create(xla::MambaConfig::from_json(with(R"("hidden_size": 32, "intermediate_size": 64)")), 1);
  auto st = wide.new_state();
  wide.forward(tiny_tokens(), st.get());
  EXPECT_TRUE(contains(error_of([&] { m.forward(tiny_tokens(), st.get()); }, xla::Status::InvalidArg), "another shape"));
}
