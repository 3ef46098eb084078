// model.cpp — the Mamba forward (transformers' MambaMixer slow path): embedding, then per layer
//   h += out_proj(scan(silu(conv(x)), dt, A, B, C, D) ⊙ silu(z)),  [x, z] = in_proj(rmsnorm(h))
// then the final norm and the (tied) head. No positions and no embedding scale. Also the
// weight names and shapes, and random initialisation. The kernels are in scan.cpp.
#include <cmath>
#include <cstring>

#include "adapters.hpp"
#include "scan.hpp"
#include "shapes.hpp"

namespace xla {

std::vector<std::pair<std::string, Tensor*>> MambaModel::named_parameters() {
  std::vector<std::pair<std::string, Tensor*>> out;
  out.emplace_back("backbone.embeddings.weight", &embeddings);
  for (size_t i = 0; i < layers.size(); ++i) {
    MambaLayer& L = layers[i];
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "norm.weight", &L.norm);
    out.emplace_back(p + "mixer.in_proj.weight", &L.in_proj);
    if (config.use_bias) out.emplace_back(p + "mixer.in_proj.bias", &L.in_proj_bias);
    out.emplace_back(p + "mixer.conv1d.weight", &L.conv_weight);
    if (config.use_conv_bias) out.emplace_back(p + "mixer.conv1d.bias", &L.conv_bias);
    out.emplace_back(p + "mixer.x_proj.weight", &L.x_proj);
    out.emplace_back(p + "mixer.dt_proj.weight", &L.dt_proj);
    out.emplace_back(p + "mixer.dt_proj.bias", &L.dt_proj_bias);
    out.emplace_back(p + "mixer.A_log", &L.A_log);
    out.emplace_back(p + "mixer.D", &L.D);
    out.emplace_back(p + "mixer.out_proj.weight", &L.out_proj);
    if (config.use_bias) out.emplace_back(p + "mixer.out_proj.bias", &L.out_proj_bias);
  }
  out.emplace_back("backbone.norm_f.weight", &norm_f);
  if (!config.tie_word_embeddings) out.emplace_back("lm_head.weight", &lm_head);
  return out;
}

Shape expected_shape(const MambaConfig& c, const std::string& name) {
  const int64_t C = c.hidden_size, I = c.intermediate_size, S = c.state_size, R = c.time_step_rank;
  auto ends = [&](const char* s) { return name.size() >= strlen(s) && name.compare(name.size() - strlen(s), strlen(s), s) == 0; };
  if (name == "backbone.embeddings.weight" || name == "lm_head.weight") return {c.vocab_size, C};
  if (ends("in_proj.weight")) return {2 * I, C};
  if (ends("in_proj.bias")) return {2 * I};
  if (ends("conv1d.weight")) return {I, 1, c.conv_kernel};
  if (ends("x_proj.weight")) return {R + 2 * S, I};
  if (ends("dt_proj.weight")) return {I, R};
  if (ends("A_log")) return {I, S};
  if (ends("out_proj.weight")) return {C, I};
  if (ends("conv1d.bias") || ends("dt_proj.bias") || ends("mixer.D")) return {I};
  return {C};  // the norms and out_proj.bias
}

// As transformers' MambaPreTrainedModel: A_log = log(1 … S) per channel, D = 1, dt_proj's
// bias the inverse softplus of a dt drawn log-uniformly in [time_step_min, time_step_max]
// (floored), dt_proj's weight U(±R^-½·time_step_scale), embeddings N(0, initializer_range²),
// norms 1, other biases 0; the other matrices and the conv PyTorch's default U(±1/√fan_in)
// (out_proj divided by √layers under rescale_prenorm_residual).
MambaModel MambaModel::create(const MambaConfig& config, uint64_t seed, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(Status::DType, std::string("model weights are f32 or bf16, not ") + dtype_name(dtype));
  MambaModel m;
  m.config = config;
  m.layers.resize(size_t(config.num_layers));
  Generator gen(seed);
  const int64_t I = config.intermediate_size, S = config.state_size;
  for (auto& [key, t] : m.named_parameters()) {
    const std::string& name = key;  // a plain reference: clang 14 cannot capture a binding
    const Shape s = expected_shape(config, name);
    auto ends = [&](const char* suffix) { return name.ends_with(suffix); };
    Tensor w;
    if (ends("embeddings.weight") || name == "lm_head.weight") {
      w = randn(s, gen, 0.f, float(config.initializer_range));
    } else if (ends("norm.weight") || ends("norm_f.weight") || ends("mixer.D")) {
      w = full(s, 1.0);
    } else if (ends("A_log")) {
      std::vector<float> v(size_t(I * S));
      for (int64_t i = 0; i < I; ++i)
        for (int64_t k = 0; k < S; ++k) v[size_t(i * S + k)] = std::log(float(k + 1));
      w = Tensor::from_vector(v, s);
    } else if (ends("dt_proj.weight")) {
      const float std_ = float(std::pow(double(config.time_step_rank), -0.5) * config.time_step_scale);
      w = config.time_step_init_scheme == "constant" ? full(s, std_) : rand(s, gen, -std_, std_);
    } else if (ends("dt_proj.bias")) {
      std::vector<float> u = rand(s, gen, 0.f, 1.f).to_vector();
      const double lo = std::log(config.time_step_min), hi = std::log(config.time_step_max);
      for (float& v : u) {
        const double dt = std::max(std::exp(double(v) * (hi - lo) + lo), config.time_step_floor);
        v = float(dt + std::log(-std::expm1(-dt)));  // softplus⁻¹(dt)
      }
      w = Tensor::from_vector(u, s);
    } else if (ends("conv1d.weight") || ends("conv1d.bias")) {
      const float bound = float(1.0 / std::sqrt(double(config.conv_kernel)));
      w = rand(s, gen, -bound, bound);
    } else if (ends(".bias")) {
      w = Tensor::zeros(s);
    } else {  // in_proj, x_proj, out_proj
      float bound = float(1.0 / std::sqrt(double(s[1])));
      if (config.rescale_prenorm_residual && ends("out_proj.weight")) bound /= float(std::sqrt(double(config.num_layers)));
      w = rand(s, gen, -bound, bound);
    }
    *t = dtype == DType::F32 ? w : w.to(dtype);
  }
  models::gather_weights(m);
  return m;
}

std::unique_ptr<ModelState> MambaModel::new_state(int64_t) const { return std::make_unique<MambaState>(); }

namespace {

using models::project;
using models::widened;

// Mamba's RMSNorm: x · rsqrt(mean(x²) + eps) · w over the last axis (w itself, where Gemma
// has 1 + w).
Tensor rms_norm(const Tensor& x, const Tensor& w, float eps) {
  Tensor ms = ag::mean(ag::mul(x, x), {-1}, true);
  return ag::mul(ag::mul(x, ag::rsqrt(ag::add(ms, Tensor::scalar(eps)))), widened(w));
}

// The state a forward must use (nullptr for none), checked against this model and batch.
MambaState* state_of(ModelState* state, const MambaModel& m, int64_t batch) {
  if (!state) return nullptr;
  auto* st = dynamic_cast<MambaState*>(state);
  if (!st) fail(Status::InvalidArg, "forward: the state was made by another kind of model (a Mamba model needs a MambaState)");
  if (st->batch == 0) return st;
  if (st->batch != batch)
    fail(Status::InvalidArg, "forward: the state holds " + std::to_string(st->batch) + " sequences, the tokens " +
                                 std::to_string(batch));
  const MambaConfig& c = m.config;
  const bool fits = st->conv.size() == m.layers.size() && st->ssm.size() == m.layers.size() &&
                    st->conv[0].shape() == Shape{batch, c.intermediate_size, c.conv_kernel - 1} &&
                    st->ssm[0].shape() == Shape{batch, c.intermediate_size, c.state_size};
  if (!fits) fail(Status::InvalidArg, "forward: the state belongs to a Mamba model of another shape");
  return st;
}

}  // namespace

Tensor MambaModel::final_hidden(const Tensor& tokens, ModelState* state, std::vector<Tensor>* hidden, bool last_only) const {
  const MambaConfig& c = config;
  if (!tokens.defined() || tokens.ndim() != 2 || tokens.shape()[0] < 1 || tokens.shape()[1] < 1)
    fail(Status::Shape, "forward: tokens must be [batch, seq_len], both at least 1, got " +
                            (tokens.defined() ? tokens.shape().str() : "none"));
  if (tokens.dtype() != DType::I32 && tokens.dtype() != DType::I64)
    fail(Status::DType, std::string("forward: tokens must be i32 or i64, got ") + dtype_name(tokens.dtype()));
  const int64_t B = tokens.shape()[0], T = tokens.shape()[1], I = c.intermediate_size, S = c.state_size;
  const int64_t R = c.time_step_rank;
  MambaState* st = state_of(state, *this, B);
  const bool continues = st && st->batch != 0;
  // the state after these tokens, assigned only once everything has succeeded
  std::vector<Tensor> next_conv(st ? layers.size() : 0), next_ssm(st ? layers.size() : 0);
  const bool lora_on = lora_enabled && has_lora();
  const float lora_s = lora_scaling();

  Tensor h = widened(ag::embedding(embeddings, tokens));  // [B, T, C]
  if (hidden) hidden->assign(1, h);
  for (size_t l = 0; l < layers.size(); ++l) {
    const MambaLayer& L = layers[l];
    Tensor u = rms_norm(h, L.norm, c.layer_norm_epsilon);
    std::vector<Tensor> xz = ag::split(project(u, L.in_proj, L.in_lora, lora_on, lora_s, L.in_proj_bias), {I, I}, -1);
    // x, z [B, T, I]
    Tensor x = mamba::causal_conv1d(xz[0], ag::reshape(widened(L.conv_weight), {I, c.conv_kernel}), widened(L.conv_bias),
                                    continues ? st->conv[l] : Tensor(), st ? &next_conv[l] : nullptr);
    x = ag::silu(x);
    // dt [B, T, R], B and C [B, T, S]
    std::vector<Tensor> dbc = ag::split(project(x, L.x_proj, L.x_lora, lora_on, lora_s), {R, S, S}, -1);
    Tensor dt = project(dbc[0], L.dt_proj, L.dt_lora, lora_on, lora_s, L.dt_proj_bias);  // [B, T, I], before softplus
    Tensor A = ag::neg(ag::exp(widened(L.A_log)));                                              // [I, S]
    Tensor y = mamba::selective_scan(x, dt, A, dbc[1], dbc[2], widened(L.D), continues ? st->ssm[l] : Tensor(),
                                     st ? &next_ssm[l] : nullptr);
    y = ag::mul(y, ag::silu(xz[1]));
    h = ag::add(h, project(y, L.out_proj, L.out_lora, lora_on, lora_s, L.out_proj_bias));
    if (hidden) hidden->push_back(h);
  }
  if (last_only && !hidden) h = ag::slice(h, 1, T - 1, T);
  h = rms_norm(h, norm_f, c.layer_norm_epsilon);
  if (hidden) hidden->push_back(h);
  if (last_only && hidden) h = ag::slice(h, 1, T - 1, T);
  if (st) {
    st->conv = std::move(next_conv);
    st->ssm = std::move(next_ssm);
    st->batch = B;
    st->seen += T;
  }
  return h;
}

Tensor MambaModel::forward(const Tensor& tokens, ModelState* state, std::vector<Tensor>* hidden, bool last_only) const {
  return nn::linear(final_hidden(tokens, state, hidden, last_only), head_weight());
}

}  // namespace xla
