// gemma.hpp — Gemma 1, 2 and 3 text models: config, weights, forward with an optional KV
// cache, loading from and saving to Hugging Face folders, random initialisation.
// The math follows Google's reference (gemma_pytorch); see docs/gemma.md for what differs
// between the three generations.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "xla/nn.hpp"

namespace xla {

struct GemmaConfig {
  int version = 1;  // 1, 2 or 3 (model_type gemma / gemma2 / gemma3_text)
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 10000.0;        // global layers (all layers before Gemma 3)
  double rope_local_base = 10000.0;   // Gemma 3 sliding-window layers
  double rope_scaling = 1.0;          // linear factor on global layers
  float query_pre_attn_scalar = 0;    // scores scale = this^-½ (Gemma 1: head_dim)
  float attn_softcap = 0, final_softcap = 0;  // 0 = off
  int64_t sliding_window = 0;
  std::vector<uint8_t> sliding;       // per layer: 1 = sliding-window attention
  bool tie_word_embeddings = true;
  int32_t bos_token_id = 2, eos_token_id = 1, pad_token_id = 0;
  std::string hidden_activation = "gelu_pytorch_tanh";

  // Parses Hugging Face config.json text. Unknown model types, unknown keys, missing or
  // inconsistent values are Status::Format errors naming the key.
  static GemmaConfig from_json(const std::string& text);
  std::string to_json() const;  // config.json text that from_json reads back
};

// One decoder layer's weights, named as Hugging Face names them (model.layers.N.<field>).
struct GemmaLayer {
  Tensor q_proj, k_proj, v_proj, o_proj;          // [H·D, C], [KVH·D, C], [KVH·D, C], [C, H·D]
  Tensor gate_proj, up_proj, down_proj;            // [I, C], [I, C], [C, I]
  Tensor input_layernorm, post_attention_layernorm;  // [C]
  Tensor pre_feedforward_layernorm, post_feedforward_layernorm;  // [C], Gemma 2/3
  Tensor q_norm, k_norm;                            // [D], Gemma 3
};

// Keys and values of past positions, per layer. Sliding-window layers keep only their
// window; positions are absolute, so RoPE'd keys stay valid as the cache moves.
struct KVCache {
  std::vector<Tensor> k, v;    // per layer [B, KVH, S_layer, D]
  std::vector<Tensor> pos;     // per layer i64 [S_layer]
  int64_t length = 0;          // tokens seen so far (the next position)
};

class GemmaModel {
 public:
  GemmaConfig config;
  Tensor embed_tokens;  // [V, C]
  std::vector<GemmaLayer> layers;
  Tensor norm;          // [C]
  Tensor lm_head;       // [V, C]; undefined when tied to embed_tokens

  // dtype: the dtype weights are kept in (F32, or BF16 to halve memory: compute stays f32).
  static GemmaModel load(const std::string& dir, DType dtype = DType::F32);
  static GemmaModel create(const GemmaConfig& config, uint64_t seed, DType dtype = DType::F32);
  void save(const std::string& dir) const;

  // Every weight with its Hugging Face name, for optimizers and checkpoints.
  std::vector<std::pair<std::string, Tensor*>> named_parameters();

  // tokens: i32/i64 [B, T] → logits f32 [B, T, V]. With a cache, the tokens continue it
  // (positions cache->length …) and the cache is extended. hidden (optional) receives the
  // residual stream: embedding, after each layer, after the final norm ([B, T, C] each).
  // Differentiable when grad mode is on and weights require grad. last_only: logits of the
  // last position only ([B, 1, V]) — what generation needs; the LM head is most of the
  // FLOPs of a prefill (262,144 × 640 per token for Gemma 3 270M).
  Tensor forward(const Tensor& tokens, KVCache* cache = nullptr, std::vector<Tensor>* hidden = nullptr,
                 bool last_only = false) const;
  // forward without the LM head: the residual stream after the final norm, [B, T, C]
  // (what a chunked loss multiplies by head_weight() itself, never holding all the logits).
  Tensor final_hidden(const Tensor& tokens, KVCache* cache = nullptr, std::vector<Tensor>* hidden = nullptr,
                      bool last_only = false) const;
  // The LM head's weight [V, C]: embed_tokens when tied.
  const Tensor& head_weight() const { return config.tie_word_embeddings ? embed_tokens : lm_head; }
  KVCache new_cache() const;
  int64_t vocab_size() const { return config.vocab_size; }
};

}  // namespace xla
