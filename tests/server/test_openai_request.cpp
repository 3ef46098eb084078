// test_openai_request.cpp — OpenAI request bodies read by the server: the fields that reach
// the engine, and a 400 naming the field for each kind of mistake.
#include <gtest/gtest.h>

#include "metrics.hpp"
#include "openai_request.hpp"
#include "openai_response.hpp"

namespace xla::server {
namespace {

using nlohmann::json;

const Tokenizer& tok() {
  static const Tokenizer t = Tokenizer::load(XLA_TOKENIZER_JSON);
  return t;
}

ModelInfo model() {
  ModelInfo m;
  m.tokenizer = &tok();
  m.alias = "tiny";
  m.max_context = 64;
  m.vocab_size = tok().vocab_size();
  return m;
}

json chat(json extra = json::object()) {
  json body = {{"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}};
  body.update(extra);
  return body;
}

// The 400's param for a bad body ("" if it was accepted).
std::string rejected(const json& body, bool completion = false) {
  try {
    completion ? parse_completion_request(body, model()) : parse_chat_request(body, model());
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << e.what();
    EXPECT_FALSE(std::string(e.what()).empty());
    return e.param.empty() ? "?" : e.param;
  }
  return "";
}

TEST(OpenAIRequest, ChatFieldsReachTheEngine) {
  CompletionRequest r = parse_chat_request(
      chat({{"max_tokens", 5}, {"temperature", 0.5}, {"top_p", 0.9}, {"top_k", 7}, {"min_p", 0.1},
            {"repetition_penalty", 1.2}, {"seed", 42}, {"stop", "END"}, {"logprobs", true}, {"top_logprobs", 3},
            {"stream", true}, {"stream_options", {{"include_usage", true}}}, {"unknown_field", {1, 2}}}),
      model());
  EXPECT_EQ(r.prompt, tok().encode("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", false));
  EXPECT_EQ(r.generation.max_new_tokens, 5);
  EXPECT_FLOAT_EQ(r.generation.sampler.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.generation.sampler.top_p, 0.9f);
  EXPECT_EQ(r.generation.sampler.top_k, 7);
  EXPECT_FLOAT_EQ(r.generation.sampler.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.generation.sampler.repetition_penalty, 1.2f);
  EXPECT_EQ(r.generation.sampler.seed, 42u);
  EXPECT_EQ(r.generation.stop_ids, (std::vector<int32_t>{tok().end_of_turn_id(), tok().eos_id()}));
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(r.logprobs && r.stream && r.include_usage);
  EXPECT_EQ(r.top_logprobs, 3);
  // defaults: OpenAI's temperature 1, the rest of the context as the budget (capped there)
  CompletionRequest d = parse_chat_request(chat(), model());
  EXPECT_FLOAT_EQ(d.generation.sampler.temperature, 1.0f);
  EXPECT_EQ(d.generation.max_new_tokens, 64);
  EXPECT_TRUE(parse_chat_request(chat({{"ignore_eos", true}}), model()).generation.stop_ids.empty());
}

TEST(OpenAIRequest, ContentPartsAreRenderedAsTheTemplateReadsAList) {
  json body = {{"messages",
                {{{"role", "system"}, {"content", {{{"type", "text"}, {"text", " Be brief. "}}, {{"type", "text"}, {"text", "ignored"}}}}},
                 {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "  a "}}, {{"type", "text"}, {"text", " b"}}}}}}}};
  CompletionRequest r = parse_chat_request(body, model());
  EXPECT_EQ(tok().decode(r.prompt, false),
            "<bos><start_of_turn>user\n Be brief. \n\nab<end_of_turn>\n<start_of_turn>model\n");
}

TEST(OpenAIRequest, CompletionPromptForms) {
  const auto ids = [](const json& prompt) {
    return parse_completion_request({{"prompt", prompt}}, model()).prompt;
  };
  EXPECT_EQ(ids("Hello"), tok().encode("Hello", true));
  EXPECT_EQ(ids(json::array({"Hello"})), tok().encode("Hello", true));
  EXPECT_EQ(ids(json::array({2, 9259})), (std::vector<int32_t>{2, 9259}));
  EXPECT_EQ(ids(json::array({json::array({2, 7})})), (std::vector<int32_t>{2, 7}));
  CompletionRequest r = parse_completion_request({{"prompt", "x"}, {"logprobs", 2}}, model());
  EXPECT_EQ(r.generation.max_new_tokens, 16);  // OpenAI's default
  EXPECT_EQ(r.generation.stop_ids, std::vector<int32_t>{tok().eos_id()});
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
}

TEST(OpenAIRequest, EachMistakeNamesItsField) {
  EXPECT_EQ(rejected(json::object()), "messages");
  EXPECT_EQ(rejected({{"messages", json::array()}}), "messages");
  EXPECT_EQ(rejected({{"messages", "hi"}}), "messages");
  EXPECT_EQ(rejected({{"messages", {{{"role", "robot"}, {"content", "x"}}}}}), "messages[0].role");
  EXPECT_EQ(rejected({{"messages", {{{"role", "user"}, {"content", 3}}}}}), "messages[0].content");
  EXPECT_EQ(rejected({{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}),
            "messages[0].content[0].type");
  EXPECT_EQ(rejected({{"messages", {{{"role", "assistant"}, {"content", "x"}}}}}), "messages");  // alternation
  EXPECT_EQ(rejected(chat({{"max_tokens", 0}})), "max_tokens");
  EXPECT_EQ(rejected(chat({{"max_completion_tokens", -3}})), "max_completion_tokens");
  EXPECT_EQ(rejected(chat({{"max_tokens", "ten"}})), "max_tokens");
  EXPECT_EQ(rejected(chat({{"max_tokens", 2.5}})), "max_tokens");
  EXPECT_EQ(rejected(chat({{"temperature", -1}})), "temperature");
  EXPECT_EQ(rejected(chat({{"temperature", "hot"}})), "temperature");
  EXPECT_EQ(rejected(chat({{"top_p", 0}})), "top_p");
  EXPECT_EQ(rejected(chat({{"top_k", -5}})), "top_k");
  EXPECT_EQ(rejected(chat({{"n", 2}})), "n");
  EXPECT_EQ(rejected(chat({{"stop", {"a", "b", "c", "d", "e"}}})), "stop");
  EXPECT_EQ(rejected(chat({{"stop", 5}})), "stop");
  EXPECT_EQ(rejected(chat({{"top_logprobs", 3}})), "top_logprobs");
  EXPECT_EQ(rejected(chat({{"logprobs", true}, {"top_logprobs", 21}})), "top_logprobs");
  EXPECT_EQ(rejected(chat({{"model", "gpt-4"}})), "model");
  EXPECT_EQ(rejected(chat({{"stream_options", {{"include_usage", true}}}})), "stream_options");
  EXPECT_EQ(rejected(chat({{"presence_penalty", 0.5}})), "presence_penalty");
  EXPECT_EQ(rejected(chat({{"tools", {{{"type", "function"}}}}})), "tools");
  EXPECT_EQ(rejected({{"prompt", 5}}, true), "prompt");
  EXPECT_EQ(rejected({{"prompt", {"a", "b"}}}, true), "prompt");
  EXPECT_EQ(rejected({{"prompt", {2, "x"}}}, true), "prompt");
  EXPECT_EQ(rejected({{"prompt", json::array()}}, true), "prompt");
  EXPECT_EQ(rejected({{"prompt", "x"}, {"echo", true}}, true), "echo");
  EXPECT_EQ(rejected({{"prompt", "x"}, {"logprobs", 30}}, true), "logprobs");
  // accepted: null means unset, unknown fields are ignored, the alias is accepted
  EXPECT_EQ(rejected(chat({{"model", "tiny"}, {"temperature", nullptr}, {"stop", nullptr}, {"user", "u1"}})), "");
}

TEST(OpenAIRequest, PromptMustFitTheContextAndTheVocabulary) {
  std::vector<int> long_prompt(64, 2);
  try {
    parse_completion_request({{"prompt", long_prompt}}, model());
    FAIL() << "a 64-token prompt fits no 64-token context with room for one more";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code, "context_length_exceeded");
    EXPECT_NE(std::string(e.what()).find("64 tokens"), std::string::npos) << e.what();
  }
  ModelInfo small = model();
  small.vocab_size = 512;
  try {
    parse_completion_request({{"prompt", {2, 9259}}}, small);
    FAIL() << "id 9259 is outside a 512-id vocabulary";
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("9259"), std::string::npos) << e.what();
  }
}

TEST(OpenAIRequest, BodyMustBeAJsonObject) {
  EXPECT_THROW(parse_body("{bad"), ApiError);
  EXPECT_THROW(parse_body("[1,2]"), ApiError);
  EXPECT_EQ(parse_body("{\"a\":1}")["a"], 1);
}

TEST(OpenAIResponse, ErrorShape) {
  json e = error_body(ApiError(429, "full", "", "queue_full", "rate_limit_error"));
  EXPECT_EQ(e, json::parse(R"({"error":{"message":"full","type":"rate_limit_error","param":null,"code":"queue_full"}})"));
}

TEST(Metrics, PrometheusHistogramsAreCumulative) {
  Metrics m;
  m.count_request("/v1/completions", 200);
  m.count_request("/v1/completions", 200);
  m.observe_time_to_first_token(0.004);
  m.observe_time_to_first_token(0.3);
  m.observe_time_to_first_token(100);
  EngineStats e;
  e.kv_tokens_used = 16;
  e.kv_tokens_capacity = 64;
  std::string text = m.render(e);
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("xla_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2")) << text;
  EXPECT_TRUE(has("xla_time_to_first_token_seconds_bucket{le=\"0.0025\"} 0"));
  EXPECT_TRUE(has("xla_time_to_first_token_seconds_bucket{le=\"0.005\"} 1"));
  EXPECT_TRUE(has("xla_time_to_first_token_seconds_bucket{le=\"0.3\"} 2"));
  EXPECT_TRUE(has("xla_time_to_first_token_seconds_bucket{le=\"40\"} 2"));
  EXPECT_TRUE(has("xla_time_to_first_token_seconds_bucket{le=\"+Inf\"} 3"));
  EXPECT_TRUE(has("xla_time_to_first_token_seconds_count 3"));
  EXPECT_TRUE(has("xla_time_to_first_token_seconds_sum 100.304"));
  EXPECT_TRUE(has("xla_kv_cache_usage_ratio 0.25"));
}

}  // namespace
}  // namespace xla::server
