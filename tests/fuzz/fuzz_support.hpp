// fuzz_support.hpp — what every fuzz target shares: a private scratch folder to write inputs
// into (the parsers under test read files, as users call them), and the one rule of the
// harness: an xla::Error is a refusal, the right answer to bad input; any other exception
// escaping a parser is a bug, and so is a crash, a sanitizer report or a hang.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "xla/error.hpp"

namespace xla::fuzz {

// A folder of this process's own, made once, removed at exit. Held by a pointer never freed:
// the exit handler runs after static objects are destroyed.
inline const std::string& scratch_dir() {
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto* d = new std::string(std::string(tmp && *tmp ? tmp : "/tmp") + "/xla-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

// Writes bytes to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f.flush()) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Runs fn; an xla::Error (a clear refusal) is fine and returns false, success returns true.
// Anything else propagates: libFuzzer reports an uncaught exception as a crash.
// XLA_FUZZ_VERBOSE=1 prints each outcome (to see why a seed does not get deep).
template <typename Fn>
bool refused_or_ok(Fn&& fn) {
  static const bool verbose = std::getenv("XLA_FUZZ_VERBOSE") != nullptr;
  try {
    fn();
    if (verbose) std::fprintf(stderr, "accepted\n");
    return true;
  } catch (const xla::Error& e) {
    if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
    return false;
  }
}

// A property the target checks on inputs that were accepted; failing it is a crash.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property failed: %s\n", what);
    std::abort();
  }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace xla::fuzz
