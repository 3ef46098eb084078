// serve.cpp — `xla serve`: the flags of the OpenAI-compatible server (src/server/), checked
// here so that a bad one is a usage error (exit 2) before anything is loaded.
#include <cmath>
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "http_server.hpp"
#include "text_file.hpp"

namespace xla::cli {

namespace {

const char* kServeHelp =
    "usage: xla serve --model DIR [options]\n"
    "An OpenAI-compatible HTTP server (POST /v1/chat/completions, /v1/completions, GET /v1/models,\n"
    "/tokenize, /detokenize, /health, /metrics) over the continuous-batching engine.\n"
    "  --model DIR           Hugging Face folder (config.json, *.safetensors)\n"
    "  --tokenizer FILE      tokenizer.json (default: DIR/tokenizer.json)\n"
    "  --host ADDR           address to listen on (default 127.0.0.1)\n"
    "  --port N              default 8080; 0 = any free port\n"
    "  --parallel N          sequences decoded together (default 8)\n"
    "  --ctx N               tokens per request, prompt and completion (default: the model's)\n"
    "  --kv-tokens N         KV cache capacity in tokens, all requests together (default: enough for --parallel full contexts)\n"
    "  --max-queue N         requests waiting beyond the running ones; the next gets 429 (default 32)\n"
    "  --api-key KEY         require 'Authorization: Bearer KEY' on /v1/*, /tokenize, /detokenize\n"
    "  --api-key-file FILE   the same, the key read from FILE (kept out of the process list)\n"
    "  --alias NAME          the model id clients name (default: the folder's name)\n"
    "  --max-body BYTES      largest request body accepted (default 1048576); larger ones get 413\n"
    "  --weights F           f32 (default), bf16 (half the memory) or q8 (8-bit blocks); --bf16 = bf16\n"
    "  --batch-invariant     a request's logits bit-identical however it is batched (slower prefill)\n"
    "When ready it prints `listening on http://HOST:PORT`. SIGINT or SIGTERM ends the requests under way\n"
    "and exits with status 0.\n";

std::string trim_line_ends(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kServeHelp, stdout);
      return 0;
    }
  Args a(argc, argv, 2,
         {"model", "tokenizer", "host", "port", "parallel", "ctx", "kv-tokens", "max-queue", "api-key", "api-key-file",
          "alias", "max-body", "weights"},
         {"bf16", "batch-invariant"});
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  server::ServerOptions o;
  o.model_dir = a.required("model");
  o.tokenizer_path = a.get("tokenizer");
  o.host = a.get("host", "127.0.0.1");
  o.port = int(a.integer<int64_t>("port", 8080, 0, 65535));
  o.engine.max_seqs = int32_t(a.integer<int64_t>("parallel", 8, 1, 4096));
  o.engine.max_context = a.integer<int64_t>("ctx", 0, 0, int64_t(1) << 31);
  o.engine.kv_tokens = a.integer<int64_t>("kv-tokens", 0, 0, int64_t(1) << 40);
  o.engine.max_queue = int32_t(a.integer<int64_t>("max-queue", 32, 0, 65536));
  o.max_body = size_t(a.integer<int64_t>("max-body", 1 << 20, 1024, int64_t(1) << 32));
  o.alias = a.get("alias");
  o.weights = weight_format(a);
  o.engine.batch_invariant = a.has("batch-invariant");
  if (a.has("api-key") && a.has("api-key-file")) throw UsageError("give --api-key or --api-key-file, not both");
  if (a.has("api-key")) o.api_key = a.get("api-key");
  if (a.has("api-key-file")) o.api_key = trim_line_ends(io::read_text_file(a.get("api-key-file")));
  if ((a.has("api-key") || a.has("api-key-file")) && o.api_key.empty()) throw UsageError("the API key is empty");
  return server::run_server(o);
}

}  // namespace xla::cli
