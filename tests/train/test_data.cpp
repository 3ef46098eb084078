// Data: byte codec round trip, packing and completion masks by hand, JSONL errors, the
// seeded split and shuffled batches (same seed, same order; saved state resumes exactly).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tiny.hpp"
#include "xla/data.hpp"

using namespace xla;
namespace {

std::vector<int32_t> ids_of(const Tensor& t) {
  std::vector<int32_t> v(size_t(t.numel()));
  t.copy_to(v.data());
  return v;
}

TEST(TextCodec, BytesRoundTripAndIds) {
  train::TextCodec c;
  std::vector<int32_t> ids = c.encode("Az\xE2\x82\xAC");  // A z €
  EXPECT_EQ(ids, (std::vector<int32_t>{65 + 3, 122 + 3, 0xE2 + 3, 0x82 + 3, 0xAC + 3}));
  std::vector<int32_t> with_special = {2, 68, 125, 1};
  EXPECT_EQ(c.decode(with_special), "Az");
  EXPECT_EQ(c.decode(ids), "Az\xE2\x82\xAC");
  EXPECT_EQ(c.vocab_size(), 259);
  EXPECT_THROW(c.decode({259}), Error);
}

TEST(Dataset, PackedRowsShiftTargetsByOne) {
  std::vector<int32_t> stream = {10, 11, 12, 13, 14, 15, 16, 17};
  train::Dataset d = train::Dataset::packed(stream, 3);
  ASSERT_EQ(d.size(), 2u);  // [10..13], [13..16]; 17 is a tail shorter than L + 1
  EXPECT_EQ(d[0].inputs, (std::vector<int32_t>{10, 11, 12}));
  EXPECT_EQ(d[0].targets, (std::vector<int32_t>{11, 12, 13}));
  EXPECT_EQ(d[1].inputs, (std::vector<int32_t>{13, 14, 15}));
  EXPECT_EQ(d[1].targets, (std::vector<int32_t>{14, 15, 16}));
}

TEST(Dataset, TextDocumentsGetBosAndEos) {
  train::TextCodec c;
  train::Dataset d = train::Dataset::from_text("ab\n\ncd", c, 7);
  ASSERT_EQ(d.size(), 1u);  // <bos> a b <eos> <bos> c d <eos>: 8 tokens = one row of 7 + 1
  EXPECT_EQ(d[0].inputs, (std::vector<int32_t>{2, 'a' + 3, 'b' + 3, 1, 2, 'c' + 3, 'd' + 3}));
  EXPECT_EQ(d[0].targets.back(), 1);
}

TEST(Dataset, SupervisedMasksThePrompt) {
  train::TextCodec c;
  train::Dataset d = train::Dataset::supervised({{"ab", "c"}}, c, 6);
  // sequence: <bos> a b c <eos>; positions 0..3 feed it, position 2 (b) predicts c, 3 predicts <eos>
  EXPECT_EQ(d[0].inputs, (std::vector<int32_t>{2, 'a' + 3, 'b' + 3, 'c' + 3, 0, 0}));
  EXPECT_EQ(d[0].targets, (std::vector<int32_t>{-100, -100, 'c' + 3, 1, -100, -100}));
  try {
    train::Dataset::supervised({{"ok", "x"}, {"a long prompt", "and answer"}}, c, 6);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pair 1 is 25 tokens"), std::string::npos) << e.what();
  }
}

TEST(Dataset, JsonlPairsAndErrorsNameTheLine) {
  const std::string dir = scratch_dir("data_jsonl");
  {
    std::ofstream f(dir + "/ok.jsonl");
    f << "{\"prompt\": \"1+1=\", \"response\": \"2\"}\n\n{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n";
  }
  train::TextCodec c;
  train::Dataset d = train::Dataset::from_jsonl(dir + "/ok.jsonl", c, 8);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[1].targets[4], '4' + 3);  // <bos> 2 + 2 = → position 4 ('=') predicts '4'
  {
    std::ofstream f(dir + "/bad.jsonl");
    f << "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": 3}\n";
  }
  try {
    train::Dataset::from_jsonl(dir + "/bad.jsonl", c, 8);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train::Dataset::from_jsonl(dir + "/missing.jsonl", c, 8), Error);
  std::filesystem::remove_all(dir);
}

TEST(Dataset, SplitIsSeededDisjointAndComplete) {
  std::vector<int32_t> stream(101);
  for (int i = 0; i < 101; ++i) stream[size_t(i)] = i;
  train::Dataset d = train::Dataset::packed(stream, 1);  // 100 rows, row i = [i] → [i+1]
  auto [tr, va] = d.split(0.1, 7);
  auto [tr2, va2] = d.split(0.1, 7);
  EXPECT_EQ(va.size(), 10u);
  EXPECT_EQ(tr.size(), 90u);
  std::set<int32_t> seen;
  for (size_t i = 0; i < va.size(); ++i) {
    seen.insert(va[i].inputs[0]);
    EXPECT_EQ(va[i].inputs, va2[i].inputs);
  }
  for (size_t i = 0; i < tr.size(); ++i) EXPECT_TRUE(seen.insert(tr[i].inputs[0]).second);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_NE(d.split(0.1, 8).second.fingerprint(), va.fingerprint());
}

TEST(Batcher, SeededEpochsCoverEveryRowAndResumeExactly) {
  std::vector<int32_t> stream(21);
  for (int i = 0; i < 21; ++i) stream[size_t(i)] = i;
  train::Dataset d = train::Dataset::packed(stream, 2);  // 10 rows
  train::Batcher a(d, 3, 42), b(d, 3, 42);
  std::multiset<int32_t> epoch0;
  Tensor in, tg;
  for (int i = 0; i < 3; ++i) {  // 3 full batches an epoch; the 10th row waits for another epoch
    a.next(in, tg);
    for (int32_t v : ids_of(in)) epoch0.insert(v);
    EXPECT_EQ(ids_of(tg)[1], ids_of(in)[1] + 1);
  }
  EXPECT_EQ(epoch0.size(), 18u);
  EXPECT_EQ(std::set<int32_t>(epoch0.begin(), epoch0.end()).size(), 18u);  // no row twice
  train::Batcher::State s = a.state();
  Tensor x1, y1, x2, y2;
  a.next(x1, y1);  // wraps into epoch 1
  EXPECT_EQ(a.state().epoch, 1);
  b.set_state(s);
  b.next(x2, y2);
  EXPECT_EQ(ids_of(x1), ids_of(x2));
  train::Batcher other(d, 3, 43);
  Tensor x3, y3;
  other.next(x3, y3);
  train::Batcher again(d, 3, 42);
  Tensor x4, y4;
  again.next(x4, y4);
  EXPECT_NE(ids_of(x3), ids_of(x4));
  EXPECT_THROW(train::Batcher(d, 11, 1), Error);
}

}  // namespace
