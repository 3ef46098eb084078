// weights.hpp — what shape each Hugging Face weight name must have under a config.
// Shared by random initialisation (model.cpp) and loading (checkpoint.cpp).
#pragma once
#include <string>

#include "xla/gemma.hpp"

namespace xla {
Shape expected_shape(const GemmaConfig& c, const std::string& name);
}  // namespace xla
