// model_folder.hpp — writing a model as a Hugging Face folder, the one way every family does
// it: model.safetensors, then config.json, so that a folder with a config always has the
// weights it describes. Private to src/models.
#pragma once
#include <string>

#include "xla/model.hpp"

namespace xla::models {

// Creates dir if needed, removes an old config.json first (a save that fails later must not
// leave it describing weights it no longer matches: the folder then fails to load, loudly,
// until a save succeeds), writes every named parameter of `model` to model.safetensors, then
// config_json durably (a full disk is an error, not an empty file). Status::IO names the
// problem.
void save_model_folder(const Model& model, const std::string& dir, const std::string& config_json);

}  // namespace xla::models
