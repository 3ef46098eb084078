// test_mamba_oracle.cpp — Mamba against transformers' MambaForCausalLM slow path
// (../shared/oracle/mamba, float32): logits of both sequences, alone and as one right-padded
// batch, within 1e-4; the residual stream at the last position after the embedding, each
// layer and the final norm; per-token and summed log-probs; and the 8-token greedy
// continuation decoded one token per step through the recurrent state, exactly, with each
// step's logits equal to a full forward over the sequence so far.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "xla/mamba.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using xla::Tensor;
using json = nlohmann::json;

namespace {

const std::string kDir = std::string(XLA_SHARED_DIR) + "/oracle/mamba";
constexpr double kLogitTol = 1e-4;  // the oracle README's tolerance

struct Oracle {
  json ref;
  std::vector<float> logits;
  Oracle() {
    std::ifstream f(kDir + "/reference.json");
    ref = json::parse(f);
    std::ifstream lf(kDir + "/logits.f32", std::ios::binary | std::ios::ate);
    logits.resize(size_t(lf.tellg()) / 4);
    lf.seekg(0);
    lf.read(reinterpret_cast<char*>(logits.data()), std::streamsize(logits.size() * 4));
  }
  const json& seq(int s) const { return ref["sequences"][s]; }
  std::vector<int32_t> ids(int s) const { return seq(s)["ids"].get<std::vector<int32_t>>(); }
  const float* seq_logits(int s) const { return logits.data() + seq(s)["logits_offset_bytes"].get<size_t>() / 4; }
};

const Oracle& oracle() {
  static Oracle o;
  return o;
}
const xla::MambaModel& model() {
  static xla::MambaModel m = xla::MambaModel::load(kDir);
  return m;
}

Tensor tokens(const std::vector<int32_t>& ids) { return Tensor::from_data(ids.data(), {1, int64_t(ids.size())}, xla::DType::I32); }

double max_diff(const float* got, const float* want, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(got[i]) - double(want[i])));
  return m;
}

int32_t argmax(const float* row, int64_t n) {
  int32_t best = 0;
  for (int64_t v = 1; v < n; ++v)
    if (row[v] > row[best]) best = int32_t(v);
  return best;
}

}  // namespace

TEST(MambaOracle, ConfigIsTheOracles) {
  const xla::MambaConfig& c = model().config;
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.state_size, 16);
  EXPECT_EQ(c.conv_kernel, 4);
  EXPECT_EQ(c.time_step_rank, 4);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(model().architecture(), "mamba");
}

TEST(MambaOracle, LogitsOfEachSequence) {
  const int64_t V = 512;
  for (int s = 0; s < 2; ++s) {
    const std::vector<int32_t> ids = oracle().ids(s);
    Tensor logits = model().forward(tokens(ids));
    ASSERT_EQ(logits.shape(), (xla::Shape{1, int64_t(ids.size()), V}));
    std::vector<float> got = logits.to_vector();
    EXPECT_LE(max_diff(got.data(), oracle().seq_logits(s), got.size()), kLogitTol) << "sequence " << s;
  }
}

TEST(MambaOracle, LogitsAsOneRightPaddedBatch) {
  const std::vector<int32_t> a = oracle().ids(0), b = oracle().ids(1);
  const int64_t T = int64_t(a.size()), V = 512;
  ASSERT_GT(a.size(), b.size());
  std::vector<int32_t> batch = a;
  batch.insert(batch.end(), b.begin(), b.end());
  batch.resize(size_t(2 * T), 0);  // right-pad the shorter: a causal model's real positions never see it
  std::vector<float> got = model().forward(Tensor::from_data(batch.data(), {2, T}, xla::DType::I32)).to_vector();
  EXPECT_LE(max_diff(got.data(), oracle().seq_logits(0), size_t(T * V)), kLogitTol);
  EXPECT_LE(max_diff(got.data() + T * V, oracle().seq_logits(1), b.size() * size_t(V)), kLogitTol);
}

TEST(MambaOracle, HiddenStatesAtTheLastPosition) {
  for (int s = 0; s < 2; ++s) {
    const std::vector<int32_t> ids = oracle().ids(s);
    std::vector<Tensor> hidden;
    model().forward(tokens(ids), nullptr, &hidden);
    const json& want = oracle().seq(s)["hidden_last_position"];
    ASSERT_EQ(hidden.size(), want.size());  // embedding, 3 layers, final norm
    for (size_t k = 0; k < hidden.size(); ++k) {
      std::vector<float> row = hidden[k].slice(1, int64_t(ids.size()) - 1, int64_t(ids.size())).contiguous().to_vector();
      std::vector<float> w = want[k].get<std::vector<float>>();
      ASSERT_EQ(row.size(), w.size());
      double scale = 0;
      for (float v : w) scale = std::max(scale, std::fabs(double(v)));
      EXPECT_LE(max_diff(row.data(), w.data(), w.size()), 1e-5 * std::max(1.0, scale)) << "sequence " << s << " entry " << k;
    }
  }
}

TEST(MambaOracle, TokenLogProbsAndTheirSum) {
  for (int s = 0; s < 2; ++s) {
    const std::vector<int32_t> ids = oracle().ids(s);
    Tensor lp = xla::log_softmax(model().forward(tokens(ids)), -1);
    std::vector<float> v = lp.to_vector();
    const std::vector<double> want = oracle().seq(s)["token_logprobs"].get<std::vector<double>>();
    ASSERT_EQ(want.size(), ids.size() - 1);
    double sum = 0;
    for (size_t t = 0; t + 1 < ids.size(); ++t) {
      const double got = v[t * 512 + size_t(ids[t + 1])];
      EXPECT_NEAR(got, want[t], 1e-4) << "sequence " << s << " position " << t;
      sum += got;
    }
    EXPECT_NEAR(sum, oracle().seq(s)["sum_logprob"].get<double>(), 1e-3);
  }
}

// Greedy decoding through the state: the prompt in one forward, then one token per step.
// Each step's logits must equal the last row of a full forward over everything so far.
TEST(MambaOracle, GreedyThroughTheRecurrentState) {
  const int64_t V = 512;
  for (int s = 0; s < 2; ++s) {
    std::vector<int32_t> seq = oracle().ids(s);
    const std::vector<int32_t> want = oracle().seq(s)["greedy"].get<std::vector<int32_t>>();
    auto state = model().new_state();
    Tensor logits = model().forward(tokens(seq), state.get(), nullptr, true);  // [1, 1, V]
    std::vector<int32_t> got;
    for (size_t step = 0; step < want.size(); ++step) {
      std::vector<float> row = logits.to_vector();
      ASSERT_EQ(row.size(), size_t(V));
      std::vector<float> full = model().forward(tokens(seq)).to_vector();
      EXPECT_LE(max_diff(row.data(), full.data() + (seq.size() - 1) * size_t(V), size_t(V)), 1e-4)
          << "sequence " << s << " step " << step;
      const int32_t next = argmax(row.data(), V);
      got.push_back(next);
      seq.push_back(next);
      logits = model().forward(tokens({next}), state.get());
    }
    EXPECT_EQ(got, want) << "sequence " << s;
    EXPECT_EQ(state->length(), int64_t(seq.size()));
  }
}

// A prompt in two chunks (7 then the rest) continues the state: the same logits as one pass.
TEST(MambaOracle, ChunkedPrefillEqualsOnePass) {
  const std::vector<int32_t> ids = oracle().ids(0);
  const int64_t V = 512;
  auto state = model().new_state();
  std::vector<int32_t> first(ids.begin(), ids.begin() + 7), rest(ids.begin() + 7, ids.end());
  std::vector<float> a = model().forward(tokens(first), state.get()).to_vector();
  std::vector<float> b = model().forward(tokens(rest), state.get()).to_vector();
  a.insert(a.end(), b.begin(), b.end());
  ASSERT_EQ(a.size(), ids.size() * size_t(V));
  EXPECT_LE(max_diff(a.data(), oracle().seq_logits(0), a.size()), kLogitTol);
}
