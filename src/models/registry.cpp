// registry.cpp — from a config.json to the model family that implements it: the one place
// that knows every architecture libxla has.
#include <nlohmann/json.hpp>

#include "xla/error.hpp"
#include "xla/gemma.hpp"
#include "xla/mamba.hpp"
#include "text_file.hpp"

namespace xla {

namespace {

bool is_gemma(const std::string& type) { return type == "gemma" || type == "gemma2" || type == "gemma3_text"; }

[[noreturn]] void unknown(const std::string& type, const char* where) {
  fail(Status::Format, where,
       "config.json has model_type '" + type + "'; libxla implements gemma, gemma2, gemma3_text and mamba");
}

}  // namespace

std::string model_type_of(const std::string& config_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(config_json);
  } catch (const nlohmann::json::exception& e) {
    fail(Status::Format, "config.json", std::string("is not JSON: ") + e.what());
  }
  if (!j.is_object()) fail(Status::Format, "config.json", "is not a JSON object");
  auto it = j.find("model_type");
  if (it == j.end() || !it->is_string()) fail(Status::Format, "config.json", "has no model_type string");
  return it->get<std::string>();
}

std::unique_ptr<Model> load_model(const std::string& dir, DType dtype) {
  const std::string type = model_type_of(io::read_text_file(dir + "/config.json", "the model config"));
  if (is_gemma(type)) return std::make_unique<GemmaModel>(GemmaModel::load(dir, dtype));
  if (type == "mamba") return std::make_unique<MambaModel>(MambaModel::load(dir, dtype));
  unknown(type, "load_model");
}

std::unique_ptr<Model> create_model(const std::string& config_json, uint64_t seed, DType dtype) {
  const std::string type = model_type_of(config_json);
  if (is_gemma(type)) return std::make_unique<GemmaModel>(GemmaModel::create(GemmaConfig::from_json(config_json), seed, dtype));
  if (type == "mamba") return std::make_unique<MambaModel>(MambaModel::create(MambaConfig::from_json(config_json), seed, dtype));
  unknown(type, "create_model");
}

}  // namespace xla
