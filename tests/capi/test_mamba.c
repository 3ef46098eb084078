/* test_mamba.c — a Mamba folder through the same C calls as a Gemma one, in C99, against
 * ../shared/oracle/mamba: the family's name, logits of both sequences, summed log-probs,
 * greedy generation one-shot, as a session fed in two pieces and through the engine's state
 * slots, a save/load round trip, and an id outside the vocabulary. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"
#include "oracle.h"

#define DIR XLA_SHARED_DIR "/oracle/mamba"

int main(void) {
  char* ref = read_file(DIR "/reference.json", NULL);
  long logits_bytes = 0;
  float* want = (float*)read_file(DIR "/logits.f32", &logits_bytes);
  double d[64], sum_lp[2];
  int32_t ids[2][64], greedy[2][8], out[16];
  int n[2], s, i, k;
  size_t n_out = 0, at = 0;
  int64_t V;
  float* logits;
  xla_model *m = NULL, *m2 = NULL;
  xla_session* ss = NULL;
  xla_engine* e = NULL;
  xla_engine_options eo;
  xla_sampler_params sp; /* greedy, 8 new tokens, no stop ids: the oracle's continuation */
  xla_engine_event ev[8];
  uint64_t req[2];
  int32_t got[2][8];
  int n_got[2] = {0, 0};

  if (!ref || !want) {
    fprintf(stderr, "oracle files missing under %s\n", DIR);
    return 1;
  }
  for (s = 0; s < 2; ++s) {
    n[s] = read_numbers(ref, "\"ids\"", s, d, 64);
    for (i = 0; i < n[s]; ++i) ids[s][i] = (int32_t)d[i];
    EXPECT(read_numbers(ref, "\"greedy\"", s, d, 8) == 8);
    for (i = 0; i < 8; ++i) greedy[s][i] = (int32_t)d[i];
    read_numbers(ref, "\"sum_logprob\"", s, &sum_lp[s], 1);
  }
  EXPECT(n[0] == 20 && n[1] == 13);
  xla_sampler_params_init(&sp);
  sp.max_new_tokens = 8;

  EXPECT_OK(xla_model_load(DIR, &m));
  EXPECT(strcmp(xla_model_architecture(m), "mamba") == 0);
  V = xla_model_vocab_size(m);
  EXPECT(V == 512);

  /* logits of both sequences within 1e-4, each [len, V] back to back in logits.f32 */
  logits = (float*)malloc(sizeof(float) * (size_t)(n[0] * V));
  for (s = 0; s < 2; ++s) {
    double maxdiff = 0, lp = 0;
    EXPECT_OK(xla_model_forward(m, ids[s], 1, n[s], logits, (size_t)(n[s] * V)));
    for (i = 0; i < n[s] * V; ++i) maxdiff = fmax(maxdiff, fabs(logits[i] - want[at + (size_t)i]));
    at += (size_t)(n[s] * V);
    EXPECT(maxdiff < 1e-4);
    EXPECT_OK(xla_model_logprob(m, ids[s], n[s], 1, &lp));
    EXPECT(fabs(lp - sum_lp[s]) < 1e-3);
    /* greedy through the recurrent state */
    EXPECT_OK(xla_generate(m, ids[s], (size_t)n[s], &sp, NULL, NULL, out, 8, &n_out));
    EXPECT(n_out == 8 && memcmp(out, greedy[s], sizeof greedy[s]) == 0);
  }
  EXPECT(at * sizeof(float) == (size_t)logits_bytes);

  /* a session fed in two pieces continues its state */
  EXPECT_OK(xla_session_create(m, &ss));
  EXPECT_OK(xla_session_feed(ss, ids[0], 7, logits, (size_t)V));
  EXPECT_OK(xla_session_generate(ss, ids[0] + 7, (size_t)(n[0] - 7), &sp, NULL, NULL, out, 8, &n_out));
  EXPECT(n_out == 8 && memcmp(out, greedy[0], sizeof greedy[0]) == 0);
  EXPECT(xla_session_length(ss) == n[0] + 8);
  ids[1][4] = 512; /* outside the vocabulary: named, and the session is unchanged */
  EXPECT(xla_session_feed(ss, ids[1], 5, logits, (size_t)V) == XLA_ERR_INVALID_ARG);
  EXPECT(has("512"));
  EXPECT(xla_session_length(ss) == n[0] + 8);
  /* the selective scan is a raw kernel: its steps cannot be compiled, and the session goes on */
  EXPECT(xla_session_compile(ss, 1) == XLA_ERR_UNSUPPORTED && has("cannot compile"));
  EXPECT(xla_session_length(ss) == n[0] + 8);
  xla_session_free(ss);
  n[1] = read_numbers(ref, "\"ids\"", 1, d, 64);
  for (i = 0; i < n[1]; ++i) ids[1][i] = (int32_t)d[i];

  /* the engine: both sequences at once, prompts prefilled in chunks of 5 tokens */
  xla_engine_options_init(&eo);
  eo.max_batch_tokens = 5;
  EXPECT_OK(xla_engine_create(m, &eo, &e));
  for (s = 0; s < 2; ++s) EXPECT_OK(xla_engine_submit(e, ids[s], (size_t)n[s], &sp, &req[s]));
  for (k = 0; k < 100 && (n_got[0] < 8 || n_got[1] < 8); ++k) {
    EXPECT_OK(xla_engine_step(e, ev, 8, &n_out));
    for (i = 0; i < (int)n_out; ++i)
      for (s = 0; s < 2; ++s)
        if (ev[i].id == req[s] && n_got[s] < 8) got[s][n_got[s]++] = ev[i].token;
  }
  for (s = 0; s < 2; ++s) EXPECT(n_got[s] == 8 && memcmp(got[s], greedy[s], sizeof greedy[s]) == 0);
  xla_engine_free(e);

  /* save and load: the same logits, bit for bit */
  {
    char tmp[] = "/tmp/xla_mamba_XXXXXX";
    float* again = (float*)malloc(sizeof(float) * (size_t)(n[1] * V));
    EXPECT(mkdtemp(tmp) != NULL);
    EXPECT_OK(xla_model_save(m, tmp));
    EXPECT_OK(xla_model_load(tmp, &m2));
    EXPECT(m2 && strcmp(xla_model_architecture(m2), "mamba") == 0);
    EXPECT_OK(xla_model_forward(m, ids[1], 1, n[1], logits, (size_t)(n[1] * V)));
    EXPECT_OK(xla_model_forward(m2, ids[1], 1, n[1], again, (size_t)(n[1] * V)));
    EXPECT(memcmp(logits, again, sizeof(float) * (size_t)(n[1] * V)) == 0);
    free(again);
    xla_model_free(m2);
    {
      char path[64];
      snprintf(path, sizeof path, "%s/config.json", tmp);
      remove(path);
      snprintf(path, sizeof path, "%s/model.safetensors", tmp);
      remove(path);
      remove(tmp);
    }
  }

  free(logits);
  xla_model_free(m);
  free(ref);
  free(want);
  return finish("capi mamba");
}
