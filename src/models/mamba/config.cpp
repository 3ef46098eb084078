// config.cpp — Mamba's config.json, as transformers' MambaConfig writes it. Every key that
// changes the math is read; initialisation keys are read, checked and kept for to_json;
// bookkeeping keys (architectures, torch_dtype …) are accepted; anything else is an error
// naming the key. An absent key takes MambaConfig's default, except the three dimensions
// (vocab_size, hidden_size, num_hidden_layers), which a model without is no model.
#include <cfloat>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "config_fields.hpp"
#include "strict_json.hpp"

#include "xla/mamba.hpp"

namespace xla {
namespace {

using models::json;
using models::config_bool;
using models::config_error;
using models::config_string;
using models::config_token_id;


const std::set<std::string> kIgnored = {"architectures", "torch_dtype", "dtype", "transformers_version",
                                        "_name_or_path", "use_cache", "use_mambapy", "model_type"};
// Keys of the original mamba_ssm config that the converted *-hf folders carry along: d_model
// and n_layer must agree with hidden_size and num_hidden_layers (and stand in for them when
// those are absent), rms_norm must be true, ssm_cfg empty; fused_add_norm (a kernel choice)
// and pad_vocab_size_multiple (the vocabulary is already padded) change nothing here.
const std::set<std::string> kMambaSsm = {"d_model", "n_layer", "rms_norm", "fused_add_norm",
                                         "pad_vocab_size_multiple", "ssm_cfg"};
const std::set<std::string> kHonoured = {
    "vocab_size", "hidden_size", "state_size", "num_hidden_layers", "layer_norm_epsilon", "expand",
    "conv_kernel", "use_bias", "use_conv_bias", "time_step_rank", "intermediate_size", "hidden_act",
    "tie_word_embeddings", "residual_in_fp32", "bos_token_id", "eos_token_id", "pad_token_id",
    "initializer_range", "time_step_scale", "time_step_min", "time_step_max", "time_step_init_scheme",
    "time_step_floor", "rescale_prenorm_residual"};

// Caps far above any released Mamba (mamba-2.8b: hidden 2,560, 64 layers, vocabulary
// 50,280) and low enough that every product the model forms fits int64.
constexpr int64_t kMaxVocab = int64_t(1) << 24, kMaxHidden = int64_t(1) << 16, kMaxLayers = 1024;
constexpr int64_t kMaxState = 4096, kMaxExpand = 64, kMaxKernel = 1024;

int64_t get_int(const json& j, const char* key, bool required, int64_t fallback, int64_t cap) {
  return models::config_int(j, key, required, fallback, cap, 1);
}

double get_num(const json& j, const char* key, double fallback, bool positive) {
  if (!models::config_has(j, key)) return fallback;
  const double v = models::config_number(j, key, fallback);
  if (!std::isfinite(v) || std::fabs(v) > FLT_MAX || (positive && !(v >= FLT_MIN)) || (!positive && v < 0))
    config_error(std::string("'") + key + "' is " + j[key].dump() + "; it must be a " + (positive ? "positive" : "non-negative") +
        " float");
  return v;
}

}  // namespace

MambaConfig MambaConfig::from_json(const std::string& text) {
  json j = detail::parse_json_strict(text, "config.json");
  if (!j.is_object()) config_error("not a JSON object");
  if (!j.contains("model_type") || !j["model_type"].is_string()) config_error("missing key 'model_type'");
  if (j["model_type"] != "mamba")
    config_error("model_type '" + j["model_type"].get<std::string>() + "' is not a Mamba model (model_type 'mamba')");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kHonoured.count(it.key()) && !kIgnored.count(it.key()) && !kMambaSsm.count(it.key()))
      config_error("unknown key '" + it.key() + "'");

  MambaConfig c;
  c.vocab_size = get_int(j, "vocab_size", true, 0, kMaxVocab);
  // an alias agrees with its key, or stands in for it when the key is absent
  auto with_alias = [&](const char* key, const char* alias, int64_t cap) {
    const bool has_key = j.contains(key) && !j[key].is_null();
    const bool has_alias = j.contains(alias) && !j[alias].is_null();
    const int64_t v = get_int(j, has_key || !has_alias ? key : alias, true, 0, cap);
    if (has_key && has_alias && get_int(j, alias, true, 0, cap) != v)
      config_error(std::string("'") + alias + "' disagrees with '" + key + "'");
    return v;
  };
  c.hidden_size = with_alias("hidden_size", "d_model", kMaxHidden);
  c.num_layers = with_alias("num_hidden_layers", "n_layer", kMaxLayers);
  if (!config_bool(j, "rms_norm", true)) config_error("'rms_norm': false (LayerNorm) is not supported");
  (void)config_bool(j, "fused_add_norm", true);
  (void)get_int(j, "pad_vocab_size_multiple", false, 8, kMaxVocab);
  if (j.contains("ssm_cfg") && !j["ssm_cfg"].is_null() && !(j["ssm_cfg"].is_object() && j["ssm_cfg"].empty()))
    config_error("'ssm_cfg' must be empty (its settings are the config's own keys), got " + j["ssm_cfg"].dump());
  c.state_size = get_int(j, "state_size", false, 16, kMaxState);
  c.expand = get_int(j, "expand", false, 2, kMaxExpand);
  c.conv_kernel = get_int(j, "conv_kernel", false, 4, kMaxKernel);
  // transformers computes intermediate_size = expand · hidden_size and writes it out; a
  // different value in the file is a config that means two things
  c.intermediate_size = c.expand * c.hidden_size;
  const int64_t given_i = get_int(j, "intermediate_size", false, c.intermediate_size, kMaxHidden * kMaxExpand);
  if (given_i != c.intermediate_size)
    config_error("'intermediate_size' is " + std::to_string(given_i) + " but expand · hidden_size is " +
        std::to_string(c.intermediate_size));
  const int64_t auto_rank = (c.hidden_size + 15) / 16;  // math.ceil(hidden_size / 16)
  if (j.contains("time_step_rank") && j["time_step_rank"].is_string()) {
    if (j["time_step_rank"] != "auto") config_error("'time_step_rank' must be an integer or \"auto\", got " + j["time_step_rank"].dump());
    c.time_step_rank = auto_rank;
  } else {
    c.time_step_rank = get_int(j, "time_step_rank", false, auto_rank, kMaxHidden);
  }
  c.layer_norm_epsilon = float(get_num(j, "layer_norm_epsilon", 1e-5, true));
  c.use_bias = config_bool(j, "use_bias", false);
  c.use_conv_bias = config_bool(j, "use_conv_bias", true);
  c.tie_word_embeddings = config_bool(j, "tie_word_embeddings", true);
  c.residual_in_fp32 = config_bool(j, "residual_in_fp32", true);
  const std::string act = config_string(j, "hidden_act", "silu");
  if (act != "silu") config_error("'hidden_act' '" + act + "' is not supported (Mamba's mixer uses silu)");
  c.bos_token_id = config_token_id(j, "bos_token_id", 0);
  c.eos_token_id = config_token_id(j, "eos_token_id", 0);
  c.pad_token_id = config_token_id(j, "pad_token_id", 0);

  c.initializer_range = get_num(j, "initializer_range", 0.1, true);
  c.time_step_scale = get_num(j, "time_step_scale", 1.0, true);
  c.time_step_min = get_num(j, "time_step_min", 0.001, true);
  c.time_step_max = get_num(j, "time_step_max", 0.1, true);
  c.time_step_floor = get_num(j, "time_step_floor", 1e-4, false);
  if (c.time_step_min > c.time_step_max) config_error("'time_step_min' is larger than 'time_step_max'");
  c.time_step_init_scheme = config_string(j, "time_step_init_scheme", "random");
  if (c.time_step_init_scheme != "random" && c.time_step_init_scheme != "constant")
    config_error("'time_step_init_scheme' '" + c.time_step_init_scheme + "' is not random or constant");
  c.rescale_prenorm_residual = config_bool(j, "rescale_prenorm_residual", false);
  (void)config_bool(j, "use_cache", true);  // read for its type only
  (void)config_bool(j, "use_mambapy", false);
  return c;
}

std::string MambaConfig::to_json() const {
  json j;
  j["architectures"] = {"MambaForCausalLM"};
  j["model_type"] = "mamba";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["state_size"] = state_size;
  j["num_hidden_layers"] = num_layers;
  j["layer_norm_epsilon"] = layer_norm_epsilon;
  j["expand"] = expand;
  j["conv_kernel"] = conv_kernel;
  j["use_bias"] = use_bias;
  j["use_conv_bias"] = use_conv_bias;
  j["time_step_rank"] = time_step_rank;
  j["intermediate_size"] = intermediate_size;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["residual_in_fp32"] = residual_in_fp32;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["pad_token_id"] = pad_token_id;
  j["initializer_range"] = initializer_range;
  j["time_step_scale"] = time_step_scale;
  j["time_step_min"] = time_step_min;
  j["time_step_max"] = time_step_max;
  j["time_step_init_scheme"] = time_step_init_scheme;
  j["time_step_floor"] = time_step_floor;
  j["rescale_prenorm_residual"] = rescale_prenorm_residual;
  j["torch_dtype"] = "float32";
  return j.dump(2);
}

}  // namespace xla
