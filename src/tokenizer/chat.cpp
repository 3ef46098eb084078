// chat.cpp — Gemma's chat format, rendered as the chat_template of Gemma 3's
// tokenizer_config.json renders it (Jinja): "<bos>", a leading system message folded into the
// first user turn, alternating user/model turns, and the optional generation prompt.
#include "tokenizer_data.hpp"

namespace xla {

namespace {

// Python's str.isspace() set (Jinja's `trim` filter is str.strip()).
bool is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// The code point of the well-formed character at s[at..], or an impossible value with len 1.
uint32_t char_at(std::string_view s, size_t at, size_t& len) {
  auto bytes = reinterpret_cast<const unsigned char*>(s.data()) + at;
  len = tokenizer_detail::utf8_sequence_length(bytes, s.size() - at);
  if (len == 0) {
    len = 1;
    return 0xFFFFFFFFu;
  }
  return tokenizer_detail::utf8_decode(bytes, len);
}

std::string_view trim(std::string_view s) {
  size_t begin = 0, len = 0;
  while (begin < s.size() && is_python_space(char_at(s, begin, len))) begin += len;
  size_t end = s.size();
  while (end > begin) {
    size_t lead = end - 1;
    while (lead > begin && end - lead < 4 && (static_cast<unsigned char>(s[lead]) & 0xC0) == 0x80) --lead;
    uint32_t c = char_at(s.substr(0, end), lead, len);
    if (lead + len != end || !is_python_space(c)) break;
    end = lead;
  }
  return s.substr(begin, end - begin);
}

}  // namespace

std::string render_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  if (messages.empty()) fail(Status::InvalidArg, "render_chat", "no messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant" && role != "model")
      fail(Status::InvalidArg, "render_chat", "message " + std::to_string(i) + " has the unknown role '" + role +
                                   "' (expected system, user, assistant or model)");
  }
  std::string out = "<bos>";
  std::string first_user_prefix;
  size_t first = 0;
  if (messages[0].role == "system") {
    const ChatMessage& system = messages[0];
    first_user_prefix = (system.parts.empty() ? system.content : system.parts[0]) + "\n\n";
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    size_t turn = i - first;
    if ((m.role == "user") != (turn % 2 == 0))
      fail(Status::InvalidArg, "render_chat",
           "Conversation roles must alternate user/assistant/user/assistant/... (message " + std::to_string(i) +
               " has the role '" + m.role + "')");
    out += "<start_of_turn>";
    out += m.role == "assistant" ? "model" : m.role;
    out += '\n';
    if (turn == 0) out += first_user_prefix;
    if (m.parts.empty()) {
      out += trim(m.content);
    } else {
      for (const std::string& part : m.parts) out += trim(part);
    }
    out += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

}  // namespace xla
