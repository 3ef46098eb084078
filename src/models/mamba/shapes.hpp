// shapes.hpp — what shape each Hugging Face weight name of a Mamba model must have under a
// config. Shared by random initialisation (model.cpp) and loading (checkpoint.cpp).
#pragma once
#include <string>

#include "xla/mamba.hpp"

namespace xla {
Shape expected_shape(const MambaConfig& c, const std::string& name);
}  // namespace xla
