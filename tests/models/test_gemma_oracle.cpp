// test_gemma_oracle.cpp — Gemma 1, 2 and 3 against Google's reference implementation
// (../shared/oracle/gemma, made by gemma_pytorch in float32): logits of both sequences,
// alone and as one batch, within 1e-4 (the oracle's float noise is below 3e-5; the smallest
// known mistakes move logits by ~1e-5 to 5e-3); every hidden-state row within 1e-5 of its
// largest value; summed log-probs; the decode-step logits through the KV cache; the 8-token
// greedy continuation, exactly; and a bf16 model's embedding scale, √hidden rounded to bf16.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
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

// Logits must match the reference within this (absolute; the oracle README's tolerance).
constexpr double kLogitTol = 1e-4;

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
    const double d = max_diff(got.data(), oracle->seq_logits(s), got.size());
    EXPECT_LT(d, kLogitTol) << "sequence " << s;
    RecordProperty("max_abs_diff_seq" + std::to_string(s), std::to_string(d));
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
  EXPECT_LT(max_diff(got.data(), oracle->seq_logits(0), T * size_t(V)), kLogitTol);
  EXPECT_LT(max_diff(got.data() + T * size_t(V), oracle->seq_logits(1), Tb * size_t(V)), kLogitTol);
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
    double scale = 0;  // relative to the row's largest magnitude
    for (size_t j = 0; j < row; ++j) scale = std::max(scale, std::fabs(double(oracle->hidden[i * row + j])));
    ASSERT_GT(scale, 0.0) << "hidden row " << i;
    const double d = max_diff(got.data(), oracle->hidden.data() + i * row, row);
    EXPECT_LT(d, 1e-5 * scale) << "hidden row " << i << ": " << d / scale << " relative";
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
      EXPECT_LT(max_diff(row.data(), oracle->seq_decode(s) + j * size_t(V), size_t(V)), kLogitTol) << "seq " << s << " step " << j;
      int32_t next = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
      got.push_back(next);
      logits = model.forward(tokens({next}), &cache);  // one token at a time
    }
    EXPECT_EQ(got, want) << "sequence " << s;
    EXPECT_EQ(cache.length(), int64_t(ids.size() + want.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GemmaOracle, ::testing::Values("gemma1", "gemma2", "gemma3"));

}  // namespace

namespace {

// The same tokens give the same bits: on every call, and with one thread or two (reductions
// and transcendental functions must not depend on buffer alignment or the thread split).
TEST(GemmaDeterminism, SameBitsEveryRunAndThreadCount) {
  xla::GemmaModel model = xla::GemmaModel::load(kOracle + "gemma3");
  xla::NoGradGuard no_grad;
  std::vector<int32_t> ids = {2, 179, 143, 205, 399, 77, 465, 219, 7, 405, 121, 52};
  std::vector<float> first = model.forward(tokens(ids)).to_vector();
  std::vector<float> again = model.forward(tokens(ids)).to_vector();
  xla::set_num_threads(1);
  std::vector<float> serial = model.forward(tokens(ids)).to_vector();
  xla::set_num_threads(0);
  EXPECT_EQ(first, again);
  EXPECT_EQ(first, serial);
}

// Absent keys mean what they mean to Hugging Face transformers (Gemma2Config,
// Gemma3TextConfig); an explicit null turns a soft-cap off.
TEST(GemmaConfig, AbsentKeysTakeTransformersDefaults) {
  // a config of this model type: the sizes, plus `keys` (a JSON fragment ending in ", ")
  auto config = [](const std::string& type, const std::string& keys = "") {
    return xla::GemmaConfig::from_json(R"({"model_type": ")" + type + R"(", )" + keys +
                                       R"("vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 2, "head_dim": 8})");
  };
  xla::GemmaConfig g2 = config("gemma2");
  EXPECT_EQ(g2.attn_softcap, 50.f);
  EXPECT_EQ(g2.final_softcap, 30.f);
  EXPECT_EQ(g2.query_pre_attn_scalar, 256.f);
  EXPECT_EQ(g2.sliding_window, 4096);
  EXPECT_EQ(g2.rope_theta, 10000.0);
  xla::GemmaConfig off = config("gemma2", R"("attn_logit_softcapping": null, "final_logit_softcapping": null, )");
  EXPECT_EQ(off.attn_softcap, 0.f);
  EXPECT_EQ(off.final_softcap, 0.f);
  xla::GemmaConfig g3 = config("gemma3_text");
  EXPECT_EQ(g3.rope_theta, 1000000.0);
  EXPECT_EQ(g3.rope_local_base, 10000.0);
  EXPECT_EQ(g3.query_pre_attn_scalar, 256.f);
  EXPECT_EQ(g3.sliding_window, 4096);
  EXPECT_EQ(g3.attn_softcap, 0.f);
  xla::GemmaConfig g1 = config("gemma");
  EXPECT_EQ(g1.query_pre_attn_scalar, 8.f);  // Gemma 1 scales by head_dim^-1/2
  EXPECT_EQ(g1.attn_softcap, 0.f);
  // Older Gemma 2 folders also spell the window sliding_window_size.
  xla::GemmaConfig old = config("gemma2", R"("sliding_window_size": 512, )");
  EXPECT_EQ(old.sliding_window, 512);
  EXPECT_EQ(config("gemma2", R"("sliding_window": 512, "sliding_window_size": 512, )").sliding_window, 512);
  EXPECT_THROW(config("gemma2", R"("sliding_window": 512, "sliding_window_size": 256, )"), xla::Error);
  // A saved config states every value: it reloads to the same thing.
  xla::GemmaConfig again = xla::GemmaConfig::from_json(off.to_json());
  EXPECT_EQ(again.attn_softcap, 0.f);
  EXPECT_EQ(again.query_pre_attn_scalar, 256.f);
}

TEST(GemmaCheckpoint, CreateSaveLoadGivesTheSameLogits) {
  xla::GemmaConfig cfg = xla::GemmaConfig::from_json(R"({"model_type": "gemma3_text", "vocab_size": 64,
      "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2,
      "num_key_value_heads": 1, "head_dim": 8, "sliding_window": 4, "sliding_window_pattern": 3})");
  EXPECT_EQ(cfg.sliding, (std::vector<uint8_t>{1, 1, 0}));  // every third layer is global
  xla::GemmaModel a = xla::GemmaModel::create(cfg, 7);
  const std::string dir = ::testing::TempDir() + "gemma_roundtrip";
  a.save(dir);
  xla::GemmaModel b = xla::GemmaModel::load(dir);
  xla::NoGradGuard no_grad;
  Tensor t = tokens({1, 5, 9, 63, 0, 2, 2, 7});
  EXPECT_EQ(a.forward(t).to_vector(), b.forward(t).to_vector());
  // bf16 weights: within bf16 rounding of the f32 model, not equal to it
  xla::GemmaModel h = xla::GemmaModel::load(dir, xla::DType::BF16);
  EXPECT_EQ(h.embed_tokens.dtype(), xla::DType::BF16);
  std::vector<float> fa = a.forward(t).to_vector(), fh = h.forward(t).to_vector();
  EXPECT_LT(max_diff(fa.data(), fh.data(), fa.size()), 0.05);
  EXPECT_GT(max_diff(fa.data(), fh.data(), fa.size()), 0.0);
  std::filesystem::remove_all(dir);
}

// A bf16 model scales its embeddings by √hidden rounded to bf16, as the reference does
// (`torch.tensor(hidden_size ** 0.5, dtype=bf16)`). √24 = 4.898979…; bf16 keeps 8 significant
// bits: 4.898979 / 4 = 1.224745 = 1 + 28.77/128, rounded to 1 + 29/128, so 4 · 157/128 = 4.90625.
// Every element of the scaled embedding (hidden row 0) is the widened bf16 weight times that.
TEST(GemmaCheckpoint, Bf16EmbeddingScaleIsSqrtHiddenRoundedToBf16) {
  xla::GemmaConfig cfg = xla::GemmaConfig::from_json(R"({"model_type": "gemma", "vocab_size": 64,
      "hidden_size": 24, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
      "num_key_value_heads": 1, "head_dim": 12})");
  const std::string dir = ::testing::TempDir() + "/gemma_bf16_scale";
  xla::GemmaModel::create(cfg, 3).save(dir);
  xla::GemmaModel h = xla::GemmaModel::load(dir, xla::DType::BF16);
  ASSERT_EQ(h.embed_tokens.dtype(), xla::DType::BF16);
  const float scale = 4.90625f;
  ASSERT_NE(scale, std::sqrt(24.f));  // the case where the rounding shows
  xla::NoGradGuard no_grad;
  const std::vector<int32_t> ids = {2, 7, 63, 0};
  std::vector<Tensor> hidden;
  h.forward(tokens(ids), nullptr, &hidden);
  std::vector<float> got = hidden.at(0).to_vector(), table = h.embed_tokens.to_vector();  // [T, C], [V, C]
  ASSERT_EQ(got.size(), ids.size() * 24);
  size_t differs = 0;  // elements where √24 in f32 would have given another value
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t c = 0; c < 24; ++c) {
      const float w = table[size_t(ids[t]) * 24 + c];
      EXPECT_EQ(got[t * 24 + c], w * scale) << "token " << t << " channel " << c;
      differs += w * scale != w * std::sqrt(24.f);
    }
  EXPECT_GT(differs, size_t(0));
}

// Bad checkpoints: each is an error naming the problem, never a crash.
TEST(GemmaCheckpoint, BadFoldersGiveClearErrors) {
  namespace fs = std::filesystem;
  const std::string base = ::testing::TempDir() + "gemma_bad";
  fs::remove_all(base);
  auto copy_model = [&](const std::string& name) {
    fs::create_directories(base + "/" + name);
    fs::copy_file(kOracle + "gemma1/config.json", base + "/" + name + "/config.json");
    fs::copy_file(kOracle + "gemma1/model.safetensors", base + "/" + name + "/model.safetensors");
    return base + "/" + name;
  };
  auto expect_error = [](const std::string& dir, xla::Status st, const std::string& needle) {
    try {
      xla::GemmaModel::load(dir);
      ADD_FAILURE() << dir << " loaded";
    } catch (const xla::Error& e) {
      EXPECT_EQ(int(e.status()), int(st)) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(base + "/absent", xla::Status::IO, "absent");
  // a truncated weights file
  std::string d = copy_model("truncated");
  fs::resize_file(d + "/model.safetensors", fs::file_size(d + "/model.safetensors") / 2);
  expect_error(d, xla::Status::Format, "model.safetensors");
  // bad JSON in the config
  d = copy_model("badjson");
  std::ofstream(d + "/config.json") << "{\"model_type\": \"gemma\", ";
  expect_error(d, xla::Status::Format, "config.json");
  // a config whose hidden size disagrees with the weights: the tensor is named with both shapes
  d = copy_model("wrongshape");
  {
    std::ifstream in(kOracle + "gemma1/config.json");
    json j = json::parse(in);
    j["intermediate_size"] = 96;
    std::ofstream(d + "/config.json") << j.dump();
  }
  expect_error(d, xla::Status::Format, "mlp.gate_proj.weight' has shape [128, 64], config says [96, 64]");
  // a missing tensor
  d = copy_model("missing");
  {
    std::ifstream in(kOracle + "gemma1/config.json");
    json j = json::parse(in);
    j["num_hidden_layers"] = 3;  // layer 2 is not in the file
    std::ofstream(d + "/config.json") << j.dump();
  }
  expect_error(d, xla::Status::Format, "model.layers.2.");
  // far more layers than the files hold: refused before the layers are allocated
  d = copy_model("manylayers");
  {
    std::ifstream in(kOracle + "gemma1/config.json");
    json j = json::parse(in);
    j["num_hidden_layers"] = 500;
    std::ofstream(d + "/config.json") << j.dump();
  }
  expect_error(d, xla::Status::Format, "config.json says 500 layers, but tensor 'model.layers.499.input_layernorm.weight'");
  // a missing shard
  d = copy_model("missingshard");
  fs::remove(d + "/model.safetensors");
  std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors"}})";
  expect_error(d, xla::Status::IO, "model-00001-of-00002.safetensors");
  fs::remove_all(base);
}

}  // namespace
