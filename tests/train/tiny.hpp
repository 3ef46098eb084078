// tiny.hpp — what the training tests share: a small random Gemma (byte vocabulary, 2
// layers) and scratch folders that do not outlive the test program.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "xla/gemma.hpp"

// A fresh, empty folder for one test: <test temp dir>/xla_<name>_<pid>. Every folder made
// here is removed, with its contents, when the test program exits (a forked child that is
// killed removes nothing).
inline std::string scratch_dir(const std::string& name) {
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
    }
  };
  static Cleanup cleanup;
  const std::string d = ::testing::TempDir() + "xla_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  cleanup.dirs.push_back(d);
  return d;
}

inline xla::GemmaConfig tiny_config(int version = 3) {
  xla::GemmaConfig c;
  c.version = version;
  c.vocab_size = 259;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 16;
  c.query_pre_attn_scalar = 16;
  c.sliding_window = 8;
  c.sliding = {1, 0};
  if (version == 2) c.attn_softcap = 50, c.final_softcap = 30;
  return c;
}
