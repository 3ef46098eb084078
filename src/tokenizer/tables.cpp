// tables.cpp — the lookup structures behind the tokenizer: the piece -> id hash index, the
// (left, right) -> (rank, merged) merge table, the byte trie that finds added tokens
// (leftmost-longest, as the Rust library's Aho-Corasick matcher does), and the normalizer.
#include <algorithm>
#include <cstring>

#include "tokenizer_data.hpp"

namespace xla::tokenizer_detail {

uint64_t hash_bytes(std::string_view s) {
  // 8 bytes at a time, multiply-xorshift mixing; pieces are short, so this is mostly one round.
  uint64_t h = 0x243F6A8885A308D3ull ^ (s.size() * 0x9E3779B97F4A7C15ull);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

// ---- PieceIndex ----

void PieceIndex::reset(size_t expected) {
  size_t capacity = 16;
  while (capacity < expected + expected / 2 + 16) capacity *= 2;  // load factor <= 2/3
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  count_ = 0;
}

PieceIndex::Slot PieceIndex::make_slot(std::string_view s, int32_t id) {
  Slot slot;
  slot.id_plus_1 = uint32_t(id) + 1;
  slot.length = uint8_t(std::min<size_t>(s.size(), 255));
  std::memcpy(slot.head, s.data(), std::min(s.size(), kHeadBytes));
  return slot;
}

int32_t PieceIndex::insert_hashed(const std::vector<std::string>& pieces, int32_t id, uint64_t hash) {
  if (4 * (count_ + 1) > 3 * slots_.size()) {  // grow and re-place what is there
    std::vector<Slot> old = std::move(slots_);
    reset(old.size());
    for (const Slot& slot : old)
      if (slot.id_plus_1) insert(pieces, int32_t(slot.id_plus_1 - 1));
  }
  const std::string& s = pieces[id];
  Slot probe = make_slot(s, id);
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.id_plus_1 == 0) {
      slot = probe;
      ++count_;
      return -1;
    }
    if (same_head(slot, probe)) {
      int32_t other = int32_t(slot.id_plus_1 - 1);
      if (s.size() <= kHeadBytes || pieces[other] == s) return other;
    }
  }
}

int32_t PieceIndex::find_hashed(const std::vector<std::string>& pieces, std::string_view s, uint64_t hash) const {
  if (slots_.empty()) return -1;
  Slot probe = make_slot(s, 0);
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id_plus_1 == 0) return -1;
    if (same_head(slot, probe)) {
      int32_t id = int32_t(slot.id_plus_1 - 1);
      if (s.size() <= kHeadBytes || pieces[id] == s) return id;
    }
  }
}

// ---- MergeTable ----

void MergeTable::reserve(size_t merges) {
  size_t capacity = 16;
  int bits = 4;
  while (capacity < 2 * merges + 16) {
    capacity *= 2;
    ++bits;
  }
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64 - bits;
  count_ = 0;
}

void MergeTable::insert(int32_t left, int32_t right, uint32_t rank, int32_t merged) {
  if (2 * (count_ + 1) > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.size());
    for (const Slot& s : old)
      if (s.key != kEmpty) insert(int32_t(s.key >> 32), int32_t(uint32_t(s.key)), s.rank, s.merged);
  }
  uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  for (uint64_t i = slot_of(key);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) {
      s.rank = rank;
      s.merged = merged;
      return;
    }
    if (s.key == kEmpty) {
      s = Slot{key, rank, merged};
      ++count_;
      return;
    }
  }
}

// ---- normalizer ----

void normalize_text(const std::vector<NormalizeStep>& steps, std::string& text, std::string& scratch) {
  for (const NormalizeStep& step : steps) {
    if (step.kind == NormalizeStep::Prepend) {
      if (!text.empty()) text.insert(0, step.content);  // the Rust Prepend skips empty strings
      continue;
    }
    size_t hit = text.find(step.pattern);
    if (hit == std::string::npos) continue;
    scratch.clear();
    size_t at = 0;
    for (; hit != std::string::npos; hit = text.find(step.pattern, at)) {
      scratch.append(text, at, hit - at);
      scratch += step.content;
      at = hit + step.pattern.size();
    }
    scratch.append(text, at, std::string::npos);
    text.swap(scratch);
  }
}

// ---- AddedTokenMatcher ----

void AddedTokenMatcher::add(std::string_view content, int32_t id) {
  if (content.empty()) return;
  int32_t node = 0;
  for (unsigned char b : content) {
    auto& children = nodes_[node].children;
    auto it =
        std::lower_bound(children.begin(), children.end(), b,
                         [](const std::pair<unsigned char, int32_t>& c, unsigned char key) { return c.first < key; });
    if (it != children.end() && it->first == b) {
      node = it->second;
    } else {
      int32_t child = int32_t(nodes_.size());
      children.insert(it, {b, child});
      nodes_.push_back(Node{});  // may reallocate: `children` is not used after this
      node = child;
    }
  }
  nodes_[node].token = id;
  first_bytes_[(unsigned char)content[0]] = true;
}

size_t AddedTokenMatcher::longest_at(std::string_view text, size_t pos, int32_t& id) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto& children = nodes_[node].children;
    unsigned char b = (unsigned char)text[i];
    auto it =
        std::lower_bound(children.begin(), children.end(), b,
                         [](const std::pair<unsigned char, int32_t>& c, unsigned char key) { return c.first < key; });
    if (it == children.end() || it->first != b) break;
    node = it->second;
    if (nodes_[node].token >= 0) {
      best = i + 1 - pos;
      id = nodes_[node].token;
    }
  }
  return best;
}

}  // namespace xla::tokenizer_detail
