// http_server.hpp — `xla serve`: an OpenAI-compatible HTTP server (cpp-httplib) over the
// serving engine. docs/server.md is its reference; the book's serving chapter explains it.
#pragma once
#include <cstddef>
#include <string>

#include "xla/engine.hpp"

namespace xla::server {

struct ServerOptions {
  std::string model_dir;
  std::string tokenizer_path;   // "" = model_dir/tokenizer.json
  std::string host = "127.0.0.1";
  int port = 8080;              // 0 = any free port
  std::string alias;            // the model id clients name; "" = the model folder's name
  std::string api_key;          // "" = none needed
  DType weights = DType::F32;  // how the model holds its weights: F32, BF16 or Q8
  size_t max_body = 1 << 20;    // bytes of a request body; larger ones get 413
  EngineOptions engine;         // max_seqs (--parallel), max_queue, kv_tokens, max_context (--ctx)
};

// Binds, loads the model, prints "listening on http://HOST:PORT" (stdout, one line) and
// serves until SIGINT or SIGTERM; then ends the requests under way and returns 0. Throws
// xla::Error for a model or tokenizer that cannot be loaded, std::runtime_error for an
// address it cannot bind.
int run_server(const ServerOptions& options);

}  // namespace xla::server
