// args.hpp — a small command-line parser for the `xla` tool: --flag value, --switch, and
// positional arguments, with errors that say what was wrong (exit code 2).
#pragma once
#include <charconv>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "xla/dtype.hpp"

namespace xla::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // `with_value`: flags that take a value; `switches`: flags that do not.
  Args(int argc, char** argv, int first, const std::set<std::string>& with_value, const std::set<std::string>& switches) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) == 0) {
        std::string name = a.substr(2), value;
        size_t eq = name.find('=');
        if (eq != std::string::npos) {
          value = name.substr(eq + 1);
          name = name.substr(0, eq);
        }
        if (switches.count(name)) {
          if (eq != std::string::npos) throw UsageError("--" + name + " takes no value");
          flags_[name] = "1";
        } else if (with_value.count(name)) {
          if (eq == std::string::npos) {
            if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
            value = argv[++i];
          }
          flags_[name] = value;
        } else {
          throw UsageError("unknown option --" + name);
        }
      } else {
        positional_.push_back(a);
      }
    }
  }
  bool has(const std::string& name) const { return flags_.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = flags_.find(name);
    return it == flags_.end() ? fallback : it->second;
  }
  std::string required(const std::string& name) const {
    if (!has(name)) throw UsageError("--" + name + " is required");
    return get(name);
  }
  double number(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    try {
      size_t used = 0;
      double v = std::stod(get(name), &used);
      if (used != get(name).size()) throw std::invalid_argument("trailing");
      return v;
    } catch (const std::exception&) {
      throw UsageError("--" + name + " expects a number, got '" + get(name) + "'");
    }
  }
  // An integer flag: decimal digits (a '-' for signed types), read as an integer, never through
  // a double, so nothing wraps or rounds; outside [lo, hi] or not an integer: a UsageError
  // naming the flag and the range.
  template <typename T>
  T integer(const std::string& name, T fallback, T lo, T hi) const {
    static_assert(std::is_integral_v<T>);
    if (!has(name)) return fallback;
    const std::string text = get(name);
    T v{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi)
      throw UsageError("--" + name + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "], got '" + text + "'");
    return v;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positional_;
};

// --weights f32|bf16|q8 (or the older --bf16): how the model holds its weights.
inline DType weight_format(const Args& a) {
  if (!a.has("weights")) return a.has("bf16") ? DType::BF16 : DType::F32;
  const std::string w = a.get("weights");
  const DType d = w == "f32" ? DType::F32 : w == "bf16" ? DType::BF16 : w == "q8" ? DType::Q8 : DType::U8;
  if (d == DType::U8) throw UsageError("--weights must be f32, bf16 or q8, got '" + w + "'");
  if (a.has("bf16") && d != DType::BF16) throw UsageError("--bf16 and --weights " + w + " disagree");
  return d;
}
constexpr const char* kWeightsHelp =
    "  --weights F               f32 (default), bf16 (half the memory) or q8 (8-bit blocks, about a\n"
    "                            quarter: the fastest decode); --bf16 is --weights bf16\n";
constexpr const char* kCompileHelp =
    "  --compile                 each new token replays a compiled graph of the model's step\n"
    "                            (Gemma; no allocation per token, the same tokens)\n";

}  // namespace xla::cli
