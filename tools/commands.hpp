// commands.hpp — one function per `xla` subcommand (tools/commands.cpp).
#pragma once

namespace xla::cli {
int cmd_generate(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_create(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_plot(int argc, char** argv);   // tools/plot.cpp
int cmd_serve(int argc, char** argv);  // tools/serve.cpp
}  // namespace xla::cli
