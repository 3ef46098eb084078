// test_gemma_oracle.cpp — Gemma 1, 2 and 3 against Google's reference implementation
// (../shared/oracle/gemma, made by gemma_pytorch in float32): logits of both sequences,
// alone and as one batch; every hidden-state row; summed log-probs; the decode-step logits
// through the KV cache; and the 8-token greedy continuation, exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "xla/gemma.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using xla::Tensor;
using json = nlohmann::json;

namespace {

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/gemma/";

std::vector<float> read_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(f.good()) << path;
  std::vector<float> v(static_cast<size_t>(f.tellg()) / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  return v;
}

struct Oracle {
  json ref;
  std::vector<float> logits, decode, hidden;
  explicit Oracle(const std::string& variant) {
    std::ifstream f(kOracle + variant + "/reference.json");
    ref = json::parse(f);
    logits = read_f32(kOracle + variant + "/logits.f32");
    decode = read_f32(kOracle + variant + "/decode_logits.f32");
    hidden = read_f32(kOracle + variant + "/hidden_seq0.f32");
  }
  std::vector<int32_t> ids(int s) const { return ref["sequences"][s]["token_ids"].get<std::vector<int32_t>>(); }
  const float* seq_logits(int s) const { return logits.data() + ref["sequences"][s]["logits"]["offset_bytes"].get<size_t>() / 4; }
  const float* seq_decode(int s) const { return decode.data() + ref["sequences"][s]["decode_logits"]["offset_bytes"].get<size_t>() / 4; }
};

Tensor tokens(const std::vector<int32_t>& ids) { return Tensor::from_data(ids.data(), {1, int64_t(ids.size())}, xla::DType::I32); }

// max |got - want| over n floats
double max_diff(const float* got, const float* want, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(got[i]) - double(want[i])));
  return m;
}

class GemmaOracle : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model = xla::GemmaModel::load(kOracle + GetParam());
    oracle = std::make_unique<Oracle>(GetParam());
    V = model.vocab_size();
  }
  xla::GemmaModel model;
  std::unique_ptr<Oracle> oracle;
  int64_t V = 0;
};

TEST_P(GemmaOracle, LogitsOfEachSequence) {
  xla::NoGradGuard no_grad;
  for (int s = 0; s < 2; ++s) {
    std::vector<int32_t> ids = oracle->ids(s);
    std::vector<float> got = model.forward(tokens(ids)).to_vector();
    ASSERT_EQ(got.size(), ids.size() * size_t(V));
    EXPECT_LT(max_diff(got.data(), oracle->seq_logits(s), got.size()), 1e-3) << "sequence " << s;
  }
}

TEST_P(GemmaOracle, LogitsAsOneBatch) {
  // the shorter sequence is padded on the right: causal attention keeps its rows unchanged
  xla::NoGradGuard no_grad;
  std::vector<int32_t> a = oracle->ids(0), b = oracle->ids(1);
  const size_t T = a.size(), Tb = b.size();
  std::vector<int32_t> batch(a);
  b.resize(T, 0);
  batch.insert(batch.end(), b.begin(), b.end());
  std::vector<float> got = model.forward(Tensor::from_data(batch.data(), {2, int64_t(T)}, xla::DType::I32)).to_vector();
  EXPECT_LT(max_diff(got.data(), oracle->seq_logits(0), T * size_t(V)), 1e-3);
  EXPECT_LT(max_diff(got.data() + T * size_t(V), oracle->seq_logits(1), Tb * size_t(V)), 1e-3);
}

TEST_P(GemmaOracle, EveryHiddenStateRow) {
  xla::NoGradGuard no_grad;
  std::vector<Tensor> hidden;
  model.forward(tokens(oracle->ids(0)), nullptr, &hidden);
  const auto shape = oracle->ref["hidden_states"]["shape"].get<std::vector<size_t>>();  // [L + 2, T, C]
  ASSERT_EQ(hidden.size(), shape[0]);
  const size_t row = shape[1] * shape[2];
  for (size_t i = 0; i < hidden.size(); ++i) {
    std::vector<float> got = hidden[i].to_vector();
    ASSERT_EQ(got.size(), row);
    double scale = 1;
    for (size_t j = 0; j < row; ++j) scale = std::max(scale, std::fabs(double(oracle->hidden[i * row + j])));
    EXPECT_LT(max_diff(got.data(), oracle->hidden.data() + i * row, row), 1e-5 * scale + 1e-4) << "hidden row " << i;
  }
}

TEST_P(GemmaOracle, SummedLogProbs) {
  xla::NoGradGuard no_grad;
  for (int s = 0; s < 2; ++s) {
    std::vector<int32_t> ids = oracle->ids(s);
    std::vector<float> lg = model.forward(tokens(ids)).to_vector();
    double total = 0;
    for (size_t t = 1; t < ids.size(); ++t) {  // log_softmax(logits[t-1])[ids[t]] in double
      const float* row = lg.data() + (t - 1) * size_t(V);
      double m = row[0], z = 0;
      for (int64_t c = 0; c < V; ++c) m = std::max(m, double(row[c]));
      for (int64_t c = 0; c < V; ++c) z += std::exp(double(row[c]) - m);
      total += double(row[ids[t]]) - m - std::log(z);
    }
    EXPECT_NEAR(total, oracle->ref["sequences"][s]["sum_logprob"].get<double>(), 5e-3) << "sequence " << s;
  }
}

TEST_P(GemmaOracle, GreedyDecodeThroughTheKVCache) {
  xla::NoGradGuard no_grad;
  for (int s = 0; s < 2; ++s) {
    std::vector<int32_t> ids = oracle->ids(s);
    std::vector<int32_t> want = oracle->ref["sequences"][s]["greedy_continuation"].get<std::vector<int32_t>>();
    xla::KVCache cache = model.new_cache();
    Tensor logits = model.forward(tokens(ids), &cache);  // prefill: its last row predicts token 0
    std::vector<int32_t> got;
    for (size_t j = 0; j < want.size(); ++j) {
      std::vector<float> row = logits.select(1, logits.shape()[1] - 1).to_vector();
      EXPECT_LT(max_diff(row.data(), oracle->seq_decode(s) + j * size_t(V), size_t(V)), 1e-3) << "seq " << s << " step " << j;
      int32_t next = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
      got.push_back(next);
      logits = model.forward(tokens({next}), &cache);  // one token at a time
    }
    EXPECT_EQ(got, want) << "sequence " << s;
    EXPECT_EQ(cache.length, int64_t(ids.size() + want.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GemmaOracle, ::testing::Values("gemma1", "gemma2", "gemma3"));

}  // namespace
