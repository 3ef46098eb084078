/* generate.c — load a Hugging Face Gemma folder and generate, streaming tokens as they come.
 *   generate MODEL_DIR TOKENIZER_JSON "prompt"    text in (Gemma's chat format), text out
 *   generate MODEL_DIR --ids 2,17,99              token ids in, ids out */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  int32_t prompt[512], out[64];
  size_t n_prompt = 0, n_out = 0;
  xla_sampler_params p;
  if (argc < 4) {
    fprintf(stderr, "usage: generate MODEL_DIR TOKENIZER_JSON \"prompt\" | generate MODEL_DIR --ids 2,17,99\n");
    return 2;
  }
  CHECK(xla_model_load(argv[1], &m));
  if (strcmp(argv[2], "--ids") == 0) {
    char* p_ids = argv[3];
    while (*p_ids && n_prompt < 512) {
      prompt[n_prompt++] = (int32_t)strtol(p_ids, &p_ids, 10);
      if (*p_ids == ',') ++p_ids;
    }
  } else {
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
