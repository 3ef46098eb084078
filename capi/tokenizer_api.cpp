// tokenizer_api.cpp — C entry points for the Gemma tokenizer and the chat format, with
// the buffer rules of the contract: on XLA_ERR_BUFFER_TOO_SMALL the size needed is still
// reported, and nothing else is written.
#include <cstring>

#include "handles.hpp"
#include "xla/tokenizer.hpp"

using namespace xla;
using namespace xla::capi;

extern "C" {

xla_status xla_tokenizer_load(const char* path, xla_tokenizer** out) {
  return guard("xla_tokenizer_load", [&] {
    require_ptr(path, "path");
    require_ptr(out, "out");
    *out = new xla_tokenizer{Tokenizer::load(path)};
  });
}

void xla_tokenizer_free(xla_tokenizer* tok) { delete tok; }

xla_status xla_tokenizer_encode(const xla_tokenizer* tok, const char* text, size_t len, int32_t add_bos, int32_t* ids,
                                size_t cap, size_t* n_out) {
  return guard("xla_tokenizer_encode", "Tokenizer::encode", [&] {
    require_ptr(tok, "tok");
    require_ptr(n_out, "n_out");
    if (len > 0) require_ptr(text, "text");
    std::vector<int32_t> v = tok->t.encode(std::string_view(text ? text : "", len), add_bos != 0);
    *n_out = v.size();
    if (cap < v.size())
      fail(Status::BufferTooSmall, std::to_string(v.size()) + " ids do not fit a buffer of " + std::to_string(cap));
    if (!v.empty()) require_ptr(ids, "ids");
    std::copy(v.begin(), v.end(), ids);
  });
}

xla_status xla_tokenizer_decode(const xla_tokenizer* tok, const int32_t* ids, size_t n, int32_t skip_special, char* buf,
                                size_t cap, size_t* len_out) {
  return guard("xla_tokenizer_decode", "Tokenizer::decode", [&] {
    require_ptr(tok, "tok");
    if (n > 0) require_ptr(ids, "ids");
    write_text(tok->t.decode(ids, n, skip_special != 0), buf, cap, len_out);
  });
}

int32_t xla_tokenizer_vocab_size(const xla_tokenizer* tok) { return tok ? tok->t.vocab_size() : -1; }

xla_status xla_tokenizer_token_id(const xla_tokenizer* tok, const char* piece, int32_t* id_out) {
  return guard("xla_tokenizer_token_id", [&] {
    require_ptr(tok, "tok");
    require_ptr(piece, "piece");
    require_ptr(id_out, "id_out");
    int32_t id = tok->t.id_of(piece);
    if (id < 0) invalid(std::string("no token '") + piece + "'");
    *id_out = id;
  });
}

xla_status xla_tokenizer_special_ids(const xla_tokenizer* tok, int32_t* bos, int32_t* eos, int32_t* pad,
                                     int32_t* start_of_turn, int32_t* end_of_turn) {
  return guard("xla_tokenizer_special_ids", [&] {
    require_ptr(tok, "tok");
    if (bos) *bos = tok->t.bos_id();
    if (eos) *eos = tok->t.eos_id();
    if (pad) *pad = tok->t.pad_id();
    if (start_of_turn) *start_of_turn = tok->t.start_of_turn_id();
    if (end_of_turn) *end_of_turn = tok->t.end_of_turn_id();
  });
}

xla_status xla_chat_render(const xla_chat_message* messages, size_t n, int32_t add_generation_prompt, char* buf,
                           size_t cap, size_t* len_out) {
  return guard("xla_chat_render", "render_chat", [&] {
    if (n > 0) require_ptr(messages, "messages");
    std::vector<ChatMessage> v;
    for (size_t i = 0; i < n; ++i) {
      if (!messages[i].role || !messages[i].content) invalid("messages[" + std::to_string(i) + "] has a NULL field");
      v.push_back({messages[i].role, messages[i].content});
    }
    write_text(render_chat(v, add_generation_prompt != 0), buf, cap, len_out);
  });
}

}  // extern "C"
