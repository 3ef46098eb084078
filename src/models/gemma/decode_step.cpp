// decode_step.cpp — Gemma's one-token step as a compiled graph (compile.hpp). The step's
// inputs are values: the token, its position, and per kind of layer (global, or a sliding
// window) the cache slot it goes to and the mask over the slots attended. The graph writes
// the new keys and values into the cache itself (index_copy_, an effect) and attends over
// the first `span` slots of each layer (of a window layer's ring, at most all of it), masked. So
// one graph serves every position below its span; spans are powers of two, and a graph is
// compiled the first time a step needs its span (about log2(context) graphs in all). The
// attention kernel reads only the slots the mask shows (nn::attention), so a span's unused
// slots cost nothing.
#include <algorithm>
#include <bit>
#include <cmath>
#include <map>

#include "xla/autograd.hpp"
#include "xla/compile.hpp"
#include "xla/gemma.hpp"
#include "xla/kv_cache.hpp"

namespace xla {
namespace {

constexpr int64_t kSmallestSpan = 16;

class GemmaDecodeStep final : public DecodeStep {
 public:
  GemmaDecodeStep(const GemmaModel& model, KVCache* cache) : model_(model), cache_(cache) {
    for (int64_t l = 0; l < cache->num_layers(); ++l) {
      const int64_t w = cache->window(l);
      auto it = std::find(windows_.begin(), windows_.end(), w);
      kind_of_layer_.push_back(int(it - windows_.begin()));
      if (it == windows_.end()) {
        windows_.push_back(w);
        first_layer_.push_back(l);
      }
    }
  }

  const float* step(int32_t token) override {
    if (token < 0 || token >= model_.config.vocab_size)
      fail(Status::InvalidArg, "decode step",
           "token " + std::to_string(token) + " is out of range [0, " + std::to_string(model_.config.vocab_size) + ")");
    const int64_t position = cache_->length();
    if (position == 0) fail(Status::InvalidArg, "decode step", "the cache is empty: feed the prompt first");
    if (cache_->keys(0).shape()[0] != 1)
      fail(Status::InvalidArg, "decode step", "the cache holds a batch; a step feeds one sequence");
    const int64_t span = std::max<int64_t>(kSmallestSpan, int64_t(std::bit_ceil(uint64_t(position + 1))));
    KVCache::Transaction step(cache_);  // rolled back if anything below throws
    cache_->begin_step(span);
    // The graphs read the cache's buffers and follow the model's structure as at capture:
    // buffers replaced (grown), or LoRA adapters added or switched, mean capturing again.
    const bool lora = model_.lora_enabled && model_.has_lora();
    if (cache_->generation() != generation_ || lora != lora_) {
      graphs_.clear();
      generation_ = cache_->generation();
      lora_ = lora;
    }
    Graph& g = graphs_[span];
    if (g.inputs.empty()) {
      g.inputs = {Tensor::zeros({1, 1}, DType::I32), Tensor::zeros({1}, DType::I64)};
      for (int64_t w : windows_)
        g.inputs.insert(g.inputs.end(), {Tensor::zeros({1}, DType::I64),
                                         Tensor::zeros({1, w == 0 ? span : std::min(w, span)}, DType::U8)});
    }
    g.inputs[0].data<int32_t>()[0] = token;
    g.inputs[1].data<int64_t>()[0] = position;
    for (size_t w = 0; w < windows_.size(); ++w) {
      const int64_t layer = first_layer_[w];
      g.inputs[2 + 2 * w].data<int64_t>()[0] = cache_->step_slot(layer);
      Tensor& mask = g.inputs[3 + 2 * w];
      cache_->step_mask(layer, mask.shape()[1], mask.data<uint8_t>());
    }
    // The capture runs this step once, eagerly, writing its keys and values: its logits are
    // this step's (a replay gives the same bits), so the graph first runs at the next step.
    if (!g.function) {
      traced_logits_ = Tensor();
      g.function = std::make_unique<CompiledFunction>(compile(step_function(), g.inputs));
      ++captures_;
      step.done();
      return traced_logits_.data<float>();
    }
    const Tensor& logits = g.function->run(g.inputs)[0];
    step.done();
    return logits.data<float>();
  }

  int64_t captures() const override { return captures_; }

 private:
  struct Graph {
    std::vector<Tensor> inputs;  // token, position, then per kind of layer: slot, mask
    std::unique_ptr<CompiledFunction> function;
  };

  // The step as a function of its inputs (a Graph's), for compile().
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> step_function() {
    return [this](const std::vector<Tensor>& in) {
      const GemmaConfig& c = model_.config;
      const float scale = 1.f / std::sqrt(c.query_pre_attn_scalar);
      NoGradGuard no_grad;
      auto attend = [&](int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v) {
        const size_t kind = size_t(kind_of_layer_[size_t(layer)]);
        const Tensor &slot = in[2 + 2 * kind], &mask = in[3 + 2 * kind];
        Tensor keys = cache_->keys(layer), values = cache_->values(layer);
        index_copy_(keys, 2, slot, k);
        index_copy_(values, 2, slot, v);
        const int64_t extent = mask.shape()[1];
        return nn::attention(q, keys.slice(2, 0, extent), values.slice(2, 0, extent), mask, scale, c.attn_softcap);
      };
      Tensor h = nn::rms_norm(model_.decoder(in[0], in[1], attend), model_.norm, c.rms_norm_eps);
      Tensor logits = nn::linear(h, model_.head_weight());
      if (c.final_softcap > 0) logits = nn::softcap(logits, c.final_softcap);
      traced_logits_ = logits.reshape({c.vocab_size});
      return std::vector<Tensor>{traced_logits_};
    };
  }

  const GemmaModel& model_;
  KVCache* cache_;
  std::vector<int64_t> windows_;      // the distinct windows of the layers (0: global)
  std::vector<int64_t> first_layer_;  // per window: its first layer (slots and masks are alike across them)
  std::vector<int> kind_of_layer_;    // index into windows_
  std::map<int64_t, Graph> graphs_;   // by span
  Tensor traced_logits_;              // the logits of a capture's eager run, the step's result
  uint64_t generation_ = 0;
  bool lora_ = false;
  int64_t captures_ = 0;
};

}  // namespace

std::unique_ptr<DecodeStep> GemmaModel::compile_decode(ModelState* state) const {
  auto* cache = dynamic_cast<KVCache*>(state);
  if (!cache) fail(Status::InvalidArg, "compile_decode", "the state was not made by a Gemma model");
  if (cache->num_layers() != int64_t(layers.size()))
    fail(Status::InvalidArg, "compile_decode", "the cache belongs to another model");
  return std::make_unique<GemmaDecodeStep>(*this, cache);
}

}  // namespace xla
