// config.cpp — Gemma's config.json: every key that changes the math is read; keys that
// do not (architectures, torch_dtype …) are accepted and ignored; anything else is an
// error naming the key, so a typo or a new feature never passes silently. A key that is
// absent takes Hugging Face transformers' default for that model type (Gemma2Config,
// Gemma3TextConfig), so a folder means the same thing here and there; an explicit null
// turns a soft-cap off. Dimensions have caps far above any real Gemma and real-valued keys
// must be finite, positive where the math divides or takes logs, and fit in a float.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "config_fields.hpp"
#include "strict_json.hpp"

#include "xla/gemma.hpp"

namespace xla {
namespace {

using models::json;
using models::config_bool;
using models::config_error;
using models::config_number;
using models::config_string;
using models::config_token_id;


const std::set<std::string> kIgnored = {
    "architectures", "torch_dtype", "use_cache", "initializer_range", "attention_dropout",
    "cache_implementation", "transformers_version", "_name_or_path",
    "use_bidirectional_attention", "attention_bias", "model_type", "rope_type", "dtype",
    // multimodal Gemma 3 wrapper keys (we load its text model only)
    "vision_config", "mm_tokens_per_image", "boi_token_index", "eoi_token_index", "image_token_index",
    "text_config", "vision_soft_tokens_per_image"};
const std::set<std::string> kHonoured = {
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "rope_local_base_freq", "rope_scaling",
    "query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping", "sliding_window",
    "sliding_window_pattern", "layer_types", "tie_word_embeddings", "bos_token_id", "eos_token_id",
    "pad_token_id", "hidden_act", "hidden_activation", "max_position_embeddings",
    "sliding_window_size"};  // an older spelling of sliding_window in some Gemma 2 folders

// Caps on dimensions, far above any released Gemma (Gemma 3 27B: vocab 262,208, hidden 5,376,
// intermediate 21,504, 62 layers, 32 heads, head_dim 128, context 131,072) and low enough
// that every product of them the model forms (vocab · hidden, heads · head_dim …) fits int64.
constexpr int64_t kMaxVocab = int64_t(1) << 24, kMaxHidden = int64_t(1) << 16, kMaxIntermediate = int64_t(1) << 20;
constexpr int64_t kMaxLayers = 1024, kMaxHeads = 1024, kMaxHeadDim = 4096, kMaxContext = int64_t(1) << 24;

int64_t get_int(const json& j, const char* key, bool required, int64_t fallback = 0, int64_t cap = INT64_MAX) {
  return models::config_int(j, key, required, fallback, cap, 0);
}

// A value the model holds as a float (or feeds to float math): finite, and positive and
// representable (not rounding to 0 or infinity) where `positive`; else >= 0 (0 = off).
void check_real(const char* key, double v, bool positive) {
  const bool ok = std::isfinite(v) && v <= FLT_MAX && (positive ? v >= FLT_MIN : v == 0 || v >= FLT_MIN);
  if (ok) return;
  char msg[200];
  std::snprintf(msg, sizeof msg, "'%s' is %.9g; it must be %s, between %.9g and %.9g (a float)", key, v,
                positive ? "positive" : "0 or positive", double(FLT_MIN), double(FLT_MAX));
  config_error(msg);
}

}  // namespace

GemmaConfig GemmaConfig::from_json(const std::string& text) {
  json root = detail::parse_json_strict(text, "config.json");
  if (!root.is_object()) config_error("not a JSON object");
  if (!root.contains("model_type") || !root["model_type"].is_string()) config_error("missing key 'model_type'");
  std::string type = root["model_type"];
  const json* j = &root;
  if (type == "gemma3") {  // the multimodal wrapper: its language model is text_config
    if (!root.contains("text_config") || !root["text_config"].is_object()) config_error("model_type 'gemma3' without 'text_config'");
    j = &root["text_config"];
    type = "gemma3_text";
  }
  GemmaConfig c;
  if (type == "gemma") c.version = 1;
  else if (type == "gemma2") c.version = 2;
  else if (type == "gemma3_text") c.version = 3;
  else config_error("unsupported model_type '" + type + "' (libxla reads gemma, gemma2, gemma3_text and gemma3)");

  for (auto it = j->begin(); it != j->end(); ++it)
    if (!kHonoured.count(it.key()) && !kIgnored.count(it.key())) config_error("unknown key '" + it.key() + "'");
  if (config_bool(*j, "attention_bias", false)) config_error("'attention_bias': true is not a Gemma model");
  if (config_bool(*j, "use_bidirectional_attention", false)) config_error("'use_bidirectional_attention': true is not supported");

  c.vocab_size = get_int(*j, "vocab_size", true, 0, kMaxVocab);
  c.hidden_size = get_int(*j, "hidden_size", true, 0, kMaxHidden);
  c.intermediate_size = get_int(*j, "intermediate_size", true, 0, kMaxIntermediate);
  c.num_layers = get_int(*j, "num_hidden_layers", true, 0, kMaxLayers);
  c.num_heads = get_int(*j, "num_attention_heads", true, 0, kMaxHeads);
  c.num_kv_heads = get_int(*j, "num_key_value_heads", false, c.num_heads, kMaxHeads);
  if (c.num_heads == 0 || c.hidden_size == 0 || c.vocab_size == 0 || c.num_kv_heads == 0)
    config_error("vocab_size, hidden_size, num_attention_heads and num_key_value_heads must be positive");
  c.head_dim = get_int(*j, "head_dim", false, c.hidden_size / c.num_heads, kMaxHeadDim);
  if (c.head_dim == 0 || c.head_dim % 2) config_error("'head_dim' must be positive and even, got " + std::to_string(c.head_dim));
  if (c.num_heads % c.num_kv_heads)
    config_error("num_attention_heads " + std::to_string(c.num_heads) + " is not a multiple of num_key_value_heads " +
        std::to_string(c.num_kv_heads));
  const double eps = config_number(*j, "rms_norm_eps", 1e-6);
  check_real("rms_norm_eps", eps, true);
  c.rms_norm_eps = float(eps);
  // the context the model was trained for (transformers' defaults: 8192; Gemma 3 131,072)
  c.max_position_embeddings = get_int(*j, "max_position_embeddings", false, c.version == 3 ? 131072 : 8192, kMaxContext);
  if (c.max_position_embeddings <= 0) config_error("'max_position_embeddings' must be positive");
  // transformers' defaults for absent keys: Gemma 2 caps attention at 50 and logits at 30,
  // Gemma 2 and 3 scale queries by 256^-1/2 and slide over 4096 tokens, Gemma 3's global
  // layers use RoPE base 1,000,000.
  const bool v2 = c.version == 2, v3 = c.version == 3;
  c.rope_theta = config_number(*j, "rope_theta", v3 ? 1000000.0 : 10000.0);
  c.rope_local_base = config_number(*j, "rope_local_base_freq", 10000.0);
  check_real("rope_theta", c.rope_theta, true);
  check_real("rope_local_base_freq", c.rope_local_base, true);
  if (j->contains("rope_scaling") && !(*j)["rope_scaling"].is_null()) {
    const json& rs = (*j)["rope_scaling"];
    if (!rs.is_object()) config_error("'rope_scaling' must be an object like {\"rope_type\": \"linear\", \"factor\": 8}, got " + rs.dump());
    std::string kind = config_string(rs, "rope_type", config_string(rs, "type", "linear"));
    if (kind != "linear" && kind != "default") config_error("rope_scaling type '" + kind + "' is not supported (linear only)");
    if (kind == "linear") {
      if (!rs.contains("factor") || !rs["factor"].is_number() || rs["factor"].get<double>() <= 0)
        config_error("'rope_scaling' needs a positive 'factor'");
      c.rope_scaling = rs["factor"].get<double>();
      check_real("rope_scaling.factor", c.rope_scaling, true);
    }
  }
  const double qpas = config_number(*j, "query_pre_attn_scalar", v2 || v3 ? 256.0 : double(c.head_dim));
  if (qpas <= 0) config_error("'query_pre_attn_scalar' must be positive");
  check_real("query_pre_attn_scalar", qpas, true);
  c.query_pre_attn_scalar = float(qpas);
  // absent: the model type's default; null: no cap
  const double attn_cap = j->contains("attn_logit_softcapping") ? config_number(*j, "attn_logit_softcapping", 0.0) : v2 ? 50.0 : 0.0;
  const double final_cap = j->contains("final_logit_softcapping") ? config_number(*j, "final_logit_softcapping", 0.0) : v2 ? 30.0 : 0.0;
  if (attn_cap < 0 || final_cap < 0) config_error("soft-caps must not be negative");
  check_real("attn_logit_softcapping", attn_cap, false);
  check_real("final_logit_softcapping", final_cap, false);
  c.attn_softcap = float(attn_cap);
  c.final_softcap = float(final_cap);
  const int64_t window_default = v2 || v3 ? 4096 : 0;
  const int64_t old_spelling = get_int(*j, "sliding_window_size", false, -1, kMaxContext);  // -1: absent or null
  const bool has_window = j->contains("sliding_window");
  c.sliding_window = has_window ? get_int(*j, "sliding_window", false, 0, kMaxContext)
                                : old_spelling >= 0 ? old_spelling : window_default;
  if (has_window && old_spelling >= 0 && old_spelling != c.sliding_window)
    config_error("'sliding_window' and 'sliding_window_size' disagree");
  c.tie_word_embeddings = config_bool(*j, "tie_word_embeddings", true);
  c.bos_token_id = config_token_id(*j, "bos_token_id", 2);
  c.eos_token_id = config_token_id(*j, "eos_token_id", 1);
  c.pad_token_id = config_token_id(*j, "pad_token_id", 0);
  config_string(*j, "hidden_act", "");  // a lone legacy hidden_act "gelu" means tanh, as in HF: read for its type only
  std::string act = config_string(*j, "hidden_activation", "gelu_pytorch_tanh");
  if (act != "gelu_pytorch_tanh" && act != "gelu_tanh" && act != "gelu")
    config_error("hidden_activation '" + act + "' is not supported (gelu_pytorch_tanh or gelu)");
  c.hidden_activation = act == "gelu" ? "gelu" : "gelu_pytorch_tanh";

  // which layers use the sliding window
  c.sliding.assign(size_t(c.num_layers), 0);
  if (j->contains("layer_types") && !(*j)["layer_types"].is_null()) {
    const json& lt = (*j)["layer_types"];
    if (!lt.is_array() || int64_t(lt.size()) != c.num_layers)
      config_error("'layer_types' must list " + std::to_string(c.num_layers) + " layers");
    for (size_t i = 0; i < lt.size(); ++i) {
      if (!lt[i].is_string()) config_error("layer_types[" + std::to_string(i) + "] must be a string, got " + lt[i].dump());
      std::string t = lt[i].get<std::string>();
      if (t == "sliding_attention") c.sliding[i] = 1;
      else if (t != "full_attention") config_error("layer_types[" + std::to_string(i) + "] '" + t + "' is not a known layer type");
    }
  } else if (c.version == 2) {
    for (int64_t i = 0; i < c.num_layers; i += 2) c.sliding[size_t(i)] = 1;  // local, global, local, …
  } else if (c.version == 3) {
    int64_t p = get_int(*j, "sliding_window_pattern", false, 6);
    for (int64_t i = 0; i < c.num_layers; ++i) c.sliding[size_t(i)] = p > 0 && (i + 1) % p != 0;
  }
  bool any_sliding = false;
  for (uint8_t s : c.sliding) any_sliding |= s != 0;
  if (any_sliding && c.sliding_window <= 0) config_error("sliding-window layers need a positive 'sliding_window'");
  return c;
}

std::string GemmaConfig::to_json() const {
  json j;
  static const char* types[] = {"", "gemma", "gemma2", "gemma3_text"};
  static const char* archs[] = {"", "GemmaForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM"};
  j["architectures"] = {archs[version]};
  j["model_type"] = types[version];
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim;
  j["rms_norm_eps"] = rms_norm_eps;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rope_theta"] = rope_theta;
  if (version == 3) j["rope_local_base_freq"] = rope_local_base;
  j["rope_scaling"] = rope_scaling == 1.0 ? json(nullptr) : json{{"rope_type", "linear"}, {"factor", rope_scaling}};
  j["query_pre_attn_scalar"] = query_pre_attn_scalar;
  j["attn_logit_softcapping"] = attn_softcap > 0 ? json(attn_softcap) : json(nullptr);
  j["final_logit_softcapping"] = final_softcap > 0 ? json(final_softcap) : json(nullptr);
  j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json(nullptr);
  json lt = json::array();
  for (uint8_t s : sliding) lt.push_back(s ? "sliding_attention" : "full_attention");
  j["layer_types"] = lt;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["pad_token_id"] = pad_token_id;
  j["hidden_activation"] = hidden_activation;
  j["torch_dtype"] = "float32";
  return j.dump(2);
}

}  // namespace xla
