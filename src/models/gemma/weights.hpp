// weights.hpp — what shape each Hugging Face weight name must have under a config.
// Shared by random initialisation (model.cpp) and loading (checkpoint.cpp).
#pragma once
#include <string>

#include "xla/gemma.hpp"

namespace xla {
Shape expected_shape(const GemmaConfig& c, const std::string& name);
// Throws Status::DType unless dtype is a weight format Gemma models hold (f32, bf16, q8).
void check_gemma_weight_dtype(DType dtype);
// How a weight of `shape` is held when the model asks for `requested`: as asked, except that
// q8 applies to matrices (last axis a multiple of 32) only; vectors stay f32.
DType weight_storage(DType requested, const Shape& shape);

// What of a checkpoint one pipeline stage holds: layers [first_layer, end_layer) as its own
// layers 0, 1, …, and rows [vocab_begin, vocab_end) of the embedding (and of an untied head).
// -1 ends: to the last. load_gemma(dir, dtype, {}) is GemmaModel::load.
struct GemmaPart {
  int64_t first_layer = 0, end_layer = -1;
  int64_t vocab_begin = 0, vocab_end = -1;
};
// "model.layers.N.rest" as "model.layers.(N + offset).rest"; other names as they are: a
// stage's own layer indices as the whole model's.
std::string shifted_layer_name(const std::string& name, int64_t offset);
// Throws Status::Shape / Status::DType naming what is wrong unless tokens is i32 or i64 [B, T].
void check_tokens(const Tensor& tokens);
// The stage's config is the model's with num_layers and sliding cut to its layers (its
// vocab_size stays the model's). Every tensor is checked against the full config first.
GemmaModel load_gemma(const std::string& dir, DType dtype, const GemmaPart& part);
}  // namespace xla
