// openai_request.hpp — OpenAI request bodies (chat completions, completions, tokenize) read
// into what the engine runs. Every mistake is an ApiError (400) naming the field; unknown
// fields are ignored, known ones this server cannot honour are refused, never ignored.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "xla/generate.hpp"
#include "xla/tokenizer.hpp"

namespace xla::server {

// What a request is checked against.
struct ModelInfo {
  const Tokenizer* tokenizer = nullptr;
  std::string alias;          // the model id clients name
  int64_t max_context = 0;    // prompt and completion tokens of one request
  int64_t vocab_size = 0;     // the model's ids: [0, vocab_size)
};

enum class Endpoint { Chat, Completion };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::Chat;
  std::vector<int32_t> prompt;
  GenerateOptions generation;       // sampler, max_new_tokens, stop ids
  std::vector<std::string> stop;    // stop strings, matched on the text
  bool stream = false;
  bool include_usage = false;       // stream_options.include_usage
  bool logprobs = false;
  int32_t top_logprobs = 0;         // 0..20
  bool tokens_as_ids = false;       // logprobs name tokens "token_id:N"
};

nlohmann::json parse_body(const std::string& body);  // malformed JSON, or not an object: 400

// Messages [{role, content}]: role system / user / assistant, content a string or an array of
// text parts (ChatMessage::parts).
std::vector<ChatMessage> parse_messages(const nlohmann::json& messages);

CompletionRequest parse_chat_request(const nlohmann::json& body, const ModelInfo& model);
CompletionRequest parse_completion_request(const nlohmann::json& body, const ModelInfo& model);

// The prompt must fit: at least one token, fewer than max_context, every id in the vocabulary.
void check_prompt(const std::vector<int32_t>& prompt, const ModelInfo& model, const std::string& param);

}  // namespace xla::server
