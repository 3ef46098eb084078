// pipeline.cpp — a Gemma model split over the ranks of a Collective for inference
// (pipeline.hpp): each rank a stage of the layers and a slice of the vocabulary rows.
#include "xla/pipeline.hpp"

#include <cstring>

#include "text_file.hpp"
#include "weights.hpp"
#include "xla/autograd.hpp"
#include "xla/nn.hpp"

namespace xla {

std::pair<int64_t, int64_t> pipeline_stage(int64_t layers, int rank, int ranks) {
  const int64_t base = layers / ranks, extra = layers % ranks;
  const int64_t first = rank * base + std::min<int64_t>(rank, extra);
  return {first, first + base + (rank < extra ? 1 : 0)};
}

namespace {

[[noreturn]] void unsupported(const std::string& what) {
  fail(Status::Unsupported, "pipeline: " + what + " is not supported on a pipeline stage (it holds part of the model)");
}

std::span<std::byte> bytes_of(Tensor& t) { return {static_cast<std::byte*>(t.raw_data()), t.nbytes()}; }
std::span<float> floats_of(Tensor& t) { return {t.data<float>(), size_t(t.numel())}; }

class PipelineModel final : public Model {
 public:
  PipelineModel(GemmaModel stage, GemmaConfig full, std::string config_json, std::shared_ptr<Collective> c,
                int64_t first_layer, int64_t vocab_begin, int64_t vocab_end)
      : stage_(std::move(stage)),
        full_(std::move(full)),
        config_json_(std::move(config_json)),
        c_(std::move(c)),
        first_layer_(first_layer),
        v0_(vocab_begin),
        v1_(vocab_end) {}

  std::string architecture() const override { return "gemma"; }
  int64_t vocab_size() const override { return full_.vocab_size; }
  int64_t hidden_size() const override { return full_.hidden_size; }
  int64_t context_length() const override { return full_.max_position_embeddings; }
  SpecialTokens special_tokens() const override { return {full_.bos_token_id, full_.eos_token_id, full_.pad_token_id}; }
  std::string config_json() const override { return config_json_; }
  std::unique_ptr<ModelState> new_state(int64_t capacity) const override { return stage_.new_state(capacity); }

  Tensor forward(const Tensor& tokens, ModelState* state, std::vector<Tensor>* hidden, bool last_only) const override {
    Tensor h = final_hidden(tokens, state, hidden, last_only);  // [B, T', C] on every rank
    NoGradGuard no_grad;
    Tensor mine = nn::linear(h, stage_.head_weight());  // [B, T', v1 - v0]
    if (full_.final_softcap > 0) mine = nn::softcap(mine, full_.final_softcap);
    mine = mine.contiguous();
    const int64_t rows = h.shape()[0] * h.shape()[1], V = full_.vocab_size, part = v1_ - v0_;
    Tensor logits = Tensor::zeros({h.shape()[0], h.shape()[1], V});
    float* dst = logits.data<float>();
    const float* src = mine.data<float>();
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * V + v0_, src + r * part, size_t(part) * sizeof(float));
    c_->all_reduce(floats_of(logits), ReduceOp::Sum);  // each column is one rank's value plus zeros: exact
    return logits;
  }

  Tensor final_hidden(const Tensor& tokens, ModelState* state, std::vector<Tensor>* hidden, bool last_only) const override {
    if (hidden) unsupported("returning hidden states");
    check_tokens(tokens);
    // every check before the first collective: a rank that threw midway would leave the
    // others waiting for it
    if (state) {
      auto* cache = dynamic_cast<KVCache*>(state);
      if (!cache || cache->num_layers() != int64_t(stage_.layers.size()))
        fail(Status::InvalidArg, "forward: the state was not made by this pipeline stage (new_state)");
    }
    NoGradGuard no_grad;
    const int64_t B = tokens.shape()[0], T = tokens.shape()[1], C = full_.hidden_size;
    const int rank = c_->rank(), last = c_->world_size() - 1;

    // the embedding: this rank's rows, zeros for the others' tokens, summed over the ranks
    Tensor ids = tokens.to(DType::I64).contiguous();
    const int64_t* id = ids.data<int64_t>();
    for (int64_t i = 0; i < B * T; ++i)
      if (id[i] < 0 || id[i] >= full_.vocab_size)
        fail(Status::InvalidArg, "forward: token id " + std::to_string(id[i]) + " is outside the vocabulary of " +
                                     std::to_string(full_.vocab_size));
    Tensor h = Tensor::zeros({B, T, C});
    const Tensor& table = stage_.embed_tokens;  // rows [v0, v1)
    for (int64_t i = 0; i < B * T; ++i) {
      if (id[i] < v0_ || id[i] >= v1_) continue;
      float* row = h.data<float>() + i * C;
      const int64_t r = id[i] - v0_;
      if (table.dtype() == DType::BF16) {
        const uint16_t* w = table.data<uint16_t>() + r * C;
        for (int64_t j = 0; j < C; ++j) row[j] = bf16_to_f32(w[j]);
      } else if (table.dtype() == DType::Q8) {  // whole blocks per row: C is a multiple of 32
        const int8_t* w = static_cast<const int8_t*>(table.raw_data()) + r * C;
        const uint16_t* scales = table.q8_scales() + r * C / 32;
        for (int64_t j = 0; j < C; ++j) row[j] = float(w[j]) * f16_to_f32(scales[j / 32]);
      } else {
        std::memcpy(row, table.data<float>() + r * C, size_t(C) * sizeof(float));
      }
    }
    c_->all_reduce(floats_of(h), ReduceOp::Sum);
    h = ag::mul(h, Tensor::scalar(stage_.embedding_normalizer()));

    // the layers, stage after stage
    if (rank > 0) c_->recv(bytes_of(h), rank - 1);
    h = stage_.cached_layers(h, state).contiguous();
    if (rank < last) c_->send(bytes_of(h), rank + 1);

    // the final norm on the last stage, then to every rank
    const int64_t Tout = last_only ? 1 : T;
    Tensor out = Tensor::zeros({B, Tout, C});
    if (rank == last) {
      if (last_only) h = ag::slice(h, 1, T - 1, T);
      out = nn::rms_norm(h, stage_.norm, full_.rms_norm_eps).contiguous();
    }
    c_->broadcast(bytes_of(out), last);
    return out;
  }

  const Tensor& head_weight() const override { unsupported("the whole head weight"); }
  float final_softcap() const override { return full_.final_softcap; }

  // This rank's weights, named as in the whole model (its layers' global indices).
  std::vector<std::pair<std::string, Tensor*>> named_parameters() override {
    auto named = stage_.named_parameters();
    for (auto& [name, t] : named) name = shifted_layer_name(name, first_layer_);
    return named;
  }
  void save(const std::string&) const override { unsupported("saving"); }
  std::unique_ptr<Model> clone_model() const override { unsupported("cloning"); }
  std::vector<std::string> lora_targets() const override { return {}; }
  void add_lora(int64_t, float, const std::vector<std::string>&, uint64_t) override { unsupported("LoRA"); }
  std::vector<std::pair<std::string, Tensor*>> lora_parameters() override { return {}; }

 private:
  GemmaModel stage_;  // this rank's layers (its config cut to them) and vocabulary rows
  GemmaConfig full_;
  std::string config_json_;
  std::shared_ptr<Collective> c_;
  int64_t first_layer_, v0_, v1_;
};

}  // namespace

std::unique_ptr<Model> load_pipeline(const std::string& dir, std::shared_ptr<Collective> collective, DType dtype) {
  if (!collective) fail(Status::InvalidArg, "pipeline: no collective");
  Collective& c = *collective;
  const int rank = c.rank(), ranks = c.world_size();
  // Every rank tries to load its stage; then they agree on whether all did, so that one rank's
  // missing file is an error on every rank instead of the others waiting for it forever.
  std::unique_ptr<Model> model;
  std::exception_ptr error;
  try {
    const std::string text = io::read_text_file(dir + "/config.json", "the model config");
    if (model_type_of(text) == "mamba")
      fail(Status::Unsupported, "pipeline: Mamba models cannot be split into stages yet (Gemma only)");
    const GemmaConfig full = GemmaConfig::from_json(text);
    if (ranks > full.num_layers)
      fail(Status::InvalidArg, "pipeline: " + std::to_string(ranks) + " ranks but the model has only " +
                                   std::to_string(full.num_layers) + " layers (at most one stage per layer)");
    const auto [first, end] = pipeline_stage(full.num_layers, rank, ranks);
    const int64_t v0 = full.vocab_size * rank / ranks, v1 = full.vocab_size * (rank + 1) / ranks;
    GemmaModel stage = load_gemma(dir, dtype, {first, end, v0, v1});
    model = std::make_unique<PipelineModel>(std::move(stage), full, full.to_json(), collective, first, v0, v1);
  } catch (...) {
    error = std::current_exception();
  }
  double failed = error ? 1.0 : 0.0;
  c.all_reduce(std::span<double>(&failed, 1), ReduceOp::Max);
  if (error) std::rethrow_exception(error);
  if (failed > 0) fail(Status::IO, "pipeline: another rank could not load its stage of " + dir + " (see its error)");
  return model;
}

}  // namespace xla
