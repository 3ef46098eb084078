// mamba.hpp — Mamba (v1) language models, Hugging Face's MambaForCausalLM: config, weights,
// a forward that continues a fixed-size recurrent state, loading from and saving to Hugging
// Face folders, random initialisation, LoRA. No attention and no positions: each layer is a
// gated causal conv followed by a selective state-space scan. See docs/mamba.md.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xla/model.hpp"
#include "xla/nn.hpp"

namespace xla {

struct MambaConfig {
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0;  // V, C, layers
  int64_t state_size = 16;       // S: the SSM state per channel
  int64_t expand = 2;            // I = expand · C
  int64_t intermediate_size = 0; // I, the mixer's channels
  int64_t conv_kernel = 4;       // K: the causal conv's width
  int64_t time_step_rank = 0;    // R: dt's low rank ("auto" in config.json: ⌈C / 16⌉)
  float layer_norm_epsilon = 1e-5f;
  bool use_bias = false;         // in_proj and out_proj biases
  bool use_conv_bias = true;     // conv1d bias
  bool tie_word_embeddings = true;
  bool residual_in_fp32 = true;  // the residual stream is f32 here whatever this says
  int32_t bos_token_id = 0, eos_token_id = 0, pad_token_id = 0;
  // Initialisation only (create()); kept so that a saved config says what it was given.
  double initializer_range = 0.1, time_step_scale = 1.0, time_step_min = 0.001, time_step_max = 0.1,
         time_step_floor = 1e-4;
  std::string time_step_init_scheme = "random";
  bool rescale_prenorm_residual = false;

  // Parses Hugging Face config.json text (model_type "mamba"). Unknown keys, missing or
  // inconsistent values (intermediate_size ≠ expand · hidden_size, hidden_act other than
  // silu …) are Status::Format errors naming the key.
  static MambaConfig from_json(const std::string& text);
  std::string to_json() const;  // config.json text that from_json reads back
};

// One layer's weights, named as Hugging Face names them (backbone.layers.N.<field>).
struct MambaLayer {
  Tensor norm;                       // [C]: RMSNorm scale (x · rstd · w, not 1 + w)
  Tensor in_proj, in_proj_bias;      // [2I, C], [2I] (bias iff use_bias)
  Tensor conv_weight, conv_bias;     // [I, 1, K], [I] (bias iff use_conv_bias)
  Tensor x_proj;                     // [R + 2S, I]
  Tensor dt_proj, dt_proj_bias;      // [I, R], [I]
  Tensor A_log;                      // [I, S]: A = −exp(A_log)
  Tensor D;                          // [I]: the skip connection y += D · x
  Tensor out_proj, out_proj_bias;    // [C, I], [C] (bias iff use_bias)
  // LoRA adapters, empty unless MambaModel::add_lora made them (PEFT names:
  // backbone.layers.N.mixer.in_proj.lora_A.weight, …)
  LoraAdapter in_lora, x_lora, dt_lora, out_lora;
};

// What a batch of sequences leaves behind in each layer: the last K−1 conv inputs and the
// SSM state. Its size is fixed by the model and the batch, never by the tokens seen — a
// million-token prompt leaves as much as a one-token one. Empty until the first forward
// fixes the batch; an empty layer stands for zeros (the start of a sequence).
class MambaState final : public ModelState {
 public:
  MambaState() = default;
  int64_t length() const override { return seen; }
  size_t nbytes() const override;
  std::unique_ptr<ModelState> clone() const override;

  int64_t batch = 0;          // B, 0 while empty
  int64_t seen = 0;           // tokens seen per sequence
  std::vector<Tensor> conv;   // per layer [B, I, K−1], f32: the last K−1 inputs of the conv
  std::vector<Tensor> ssm;    // per layer [B, I, S], f32: h after the last token
};

// Copying a MambaModel copies tensor handles: the copy shares the weights (see clone()).
class MambaModel : public Model {
 public:
  MambaConfig config;
  Tensor embeddings;   // [V, C]
  std::vector<MambaLayer> layers;
  Tensor norm_f;       // [C]
  Tensor lm_head;      // [V, C]; undefined when tied to embeddings

  // dtype: F32, or BF16 to halve memory (weights are widened to f32 per use).
  static MambaModel load(const std::string& dir, DType dtype = DType::F32);
  // Random weights as Hugging Face's MambaPreTrainedModel draws them (see model.cpp).
  static MambaModel create(const MambaConfig& config, uint64_t seed, DType dtype = DType::F32);
  // config.json + model.safetensors (the base weights; adapters are not saved here).
  void save(const std::string& dir) const override;
  std::vector<std::pair<std::string, Tensor*>> named_parameters() override;

  MambaModel clone() const;  // every tensor in fresh storage, none requiring grad
  std::unique_ptr<Model> clone_model() const override { return std::make_unique<MambaModel>(clone()); }

  // Adapters on in_proj, x_proj, dt_proj, out_proj (empty targets: all four), as
  // GemmaModel::add_lora: A Kaiming-uniform, B zeros, f32, requiring grad. Status::InvalidArg
  // for rank < 1, alpha <= 0, an unknown or repeated target, or existing adapters.
  void add_lora(int64_t rank, float alpha, const std::vector<std::string>& targets = {}, uint64_t seed = 0) override;
  std::vector<std::string> lora_targets() const override;
  std::vector<std::pair<std::string, Tensor*>> lora_parameters() override;

  // tokens: i32/i64 [B, T], T >= 1 → logits f32 [B, T, V]. The state, when given, is a
  // MambaState (from new_state): the tokens continue it — a prompt scans from it, T = 1 is a
  // decode step — and it is replaced by the state after the tokens only if the forward
  // succeeds. Differentiable in the weights (not in the state) when grad mode is on.
  Tensor forward(const Tensor& tokens, ModelState* state = nullptr, std::vector<Tensor>* hidden = nullptr,
                 bool last_only = false) const override;
  Tensor final_hidden(const Tensor& tokens, ModelState* state = nullptr, std::vector<Tensor>* hidden = nullptr,
                      bool last_only = false) const override;
  const Tensor& head_weight() const override { return config.tie_word_embeddings ? embeddings : lm_head; }
  // Empty; capacity is ignored (the state never grows).
  std::unique_ptr<ModelState> new_state(int64_t capacity = 0) const override;

  std::string architecture() const override { return "mamba"; }
  int64_t vocab_size() const override { return config.vocab_size; }
  int64_t hidden_size() const override { return config.hidden_size; }
  // The recurrence has no length limit and HF's config names none: 2^20, a large bound for
  // the serving engine's bookkeeping, not a property of the model.
  int64_t context_length() const override { return int64_t(1) << 20; }
  SpecialTokens special_tokens() const override {
    return {config.bos_token_id, config.eos_token_id, config.pad_token_id};
  }
  std::string config_json() const override { return config.to_json(); }
};

}  // namespace xla
