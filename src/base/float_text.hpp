// float_text.hpp — float options as the decimals they were written as, and numbers as the
// shortest text that reads back as them. The losses' options are float in the C ABI; their
// double arithmetic starts from the written decimal (beta = 0.1f means 0.1, not
// 0.100000001490116), so results agree with float64 references to ~1e-16, not ~1e-8.
#pragma once
#include <charconv>
#include <string>

namespace xla {

inline double as_written(float v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  double d = v;
  if (ec == std::errc()) std::from_chars(buf, end, d);
  return d;
}

// "0.1", "-1", "nan": for messages.
inline std::string shortest_text(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}
inline std::string shortest_text(float v) { return shortest_text(as_written(v)); }

}  // namespace xla
