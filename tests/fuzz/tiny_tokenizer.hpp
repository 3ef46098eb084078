// tiny_tokenizer.hpp — a tokenizer.json shaped like Gemma's, small enough to load in a
// microsecond: specials <pad> <eos> <bos> <unk>, the 256 byte tokens, the chat markers and a
// few merges. The targets that need a tokenizer (not the one that fuzzes tokenizer.json) use it.
#pragma once
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace xla::fuzz {

inline std::string tiny_tokenizer_json() {
  using nlohmann::json;
  json vocab = json::object(), added = json::array();
  int id = 0;
  auto special = [&](const char* s) {
    added.push_back({{"id", id}, {"content", s}, {"special", true}, {"normalized", false}, {"lstrip", false},
                     {"rstrip", false}, {"single_word", false}});
    vocab[s] = id++;
  };
  for (const char* s : {"<pad>", "<eos>", "<bos>", "<unk>"}) special(s);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = id++;
  }
  special("<start_of_turn>");
  special("<end_of_turn>");
  for (const char* s : {"a", "b", "ab", "\xE2\x96\x81", "\xE2\x96\x81" "a"}) vocab[s] = id++;
  const json merges = json::array({json::array({"a", "b"}), json::array({"\xE2\x96\x81", "a"})});
  const json file = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}},
      {"pre_tokenizer", nullptr},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}}})}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  return file.dump();
}

}  // namespace xla::fuzz
