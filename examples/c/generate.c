/* generate.c — load a Hugging Face Gemma folder and generate, streaming tokens as they come.
 *   generate MODEL_DIR [TOKENIZER_JSON "prompt"]
 * With a tokenizer, the prompt is text (Gemma's chat format) and the answer is printed as
 * text; without, a fixed prompt of ids is used and ids are printed. */
#include <stdio.h>
#include <stdlib.h>

#include "xla/xla.h"

#define CHECK(call)                                                \
  do {                                                             \
    if ((call) != XLA_OK) {                                        \
      fprintf(stderr, "%s failed: %s\n", #call, xla_last_error()); \
      return 1;                                                    \
    }                                                              \
  } while (0)

struct stream {
  xla_tokenizer* tok;
  int count;
};

/* Called with each new token, on this thread; returning nonzero would stop generation. */
static int32_t on_token(int32_t id, void* user) {
  struct stream* s = (struct stream*)user;
  char text[256];
  size_t len = 0;
  if (s->tok && xla_tokenizer_decode(s->tok, &id, 1, 1, text, sizeof text, &len) == XLA_OK)
    fputs(text, stdout);
  else
    printf(" %d", id);
  fflush(stdout);
  return ++s->count >= 64;
}

int main(int argc, char** argv) {
  xla_model* m = NULL;
  struct stream s = {NULL, 0};
  int32_t prompt[512] = {2, 17, 99, 4, 250, 31}, out[64];
  size_t n_prompt = 6, n_out = 0;
  xla_sampler_params p;
  if (argc < 2) {
    fprintf(stderr, "usage: generate MODEL_DIR [TOKENIZER_JSON \"prompt\"]\n");
    return 2;
  }
  CHECK(xla_model_load(argv[1], &m));
  if (argc >= 4) {
    xla_chat_message msg = {"user", argv[3]};
    char text[4096];
    size_t len = 0;
    CHECK(xla_tokenizer_load(argv[2], &s.tok));
    CHECK(xla_chat_render(&msg, 1, 1, text, sizeof text, &len));
    CHECK(xla_tokenizer_encode(s.tok, text, len, 0, prompt, 512, &n_prompt));
  }
  xla_sampler_params_init(&p); /* greedy */
  p.max_new_tokens = 8;
  printf("prompt: %zu tokens\nanswer:", n_prompt);
  CHECK(xla_generate(m, prompt, n_prompt, &p, on_token, &s, out, 64, &n_out));
  printf("\n%zu tokens\n", n_out);
  xla_tokenizer_free(s.tok);
  xla_model_free(m);
  return 0;
}
