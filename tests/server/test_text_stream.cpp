// test_text_stream.cpp — the server's incremental detokenisation, with the real Gemma 3
// tokenizer: the deltas of a stream add up to decode(all tokens), never end inside a UTF-8
// character, and stop at (and never show) a stop string.
#include <gtest/gtest.h>

#include <random>

#include "text_stream.hpp"

namespace xla::server {
namespace {

const Tokenizer& tok() {
  static const Tokenizer t = Tokenizer::load(XLA_TOKENIZER_JSON);
  return t;
}

int32_t byte_id(unsigned char b) {
  char piece[8];
  std::snprintf(piece, sizeof piece, "<0x%02X>", b);
  return tok().id_of(piece);
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Streams `ids` and returns the deltas.
std::vector<std::string> stream(const std::vector<int32_t>& ids, std::vector<std::string> stops = {}) {
  TextStream ts(tok(), std::move(stops));
  std::vector<std::string> deltas;
  for (int32_t id : ids) deltas.push_back(ts.push(id));
  deltas.push_back(ts.finish());
  return deltas;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) s += p;
  return s;
}

TEST(TextStream, ByteRunIsHeldUntilANormalTokenClosesIt) {
  // "€" is E2 82 AC: in byte tokens, then " euro"
  std::vector<int32_t> ids = {byte_id(0xE2), byte_id(0x82), byte_id(0xAC)};
  std::vector<int32_t> euro = tok().encode(" euro", false);
  TextStream ts(tok(), {});
  for (int32_t id : ids) EXPECT_EQ(ts.push(id), "");
  EXPECT_EQ(ts.push(euro[0]), "\xE2\x82\xAC" + tok().decode(euro, true));
  EXPECT_EQ(ts.finish(), "");
}

TEST(TextStream, InvalidByteRunBecomesOneReplacementPerByteAsDecodeDoes) {
  // a valid "é" (C3 A9) followed by a lone FF: the whole run is invalid, so decode() gives
  // three U+FFFD — the stream must not have sent "é" early.
  std::vector<int32_t> ids = {byte_id(0xC3), byte_id(0xA9), byte_id(0xFF), tok().encode("x", false)[0]};
  auto deltas = stream(ids);
  EXPECT_EQ(joined(deltas), tok().decode(ids, true));
  EXPECT_EQ(joined(deltas), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx");
}

TEST(TextStream, DeltasAddUpToDecodeAndNeverSplitACharacter) {
  // random mixtures of text tokens, byte tokens of multi-byte characters (whole and cut) and
  // special tokens (which decode drops, joining the byte runs around them)
  std::vector<int32_t> pool = tok().encode("Hello, wörld — 日本語 😀 !", false);
  for (unsigned char b : std::string("\xF0\x9F\x98\x80\xE6\x97\xA5\xC3\xA9")) pool.push_back(byte_id(b));
  pool.push_back(tok().start_of_turn_id());
  pool.push_back(tok().bos_id());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int32_t> ids(1 + rng() % 24);
    for (int32_t& id : ids) id = pool[rng() % pool.size()];
    auto deltas = stream(ids);
    ASSERT_EQ(joined(deltas), tok().decode(ids, true)) << "trial " << trial;
    for (const std::string& d : deltas) ASSERT_TRUE(valid_utf8(d)) << "trial " << trial;
  }
}

TEST(TextStream, StopStringEndsTheTextAndIsNeverSent) {
  std::vector<int32_t> ids = tok().encode("The answer is 42. Next question", false);
  TextStream ts(tok(), {". Next", "zzz"});
  std::string sent;
  size_t pushed = 0;
  for (int32_t id : ids) {
    sent += ts.push(id);
    ++pushed;
    if (ts.stopped()) break;
  }
  EXPECT_TRUE(ts.stopped());
  EXPECT_EQ(sent, "The answer is 42");
  EXPECT_EQ(ts.text(), "The answer is 42");
  EXPECT_LT(pushed, ids.size());  // it stopped before the last token
  EXPECT_EQ(ts.push(ids.back()), "");
  EXPECT_EQ(ts.finish(), "");
}

TEST(TextStream, PossibleStopPrefixIsHeldThenReleased) {
  // "ab" might start the stop string "abc": held back; at the end it is released
  std::vector<int32_t> ids = tok().encode("xx ab", false);
  std::string before_finish;
  TextStream ts(tok(), {"abc"});
  for (int32_t id : ids) before_finish += ts.push(id);
  EXPECT_EQ(before_finish.find("ab"), std::string::npos);
  EXPECT_EQ(before_finish + ts.finish(), "xx ab");
  EXPECT_FALSE(ts.stopped());
}

TEST(TextStream, StopStringAcrossTokensAndAtTheVeryEnd) {
  std::vector<int32_t> ids = tok().encode("one two three", false);
  auto deltas = stream(ids, {"o thr"});
  EXPECT_EQ(joined(deltas), "one tw");
  auto tail = stream(ids, {"three"});
  EXPECT_EQ(joined(tail), "one two ");
}

TEST(TextStream, TokenBytes) {
  EXPECT_EQ(token_bytes(tok(), byte_id(0xE2)), "\xE2");
  EXPECT_EQ(token_bytes(tok(), tok().id_of("\xE2\x96\x81the")), " the");
  EXPECT_EQ(token_bytes(tok(), tok().end_of_turn_id()), "<end_of_turn>");
  EXPECT_TRUE(is_byte_token(tok(), byte_id(0x41)));
  EXPECT_FALSE(is_byte_token(tok(), tok().eos_id()));
}

}  // namespace
}  // namespace xla::server
