// data.hpp — training data: text → token ids (the Gemma tokenizer, or bytes for small
// demos), packed into fixed-length rows; prompt/response JSONL with completion-only masks;
// a seeded validation split; shuffled batches whose position can be saved and restored.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xla/tensor.hpp"
#include "xla/tokenizer.hpp"

namespace xla::train {

// How text becomes ids: a Tokenizer, or (tokenizer == nullptr) one id per byte, byte + 3,
// after <pad> 0, <eos> 1, <bos> 2 — Gemma's special ids, so a 259-word Gemma can use it.
struct TextCodec {
  const Tokenizer* tokenizer = nullptr;
  static constexpr int32_t kByteVocab = 259, kByteOffset = 3;

  std::vector<int32_t> encode(std::string_view text) const;  // no <bos>
  std::string decode(const std::vector<int32_t>& ids) const;   // special ids dropped
  int32_t bos() const;
  int32_t eos() const;
  int32_t pad() const;
  int32_t vocab_size() const;
};

// One row: inputs[t] is fed at position t, targets[t] is what it should predict
// (ignore_index -100 where nothing should be learned: prompts, padding).
struct Example {
  std::vector<int32_t> inputs, targets;
};

class Dataset {
 public:
  Dataset() = default;
  explicit Dataset(std::vector<Example> examples);

  // A token stream cut into rows of seq_len: row i covers stream[i·L, i·L + L] (inputs the
  // first L, targets the last L); the tail shorter than L + 1 tokens is dropped.
  static Dataset packed(const std::vector<int32_t>& stream, int64_t seq_len);
  // Documents (separated by blank lines when split_documents) as <bos> text <eos>, one
  // stream, packed.
  static Dataset from_text(std::string_view text, const TextCodec& codec, int64_t seq_len, bool split_documents = true);
  static Dataset from_text_file(const std::string& path, const TextCodec& codec, int64_t seq_len,
                                bool split_documents = true);
  // Supervised pairs: <bos> prompt response <eos>, loss only on the response and <eos>;
  // rows padded to seq_len (a pair longer than seq_len + 1 tokens is an error naming it).
  static Dataset supervised(const std::vector<std::pair<std::string, std::string>>& pairs, const TextCodec& codec,
                            int64_t seq_len);
  // JSONL, one {"prompt": …, "response": …} per line ("completion" is accepted for
  // "response"); chat: render the pair through Gemma's chat template first.
  static Dataset from_jsonl(const std::string& path, const TextCodec& codec, int64_t seq_len, bool chat = false);

  size_t size() const { return examples_.size(); }
  int64_t seq_len() const { return seq_len_; }
  const Example& operator[](size_t i) const { return examples_.at(i); }
  // Moves a seeded random val_fraction of the rows (at least one when both sides can
  // have one) into the second dataset.
  std::pair<Dataset, Dataset> split(double val_fraction, uint64_t seed) const;
  // Hash of the contents (for caches keyed by data).
  uint64_t fingerprint() const;

 private:
  std::vector<Example> examples_;
  int64_t seq_len_ = 0;
};

// The order behind Batcher, over any n items (rows, preference pairs): full batches of
// indices in a seeded random order, reshuffled each epoch, wrapping around forever. Its
// whole position is a State, so a run can be resumed exactly.
class BatchOrder {
 public:
  struct State {
    uint64_t seed = 0;
    int64_t epoch = 0, position = 0;  // the next batch starts at `position` of epoch `epoch`
  };
  // Throws Status::InvalidArg for batch_size < 1 or n < batch_size.
  BatchOrder(size_t n, int64_t batch_size, uint64_t seed, bool shuffle = true);
  // The indices of the next batch (batch_size of them). A last partial batch of an epoch is
  // skipped (every batch is full).
  std::vector<size_t> next();
  State state() const { return state_; }
  void set_state(const State& s);
  int64_t batches_per_epoch() const { return int64_t(n_) / batch_; }

 private:
  void shuffle_epoch();
  size_t n_;
  int64_t batch_;
  bool shuffle_;
  State state_;
  std::vector<size_t> order_;
  int64_t order_epoch_ = -1;
};

// Batches of rows in a seeded random order, reshuffled each epoch; wraps around forever.
class Batcher {
 public:
  using State = BatchOrder::State;
  Batcher(const Dataset& data, int64_t batch_size, uint64_t seed, bool shuffle = true);
  // inputs and targets: i32 [batch_size, seq_len]. A last partial batch of an epoch is
  // skipped (every batch is full).
  void next(Tensor& inputs, Tensor& targets);
  State state() const { return order_.state(); }
  void set_state(const State& s) { order_.set_state(s); }
  int64_t batches_per_epoch() const { return order_.batches_per_epoch(); }

 private:
  const Dataset* data_;
  BatchOrder order_;
};

// All rows of a dataset as batches, in order (the last one may be partial): for evaluation.
std::vector<std::pair<Tensor, Tensor>> eval_batches(const Dataset& data, int64_t batch_size, int64_t max_batches = 0);

}  // namespace xla::train
