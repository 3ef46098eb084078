// block_pool.cpp — reference counts, the published keys and the LRU list of cached blocks.
#include "block_pool.hpp"

#include "xla/error.hpp"

namespace xla::serve {

// splitmix64's finaliser: every input bit moves every output bit
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

BlockKey block_key(uint64_t parent, const int32_t* tokens, int64_t n) {
  BlockKey k;
  k.parent = parent;
  k.tokens.assign(tokens, tokens + n);
  uint64_t h = mix(parent ^ 0x5eed);
  for (int64_t i = 0; i < n; ++i) h = mix(h ^ uint32_t(tokens[i]));
  k.hash = h == 0 ? 1 : h;  // 0 means "unpublished"
  return k;
}

BlockPool::BlockPool(int64_t blocks)
    : refs_(size_t(blocks), 0), keys_(size_t(blocks)), lru_pos_(size_t(blocks)), in_lru_(size_t(blocks), 0) {
  free_.reserve(size_t(blocks));
  for (int64_t b = blocks - 1; b >= 0; --b) free_.push_back(b);  // hand out block 0 first
}

int64_t BlockPool::allocate() {
  int64_t b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();
    lru_.pop_front();
    in_lru_[size_t(b)] = 0;
    auto it = published_.find(keys_[size_t(b)].hash);
    if (it != published_.end() && it->second == b) published_.erase(it);
    keys_[size_t(b)] = BlockKey{};
  } else {
    return -1;
  }
  refs_[size_t(b)] = 1;
  ++held_;
  return b;
}

void BlockPool::retain(int64_t b) {
  if (refs_[size_t(b)]++ == 0) {
    ++held_;
    if (in_lru_[size_t(b)]) {
      lru_.erase(lru_pos_[size_t(b)]);
      in_lru_[size_t(b)] = 0;
    }
  }
}

void BlockPool::release(int64_t b) {
  if (refs_[size_t(b)] <= 0) fail(Status::Internal, "block pool: block " + std::to_string(b) + " released more than held");
  if (--refs_[size_t(b)] > 0) return;
  --held_;
  if (keys_[size_t(b)].hash != 0) {
    lru_.push_back(b);
    lru_pos_[size_t(b)] = std::prev(lru_.end());
    in_lru_[size_t(b)] = 1;
  } else {
    free_.push_back(b);
  }
}

int64_t BlockPool::find(const BlockKey& key) const {
  auto it = published_.find(key.hash);
  if (it == published_.end() || !(keys_[size_t(it->second)] == key)) return -1;
  return it->second;
}

void BlockPool::publish(int64_t b, const BlockKey& key) {
  if (keys_[size_t(b)].hash != 0) return;  // already published
  auto [it, inserted] = published_.emplace(key.hash, b);
  if (inserted) keys_[size_t(b)] = key;
}

}  // namespace xla::serve
