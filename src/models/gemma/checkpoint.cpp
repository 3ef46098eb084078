// checkpoint.cpp — Gemma from and to Hugging Face folders (config.json + safetensors,
// sharded or not). Every weight is checked against the config before it is used: a wrong
// shape or a missing tensor is an error naming the tensor, never a silently wrong model.
#include <sstream>

#include "model_folder.hpp"
#include "text_file.hpp"
#include "weights.hpp"
#include "xla/safetensors.hpp"

namespace xla {

GemmaModel GemmaModel::load(const std::string& dir, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(Status::DType, std::string("model weights are f32 or bf16, not ") + dtype_name(dtype));
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
  m.layers.resize(size_t(m.config.num_layers));
  for (auto& [name, t] : m.named_parameters()) {
    const std::string stored = stored_name(name);
    if (!ckpt.contains(stored)) fail(Status::Format, "GemmaModel::load", "tensor '" + stored + "' is missing from " + dir);
    const io::TensorInfo& info = ckpt.info(stored);
    Shape want = expected_shape(m.config, name);
    if (!(info.shape == want))
      fail(Status::Format, "GemmaModel::load", "tensor '" + stored + "' has shape " + info.shape.str() + ", config says " + want.str());
    *t = ckpt.tensor(stored, dtype);
    if (info.dtype != dtype) release_cached_memory();  // the conversion's temporary is garbage
  }
  return m;
}

void GemmaModel::save(const std::string& dir) const { models::save_model_folder(*this, dir, config.to_json()); }

}  // namespace xla
