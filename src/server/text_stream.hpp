// text_stream.hpp — a request's generated tokens turned into text as it becomes final: the
// deltas a stream sends. Two things hold text back:
//  - a trailing run of byte tokens (<0xE2><0x82>...): until a normal token closes the run it
//    may still turn out to be a character, or (if it is not valid UTF-8) one U+FFFD per byte,
//    exactly as decoding all the tokens at once would give;
//  - an ending that could be the start of a stop string.
// So the concatenated deltas equal tokenizer.decode(all tokens, skip_special = true), cut
// before the first stop string, and no delta ever ends inside a UTF-8 character.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "xla/tokenizer.hpp"

namespace xla::server {

class TextStream {
 public:
  TextStream(const Tokenizer& tokenizer, std::vector<std::string> stop_strings);

  // Appends one token; returns the text that became final (often "", never a partial
  // character). After a stop string is found, stopped() is true, the text before it has been
  // returned, and later pushes return "".
  std::string push(int32_t token);
  // The end of generation: returns the text still held back (cut at a stop string, if one
  // appears only now).
  std::string finish();

  bool stopped() const { return stopped_; }
  const std::string& text() const { return emitted_; }  // every delta so far, concatenated
  size_t tokens() const { return tokens_.size(); }

 private:
  std::string advance(const std::string& final_text, bool at_end);

  const Tokenizer& tokenizer_;
  std::vector<std::string> stops_;
  std::vector<int32_t> tokens_;
  size_t stable_tokens_ = 0;  // tokens_[0, stable_tokens_) decode to text that can no longer change
  std::string emitted_;
  bool stopped_ = false;
};

// True when the token is a byte-fallback piece "<0xXX>" (its text depends on its neighbours).
bool is_byte_token(const Tokenizer& tokenizer, int32_t id);
// The raw bytes a token stands for: the byte of "<0xXX>", the piece with "▁" as a space
// otherwise (special tokens: their text). For logprobs' `bytes`.
std::string token_bytes(const Tokenizer& tokenizer, int32_t id);

}  // namespace xla::server
