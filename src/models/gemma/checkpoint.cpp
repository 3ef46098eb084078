// checkpoint.cpp — Gemma from and to Hugging Face folders (config.json + safetensors,
// sharded or not). Every weight is checked against the config before it is used: a wrong
// shape or a missing tensor is an error naming the tensor, never a silently wrong model.
#include <sstream>

#include "adapters.hpp"
#include "model_folder.hpp"
#include "text_file.hpp"
#include "weights.hpp"
#include "xla/safetensors.hpp"

namespace xla {

GemmaModel GemmaModel::load(const std::string& dir, DType dtype) { return load_gemma(dir, dtype, {}); }

std::string shifted_layer_name(const std::string& name, int64_t offset) {
  const std::string prefix = "model.layers.";
  if (offset == 0 || name.rfind(prefix, 0) != 0) return name;
  const size_t dot = name.find('.', prefix.size());
  return prefix + std::to_string(std::stoll(name.substr(prefix.size(), dot - prefix.size())) + offset) + name.substr(dot);
}

GemmaModel load_gemma(const std::string& dir, DType dtype, const GemmaPart& part) {
  check_gemma_weight_dtype(dtype);
  GemmaModel m;
  m.config = GemmaConfig::from_json(io::read_text_file(dir + "/config.json"));
  io::Checkpoint ckpt = io::Checkpoint::open(dir);
  // a multimodal Gemma 3 checkpoint keeps the text model under a prefix
  std::string prefix;
  for (const char* p : {"", "language_model.", "model.language_model.", "language_model.model."}) {
    std::string probe = std::string(p) + (std::string(p).ends_with("model.") ? "embed_tokens.weight" : "model.embed_tokens.weight");
    if (ckpt.contains(probe)) {
      prefix = p;
      break;
    }
  }
  auto stored_name = [&](const std::string& name) {
    return prefix.empty() ? name : prefix.ends_with("model.") ? prefix + name.substr(6) : prefix + name;
  };
  // The files, not the config's number, say how much to allocate: a config of a million
  // layers beside a checkpoint of one fails here, small and fast.
  const std::string last = stored_name("model.layers." + std::to_string(m.config.num_layers - 1) + ".input_layernorm.weight");
  if (!ckpt.contains(last))
    fail(Status::Format, "GemmaModel::load", "config.json says " + std::to_string(m.config.num_layers) +
                                                 " layers, but tensor '" + last + "' is missing from " + dir);
  const GemmaConfig full = m.config;
  const int64_t first = part.first_layer, end = part.end_layer < 0 ? full.num_layers : part.end_layer;
  const int64_t v0 = part.vocab_begin, v1 = part.vocab_end < 0 ? full.vocab_size : part.vocab_end;
  if (first < 0 || end > full.num_layers || first >= end || v0 < 0 || v1 > full.vocab_size || v0 >= v1)
    fail(Status::InvalidArg, "GemmaModel::load", "layers [" + std::to_string(first) + ", " + std::to_string(end) +
                                                     ") and vocabulary rows [" + std::to_string(v0) + ", " + std::to_string(v1) +
                                                     ") are not a part of a model of " + std::to_string(full.num_layers) +
                                                     " layers and " + std::to_string(full.vocab_size) + " tokens");
  m.config.num_layers = end - first;
  m.config.sliding.assign(full.sliding.begin() + first, full.sliding.begin() + end);
  m.layers.resize(size_t(m.config.num_layers));
  for (auto& [name, t] : m.named_parameters()) {
    // this model's names are its own layer indices; the file's are the full model's
    const std::string stored = stored_name(shifted_layer_name(name, first));
    if (!ckpt.contains(stored)) fail(Status::Format, "GemmaModel::load", "tensor '" + stored + "' is missing from " + dir);
    const io::TensorInfo& info = ckpt.info(stored);
    Shape want = expected_shape(full, name);
    if (!(info.shape == want))
      fail(Status::Format, "GemmaModel::load", "tensor '" + stored + "' has shape " + info.shape.str() + ", config says " + want.str());
    const bool by_vocab = name == "model.embed_tokens.weight" || name == "lm_head.weight";
    const DType as = weight_storage(dtype, want);
    *t = by_vocab && (v0 > 0 || v1 < full.vocab_size) ? ckpt.rows(stored, v0, v1, as) : ckpt.tensor(stored, as);
    if (info.dtype != as) release_cached_memory();  // the conversion's temporary is garbage
  }
  models::gather_weights(m);
  return m;
}

void GemmaModel::save(const std::string& dir) const { models::save_model_folder(*this, dir, config.to_json()); }

}  // namespace xla
