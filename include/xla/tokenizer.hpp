// tokenizer.hpp — the Gemma tokenizer (a Hugging Face tokenizer.json: BPE with byte fallback)
// and Gemma's chat format. Encoding and decoding reproduce the Hugging Face `tokenizers`
// library (Rust) id for id and byte for byte for the Gemma 1/2/3 files; configurations that
// library supports but Gemma never uses are refused at load (Status::Unsupported).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xla/error.hpp"

namespace xla {

namespace tokenizer_detail {
struct TokenizerData;
}

// A loaded tokenizer is immutable: copies share the tables, and any number of threads may
// encode and decode with one tokenizer at the same time.
class Tokenizer {
 public:
  // Reads a Hugging Face tokenizer.json of the Gemma family. A file that cannot be read is
  // Status::IO; one that is not valid JSON or not a usable BPE tokenizer (missing
  // model/vocab/merges, wrong types, a merge naming an unknown token, duplicate or missing ids)
  // is Status::Format with the problem named; a valid file using a feature Gemma does not
  // (another model type, regex patterns, dropout, ...) is Status::Unsupported.
  static Tokenizer load(const std::string& path);

  // Token ids of UTF-8 text. Added and special tokens written in the text ("<start_of_turn>",
  // "\n\n", "<bos>") are split off first (longest match) and always recognised. With add_bos,
  // the special tokens of the file's post-processor are added (for Gemma: <bos> in front).
  // Bytes that are not valid UTF-8 never fail: each such byte is one unknown character and
  // goes through byte fallback (<0xXX>), so decode() turns it into U+FFFD.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;

  // Text of ids: pieces concatenated, "▁" turned into " ", runs of byte tokens <0xXX> decoded
  // as UTF-8 (a run that is not valid UTF-8 becomes one U+FFFD per byte, as Hugging Face's
  // Rust decoder does); special tokens (<bos>, <eos>, <start_of_turn>, ...) are dropped when
  // skip_special. An id outside [0, vocab_size()) is Status::InvalidArg naming the id.
  std::string decode(const int32_t* ids, size_t n, bool skip_special) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const {
    return decode(ids.data(), ids.size(), skip_special);
  }

  int32_t vocab_size() const;                   // ids are 0 .. vocab_size()-1, added tokens included
  const std::string& piece(int32_t id) const;   // "▁world", "<0x0A>", "<bos>"; Status::InvalidArg if out of range
  int32_t id_of(std::string_view piece) const;  // -1 if no token has this string
  bool is_special(int32_t id) const;            // an added token marked special (false if out of range)

  // Looked up in the file, -1 where it has none: bos = the first special token of the
  // post-processor's template (else "<bos>"), eos = "<eos>", pad = "<pad>", unk = the model's
  // unk_token, start/end of turn = "<start_of_turn>" / "<end_of_turn>".
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;
  int32_t unk_id() const;
  int32_t start_of_turn_id() const;
  int32_t end_of_turn_id() const;

 private:
  explicit Tokenizer(std::shared_ptr<const tokenizer_detail::TokenizerData> data) : data_(std::move(data)) {}
  std::shared_ptr<const tokenizer_detail::TokenizerData> data_;
};

// One turn of a conversation. role: "system", "user", "assistant" (or "model").
struct ChatMessage {
  std::string role;
  std::string content;
  // When not empty: the content as a list of text parts (OpenAI's content array), read as the
  // template reads a list: a leading system message takes its first part as is, other turns
  // join their parts, each trimmed. `content` is then ignored.
  std::vector<std::string> parts = {};
};

// Renders messages exactly as Gemma's chat template (tokenizer_config.json) does:
//   "<bos>" then, per message, "<start_of_turn>" + role + "\n" + content + "<end_of_turn>\n",
//   and "<start_of_turn>model\n" at the end when add_generation_prompt.
// A leading system message is not a turn: its content + "\n\n" is put in front of the first
// user turn's content. "assistant" is written "model". Contents are trimmed of surrounding
// whitespace (Jinja's `trim`, i.e. Python's str.strip(); the system content is not trimmed).
// After the optional system message, turns must alternate user / non-user starting with a user
// turn, else Status::InvalidArg with the template's message ("Conversation roles must
// alternate user/assistant/user/assistant/..."); a role other than the four above, or no
// messages at all, is Status::InvalidArg too. The result is meant for encode(text, false).
std::string render_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt);

}  // namespace xla
