// adapters.hpp — what every model family shares about the projections and LoRA adapters
// inside it: checking the targets asked for, drawing each (layer, target) adapter from a seed
// of its own, the projection that adds an adapter, the deep copy of a model's tensors, and
// where its base weights live.
// Private to src/models; each family names its own slots.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "xla/model.hpp"

namespace xla::models {

// The base weight and the adapter of one target (an index into the family's target names)
// in one layer.
using AdapterSlot = std::function<std::pair<Tensor*, LoraAdapter*>(size_t layer, size_t target)>;

// Model::add_lora for a family whose projections are named `known`: checks rank, alpha and
// the targets (empty = all of them; an unknown or repeated one is Status::InvalidArg naming
// it), then fills every chosen slot of every layer with nn::LoraLinear's A and B and sets
// the model's rank and alpha.
void add_adapters(Model& model, int64_t rank, float alpha, const std::vector<std::string>& targets,
                  uint64_t seed, const std::vector<std::string>& known, size_t layers, const AdapterSlot& slot);

// An f32 view of a weight (bf16 weights are widened per use: memory stays halved); an
// undefined tensor (an absent bias) stays undefined.
Tensor widened(const Tensor& w);

// A projection inside a model, x [..., in] → [..., out] (+ bias when defined):
// nn::lora_linear when the adapter exists and `on`, else exactly nn::linear — the base model,
// bit for bit.
Tensor project(const Tensor& x, const Tensor& w, const LoraAdapter& lora, bool on, float scaling,
               const Tensor& bias = Tensor());

// Every base weight and adapter of `model` copied into storage of its own, with no history
// and no grad: what clone() does to a copy that still shares its handles.
void detach_all(Model& model);

// The model's base weights gathered onto huge pages (move_to_huge_pages), as every way of
// making a model leaves them: decode's products stream them 2–33% faster, depending on what
// a TLB miss costs the machine that minute (BM_LayerProductsOnPages), never slower.
void gather_weights(Model& model);

}  // namespace xla::models
