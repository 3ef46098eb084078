// test_gemma_config.cpp — config.json that is hostile or malformed: dimensions past their caps,
// reals that can only give NaN or infinity, wrong JSON types, numbers out of range, duplicate
// keys. Each is a Status::Format error naming the key; valid configs parse as before.
#include <gtest/gtest.h>

#include <string>

#include "xla/gemma.hpp"

namespace {

// A small gemma2 config with `keys` (a JSON fragment ending in ", ") placed first.
std::string config_text(const std::string& keys) {
  return R"({"model_type": "gemma2", )" + keys +
         R"("vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "head_dim": 8})";
}

// from_json fails with Status::Format and a message containing `word`.
void expect_format(const std::string& text, const std::string& word) {
  try {
    xla::GemmaConfig::from_json(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const xla::Error& e) {
    EXPECT_EQ(e.status(), xla::Status::Format) << e.what();
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << "'" << word << "' not in: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an xla::Error: " << e.what();
  }
}

TEST(GemmaConfigHostile, DimensionsPastTheirCapsAreRefused) {
  // 2^62 would overflow every product of extents the model forms
  const std::string big = "4611686018427387904";
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "head_dim", "max_position_embeddings", "sliding_window"}) {
    std::string text = R"({"model_type": "gemma2", "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 2, "head_dim": 8, "max_position_embeddings": 128,
        "sliding_window": 32})";
    const size_t at = text.find(std::string("\"") + key + "\"");
    const size_t colon = text.find(':', at), end = text.find_first_of(",}", colon);
    text.replace(colon + 2, end - colon - 2, big);
    expect_format(text, key);
  }
  expect_format(config_text(R"("num_key_value_heads": 18446744073709551615, )"), "num_key_value_heads");
  // the caps sit far above every real Gemma: Gemma 3 27B's sizes pass
  xla::GemmaConfig c = xla::GemmaConfig::from_json(R"({"model_type": "gemma3_text", "vocab_size": 262208,
      "hidden_size": 5376, "intermediate_size": 21504, "num_hidden_layers": 62, "num_attention_heads": 32,
      "num_key_value_heads": 16, "head_dim": 128, "max_position_embeddings": 131072})");
  EXPECT_EQ(c.vocab_size, 262208);
  EXPECT_EQ(c.num_layers, 62);
}

TEST(GemmaConfigHostile, RealsThatCanOnlyGiveNaNAreRefused) {
  expect_format(config_text(R"("rms_norm_eps": 0, )"), "rms_norm_eps");
  expect_format(config_text(R"("rms_norm_eps": -1e-6, )"), "rms_norm_eps");
  expect_format(config_text(R"("rms_norm_eps": 1e-50, )"), "rms_norm_eps");  // 0 as a float
  expect_format(config_text(R"("rope_theta": 0, )"), "rope_theta");
  expect_format(config_text(R"("rope_theta": -10000, )"), "rope_theta");
  expect_format(config_text(R"("rope_local_base_freq": 0, )"), "rope_local_base_freq");
  expect_format(config_text(R"("rope_local_base_freq": -1, )"), "rope_local_base_freq");
  expect_format(config_text(R"("rope_scaling": {"rope_type": "linear", "factor": 1e-300}, )"), "rope_scaling");
  expect_format(config_text(R"("rope_scaling": {"rope_type": "linear", "factor": 1e300}, )"), "rope_scaling");
  expect_format(config_text(R"("attn_logit_softcapping": 1e308, )"), "attn_logit_softcapping");
  expect_format(config_text(R"("final_logit_softcapping": 1e308, )"), "final_logit_softcapping");
  expect_format(config_text(R"("final_logit_softcapping": 1e-300, )"), "final_logit_softcapping");
  expect_format(config_text(R"("query_pre_attn_scalar": 1e300, )"), "query_pre_attn_scalar");
  // in range: read as before
  xla::GemmaConfig c = xla::GemmaConfig::from_json(
      config_text(R"("rms_norm_eps": 1e-6, "rope_scaling": {"rope_type": "linear", "factor": 8.0}, )"
                  R"("final_logit_softcapping": 30.0, )"));
  EXPECT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_EQ(c.rope_scaling, 8.0);
  EXPECT_EQ(c.final_softcap, 30.f);
}

TEST(GemmaConfigHostile, WrongTypesAndOutOfRangeNumbersNameTheKey) {
  expect_format(config_text(R"("rms_norm_eps": 1e400, )"), "rms_norm_eps");
  expect_format(config_text(R"("rope_scaling": "linear", )"), "rope_scaling");
  expect_format(config_text(R"("rope_scaling": {"rope_type": 3, "factor": 2}, )"), "rope_type");
  expect_format(config_text(R"("tie_word_embeddings": "yes", )"), "tie_word_embeddings");
  expect_format(config_text(R"("hidden_activation": 5, )"), "hidden_activation");
  expect_format(config_text(R"("hidden_act": ["gelu"], )"), "hidden_act");
  expect_format(config_text(R"("attention_bias": "true", )"), "attention_bias");
  expect_format(config_text(R"("use_bidirectional_attention": 1, )"), "use_bidirectional_attention");
  expect_format(config_text(R"("bos_token_id": 4294967298, )"), "bos_token_id");  // not 2
  expect_format(config_text(R"("eos_token_id": [1, 9999999999], )"), "eos_token_id");
  expect_format(config_text(R"("eos_token_id": [1, "x"], )"), "eos_token_id");
  expect_format(config_text(R"("rms_norm_eps": "1e-6", )"), "rms_norm_eps");
  expect_format(config_text(R"("layer_types": [1, 2], )"), "layer_types[0]");
  expect_format(config_text(R"("hidden_size": 32, )"), "hidden_size");  // appears twice
  expect_format(R"({"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "vocab_size": 64,
      "vocab_size": 64}})", "vocab_size");
  expect_format("{\"model_type\": \"gemma2\", ", "not valid JSON");
  // the same values, well typed, are read
  xla::GemmaConfig c = xla::GemmaConfig::from_json(config_text(
      R"("tie_word_embeddings": false, "attention_bias": false, "hidden_activation": "gelu", "bos_token_id": 2147483647, )"));
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.hidden_activation, "gelu");
  EXPECT_EQ(c.bos_token_id, 2147483647);
}

}  // namespace
