// xla_main.cpp — the `xla` command-line tool: generate, chat, serve, tokenize, info, create,
// quantize, plot.
// Exit codes scripts can rely on: 0 success, 1 a runtime error (missing or corrupt file,
// bad model), 2 a usage error (unknown command or option, missing argument).
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "ranks.hpp"

namespace {

const char* kUsage =
    "usage: xla <command> [options]\n"
    "\n"
    "commands:\n"
    "  generate  --model DIR --prompt TEXT   generate text, streamed as it comes\n"
    "  chat      --model DIR                 talk to a model, turn by turn (the KV cache is kept)\n"
    "  serve     --model DIR                 an OpenAI-compatible HTTP server (continuous batching)\n"
    "  tokenize  --tokenizer FILE TEXT       print the token ids and pieces of TEXT\n"
    "  info      [DIR]                       a model folder's architecture and dtypes; the CPU kernels in use\n"
    "  create    --config FILE --out DIR     a model with random weights, saved as a Hugging Face folder\n"
    "  quantize  DIR OUT                     the model with 8-bit weights (int8 blocks + f16 scales)\n"
    "  plot      FILE.jsonl... -o OUT.svg    training metrics (loss, lr, ...) drawn as an SVG\n"
    "\n"
    "`xla <command> --help` describes a command's options. Under mpirun, `xla generate` splits\n"
    "the model over the ranks (pipeline-parallel inference; rank 0 prints).\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  int status = 0;
  try {
    const auto world = xla::cli::start_ranks(&argc, &argv);
    if (world && world->world_size() > 1 && cmd != "generate")
      throw xla::cli::UsageError("runs in one process; under mpirun only `xla generate` uses the ranks");
    if (cmd == "generate") status = xla::cli::cmd_generate(argc, argv);
    else if (cmd == "chat") status = xla::cli::cmd_chat(argc, argv);
    else if (cmd == "serve") status = xla::cli::cmd_serve(argc, argv);
    else if (cmd == "tokenize") status = xla::cli::cmd_tokenize(argc, argv);
    else if (cmd == "info") status = xla::cli::cmd_info(argc, argv);
    else if (cmd == "create") status = xla::cli::cmd_create(argc, argv);
    else if (cmd == "quantize") status = xla::cli::cmd_quantize(argc, argv);
    else if (cmd == "plot") status = xla::cli::cmd_plot(argc, argv);
    else throw xla::cli::UsageError("unknown command '" + cmd + "'");
  } catch (const xla::cli::UsageError& e) {
    if (xla::cli::is_first_rank()) std::fprintf(stderr, "xla %s: %s\n\n%s", cmd.c_str(), e.what(), kUsage);
    status = 2;
  } catch (const std::exception& e) {
    // one rank's error ends every rank: the others may be waiting for it
    xla::cli::abort_ranks("xla " + cmd + ": " + e.what());
  }
  xla::cli::stop_ranks();
  return status;
}
