// model.cpp — the Gemma decoder: embedding × √C, then per layer
//   h += [post_attn_norm](attention(rope(q), rope(k), v))        (pre-norm: input_layernorm)
//   h += [post_ffn_norm](mlp(pre_ffn_norm(h)))                    (Gemma 1: post_attention_layernorm)
// then the final norm, the (tied) head, and Gemma 2's final soft-cap. Gemma 3 adds q/k norms
// and a separate RoPE base for sliding-window layers. Bracketed norms are Gemma 2/3 only.
// LoRA adapters (lora.cpp) join the projections they target through models::project().
#include <cmath>
#include <cstring>
#include <map>

#include "adapters.hpp"
#include "weights.hpp"

namespace xla {

std::vector<std::pair<std::string, Tensor*>> GemmaModel::named_parameters() {
  std::vector<std::pair<std::string, Tensor*>> out;
  out.emplace_back("model.embed_tokens.weight", &embed_tokens);
  for (size_t i = 0; i < layers.size(); ++i) {
    GemmaLayer& L = layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "self_attn.q_proj.weight", &L.q_proj);
    out.emplace_back(p + "self_attn.k_proj.weight", &L.k_proj);
    out.emplace_back(p + "self_attn.v_proj.weight", &L.v_proj);
    out.emplace_back(p + "self_attn.o_proj.weight", &L.o_proj);
    if (config.version == 3) {
      out.emplace_back(p + "self_attn.q_norm.weight", &L.q_norm);
      out.emplace_back(p + "self_attn.k_norm.weight", &L.k_norm);
    }
    out.emplace_back(p + "mlp.gate_proj.weight", &L.gate_proj);
    out.emplace_back(p + "mlp.up_proj.weight", &L.up_proj);
    out.emplace_back(p + "mlp.down_proj.weight", &L.down_proj);
    out.emplace_back(p + "input_layernorm.weight", &L.input_layernorm);
    out.emplace_back(p + "post_attention_layernorm.weight", &L.post_attention_layernorm);
    if (config.version >= 2) {
      out.emplace_back(p + "pre_feedforward_layernorm.weight", &L.pre_feedforward_layernorm);
      out.emplace_back(p + "post_feedforward_layernorm.weight", &L.post_feedforward_layernorm);
    }
  }
  out.emplace_back("model.norm.weight", &norm);
  if (!config.tie_word_embeddings) out.emplace_back("lm_head.weight", &lm_head);
  return out;
}

void check_gemma_weight_dtype(DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16 && dtype != DType::Q8)
    fail(Status::DType, std::string("Gemma weights are f32, bf16 or q8, not ") + dtype_name(dtype));
}

DType weight_storage(DType requested, const Shape& shape) {
  if (requested != DType::Q8) return requested;
  // 8 bits for the matrices (every projection, the embedding and head); norms stay f32
  return shape.size() == 2 && shape[1] % 32 == 0 ? DType::Q8 : DType::F32;
}

// The shape every named weight must have under `c`.
Shape expected_shape(const GemmaConfig& c, const std::string& name) {
  const int64_t C = c.hidden_size, D = c.head_dim, H = c.num_heads, KVH = c.num_kv_heads, I = c.intermediate_size;
  auto ends = [&](const char* s) { return name.size() >= strlen(s) && name.compare(name.size() - strlen(s), strlen(s), s) == 0; };
  if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return {c.vocab_size, C};
  if (ends("q_proj.weight")) return {H * D, C};
  if (ends("k_proj.weight") || ends("v_proj.weight")) return {KVH * D, C};
  if (ends("o_proj.weight")) return {C, H * D};
  if (ends("gate_proj.weight") || ends("up_proj.weight")) return {I, C};
  if (ends("down_proj.weight")) return {C, I};
  if (ends("q_norm.weight") || ends("k_norm.weight")) return {D};
  return {C};  // the layer norms and model.norm
}

GemmaModel GemmaModel::create(const GemmaConfig& config, uint64_t seed, DType dtype) {
  check_gemma_weight_dtype(dtype);
  GemmaModel m;
  m.config = config;
  m.layers.resize(size_t(config.num_layers));
  Generator gen(seed);
  for (auto& [name, t] : m.named_parameters()) {
    Shape s = expected_shape(config, name);
    // matrices ~ N(0, 0.02²) as HF's initializer_range; norms start at w = 0, i.e. scale 1 + w = 1
    Tensor w = s.size() == 2 ? randn(s, gen, 0.f, 0.02f) : Tensor::zeros(s);
    const DType stored = weight_storage(dtype, s);
    if (stored != DType::F32) {
      *t = w.to(stored);
      w = Tensor();
      release_cached_memory();  // the f32 draw is garbage: give it back before the next one
    } else {
      *t = w;
    }
  }
  models::gather_weights(m);
  return m;
}

KVCache GemmaModel::new_cache(int64_t capacity) const {
  std::vector<int64_t> windows(layers.size(), 0);
  for (size_t l = 0; l < layers.size(); ++l)
    if (config.sliding[l]) windows[l] = config.sliding_window;
  return KVCache(std::move(windows), capacity);
}

using models::project;

// The KV cache a state must be for this model (nullptr for none).
static KVCache* cache_of(ModelState* state) {
  if (!state) return nullptr;
  auto* cache = dynamic_cast<KVCache*>(state);
  if (!cache) fail(Status::InvalidArg, "forward: the state was made by another kind of model (a Gemma model needs a KV cache)");
  return cache;
}

Tensor GemmaModel::cached_layers(Tensor h, ModelState* state, std::vector<Tensor>* hidden) const {
  KVCache* cache = cache_of(state);
  if (!h.defined() || h.ndim() != 3)
    fail(Status::Shape, "forward: the residual stream must be [batch, seq_len, hidden], got " +
                            (h.defined() ? h.shape().str() : "none"));
  const int64_t T = h.shape()[1];
  const int64_t start = cache ? cache->length() : 0;
  if (cache && cache->num_layers() != int64_t(layers.size()))
    fail(Status::InvalidArg, "forward: the cache belongs to another model");
  KVCache::Transaction extension(cache);  // the cache grows by T only if the whole forward succeeds
  Tensor positions = arange(double(start), double(start + T), 1.0, DType::I64);
  const float scale = 1.f / std::sqrt(config.query_pre_attn_scalar);
  auto attend = [&](int64_t l, const Tensor& q, const Tensor& k, const Tensor& v) {
    if (cache) {  // attend over the cached past and the new tokens
      const bool differentiable = is_grad_enabled() && (requires_grad(q) || requires_grad(k) || requires_grad(v));
      KVCache::Span span = cache->append(l, k, v, differentiable);
      return nn::attention(q, span.k, span.v, span.allowed, scale, config.attn_softcap);
    }
    const int64_t window = config.sliding[size_t(l)] ? config.sliding_window : 0;
    return nn::attention(q, k, v, nn::attention_mask(positions, positions, window), scale, config.attn_softcap);
  };
  h = layers_forward(std::move(h), positions, attend, hidden);
  extension.done();
  return h;
}

Tensor GemmaModel::final_hidden(const Tensor& tokens, ModelState* state, std::vector<Tensor>* hidden, bool last_only) const {
  cache_of(state);  // a state of another model is named before anything runs
  Tensor h = cached_layers(embed(tokens), state, hidden);
  const int64_t T = h.shape()[1];
  if (last_only && !hidden) h = ag::slice(h, 1, T - 1, T);
  h = nn::rms_norm(h, norm, config.rms_norm_eps);
  if (hidden) hidden->push_back(h);
  if (last_only && hidden) h = ag::slice(h, 1, T - 1, T);
  return h;
}

Tensor GemmaModel::decoder(const Tensor& tokens, const Tensor& positions, const AttentionFn& attend,
                           std::vector<Tensor>* hidden) const {
  return layers_forward(embed(tokens), positions, attend, hidden);
}

float GemmaModel::embedding_normalizer() const {
  const float normalizer = std::sqrt(float(config.hidden_size));
  return embed_tokens.dtype() == DType::BF16 ? bf16_to_f32(f32_to_bf16(normalizer)) : normalizer;
}

void check_tokens(const Tensor& tokens) {
  if (!tokens.defined() || tokens.ndim() != 2)
    fail(Status::Shape, "forward: tokens must be [batch, seq_len], got " + (tokens.defined() ? tokens.shape().str() : "none"));
  if (tokens.dtype() != DType::I32 && tokens.dtype() != DType::I64)
    fail(Status::DType, std::string("forward: tokens must be i32 or i64, got ") + dtype_name(tokens.dtype()));
}

Tensor GemmaModel::embed(const Tensor& tokens) const {
  check_tokens(tokens);
  // embedding × √C, with √C rounded to the weights' dtype as the reference does
  return ag::mul(models::widened(ag::embedding(embed_tokens, tokens)), Tensor::scalar(embedding_normalizer()));
}

Tensor GemmaModel::layers_forward(Tensor h, const Tensor& positions, const AttentionFn& attend,
                                  std::vector<Tensor>* hidden) const {
  const GemmaConfig& c = config;
  const int64_t B = h.shape()[0], T = h.shape()[1];
  const int64_t H = c.num_heads, KVH = c.num_kv_heads, D = c.head_dim;
  if (!positions.defined() || !(positions.shape() == Shape{T}))
    fail(Status::Shape, "forward: positions must be [" + std::to_string(T) + "]");
  if (hidden) hidden->assign(1, h);

  std::map<std::pair<double, double>, nn::RopeTables> ropes;  // one table per (base, scaling)
  auto rope_for = [&](double base, double scaling) -> const nn::RopeTables& {
    auto key = std::make_pair(base, scaling);
    auto it = ropes.find(key);
    if (it == ropes.end()) it = ropes.emplace(key, nn::rope_tables(positions, D, base, scaling)).first;
    return it->second;
  };
  const bool exact_gelu = c.hidden_activation == "gelu";
  const bool lora_on = lora_enabled && has_lora();
  const float lora_s = lora_scaling();

  for (size_t l = 0; l < layers.size(); ++l) {
    const GemmaLayer& L = layers[l];
    // ---- attention ----
    Tensor x = nn::rms_norm(h, L.input_layernorm, c.rms_norm_eps);
    auto heads = [&](const Tensor& t, int64_t n) {  // [B, T, n·D] → [B, n, T, D]
      return ag::permute(ag::reshape(t, {B, T, n, D}), {0, 2, 1, 3});
    };
    Tensor q, k, v;
    if (lora_on && (L.q_lora.defined() || L.k_lora.defined() || L.v_lora.defined())) {
      q = heads(project(x, L.q_proj, L.q_lora, true, lora_s), H);
      k = heads(project(x, L.k_proj, L.k_lora, true, lora_s), KVH);
      v = heads(project(x, L.v_proj, L.v_lora, true, lora_s), KVH);
    } else {  // one input, three weights: one pass over the cores in a decode step
      std::vector<Tensor> qkv = nn::linears(x, {L.q_proj, L.k_proj, L.v_proj});
      q = heads(qkv[0], H), k = heads(qkv[1], KVH), v = heads(qkv[2], KVH);
    }
    if (c.version == 3) {
      q = nn::rms_norm(q, L.q_norm, c.rms_norm_eps);
      k = nn::rms_norm(k, L.k_norm, c.rms_norm_eps);
    }
    const bool local_rope = c.version == 3 && c.sliding[l] != 0;
    const nn::RopeTables& rope = rope_for(local_rope ? c.rope_local_base : c.rope_theta, local_rope ? 1.0 : c.rope_scaling);
    q = nn::apply_rope(q, rope);
    k = nn::apply_rope(k, rope);
    Tensor attn = attend(int64_t(l), q, k, v);
    attn = project(ag::reshape(ag::permute(attn, {0, 2, 1, 3}), {B, T, H * D}), L.o_proj, L.o_lora, lora_on, lora_s);
    if (c.version >= 2) attn = nn::rms_norm(attn, L.post_attention_layernorm, c.rms_norm_eps);
    h = ag::add(h, attn);
    // ---- feed-forward ----
    Tensor y = nn::rms_norm(h, c.version == 1 ? L.post_attention_layernorm : L.pre_feedforward_layernorm, c.rms_norm_eps);
    Tensor m;
    if (lora_on && (L.gate_lora.defined() || L.up_lora.defined() || L.down_lora.defined())) {
      Tensor g = project(y, L.gate_proj, L.gate_lora, true, lora_s), u = project(y, L.up_proj, L.up_lora, true, lora_s);
      m = project(exact_gelu ? ag::mul(ag::gelu(g), u) : nn::gelu_tanh_mul(g, u), L.down_proj, L.down_lora, true, lora_s);
    } else {
      m = exact_gelu ? nn::linear(ag::mul(ag::gelu(nn::linear(y, L.gate_proj)), nn::linear(y, L.up_proj)), L.down_proj)
                     : nn::geglu_mlp(y, L.gate_proj, L.up_proj, L.down_proj);
    }
    if (c.version >= 2) m = nn::rms_norm(m, L.post_feedforward_layernorm, c.rms_norm_eps);
    h = ag::add(h, m);
    if (hidden) hidden->push_back(h);
  }
  return h;
}

Tensor GemmaModel::forward(const Tensor& tokens, ModelState* state, std::vector<Tensor>* hidden, bool last_only) const {
  Tensor logits = nn::linear(final_hidden(tokens, state, hidden, last_only), head_weight());
  if (config.final_softcap > 0) logits = nn::softcap(logits, config.final_softcap);
  return logits;
}

}  // namespace xla
