// openai_response.cpp — building OpenAI's response and chunk objects.
#include "openai_response.hpp"

#include <random>

#include "text_stream.hpp"

namespace xla::server {

using nlohmann::json;

namespace {

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += hex[rng() & 15];
  return id;
}

json byte_list(const std::string& bytes) {
  json out = json::array();
  for (unsigned char c : bytes) out.push_back(int(c));
  return out;
}

}  // namespace

const char* finish_reason_name(Finish f) {
  switch (f) {
    case Finish::Stop: return "stop";
    case Finish::Length: return "length";
    default: return "abort";  // cancelled: the server is shutting down or the engine failed
  }
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? json() : json(e.param)},
            {"code", e.code.empty() ? json() : json(e.code)}}}};
}

ResponseWriter::ResponseWriter(const CompletionRequest& request, const ModelInfo& model, int64_t created)
    : request_(request), model_(model),
      id_(random_id(request.endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-")), created_(created) {}

std::string ResponseWriter::token_name(int32_t id) const {
  if (request_.tokens_as_ids) return "token_id:" + std::to_string(id);
  return model_.tokenizer->decode(&id, 1, /*skip_special=*/false);
}

void ResponseWriter::add_logprobs(const EngineEvent& e, size_t text_offset) {
  if (!request_.logprobs || e.token < 0) return;
  if (request_.endpoint == Endpoint::Chat) {
    json top = json::array();
    for (const auto& [id, lp] : e.top)
      top.push_back({{"token", token_name(id)}, {"logprob", lp}, {"bytes", byte_list(token_bytes(*model_.tokenizer, id))}});
    if (pending_.is_null()) pending_ = json::array();
    pending_.push_back({{"token", token_name(e.token)},
                        {"logprob", e.logprob},
                        {"bytes", byte_list(token_bytes(*model_.tokenizer, e.token))},
                        {"top_logprobs", top}});
  } else {
    if (pending_.is_null())
      pending_ = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                  {"text_offset", json::array()}};
    json top = json::object();
    for (const auto& [id, lp] : e.top) top[token_name(id)] = lp;
    pending_["tokens"].push_back(token_name(e.token));
    pending_["token_logprobs"].push_back(e.logprob);
    pending_["top_logprobs"].push_back(top);
    pending_["text_offset"].push_back(text_offset);
  }
}

json ResponseWriter::take_logprobs() {
  if (!request_.logprobs) return nullptr;
  json out;
  if (request_.endpoint == Endpoint::Chat) {
    out = {{"content", pending_.is_null() ? json::array() : pending_}};
  } else {
    out = pending_.is_null() ? json{{"tokens", json::array()}, {"token_logprobs", json::array()},
                                    {"top_logprobs", json::array()}, {"text_offset", json::array()}}
                             : pending_;
  }
  pending_ = nullptr;
  return out;
}

json ResponseWriter::chunk_base() const {
  json c = {{"id", id_},
            {"object", request_.endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", model_.alias}};
  if (request_.include_usage) c["usage"] = nullptr;
  return c;
}

std::string ResponseWriter::role_chunk() const {
  json c = chunk_base();
  c["choices"] = json::array(
      {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
  return sse(c);
}

std::string ResponseWriter::delta_chunk(const std::string& text) {
  json c = chunk_base();
  json choice = {{"index", 0}, {"logprobs", take_logprobs()}, {"finish_reason", nullptr}};
  if (request_.endpoint == Endpoint::Chat)
    choice["delta"] = {{"content", text}};
  else
    choice["text"] = text;
  c["choices"] = json::array({choice});
  return sse(c);
}

std::string ResponseWriter::finish_chunk(Finish finish) const {
  json c = chunk_base();
  json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason_name(finish)}};
  if (request_.endpoint == Endpoint::Chat)
    choice["delta"] = json::object();
  else
    choice["text"] = "";
  c["choices"] = json::array({choice});
  return sse(c);
}

std::string ResponseWriter::usage_chunk(int64_t prompt_tokens, int64_t completion_tokens) const {
  json c = chunk_base();
  c["choices"] = json::array();
  c["usage"] = {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}};
  return sse(c);
}

json ResponseWriter::response(const std::string& text, Finish finish, int64_t prompt_tokens, int64_t completion_tokens) {
  json choice = {{"index", 0}, {"logprobs", take_logprobs()}, {"finish_reason", finish_reason_name(finish)}};
  if (request_.endpoint == Endpoint::Chat)
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  else
    choice["text"] = text;
  return {{"id", id_},
          {"object", request_.endpoint == Endpoint::Chat ? "chat.completion" : "text_completion"},
          {"created", created_},
          {"model", model_.alias},
          {"choices", json::array({choice})},
          {"usage",
           {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens}}}};
}

}  // namespace xla::server
