// kv_pages.hpp — the keys and values of a paged KV cache, and attention over them.
// One KVPages holds a group of layers (the global ones, or the sliding-window ones: each
// group has its own blocks and block tables, so a sliding layer keeps only its window).
// Layout: [block][layer of the group][kv head][position in block][head_dim], keys and values
// apart, in f32 or bf16. The memory is reserved up front and touched only as blocks are
// first written, so a large capacity costs nothing until it is used.
#pragma once
#include <cstdint>
#include <memory>

#include "xla/dtype.hpp"

namespace xla::serve {

class KVPages {
 public:
  KVPages(int64_t blocks, int64_t layers, int64_t kv_heads, int64_t block_tokens, int64_t head_dim, DType dtype);
  int64_t blocks() const { return blocks_; }
  size_t nbytes() const;

  // Where the new tokens of a ragged batch sit: token i is at position pos[i] of the sequence
  // whose block table is tables[i] (block index → block, -1 = not held).
  struct Tokens {
    int64_t n;
    const int64_t* pos;
    const int32_t* const* tables;
  };
  // Writes the new tokens' keys and values for one layer of the group: k, v [KVH, n, D].
  void write(int64_t layer, const Tokens& t, const float* k, const float* v);
  // Attention of the new tokens over their own sequences, positions max(0, p - window + 1) …
  // p (window 0: all of 0 … p), read through the block tables in position order; every row's
  // sums run in the same order whatever else is in the batch. q, out [H, n, D] (query head h
  // reads kv head h / (H / KVH)); scores = scale · q·k, soft-capped when softcap > 0.
  void attend(int64_t layer, const Tokens& t, const float* q, int64_t heads, int64_t window, float scale,
              float softcap, float* out) const;

 private:
  template <typename E> void attend_as(const E* k, const E* v, int64_t layer, const Tokens& t, const float* q,
                                       int64_t heads, int64_t window, float scale, float softcap, float* out) const;
  int64_t offset(int64_t layer, int64_t block, int64_t head, int64_t slot) const {
    return (((block * layers_ + layer) * kv_heads_ + head) * block_tokens_ + slot) * head_dim_;
  }
  int64_t blocks_, layers_, kv_heads_, block_tokens_, head_dim_;
  DType dtype_;
  std::unique_ptr<float[]> k32_, v32_;
  std::unique_ptr<uint16_t[]> k16_, v16_;
};

}  // namespace xla::serve
