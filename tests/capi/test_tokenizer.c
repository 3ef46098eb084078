/* test_tokenizer.c — the tokenizer and chat format through the C API, in C99: the oracle's
 * first case both ways, the buffer rules, the special ids, the chat rendering, bad input. */
#include <stdio.h>
#include <string.h>

#include "expect.h"

#ifndef XLA_TOKENIZER_JSON
#define XLA_TOKENIZER_JSON "tokenizer.json"
#endif


int main(void) {
  /* ../shared/oracle/tokenizer/cases.jsonl, case en_hello */
  const char* text = "Hello, world!";
  const int32_t want[5] = {2, 9259, 236764, 1902, 236888};
  int32_t ids[8], small[2], bos = -1, eos = -1, pad = -1, sot = -1, eot = -1, id = -1;
  size_t n = 0, len = 0;
  char buf[256];
  xla_tokenizer *tok = NULL, *bad = (xla_tokenizer*)&g_passed;
  const xla_chat_message chat[3] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}};

  if (xla_tokenizer_load(XLA_TOKENIZER_JSON, &tok) != XLA_OK) {
    fprintf(stderr, "FAILED: %s (run `make tokenizer-data`)\n", xla_last_error());
    return 1;
  }
  EXPECT_OK(xla_tokenizer_encode(tok, text, strlen(text), 1, ids, 8, &n));
  EXPECT(n == 5 && memcmp(ids, want, sizeof want) == 0);
  EXPECT(xla_tokenizer_encode(tok, text, strlen(text), 1, small, 2, &n) == XLA_ERR_BUFFER_TOO_SMALL && n == 5);
  EXPECT_OK(xla_tokenizer_encode(tok, text, 0, 0, ids, 8, &n)); /* empty text */
  EXPECT(n == 0);
  EXPECT_OK(xla_tokenizer_decode(tok, want, 5, 1, buf, sizeof buf, &len));
  EXPECT(len == strlen(text) && strcmp(buf, text) == 0);
  EXPECT_OK(xla_tokenizer_decode(tok, want, 5, 0, buf, sizeof buf, &len));
  EXPECT(strcmp(buf, "<bos>Hello, world!") == 0);
  EXPECT(xla_tokenizer_decode(tok, want, 5, 1, buf, 5, &len) == XLA_ERR_BUFFER_TOO_SMALL && len == 13);
  EXPECT_OK(xla_tokenizer_special_ids(tok, &bos, &eos, &pad, &sot, &eot));
  EXPECT(bos == 2 && eos == 1 && pad == 0 && sot == 105 && eot == 106);
  EXPECT_OK(xla_tokenizer_token_id(tok, "<end_of_turn>", &id));
  EXPECT(id == 106);
  EXPECT(xla_tokenizer_token_id(tok, "no such token", &id) == XLA_ERR_INVALID_ARG);
  EXPECT(xla_tokenizer_vocab_size(tok) >= 262144);
  /* an id outside the vocabulary */
  ids[0] = 999999999;
  EXPECT(xla_tokenizer_decode(tok, ids, 1, 0, buf, sizeof buf, &len) == XLA_ERR_INVALID_ARG);
  /* the message names the C function once, not the C++ one behind it as well */
  EXPECT(strncmp(xla_last_error(), "xla_tokenizer_decode: token id 999999999", 40) == 0);
  /* Gemma's chat template: system folded into the first user turn, assistant -> model */
  EXPECT_OK(xla_chat_render(chat, 3, 1, buf, sizeof buf, &len));
  EXPECT(strcmp(buf,
                "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
                "<start_of_turn>model\n") == 0);
  EXPECT(len == strlen(buf));
  /* bad input */
  EXPECT(xla_tokenizer_load("/nonexistent/tokenizer.json", &bad) == XLA_ERR_IO && bad == (xla_tokenizer*)&g_passed);
  EXPECT(xla_tokenizer_encode(NULL, text, 1, 1, ids, 8, &n) == XLA_ERR_INVALID_ARG);
  EXPECT(xla_tokenizer_encode(tok, NULL, 3, 1, ids, 8, &n) == XLA_ERR_INVALID_ARG);
  xla_tokenizer_free(tok);
  xla_tokenizer_free(NULL);
  return finish("capi tokenizer");
}
