// checkpoint.cpp — Mamba from and to Hugging Face folders (config.json + safetensors,
// sharded or not). Every weight is checked against the config before it is used: a wrong
// shape or a missing tensor is an error naming the tensor, never a silently wrong model.

#include "adapters.hpp"
#include "model_folder.hpp"
#include "shapes.hpp"
#include "text_file.hpp"
#include "xla/safetensors.hpp"

namespace xla {

MambaModel MambaModel::load(const std::string& dir, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail(Status::DType, std::string("model weights are f32 or bf16, not ") + dtype_name(dtype));
  MambaModel m;
  m.config = MambaConfig::from_json(io::read_text_file(dir + "/config.json", "the model config"));
  io::Checkpoint ckpt = io::Checkpoint::open(dir);
  // The files, not the config's number, say how much to allocate: a config of a thousand
  // layers beside a checkpoint of one fails here, small and fast.
  const std::string last = "backbone.layers." + std::to_string(m.config.num_layers - 1) + ".norm.weight";
  if (!ckpt.contains(last))
    fail(Status::Format, "MambaModel::load", "config.json says " + std::to_string(m.config.num_layers) +
                                                 " layers, but tensor '" + last + "' is missing from " + dir);
  m.layers.resize(size_t(m.config.num_layers));
  for (auto& [name, t] : m.named_parameters()) {
    if (!ckpt.contains(name)) fail(Status::Format, "MambaModel::load", "tensor '" + name + "' is missing from " + dir);
    const io::TensorInfo& info = ckpt.info(name);
    const Shape want = expected_shape(m.config, name);
    if (!(info.shape == want))
      fail(Status::Format, "MambaModel::load", "tensor '" + name + "' has shape " + info.shape.str() + ", config says " + want.str());
    *t = ckpt.tensor(name, dtype);
    if (info.dtype != dtype) release_cached_memory();  // the conversion's temporary is garbage
  }
  models::gather_weights(m);
  return m;
}

void MambaModel::save(const std::string& dir) const { models::save_model_folder(*this, dir, config.to_json()); }

}  // namespace xla
