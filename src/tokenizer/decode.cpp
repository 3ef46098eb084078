// decode.cpp — token ids to text through the file's decoder steps, as the Rust library runs
// them: Replace ("▁" -> " "), ByteFallback (runs of <0xXX> tokens become their UTF-8 text, or
// one U+FFFD per byte when the run is not valid UTF-8), Fuse (concatenate), Strip.
#include "tokenizer_data.hpp"

namespace xla::tokenizer_detail {

namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xXX>" -> the byte, as the Rust decoder reads it (u8::from_str_radix(XX, 16), which also
// takes "+X"); -1 for any other token.
int byte_of_token(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return -1;
  char a = token[3], b = token[4];
  if (a == '+') return hex_digit(b);
  int hi = hex_digit(a), lo = hex_digit(b);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void replace_all(std::string& token, const std::string& pattern, const std::string& content) {
  size_t hit = token.find(pattern);
  if (hit == std::string::npos) return;
  std::string out;
  size_t at = 0;
  for (; hit != std::string::npos; hit = token.find(pattern, at)) {
    out.append(token, at, hit - at);
    out += content;
    at = hit + pattern.size();
  }
  out.append(token, at, std::string::npos);
  token.swap(out);
}

void byte_fallback(std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  std::string run;  // bytes of consecutive byte tokens
  size_t run_tokens = 0;
  auto flush = [&] {
    if (run_tokens == 0) return;
    if (is_valid_utf8(run)) {
      out.push_back(run);
    } else {
      for (size_t i = 0; i < run_tokens; ++i) out.emplace_back(kReplacementChar);
    }
    run.clear();
    run_tokens = 0;
  };
  for (std::string& token : tokens) {
    int byte = byte_of_token(token);
    if (byte >= 0) {
      run += char(byte);
      ++run_tokens;
    } else {
      flush();
      out.push_back(std::move(token));
    }
  }
  flush();
  tokens.swap(out);
}

// Removes up to `start` leading and `stop` trailing copies of the code point c.
void strip_token(std::string& token, uint32_t c, size_t start, size_t stop) {
  std::string encoded;
  utf8_append(encoded, c);
  size_t begin = 0, end = token.size();
  for (size_t i = 0; i < start && token.compare(begin, encoded.size(), encoded) == 0 && begin < end; ++i)
    begin += encoded.size();
  for (size_t i = 0;
       i < stop && end >= begin + encoded.size() && token.compare(end - encoded.size(), encoded.size(), encoded) == 0;
       ++i)
    end -= encoded.size();
  token = token.substr(begin, end - begin);
}

}  // namespace

}  // namespace xla::tokenizer_detail

namespace xla {

std::string Tokenizer::decode(const int32_t* ids, size_t n, bool skip_special) const {
  using namespace tokenizer_detail;
  const TokenizerData& d = *data_;
  if (n > 0 && ids == nullptr) fail(Status::InvalidArg, "Tokenizer::decode", "ids is null");
  const int32_t vocab = int32_t(d.pieces.size());
  std::vector<std::string> tokens;
  tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t id = ids[i];
    if (id < 0 || id >= vocab)
      fail(Status::InvalidArg, "Tokenizer::decode", "token id " + std::to_string(id) + " (at position " +
                                   std::to_string(i) + ") is outside the vocabulary [0, " + std::to_string(vocab) +
                                   ")");
    if (skip_special && (d.flags[id] & kSpecialToken)) continue;
    tokens.push_back(d.pieces[id]);
  }

  if (!d.has_decoder) {  // the Rust library joins undecoded tokens with spaces
    std::string text;
    for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
    return text;
  }
  for (const DecodeStep& step : d.decoder) {
    switch (step.kind) {
      case DecodeStep::Replace:
        for (std::string& t : tokens) replace_all(t, step.pattern, step.content);
        break;
      case DecodeStep::ByteFallback: byte_fallback(tokens); break;
      case DecodeStep::Fuse: {
        std::string fused;
        for (const std::string& t : tokens) fused += t;
        tokens.assign(1, std::move(fused));
        break;
      }
      case DecodeStep::Strip:
        for (std::string& t : tokens) strip_token(t, step.strip_char, step.strip_start, step.strip_stop);
        break;
    }
  }
  std::string text;
  for (const std::string& t : tokens) text += t;
  return text;
}

}  // namespace xla
