// tokenizer_data.hpp — private to src/tokenizer: the tables a loaded tokenizer.json becomes
// (pieces, the piece -> id index, the merge table, the added-token matcher, the normalizer /
// pre-tokenizer / decoder steps) and the small UTF-8 helpers the encoder and decoder share.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xla/tokenizer.hpp"

namespace xla::tokenizer_detail {

// ---- UTF-8 ----

// Length of the well-formed UTF-8 sequence at s[0..n) (1-4; no overlongs, surrogates or code
// points above U+10FFFF), or 0 when the bytes there are not one.
inline size_t utf8_sequence_length(const unsigned char* s, size_t n) {
  unsigned char b0 = s[0];
  if (b0 < 0x80) return 1;
  if (b0 < 0xC2) return 0;
  if (b0 < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  if (b0 < 0xF0) {
    if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (b0 == 0xE0 && s[1] < 0xA0) return 0;   // overlong
    if (b0 == 0xED && s[1] >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 < 0xF5) {
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    if (b0 == 0xF0 && s[1] < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && s[1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

inline bool is_valid_utf8(std::string_view s) {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len = utf8_sequence_length(p + i, n - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// The code point of a well-formed sequence of `len` bytes.
inline uint32_t utf8_decode(const unsigned char* s, size_t len) {
  switch (len) {
    case 1: return s[0];
    case 2: return (uint32_t(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return (uint32_t(s[0] & 0x0F) << 12) | (uint32_t(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
      return (uint32_t(s[0] & 0x07) << 18) | (uint32_t(s[1] & 0x3F) << 12) | (uint32_t(s[2] & 0x3F) << 6) |
             (s[3] & 0x3F);
  }
}

inline void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

inline constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581 "▁"

// ---- piece -> id ----

uint64_t hash_bytes(std::string_view s);

// Open addressing over ids; the strings live in the pieces vector given to every call, which
// must not change the indexed entries afterwards. Each slot keeps the piece's length and first
// bytes, so most lookups touch one cache line and never the piece itself; hash first and
// prefetch() to overlap the memory latency of many lookups.
class PieceIndex {
 public:
  void reset(size_t expected);
  // Adds pieces[id]; returns -1, or the id already holding an equal string (then nothing is added).
  int32_t insert(const std::vector<std::string>& pieces, int32_t id) {
    return insert_hashed(pieces, id, hash_bytes(pieces[id]));
  }
  int32_t insert_hashed(const std::vector<std::string>& pieces, int32_t id, uint64_t hash);
  int32_t find(const std::vector<std::string>& pieces, std::string_view s) const {
    return find_hashed(pieces, s, hash_bytes(s));
  }
  int32_t find_hashed(const std::vector<std::string>& pieces, std::string_view s, uint64_t hash) const;
  void prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }

 private:
  static constexpr size_t kHeadBytes = 11;
  struct alignas(16) Slot {  // 16 bytes: id, length, head
    uint32_t id_plus_1 = 0;  // 0 = empty
    uint8_t length = 0;      // min(size, 255)
    char head[kHeadBytes] = {};
  };
  static_assert(sizeof(Slot) == 16);
  static Slot make_slot(std::string_view s, int32_t id);
  // Compares length and head, the slot's bytes 4..15, as one 8-byte and one 4-byte word.
  static bool same_head(const Slot& slot, const Slot& probe) {
    auto a = reinterpret_cast<const char*>(&slot), b = reinterpret_cast<const char*>(&probe);
    uint64_t a0, b0;
    uint32_t a1, b1;
    __builtin_memcpy(&a0, a + 4, 8);
    __builtin_memcpy(&b0, b + 4, 8);
    __builtin_memcpy(&a1, a + 12, 4);
    __builtin_memcpy(&b1, b + 12, 4);
    return a0 == b0 && a1 == b1;
  }
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  size_t count_ = 0;
};

// ---- (left id, right id) -> (rank, merged id) ----

class MergeTable {
 public:
  void reserve(size_t merges);
  // A later merge of the same pair replaces the earlier one (the Rust library's HashMap does).
  void insert(int32_t left, int32_t right, uint32_t rank, int32_t merged);
  // Returns false when the pair does not merge.
  bool find(int32_t left, int32_t right, uint32_t& rank, int32_t& merged) const {
    uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    for (uint64_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) {
        rank = s.rank;
        merged = s.merged;
        return true;
      }
      if (s.key == kEmpty) return false;
    }
  }
  void prefetch(int32_t left, int32_t right) const {
    __builtin_prefetch(&slots_[slot_of((uint64_t(uint32_t(left)) << 32) | uint32_t(right))]);
  }
  size_t size() const { return count_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  struct Slot {
    uint64_t key = kEmpty;
    uint32_t rank = 0;
    int32_t merged = 0;
  };
  uint64_t slot_of(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  int shift_ = 64;
  size_t count_ = 0;
};

// ---- added tokens: leftmost-longest matching ----

class AddedTokenMatcher {
 public:
  void add(std::string_view content, int32_t id);
  bool empty() const { return nodes_.size() <= 1; }
  bool may_start_with(unsigned char b) const { return first_bytes_[b]; }
  // Length and id of the longest added token starting at text[pos]; length 0 if none.
  size_t longest_at(std::string_view text, size_t pos, int32_t& id) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token = -1;
  };
  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_bytes_{};
};

// ---- pipeline steps ----

struct NormalizeStep {
  enum Kind { Replace, Prepend } kind;
  std::string pattern;  // Replace: the string replaced
  std::string content;  // Replace: the replacement; Prepend: the prefix
};

// Applies the normalizer's steps to text in place (scratch: reusable working space).
void normalize_text(const std::vector<NormalizeStep>& steps, std::string& text, std::string& scratch);

struct SplitStep {  // the Split pre-tokenizer with a String pattern
  enum Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous } behavior;
  std::string pattern;
};

struct DecodeStep {
  enum Kind { Replace, ByteFallback, Fuse, Strip } kind;
  std::string pattern, content;  // Replace
  uint32_t strip_char = 0;       // Strip: the code point removed
  size_t strip_start = 0, strip_stop = 0;
};

// ---- the whole tokenizer ----

enum : uint8_t { kInModelVocab = 1, kAddedToken = 2, kSpecialToken = 4 };

struct TokenizerData {
  std::vector<std::string> pieces;  // by id
  std::vector<uint8_t> flags;       // by id: kInModelVocab | kAddedToken | kSpecialToken
  PieceIndex model_index;           // the BPE model's vocab (what BPE may look up)
  PieceIndex added_only_index;      // added tokens that are not in the model's vocab

  MergeTable merges;
  std::array<int32_t, 128> ascii_id{};    // model id of each one-byte character, -1 if none
  std::array<int32_t, 256> byte_token{};  // id of "<0xXX>", -1 if none
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
  int32_t unk = -1;

  // Metaspace chunking: a word may be cut in front of "▁" when no merge result contains the
  // character before it followed by "▁" (then no merge can ever cross that point, and BPE on
  // the pieces gives the same tokens as BPE on the whole word).
  bool metaspace_chunking = false;
  std::vector<uint32_t> joins_metaspace;  // sorted code points that some merge result has before "▁"

  AddedTokenMatcher raw_added;         // added tokens matched in the raw text (normalized: false)
  AddedTokenMatcher normalized_added;  // added tokens matched after normalization (normalized: true)
  std::vector<NormalizeStep> normalizer;
  bool has_split = false;
  SplitStep split;
  bool has_decoder = false;
  std::vector<DecodeStep> decoder;
  std::vector<int32_t> prefix_ids, suffix_ids;  // post-processor template around the text

  int32_t bos = -1, eos = -1, pad = -1, start_of_turn = -1, end_of_turn = -1;
};

// Builds the tokenizer from the text of a tokenizer.json (`source` names it in errors).
std::shared_ptr<const TokenizerData> parse_tokenizer_json(std::string_view json, const std::string& source);

}  // namespace xla::tokenizer_detail
