// api_error.hpp — an error answered to an HTTP client in OpenAI's shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// Request parsing and the handlers throw it; one place (http_server.cpp) turns it into a response.
#pragma once
#include <stdexcept>
#include <string>

namespace xla::server {

struct ApiError : std::runtime_error {
  int status;         // HTTP status: 400, 401, 404, 413, 429, 500, 503
  std::string type;   // "invalid_request_error", "authentication_error", ...
  std::string param;  // the request field at fault, "" when none
  std::string code;   // a machine-readable reason ("invalid_api_key", "queue_full"), "" when none

  ApiError(int status_, std::string message, std::string param_ = "", std::string code_ = "",
           std::string type_ = "invalid_request_error")
      : std::runtime_error(std::move(message)), status(status_), type(std::move(type_)),
        param(std::move(param_)), code(std::move(code_)) {}
};

// A 400 about one field of the request.
inline ApiError bad_request(const std::string& param, const std::string& message) {
  return ApiError(400, message, param);
}

}  // namespace xla::server
