// fuzz_http_request.cpp — an HTTP request body for POST /v1/chat/completions or
// /v1/completions (byte 0 picks which) as `xla serve` reads it: JSON parse, then every field
// checked against the model. The one acceptable refusal here is an ApiError with a 4xx status
// (what the client is answered); an accepted request must be runnable as it stands.
#include <cstdint>

#include "fuzz_support.hpp"
#include "openai_request.hpp"
#include "tiny_tokenizer.hpp"
#include "xla/sampler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  using namespace xla::server;
  static const Tokenizer tokenizer = Tokenizer::load(fuzz::write_scratch("tokenizer.json", fuzz::tiny_tokenizer_json()));
  static const ModelInfo model{&tokenizer, "tiny", 64, tokenizer.vocab_size()};
  if (size == 0) return 0;
  const bool chat = data[0] & 1;
  const std::string body(fuzz::as_text(data + 1, size - 1));
  try {
    const nlohmann::json j = parse_body(body);
    const CompletionRequest r = chat ? parse_chat_request(j, model) : parse_completion_request(j, model);
    fuzz::require(!r.prompt.empty() && int64_t(r.prompt.size()) < model.max_context, "the prompt fits the context");
    for (int32_t id : r.prompt) fuzz::require(id >= 0 && id < model.vocab_size, "prompt ids are in the vocabulary");
    fuzz::require(r.generation.max_new_tokens >= 0, "max_tokens is not negative");
    fuzz::require(r.top_logprobs >= 0 && r.top_logprobs <= 20, "top_logprobs within 0..20");
    validate(r.generation.sampler);  // an accepted request's sampler must be valid: throws otherwise
    if (std::getenv("XLA_FUZZ_VERBOSE")) std::fprintf(stderr, "accepted\n");
  } catch (const ApiError& e) {
    if (std::getenv("XLA_FUZZ_VERBOSE")) std::fprintf(stderr, "refused (%d): %s\n", e.status, e.what());
    fuzz::require(e.status >= 400 && e.status < 500, "a bad request is a 4xx");
  }
  return 0;
}
