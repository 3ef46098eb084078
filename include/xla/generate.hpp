// generate.hpp — text generation over any Model: a Session owns the model's state (a KV
// cache, a recurrent state) — prefill, then one token per step, continuing across calls for
// chat — and generate() runs the sample loop with stop ids, a token budget and a streaming
// callback that can stop it.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "xla/model.hpp"
#include "xla/sampler.hpp"

namespace xla {

struct GenerateOptions {
  SamplerParams sampler;        // temperature 0 = greedy
  int32_t max_new_tokens = 256;
  std::vector<int32_t> stop_ids;  // generation ends after emitting one of these
};

// Called with each new token; returning true stops generation (the token is kept).
using TokenCallback = std::function<bool(int32_t token)>;

struct SessionOptions {
  // One-token feeds (each generated token) replay a compiled graph (Model::compile_decode):
  // no tensor allocated per token; logits equal the eager ones to float rounding. Prompts
  // still run eagerly. Status::Unsupported at construction for a model that cannot compile.
  bool compile = false;
};

class Session {
 public:
  explicit Session(const Model& model, SessionOptions options = {});  // the model must outlive the session
  // Appends tokens to the context (one forward over all of them); returns the logits [V]
  // that predict the next token.
  std::vector<float> feed(const std::vector<int32_t>& ids);
  // Feeds `prompt` (may be empty when the session already has context), then samples up to
  // max_new_tokens. Returns the new tokens; *stopped_by_callback tells whether on_token
  // asked to stop.
  std::vector<int32_t> generate(const std::vector<int32_t>& prompt, const GenerateOptions& opts,
                                const TokenCallback& on_token = {}, bool* stopped_by_callback = nullptr);
  int64_t length() const { return state_->length() + int64_t(pending_.size()); }  // tokens of context
  void reset();
  // Switches compiled one-token steps on or off (see SessionOptions::compile).
  void set_compile(bool on);
  bool compiled() const { return bool(decode_); }

 private:
  void advance(const std::vector<int32_t>& ids);  // feed() without the copy of the logits it returns

  const Model& model_;
  std::unique_ptr<ModelState> state_;
  std::unique_ptr<DecodeStep> decode_;  // over state_, when compiled
  std::vector<int32_t> history_;   // every token of the context (for the repetition penalty)
  std::vector<int32_t> pending_;   // generated last, not yet run through the model
  std::vector<float> last_logits_;
};

// One-shot generation from a fresh session.
std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& opts,
                              const TokenCallback& on_token = {}, bool* stopped_by_callback = nullptr);

}  // namespace xla
