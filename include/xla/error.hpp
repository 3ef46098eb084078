// error.hpp — the one exception type libxla's C++ layers throw.
// It carries the status kind that capi/ turns into an xla_status, where the problem was
// found (the function's name, e.g. "matmul", "GemmaModel::load"; may be empty), and a
// message that names the offending shapes or values. Never thrown across the C boundary.
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
  Busy = -11,  // a full queue: try again later
};

class Error : public std::runtime_error {
 public:
  // what() is the message.
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status), message_(message) {}
  // what() is "where: message".
  Error(Status status, std::string where, const std::string& message)
      : std::runtime_error(where.empty() ? message : where + ": " + message),
        status_(status),
        where_(std::move(where)),
        message_(message) {}
  Status status() const noexcept { return status_; }
  // The function that found the problem ("" if the message names it itself or none).
  const std::string& where() const noexcept { return where_; }
  // what() without the where.
  const std::string& message() const noexcept { return message_; }

 private:
  Status status_;
  std::string where_, message_;
};

[[noreturn]] inline void fail(Status s, const std::string& msg) { throw Error(s, msg); }
[[noreturn]] inline void fail(Status s, std::string where, const std::string& msg) {
  throw Error(s, std::move(where), msg);
}

}  // namespace xla
