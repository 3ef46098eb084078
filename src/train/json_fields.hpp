// json_fields.hpp — a JSONL data line and its fields, read with errors that name the file and
// line (`where`): the object, token-id arrays and strings. The preference and prompt datasets
// share them. Internal to src/train.
#pragma once
#include <climits>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "xla/error.hpp"

namespace xla::train::detail {

// A line of JSONL as a JSON object (Status::Format naming `where` when it is not one).
inline nlohmann::json object_of(std::string_view line, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    fail(Status::Format, where + ": not JSON (" + e.what() + ")");
  }
  if (!j.is_object()) fail(Status::Format, where + ": not a JSON object");
  return j;
}

// The array of token ids at `key`, each in [0, vocab): an id the tokenizer does not know would
// index past the embedding.
inline std::vector<int32_t> ids_of(const nlohmann::json& j, const char* key, const std::string& where,
                                   int32_t vocab) {
  if (!j.contains(key)) fail(Status::Format, where + ": missing key \"" + key + "\"");
  const nlohmann::json& v = j[key];
  if (!v.is_array()) fail(Status::Format, where + ": \"" + key + "\" must be an array of token ids");
  std::vector<int32_t> ids;
  for (const nlohmann::json& x : v) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
      fail(Status::Format, where + ": \"" + key + "\" holds " + x.dump() + ", not a token id");
    if (x.get<int64_t>() >= vocab)
      fail(Status::Format, where + ": \"" + key + "\" holds " + x.dump() + ", outside the vocabulary of " +
                               std::to_string(vocab) + " tokens");
    ids.push_back(x.get<int32_t>());
  }
  return ids;
}

inline std::string text_of(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) fail(Status::Format, where + ": missing key \"" + key + "\"");
  if (!j[key].is_string()) fail(Status::Format, where + ": \"" + key + "\" must be a string");
  return j[key].get<std::string>();
}

}  // namespace xla::train::detail
