/* test_threads.c — one loaded model shared by threads (capi.md rule 9): two threads
 * generating at once get exactly the tokens one thread gets alone, each its own prompt, and
 * xla_last_error stays per thread. Also built with ThreadSanitizer (make test runs it).
 *   test_threads SHARED_DIR [library_threads] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

#define NEW 24
static xla_model* g_model;
static const int32_t kPrompts[2][6] = {{2, 179, 143, 205, 399, 77}, {2, 17, 99, 4, 250, 31}};

struct job {
  int which;
  int32_t out[NEW];
  size_t n;
  xla_status status;
  int error_was_own; /* this thread's failed call left its own message */
};

static void* run(void* arg) {
  struct job* j = (struct job*)arg;
  xla_sampler_params p;
  xla_model* bad = NULL;
  int round;
  xla_sampler_params_init(&p);
  p.max_new_tokens = NEW;
  p.temperature = 0.8f; /* sampling: the seeded generator must be per call, not shared */
  p.seed = 7;
  for (round = 0; round < 3; ++round) {
    j->status = xla_generate(g_model, kPrompts[j->which], 6, &p, NULL, NULL, j->out, NEW, &j->n);
    if (j->status != XLA_OK) return NULL;
  }
  /* a failure here must not leak into the other thread's xla_last_error */
  xla_model_load(j->which ? "/nonexistent/one" : "/nonexistent/zero", &bad);
  j->error_was_own = strstr(xla_last_error(), j->which ? "/nonexistent/one" : "/nonexistent/zero") != NULL;
  return NULL;
}

int main(int argc, char** argv) {
  char dir[1024];
  struct job alone[2], together[2];
  pthread_t th[2];
  int i;
  if (argc < 2) return 2;
  if (argc > 2) EXPECT_OK(xla_set_num_threads(atoi(argv[2])));
  snprintf(dir, sizeof dir, "%s/oracle/gemma/gemma2", argv[1]);
  EXPECT_OK(xla_model_load(dir, &g_model));
  for (i = 0; i < 2; ++i) { /* one thread at a time: the reference */
    memset(&alone[i], 0, sizeof alone[i]);
    alone[i].which = i;
    run(&alone[i]);
    EXPECT_OK(alone[i].status);
  }
  for (i = 0; i < 2; ++i) {
    memset(&together[i], 0, sizeof together[i]);
    together[i].which = i;
    EXPECT(pthread_create(&th[i], NULL, run, &together[i]) == 0);
  }
  for (i = 0; i < 2; ++i) EXPECT(pthread_join(th[i], NULL) == 0);
  for (i = 0; i < 2; ++i) {
    EXPECT_OK(together[i].status);
    EXPECT(together[i].n == NEW && alone[i].n == NEW);
    EXPECT(memcmp(together[i].out, alone[i].out, sizeof alone[i].out) == 0);
    EXPECT(together[i].error_was_own);
  }
  EXPECT(memcmp(alone[0].out, alone[1].out, sizeof alone[0].out) != 0); /* different prompts */
  xla_model_free(g_model);
  return finish("capi.threads");
}
