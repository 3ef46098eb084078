// strict_json.hpp — JSON text parsed the strict way for files libxla trusts nothing in
// (config.json, a checkpoint's state.json, safetensors headers and shard indexes): a duplicate key, a number past double's range
// (1e400) or bad syntax is Status::Format, naming the key it was under, never a
// nlohmann exception that would surface as an internal error.
#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "xla/error.hpp"

namespace xla::detail {

// `where` prefixes every message ("config.json", "checkpoint: DIR/state.json").
inline nlohmann::json parse_json_strict(std::string_view text, const std::string& where) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string duplicate, last_key;
  auto cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) keys.emplace_back();
    else if (ev == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    else if (ev == json::parse_event_t::key && !keys.empty() && parsed.is_string()) {
      last_key = parsed.get<std::string>();
      if (!keys.back().insert(last_key).second && duplicate.empty()) duplicate = last_key;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), cb);
  } catch (const json::out_of_range& e) {  // a number nlohmann cannot hold: 1e400
    fail(Status::Format, where + ": the value of '" + last_key + "' is out of range (" + e.what() + ")");
  } catch (const json::exception& e) {
    fail(Status::Format, where + ": not valid JSON (" + e.what() + ")");
  }
  if (!duplicate.empty()) fail(Status::Format, where + ": key '" + duplicate + "' appears twice");
  return j;
}

}  // namespace xla::detail
