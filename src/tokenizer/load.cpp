// load.cpp — reads a Hugging Face tokenizer.json into TokenizerData. model.vocab and
// model.merges (hundreds of thousands of entries) are walked with JsonCursor straight into the
// tables; the small sections (normalizer, pre_tokenizer, post_processor, decoder, added_tokens,
// the model's flags) are parsed with nlohmann and checked one field at a time.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "text_file.hpp"
#include "json_cursor.hpp"
#include "tokenizer_data.hpp"

namespace xla::tokenizer_detail {

namespace {

using json = nlohmann::json;

constexpr int64_t kMaxTokenId = (int64_t(1) << 24) - 1;  // 16M: far above any real vocabulary

// Tables are sized by the largest id, so an id is first checked against what the file can
// hold: a dense vocabulary of N ids takes at least ~6 bytes an entry ("a":7,), so ids beyond a
// quarter of the file's size (plus room for a few specials) cannot be real. A 6 KB file
// naming id 16,777,215 then fails at once instead of allocating gigabytes.
int64_t largest_id_for(size_t file_bytes) {
  return std::min<int64_t>(kMaxTokenId, int64_t(file_bytes / 4) + 1024);
}

std::string shown(std::string_view s) {
  constexpr size_t kShown = 60;
  std::string out = "'";
  out.append(s.substr(0, kShown));
  if (s.size() > kShown) out += "...";
  return out + "'";
}

class Loader {
 public:
  Loader(std::string_view text, const std::string& source)
      : cursor_(text, source), source_(source), max_id_(largest_id_for(text.size())) {}

  std::shared_ptr<const TokenizerData> run();

 private:
  [[noreturn]] void format_error(const std::string& what) const { fail(Status::Format, source_ + ": " + what); }
  [[noreturn]] void unsupported(const std::string& what) const {
    fail(Status::Unsupported, source_ + ": " + what + " is not supported (only what Gemma tokenizers use)");
  }
  json parse_small(std::string_view raw, const std::string& where) const;

  void read_top_level();
  void read_model();
  void read_vocab();
  void read_merges();
  void resolve_pending_merges();
  void note_metaspace_joins(std::string_view merged);

  void apply_model_fields();
  void apply_added_tokens();
  void apply_normalizer(const json& j, const std::string& where);
  void apply_pre_tokenizer(const json& j);
  void apply_decoder(const json& j, const std::string& where);
  void apply_post_processor(const json& j);
  void finish();

  // Field helpers for the small sections: Format errors name the field.
  const json& member(const json& obj, const char* key, const std::string& where) const;
  std::string string_member(const json& obj, const char* key, const std::string& where) const;
  bool bool_member(const json& obj, const char* key, bool fallback, const std::string& where) const;
  std::string string_pattern(const json& obj, const std::string& where) const;

  JsonCursor cursor_;
  const std::string& source_;
  const int64_t max_id_;  // largest_id_for the file's size
  std::shared_ptr<TokenizerData> data_ = std::make_shared<TokenizerData>();

  bool have_model_ = false, have_vocab_ = false, have_merges_ = false;
  json model_fields_ = json::object();
  std::string_view added_tokens_raw_, normalizer_raw_, pre_tokenizer_raw_, post_processor_raw_, decoder_raw_,
      truncation_raw_;
  std::string scratch_a_, scratch_b_;

  // Merges read but not yet looked up; their strings are back to back in merge_text_.
  struct PendingMerge {
    uint32_t rank;
    size_t offset, left_size, right_size;
    uint64_t left_hash, right_hash, merged_hash;
    int32_t left_id, right_id, merged_id;
  };
  static constexpr size_t kMergeBatch = 64;
  std::vector<PendingMerge> pending_;
  std::string merge_text_;
};

json Loader::parse_small(std::string_view raw, const std::string& where) const {
  try {
    return json::parse(raw);
  } catch (const json::exception& e) {
    format_error(where + " is not valid JSON: " + e.what());
  }
}

const json& Loader::member(const json& obj, const char* key, const std::string& where) const {
  if (!obj.is_object()) format_error(where + " must be an object");
  auto it = obj.find(key);
  if (it == obj.end()) format_error(where + " has no \"" + key + "\"");
  return *it;
}

std::string Loader::string_member(const json& obj, const char* key, const std::string& where) const {
  const json& v = member(obj, key, where);
  if (!v.is_string()) format_error(where + "." + key + " must be a string");
  return v.get<std::string>();
}

bool Loader::bool_member(const json& obj, const char* key, bool fallback, const std::string& where) const {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) format_error(where + "." + key + " must be true or false");
  return it->get<bool>();
}

// {"String": "x"} -> "x"; a {"Regex": ...} pattern is refused.
std::string Loader::string_pattern(const json& obj, const std::string& where) const {
  const json& pattern = member(obj, "pattern", where);
  if (!pattern.is_object()) format_error(where + ".pattern must be an object");
  if (pattern.contains("Regex")) unsupported(where + " with a Regex pattern");
  return string_member(pattern, "String", where + ".pattern");
}

// ---- the big parts, walked with the cursor ----

void Loader::read_top_level() {
  if (cursor_.peek() != '{') cursor_.error("the file is not a JSON object (a tokenizer.json starts with '{')");
  cursor_.expect('{');
  if (!cursor_.accept('}')) {
    std::string key_scratch;
    do {
      std::string key(cursor_.read_string(key_scratch));
      cursor_.expect(':');
      if (key == "model") {
        if (have_model_) cursor_.error("\"model\" appears twice");
        read_model();
        have_model_ = true;
      } else {
        std::string_view raw = cursor_.skip_value();
        if (key == "added_tokens") added_tokens_raw_ = raw;
        else if (key == "normalizer") normalizer_raw_ = raw;
        else if (key == "pre_tokenizer") pre_tokenizer_raw_ = raw;
        else if (key == "post_processor") post_processor_raw_ = raw;
        else if (key == "decoder") decoder_raw_ = raw;
        else if (key == "truncation") truncation_raw_ = raw;
        // version, padding (batch encoding only) and unknown keys do not change encode/decode
      }
    } while (cursor_.next_element('}'));
  }
  cursor_.expect_end();
  if (!have_model_) format_error("no \"model\" section");
}

void Loader::read_model() {
  if (cursor_.peek() != '{') cursor_.error("\"model\" must be an object");
  cursor_.expect('{');
  size_t deferred_merges = std::string::npos;  // merges written before vocab: read them afterwards
  if (!cursor_.accept('}')) {
    std::string key_scratch;
    do {
      std::string key(cursor_.read_string(key_scratch));
      cursor_.expect(':');
      if (key == "vocab") {
        if (have_vocab_) cursor_.error("model.vocab appears twice");
        read_vocab();
      } else if (key == "merges") {
        if (have_merges_ || deferred_merges != std::string::npos) cursor_.error("model.merges appears twice");
        if (have_vocab_) {
          read_merges();
        } else {
          deferred_merges = cursor_.offset();
          cursor_.skip_value();
        }
      } else {
        model_fields_[key] = parse_small(cursor_.skip_value(), "model." + key);
      }
    } while (cursor_.next_element('}'));
  }
  if (model_fields_.contains("type")) {
    const json& type = model_fields_["type"];
    if (!type.is_string()) format_error("model.type must be a string");
    if (type.get<std::string>() != "BPE") unsupported("model type " + shown(type.get<std::string>()));
  }
  if (!have_vocab_) format_error("model.vocab is missing");
  if (deferred_merges != std::string::npos) {
    size_t resume = cursor_.offset();
    cursor_.seek(deferred_merges);
    read_merges();
    cursor_.seek(resume);
  }
  if (!have_merges_) format_error("model.merges is missing");
}

void Loader::read_vocab() {
  TokenizerData& d = *data_;
  if (cursor_.peek() != '{') cursor_.error("model.vocab must be an object {piece: id}");
  cursor_.expect('{');
  size_t expected = std::min<size_t>(size_t(1) << 18, cursor_.remaining() / 16);  // >= 16 bytes an entry
  d.pieces.reserve(expected);
  d.flags.reserve(expected);
  if (!cursor_.accept('}')) {
    do {
      std::string_view piece = cursor_.read_string(scratch_a_);
      cursor_.expect(':');
      char c = cursor_.peek();
      if (c != '-' && (c < '0' || c > '9')) cursor_.error("model.vocab[" + shown(piece) + "] must be an integer id");
      int64_t id = cursor_.read_integer();
      if (id < 0 || id > max_id_)
        cursor_.error("model.vocab[" + shown(piece) + "] has the id " + std::to_string(id) + ", out of range (a file of " +
                      std::to_string(cursor_.size()) + " bytes holds ids up to " + std::to_string(max_id_) + ")");
      if (size_t(id) >= d.pieces.size()) {
        d.pieces.resize(size_t(id) + 1);
        d.flags.resize(size_t(id) + 1, 0);
      }
      if (d.flags[id] & kInModelVocab)
        cursor_.error("model.vocab gives the id " + std::to_string(id) + " to both " + shown(d.pieces[id]) + " and " +
                      shown(piece));
      d.pieces[id].assign(piece);
      d.flags[id] |= kInModelVocab;
    } while (cursor_.next_element('}'));
  }
  if (d.pieces.empty()) format_error("model.vocab is empty");
  // Hash everything first, then insert with the slot of a later piece already on its way.
  std::vector<uint64_t> hashes(d.pieces.size());
  for (size_t id = 0; id < d.pieces.size(); ++id) hashes[id] = hash_bytes(d.pieces[id]);
  constexpr size_t kAhead = 8;
  d.model_index.reset(d.pieces.size());
  for (size_t id = 0; id < d.pieces.size(); ++id) {
    if (id + kAhead < d.pieces.size()) d.model_index.prefetch(hashes[id + kAhead]);
    if (!(d.flags[id] & kInModelVocab)) continue;
    int32_t other = d.model_index.insert_hashed(d.pieces, int32_t(id), hashes[id]);
    if (other >= 0)
      format_error("model.vocab lists " + shown(d.pieces[id]) + " twice (ids " + std::to_string(other) + " and " +
                   std::to_string(id) + ")");
  }
  have_vocab_ = true;
}

void Loader::read_merges() {
  TokenizerData& d = *data_;
  if (cursor_.peek() != '[') cursor_.error("model.merges must be an array");
  cursor_.expect('[');
  d.merges.reserve(2 * d.pieces.size());
  uint32_t rank = 0;
  if (!cursor_.accept(']')) {
    do {
      auto here = [&] { return "model.merges[" + std::to_string(rank) + "]"; };
      std::string_view left, right;
      char c = cursor_.peek();
      if (c == '"') {  // legacy form "left right": exactly one space
        std::string_view line = cursor_.read_string(scratch_a_);
        size_t space = line.find(' ');
        if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
          format_error(here() + " = " + shown(line) + " is not two tokens separated by one space");
        left = line.substr(0, space);
        right = line.substr(space + 1);
      } else if (c == '[') {
        cursor_.expect('[');
        if (cursor_.peek() != '"') cursor_.error(here() + " must be a pair of strings");
        left = cursor_.read_string(scratch_a_);
        if (!cursor_.accept(',') || cursor_.peek() != '"') cursor_.error(here() + " must be a pair of strings");
        right = cursor_.read_string(scratch_b_);
        if (!cursor_.accept(']')) cursor_.error(here() + " must be a pair of strings");
      } else {
        cursor_.error(here() + " must be \"left right\" or [left, right]");
      }
      PendingMerge m;
      m.rank = rank++;
      m.offset = merge_text_.size();
      m.left_size = left.size();
      m.right_size = right.size();
      merge_text_.append(left);
      merge_text_.append(right);
      pending_.push_back(m);
      if (pending_.size() == kMergeBatch) resolve_pending_merges();
    } while (cursor_.next_element(']'));
  }
  resolve_pending_merges();
  have_merges_ = true;
}

// Looks up a batch of merges: all hashes first with their slots prefetched, so the memory
// latency of the lookups overlaps instead of adding up (this is most of the load time).
void Loader::resolve_pending_merges() {
  TokenizerData& d = *data_;
  std::string_view text = merge_text_;
  for (PendingMerge& m : pending_) {
    m.left_hash = hash_bytes(text.substr(m.offset, m.left_size));
    m.right_hash = hash_bytes(text.substr(m.offset + m.left_size, m.right_size));
    m.merged_hash = hash_bytes(text.substr(m.offset, m.left_size + m.right_size));
    d.model_index.prefetch(m.left_hash);
    d.model_index.prefetch(m.right_hash);
    d.model_index.prefetch(m.merged_hash);
  }
  for (PendingMerge& m : pending_) {
    auto here = [&] { return "model.merges[" + std::to_string(m.rank) + "]"; };
    std::string_view left = text.substr(m.offset, m.left_size);
    std::string_view right = text.substr(m.offset + m.left_size, m.right_size);
    std::string_view merged = text.substr(m.offset, m.left_size + m.right_size);
    m.left_id = d.model_index.find_hashed(d.pieces, left, m.left_hash);
    if (m.left_id < 0) format_error(here() + " names " + shown(left) + ", which is not in model.vocab");
    m.right_id = d.model_index.find_hashed(d.pieces, right, m.right_hash);
    if (m.right_id < 0) format_error(here() + " names " + shown(right) + ", which is not in model.vocab");
    m.merged_id = d.model_index.find_hashed(d.pieces, merged, m.merged_hash);
    if (m.merged_id < 0) format_error(here() + ": the merged token " + shown(merged) + " is not in model.vocab");
    note_metaspace_joins(merged);
    d.merges.prefetch(m.left_id, m.right_id);
  }
  for (const PendingMerge& m : pending_) d.merges.insert(m.left_id, m.right_id, m.rank, m.merged_id);
  pending_.clear();
  merge_text_.clear();
}

// Records every code point that a merge result has directly in front of "▁".
void Loader::note_metaspace_joins(std::string_view merged) {
  for (size_t at = merged.find(kMetaspace, 1); at != std::string_view::npos; at = merged.find(kMetaspace, at + 1)) {
    size_t lead = at - 1;
    while (lead > 0 && (static_cast<unsigned char>(merged[lead]) & 0xC0) == 0x80) --lead;
    auto bytes = reinterpret_cast<const unsigned char*>(merged.data()) + lead;
    size_t len = utf8_sequence_length(bytes, at - lead);
    uint32_t cp = len == at - lead ? utf8_decode(bytes, len) : 0xFFFFFFFFu;
    auto& joins = data_->joins_metaspace;
    auto pos = std::lower_bound(joins.begin(), joins.end(), cp);
    if (pos == joins.end() || *pos != cp) joins.insert(pos, cp);
  }
}

// ---- the small parts ----

void Loader::apply_model_fields() {
  TokenizerData& d = *data_;
  const json& f = model_fields_;
  d.byte_fallback = bool_member(f, "byte_fallback", false, "model");
  d.fuse_unk = bool_member(f, "fuse_unk", false, "model");
  d.ignore_merges = bool_member(f, "ignore_merges", false, "model");
  if (f.contains("dropout") && !f["dropout"].is_null()) {
    if (!f["dropout"].is_number()) format_error("model.dropout must be a number or null");
    if (f["dropout"].get<double>() > 0.0) unsupported("BPE dropout (random tokenization)");
  }
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!f.contains(affix) || f[affix].is_null()) continue;
    if (!f[affix].is_string()) format_error(std::string("model.") + affix + " must be a string or null");
    if (!f[affix].get<std::string>().empty()) unsupported(std::string("model.") + affix);
  }
  if (f.contains("unk_token") && !f["unk_token"].is_null()) {
    if (!f["unk_token"].is_string()) format_error("model.unk_token must be a string or null");
    std::string unk = f["unk_token"].get<std::string>();
    d.unk = d.model_index.find(d.pieces, unk);
    if (d.unk < 0) format_error("model.unk_token " + shown(unk) + " is not in model.vocab");
  }
}

void Loader::apply_added_tokens() {
  TokenizerData& d = *data_;
  if (added_tokens_raw_.empty()) return;
  json list = parse_small(added_tokens_raw_, "added_tokens");
  if (list.is_null()) return;
  if (!list.is_array()) format_error("added_tokens must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    std::string where = "added_tokens[" + std::to_string(i) + "]";
    const json& id_json = member(t, "id", where);
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0)
      format_error(where + ".id must be an integer id");
    if (id_json.get<int64_t>() > max_id_)
      format_error(where + ".id " + std::to_string(id_json.get<int64_t>()) + " is out of range (a file of " +
                   std::to_string(cursor_.size()) + " bytes holds ids up to " + std::to_string(max_id_) + ")");
    int32_t id = int32_t(id_json.get<int64_t>());
    std::string content = string_member(t, "content", where);
    if (content.empty()) format_error(where + ".content is empty");
    bool special = bool_member(t, "special", false, where);
    bool normalized = bool_member(t, "normalized", !special, where);
    for (const char* flag : {"lstrip", "rstrip", "single_word"})
      if (bool_member(t, flag, false, where)) unsupported(where + " with " + flag + ": true");

    int32_t in_vocab = d.model_index.find(d.pieces, content);
    if (in_vocab >= 0 && in_vocab != id)
      format_error(where + " " + shown(content) + " has the id " + std::to_string(id) + " but model.vocab gives it " +
                   std::to_string(in_vocab));
    if (in_vocab < 0) {
      if (size_t(id) >= d.pieces.size()) {
        d.pieces.resize(size_t(id) + 1);
        d.flags.resize(size_t(id) + 1, 0);
      }
      if (d.flags[id] != 0)
        format_error(where + " " + shown(content) + " has the id " + std::to_string(id) + ", already the id of " +
                     shown(d.pieces[id]));
      d.pieces[id] = content;
    }
    d.flags[id] |= kAddedToken | (special ? kSpecialToken : 0);
    if (normalized) {
      std::string form = content, scratch;  // matched in normalized text, so normalized the same way
      normalize_text(d.normalizer, form, scratch);
      d.normalized_added.add(form, id);
    } else {
      d.raw_added.add(content, id);
    }
  }
}

void Loader::apply_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return;
  std::string type = string_member(j, "type", where);
  TokenizerData& d = *data_;
  if (type == "Sequence") {
    const json& list = member(j, "normalizers", where);
    if (!list.is_array()) format_error(where + ".normalizers must be an array");
    for (size_t i = 0; i < list.size(); ++i)
      apply_normalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]");
  } else if (type == "Replace") {
    std::string pattern = string_pattern(j, where);
    if (pattern.empty()) format_error(where + ".pattern is empty");
    d.normalizer.push_back({NormalizeStep::Replace, pattern, string_member(j, "content", where)});
  } else if (type == "Prepend") {
    d.normalizer.push_back({NormalizeStep::Prepend, "", string_member(j, "prepend", where)});
  } else {
    unsupported(where + " of type " + shown(type));
  }
}

void Loader::apply_pre_tokenizer(const json& j) {
  if (j.is_null()) return;
  const std::string where = "pre_tokenizer";
  std::string type = string_member(j, "type", where);
  if (type != "Split") unsupported(where + " of type " + shown(type));
  TokenizerData& d = *data_;
  d.split.pattern = string_pattern(j, where);
  if (d.split.pattern.empty()) format_error(where + ".pattern is empty");
  if (bool_member(j, "invert", false, where)) unsupported(where + " with invert: true");
  std::string behavior = string_member(j, "behavior", where);
  if (behavior == "Removed") d.split.behavior = SplitStep::Removed;
  else if (behavior == "Isolated") d.split.behavior = SplitStep::Isolated;
  else if (behavior == "MergedWithPrevious") d.split.behavior = SplitStep::MergedWithPrevious;
  else if (behavior == "MergedWithNext") d.split.behavior = SplitStep::MergedWithNext;
  else if (behavior == "Contiguous") d.split.behavior = SplitStep::Contiguous;
  else format_error(where + ".behavior " + shown(behavior) + " is not a split behavior");
  d.has_split = true;
}

void Loader::apply_decoder(const json& j, const std::string& where) {
  if (j.is_null()) return;
  TokenizerData& d = *data_;
  d.has_decoder = true;
  std::string type = string_member(j, "type", where);
  if (type == "Sequence") {
    const json& list = member(j, "decoders", where);
    if (!list.is_array()) format_error(where + ".decoders must be an array");
    for (size_t i = 0; i < list.size(); ++i) apply_decoder(list[i], where + ".decoders[" + std::to_string(i) + "]");
  } else if (type == "Replace") {
    DecodeStep step{DecodeStep::Replace, string_pattern(j, where), string_member(j, "content", where)};
    if (step.pattern.empty()) format_error(where + ".pattern is empty");
    d.decoder.push_back(step);
  } else if (type == "ByteFallback") {
    d.decoder.push_back({DecodeStep::ByteFallback, "", ""});
  } else if (type == "Fuse") {
    d.decoder.push_back({DecodeStep::Fuse, "", ""});
  } else if (type == "Strip") {
    DecodeStep step{DecodeStep::Strip, "", string_member(j, "content", where)};
    auto bytes = reinterpret_cast<const unsigned char*>(step.content.data());
    if (step.content.empty() || utf8_sequence_length(bytes, step.content.size()) != step.content.size())
      format_error(where + ".content must be one character");
    step.strip_char = utf8_decode(bytes, step.content.size());
    for (auto [key, out] : {std::pair{"start", &step.strip_start}, std::pair{"stop", &step.strip_stop}}) {
      const json& v = member(j, key, where);
      if (!v.is_number_unsigned()) format_error(where + "." + key + " must be a non-negative integer");
      *out = v.get<size_t>();
    }
    d.decoder.push_back(step);
  } else {
    unsupported(where + " of type " + shown(type));
  }
}

void Loader::apply_post_processor(const json& j) {
  if (j.is_null()) return;
  const std::string where = "post_processor";
  std::string type = string_member(j, "type", where);
  if (type != "TemplateProcessing") unsupported(where + " of type " + shown(type));
  const json& single = member(j, "single", where);
  const json& specials = member(j, "special_tokens", where);
  if (!single.is_array()) format_error(where + ".single must be an array");
  if (!specials.is_object()) format_error(where + ".special_tokens must be an object");
  TokenizerData& d = *data_;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    std::string item_where = where + ".single[" + std::to_string(i) + "]";
    const json& item = single[i];
    if (!item.is_object()) format_error(item_where + " must be an object");
    if (item.contains("Sequence")) {
      if (string_member(item["Sequence"], "id", item_where + ".Sequence") != "A")
        format_error(item_where + " names a sequence other than A");
      if (seen_sequence) format_error(where + ".single has the sequence twice");
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      std::string name = string_member(item["SpecialToken"], "id", item_where + ".SpecialToken");
      if (!specials.contains(name)) format_error(item_where + " names " + shown(name) + ", not in special_tokens");
      const json& ids = member(specials[name], "ids", where + ".special_tokens." + name);
      if (!ids.is_array()) format_error(where + ".special_tokens." + name + ".ids must be an array");
      for (const json& id : ids) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId)
          format_error(where + ".special_tokens." + name + ".ids must hold token ids");
        (seen_sequence ? d.suffix_ids : d.prefix_ids).push_back(int32_t(id.get<int64_t>()));
      }
    } else {
      format_error(item_where + " is neither a Sequence nor a SpecialToken");
    }
  }
  if (!seen_sequence) format_error(where + ".single does not contain the sequence A");
}

void Loader::finish() {
  TokenizerData& d = *data_;
  for (size_t id = 0; id < d.flags.size(); ++id)
    if (d.flags[id] == 0) format_error("no token has the id " + std::to_string(id) + " (ids must be contiguous)");
  d.added_only_index.reset(16);
  for (size_t id = 0; id < d.pieces.size(); ++id) {
    if (d.flags[id] & kInModelVocab) continue;
    int32_t other = d.added_only_index.insert(d.pieces, int32_t(id));
    if (other >= 0)
      format_error("the added token " + shown(d.pieces[id]) + " has two ids, " + std::to_string(other) + " and " +
                   std::to_string(id));
  }
  for (int32_t id : d.prefix_ids)
    if (id < 0 || size_t(id) >= d.pieces.size())
      format_error("post_processor names the unknown id " + std::to_string(id));
  for (int32_t id : d.suffix_ids)
    if (id < 0 || size_t(id) >= d.pieces.size())
      format_error("post_processor names the unknown id " + std::to_string(id));

  for (int c = 0; c < 128; ++c) d.ascii_id[c] = d.model_index.find(d.pieces, std::string(1, char(c)));
  bool all_bytes = true;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    d.byte_token[b] = d.model_index.find(d.pieces, name);
    all_bytes = all_bytes && d.byte_token[b] >= 0;
  }
  d.metaspace_chunking =
      d.byte_fallback && all_bytes && !d.ignore_merges && d.model_index.find(d.pieces, kMetaspace) >= 0;

  auto id_of = [&](std::string_view s) {
    int32_t id = d.model_index.find(d.pieces, s);
    return id >= 0 ? id : d.added_only_index.find(d.pieces, s);
  };
  d.bos = !d.prefix_ids.empty() ? d.prefix_ids.front() : id_of("<bos>");
  d.eos = id_of("<eos>");
  d.pad = id_of("<pad>");
  d.start_of_turn = id_of("<start_of_turn>");
  d.end_of_turn = id_of("<end_of_turn>");
}

std::shared_ptr<const TokenizerData> Loader::run() {
  read_top_level();
  apply_model_fields();
  if (!truncation_raw_.empty() && !parse_small(truncation_raw_, "truncation").is_null()) unsupported("truncation");
  if (!normalizer_raw_.empty()) apply_normalizer(parse_small(normalizer_raw_, "normalizer"), "normalizer");
  if (!pre_tokenizer_raw_.empty()) apply_pre_tokenizer(parse_small(pre_tokenizer_raw_, "pre_tokenizer"));
  if (!decoder_raw_.empty()) apply_decoder(parse_small(decoder_raw_, "decoder"), "decoder");
  if (!post_processor_raw_.empty()) apply_post_processor(parse_small(post_processor_raw_, "post_processor"));
  apply_added_tokens();  // after the normalizer: normalized added tokens are matched in normalized form
  finish();
  return data_;
}

}  // namespace

std::shared_ptr<const TokenizerData> parse_tokenizer_json(std::string_view json_text, const std::string& source) {
  return Loader(json_text, source).run();
}

}  // namespace xla::tokenizer_detail

namespace xla {

Tokenizer Tokenizer::load(const std::string& path) {
  std::string text = io::read_text_file(path, "the tokenizer file");
  return Tokenizer(tokenizer_detail::parse_tokenizer_json(text, path));
}

}  // namespace xla
