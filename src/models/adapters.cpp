// adapters.cpp — the shared half of LoRA inside a model (see adapters.hpp).
#include "adapters.hpp"

#include <cmath>
#include <set>

#include "xla/autograd.hpp"
#include "xla/lora.hpp"

namespace xla::models {
namespace {

// A distinct, reproducible seed for each (layer, target): splitmix64 of the three.
uint64_t adapter_seed(uint64_t seed, size_t layer, size_t target) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t(layer) * 8 + uint64_t(target) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

void add_adapters(Model& model, int64_t rank, float alpha, const std::vector<std::string>& given, uint64_t seed,
                  const std::vector<std::string>& known, size_t layers, const AdapterSlot& slot) {
  const std::vector<std::string>& targets = given.empty() ? known : given;
  if (model.has_lora()) fail(Status::InvalidArg, "add_lora: the model already has LoRA adapters");
  if (rank < 1) fail(Status::InvalidArg, "add_lora: rank must be >= 1, got " + std::to_string(rank));
  if (!(alpha > 0) || !std::isfinite(alpha)) fail(Status::InvalidArg, "add_lora: alpha must be finite and > 0");
  std::set<size_t> chosen;
  for (const std::string& name : targets) {
    size_t t = 0;
    while (t < known.size() && name != known[t]) ++t;
    if (t == known.size()) {
      std::string all;
      for (const std::string& k : known) all += (all.empty() ? "" : " ") + k;
      fail(Status::InvalidArg, "add_lora: unknown target '" + name + "' (" + all + ")");
    }
    if (!chosen.insert(t).second) fail(Status::InvalidArg, "add_lora: target '" + name + "' given twice");
  }
  for (size_t l = 0; l < layers; ++l)
    for (size_t t : chosen) {
      auto [w, adapter] = slot(l, t);
      nn::LoraLinear made = nn::LoraLinear::create(*w, rank, alpha, adapter_seed(seed, l, t));
      *adapter = {made.lora_a, made.lora_b};  // both f32 and requiring grad
    }
  model.lora_rank = rank;
  model.lora_alpha = alpha;
}

Tensor widened(const Tensor& w) { return !w.defined() || w.dtype() == DType::F32 ? w : ag::cast(w, DType::F32); }

Tensor project(const Tensor& x, const Tensor& w, const LoraAdapter& lora, bool on, float scaling, const Tensor& bias) {
  if (!on || !lora.defined()) return nn::linear(x, w, widened(bias));
  Tensor y = nn::lora_linear(x, w, lora.a, lora.b, scaling);
  return bias.defined() ? ag::add(y, widened(bias)) : y;
}

void detach_all(Model& model) {
  for (auto& [name, t] : model.named_parameters())
    if (t->defined()) *t = detach(*t).clone();
  for (auto& [name, t] : model.lora_parameters()) *t = detach(*t).clone();
  gather_weights(model);
}

void gather_weights(Model& model) {
  std::vector<Tensor*> weights;
  for (auto& [name, t] : model.named_parameters()) weights.push_back(t);
  move_to_huge_pages(weights);
}

}  // namespace xla::models
