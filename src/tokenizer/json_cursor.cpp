// json_cursor.cpp — the forward-only JSON reader the tokenizer loader walks tokenizer.json
// with: strings (escapes, surrogate pairs, UTF-8 validation), integers, and skipping any value
// (recursion bounded in depth, so hostile nesting cannot overflow the stack).
#include "json_cursor.hpp"

#include "tokenizer_data.hpp"

namespace xla::tokenizer_detail {

namespace {
constexpr int kMaxDepth = 256;
}

void JsonCursor::error(const std::string& what) const {
  fail(Status::Format, source_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
}

void JsonCursor::expect(char c) {
  if (peek() != c) {
    if (pos_ >= text_.size()) error(std::string("unexpected end of JSON, expected '") + c + "'");
    error(std::string("expected '") + c + "' but found '" + text_[pos_] + "'");
  }
  ++pos_;
}

bool JsonCursor::next_element(char closing) {
  char c = peek();
  if (c == ',') {
    ++pos_;
    return true;
  }
  if (c == closing) {
    ++pos_;
    return false;
  }
  if (c == '\0' && pos_ >= text_.size()) error("unexpected end of JSON");
  error(std::string("expected ',' or '") + closing + "' after an element");
}

void JsonCursor::expect_end() {
  skip_blank();
  if (pos_ != text_.size()) error("unexpected text after the JSON value");
}

uint32_t JsonCursor::read_hex4() {
  if (text_.size() - pos_ < 4) error("truncated \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    char c = text_[pos_++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
    else error("bad hex digit in \\u escape");
  }
  return v;
}

std::string_view JsonCursor::read_string(std::string& scratch) {
  if (peek() != '"') error(pos_ >= text_.size() ? "unexpected end of JSON, expected a string" : "expected a string");
  ++pos_;
  auto bytes = reinterpret_cast<const unsigned char*>(text_.data());
  const size_t n = text_.size();
  size_t run_start = pos_;
  bool escaped = false;
  while (true) {
    if (pos_ >= n) error("unterminated string");
    unsigned char c = bytes[pos_];
    if (c == '"') {
      std::string_view run = text_.substr(run_start, pos_ - run_start);
      ++pos_;
      if (!escaped) return run;
      scratch.append(run);
      return scratch;
    }
    if (c == '\\') {
      if (!escaped) scratch.clear();
      escaped = true;
      scratch.append(text_.substr(run_start, pos_ - run_start));
      if (++pos_ >= n) error("unterminated string");
      char e = text_[pos_++];
      switch (e) {
        case '"': scratch += '"'; break;
        case '\\': scratch += '\\'; break;
        case '/': scratch += '/'; break;
        case 'b': scratch += '\b'; break;
        case 'f': scratch += '\f'; break;
        case 'n': scratch += '\n'; break;
        case 'r': scratch += '\r'; break;
        case 't': scratch += '\t'; break;
        case 'u': {
          uint32_t cp = read_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") error("lone UTF-16 surrogate in \\u escape");
            pos_ += 2;
            uint32_t low = read_hex4();
            if (low < 0xDC00 || low > 0xDFFF) error("lone UTF-16 surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("lone UTF-16 surrogate in \\u escape");
          }
          utf8_append(scratch, cp);
          break;
        }
        default: --pos_; error(std::string("bad escape '\\") + e + "' in string");
      }
      run_start = pos_;
      continue;
    }
    if (c < 0x20) error("control character inside a string");
    if (c < 0x80) {
      ++pos_;
      continue;
    }
    size_t len = utf8_sequence_length(bytes + pos_, n - pos_);
    if (len == 0) error("invalid UTF-8 inside a string");
    pos_ += len;
  }
}

int64_t JsonCursor::read_integer() {
  skip_blank();
  size_t start = pos_;
  bool negative = pos_ < text_.size() && text_[pos_] == '-';
  if (negative) ++pos_;
  if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
    pos_ = start;
    error("expected an integer");
  }
  int64_t value = 0;
  while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
    if (value > (int64_t(1) << 53)) error("integer too large");
    value = value * 10 + (text_[pos_++] - '0');
  }
  if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
    pos_ = start;
    error("expected an integer, found a number with a fraction or exponent");
  }
  return negative ? -value : value;
}

void JsonCursor::skip_number() {
  size_t start = pos_;
  if (text_[pos_] == '-') ++pos_;
  auto digits = [&] {
    size_t d = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > d;
  };
  if (!digits()) {
    pos_ = start;
    error("malformed number");
  }
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    if (!digits()) error("malformed number");
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    if (!digits()) error("malformed number");
  }
}

void JsonCursor::skip_literal(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word) error("unexpected character");
  pos_ += word.size();
}

void JsonCursor::skip_value_at_depth(int depth) {
  if (depth > kMaxDepth) error("JSON nested too deeply");
  std::string scratch;
  char c = peek();
  switch (c) {
    case '{':
      ++pos_;
      if (accept('}')) return;
      do {
        read_string(scratch);
        expect(':');
        skip_value_at_depth(depth + 1);
      } while (next_element('}'));
      return;
    case '[':
      ++pos_;
      if (accept(']')) return;
      do {
        skip_value_at_depth(depth + 1);
      } while (next_element(']'));
      return;
    case '"': read_string(scratch); return;
    case 't': skip_literal("true"); return;
    case 'f': skip_literal("false"); return;
    case 'n': skip_literal("null"); return;
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return skip_number();
      if (pos_ >= text_.size()) error("unexpected end of JSON");
      error(std::string("unexpected character '") + c + "'");
  }
}

std::string_view JsonCursor::skip_value() {
  skip_blank();
  size_t start = pos_;
  skip_value_at_depth(0);
  return text_.substr(start, pos_ - start);
}

}  // namespace xla::tokenizer_detail
