// block_pool.hpp — the bookkeeping of a paged KV cache's blocks (no KV data: see kv_pages.hpp).
// A block is held by the sequences whose block tables name it (a reference count). A full
// block can be published under a key — a hash chained with everything before it, as vLLM
// keys its prefix cache — so that a later sequence with the same tokens finds it. When its
// last holder lets go, a published block is not wiped: it waits in an LRU list, still
// findable, and is reused for other data only when no never-used block is left.
#pragma once
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace xla::serve {

// What a published block holds: its tokens, and the key of the blocks before it.
struct BlockKey {
  uint64_t hash = 0;                // chained: hash(parent, tokens)
  uint64_t parent = 0;              // the previous block's hash (0 for the first block)
  std::vector<int32_t> tokens;      // compared on lookup, so a hash collision never matches
  bool operator==(const BlockKey& o) const { return hash == o.hash && parent == o.parent && tokens == o.tokens; }
};
BlockKey block_key(uint64_t parent, const int32_t* tokens, int64_t n);

class BlockPool {
 public:
  explicit BlockPool(int64_t blocks);
  int64_t size() const { return int64_t(refs_.size()); }

  // A block for new data, held once: a never-used one, else the least recently released
  // cached one (forgetting its key); -1 when every block is held.
  int64_t allocate();
  void retain(int64_t block);   // one more holder (a cached block leaves the LRU list)
  void release(int64_t block);  // one less; at zero, cached blocks go to the LRU list, others are free

  // The block published under `key`, held or cached, or -1. Does not retain it.
  int64_t find(const BlockKey& key) const;
  // `block` (held, full) now holds what `key` describes. A key already published by another
  // block keeps that one (two sequences computed the same block at once): this one stays private.
  void publish(int64_t block, const BlockKey& key);

  int64_t held() const { return held_; }                        // blocks with at least one holder
  int64_t available() const { return size() - held_; }          // free or cached, allocatable
  int64_t cached() const { return int64_t(lru_.size()); }       // released but still findable

 private:
  std::vector<int32_t> refs_;
  std::vector<BlockKey> keys_;                 // per block; hash 0 = unpublished
  std::vector<std::list<int64_t>::iterator> lru_pos_;
  std::vector<uint8_t> in_lru_;
  std::list<int64_t> lru_;                     // cached blocks, least recently released first
  std::vector<int64_t> free_;                  // never used, or evicted
  std::unordered_map<uint64_t, int64_t> published_;  // hash → block
  int64_t held_ = 0;
};

}  // namespace xla::serve
