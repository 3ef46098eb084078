// config_fields.hpp — reading one key of a Hugging Face config.json, the way every model
// family here does: an absent key or an explicit null takes the fallback; a value of the
// wrong type, out of range or past a cap is Status::Format naming the key and the value.
// Private to src/models.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "xla/error.hpp"

namespace xla::models {

using json = nlohmann::json;

[[noreturn]] inline void config_error(const std::string& msg) { fail(Status::Format, "config.json: " + msg); }

inline bool config_has(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// An integer in [min, cap] (min 0 or 1); required: absent is an error.
inline int64_t config_int(const json& j, const char* key, bool required, int64_t fallback, int64_t cap, int64_t min) {
  if (!config_has(j, key)) {
    if (required) config_error(std::string("missing key '") + key + "'");
    return fallback;
  }
  const json& v = j[key];
  if (!v.is_number_integer()) config_error(std::string("'") + key + "' must be an integer, got " + v.dump());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(cap) : v.get<int64_t>() > cap)
    config_error(std::string("'") + key + "' is " + v.dump() + ", more than the cap of " + std::to_string(cap));
  const int64_t x = v.get<int64_t>();
  if (x < min)
    config_error(std::string("'") + key + (min > 0 ? "' must be positive, got " : "' must not be negative, got ") +
                 std::to_string(x));
  return x;
}

inline double config_number(const json& j, const char* key, double fallback) {
  if (!config_has(j, key)) return fallback;
  if (!j[key].is_number()) config_error(std::string("'") + key + "' must be a number, got " + j[key].dump());
  return j[key].get<double>();
}

inline bool config_bool(const json& j, const char* key, bool fallback) {
  if (!config_has(j, key)) return fallback;
  if (!j[key].is_boolean()) config_error(std::string("'") + key + "' must be true or false, got " + j[key].dump());
  return j[key].get<bool>();
}

inline std::string config_string(const json& j, const char* key, const std::string& fallback) {
  if (!config_has(j, key)) return fallback;
  if (!j[key].is_string()) config_error(std::string("'") + key + "' must be a string, got " + j[key].dump());
  return j[key].get<std::string>();
}

// A token id, or the first of a list of them (eos_token_id may be a list): every id of a
// list is checked, though only the first is kept — ids are int32, and 4294967298 must not
// wrap to 2.
inline int32_t config_token_id(const json& j, const char* key, int32_t fallback) {
  if (!config_has(j, key)) return fallback;
  const json& ids = j[key];
  if (ids.is_array() && ids.empty())
    config_error(std::string("'") + key + "' must be an integer or a list of integers, got []");
  for (const json& v : ids.is_array() ? ids : json::array({ids})) {
    if (!v.is_number_integer())
      config_error(std::string("'") + key + "' must be an integer or a list of integers, got " + ids.dump());
    if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(INT32_MAX)
                               : v.get<int64_t>() > INT32_MAX || v.get<int64_t>() < INT32_MIN)
      config_error(std::string("'") + key + "' holds " + v.dump() + ", not a token id (int32)");
  }
  return (ids.is_array() ? ids[0] : ids).get<int32_t>();
}

}  // namespace xla::models
