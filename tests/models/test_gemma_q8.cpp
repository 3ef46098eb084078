// test_gemma_q8.cpp — Gemma with 8-bit weights (int8 blocks of 32 with an f16 scale) against
// the same model in f32: over the reference positions of the three oracle models the top-1
// token agrees at >= 99% of them, and the largest logit error is printed; on the Gemma 3 270M shape, the mean
// KL divergence from f32 over 256 positions is below 1e-3. A quantized folder loads back to
// the same bits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "xla/gemma.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

using xla::DType;
using xla::Tensor;

namespace {

const std::string kOracle = std::string(XLA_SHARED_DIR) + "/oracle/gemma/";

Tensor tokens(const std::vector<int32_t>& ids) { return Tensor::from_data(ids.data(), {1, int64_t(ids.size())}, DType::I32); }

std::vector<int32_t> sequence(const std::string& variant, int s) {
  std::ifstream f(kOracle + variant + "/reference.json");
  return nlohmann::json::parse(f)["sequences"][s]["token_ids"].get<std::vector<int32_t>>();
}

size_t argmax(const float* row, int64_t n) { return size_t(std::max_element(row, row + n) - row); }

// Over every reference position of the three oracle models (2 sequences each), the f32 and
// q8 models' top tokens agree at >= 99% of them; a disagreement must be a near tie in f32.
TEST(GemmaQ8, TopTokenAgreesWithF32OverTheReferencePositions) {
  xla::NoGradGuard no_grad;
  size_t positions = 0, agree = 0;
  for (const std::string variant : {"gemma1", "gemma2", "gemma3"}) {
    const xla::GemmaModel f32 = xla::GemmaModel::load(kOracle + variant);
    const xla::GemmaModel q8 = xla::GemmaModel::load(kOracle + variant, DType::Q8);
    ASSERT_EQ(q8.layers[0].down_proj.dtype(), DType::Q8);  // [hidden, intermediate]: whole blocks
    ASSERT_EQ(q8.norm.dtype(), DType::F32);                // vectors stay f32
    const int64_t V = f32.vocab_size();
    size_t here = 0, agree_here = 0;
    double max_err = 0, max_logit = 0;
    for (int s = 0; s < 2; ++s) {
      const std::vector<int32_t> ids = sequence(variant, s);
      std::vector<float> a = f32.forward(tokens(ids)).to_vector(), b = q8.forward(tokens(ids)).to_vector();
      ASSERT_EQ(a.size(), b.size());
      for (size_t t = 0; t < ids.size(); ++t) {
        const float* ra = &a[t * size_t(V)];
        const size_t top_a = argmax(ra, V), top_b = argmax(&b[t * size_t(V)], V);
        ++here;
        if (top_a == top_b) {
          ++agree_here;
          continue;
        }
        std::printf("%s sequence %d position %zu: f32 picks %zu, q8 %zu; their f32 logits differ by %.3f\n",
                    variant.c_str(), s, t, top_a, top_b, double(ra[top_a]) - double(ra[top_b]));
        EXPECT_LT(double(ra[top_a]) - double(ra[top_b]), 0.5) << "not a near tie";
      }
      for (size_t i = 0; i < a.size(); ++i) {
        max_err = std::max(max_err, std::fabs(double(a[i]) - double(b[i])));
        max_logit = std::max(max_logit, std::fabs(double(a[i])));
      }
    }
    std::printf("%s q8: top-1 agrees at %zu of %zu positions; max logit error %.2e (largest |logit| %.2f)\n",
                variant.c_str(), agree_here, here, max_err, max_logit);
    EXPECT_GT(max_err, 0.0);  // really quantized
    EXPECT_LT(max_err, 0.1 * max_logit);
    positions += here;
    agree += agree_here;
  }
  std::printf("all: %zu of %zu (%.1f%%)\n", agree, positions, 100.0 * double(agree) / double(positions));
  EXPECT_GE(double(agree), 0.99 * double(positions));
}

// `quantize` then load: the folder holds int8 values and f16 scales, and gives the same bits
// as the model quantized at load; loaded as f32 it is the dequantized model.
TEST(GemmaQ8Folder, SavedQuantizedModelLoadsToTheSameBits) {
  xla::NoGradGuard no_grad;
  const xla::GemmaModel q8 = xla::GemmaModel::load(kOracle + "gemma1", DType::Q8);
  const std::string dir = ::testing::TempDir() + "gemma_q8_folder";
  q8.save(dir);
  const xla::GemmaModel back = xla::GemmaModel::load(dir, DType::Q8);
  const xla::GemmaModel widened = xla::GemmaModel::load(dir);  // f32
  EXPECT_EQ(widened.embed_tokens.dtype(), DType::F32);
  const Tensor t = tokens(sequence("gemma1", 0));
  EXPECT_EQ(q8.forward(t).to_vector(), back.forward(t).to_vector());
  // loaded as f32, every weight is the dequantized value
  EXPECT_EQ(widened.embed_tokens.to_vector(), q8.embed_tokens.to_vector());
  for (size_t i = 0; i < q8.layers.size(); ++i) {
    const xla::GemmaLayer &a = q8.layers[i], &b = widened.layers[i];
    for (auto w :
         {&xla::GemmaLayer::q_proj, &xla::GemmaLayer::k_proj, &xla::GemmaLayer::v_proj, &xla::GemmaLayer::o_proj,
          &xla::GemmaLayer::gate_proj, &xla::GemmaLayer::up_proj, &xla::GemmaLayer::down_proj}) {
      ASSERT_EQ((b.*w).dtype(), DType::F32);
      EXPECT_EQ((b.*w).to_vector(), (a.*w).to_vector()) << "layer " << i;
    }
  }
  std::filesystem::remove_all(dir);
}

// Gemma 3 270M's shape with random weights: the mean KL(f32 ‖ q8) of the next-token
// distributions over 256 positions.
TEST(GemmaQ8Quality, KlFromF32OnThe270mShapeIsBelow1e3) {
  xla::NoGradGuard no_grad;
  std::ifstream f(std::string(XLA_SHARED_DIR) + "/bench/gemma3-270m.config.json");
  std::stringstream config;
  config << f.rdbuf();
  const xla::GemmaConfig cfg = xla::GemmaConfig::from_json(config.str());
  std::vector<int32_t> ids(256);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 2654435761u) % uint32_t(cfg.vocab_size));
  ids[0] = 2;
  std::vector<float> p, q;
  {
    const xla::GemmaModel m = xla::GemmaModel::create(cfg, 3);
    p = m.forward(tokens(ids)).to_vector();
    const xla::GemmaModel m8 = xla::GemmaModel::create(cfg, 3, DType::Q8);
    q = m8.forward(tokens(ids)).to_vector();
  }
  const size_t V = size_t(cfg.vocab_size);
  double kl_sum = 0, kl_max = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    const float* a = &p[t * V];
    const float* b = &q[t * V];
    const double ma = *std::max_element(a, a + V), mb = *std::max_element(b, b + V);
    double za = 0, zb = 0;
    for (size_t i = 0; i < V; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    double kl = 0;
    for (size_t i = 0; i < V; ++i) {
      const double la = a[i] - ma - std::log(za), lb = b[i] - mb - std::log(zb);
      kl += std::exp(la) * (la - lb);
    }
    kl_sum += kl;
    kl_max = std::max(kl_max, kl);
  }
  const double mean = kl_sum / double(ids.size());
  std::printf("270M shape, 256 positions: mean KL(f32 || q8) %.3e, max %.3e\n", mean, kl_max);
  EXPECT_LT(mean, 1e-3);
  EXPECT_GT(mean, 0.0);
}

}  // namespace
