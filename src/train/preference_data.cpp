// preference_data.cpp — DPO's data: preference pairs from C++ or JSONL (text through a codec,
// optionally chat-formatted, or token ids), batches of pairs as one [2B, L] batch (chosen rows,
// then rejected), and completion log-probs of such a batch. The trainer is dpo_trainer.cpp.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "json_fields.hpp"
#include "text_file.hpp"
#include "xla/autograd.hpp"
#include "xla/dpo_trainer.hpp"
#include "xla/loss.hpp"

namespace xla::train {
namespace {

using detail::ids_of;
using detail::text_of;

constexpr int32_t kIgnore = -100;

// Why a pair cannot be used ("" = it can).
std::string pair_problem(const PreferenceExample& e, int64_t max_len) {
  if (e.prompt.empty()) return "empty prompt (it needs at least <bos>)";
  if (e.chosen.empty()) return "empty chosen completion";
  if (e.rejected.empty()) return "empty rejected completion";
  for (const auto* ids : {&e.prompt, &e.chosen, &e.rejected})
    for (int32_t id : *ids)
      if (id < 0) return "negative token id " + std::to_string(id);
  if (max_len > 0)
    for (const auto& [what, c] : {std::pair{"chosen", &e.chosen}, std::pair{"rejected", &e.rejected}}) {
      const size_t n = e.prompt.size() + c->size();
      if (int64_t(n) > max_len)
        return std::string("prompt + ") + what + " is " + std::to_string(n) + " tokens, more than max_len " +
               std::to_string(max_len) + " (" + std::to_string(e.prompt.size()) + " + " + std::to_string(c->size()) + ")";
    }
  return "";
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

PreferenceDataset::PreferenceDataset(std::vector<PreferenceExample> pairs, int64_t max_len)
    : pairs_(std::move(pairs)), max_len_(max_len) {
  if (max_len < 0) fail(Status::InvalidArg, "preference data: max_len must be >= 0 (0 = no limit)");
  for (size_t i = 0; i < pairs_.size(); ++i) {
    const std::string why = pair_problem(pairs_[i], max_len);
    if (!why.empty()) fail(Status::InvalidArg, "preference data: pair " + std::to_string(i) + ": " + why);
  }
}

PreferenceDataset PreferenceDataset::from_jsonl(const std::string& path, const TextCodec& codec, int64_t max_len,
                                                bool chat) {
  std::vector<PreferenceExample> pairs;
  const std::string text = io::read_text_file(path, "the preference data");
  io::for_each_jsonl_line(text, path, [&](std::string_view line, const std::string& where) {
    const nlohmann::json j = detail::object_of(line, where);
    PreferenceExample e;
    if (j.contains("prompt_ids") || j.contains("chosen_ids") || j.contains("rejected_ids")) {
      e.prompt = ids_of(j, "prompt_ids", where, codec.vocab_size());
      e.chosen = ids_of(j, "chosen_ids", where, codec.vocab_size());
      e.rejected = ids_of(j, "rejected_ids", where, codec.vocab_size());
    } else {
      std::string prompt = text_of(j, "prompt", where), chosen = text_of(j, "chosen", where),
                  rejected = text_of(j, "rejected", where);
      if (chosen.empty()) fail(Status::Format, where + ": empty chosen completion");
      if (rejected.empty()) fail(Status::Format, where + ": empty rejected completion");
      if (chat) {
        prompt = render_chat({{"user", prompt}}, true);  // "<bos><start_of_turn>user\n…<start_of_turn>model\n"
        if (prompt.rfind("<bos>", 0) == 0) prompt.erase(0, 5);  // <bos> is added as an id below
        chosen += "<end_of_turn>";
        rejected += "<end_of_turn>";
      }
      e.prompt = {codec.bos()};
      const std::vector<int32_t> p = codec.encode(prompt);
      e.prompt.insert(e.prompt.end(), p.begin(), p.end());
      e.chosen = codec.encode(chosen);
      e.chosen.push_back(codec.eos());
      e.rejected = codec.encode(rejected);
      e.rejected.push_back(codec.eos());
    }
    const std::string why = pair_problem(e, max_len);
    if (!why.empty()) fail(Status::Format, where + ": " + why);
    pairs.push_back(std::move(e));
  });
  if (pairs.empty()) fail(Status::Format, "preference data: " + path + " holds no pairs");
  return PreferenceDataset(std::move(pairs), max_len);
}

std::pair<PreferenceDataset, PreferenceDataset> PreferenceDataset::split(double val_fraction, uint64_t seed) const {
  if (!(val_fraction >= 0 && val_fraction < 1)) fail(Status::InvalidArg, "preference data: val_fraction must be in [0, 1)");
  std::vector<size_t> idx(size());
  std::iota(idx.begin(), idx.end(), size_t(0));
  for (size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[splitmix(seed) % i]);  // Fisher–Yates
  size_t n_val = size_t(double(size()) * val_fraction + 0.5);
  if (val_fraction > 0 && n_val == 0 && size() >= 2) n_val = 1;
  if (n_val >= size() && size() > 0) n_val = size() - 1;
  std::sort(idx.begin(), idx.begin() + long(n_val));
  std::sort(idx.begin() + long(n_val), idx.end());
  PreferenceDataset tr, va;
  for (size_t k = 0; k < idx.size(); ++k) (k < n_val ? va : tr).pairs_.push_back(pairs_[idx[k]]);
  tr.max_len_ = va.max_len_ = max_len_;
  return {std::move(tr), std::move(va)};
}

uint64_t PreferenceDataset::fingerprint() const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over every length and id
  auto mix = [&](int64_t v) {
    for (int b = 0; b < 8; ++b) h = (h ^ uint64_t((v >> (8 * b)) & 0xff)) * 1099511628211ull;
  };
  mix(int64_t(pairs_.size()));
  for (const PreferenceExample& e : pairs_)
    for (const auto* ids : {&e.prompt, &e.chosen, &e.rejected}) {
      mix(int64_t(ids->size()));
      for (int32_t v : *ids) mix(v);
    }
  return h;
}

PreferenceBatch make_preference_batch(const PreferenceDataset& data, std::span<const size_t> indices, int32_t pad_id) {
  const int64_t B = int64_t(indices.size());
  if (B == 0) fail(Status::InvalidArg, "preference batch: no pairs");
  for (size_t i : indices)
    if (i >= data.size())
      fail(Status::InvalidArg, "preference batch: pair " + std::to_string(i) + " of a dataset of " + std::to_string(data.size()));
  // row r < B: pair indices[r] with its chosen completion; row B + r: with its rejected one
  auto row = [&](int64_t r) -> std::pair<const std::vector<int32_t>&, const std::vector<int32_t>&> {
    const PreferenceExample& e = data[indices[size_t(r % B)]];
    return {e.prompt, r < B ? e.chosen : e.rejected};
  };
  int64_t L = 1;
  for (int64_t r = 0; r < 2 * B; ++r) L = std::max<int64_t>(L, int64_t(row(r).first.size() + row(r).second.size()) - 1);
  std::vector<int32_t> in(size_t(2 * B * L), pad_id), tg(size_t(2 * B * L), kIgnore);
  PreferenceBatch batch;
  for (int64_t r = 0; r < 2 * B; ++r) {
    // named references, not a structured binding: C++20 lets a lambda capture one, but
    // clang 14 (the fuzzing build's compiler) does not yet
    const auto& both = row(r);
    const std::vector<int32_t>& prompt = both.first;
    const std::vector<int32_t>& completion = both.second;
    const size_t P = prompt.size(), n = P + completion.size();
    auto token = [&](size_t t) { return t < P ? prompt[t] : completion[t - P]; };
    int32_t* pin = in.data() + r * L;
    int32_t* ptg = tg.data() + r * L;
    for (size_t t = 0; t + 1 < n; ++t) {
      pin[t] = token(t);
      if (t + 1 >= P) ptg[t] = token(t + 1);  // position t predicts token t + 1: a completion token
    }
    batch.tokens.push_back(int32_t(completion.size()));
  }
  batch.inputs = Tensor::from_data(in.data(), {2 * B, L}, DType::I32);
  batch.targets = Tensor::from_data(tg.data(), {2 * B, L}, DType::I32);
  batch.index.assign(indices.begin(), indices.end());
  return batch;
}

Tensor completion_logprobs(const Model& model, const PreferenceBatch& batch, bool average, Tensor* per_token) {
  Tensor lp = token_logprobs(model, batch.inputs, batch.targets, kIgnore);  // [2B, L]
  if (per_token) *per_token = lp;
  Tensor sums = ag::sum(lp, {1});  // [2B]
  if (!average) return sums;
  std::vector<float> n(batch.tokens.begin(), batch.tokens.end());
  return ag::div(sums, Tensor::from_vector(n, {int64_t(n.size())}));
}

}  // namespace xla::train
