// fingerprint.hpp — what checkpoints and caches are keyed by: a 64-bit hash over bytes, and
// the fingerprint of a model's config and weights. Not cryptographic. Internal to src/train.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "xla/model.hpp"

namespace xla::train::detail {

// A 64-bit hash over bytes, eight at a time (keys caches and checkpoints: not cryptographic).
struct Hasher {
  uint64_t h = 0x243F6A8885A308D3ull;
  void word(uint64_t w) {
    h ^= w * 0x9E3779B97F4A7C15ull;
    h = ((h << 27) | (h >> 37)) * 0x94D049BB133111EBull + 0x2545F4914F6CDD1Dull;
  }
  void bytes(const void* p, size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    word(n);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, c + i, 8);
      word(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, c + i, n - i);
    word(tail);
  }
  void text(const std::string& s) { bytes(s.data(), s.size()); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

// What a model computes: its config, and every weight's name, dtype, shape and bytes — the
// adapters too when they take part (with_lora). Hex, 16 digits.
std::string model_fingerprint(const Model& model, bool with_lora);

}  // namespace xla::train::detail
