// gemma.hpp — Gemma 1, 2 and 3 text models: config, weights, forward with an optional KV
// cache, loading from and saving to Hugging Face folders, random initialisation.
// The math follows Google's reference (gemma_pytorch); see docs/gemma.md for what differs
// between the three generations.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xla/kv_cache.hpp"
#include "xla/model.hpp"
#include "xla/nn.hpp"

namespace xla {

struct GemmaConfig {
  int version = 1;  // 1, 2 or 3 (model_type gemma / gemma2 / gemma3_text)
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 8192;  // the context length (the serving engine's limit)
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
  // LoRA adapters, empty unless GemmaModel::add_lora made them (PEFT names:
  // model.layers.N.self_attn.q_proj.lora_A.weight, model.layers.N.mlp.gate_proj.lora_B.weight, …)
  LoraAdapter q_lora, k_lora, v_lora, o_lora, gate_lora, up_lora, down_lora;
};

// Copying a GemmaModel copies tensor handles: the copy shares the weights (see clone()).
class GemmaModel : public Model {
 public:
  GemmaConfig config;
  Tensor embed_tokens;  // [V, C]
  std::vector<GemmaLayer> layers;
  Tensor norm;          // [C]
  Tensor lm_head;       // [V, C]; undefined when tied to embed_tokens

  // LoRA (see docs/dpo.md, "LoRA inside the model"): the adapters join the projections they
  // target while lora_enabled (Model's flags); lora_enabled off gives the base model exactly
  // — the same operations as a model without adapters — which is how DPO scores its
  // reference without holding a second model (LoraDisabledGuard).

  // dtype: the dtype weights are kept in (F32, or BF16 to halve memory: compute stays f32).
  static GemmaModel load(const std::string& dir, DType dtype = DType::F32);
  static GemmaModel create(const GemmaConfig& config, uint64_t seed, DType dtype = DType::F32);
  // config.json + model.safetensors: the base weights (LoRA adapters are saved by training
  // checkpoints, adapters.safetensors — see trainer.hpp).
  void save(const std::string& dir) const override;

  // Every base weight with its Hugging Face name, for optimizers and checkpoints. LoRA
  // adapters are not among them (see lora_parameters): a base model's files never change.
  std::vector<std::pair<std::string, Tensor*>> named_parameters() override;

  // A deep copy: every tensor (adapters included) copied into fresh storage, none requiring
  // grad. What DPO's frozen reference is made of.
  GemmaModel clone() const;
  std::unique_ptr<Model> clone_model() const override { return std::make_unique<GemmaModel>(clone()); }

  // Adds a LoRA adapter to the projections named in `targets` (any of q_proj k_proj v_proj
  // o_proj gate_proj up_proj down_proj; empty: all of them) in every layer: A [rank, in]
  // Kaiming-uniform as nn::LoraLinear draws it (from a generator seeded by seed, layer and
  // target), B [out, rank] zeros; f32, requiring grad. The model is unchanged until B moves.
  // Throws Status::InvalidArg for rank < 1, alpha <= 0, an unknown or repeated target, or a
  // model that already has adapters.
  void add_lora(int64_t rank, float alpha, const std::vector<std::string>& targets = {}, uint64_t seed = 0) override;
  std::vector<std::string> lora_targets() const override;
  // The adapters with PEFT-style names ("model.layers.N.self_attn.q_proj.lora_A.weight",
  // "….lora_B.weight"), layer by layer, A before B; empty without adapters.
  std::vector<std::pair<std::string, Tensor*>> lora_parameters() override;

  // tokens: i32/i64 [B, T] → logits f32 [B, T, V]. The state, when given, is a KVCache (from
  // new_cache or new_state): the tokens continue it (positions cache->length() …) and the
  // cache is extended — only if the forward succeeds: one that throws leaves the cache as it
  // was. hidden (optional) receives the residual stream: embedding, after each layer, after
  // the final norm ([B, T, C] each). Differentiable when grad mode is on and weights require
  // grad. last_only: logits of the last position only ([B, 1, V]) — what generation needs;
  // the LM head is most of the FLOPs of a prefill (262,144 × 640 per token for Gemma 3 270M).
  Tensor forward(const Tensor& tokens, ModelState* state = nullptr, std::vector<Tensor>* hidden = nullptr,
                 bool last_only = false) const override;
  Tensor final_hidden(const Tensor& tokens, ModelState* state = nullptr, std::vector<Tensor>* hidden = nullptr,
                      bool last_only = false) const override;
  // A one-token step over a KV cache state, compiled per span of the cache (decode_step.cpp).
  std::unique_ptr<DecodeStep> compile_decode(ModelState* state) const override;
  // The decoder with attention left to the caller: what forward() and the serving engine
  // (paged attention over many sequences) share. tokens [B, T] at `positions` (i64 [T], the
  // RoPE angles); attend(layer, q, k, v) receives the new tokens' queries [B, H, T, D] and
  // keys and values [B, KVH, T, D] after RoPE (and Gemma 3's q/k norms) and returns the
  // attention output [B, H, T, D]. Returns the residual stream after the last layer, before
  // the final norm, [B, T, C]; hidden as in forward(), without the final norm's entry.
  using AttentionFn = std::function<Tensor(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v)>;
  Tensor decoder(const Tensor& tokens, const Tensor& positions, const AttentionFn& attend,
                 std::vector<Tensor>* hidden = nullptr) const;
  // The decoder in its parts, for a pipeline whose stages hold some of the layers (pipeline.hpp):
  // embed() is the embedding × √C of tokens [B, T] → [B, T, C]; the normalizer is √C rounded to
  // the weights' dtype as the reference does; layers_forward() runs this model's layers over a residual
  // stream h [B, T, C] (decoder() = layers_forward(embed(tokens))), hidden receiving h after each layer;
  // cached_layers() is layers_forward() attending over a KV cache state as forward() does (extended
  // only if it succeeds), without the final norm.
  Tensor embed(const Tensor& tokens) const;
  float embedding_normalizer() const;
  Tensor layers_forward(Tensor h, const Tensor& positions, const AttentionFn& attend,
                        std::vector<Tensor>* hidden = nullptr) const;
  Tensor cached_layers(Tensor h, ModelState* state, std::vector<Tensor>* hidden = nullptr) const;
  // The LM head's weight [V, C]: embed_tokens when tied.
  const Tensor& head_weight() const override { return config.tie_word_embeddings ? embed_tokens : lm_head; }
  float final_softcap() const override { return config.final_softcap; }
  // An empty cache for this model: sliding-window layers as rings of sliding_window slots,
  // global layers with room for `capacity` tokens before they grow (0: grow as needed).
  KVCache new_cache(int64_t capacity = 0) const;
  std::unique_ptr<ModelState> new_state(int64_t capacity = 0) const override {
    return std::make_unique<KVCache>(new_cache(capacity));
  }

  std::string architecture() const override { return "gemma"; }
  int64_t vocab_size() const override { return config.vocab_size; }
  int64_t hidden_size() const override { return config.hidden_size; }
  int64_t context_length() const override { return config.max_position_embeddings; }
  SpecialTokens special_tokens() const override {
    return {config.bos_token_id, config.eos_token_id, config.pad_token_id};
  }
  std::string config_json() const override { return config.to_json(); }
};

}  // namespace xla
