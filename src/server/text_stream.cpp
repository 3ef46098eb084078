// text_stream.cpp — incremental detokenisation with UTF-8 and stop-string holdback.
#include "text_stream.hpp"

#include <algorithm>

namespace xla::server {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a "<0xXX>" piece, -1 for any other piece.
int piece_byte(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int hi = hex_value(piece[3]), lo = hex_value(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

bool is_byte_token(const Tokenizer& tokenizer, int32_t id) {
  return id >= 0 && id < tokenizer.vocab_size() && piece_byte(tokenizer.piece(id)) >= 0;
}

std::string token_bytes(const Tokenizer& tokenizer, int32_t id) {
  const std::string& piece = tokenizer.piece(id);
  if (int b = piece_byte(piece); b >= 0) return std::string(1, char(b));
  if (tokenizer.is_special(id)) return piece;
  std::string out;
  static const std::string kSpaceMark = "\xE2\x96\x81";  // "▁"
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out += ' ';
      i += kSpaceMark.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

TextStream::TextStream(const Tokenizer& tokenizer, std::vector<std::string> stop_strings)
    : tokenizer_(tokenizer), stops_(std::move(stop_strings)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string TextStream::push(int32_t token) {
  tokens_.push_back(token);
  // Only a normal token closes a run of byte tokens: special tokens are dropped before the
  // byte runs are decoded, so a run goes on across them.
  if (is_byte_token(tokenizer_, token) || tokenizer_.is_special(token) || stopped_) return "";
  stable_tokens_ = tokens_.size();
  return advance(tokenizer_.decode(tokens_.data(), stable_tokens_, /*skip_special=*/true), false);
}

std::string TextStream::finish() {
  stable_tokens_ = tokens_.size();
  return advance(tokenizer_.decode(tokens_.data(), tokens_.size(), /*skip_special=*/true), true);
}

// final_text extends emitted_ (decoding a longer stable prefix only appends). A stop string
// cannot begin inside emitted_: an ending that could start one is never emitted.
std::string TextStream::advance(const std::string& final_text, bool at_end) {
  if (stopped_) return "";
  const size_t from = std::min(emitted_.size(), final_text.size());
  size_t stop_at = std::string::npos;
  for (const std::string& s : stops_) stop_at = std::min(stop_at, final_text.find(s, from));
  size_t end = final_text.size();
  if (stop_at != std::string::npos) {
    end = stop_at;
    stopped_ = true;
  } else if (!at_end) {
    size_t hold = 0;  // the longest ending that is a proper prefix of a stop string
    for (const std::string& s : stops_)
      for (size_t k = std::min(s.size() - 1, final_text.size() - from); k > hold; --k)
        if (final_text.compare(final_text.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
    end -= hold;
  }
  std::string delta = final_text.substr(from, end - from);
  emitted_ += delta;
  return delta;
}

}  // namespace xla::server
