// lora.cpp — LoRA adapters inside a GemmaModel: creating them, naming them PEFT's way, and
// deep copies of a model. The forward that uses them is in model.cpp (project()).
#include "adapters.hpp"
#include "xla/gemma.hpp"

namespace xla {
namespace {

constexpr const char* kTargets[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

// The base weight and the adapter slot of target t (index into kTargets) in a layer.
std::pair<Tensor*, LoraAdapter*> slot(GemmaLayer& L, size_t t) {
  switch (t) {
    case 0: return {&L.q_proj, &L.q_lora};
    case 1: return {&L.k_proj, &L.k_lora};
    case 2: return {&L.v_proj, &L.v_lora};
    case 3: return {&L.o_proj, &L.o_lora};
    case 4: return {&L.gate_proj, &L.gate_lora};
    case 5: return {&L.up_proj, &L.up_lora};
    default: return {&L.down_proj, &L.down_lora};
  }
}

}  // namespace

std::vector<std::string> GemmaModel::lora_targets() const { return {std::begin(kTargets), std::end(kTargets)}; }

void GemmaModel::add_lora(int64_t rank, float alpha, const std::vector<std::string>& targets, uint64_t seed) {
  models::add_adapters(*this, rank, alpha, targets, seed, lora_targets(), layers.size(),
                       [&](size_t l, size_t t) { return slot(layers[l], t); });
}

std::vector<std::pair<std::string, Tensor*>> GemmaModel::lora_parameters() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t l = 0; l < layers.size(); ++l)
    for (size_t t = 0; t < std::size(kTargets); ++t) {
      LoraAdapter* a = slot(layers[l], t).second;
      if (!a->defined()) continue;
      const std::string p = "model.layers." + std::to_string(l) + (t < 4 ? ".self_attn." : ".mlp.") + kTargets[t];
      out.emplace_back(p + ".lora_A.weight", &a->a);
      out.emplace_back(p + ".lora_B.weight", &a->b);
    }
  return out;
}

GemmaModel GemmaModel::clone() const {
  GemmaModel m = *this;  // the handles and the settings, then storage of its own
  models::detach_all(m);
  return m;
}

}  // namespace xla
