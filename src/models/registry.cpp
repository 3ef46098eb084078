// registry.cpp — from a config.json to the model family that implements it: the one place
// that knows every architecture libxla has.
#include <nlohmann/json.hpp>

#include "strict_json.hpp"
#include "xla/error.hpp"
#include "xla/gemma.hpp"
#include "xla/mamba.hpp"
#include "text_file.hpp"

namespace xla {

namespace {

bool is_gemma(const std::string& type) {
  return type == "gemma" || type == "gemma2" || type == "gemma3_text" || type == "gemma3";
}

[[noreturn]] void unknown(const std::string& type) {
  fail(Status::Format, "config.json: unsupported model_type '" + type +
                           "' (libxla reads gemma, gemma2, gemma3_text, gemma3 and mamba)");
}

}  // namespace

std::string model_type_of(const std::string& config_json) {
  const nlohmann::json j = detail::parse_json_strict(config_json, "config.json");
  if (!j.is_object()) fail(Status::Format, "config.json", "is not a JSON object");
  auto it = j.find("model_type");
  if (it == j.end() || !it->is_string()) fail(Status::Format, "config.json", "has no model_type string");
  return it->get<std::string>();
}

std::string canonical_config_json(const std::string& config_json) {
  const std::string type = model_type_of(config_json);
  if (is_gemma(type)) return GemmaConfig::from_json(config_json).to_json();
  if (type == "mamba") return MambaConfig::from_json(config_json).to_json();
  unknown(type);
}

std::unique_ptr<DecodeStep> Model::compile_decode(ModelState*) const {
  fail(Status::Unsupported, "compile_decode",
       "this model (" + architecture() + ") cannot compile its step: its forward runs code a capture cannot record");
}

std::unique_ptr<Model> load_model(const std::string& dir, DType dtype) {
  const std::string type = model_type_of(io::read_text_file(dir + "/config.json", "the model config"));
  if (is_gemma(type)) return std::make_unique<GemmaModel>(GemmaModel::load(dir, dtype));
  if (type == "mamba") return std::make_unique<MambaModel>(MambaModel::load(dir, dtype));
  unknown(type);
}

std::unique_ptr<Model> create_model(const std::string& config_json, uint64_t seed, DType dtype) {
  const std::string type = model_type_of(config_json);
  if (is_gemma(type)) return std::make_unique<GemmaModel>(GemmaModel::create(GemmaConfig::from_json(config_json), seed, dtype));
  if (type == "mamba") return std::make_unique<MambaModel>(MambaModel::create(MambaConfig::from_json(config_json), seed, dtype));
  unknown(type);
}

}  // namespace xla
