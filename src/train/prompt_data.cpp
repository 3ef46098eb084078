// prompt_data.cpp — GRPO's data: prompts from C++, texts (through a codec, optionally
// chat-formatted) or JSONL (text or token ids), each with an optional answer for the
// exact-match reward. The trainer is grpo_trainer.cpp.
#include <nlohmann/json.hpp>

#include "json_fields.hpp"
#include "text_file.hpp"
#include "xla/grpo_trainer.hpp"
#include "xla/tokenizer.hpp"

namespace xla::train {
namespace {

// <bos> + the prompt's tokens; with chat, the prompt as a user turn and the model's turn opener.
std::vector<int32_t> encode_prompt(const std::string& text, const TextCodec& codec, bool chat) {
  std::string shown = text;
  if (chat) {
    shown = render_chat({{"user", text}}, true);  // "<bos><start_of_turn>user\n…<start_of_turn>model\n"
    if (shown.rfind("<bos>", 0) == 0) shown.erase(0, 5);  // <bos> is added as an id below
  }
  std::vector<int32_t> ids{codec.bos()};
  const std::vector<int32_t> rest = codec.encode(shown);
  ids.insert(ids.end(), rest.begin(), rest.end());
  return ids;
}

}  // namespace

PromptDataset::PromptDataset(std::vector<PromptExample> prompts) : prompts_(std::move(prompts)) {
  for (size_t i = 0; i < prompts_.size(); ++i) {
    if (prompts_[i].ids.empty()) fail(Status::InvalidArg, "prompt data: prompt " + std::to_string(i) + " has no tokens");
    for (int32_t id : prompts_[i].ids)
      if (id < 0)
        fail(Status::InvalidArg, "prompt data: prompt " + std::to_string(i) + " has a negative token id " + std::to_string(id));
  }
}

PromptDataset PromptDataset::from_text(std::span<const std::string> prompts, std::span<const std::string> answers,
                                       const TextCodec& codec, bool chat) {
  if (!answers.empty() && answers.size() != prompts.size())
    fail(Status::InvalidArg, "prompt data: " + std::to_string(answers.size()) + " answers for " +
                                 std::to_string(prompts.size()) + " prompts");
  std::vector<PromptExample> out;
  for (size_t i = 0; i < prompts.size(); ++i)
    out.push_back({encode_prompt(prompts[i], codec, chat), prompts[i], answers.empty() ? "" : answers[i]});
  return PromptDataset(std::move(out));
}

PromptDataset PromptDataset::from_jsonl(const std::string& path, const TextCodec& codec, bool chat) {
  std::vector<PromptExample> out;
  const std::string text = io::read_text_file(path, "the prompt data");
  io::for_each_jsonl_line(text, path, [&](std::string_view line, const std::string& where) {
    const nlohmann::json j = detail::object_of(line, where);
    PromptExample e;
    if (j.contains("prompt_ids")) {
      e.ids = detail::ids_of(j, "prompt_ids", where, codec.vocab_size());
      if (e.ids.empty()) fail(Status::Format, where + ": empty \"prompt_ids\"");
    } else {
      e.text = detail::text_of(j, "prompt", where);
      e.ids = encode_prompt(e.text, codec, chat);
    }
    if (j.contains("answer")) {
      const nlohmann::json& a = j.at("answer");
      if (a.is_string()) e.answer = a.get<std::string>();
      else if (a.is_number()) e.answer = a.dump();
      else fail(Status::Format, where + ": \"answer\" must be a string or a number");
    }
    out.push_back(std::move(e));
  });
  if (out.empty()) fail(Status::Format, "prompt data: " + path + " holds no prompts");
  return PromptDataset(std::move(out));
}

}  // namespace xla::train
