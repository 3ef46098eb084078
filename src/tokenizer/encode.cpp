// encode.cpp — text to token ids, in the Hugging Face order: added tokens split off the raw text
// (leftmost-longest), each remaining segment normalized (Gemma: " " -> "▁") and pre-tokenized,
// then BPE per word: characters (unknown ones as <0xXX> byte tokens), merged lowest rank first,
// leftmost first on ties, with a heap over a linked list of symbols — O(n log n) per word.
#include <algorithm>
#include <climits>
#include <functional>
#include <utility>

#include "tokenizer_data.hpp"

namespace xla::tokenizer_detail {

namespace {

constexpr uint32_t kNoMerge = 0xFFFFFFFFu;

// One BPE symbol: a token id over a span of the word, linked to its live neighbours. The pair
// (this, next) merges into pair_merged at rank pair_rank, or not at all (kNoMerge).
struct Symbol {
  int32_t id;  // -1 once merged into its left neighbour
  int32_t prev, next;
  uint32_t pair_rank;
  int32_t pair_merged;
};

class Encoder {
 public:
  Encoder(const TokenizerData& data, std::vector<int32_t>& out) : d_(data), out_(out) {}

  void encode_text(std::string_view text) {
    split_added(d_.raw_added, text, [this](std::string_view segment) { encode_segment(segment); });
  }

 private:
  // Calls on_segment for the text between added tokens and appends the added tokens' ids.
  template <typename OnSegment>
  void split_added(const AddedTokenMatcher& matcher, std::string_view text, OnSegment&& on_segment) {
    if (matcher.empty()) {
      on_segment(text);
      return;
    }
    size_t segment_start = 0, pos = 0;
    while (pos < text.size()) {
      int32_t id;
      size_t len;
      if (matcher.may_start_with((unsigned char)text[pos]) && (len = matcher.longest_at(text, pos, id)) > 0) {
        on_segment(text.substr(segment_start, pos - segment_start));
        out_.push_back(id);
        pos += len;
        segment_start = pos;
      } else {
        ++pos;
      }
    }
    on_segment(text.substr(segment_start));
  }

  void encode_segment(std::string_view raw) {
    if (raw.empty()) return;
    normalized_.assign(raw);
    normalize_text(d_.normalizer, normalized_, replaced_);
    split_added(d_.normalized_added, normalized_, [this](std::string_view part) { pre_tokenize(part); });
  }

  // The Split pre-tokenizer (String pattern), with the Rust library's behaviours.
  void pre_tokenize(std::string_view text) {
    if (text.empty()) return;
    const std::string& pattern = d_.split.pattern;
    if (!d_.has_split || text.find(pattern) == std::string_view::npos) return encode_word(text);  // Gemma: always
    struct Part {
      size_t begin, end;
      bool is_match;
    };
    std::vector<Part> parts;
    size_t previous_end = 0;
    for (size_t at = text.find(pattern); at != std::string_view::npos; at = text.find(pattern, at + pattern.size())) {
      if (at > previous_end) parts.push_back({previous_end, at, false});
      parts.push_back({at, at + pattern.size(), true});
      previous_end = at + pattern.size();
    }
    if (previous_end < text.size()) parts.push_back({previous_end, text.size(), false});

    std::vector<Part> words;
    bool previous_match = false;
    switch (d_.split.behavior) {
      case SplitStep::Removed:
        for (const Part& p : parts)
          if (!p.is_match) words.push_back(p);
        break;
      case SplitStep::Isolated: words = std::move(parts); break;
      case SplitStep::MergedWithPrevious:
        for (const Part& p : parts) {
          if (p.is_match && !previous_match && !words.empty()) words.back().end = p.end;
          else words.push_back(p);
          previous_match = p.is_match;
        }
        break;
      case SplitStep::MergedWithNext:
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
          if (it->is_match && !previous_match && !words.empty()) words.back().begin = it->begin;
          else words.push_back(*it);
          previous_match = it->is_match;
        }
        std::reverse(words.begin(), words.end());
        break;
      case SplitStep::Contiguous:
        for (const Part& p : parts) {
          if (p.is_match == previous_match && !words.empty()) words.back().end = p.end;
          else words.push_back(p);
          previous_match = p.is_match;
        }
        break;
    }
    for (const Part& w : words) encode_word(text.substr(w.begin, w.end - w.begin));
  }

  void encode_word(std::string_view word) {
    if (word.empty()) return;
    if (d_.ignore_merges) {
      int32_t whole = d_.model_index.find(d_.pieces, word);
      if (whole >= 0) {
        out_.push_back(whole);
        return;
      }
    }
    if (!d_.metaspace_chunking) return encode_chunk(word);
    size_t chunk_start = 0;
    for (size_t at = word.find(kMetaspace, 1); at != std::string_view::npos;
         at = word.find(kMetaspace, at + kMetaspace.size())) {
      if (at > chunk_start && can_cut_before(word, at)) {
        encode_chunk(word.substr(chunk_start, at - chunk_start));
        chunk_start = at;
      }
    }
    encode_chunk(word.substr(chunk_start));
  }

  // True if no merge can join the character before word[at] with the "▁" at word[at]: the
  // symbol there ends in that character, or in '>' when it fell back to byte tokens.
  bool can_cut_before(std::string_view word, size_t at) const {
    auto bytes = reinterpret_cast<const unsigned char*>(word.data());
    size_t lead = at - 1;
    while (lead > 0 && at - lead < 4 && (bytes[lead] & 0xC0) == 0x80) --lead;
    size_t len = utf8_sequence_length(bytes + lead, at - lead);
    uint32_t last = '>';
    if (len == at - lead) {
      int32_t id = len == 1 ? d_.ascii_id[bytes[lead]] : d_.model_index.find(d_.pieces, word.substr(lead, len));
      if (id >= 0) last = utf8_decode(bytes + lead, len);
    }
    return !std::binary_search(d_.joins_metaspace.begin(), d_.joins_metaspace.end(), last);
  }

  void push_symbol(int32_t id) {
    int32_t index = int32_t(symbols_.size());
    symbols_.push_back({id, index - 1, index + 1, kNoMerge, -1});
  }

  // Characters -> symbols, as the Rust BPE model does: a character in the vocabulary is its
  // token; else its bytes' <0xXX> tokens (byte fallback); else <unk> (consecutive ones fused
  // when fuse_unk). Like the Rust code, a pending <unk> is emitted at the next known character,
  // not before byte-fallback tokens. A byte that is not valid UTF-8 is a one-byte character.
  void make_symbols(std::string_view chunk) {
    symbols_.clear();
    auto bytes = reinterpret_cast<const unsigned char*>(chunk.data());
    const size_t n = chunk.size();
    bool unk_pending = false;
    for (size_t i = 0; i < n;) {
      size_t len;
      int32_t id;
      if (bytes[i] < 0x80) {
        len = 1;
        id = d_.ascii_id[bytes[i]];
      } else {
        len = utf8_sequence_length(bytes + i, n - i);
        if (len == 0) {
          len = 1;
          id = -1;
        } else {
          id = d_.model_index.find(d_.pieces, chunk.substr(i, len));
        }
      }
      if (id >= 0) {  // model_index and ascii_id hold model vocab ids only
        if (unk_pending) push_symbol(d_.unk);
        unk_pending = false;
        push_symbol(id);
      } else if (d_.byte_fallback && all_bytes_known(bytes + i, len)) {
        for (size_t b = 0; b < len; ++b) push_symbol(d_.byte_token[bytes[i + b]]);
      } else if (d_.unk >= 0) {
        if (unk_pending && !d_.fuse_unk) push_symbol(d_.unk);
        unk_pending = true;
      }
      i += len;
    }
    if (unk_pending) push_symbol(d_.unk);
    if (!symbols_.empty()) symbols_.back().next = -1;
  }

  bool all_bytes_known(const unsigned char* p, size_t len) const {
    for (size_t b = 0; b < len; ++b)
      if (d_.byte_token[p[b]] < 0) return false;
    return true;
  }

  // Looks up the pair (pos, next) and queues it if it merges.
  void refresh_pair(int32_t pos) {
    Symbol& s = symbols_[pos];
    uint32_t rank;
    int32_t merged;
    if (s.next >= 0 && d_.merges.find(s.id, symbols_[s.next].id, rank, merged)) {
      s.pair_rank = rank;
      s.pair_merged = merged;
      heap_.push_back((uint64_t(rank) << 32) | uint32_t(pos));
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    } else {
      s.pair_rank = kNoMerge;
    }
  }

  void encode_chunk(std::string_view chunk) {
    if (chunk.size() >= size_t(INT32_MAX))  // symbols are linked by int32 positions
      fail(Status::InvalidArg, "Tokenizer::encode", "a word of " + std::to_string(chunk.size()) + " bytes is too long");
    make_symbols(chunk);
    if (symbols_.size() > 1) merge_symbols();
    for (int32_t i = symbols_.empty() ? -1 : 0; i >= 0; i = symbols_[i].next) out_.push_back(symbols_[i].id);
  }

  // Repeatedly merges the pair of lowest rank (leftmost on ties). A queue entry is stale when
  // its left symbol is gone or its pair changed since (a pair's rank identifies it: ranks are
  // unique per pair, and a changed pair spans more text, so it is a different pair).
  void merge_symbols() {
    heap_.clear();
    for (size_t i = 0; i + 1 < symbols_.size(); ++i) {
      Symbol& s = symbols_[i];
      uint32_t rank;
      int32_t merged;
      if (d_.merges.find(s.id, symbols_[i + 1].id, rank, merged)) {
        s.pair_rank = rank;
        s.pair_merged = merged;
        heap_.push_back((uint64_t(rank) << 32) | uint32_t(i));
      }
    }
    std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      uint64_t top = heap_.back();
      heap_.pop_back();
      int32_t pos = int32_t(uint32_t(top));
      Symbol& s = symbols_[pos];
      if (s.id < 0 || s.pair_rank != uint32_t(top >> 32)) continue;
      Symbol& right = symbols_[s.next];
      s.id = s.pair_merged;
      right.id = -1;
      s.next = right.next;
      if (s.next >= 0) symbols_[s.next].prev = pos;
      refresh_pair(pos);
      if (s.prev >= 0) refresh_pair(s.prev);
    }
  }

  const TokenizerData& d_;
  std::vector<int32_t>& out_;
  std::string normalized_, replaced_;
  std::vector<Symbol> symbols_;
  std::vector<uint64_t> heap_;  // (rank << 32 | position), smallest first
};

}  // namespace

}  // namespace xla::tokenizer_detail

namespace xla {

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  const tokenizer_detail::TokenizerData& d = *data_;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_bos) ids.insert(ids.end(), d.prefix_ids.begin(), d.prefix_ids.end());
  tokenizer_detail::Encoder(d, ids).encode_text(text);
  if (add_bos) ids.insert(ids.end(), d.suffix_ids.begin(), d.suffix_ids.end());
  return ids;
}

}  // namespace xla
