/* reference_generate.c — what `xla serve` must answer, computed with the C API alone: a chat
 * (xla_chat_render, stop ids <end_of_turn> and <eos>) or a raw prompt (<bos> added, stop id
 * <eos>), encoded, generated greedily with xla_generate, decoded. The server tests compare the
 * server's text and token counts with this program's JSON line:
 *   {"prompt_tokens":N,"tokens":[...],"finish":"stop"|"length","text":"..."}
 * where text is the completion's text without its stop token and special tokens (as OpenAI
 * servers write it).
 *
 *   reference_generate MODEL_DIR TOKENIZER_JSON MAX_TOKENS --chat ROLE CONTENT [ROLE CONTENT ...]
 *   reference_generate MODEL_DIR TOKENIZER_JSON MAX_TOKENS --prompt TEXT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xla/xla.h>

static void die(const char* what) {
  fprintf(stderr, "reference_generate: %s: %s\n", what, xla_last_error());
  exit(1);
}

/* s as a JSON string (UTF-8 passes through; control characters, quote and backslash escaped). */
static void print_json_string(const char* s, size_t n) {
  size_t i;
  putchar('"');
  for (i = 0; i < n; ++i) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
    } else if (c < 0x20) {
      printf("\\u%04x", c);
    } else {
      putchar(c);
    }
  }
  putchar('"');
}

int main(int argc, char** argv) {
  xla_model* model = NULL;
  xla_tokenizer* tok = NULL;
  xla_sampler_params p;
  int32_t stop[2], eos = -1, eot = -1, *prompt, *out;
  size_t n_prompt = 0, n_out = 0, len = 0, i, n_text;
  char* text;
  int chat, max_tokens;

  if (argc < 6 || (strcmp(argv[4], "--chat") != 0 && strcmp(argv[4], "--prompt") != 0)) {
    fprintf(stderr, "usage: %s MODEL_DIR TOKENIZER_JSON MAX_TOKENS (--chat ROLE CONTENT ... | --prompt TEXT)\n", argv[0]);
    return 2;
  }
  chat = strcmp(argv[4], "--chat") == 0;
  max_tokens = atoi(argv[3]);
  if (max_tokens < 1 || (chat && (argc - 5) % 2 != 0)) {
    fprintf(stderr, "reference_generate: MAX_TOKENS must be >= 1 and --chat takes ROLE CONTENT pairs\n");
    return 2;
  }
  if (xla_model_load(argv[1], &model) != XLA_OK) die(argv[1]);
  if (xla_tokenizer_load(argv[2], &tok) != XLA_OK) die(argv[2]);
  if (xla_tokenizer_special_ids(tok, NULL, &eos, NULL, NULL, &eot) != XLA_OK) die("special ids");

  if (chat) {
    size_t n_msg = (size_t)(argc - 5) / 2;
    xla_chat_message* msgs = malloc(n_msg * sizeof *msgs);
    for (i = 0; i < n_msg; ++i) {
      msgs[i].role = argv[5 + 2 * i];
      msgs[i].content = argv[6 + 2 * i];
    }
    /* first the length, then the text */
    if (xla_chat_render(msgs, n_msg, 1, NULL, 0, &len) != XLA_ERR_BUFFER_TOO_SMALL) die("xla_chat_render");
    text = malloc(len + 1);
    if (xla_chat_render(msgs, n_msg, 1, text, len + 1, &len) != XLA_OK) die("xla_chat_render");
    free(msgs);
  } else {
    len = strlen(argv[5]);
    text = malloc(len + 1);
    memcpy(text, argv[5], len + 1);
  }
  /* the chat rendering holds its <bos>; a raw prompt gets one */
  if (xla_tokenizer_encode(tok, text, len, !chat, NULL, 0, &n_prompt) != XLA_ERR_BUFFER_TOO_SMALL && n_prompt > 0)
    die("xla_tokenizer_encode");
  prompt = malloc((n_prompt + 1) * sizeof *prompt);
  if (xla_tokenizer_encode(tok, text, len, !chat, prompt, n_prompt, &n_prompt) != XLA_OK) die("xla_tokenizer_encode");
  free(text);

  xla_sampler_params_init(&p);
  p.temperature = 0.0f;
  p.max_new_tokens = max_tokens;
  stop[0] = eot;
  stop[1] = eos;
  p.stop_ids = chat ? stop : stop + 1;
  p.n_stop_ids = chat ? 2 : 1;
  out = malloc((size_t)max_tokens * sizeof *out);
  if (xla_generate(model, prompt, n_prompt, &p, NULL, NULL, out, (size_t)max_tokens, &n_out) != XLA_OK)
    die("xla_generate");

  /* the text leaves the stop token and other special tokens out, as the server does */
  n_text = n_out;
  if (n_out > 0 && (out[n_out - 1] == eos || (chat && out[n_out - 1] == eot))) --n_text;
  len = 0;
  if (xla_tokenizer_decode(tok, out, n_text, 1, NULL, 0, &len) != XLA_ERR_BUFFER_TOO_SMALL) die("xla_tokenizer_decode");
  text = malloc(len + 1);
  if (xla_tokenizer_decode(tok, out, n_text, 1, text, len + 1, &len) != XLA_OK) die("xla_tokenizer_decode");

  printf("{\"prompt_tokens\":%zu,\"tokens\":[", n_prompt);
  for (i = 0; i < n_out; ++i) printf(i ? ",%d" : "%d", (int)out[i]);
  printf("],\"finish\":\"%s\",\"text\":", n_text < n_out ? "stop" : "length");
  print_json_string(text, len);
  printf("}\n");

  free(text);
  free(out);
  free(prompt);
  xla_tokenizer_free(tok);
  xla_model_free(model);
  return 0;
}
