// lora.cpp — LoRA adapters inside a MambaModel (in_proj, x_proj, dt_proj, out_proj): creating
// them, naming them PEFT's way, and deep copies of a model. The forward that uses them is in
// model.cpp (project()).
#include "adapters.hpp"
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

}  // namespace

std::vector<std::string> MambaModel::lora_targets() const { return {std::begin(kTargets), std::end(kTargets)}; }

void MambaModel::add_lora(int64_t rank, float alpha, const std::vector<std::string>& targets, uint64_t seed) {
  models::add_adapters(*this, rank, alpha, targets, seed, lora_targets(), layers.size(),
                       [&](size_t l, size_t t) { return slot(layers[l], t); });
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
  MambaModel m = *this;  // the handles and the settings, then storage of its own
  models::detach_all(m);
  return m;
}

}  // namespace xla
