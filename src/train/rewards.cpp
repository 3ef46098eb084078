// rewards.cpp — GRPO's built-in reward functions: an exact-match answer check and a format
// regex. Anything else is the caller's function (grpo_trainer.hpp, Reward).
#include <regex>

#include "xla/grpo_trainer.hpp"

namespace xla::train {
namespace {

std::string_view trimmed(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

Reward exact_match_reward(double weight, std::string name) {
  return {std::move(name),
          [](const Completion& c) {
            const std::string_view want = trimmed(c.prompt.answer);
            return !want.empty() && trimmed(c.text) == want ? 1.0 : 0.0;
          },
          weight};
}

Reward format_reward(const std::string& pattern, double weight, std::string name) {
  std::shared_ptr<const std::regex> re;
  try {
    re = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail(Status::InvalidArg, "format_reward: the pattern '" + pattern + "' does not compile: " + e.what());
  }
  return {std::move(name),
          [re](const Completion& c) { return std::regex_match(c.text.begin(), c.text.end(), *re) ? 1.0 : 0.0; },
          weight};
}

}  // namespace xla::train
