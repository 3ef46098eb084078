// openai_request.cpp — reading OpenAI request bodies, field by field, with a 400 naming the
// field for anything of the wrong type or out of range.
#include "openai_request.hpp"

#include <cmath>
#include <random>

#include "xla/error.hpp"
#include "xla/sampler.hpp"

namespace xla::server {

using nlohmann::json;

namespace {

// A field that is present and not null, else nullptr (OpenAI clients send null for "unset").
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

bool get_bool(const json& body, const char* name, bool fallback) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_boolean()) throw bad_request(name, std::string("'") + name + "' must be a boolean");
  return v->get<bool>();
}

double get_number(const json& body, const char* name, double fallback) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_number()) throw bad_request(name, std::string("'") + name + "' must be a number");
  double x = v->get<double>();
  if (!std::isfinite(x)) throw bad_request(name, std::string("'") + name + "' must be finite");
  return x;
}

int64_t get_int(const json& body, const char* name, int64_t fallback) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {  // 16.0 is an integer; 16.5 is not
    double x = v->get<double>();
    if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9e15) return int64_t(x);
  }
  throw bad_request(name, std::string("'") + name + "' must be an integer");
}

std::string get_string(const json& v, const std::string& name) {
  if (!v.is_string()) throw bad_request(name, "'" + name + "' must be a string");
  return v.get<std::string>();
}

std::string text_of_part(const json& part, const std::string& where) {
  if (!part.is_object()) throw bad_request(where, "'" + where + "' must be an object {\"type\": \"text\", \"text\": ...}");
  const json* type = field(part, "type");
  if (!type || !type->is_string()) throw bad_request(where + ".type", "'" + where + ".type' must be a string");
  if (*type != "text")
    throw bad_request(where + ".type", "content parts of type '" + type->get<std::string>() +
                                           "' are not supported: this model reads text only");
  const json* text = field(part, "text");
  if (!text) throw bad_request(where + ".text", "'" + where + ".text' is missing");
  return get_string(*text, where + ".text");
}

// The sampling fields chat and completions share.
void parse_sampling(const json& body, const ModelInfo& model, CompletionRequest& r, int64_t default_max_tokens) {
  SamplerParams& s = r.generation.sampler;
  s.temperature = float(get_number(body, "temperature", 1.0));
  s.top_p = float(get_number(body, "top_p", 1.0));
  int64_t top_k = get_int(body, "top_k", 0);
  s.top_k = top_k == -1 ? 0 : int32_t(std::clamp<int64_t>(top_k, -2, INT32_MAX));  // -1: off, as vLLM
  s.min_p = float(get_number(body, "min_p", 0.0));
  s.repetition_penalty = float(get_number(body, "repetition_penalty", 1.0));
  if (const json* seed = field(body, "seed")) {
    if (!seed->is_number_integer()) throw bad_request("seed", "'seed' must be an integer");
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : uint64_t(seed->get<int64_t>());
  } else {
    static thread_local std::mt19937_64 fresh{std::random_device{}()};
    s.seed = fresh();
  }
  try {
    validate(s);
  } catch (const Error& e) {
    std::string what = e.what(), param = "temperature";
    for (const char* name : {"top_k", "top_p", "min_p", "repetition_penalty"})
      if (what.find(name) != std::string::npos) param = name;
    throw bad_request(param, what);
  }
  for (const char* name : {"presence_penalty", "frequency_penalty"})
    if (get_number(body, name, 0.0) != 0.0)
      throw bad_request(name, std::string("'") + name + "' is not supported (use 'repetition_penalty')");
  if (const json* bias = field(body, "logit_bias"); bias && !(bias->is_object() && bias->empty()))
    throw bad_request("logit_bias", "'logit_bias' is not supported");
  if (get_int(body, "n", 1) != 1) throw bad_request("n", "'n' must be 1: this server returns one choice per request");

  int64_t max_tokens = get_int(body, "max_tokens", default_max_tokens);
  const char* max_param = "max_tokens";
  if (field(body, "max_completion_tokens")) {
    max_tokens = get_int(body, "max_completion_tokens", max_tokens);
    max_param = "max_completion_tokens";
  }
  if (max_tokens <= 0) throw bad_request(max_param, std::string("'") + max_param + "' must be at least 1");
  // More than the context leaves is not an error: generation ends at the context ("length").
  r.generation.max_new_tokens = int32_t(std::min<int64_t>(max_tokens, model.max_context));

  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > 4) throw bad_request("stop", "'stop' takes at most 4 strings");
      for (const json& s : *stop) r.stop.push_back(get_string(s, "stop"));
    } else {
      throw bad_request("stop", "'stop' must be a string or an array of strings");
    }
  }
  r.stream = get_bool(body, "stream", false);
  if (const json* opts = field(body, "stream_options")) {
    if (!opts->is_object()) throw bad_request("stream_options", "'stream_options' must be an object");
    if (!r.stream) throw bad_request("stream_options", "'stream_options' is only allowed with 'stream': true");
    r.include_usage = get_bool(*opts, "include_usage", false);
  }
  r.tokens_as_ids = get_bool(body, "return_tokens_as_token_ids", false);
  if (get_bool(body, "ignore_eos", false)) r.generation.stop_ids.clear();
}

// 'model' may be left out; when given it must be this server's alias.
void check_model_name(const json& body, const ModelInfo& model) {
  if (const json* name = field(body, "model"); name && get_string(*name, "model") != model.alias)
    throw ApiError(400, "the model '" + name->get<std::string>() + "' does not exist; this server has '" + model.alias + "'",
                   "model", "model_not_found");
}

int32_t get_token_id(const json& v, const std::string& param) {
  if (!v.is_number_integer()) throw bad_request(param, "'" + param + "' must hold integer token ids");
  int64_t id = v.get<int64_t>();
  if (id < 0 || id > INT32_MAX) throw bad_request(param, "token id " + std::to_string(id) + " is out of range");
  return int32_t(id);
}

}  // namespace

json parse_body(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

std::vector<ChatMessage> parse_messages(const json& messages) {
  if (!messages.is_array()) throw bad_request("messages", "'messages' must be an array");
  if (messages.empty()) throw bad_request("messages", "'messages' must hold at least one message");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad_request(where, "'" + where + "' must be an object");
    const json* role = field(m, "role");
    if (!role) throw bad_request(where + ".role", "'" + where + ".role' is missing");
    ChatMessage msg{get_string(*role, where + ".role"), ""};
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      throw bad_request(where + ".role", "'" + where + ".role' must be \"system\", \"user\" or \"assistant\", not \"" +
                                             msg.role + "\"");
    const json* content = field(m, "content");
    if (!content) throw bad_request(where + ".content", "'" + where + ".content' is missing");
    if (content->is_string()) {
      msg.content = content->get<std::string>();
    } else if (content->is_array()) {
      if (content->empty() && i == 0 && msg.role == "system")  // the template reads its first part
        throw bad_request(where + ".content", "'" + where + ".content' must hold at least one part");
      for (size_t k = 0; k < content->size(); ++k)
        msg.parts.push_back(text_of_part((*content)[k], where + ".content[" + std::to_string(k) + "]"));
    } else {
      throw bad_request(where + ".content", "'" + where + ".content' must be a string or an array of text parts");
    }
    out.push_back(std::move(msg));
  }
  return out;
}

void check_prompt(const std::vector<int32_t>& prompt, const ModelInfo& model, const std::string& param) {
  if (prompt.empty()) throw bad_request(param, "the prompt is empty");
  if (int64_t(prompt.size()) >= model.max_context)
    throw ApiError(400,
                   "the prompt has " + std::to_string(prompt.size()) + " tokens; this server's context is " +
                       std::to_string(model.max_context) + " tokens, prompt and completion together",
                   param, "context_length_exceeded");
  for (int32_t id : prompt)
    if (id < 0 || id >= model.vocab_size)
      throw bad_request(param, "the prompt holds token id " + std::to_string(id) + ", outside the model's vocabulary [0, " +
                                   std::to_string(model.vocab_size) + ")");
}

CompletionRequest parse_chat_request(const json& body, const ModelInfo& model) {
  CompletionRequest r;
  r.endpoint = Endpoint::Chat;
  check_model_name(body, model);
  const json* messages = field(body, "messages");
  if (!messages) throw bad_request("messages", "'messages' is missing");
  for (const char* name : {"tools", "functions"})
    if (const json* t = field(body, name); t && !(t->is_array() && t->empty()))
      throw bad_request(name, std::string("'") + name + "' is not supported by this server");
  if (const json* fmt = field(body, "response_format");
      fmt && !(fmt->is_object() && fmt->value("type", json()) == "text"))
    throw bad_request("response_format", "only 'response_format' {\"type\": \"text\"} is supported");
  std::vector<ChatMessage> turns = parse_messages(*messages);
  std::string text;
  try {
    text = render_chat(turns, /*add_generation_prompt=*/true);
  } catch (const Error& e) {
    throw bad_request("messages", e.what());
  }
  r.prompt = model.tokenizer->encode(text, /*add_bos=*/false);  // the rendering holds <bos>
  r.generation.stop_ids = {model.tokenizer->end_of_turn_id(), model.tokenizer->eos_id()};
  std::erase(r.generation.stop_ids, -1);
  parse_sampling(body, model, r, model.max_context);
  r.logprobs = get_bool(body, "logprobs", false);
  int64_t top = get_int(body, "top_logprobs", 0);
  if (top < 0 || top > 20) throw bad_request("top_logprobs", "'top_logprobs' must be between 0 and 20");
  if (top > 0 && !r.logprobs) throw bad_request("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  r.top_logprobs = int32_t(top);
  check_prompt(r.prompt, model, "messages");
  return r;
}

CompletionRequest parse_completion_request(const json& body, const ModelInfo& model) {
  CompletionRequest r;
  r.endpoint = Endpoint::Completion;
  check_model_name(body, model);
  const json* prompt = field(body, "prompt");
  if (!prompt) throw bad_request("prompt", "'prompt' is missing");
  // A string, or one string / one token-id list in an array; several prompts are refused.
  const json* one = prompt;
  if (prompt->is_array() && !prompt->empty() && (prompt->front().is_string() || prompt->front().is_array())) {
    if (prompt->size() != 1) throw bad_request("prompt", "'prompt' must be a single prompt: send one request per prompt");
    one = &prompt->front();
  }
  if (one->is_string()) {
    r.prompt = model.tokenizer->encode(one->get<std::string>(), /*add_bos=*/true);
  } else if (one->is_array()) {
    for (const json& id : *one) r.prompt.push_back(get_token_id(id, "prompt"));
  } else {
    throw bad_request("prompt", "'prompt' must be a string or an array of token ids");
  }
  if (get_bool(body, "echo", false)) throw bad_request("echo", "'echo' is not supported");
  if (const json* suffix = field(body, "suffix"); suffix && !(suffix->is_string() && suffix->get<std::string>().empty()))
    throw bad_request("suffix", "'suffix' is not supported");
  if (get_int(body, "best_of", 1) != 1) throw bad_request("best_of", "'best_of' must be 1");
  r.generation.stop_ids = {model.tokenizer->eos_id()};
  std::erase(r.generation.stop_ids, -1);
  parse_sampling(body, model, r, 16);  // OpenAI's default for completions
  int64_t logprobs = get_int(body, "logprobs", -1);
  if (logprobs < -1 || logprobs > 20) throw bad_request("logprobs", "'logprobs' must be between 0 and 20");
  r.logprobs = logprobs >= 0;
  r.top_logprobs = int32_t(std::max<int64_t>(logprobs, 0));
  check_prompt(r.prompt, model, "prompt");
  return r;
}

}  // namespace xla::server
