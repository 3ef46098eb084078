// openai_response.hpp — the JSON a completion answers with, in OpenAI's shapes: whole
// responses, streamed chunks (Server-Sent Events), logprobs, usage and errors. One writer per
// request knows its id, endpoint (chat or text completion) and options.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "openai_request.hpp"
#include "xla/engine.hpp"

namespace xla::server {

const char* finish_reason_name(Finish f);  // "stop", "length", "abort"

class ResponseWriter {
 public:
  ResponseWriter(const CompletionRequest& request, const ModelInfo& model, int64_t created);

  // Records one generated token's log-probs (when the request asked for them) for the next
  // chunk or the whole response; `text_offset` is where its text starts (completions).
  void add_logprobs(const EngineEvent& event, size_t text_offset);

  // Streaming: each returns one "data: {...}\n\n" event.
  std::string role_chunk() const;                    // chat's first chunk: the assistant role
  std::string delta_chunk(const std::string& text);  // text (may be "") + the log-probs recorded since
  std::string finish_chunk(Finish finish) const;
  std::string usage_chunk(int64_t prompt_tokens, int64_t completion_tokens) const;
  static std::string done() { return "data: [DONE]\n\n"; }

  // Not streaming: the whole response.
  nlohmann::json response(const std::string& text, Finish finish, int64_t prompt_tokens, int64_t completion_tokens);

 private:
  nlohmann::json chunk_base() const;
  nlohmann::json take_logprobs();  // null when the request asked for none
  std::string token_name(int32_t id) const;

  const CompletionRequest& request_;
  const ModelInfo& model_;
  std::string id_;
  int64_t created_;
  nlohmann::json pending_;  // chat: [entries]; completions: {tokens, token_logprobs, top_logprobs, text_offset}
};

nlohmann::json error_body(const ApiError& e);
std::string dump(const nlohmann::json& j);  // compact; invalid UTF-8 replaced, never thrown on
std::string sse(const nlohmann::json& j);   // "data: " + dump + "\n\n"

}  // namespace xla::server
