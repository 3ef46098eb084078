// xla_main.cpp — the `xla` command-line tool: generate, chat, serve, tokenize, info, create, plot.
// Exit codes scripts can rely on: 0 success, 1 a runtime error (missing or corrupt file,
// bad model), 2 a usage error (unknown command or option, missing argument).
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"

namespace {

const char* kUsage =
    "usage: xla <command> [options]\n"
    "\n"
    "commands:\n"
    "  generate  --model DIR --prompt TEXT   generate text, streamed as it comes\n"
    "  chat      --model DIR                 talk to a model, turn by turn (the KV cache is kept)\n"
    "  serve     --model DIR                 an OpenAI-compatible HTTP server (continuous batching)\n"
    "  tokenize  --tokenizer FILE TEXT       print the token ids and pieces of TEXT\n"
    "  info      DIR                         architecture, parameter count, dtypes of a model folder\n"
    "  create    --config FILE --out DIR     a model with random weights, saved as a Hugging Face folder\n"
    "  plot      FILE.jsonl... -o OUT.svg    training metrics (loss, lr, ...) drawn as an SVG\n"
    "\n"
    "`xla <command> --help` describes a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "generate") return xla::cli::cmd_generate(argc, argv);
    if (cmd == "chat") return xla::cli::cmd_chat(argc, argv);
    if (cmd == "serve") return xla::cli::cmd_serve(argc, argv);
    if (cmd == "tokenize") return xla::cli::cmd_tokenize(argc, argv);
    if (cmd == "info") return xla::cli::cmd_info(argc, argv);
    if (cmd == "create") return xla::cli::cmd_create(argc, argv);
    if (cmd == "plot") return xla::cli::cmd_plot(argc, argv);
    throw xla::cli::UsageError("unknown command '" + cmd + "'");
  } catch (const xla::cli::UsageError& e) {
    std::fprintf(stderr, "xla %s: %s\n\n%s", cmd.c_str(), e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xla %s: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
