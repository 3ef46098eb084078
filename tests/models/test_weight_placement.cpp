// test_weight_placement.cpp — every way of making a model (create, load, clone; Gemma and
// Mamba; f32 and Q8) leaves its weights of 64 KiB and more in one huge-page block of its own,
// and a model loaded from a saved folder gives the created model's logits bit for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "xla/gemma.hpp"
#include "xla/mamba.hpp"

using xla::DType;
using xla::Tensor;

namespace {

const char* kGemma = R"({"model_type": "gemma3_text", "vocab_size": 16384, "hidden_size": 128,
  "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
  "head_dim": 64, "sliding_window": 4, "sliding_window_pattern": 2})";

const char* kMamba = R"({"model_type": "mamba", "vocab_size": 4096, "hidden_size": 256, "state_size": 4,
  "num_hidden_layers": 2, "expand": 2, "conv_kernel": 3, "time_step_rank": "auto", "use_bias": true,
  "tie_word_embeddings": false})";

// The block the model's large weights share (every one of them the same), after checking
// that the small ones were left alone.
const void* block_of(xla::Model& model) {
  const void* block = nullptr;
  int moved = 0;
  for (auto& [name, t] : model.named_parameters()) {
    if (!t->defined()) continue;
    const auto& shared = t->storage()->shared_block;
    if (t->nbytes() < (64 << 10)) {
      EXPECT_EQ(shared, nullptr) << name;
      continue;
    }
    EXPECT_NE(shared, nullptr) << name;
    if (!block) block = shared.get();
    EXPECT_EQ(shared.get(), block) << name;
    ++moved;
  }
  EXPECT_GT(moved, 4);
  return block;
}

Tensor prompt() {
  const int32_t ids[] = {5, 900, 17, 4000, 2, 4095, 64};
  return Tensor::from_data(ids, {1, 7}, DType::I32);
}

TEST(WeightPlacement, GemmaCreatedLoadedAndClonedEachHaveOneBlock) {
  for (DType dtype : {DType::F32, DType::Q8}) {
    xla::GemmaModel created = xla::GemmaModel::create(xla::GemmaConfig::from_json(kGemma), 4, dtype);
    const void* own = block_of(created);
    xla::GemmaModel copy = created.clone();
    EXPECT_NE(block_of(copy), own);

    const std::string dir = ::testing::TempDir() + "/placement_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    created.save(dir);
    xla::GemmaModel loaded = xla::GemmaModel::load(dir, dtype);
    std::filesystem::remove_all(dir);
    EXPECT_NE(block_of(loaded), own);
    EXPECT_EQ(loaded.forward(prompt()).to_vector(), created.forward(prompt()).to_vector()) << xla::dtype_name(dtype);
    EXPECT_EQ(copy.forward(prompt()).to_vector(), created.forward(prompt()).to_vector()) << xla::dtype_name(dtype);
  }
}

TEST(WeightPlacement, MambaCreatedAndLoadedEachHaveOneBlock) {
  xla::MambaModel created = xla::MambaModel::create(xla::MambaConfig::from_json(kMamba), 2);
  const void* own = block_of(created);
  const std::string dir = ::testing::TempDir() + "/placement_mamba_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  created.save(dir);
  xla::MambaModel loaded = xla::MambaModel::load(dir);
  std::filesystem::remove_all(dir);
  EXPECT_NE(block_of(loaded), own);
  EXPECT_EQ(loaded.forward(prompt()).to_vector(), created.forward(prompt()).to_vector());
}

}  // namespace
