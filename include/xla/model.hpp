// model.hpp — what every language model in libxla is to the code that runs it: tokens in,
// logits out, with an optional per-sequence state that carries a batch of sequences from
// one call to the next. Generation, sessions, losses, the trainers, the serving engine, the
// C API and the CLI use this interface only; gemma.hpp (attention, a KV cache) and
// mamba.hpp (a selective state-space scan, a fixed-size recurrent state) implement it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xla/tensor.hpp"

namespace xla {

// What a model keeps of the tokens a batch of sequences has seen, so that the next forward
// continues them: a KV cache for Gemma, the conv window and SSM state for Mamba. Made by
// Model::new_state; only the model that made it may use it. A forward extends it only if it
// succeeds: one that throws leaves it as it was.
class ModelState {
 public:
  virtual ~ModelState() = default;
  virtual int64_t length() const = 0;  // tokens seen: the next position
  virtual size_t nbytes() const = 0;   // memory held
  // An independent copy (a sequence forked, or a step tried without touching the original).
  virtual std::unique_ptr<ModelState> clone() const = 0;
};

// A LoRA adapter on one projection (see Model::add_lora): the projection computes
// x·Wᵀ + scaling · (x·Aᵀ)·Bᵀ, W frozen. Undefined tensors mean no adapter on that projection.
struct LoraAdapter {
  Tensor a;  // lora_A [r, in], f32: Kaiming-uniform U(-1/√in, 1/√in), as nn::LoraLinear
  Tensor b;  // lora_B [out, r], f32: zeros at creation, so the model starts equal to its base
  bool defined() const { return a.defined(); }
};

// One token's forward over a state, captured once as a graph and replayed (compile.hpp):
// made by Model::compile_decode. A replay allocates no tensor and dispatches no op beyond
// the graph's kernels.
class DecodeStep {
 public:
  virtual ~DecodeStep() = default;
  // Feeds `token` to the state (one sequence holding at least one token) and returns the
  // logits [vocab_size] predicting the next: forward({{token}}, state, nullptr, true) to
  // float rounding (attention sums over a masked span of the cache rather than exactly the
  // positions seen). Valid until the next call. On error the state is as it was.
  virtual const float* step(int32_t token) = 0;
  // Graphs captured so far: one each time a step reaches a span of the cache it has no graph
  // for (16, 32, 64, … slots). Graphs are dropped when the cache's buffers grow and when
  // LoRA adapters are added or switched on or off; weights are read live.
  virtual int64_t captures() const = 0;
};

struct SpecialTokens {
  int32_t bos = -1, eos = -1, pad = 0;  // -1: the model has none
};

class Model {
 public:
  virtual ~Model() = default;

  // "gemma" or "mamba": the family, as config.json's model_type starts.
  virtual std::string architecture() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t hidden_size() const = 0;
  // The longest sequence the model is meant for (Gemma: max_position_embeddings). A recurrent
  // model has no such limit in its math and its config names none: Mamba reports 2^20, a
  // bound for the serving engine's bookkeeping.
  virtual int64_t context_length() const = 0;
  virtual SpecialTokens special_tokens() const = 0;
  // config.json text that load() reads back; also what checkpoints compare to refuse a
  // model of another shape.
  virtual std::string config_json() const = 0;

  // An empty state for a batch of sequences. capacity: the tokens it should hold without
  // growing (a hint; 0 = grow as needed). A recurrent state never grows.
  virtual std::unique_ptr<ModelState> new_state(int64_t capacity = 0) const = 0;

  // tokens: i32/i64 [B, T] → logits f32 [B, T, V]. With a state, the tokens continue it (a
  // state made for batch B, or empty) and it is extended — only if the forward succeeds.
  // hidden (optional) receives the residual stream: after the embedding, after each layer,
  // after the final norm ([B, T, C] each). Differentiable when grad mode is on and weights
  // require grad. last_only: logits of the last position only ([B, 1, V]).
  virtual Tensor forward(const Tensor& tokens, ModelState* state = nullptr, std::vector<Tensor>* hidden = nullptr,
                         bool last_only = false) const = 0;
  // A compiled one-token step over `state` (from new_state, batch 1). The state must outlive
  // it and change only through it or forward(). Status::Unsupported for a model whose
  // forward cannot be captured (Mamba's selective scan is a raw kernel).
  virtual std::unique_ptr<DecodeStep> compile_decode(ModelState* state) const;
  // forward without the LM head: the residual stream after the final norm, [B, T, C] (what a
  // chunked loss multiplies by head_weight() itself, never holding all the logits).
  virtual Tensor final_hidden(const Tensor& tokens, ModelState* state = nullptr, std::vector<Tensor>* hidden = nullptr,
                              bool last_only = false) const = 0;
  // The LM head's weight [V, C] (the embedding when tied) and the soft-cap applied to the
  // logits after it (0 = none): logits = softcap(final_hidden · head_weightᵀ).
  virtual const Tensor& head_weight() const = 0;
  virtual float final_softcap() const { return 0.f; }

  // Every base weight with its Hugging Face name, for optimizers and checkpoints (LoRA
  // adapters are not among them: see lora_parameters).
  virtual std::vector<std::pair<std::string, Tensor*>> named_parameters() = 0;
  // config.json + model.safetensors, loadable by load_model().
  virtual void save(const std::string& dir) const = 0;
  // A deep copy: every tensor (adapters included) in fresh storage, none requiring grad.
  virtual std::unique_ptr<Model> clone_model() const = 0;

  // LoRA. add_lora puts adapters on the projections named in targets (empty: every
  // projection the model has, lora_targets()); forward adds them while lora_enabled.
  // Switching lora_enabled off gives the base model exactly. Not thread-safe: one flag.
  virtual std::vector<std::string> lora_targets() const = 0;
  virtual void add_lora(int64_t rank, float alpha, const std::vector<std::string>& targets = {}, uint64_t seed = 0) = 0;
  // The adapters with PEFT-style names (….lora_A.weight before ….lora_B.weight), layer by
  // layer; empty without adapters.
  virtual std::vector<std::pair<std::string, Tensor*>> lora_parameters() = 0;
  bool has_lora() const { return lora_rank > 0; }
  float lora_scaling() const { return lora_rank > 0 ? lora_alpha / float(lora_rank) : 0.f; }
  int64_t lora_rank = 0;  // 0 = no adapters
  float lora_alpha = 0;   // scaling = lora_alpha / lora_rank
  bool lora_enabled = true;

 protected:
  Model() = default;
  Model(const Model&) = default;
  Model& operator=(const Model&) = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;
};

// A Hugging Face folder (config.json + *.safetensors) or a model save, whatever its family:
// config.json's model_type picks Gemma (gemma, gemma2, gemma3_text) or Mamba (mamba).
// dtype: F32, or BF16 to keep the weights in half the memory (compute stays f32).
// Status::Format for a model_type libxla does not implement, naming it.
std::unique_ptr<Model> load_model(const std::string& dir, DType dtype = DType::F32);
// A model with random weights from config.json text (its model_type as for load_model).
std::unique_ptr<Model> create_model(const std::string& config_json, uint64_t seed, DType dtype = DType::F32);
// config.json's model_type, or Status::Format naming what is wrong with the text.
std::string model_type_of(const std::string& config_json);
// config.json text as its family's config_json() writes it (parsed and written back): two
// configs describe the same model exactly when these are equal.
std::string canonical_config_json(const std::string& config_json);

// Switches a model's LoRA adapters off for a scope (the base model), and back to what they
// were when the scope ends.
class LoraDisabledGuard {
 public:
  explicit LoraDisabledGuard(Model& model) : model_(model), prev_(model.lora_enabled) { model.lora_enabled = false; }
  ~LoraDisabledGuard() { model_.lora_enabled = prev_; }
  LoraDisabledGuard(const LoraDisabledGuard&) = delete;
  LoraDisabledGuard& operator=(const LoraDisabledGuard&) = delete;

 private:
  Model& model_;
  bool prev_;
};

}  // namespace xla
