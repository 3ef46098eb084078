// data.cpp — text and JSONL into rows of token ids, the validation split, and batches.
#include "xla/data.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "text_file.hpp"
#include "xla/error.hpp"

namespace xla::train {
namespace {

constexpr int32_t kIgnore = -100;

// splitmix64: a small, well-mixed generator whose whole state is one integer (easy to save).
uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Fisher–Yates with splitmix: the same order for the same seed on every machine.
void seeded_shuffle(std::vector<size_t>& v, uint64_t seed) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[splitmix(seed) % i]);
}

void check_seq_len(int64_t seq_len) {
  if (seq_len < 1) fail(Status::InvalidArg, "dataset: seq_len must be >= 1, got " + std::to_string(seq_len));
}

}  // namespace

// ---- TextCodec ----

std::vector<int32_t> TextCodec::encode(std::string_view text) const {
  if (tokenizer) return tokenizer->encode(text, false);
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(int32_t(c) + kByteOffset);
  return ids;
}

std::string TextCodec::decode(const std::vector<int32_t>& ids) const {
  if (tokenizer) return tokenizer->decode(ids, true);
  std::string s;
  for (int32_t id : ids) {
    if (id < 0 || id >= kByteVocab) fail(Status::InvalidArg, "decode: id " + std::to_string(id) + " is not a byte token");
    if (id >= kByteOffset) s.push_back(char(id - kByteOffset));
  }
  return s;
}

int32_t TextCodec::bos() const { return tokenizer ? tokenizer->bos_id() : 2; }
int32_t TextCodec::eos() const { return tokenizer ? tokenizer->eos_id() : 1; }
int32_t TextCodec::pad() const { return tokenizer ? std::max(tokenizer->pad_id(), 0) : 0; }
int32_t TextCodec::vocab_size() const { return tokenizer ? tokenizer->vocab_size() : kByteVocab; }

// ---- Dataset ----

Dataset::Dataset(std::vector<Example> examples) : examples_(std::move(examples)) {
  for (const Example& e : examples_) {
    if (e.inputs.size() != e.targets.size() || e.inputs.empty())
      fail(Status::InvalidArg, "dataset: every example needs inputs and targets of one nonzero length");
    if (seq_len_ == 0) seq_len_ = int64_t(e.inputs.size());
    if (int64_t(e.inputs.size()) != seq_len_) fail(Status::InvalidArg, "dataset: examples of different lengths");
  }
}

Dataset Dataset::packed(const std::vector<int32_t>& stream, int64_t L) {
  check_seq_len(L);
  std::vector<Example> rows;
  for (size_t start = 0; start + size_t(L) + 1 <= stream.size(); start += size_t(L)) {
    Example e;
    e.inputs.assign(stream.begin() + long(start), stream.begin() + long(start) + L);
    e.targets.assign(stream.begin() + long(start) + 1, stream.begin() + long(start) + L + 1);
    rows.push_back(std::move(e));
  }
  Dataset d(std::move(rows));
  d.seq_len_ = L;
  return d;
}

Dataset Dataset::from_text(std::string_view text, const TextCodec& codec, int64_t L, bool split_documents) {
  check_seq_len(L);
  std::vector<std::string_view> docs;
  if (split_documents) {
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t end = text.find("\n\n", pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view d = text.substr(pos, end - pos);
      if (!d.empty()) docs.push_back(d);
      pos = end + 2;
    }
  } else {
    docs.push_back(text);
  }
  std::vector<int32_t> stream;
  for (std::string_view d : docs) {
    stream.push_back(codec.bos());
    std::vector<int32_t> ids = codec.encode(d);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(codec.eos());
  }
  return packed(stream, L);
}

Dataset Dataset::from_text_file(const std::string& path, const TextCodec& codec, int64_t L, bool split_documents) {
  return from_text(io::read_text_file(path), codec, L, split_documents);
}

Dataset Dataset::supervised(const std::vector<std::pair<std::string, std::string>>& pairs, const TextCodec& codec,
                            int64_t L) {
  check_seq_len(L);
  std::vector<Example> rows;
  for (size_t i = 0; i < pairs.size(); ++i) {
    std::vector<int32_t> p = codec.encode(pairs[i].first), r = codec.encode(pairs[i].second);
    std::vector<int32_t> seq = {codec.bos()};
    seq.insert(seq.end(), p.begin(), p.end());
    const size_t answer_from = seq.size();  // index of the first response token
    seq.insert(seq.end(), r.begin(), r.end());
    seq.push_back(codec.eos());
    if (int64_t(seq.size()) > L + 1)
      fail(Status::InvalidArg, "dataset: pair " + std::to_string(i) + " is " + std::to_string(seq.size()) +
                                   " tokens, more than seq_len + 1 = " + std::to_string(L + 1));
    Example e;
    e.inputs.assign(size_t(L), codec.pad());
    e.targets.assign(size_t(L), kIgnore);
    for (size_t t = 0; t + 1 < seq.size(); ++t) {
      e.inputs[t] = seq[t];
      if (t + 1 >= answer_from) e.targets[t] = seq[t + 1];  // position t predicts token t + 1
    }
    rows.push_back(std::move(e));
  }
  Dataset d(std::move(rows));
  d.seq_len_ = L;
  return d;
}

Dataset Dataset::from_jsonl(const std::string& path, const TextCodec& codec, int64_t L, bool chat) {
  std::vector<std::pair<std::string, std::string>> pairs;
  io::for_each_jsonl_line(io::read_text_file(path), path, [&](std::string_view line, const std::string& where) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      fail(Status::Format, where + ": not JSON (" + e.what() + ")");
    }
    const char* resp_key = j.contains("response") ? "response" : "completion";
    if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string() || !j.contains(resp_key) ||
        !j[resp_key].is_string())
      fail(Status::Format, where + ": needs string fields \"prompt\" and \"response\"");
    std::string prompt = j["prompt"], response = j[resp_key];
    if (chat) {
      // the rendered prompt starts with <bos>; supervised() adds its own
      prompt = render_chat({{"user", prompt}}, true);
      if (prompt.rfind("<bos>", 0) == 0) prompt.erase(0, 5);
      response += "<end_of_turn>";
    }
    pairs.emplace_back(std::move(prompt), std::move(response));
  });
  if (pairs.empty()) fail(Status::Format, path + ": no examples");
  return supervised(pairs, codec, L);
}

std::pair<Dataset, Dataset> Dataset::split(double val_fraction, uint64_t seed) const {
  if (!(val_fraction >= 0 && val_fraction < 1)) fail(Status::InvalidArg, "dataset: val_fraction must be in [0, 1)");
  std::vector<size_t> idx(size());
  std::iota(idx.begin(), idx.end(), size_t(0));
  seeded_shuffle(idx, seed);
  size_t n_val = size_t(double(size()) * val_fraction + 0.5);
  if (val_fraction > 0 && n_val == 0 && size() >= 2) n_val = 1;
  if (n_val >= size() && size() > 0) n_val = size() - 1;
  std::vector<size_t> val_idx(idx.begin(), idx.begin() + long(n_val)), train_idx(idx.begin() + long(n_val), idx.end());
  std::sort(val_idx.begin(), val_idx.end());
  std::sort(train_idx.begin(), train_idx.end());
  Dataset tr, va;
  for (size_t i : train_idx) tr.examples_.push_back(examples_[i]);
  for (size_t i : val_idx) va.examples_.push_back(examples_[i]);
  tr.seq_len_ = va.seq_len_ = seq_len_;
  return {std::move(tr), std::move(va)};
}

uint64_t Dataset::fingerprint() const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over every id
  auto mix = [&](int64_t v) {
    for (int b = 0; b < 8; ++b) h = (h ^ uint64_t((v >> (8 * b)) & 0xff)) * 1099511628211ull;
  };
  mix(seq_len_);
  for (const Example& e : examples_) {
    for (int32_t v : e.inputs) mix(v);
    for (int32_t v : e.targets) mix(v);
  }
  return h;
}

// ---- BatchOrder and Batcher ----

BatchOrder::BatchOrder(size_t n, int64_t batch_size, uint64_t seed, bool shuffle)
    : n_(n), batch_(batch_size), shuffle_(shuffle) {
  if (batch_size < 1) fail(Status::InvalidArg, "batcher: batch_size must be >= 1");
  if (int64_t(n) < batch_size)
    fail(Status::InvalidArg, "batcher: " + std::to_string(n) + " rows cannot fill a batch of " + std::to_string(batch_size));
  state_.seed = seed;
}

void BatchOrder::set_state(const State& s) {
  if (s.epoch < 0 || s.position < 0 || s.position > int64_t(n_))
    fail(Status::InvalidArg, "batcher: state out of range for this dataset");
  state_ = s;
  order_epoch_ = -1;
}

void BatchOrder::shuffle_epoch() {
  order_.resize(n_);
  std::iota(order_.begin(), order_.end(), size_t(0));
  if (shuffle_) seeded_shuffle(order_, state_.seed ^ (0x5851F42D4C957F2Dull * uint64_t(state_.epoch + 1)));
  order_epoch_ = state_.epoch;
}

std::vector<size_t> BatchOrder::next() {
  if (state_.position + batch_ > int64_t(n_)) {
    ++state_.epoch;
    state_.position = 0;
  }
  if (order_epoch_ != state_.epoch) shuffle_epoch();
  std::vector<size_t> idx(order_.begin() + state_.position, order_.begin() + state_.position + batch_);
  state_.position += batch_;
  return idx;
}

Batcher::Batcher(const Dataset& data, int64_t batch_size, uint64_t seed, bool shuffle)
    : data_(&data), order_(data.size(), batch_size, seed, shuffle) {}

void Batcher::next(Tensor& inputs, Tensor& targets) {
  const std::vector<size_t> rows = order_.next();
  const int64_t L = data_->seq_len(), batch = int64_t(rows.size());
  std::vector<int32_t> in(size_t(batch * L)), tg(size_t(batch * L));
  for (int64_t b = 0; b < batch; ++b) {
    const Example& e = (*data_)[rows[size_t(b)]];
    std::copy(e.inputs.begin(), e.inputs.end(), in.begin() + b * L);
    std::copy(e.targets.begin(), e.targets.end(), tg.begin() + b * L);
  }
  inputs = Tensor::from_data(in.data(), {batch, L}, DType::I32);
  targets = Tensor::from_data(tg.data(), {batch, L}, DType::I32);
}

std::vector<std::pair<Tensor, Tensor>> eval_batches(const Dataset& data, int64_t batch_size, int64_t max_batches) {
  if (batch_size < 1) fail(Status::InvalidArg, "eval_batches: batch_size must be >= 1");
  std::vector<std::pair<Tensor, Tensor>> out;
  const int64_t L = data.seq_len();
  for (size_t start = 0; start < data.size(); start += size_t(batch_size)) {
    if (max_batches > 0 && int64_t(out.size()) >= max_batches) break;
    const int64_t n = std::min<int64_t>(batch_size, int64_t(data.size() - start));
    std::vector<int32_t> in(size_t(n * L)), tg(size_t(n * L));
    for (int64_t b = 0; b < n; ++b) {
      const Example& e = data[start + size_t(b)];
      std::copy(e.inputs.begin(), e.inputs.end(), in.begin() + b * L);
      std::copy(e.targets.begin(), e.targets.end(), tg.begin() + b * L);
    }
    out.emplace_back(Tensor::from_data(in.data(), {n, L}, DType::I32), Tensor::from_data(tg.data(), {n, L}, DType::I32));
  }
  return out;
}

}  // namespace xla::train
