// fingerprint.cpp — a model's fingerprint (fingerprint.hpp).
#include "fingerprint.hpp"

namespace xla::train::detail {

std::string model_fingerprint(const Model& model, bool with_lora) {
  Model& m = const_cast<Model&>(model);  // named_parameters is not const; nothing is changed
  Hasher h;
  h.text(m.config_json());
  auto add = [&](const std::string& name, const Tensor& t) {
    if (!t.defined()) return;
    h.text(name);
    h.text(dtype_name(t.dtype()));
    h.text(t.shape().str());
    const Tensor c = t.contiguous();
    h.bytes(c.raw_data(), c.nbytes());
  };
  for (auto& [name, p] : m.named_parameters()) add(name, *p);
  if (with_lora && m.has_lora()) {
    h.text("lora " + std::to_string(m.lora_rank) + " " + std::to_string(m.lora_alpha));
    for (auto& [name, p] : m.lora_parameters()) add(name, *p);
  }
  return h.hex();
}

}  // namespace xla::train::detail
