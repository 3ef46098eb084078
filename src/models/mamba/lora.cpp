// lora.cpp — LoRA adapters inside a MambaModel (in_proj, x_proj, dt_proj, out_proj): creating
// them, naming them PEFT's way, and deep copies of a model. The forward that uses them is in
// model.cpp (project()).
#include <cmath>
#include <set>

#include "xla/lora.hpp"
#include "xla/mamba.hpp"

namespace xla {
namespace {

constexpr const char* kTargets[] = {"in_proj", "x_proj", "dt_proj", "out_proj"};

// The base weight and the adapter slot of target t (index into kTargets) in a layer.
std::pair<Tensor*, LoraAdapter*> slot(MambaLayer& L, size_t t) {
  switch (t) {
    case 0: return {&L.in_proj, &L.in_lora};
    case 1: return {&L.x_proj, &L.x_lora};
    case 2: return {&L.dt_proj, &L.dt_lora};
    default: return {&L.out_proj, &L.out_lora};
  }
}

// A distinct, reproducible seed for each (layer, target): splitmix64 of the three.
uint64_t adapter_seed(uint64_t seed, size_t layer, size_t target) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t(layer) * 8 + uint64_t(target) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<std::string> MambaModel::lora_targets() const { return {std::begin(kTargets), std::end(kTargets)}; }

void MambaModel::add_lora(int64_t rank, float alpha, const std::vector<std::string>& given, uint64_t seed) {
  const std::vector<std::string> targets = given.empty() ? lora_targets() : given;
  if (has_lora()) fail(Status::InvalidArg, "add_lora: the model already has LoRA adapters");
  if (rank < 1) fail(Status::InvalidArg, "add_lora: rank must be >= 1, got " + std::to_string(rank));
  if (!(alpha > 0) || !std::isfinite(alpha)) fail(Status::InvalidArg, "add_lora: alpha must be finite and > 0");
  std::set<size_t> chosen;
  for (const std::string& name : targets) {
    size_t t = 0;
    while (t < std::size(kTargets) && name != kTargets[t]) ++t;
    if (t == std::size(kTargets))
      fail(Status::InvalidArg, "add_lora: unknown target '" + name + "' (in_proj x_proj dt_proj out_proj)");
    if (!chosen.insert(t).second) fail(Status::InvalidArg, "add_lora: target '" + name + "' given twice");
  }
  for (size_t l = 0; l < layers.size(); ++l)
    for (size_t t : chosen) {
      auto [w, adapter] = slot(layers[l], t);
      nn::LoraLinear made = nn::LoraLinear::create(*w, rank, alpha, adapter_seed(seed, l, t));
      *adapter = {made.lora_a, made.lora_b};  // both f32 and requiring grad
    }
  lora_rank = rank;
  lora_alpha = alpha;
}

std::vector<std::pair<std::string, Tensor*>> MambaModel::lora_parameters() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t l = 0; l < layers.size(); ++l)
    for (size_t t = 0; t < std::size(kTargets); ++t) {
      LoraAdapter* a = slot(layers[l], t).second;
      if (!a->defined()) continue;
      const std::string p = "backbone.layers." + std::to_string(l) + ".mixer." + kTargets[t];
      out.emplace_back(p + ".lora_A.weight", &a->a);
      out.emplace_back(p + ".lora_B.weight", &a->b);
    }
  return out;
}

MambaModel MambaModel::clone() const {
  MambaModel m = *this;  // the handles and the settings …
  for (auto& [name, t] : m.named_parameters())
    if (t->defined()) *t = detach(*t).clone();  // … then storage of its own, no history, no grad
  for (auto& [name, t] : m.lora_parameters()) *t = detach(*t).clone();
  return m;
}

}  // namespace xla
