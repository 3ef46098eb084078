/* test_engine.c — the serving engine (continuous batching) through the C API, in C99, on the
 * three oracle models of ../shared/oracle/gemma. Requests submitted together (greedy, seeded
 * sampling with different seeds and filters, stop ids, max_new_tokens, the defaults), stepped
 * with room for 3 events a call, must each give exactly xla_generate's tokens for the request
 * alone (and the reference continuations), with the right finish codes. Then: a full queue,
 * cancellation, the context limit, the prefix cache, the stats and bad input. */
#include <stddef.h>
#include <string.h>

#include "expect.h"
#include "oracle.h"

#define CTX 128    /* max_position_embeddings of the oracle models */
#define VOCAB 512  /* their vocabulary */
#define MAX_NEW 256 /* xla_sampler_params_init's max_new_tokens */

typedef struct {
  int32_t prompt[CTX];
  size_t n_prompt;
  xla_sampler_params p;
  int defaults;          /* submitted with p = NULL */
  int32_t stops[2];
  uint64_t id;
  int32_t got[MAX_NEW];  /* the engine's tokens, from its events */
  size_t n_got;
  int32_t finish;        /* of the request's last event so far */
  int32_t want[MAX_NEW]; /* xla_generate's for the request alone */
  size_t n_want;
} request;

static void request_init(request* r, const int32_t* prompt, size_t n, int32_t max_new_tokens) {
  memset(r, 0, sizeof *r);
  memcpy(r->prompt, prompt, n * sizeof(int32_t));
  r->n_prompt = n;
  xla_sampler_params_init(&r->p);
  r->p.max_new_tokens = max_new_tokens;
}

static void request_stops(request* r, int32_t a, int32_t b) {
  r->stops[0] = a;
  r->stops[1] = b;
  r->p.n_stop_ids = 2;
  r->p.stop_ids = r->stops;
}

static const xla_sampler_params* params(const request* r) { return r->defaults ? NULL : &r->p; }

static void generate_alone(xla_model* m, request* r) {
  EXPECT_OK(xla_generate(m, r->prompt, r->n_prompt, params(r), NULL, NULL, r->want, MAX_NEW, &r->n_want));
}

static void submit(xla_engine* e, request* r) {
  EXPECT_OK(xla_engine_submit(e, r->prompt, r->n_prompt, params(r), &r->id));
}

/* The engine gives xla_generate's tokens, cut where the context (prompt and output) is full. */
static size_t expected_n(const request* r) {
  const size_t room = CTX - r->n_prompt;
  return r->n_want < room ? r->n_want : room;
}

static int32_t expected_finish(const request* r) {
  const size_t n = expected_n(r);
  int32_t i;
  for (i = 0; i < r->p.n_stop_ids; ++i)
    if (n > 0 && r->want[n - 1] == r->stops[i]) return XLA_FINISH_STOP;
  return XLA_FINISH_LENGTH;
}

static void check_request(const request* r, const char* model, int which) {
  const size_t n = expected_n(r);
  const int same = r->n_got == n && memcmp(r->got, r->want, n * sizeof(int32_t)) == 0;
  EXPECT(same);
  EXPECT(r->finish == expected_finish(r));
  if (!same || r->finish != expected_finish(r))
    fprintf(stderr, "%s, request %d: %zu tokens (finish %d), want %zu (finish %d)\n", model, which, r->n_got,
            (int)r->finish, n, (int)expected_finish(r));
}

/* Records one event in its request: tokens in order, nothing after the request's last event. */
static void deliver(request* reqs, int n, const xla_engine_event* ev) {
  int i;
  request* r = NULL;
  for (i = 0; i < n; ++i)
    if (reqs[i].id == ev->id) r = &reqs[i];
  EXPECT(r != NULL);
  if (!r) return;
  EXPECT(r->finish == XLA_FINISH_NONE);
  EXPECT(ev->finish >= XLA_FINISH_NONE && ev->finish <= XLA_FINISH_CANCELLED);
  if (ev->finish == XLA_FINISH_CANCELLED) {
    EXPECT(ev->token == -1);
  } else if (r->n_got < MAX_NEW) {
    r->got[r->n_got++] = ev->token;
  }
  r->finish = ev->finish;
}

static xla_engine_stats stats(const xla_engine* e) {
  xla_engine_stats s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  EXPECT_OK(xla_engine_stats_get(e, &s));
  return s;
}

/* Steps until the engine is idle and every event has been handed out, with room for `cap`
 * events a call (no cancellations on the way). Each call is checked against the stats:
 * tokens made but not handed out yet (tokens_generated minus the tokens seen) come first,
 * as many as fit, without a step; otherwise a busy engine runs exactly one step. Returns
 * the number of calls that handed out held-back events only. */
static int drive(xla_engine* e, request* reqs, int n, size_t cap) {
  xla_engine_event ev[16];
  xla_engine_stats before = stats(e), after = before;
  const int64_t base = before.tokens_generated;
  int64_t seen = 0;
  int calls, from_backlog = 0;
  const int failed = g_failed;
  for (calls = 0; calls < 10000 && g_failed < failed + 10; ++calls) { /* a broken engine: stop soon */
    const int64_t pending = before.tokens_generated - base - seen;
    const int busy = before.running + before.waiting > 0;
    size_t got = 999, k;
    EXPECT_OK(xla_engine_step(e, ev, cap, &got));
    after = stats(e);
    if (pending > 0) {
      EXPECT(after.steps == before.steps);
      EXPECT((int64_t)got == (pending < (int64_t)cap ? pending : (int64_t)cap));
      ++from_backlog;
    } else if (busy) {
      EXPECT(after.steps == before.steps + 1);
      EXPECT(got <= cap);
    } else {
      EXPECT(got == 0); /* nothing to do */
      break;
    }
    for (k = 0; k < got && k < cap; ++k) {
      deliver(reqs, n, &ev[k]);
      if (ev[k].finish != XLA_FINISH_CANCELLED) ++seen;
    }
    before = after;
  }
  EXPECT(calls < 10000);
  EXPECT(after.tokens_generated - base == seen);
  EXPECT(after.running == 0 && after.waiting == 0);
  return from_backlog;
}

static xla_engine* engine(xla_model* m, int32_t max_seqs, int32_t max_batch_tokens, int32_t prefix_cache,
                          int32_t max_queue) {
  xla_engine_options o;
  xla_engine* e = NULL;
  xla_engine_options_init(&o);
  o.max_seqs = max_seqs;
  o.max_batch_tokens = max_batch_tokens;
  o.prefix_cache = prefix_cache;
  o.max_queue = max_queue;
  EXPECT_OK(xla_engine_create(m, &o, &e));
  return e;
}

/* Seven requests at once through 4 sequence slots and 16-token steps (so requests wait, and
 * prompts are prefilled in chunks beside decoding ones), read 3 events a call (so a step's
 * events do not always fit). */
static void test_batch(xla_model* m, const char* model, const int32_t* s0, const int32_t* s1, const int32_t* g0,
                       const int32_t* g1) {
  static request r[7];
  int32_t both[43];
  xla_engine* e = engine(m, 4, 16, 1, 256);
  xla_engine_stats st;
  int i, from_backlog;
  size_t total = 0;

  request_init(&r[0], s0, 24, MAX_NEW);
  r[0].defaults = 1; /* greedy, 256 tokens: more than the context holds */
  request_init(&r[1], s1, 19, 8);
  request_init(&r[2], s0, 10, 12);
  r[2].p.temperature = 0.9f;
  r[2].p.seed = 7;
  r[3] = r[2];
  r[3].p.seed = 8;
  request_init(&r[4], s1, 19, 8);
  request_stops(&r[4], g1[3], VOCAB - 1);
  request_init(&r[5], s1, 12, 10);
  r[5].p.temperature = 1.2f;
  r[5].p.top_k = 40;
  r[5].p.top_p = 0.9f;
  r[5].p.min_p = 0.02f;
  r[5].p.repetition_penalty = 1.3f;
  r[5].p.seed = 3;
  memcpy(both, s0, 24 * sizeof(int32_t));
  memcpy(both + 24, s1, 19 * sizeof(int32_t));
  request_init(&r[6], both, 43, 20);
  for (i = 0; i < 7; ++i) generate_alone(m, &r[i]);
  /* the reference implementation's greedy continuations */
  EXPECT(r[0].n_want == MAX_NEW && memcmp(r[0].want, g0, 8 * sizeof(int32_t)) == 0);
  EXPECT(r[1].n_want == 8 && memcmp(r[1].want, g1, 8 * sizeof(int32_t)) == 0);

  for (i = 0; i < 7; ++i) {
    submit(e, &r[i]);
    EXPECT(r[i].id == (uint64_t)i + 1); /* ids start at 1 */
  }
  st = stats(e);
  EXPECT(st.waiting == 7 && st.running == 0 && st.steps == 0 && st.kv_tokens_capacity == 4 * CTX);
  from_backlog = drive(e, r, 7, 3);
  EXPECT(from_backlog > 0); /* steps made more events than fit */
  for (i = 0; i < 7; ++i) {
    check_request(&r[i], model, i);
    total += r[i].n_got;
  }
  EXPECT(r[0].n_got == CTX - 24 && r[0].finish == XLA_FINISH_LENGTH); /* the context is full */
  EXPECT(r[1].n_got == 8 && r[1].finish == XLA_FINISH_LENGTH);         /* max_new_tokens */
  EXPECT(r[4].n_got <= 4 && r[4].finish == XLA_FINISH_STOP);           /* a stop id */
  EXPECT(memcmp(r[2].got, r[3].got, 12 * sizeof(int32_t)) != 0);       /* each its own seed */
  st = stats(e);
  EXPECT(st.tokens_generated == (int64_t)total && st.steps > 0);
  xla_engine_free(e);
}

/* max_queue 2: a third waiting request is refused with XLA_ERR_BUSY; the engine works on. */
static void test_busy(xla_model* m, const int32_t* s1) {
  static request r[3];
  xla_engine* e = engine(m, 8, 512, 1, 2);
  uint64_t id = 77;
  int i;
  for (i = 0; i < 3; ++i) {
    request_init(&r[i], s1, 19 - (size_t)i, 4);
    generate_alone(m, &r[i]);
  }
  submit(e, &r[0]);
  submit(e, &r[1]);
  BAD(xla_engine_submit(e, r[2].prompt, r[2].n_prompt, &r[2].p, &id), XLA_ERR_BUSY, "xla_engine_submit", "queue is full");
  EXPECT(id == 77);
  EXPECT(stats(e).waiting == 2);
  drive(e, r, 2, 8);
  submit(e, &r[2]);
  EXPECT(r[2].id > r[1].id);
  drive(e, r, 3, 8);
  for (i = 0; i < 3; ++i) check_request(&r[i], "busy", i);
  xla_engine_free(e);
}

/* Cancelling a running and a waiting request: each ends with one XLA_FINISH_CANCELLED event
 * (token -1) at the next step, the other request runs on unchanged, and once all are done no
 * KV block is held (prefix cache off: nothing is kept for reuse). */
static void test_cancel(xla_model* m, const int32_t* s0, const int32_t* s1) {
  static request r[3]; /* x running, y running, z waiting */
  xla_engine* e = engine(m, 2, 512, 0, 256);
  xla_engine_event ev[16];
  xla_engine_stats st;
  size_t n = 0, k;
  int calls;
  request_init(&r[0], s0, 24, 40);
  request_init(&r[1], s1, 19, 6);
  request_init(&r[2], s1, 10, 6);
  for (k = 0; k < 3; ++k) {
    generate_alone(m, &r[k]);
    submit(e, &r[k]);
  }
  for (calls = 0; calls < 100 && r[0].n_got < 2; ++calls) {
    EXPECT_OK(xla_engine_step(e, ev, 16, &n));
    for (k = 0; k < n; ++k) deliver(r, 3, &ev[k]);
  }
  st = stats(e);
  EXPECT(r[0].n_got == 2 && r[1].n_got == 2 && r[2].n_got == 0);
  EXPECT(st.running == 2 && st.waiting == 1 && st.kv_tokens_used >= 24 + 19);
  EXPECT_OK(xla_engine_cancel(e, r[0].id));
  EXPECT_OK(xla_engine_cancel(e, r[2].id));
  EXPECT_OK(xla_engine_step(e, ev, 16, &n));
  for (k = 0; k < n; ++k) deliver(r, 3, &ev[k]);
  EXPECT(r[0].finish == XLA_FINISH_CANCELLED && r[2].finish == XLA_FINISH_CANCELLED);
  EXPECT(r[0].n_got >= 2 && r[0].n_got < 40 && memcmp(r[0].got, r[0].want, r[0].n_got * sizeof(int32_t)) == 0);
  EXPECT(r[2].n_got == 0);
  BAD(xla_engine_cancel(e, r[0].id), XLA_ERR_INVALID_ARG, "xla_engine_cancel", "request 1 is"); /* already finished */
  BAD(xla_engine_cancel(e, 999), XLA_ERR_INVALID_ARG, "xla_engine_cancel", "request 999 is"); /* unknown */
  BAD(xla_engine_cancel(e, 0), XLA_ERR_INVALID_ARG, "xla_engine_cancel", "request 0 is");
  drive(e, r, 3, 16);
  check_request(&r[1], "cancel", 1);
  BAD(xla_engine_cancel(e, r[1].id), XLA_ERR_INVALID_ARG, "xla_engine_cancel", "request 2 is"); /* finished */
  st = stats(e);
  EXPECT(st.running == 0 && st.waiting == 0 && st.kv_tokens_used == 0);
  xla_engine_free(e);
}

/* Two prompts sharing their first 32 tokens (two KV blocks), the second submitted after the
 * first has finished: with the prefix cache the second reuses those 32 tokens' KV, and both
 * still give xla_generate's tokens; without it nothing is reused. */
static void test_prefix(xla_model* m, const int32_t* s0, const int32_t* s1, int32_t cache) {
  static request r[2];
  int32_t p[40];
  xla_engine* e = engine(m, 8, 512, cache, 256);
  const int32_t tail_a[4] = {5, 6, 7, 8}, tail_b[5] = {9, 10, 11, 12, 13};
  memcpy(p, s0, 24 * sizeof(int32_t));
  memcpy(p + 24, s1 + 1, 8 * sizeof(int32_t));
  memcpy(p + 32, tail_a, sizeof tail_a);
  request_init(&r[0], p, 36, 6);
  memcpy(p + 32, tail_b, sizeof tail_b);
  request_init(&r[1], p, 37, 6);
  r[1].p.temperature = 0.8f;
  r[1].p.seed = 5;
  generate_alone(m, &r[0]);
  generate_alone(m, &r[1]);
  submit(e, &r[0]);
  drive(e, r, 1, 4);
  EXPECT(stats(e).prefix_tokens_reused == 0);
  submit(e, &r[1]);
  drive(e, r, 2, 4);
  EXPECT(stats(e).prefix_tokens_reused == (cache ? 32 : 0));
  check_request(&r[0], cache ? "prefix" : "no prefix", 0);
  check_request(&r[1], cache ? "prefix" : "no prefix", 1);
  xla_engine_free(e);
}

/* cap 0 (events NULL): a step runs when nothing is held back, and its event waits; while one
 * waits, cap 0 calls do nothing. */
static void test_cap0(xla_model* m, const int32_t* s1) {
  static request r;
  xla_engine* e = engine(m, 8, 512, 1, 256);
  xla_engine_event ev[4];
  xla_engine_stats st;
  size_t n = 99;
  request_init(&r, s1, 19, 2);
  generate_alone(m, &r);
  submit(e, &r);
  EXPECT_OK(xla_engine_step(e, NULL, 0, &n));
  st = stats(e);
  EXPECT(n == 0 && st.steps == 1 && st.tokens_generated == 1);
  n = 99;
  EXPECT_OK(xla_engine_step(e, NULL, 0, &n));
  st = stats(e);
  EXPECT(n == 0 && st.steps == 1 && st.tokens_generated == 1);
  EXPECT_OK(xla_engine_step(e, ev, 4, &n));
  EXPECT(n == 1 && stats(e).steps == 1);
  if (n == 1) deliver(&r, 1, &ev[0]);
  drive(e, &r, 1, 4);
  check_request(&r, "cap 0", 0);
  xla_engine_free(e);
}

/* The longest prompt that fits (127 tokens) gives one token; one more is refused, as are ids
 * outside the vocabulary, and every bad argument names itself; *out stays untouched. */
static void test_bad_input(xla_model* m) {
  static request r;
  int32_t long_prompt[CTX];
  xla_engine_options o;
  xla_engine *e = engine(m, 8, 512, 1, 256), *none = (xla_engine*)&g_passed;
  xla_engine_event ev[2];
  xla_engine_stats st;
  xla_sampler_params p;
  uint64_t id = 77;
  size_t n = 99, i;
  for (i = 0; i < CTX; ++i) long_prompt[i] = (int32_t)((i * 37 + 11) % 509 + 3);

  request_init(&r, long_prompt, CTX - 1, 5);
  generate_alone(m, &r);
  submit(e, &r);
  drive(e, &r, 1, 2);
  EXPECT(r.n_got == 1 && r.finish == XLA_FINISH_LENGTH);
  check_request(&r, "127 tokens", 0);

  BAD(xla_engine_submit(e, long_prompt, CTX, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "a prompt of 128 tokens does not fit");
  long_prompt[5] = VOCAB;
  BAD(xla_engine_submit(e, long_prompt, 10, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "prompt[5] = 512 is outside");
  long_prompt[5] = -1;
  BAD(xla_engine_submit(e, long_prompt, 10, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "prompt[5] = -1 is outside");
  long_prompt[5] = 5;
  BAD(xla_engine_submit(e, long_prompt, 0, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "empty");
  BAD(xla_engine_submit(e, NULL, 3, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "prompt");
  BAD(xla_engine_submit(e, long_prompt, 3, NULL, NULL), XLA_ERR_INVALID_ARG, "xla_engine_submit", "id_out");
  BAD(xla_engine_submit(NULL, long_prompt, 3, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "NULL");
  xla_sampler_params_init(&p);
  p.max_new_tokens = 0;
  BAD(xla_engine_submit(e, long_prompt, 3, &p, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "max_new_tokens");
  p.max_new_tokens = 4;
  p.top_p = 2.f;
  BAD(xla_engine_submit(e, long_prompt, 3, &p, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "top_p");
  p.top_p = 1.f;
  p.n_stop_ids = 2;
  BAD(xla_engine_submit(e, long_prompt, 3, &p, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "stop_ids");
  p.n_stop_ids = -1;
  BAD(xla_engine_submit(e, long_prompt, 3, &p, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "n_stop_ids");
  p.n_stop_ids = 0;
  p.struct_size = 3;
  BAD(xla_engine_submit(e, long_prompt, 3, &p, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "struct_size");
  EXPECT(id == 77);
  EXPECT(stats(e).waiting == 0); /* nothing refused was queued */

  BAD(xla_engine_step(NULL, ev, 2, &n), XLA_ERR_INVALID_ARG, "xla_engine_step", "NULL");
  BAD(xla_engine_step(e, NULL, 2, &n), XLA_ERR_INVALID_ARG, "xla_engine_step", "events");
  BAD(xla_engine_step(e, ev, 2, NULL), XLA_ERR_INVALID_ARG, "xla_engine_step", "n_out");
  EXPECT(n == 99);
  BAD(xla_engine_cancel(NULL, 1), XLA_ERR_INVALID_ARG, "xla_engine_cancel", "NULL");

  /* options: each bad field named, the engine not made */
  xla_engine_options_init(NULL);
#define BAD_OPTION(field, value)                                                                       \
  do {                                                                                                 \
    xla_engine_options_init(&o);                                                                       \
    o.field = value;                                                                                   \
    BAD(xla_engine_create(m, &o, &none), XLA_ERR_INVALID_ARG, "xla_engine_create", "options." #field); \
  } while (0)
  BAD_OPTION(max_seqs, 0);
  BAD_OPTION(max_batch_tokens, -4);
  BAD_OPTION(kv_tokens, -1);
  BAD_OPTION(prefix_cache, 2);
  BAD_OPTION(max_queue, 0);
  BAD_OPTION(struct_size, 0);
  BAD_OPTION(struct_size, sizeof o + 8);
#undef BAD_OPTION
  BAD(xla_engine_create(NULL, NULL, &none), XLA_ERR_INVALID_ARG, "xla_engine_create", "NULL");
  BAD(xla_engine_create(m, NULL, NULL), XLA_ERR_INVALID_ARG, "xla_engine_create", "out");
  EXPECT(none == (xla_engine*)&g_passed);
  xla_engine_free(NULL);
  /* the defaults: 8 full contexts of KV */
  {
    xla_engine* d = NULL;
    xla_engine_options_init(&o);
    EXPECT(o.struct_size == sizeof o && o.max_seqs == 8 && o.max_batch_tokens == 512 && o.kv_tokens == 0 &&
           o.prefix_cache == 1 && o.max_queue == 256);
    EXPECT_OK(xla_engine_create(m, NULL, &d));
    EXPECT(stats(d).kv_tokens_capacity == 8 * CTX);
    xla_engine_free(d);
    o.kv_tokens = 4 * CTX;
    EXPECT_OK(xla_engine_create(m, &o, &d));
    EXPECT(stats(d).kv_tokens_capacity == 4 * CTX);
    xla_engine_free(d);
  }

  /* stats: a result struct */
  memset(&st, 0x5a, sizeof st);
  st.struct_size = 0;
  BAD(xla_engine_stats_get(e, &st), XLA_ERR_INVALID_ARG, "xla_engine_stats_get", "struct_size");
  st.struct_size = sizeof st + 8;
  BAD(xla_engine_stats_get(e, &st), XLA_ERR_INVALID_ARG, "xla_engine_stats_get", "struct_size");
  BAD(xla_engine_stats_get(NULL, &st), XLA_ERR_INVALID_ARG, "xla_engine_stats_get", "NULL");
  BAD(xla_engine_stats_get(e, NULL), XLA_ERR_INVALID_ARG, "xla_engine_stats_get", "out");
  st.struct_size = offsetof(xla_engine_stats, waiting); /* an older, shorter struct: running only */
  st.running = -7;
  EXPECT_OK(xla_engine_stats_get(e, &st));
  EXPECT(st.running == 0 && st.steps == 0x5a5a5a5a5a5a5a5a);
  xla_engine_free(e);
}

int main(void) {
  static const char* const models[3] = {"gemma1", "gemma2", "gemma3"};
  int k, i;
  for (k = 0; k < 3; ++k) {
    char path[512];
    char* ref;
    double d[64];
    int32_t s0[24], s1[19], g0[8], g1[8];
    xla_model* m = NULL;
    snprintf(path, sizeof path, "%s/oracle/gemma/%s/reference.json", XLA_SHARED_DIR, models[k]);
    ref = read_file(path, NULL);
    if (!ref) {
      fprintf(stderr, "oracle files missing under %s\n", XLA_SHARED_DIR);
      return 1;
    }
    EXPECT(read_numbers(ref, "\"token_ids\"", 0, d, 64) == 24);
    for (i = 0; i < 24; ++i) s0[i] = (int32_t)d[i];
    EXPECT(read_numbers(ref, "\"token_ids\"", 1, d, 64) == 19);
    for (i = 0; i < 19; ++i) s1[i] = (int32_t)d[i];
    EXPECT(read_numbers(ref, "\"greedy_continuation\"", 0, d, 64) == 8);
    for (i = 0; i < 8; ++i) g0[i] = (int32_t)d[i];
    EXPECT(read_numbers(ref, "\"greedy_continuation\"", 1, d, 64) == 8);
    for (i = 0; i < 8; ++i) g1[i] = (int32_t)d[i];
    free(ref);
    snprintf(path, sizeof path, "%s/oracle/gemma/%s", XLA_SHARED_DIR, models[k]);
    EXPECT_OK(xla_model_load(path, &m));
    if (!m) return finish("capi.engine");
    test_batch(m, models[k], s0, s1, g0, g1);
    if (k == 2) { /* the rest once, on Gemma 3 (sliding and global layers) */
      test_busy(m, s1);
      test_cancel(m, s0, s1);
      test_prefix(m, s0, s1, 1);
      test_prefix(m, s0, s1, 0);
      test_cap0(m, s1);
      test_bad_input(m);
    }
    xla_model_free(m);
  }
  return finish("capi.engine");
}
