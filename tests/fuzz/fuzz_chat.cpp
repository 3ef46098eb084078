// fuzz_chat.cpp — conversations as render_chat takes them (what the server and the datasets
// render through Gemma's template). Input layout: byte 0 holds the flags, then messages
// separated by 0x1E, each a role byte (system, user, assistant, model, or an unknown role)
// followed by its content; 0x1F inside a content splits it into parts (an OpenAI content array).
#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"
#include "xla/tokenizer.hpp"

namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  if (size == 0) return 0;
  const bool add_generation_prompt = data[0] & 1, empty = data[0] & 2;
  static const char* const kRoles[] = {"system", "user", "assistant", "model", "tool"};
  std::vector<ChatMessage> messages;
  if (!empty)
    for (const std::string& m : split(fuzz::as_text(data + 1, size - 1), '\x1e')) {
      ChatMessage msg;
      msg.role = kRoles[m.empty() ? 1 : uint8_t(m[0]) % 5];
      const std::string content = m.empty() ? "" : m.substr(1);
      if (content.find('\x1f') != std::string::npos) msg.parts = split(content, '\x1f');
      else msg.content = content;
      messages.push_back(std::move(msg));
    }
  fuzz::refused_or_ok([&] {
    const std::string text = render_chat(messages, add_generation_prompt);
    fuzz::require(text.rfind("<bos>", 0) == 0, "a rendered conversation starts with <bos>");
    const std::string opener = "<start_of_turn>model\n";
    fuzz::require(!add_generation_prompt ||
                      (text.size() >= opener.size() && text.compare(text.size() - opener.size(), opener.size(), opener) == 0),
                  "the generation prompt ends the text");
  });
  return 0;
}
