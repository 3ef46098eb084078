// error.hpp — the one exception type libxla's C++ layers throw.
// It carries the status kind that capi/ turns into an xla_status, and a message that
// names the op and the offending shapes. Never thrown across the C boundary.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace xla {

// Same numbers as the XLA_ERR_* codes of xla.h (capi checks this with static_asserts).
enum class Status : int32_t {
  Ok = 0,
  InvalidArg = -1,
  Shape = -2,
  DType = -3,
  IO = -4,
  Format = -5,
  OOM = -6,
  BufferTooSmall = -7,
  Unsupported = -8,
  Aborted = -9,
  Internal = -10,
};

class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

[[noreturn]] inline void fail(Status s, const std::string& msg) { throw Error(s, msg); }

}  // namespace xla
