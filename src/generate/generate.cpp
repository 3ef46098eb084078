// generate.cpp — sessions and the sampling loop. Inference runs under NoGradGuard: nothing is
// recorded, whatever the caller's grad mode, so a shared model is only ever read.
#include "xla/generate.hpp"

#include <algorithm>
#include <cmath>

#include "xla/autograd.hpp"

namespace xla {

static Tensor row_tokens(const std::vector<int32_t>& ids) {
  return Tensor::from_data(ids.data(), {1, int64_t(ids.size())}, DType::I32);
}

Session::Session(const Model& model, SessionOptions options) : model_(model), state_(model.new_state()) {
  set_compile(options.compile);
}

void Session::set_compile(bool on) {
  if (!on) decode_.reset();
  if (on && !decode_) decode_ = model_.compile_decode(state_.get());
}

void Session::reset() {
  const bool compiled = bool(decode_);
  decode_.reset();  // it refers to the state it was made for
  state_ = model_.new_state();
  set_compile(compiled);
  history_.clear();
  pending_.clear();
  last_logits_.clear();
}

std::vector<float> Session::feed(const std::vector<int32_t>& ids) {
  advance(ids);
  return last_logits_;
}

void Session::advance(const std::vector<int32_t>& ids) {
  std::vector<int32_t> all = pending_;  // the last generated token, not yet in the state
  all.insert(all.end(), ids.begin(), ids.end());
  if (all.empty()) fail(Status::InvalidArg, "session feed: no tokens");
  NoGradGuard no_grad;
  // a failed forward (a bad id) leaves the state, and so the session, as it was
  if (decode_ && all.size() == 1 && state_->length() > 0) {
    const float* logits = decode_->step(all[0]);
    last_logits_.assign(logits, logits + model_.vocab_size());
  } else {
    last_logits_ = model_.forward(row_tokens(all), state_.get(), nullptr, /*last_only=*/true).to_vector();  // [1, 1, V]
  }
  history_.insert(history_.end(), ids.begin(), ids.end());
  pending_.clear();
}

std::vector<int32_t> Session::generate(const std::vector<int32_t>& prompt, const GenerateOptions& opts,
                                       const TokenCallback& on_token, bool* stopped_by_callback) {
  if (opts.max_new_tokens < 0) fail(Status::InvalidArg, "generate", "max_new_tokens is negative");
  if (stopped_by_callback) *stopped_by_callback = false;
  Sampler sampler(opts.sampler);  // validates the parameters before any work
  if (!prompt.empty() || !pending_.empty()) advance(prompt);
  if (last_logits_.empty()) fail(Status::InvalidArg, "generate", "empty prompt and no context in the session");
  std::vector<int32_t> out;
  const int64_t V = model_.vocab_size();
  for (int32_t i = 0; i < opts.max_new_tokens; ++i) {
    int32_t token = sampler.sample(last_logits_.data(), V, history_.data(), history_.size());
    out.push_back(token);
    bool stop = std::find(opts.stop_ids.begin(), opts.stop_ids.end(), token) != opts.stop_ids.end();
    if (on_token && on_token(token)) {
      if (stopped_by_callback) *stopped_by_callback = true;
      stop = true;
    }
    if (stop || i + 1 == opts.max_new_tokens) {
      pending_ = {token};  // joins the state with the next feed, so a chat continues from here
      history_.push_back(token);
      break;
    }
    advance({token});
  }
  return out;
}

std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& opts,
                              const TokenCallback& on_token, bool* stopped_by_callback) {
  if (prompt.empty()) fail(Status::InvalidArg, "generate", "empty prompt");
  Session s(model);
  return s.generate(prompt, opts, on_token, stopped_by_callback);
}

}  // namespace xla
