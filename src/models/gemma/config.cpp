// config.cpp — Gemma's config.json: every key that changes the math is read; keys that
// do not (architectures, torch_dtype …) are accepted and ignored; anything else is an
// error naming the key, so a typo or a new feature never passes silently. A key that is
// absent takes Hugging Face transformers' default for that model type (Gemma2Config,
// Gemma3TextConfig), so a folder means the same thing here and there; an explicit null
// turns a soft-cap off.
#include <nlohmann/json.hpp>
#include <set>

#include "xla/gemma.hpp"

namespace xla {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& msg) { fail(Status::Format, "config.json: " + msg); }

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

int64_t get_int(const json& j, const char* key, bool required, int64_t fallback = 0) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) bad(std::string("missing key '") + key + "'");
    return fallback;
  }
  if (!j[key].is_number_integer()) bad(std::string("'") + key + "' must be an integer");
  int64_t v = j[key].get<int64_t>();
  if (v < 0) bad(std::string("'") + key + "' must not be negative, got " + std::to_string(v));
  return v;
}

double get_num(const json& j, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) bad(std::string("'") + key + "' must be a number");
  return j[key].get<double>();
}

int32_t first_id(const json& j, const char* key, int32_t fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const json& v = j[key].is_array() && !j[key].empty() ? j[key][0] : j[key];
  if (!v.is_number_integer()) bad(std::string("'") + key + "' must be an integer or a list of integers");
  return v.get<int32_t>();
}

}  // namespace

GemmaConfig GemmaConfig::from_json(const std::string& text) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    bad(std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object()) bad("not a JSON object");
  if (!root.contains("model_type") || !root["model_type"].is_string()) bad("missing key 'model_type'");
  std::string type = root["model_type"];
  const json* j = &root;
  if (type == "gemma3") {  // the multimodal wrapper: its language model is text_config
    if (!root.contains("text_config") || !root["text_config"].is_object()) bad("model_type 'gemma3' without 'text_config'");
    j = &root["text_config"];
    type = "gemma3_text";
  }
  GemmaConfig c;
  if (type == "gemma") c.version = 1;
  else if (type == "gemma2") c.version = 2;
  else if (type == "gemma3_text") c.version = 3;
  else bad("unsupported model_type '" + type + "' (libxla reads gemma, gemma2, gemma3_text and gemma3)");

  for (auto it = j->begin(); it != j->end(); ++it)
    if (!kHonoured.count(it.key()) && !kIgnored.count(it.key())) bad("unknown key '" + it.key() + "'");
  if (j->contains("attention_bias") && (*j)["attention_bias"].is_boolean() && (*j)["attention_bias"].get<bool>())
    bad("'attention_bias': true is not a Gemma model");
  if (j->contains("use_bidirectional_attention") && (*j)["use_bidirectional_attention"].is_boolean() &&
      (*j)["use_bidirectional_attention"].get<bool>())
    bad("'use_bidirectional_attention': true is not supported");

  c.vocab_size = get_int(*j, "vocab_size", true);
  c.hidden_size = get_int(*j, "hidden_size", true);
  c.intermediate_size = get_int(*j, "intermediate_size", true);
  c.num_layers = get_int(*j, "num_hidden_layers", true);
  c.num_heads = get_int(*j, "num_attention_heads", true);
  c.num_kv_heads = get_int(*j, "num_key_value_heads", false, c.num_heads);
  if (c.num_heads == 0 || c.hidden_size == 0 || c.vocab_size == 0 || c.num_kv_heads == 0)
    bad("vocab_size, hidden_size, num_attention_heads and num_key_value_heads must be positive");
  c.head_dim = get_int(*j, "head_dim", false, c.hidden_size / c.num_heads);
  if (c.head_dim == 0 || c.head_dim % 2) bad("'head_dim' must be positive and even, got " + std::to_string(c.head_dim));
  if (c.num_heads % c.num_kv_heads)
    bad("num_attention_heads " + std::to_string(c.num_heads) + " is not a multiple of num_key_value_heads " +
        std::to_string(c.num_kv_heads));
  c.rms_norm_eps = float(get_num(*j, "rms_norm_eps", 1e-6));
  // the context the model was trained for (transformers' defaults: 8192; Gemma 3 131,072)
  c.max_position_embeddings = get_int(*j, "max_position_embeddings", false, c.version == 3 ? 131072 : 8192);
  if (c.max_position_embeddings <= 0) bad("'max_position_embeddings' must be positive");
  // transformers' defaults for absent keys: Gemma 2 caps attention at 50 and logits at 30,
  // Gemma 2 and 3 scale queries by 256^-1/2 and slide over 4096 tokens, Gemma 3's global
  // layers use RoPE base 1,000,000.
  const bool v2 = c.version == 2, v3 = c.version == 3;
  c.rope_theta = get_num(*j, "rope_theta", v3 ? 1000000.0 : 10000.0);
  c.rope_local_base = get_num(*j, "rope_local_base_freq", 10000.0);
  if (j->contains("rope_scaling") && !(*j)["rope_scaling"].is_null()) {
    const json& rs = (*j)["rope_scaling"];
    std::string kind = rs.value("rope_type", rs.value("type", std::string("linear")));
    if (kind != "linear" && kind != "default") bad("rope_scaling type '" + kind + "' is not supported (linear only)");
    if (kind == "linear") {
      if (!rs.contains("factor") || !rs["factor"].is_number() || rs["factor"].get<double>() <= 0)
        bad("'rope_scaling' needs a positive 'factor'");
      c.rope_scaling = rs["factor"].get<double>();
    }
  }
  c.query_pre_attn_scalar = float(get_num(*j, "query_pre_attn_scalar", v2 || v3 ? 256.0 : double(c.head_dim)));
  if (c.query_pre_attn_scalar <= 0) bad("'query_pre_attn_scalar' must be positive");
  // absent: the model type's default; null: no cap
  c.attn_softcap = float(j->contains("attn_logit_softcapping") ? get_num(*j, "attn_logit_softcapping", 0.0) : v2 ? 50.0 : 0.0);
  c.final_softcap = float(j->contains("final_logit_softcapping") ? get_num(*j, "final_logit_softcapping", 0.0) : v2 ? 30.0 : 0.0);
  if (c.attn_softcap < 0 || c.final_softcap < 0) bad("soft-caps must not be negative");
  const int64_t window_default = v2 || v3 ? 4096 : 0;
  const int64_t old_spelling = get_int(*j, "sliding_window_size", false, -1);  // -1: absent or null
  const bool has_window = j->contains("sliding_window");
  c.sliding_window = has_window ? get_int(*j, "sliding_window", false, 0)
                                : old_spelling >= 0 ? old_spelling : window_default;
  if (has_window && old_spelling >= 0 && old_spelling != c.sliding_window)
    bad("'sliding_window' and 'sliding_window_size' disagree");
  c.tie_word_embeddings = j->value("tie_word_embeddings", true);
  c.bos_token_id = first_id(*j, "bos_token_id", 2);
  c.eos_token_id = first_id(*j, "eos_token_id", 1);
  c.pad_token_id = first_id(*j, "pad_token_id", 0);
  std::string act = j->contains("hidden_activation") && (*j)["hidden_activation"].is_string()
                        ? (*j)["hidden_activation"].get<std::string>()
                        : "gelu_pytorch_tanh";  // a lone legacy hidden_act "gelu" means tanh, as in HF
  if (act != "gelu_pytorch_tanh" && act != "gelu_tanh" && act != "gelu")
    bad("hidden_activation '" + act + "' is not supported (gelu_pytorch_tanh or gelu)");
  c.hidden_activation = act == "gelu" ? "gelu" : "gelu_pytorch_tanh";

  // which layers use the sliding window
  c.sliding.assign(size_t(c.num_layers), 0);
  if (j->contains("layer_types") && !(*j)["layer_types"].is_null()) {
    const json& lt = (*j)["layer_types"];
    if (!lt.is_array() || int64_t(lt.size()) != c.num_layers)
      bad("'layer_types' must list " + std::to_string(c.num_layers) + " layers");
    for (size_t i = 0; i < lt.size(); ++i) {
      std::string t = lt[i].is_string() ? lt[i].get<std::string>() : "";
      if (t == "sliding_attention") c.sliding[i] = 1;
      else if (t != "full_attention") bad("layer_types[" + std::to_string(i) + "] '" + t + "' is not a known layer type");
    }
  } else if (c.version == 2) {
    for (int64_t i = 0; i < c.num_layers; i += 2) c.sliding[size_t(i)] = 1;  // local, global, local, …
  } else if (c.version == 3) {
    int64_t p = get_int(*j, "sliding_window_pattern", false, 6);
    for (int64_t i = 0; i < c.num_layers; ++i) c.sliding[size_t(i)] = p > 0 && (i + 1) % p != 0;
  }
  bool any_sliding = false;
  for (uint8_t s : c.sliding) any_sliding |= s != 0;
  if (any_sliding && c.sliding_window <= 0) bad("sliding-window layers need a positive 'sliding_window'");
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
