// json_fields.hpp — the fields of a JSONL data line, read with errors that name the file and
// line (`where`): token-id arrays and strings. The preference and prompt datasets share them.
// Internal to src/train.
#pragma once
#include <climits>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "xla/error.hpp"

namespace xla::train::detail {

inline std::vector<int32_t> ids_of(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) fail(Status::Format, where + ": missing key \"" + key + "\"");
  const nlohmann::json& v = j[key];
  if (!v.is_array()) fail(Status::Format, where + ": \"" + key + "\" must be an array of token ids");
  std::vector<int32_t> ids;
  for (const nlohmann::json& x : v) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > INT32_MAX)
      fail(Status::Format, where + ": \"" + key + "\" holds " + x.dump() + ", not a token id");
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
