// model_folder.cpp — a model written as a Hugging Face folder (see model_folder.hpp).
#include "model_folder.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "text_file.hpp"
#include "xla/autograd.hpp"
#include "xla/safetensors.hpp"

namespace xla::models {

void save_model_folder(const Model& model, const std::string& dir, const std::string& config_json) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(Status::IO, "cannot create folder " + dir + ": " + ec.message());
  std::vector<std::pair<std::string, Tensor>> tensors;
  // named_parameters is not const; nothing is changed
  for (auto& [name, t] : const_cast<Model&>(model).named_parameters()) tensors.emplace_back(name, detach(*t));
  if (::unlink((dir + "/config.json").c_str()) != 0 && errno != ENOENT)
    fail(Status::IO, "cannot replace " + dir + "/config.json: " + std::strerror(errno));
  io::save_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  io::write_file_durably(dir + "/config.json", config_json, "the model config");
}

}  // namespace xla::models
