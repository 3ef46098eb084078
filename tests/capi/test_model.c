/* test_model.c — Gemma through the C API, in C99, against the reference numbers of
 * ../shared/oracle/gemma: logits, summed log-probs, greedy generation (one-shot and as a
 * two-turn session), the streaming callback, save/load round trips, and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "oracle.h"

static int32_t g_seen = 0;
static int32_t stop_after_three(int32_t token, void* user_data) {
  (void)token;
  return ++*(int32_t*)user_data >= 3;
}

int main(void) {
  const char* dir = XLA_SHARED_DIR "/oracle/gemma/gemma2";
  char* ref = read_file(XLA_SHARED_DIR "/oracle/gemma/gemma2/reference.json", NULL);
  long logits_bytes = 0;
  float* want_logits = (float*)read_file(XLA_SHARED_DIR "/oracle/gemma/gemma2/logits.f32", &logits_bytes);
  double ids_d[64], greedy_d[16], sum_lp = 0;
  int32_t ids[64], greedy[16], out[16];
  int n_ids, n_greedy, i;
  size_t n_out = 0;
  int64_t V;
  float* logits;
  double lp = 0, maxdiff = 0;
  xla_model *m = NULL, *bad = (xla_model*)&g_passed, *m2 = NULL;
  xla_session* s = NULL;
  xla_sampler_params sp;

  if (!ref || !want_logits) {
    fprintf(stderr, "oracle files missing under %s\n", XLA_SHARED_DIR);
    return 1;
  }
  n_ids = read_numbers(ref, "\"token_ids\"", 0, ids_d, 64);
  n_greedy = read_numbers(ref, "\"greedy_continuation\"", 0, greedy_d, 16);
  read_numbers(ref, "\"sum_logprob\"", 0, &sum_lp, 1);
  for (i = 0; i < n_ids; ++i) ids[i] = (int32_t)ids_d[i];
  for (i = 0; i < n_greedy; ++i) greedy[i] = (int32_t)greedy_d[i];
  EXPECT(n_ids == 24 && n_greedy == 8);

  EXPECT_OK(xla_model_load(dir, &m));
  V = xla_model_vocab_size(m);
  EXPECT(V == 512);
  EXPECT(xla_model_vocab_size(NULL) == -1);
  EXPECT(strcmp(xla_model_architecture(m), "gemma") == 0);

  /* logits of sequence 0 within 1e-3 of the reference */
  logits = (float*)malloc(sizeof(float) * (size_t)(n_ids * V));
  EXPECT_OK(xla_model_forward(m, ids, 1, n_ids, logits, (size_t)(n_ids * V)));
  for (i = 0; i < n_ids * V; ++i) maxdiff = fmax(maxdiff, fabs(logits[i] - want_logits[i]));
  EXPECT(maxdiff < 1e-4); /* float noise is below 3e-5 */
  EXPECT(xla_model_forward(m, ids, 1, n_ids, logits, 10) == XLA_ERR_BUFFER_TOO_SMALL);
  /* 2^32 x 2^32 x 512 logits: the product wrapped to 0 and passed the capacity check */
  EXPECT(xla_model_forward(m, ids, (int64_t)1 << 32, (int64_t)1 << 32, logits, 10) == XLA_ERR_INVALID_ARG);
  EXPECT(strstr(xla_last_error(), "batch 4294967296") != NULL);
  ids[3] = 512; /* outside the vocabulary */
  EXPECT(xla_model_forward(m, ids, 1, n_ids, logits, (size_t)(n_ids * V)) == XLA_ERR_INVALID_ARG);
  /* found deeper down than the entry point's own work: that function is named too */
  EXPECT(strncmp(xla_last_error(), "xla_model_forward: embedding: index 512 is out of range", 55) == 0);
  ids[3] = (int32_t)ids_d[3];

  /* summed log-probs of tokens 1..n-1 */
  EXPECT_OK(xla_model_logprob(m, ids, n_ids, 1, &lp));
  EXPECT(fabs(lp - sum_lp) < 2e-4); /* 23 tokens, each within float noise */
  EXPECT(xla_model_logprob(m, ids, n_ids, 0, &lp) == XLA_ERR_INVALID_ARG);

  /* greedy generation of 8 tokens equals the reference continuation */
  xla_sampler_params_init(&sp);
  sp.max_new_tokens = 8;
  EXPECT_OK(xla_generate(m, ids, (size_t)n_ids, &sp, NULL, NULL, out, 16, &n_out));
  EXPECT(n_out == 8 && memcmp(out, greedy, sizeof(int32_t) * 8) == 0);
  EXPECT(xla_generate(m, ids, (size_t)n_ids, &sp, NULL, NULL, out, 4, &n_out) == XLA_ERR_BUFFER_TOO_SMALL && n_out == 8);
  /* a callback that stops after three tokens */
  EXPECT(xla_generate(m, ids, (size_t)n_ids, &sp, stop_after_three, &g_seen, out, 16, &n_out) == XLA_ERR_ABORTED);
  EXPECT(n_out == 3 && g_seen == 3 && memcmp(out, greedy, sizeof(int32_t) * 3) == 0);
  /* a session: 4 tokens, then 4 more from its own context, the same 8 */
  EXPECT_OK(xla_session_create(m, &s));
  sp.max_new_tokens = 4;
  EXPECT_OK(xla_session_generate(s, ids, (size_t)n_ids, &sp, NULL, NULL, out, 16, &n_out));
  EXPECT_OK(xla_session_generate(s, NULL, 0, &sp, NULL, NULL, out + 4, 12, &n_out));
  EXPECT(memcmp(out, greedy, sizeof(int32_t) * 8) == 0);
  EXPECT(xla_session_length(s) == n_ids + 8);
  EXPECT_OK(xla_session_reset(s));
  EXPECT(xla_session_length(s) == 0);
  /* compiled steps give the same 8 reference tokens; the switch takes 0 or 1 */
  EXPECT_OK(xla_session_compile(s, 1));
  sp.max_new_tokens = 8;
  EXPECT_OK(xla_session_generate(s, ids, (size_t)n_ids, &sp, NULL, NULL, out, 16, &n_out));
  EXPECT(n_out == 8 && memcmp(out, greedy, sizeof(int32_t) * 8) == 0);
  EXPECT(xla_session_compile(s, 2) == XLA_ERR_INVALID_ARG && strstr(xla_last_error(), "on must be 0 or 1") != NULL);
  EXPECT_OK(xla_session_compile(s, 0));
  EXPECT_OK(xla_session_reset(s));
  /* the sampler on its own, over the session's logits, makes xla_generate's choices:
     greedy, and seeded sampling with a repetition penalty (same seed, same draws) */
  {
    int round;
    for (round = 0; round < 2; ++round) {
      xla_sampler* smp = NULL;
      float* row = (float*)malloc(sizeof(float) * (size_t)V);
      int32_t hist[64 + 8], mine[8];
      size_t n_hist = (size_t)n_ids;
      int k;
      sp.max_new_tokens = 8;
      sp.temperature = round ? 0.9f : 0.f;
      sp.seed = 11;
      sp.repetition_penalty = round ? 1.3f : 1.f;
      EXPECT_OK(xla_generate(m, ids, (size_t)n_ids, &sp, NULL, NULL, out, 16, &n_out));
      EXPECT_OK(xla_sampler_create(&sp, &smp));
      EXPECT_OK(xla_session_feed(s, ids, (size_t)n_ids, row, (size_t)V));
      memcpy(hist, ids, sizeof(int32_t) * (size_t)n_ids);
      for (k = 0; k < 8; ++k) {
        EXPECT_OK(xla_sampler_sample(smp, row, V, hist, n_hist, &mine[k]));
        hist[n_hist++] = mine[k];
        if (k < 7) EXPECT_OK(xla_session_feed(s, &mine[k], 1, row, (size_t)V));
      }
      EXPECT(n_out == 8 && memcmp(mine, out, sizeof mine) == 0);
      EXPECT((memcmp(mine, greedy, sizeof mine) == 0) == (round == 0)); /* round 1 really samples */
      xla_sampler_free(smp);
      free(row);
      EXPECT_OK(xla_session_reset(s));
    }
    sp.temperature = 0.f;
    sp.repetition_penalty = 1.f;
  }
  /* bad sampler parameters name the field */
  sp.top_p = 2.f;
  EXPECT(xla_generate(m, ids, (size_t)n_ids, &sp, NULL, NULL, out, 16, &n_out) == XLA_ERR_INVALID_ARG);
  EXPECT(strstr(xla_last_error(), "top_p") != NULL);
  /* the generation options are xla_generate's alone: xla_sampler_create ignores them */
  sp.top_p = 1.f;
  sp.max_new_tokens = -1;
  EXPECT(xla_generate(m, ids, (size_t)n_ids, &sp, NULL, NULL, out, 16, &n_out) == XLA_ERR_INVALID_ARG);
  EXPECT(strstr(xla_last_error(), "max_new_tokens") != NULL);
  sp.n_stop_ids = 2; /* with stop_ids NULL */
  {
    xla_sampler* smp = NULL;
    int32_t tok = -1;
    EXPECT_OK(xla_sampler_create(&sp, &smp));
    EXPECT_OK(xla_sampler_sample(smp, want_logits + (size_t)(n_ids - 1) * (size_t)V, V, NULL, 0, &tok));
    EXPECT(tok == greedy[0]); /* greedy, over the reference's last prompt row */
    xla_sampler_free(smp);
  }

  /* save and load again: the same logits */
  EXPECT_OK(xla_model_save(m, "test_model_roundtrip"));
  EXPECT_OK(xla_model_load("test_model_roundtrip", &m2));
  {
    float* again = (float*)malloc(sizeof(float) * (size_t)(n_ids * V));
    EXPECT_OK(xla_model_forward(m2, ids, 1, n_ids, again, (size_t)(n_ids * V)));
    EXPECT(memcmp(again, logits, sizeof(float) * (size_t)(n_ids * V)) == 0);
    free(again);
  }

  /* bad input: missing folder, bad config text, unknown key, NULLs */
  EXPECT(xla_model_load("/nonexistent/model", &bad) == XLA_ERR_IO && bad == (xla_model*)&g_passed);
  EXPECT(strstr(xla_last_error(), "/nonexistent/model") != NULL);
  EXPECT(xla_model_create("{not json", 1, &bad) == XLA_ERR_FORMAT && bad == (xla_model*)&g_passed);
  EXPECT(xla_model_create("{\"model_type\": \"gemma\", \"vocab_size\": 8, \"hidden_size\": 8, \"intermediate_size\": 8,"
                          " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"frobnicate\": 1}",
                          1, &bad) == XLA_ERR_FORMAT);
  EXPECT(strstr(xla_last_error(), "frobnicate") != NULL);
  /* sizes past the caps, reals that only give NaN, wrong types: XLA_ERR_FORMAT naming the key */
  EXPECT(xla_model_create("{\"model_type\": \"gemma\", \"vocab_size\": 8, \"hidden_size\": 4611686018427387904,"
                          " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2}",
                          1, &bad) == XLA_ERR_FORMAT && bad == (xla_model*)&g_passed);
  EXPECT(strstr(xla_last_error(), "hidden_size") != NULL);
  EXPECT(xla_model_create("{\"model_type\": \"gemma\", \"vocab_size\": 8, \"hidden_size\": 8, \"intermediate_size\": 8,"
                          " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"rms_norm_eps\": 0}",
                          1, &bad) == XLA_ERR_FORMAT);
  EXPECT(strstr(xla_last_error(), "rms_norm_eps") != NULL);
  EXPECT(xla_model_create("{\"model_type\": \"gemma\", \"vocab_size\": 8, \"hidden_size\": 8, \"intermediate_size\": 8,"
                          " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"rms_norm_eps\": 1e400}",
                          1, &bad) == XLA_ERR_FORMAT);
  EXPECT(strstr(xla_last_error(), "rms_norm_eps") != NULL);
  EXPECT(xla_model_create("{\"model_type\": \"gemma\", \"vocab_size\": 8, \"hidden_size\": 8, \"intermediate_size\": 8,"
                          " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"tie_word_embeddings\": \"yes\"}",
                          1, &bad) == XLA_ERR_FORMAT);
  EXPECT(strstr(xla_last_error(), "tie_word_embeddings") != NULL);
  EXPECT(xla_model_create("{\"model_type\": \"llama\"}", 1, &bad) == XLA_ERR_FORMAT);
  EXPECT(strstr(xla_last_error(), "llama") != NULL);
  EXPECT(xla_model_load(NULL, &bad) == XLA_ERR_INVALID_ARG);
  EXPECT(xla_generate(NULL, ids, 1, NULL, NULL, NULL, out, 16, &n_out) == XLA_ERR_INVALID_ARG);

  xla_session_free(s);
  xla_model_free(m);
  xla_model_free(m2);
  xla_model_free(NULL);
  free(logits);
  free(ref);
  free(want_logits);
  return finish("capi model");
}
