// json_cursor.hpp — private to src/tokenizer: a forward-only JSON reader over a text buffer.
// It lets the loader walk tokenizer.json's big parts (model.vocab, model.merges: ~33 MB for
// Gemma 3) without building a document tree; small parts are handed to nlohmann as raw spans.
// Strict JSON (RFC 8259): strings must be valid UTF-8; every error is Status::Format with the byte offset.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "xla/error.hpp"

namespace xla::tokenizer_detail {

class JsonCursor {
 public:
  JsonCursor(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  [[noreturn]] void error(const std::string& what) const;

  size_t offset() const { return pos_; }
  size_t remaining() const { return text_.size() - pos_; }
  size_t size() const { return text_.size(); }
  void seek(size_t offset) { pos_ = offset; }

  // The first non-blank character ahead (0 at the end), without consuming it.
  char peek() {
    skip_blank();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  void expect(char c);
  // Consumes c if it is next.
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  // In an object or array after an element: true if another follows (consumes ','), false at
  // the closing bracket (consumed).
  bool next_element(char closing);
  void expect_end();  // nothing but blanks may follow

  // A string; the view points into the text when it has no escapes, else into `scratch`.
  std::string_view read_string(std::string& scratch);
  int64_t read_integer();  // a JSON number that is an integer (no fraction, no exponent)
  // Skips any value and returns its raw text.
  std::string_view skip_value();

 private:
  void skip_blank() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
      ++pos_;
    }
  }
  void skip_value_at_depth(int depth);
  void skip_number();
  void skip_literal(std::string_view word);
  uint32_t read_hex4();

  std::string_view text_;
  const std::string& source_;
  size_t pos_ = 0;
};

}  // namespace xla::tokenizer_detail
