/* test_grpo.c — the GRPO loss through the C API in plain C99: every case of
 * ../shared/oracle/grpo/grpo_cases.json (TRL's formulas in float64: advantages, loss,
 * d loss / d logps, kl and the clip ratios) to 1e-10 relative, on-policy old_logps = NULL,
 * the params defaults and struct sizes, and the errors (status, a message naming the
 * argument, every output left as it was). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "oracle.h"

#define MAX_SEQ 16
#define MAX_TOK 16

/* One case of grpo_cases.json, arrays flattened row-major. */
typedef struct grpo_case {
  char name[64];
  xla_grpo_params p;
  int n_seq, n_tok;
  double logps[MAX_SEQ * MAX_TOK], old_logps[MAX_SEQ * MAX_TOK], ref_logps[MAX_SEQ * MAX_TOK];
  int32_t lengths[MAX_SEQ];
  double rewards[MAX_SEQ];
  double advantages[MAX_SEQ], grad[MAX_SEQ * MAX_TOK];
  double loss, kl, clip_low, clip_high, clip_region;
} grpo_case;

/* ---- a small reader for the file's layout: objects of keys, numbers, strings, nested arrays ---- */

/* The end of the JSON value that starts at p (an object or array: its matching bracket + 1). */
static const char* value_end(const char* p) {
  int depth = 0, in_string = 0;
  for (; *p; ++p) {
    if (in_string) {
      if (*p == '\\' && p[1]) ++p;
      else if (*p == '"') in_string = 0;
      continue;
    }
    if (*p == '"') in_string = 1;
    else if (*p == '[' || *p == '{') ++depth;
    else if (*p == ']' || *p == '}') {
      if (--depth == 0) return p + 1;
    }
  }
  return p;
}

/* The value of "key" inside [begin, end) (after its colon and spaces), or NULL. Keys of nested
   objects count too: callers pass the range of the object they mean. */
static const char* find_key(const char* begin, const char* end, const char* key) {
  char quoted[80];
  const char* p = begin;
  size_t n;
  sprintf(quoted, "\"%s\"", key);
  n = strlen(quoted);
  while ((p = strstr(p, quoted)) != NULL && p < end) {
    const char* q = p + n;
    while (*q == ' ' || *q == '\n') ++q;
    if (*q == ':') {
      ++q;
      while (*q == ' ' || *q == '\n') ++q;
      return q;
    }
    p = q;
  }
  return NULL;
}

/* Every number of the value at p — a number or arrays nested to any depth — flattened in
   order into out (at most cap); *rows = the count of the outermost array's elements. */
static int read_flat(const char* p, double* out, int cap, int* rows) {
  const char* end = value_end(p);
  int n = 0, depth = 0;
  if (rows) *rows = 0;
  if (*p != '[') {
    out[0] = strtod(p, NULL);
    return 1;
  }
  while (p < end) {
    char* q;
    if (*p == '[') {
      if (depth == 1 && rows) ++*rows;
      ++depth;
      ++p;
    } else if (*p == ']') {
      --depth;
      ++p;
    } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
      double v = strtod(p, &q);
      if (depth == 1 && rows) ++*rows;
      if (n < cap) out[n] = v;
      ++n;
      p = q;
    } else {
      ++p;
    }
  }
  return n;
}

static double number(const char* begin, const char* end, const char* key) {
  const char* v = find_key(begin, end, key);
  double x = 0;
  if (!v) {
    fprintf(stderr, "grpo_cases.json: no \"%s\"\n", key);
    exit(2);
  }
  if (strncmp(v, "true", 4) == 0) return 1;
  if (strncmp(v, "false", 5) == 0) return 0;
  read_flat(v, &x, 1, NULL);
  return x;
}

/* Reads the i-th case of the file into *c; 0 when there is none. */
static int read_case(const char* json, int i, grpo_case* c) {
  const char *cases = find_key(json, json + strlen(json), "cases"), *p, *end, *exp_begin, *exp_end, *v;
  double tmp[MAX_SEQ * MAX_TOK];
  int k, rows, n;
  if (!cases || *cases != '[') return 0;
  p = cases + 1;
  for (k = 0;; ++k) {
    while (*p && *p != '{' && *p != ']') ++p;
    if (*p != '{') return 0;
    end = value_end(p);
    if (k == i) break;
    p = end;
  }
  memset(c, 0, sizeof *c);
  v = find_key(p, end, "name");
  sscanf(v, "\"%63[^\"]\"", c->name);
  exp_begin = find_key(p, end, "expected");
  exp_end = value_end(exp_begin);
  /* the settings, read from the part of the case before "expected" */
  xla_grpo_params_init(&c->p);
  c->p.group_size = (int32_t)number(p, exp_begin, "group_size");
  c->p.beta = (float)number(p, exp_begin, "beta");
  c->p.epsilon = (float)number(p, exp_begin, "epsilon");
  c->p.epsilon_high = (float)number(p, exp_begin, "epsilon_high");
  c->p.scale_rewards = (int32_t)number(p, exp_begin, "scale_rewards");
  c->p.max_completion_length = (int32_t)number(p, exp_begin, "max_completion_length");
  v = find_key(p, exp_begin, "loss_type");
  c->p.loss_type = strncmp(v, "\"bnpo\"", 6) == 0      ? XLA_GRPO_LOSS_BNPO
                   : strncmp(v, "\"dr_grpo\"", 9) == 0 ? XLA_GRPO_LOSS_DR_GRPO
                                                       : XLA_GRPO_LOSS_GRPO;
  n = read_flat(find_key(p, exp_begin, "logps"), c->logps, MAX_SEQ * MAX_TOK, &rows);
  c->n_seq = rows;
  c->n_tok = rows ? n / rows : 0;
  if (rows < 1 || rows > MAX_SEQ || n != rows * c->n_tok || c->n_tok > MAX_TOK) {
    fprintf(stderr, "%s: logps is not a [<= %d, <= %d] matrix\n", c->name, MAX_SEQ, MAX_TOK);
    exit(2);
  }
  EXPECT(read_flat(find_key(p, exp_begin, "old_logps"), c->old_logps, MAX_SEQ * MAX_TOK, NULL) == n);
  EXPECT(read_flat(find_key(p, exp_begin, "ref_logps"), c->ref_logps, MAX_SEQ * MAX_TOK, NULL) == n);
  EXPECT(read_flat(find_key(p, exp_begin, "rewards"), c->rewards, MAX_SEQ, NULL) == rows);
  EXPECT(read_flat(find_key(p, exp_begin, "lengths"), tmp, MAX_SEQ, NULL) == rows);
  for (k = 0; k < rows; ++k) c->lengths[k] = (int32_t)tmp[k];
  /* the expected numbers; kl is absent when beta is 0 (then it must be 0) */
  EXPECT(read_flat(find_key(exp_begin, exp_end, "advantages"), c->advantages, MAX_SEQ, NULL) == rows);
  EXPECT(read_flat(find_key(exp_begin, exp_end, "grad_logps"), c->grad, MAX_SEQ * MAX_TOK, NULL) == n);
  c->loss = number(exp_begin, exp_end, "loss");
  c->kl = find_key(exp_begin, exp_end, "kl") ? number(exp_begin, exp_end, "kl") : 0.0;
  c->clip_low = number(exp_begin, exp_end, "clip_ratio/low_mean");
  c->clip_high = number(exp_begin, exp_end, "clip_ratio/high_mean");
  c->clip_region = number(exp_begin, exp_end, "clip_ratio/region_mean");
  return 1;
}

/* within 1e-10 relative; an expected 0 within 1e-15 absolute */
static int close_to(double got, double want) {
  if (want == 0.0) return fabs(got) <= 1e-15;
  return fabs(got - want) <= 1e-10 * fabs(want);
}

static int all_close(const double* got, const double* want, int n, const char* what, const char* name) {
  int i, ok = 1;
  for (i = 0; i < n; ++i)
    if (!close_to(got[i], want[i])) {
      if (ok) fprintf(stderr, "%s: %s[%d] = %.17g, expected %.17g\n", name, what, i, got[i], want[i]);
      ok = 0;
    }
  return ok;
}

static void test_defaults(void) {
  xla_grpo_params p;
  memset(&p, 0xff, sizeof p);
  xla_grpo_params_init(&p);
  EXPECT(p.struct_size == sizeof(xla_grpo_params));
  EXPECT(p.group_size == 0 && p.beta == 0.f && p.epsilon == 0.2f && p.epsilon_high == 0.2f);
  EXPECT(p.loss_type == XLA_GRPO_LOSS_GRPO && p.scale_rewards == 1 && p.max_completion_length == 0);
  xla_grpo_params_init(NULL); /* accepted, does nothing */
}

/* Every case of the oracle file; returns how many. */
static int test_oracle_cases(const char* json) {
  grpo_case c;
  int i;
  for (i = 0; read_case(json, i, &c); ++i) {
    double flat[MAX_SEQ];
    const int n = c.n_seq * c.n_tok;
    double adv[MAX_SEQ], grad[MAX_SEQ * MAX_TOK];
    xla_grpo_metrics m;
    /* the nested-array reader agrees with oracle.h's on a flat array */
    EXPECT(read_numbers(json, "\"rewards\"", i, flat, MAX_SEQ) == c.n_seq);
    EXPECT(memcmp(flat, c.rewards, sizeof(double) * (size_t)c.n_seq) == 0);
    memset(&m, 0xAB, sizeof m); /* garbage: every field is written */
    m.struct_size = sizeof m;
    EXPECT_OK(xla_grpo_loss(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, c.n_seq, c.n_tok, adv,
                            grad, &m));
    EXPECT(all_close(adv, c.advantages, c.n_seq, "advantages", c.name));
    EXPECT(all_close(grad, c.grad, n, "grad", c.name));
    EXPECT(all_close(&m.loss, &c.loss, 1, "loss", c.name));
    EXPECT(all_close(&m.kl, &c.kl, 1, "kl", c.name));
    EXPECT(all_close(&m.clip_ratio_low, &c.clip_low, 1, "clip_ratio/low_mean", c.name));
    EXPECT(all_close(&m.clip_ratio_high, &c.clip_high, 1, "clip_ratio/high_mean", c.name));
    EXPECT(all_close(&m.clip_ratio_region, &c.clip_region, 1, "clip_ratio/region_mean", c.name));
    /* the outputs are optional: the loss alone is the same number */
    {
      xla_grpo_metrics m2;
      m2.struct_size = sizeof m2;
      EXPECT_OK(xla_grpo_loss(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, c.n_seq, c.n_tok, NULL,
                              NULL, &m2));
      EXPECT(m2.loss == m.loss && m2.kl == m.kl && m2.clip_ratio_region == m.clip_ratio_region);
    }
    /* beta 0 needs no reference: NULL gives what the reference's values gave */
    if (c.p.beta == 0.f) {
      xla_grpo_metrics m3;
      m3.struct_size = sizeof m3;
      EXPECT_OK(xla_grpo_loss(&c.p, c.logps, c.old_logps, NULL, c.lengths, c.rewards, c.n_seq, c.n_tok, NULL, NULL,
                              &m3));
      EXPECT(m3.loss == m.loss && m3.kl == 0.0);
    }
  }
  return i;
}

/* old_logps NULL is on-policy: the same results, bit for bit, as old = logps; the ratio is 1,
   nothing is clipped, and with beta 0 each row's gradient is -A / (rows · length) (grpo). */
static void test_on_policy(const char* json) {
  grpo_case c;
  int k;
  for (k = 0; read_case(json, k, &c); ++k) {
    double adv1[MAX_SEQ], adv2[MAX_SEQ], g1[MAX_SEQ * MAX_TOK], g2[MAX_SEQ * MAX_TOK];
    xla_grpo_metrics m1, m2;
    int i, t;
    memset(&m1, 0, sizeof m1);
    memset(&m2, 0, sizeof m2);
    m1.struct_size = m2.struct_size = sizeof m1;
    EXPECT_OK(xla_grpo_loss(&c.p, c.logps, NULL, c.ref_logps, c.lengths, c.rewards, c.n_seq, c.n_tok, adv1, g1, &m1));
    EXPECT_OK(
        xla_grpo_loss(&c.p, c.logps, c.logps, c.ref_logps, c.lengths, c.rewards, c.n_seq, c.n_tok, adv2, g2, &m2));
    EXPECT(memcmp(&m1, &m2, sizeof m1) == 0);
    EXPECT(memcmp(adv1, adv2, sizeof(double) * (size_t)c.n_seq) == 0);
    EXPECT(memcmp(g1, g2, sizeof(double) * (size_t)(c.n_seq * c.n_tok)) == 0);
    EXPECT(m1.clip_ratio_region == 0.0);
    if (c.p.beta != 0.f || c.p.loss_type != XLA_GRPO_LOSS_GRPO) continue;
    for (i = 0; i < c.n_seq; ++i)
      for (t = 0; t < c.n_tok; ++t) {
        const double want = t < c.lengths[i] ? -adv1[i] / (c.n_seq * c.lengths[i]) : 0.0;
        EXPECT(fabs(g1[i * c.n_tok + t] - want) <= 1e-15);
      }
  }
}

/* A params struct from an older, shorter header: the fields it lacks are the defaults. */
static void test_struct_sizes(const char* json) {
  grpo_case c;
  xla_grpo_params p;
  xla_grpo_metrics full, m;
  read_case(json, 0, &c); /* grpo_default_like: the default settings, group_size 4 */
  full.struct_size = sizeof full;
  EXPECT_OK(xla_grpo_loss(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, c.n_seq, c.n_tok, NULL,
                          NULL, &full));
  memset(&p, 0xff, sizeof p);
  p.struct_size = (uint32_t)offsetof(xla_grpo_params, beta);
  p.group_size = 4;
  m.struct_size = sizeof m;
  EXPECT_OK(xla_grpo_loss(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, c.n_seq, c.n_tok, NULL, NULL,
                          &m));
  EXPECT(m.loss == full.loss && m.clip_ratio_region == full.clip_ratio_region);
  /* a shorter metrics struct gets only the fields it has */
  memset(&m, 0, sizeof m);
  m.struct_size = (uint32_t)offsetof(xla_grpo_metrics, kl);
  m.kl = 42;
  EXPECT_OK(xla_grpo_loss(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, c.n_seq, c.n_tok, NULL,
                          NULL, &m));
  EXPECT(m.loss == full.loss && m.kl == 42 && m.clip_ratio_region == 0);
}

/* ---- errors: the status, a message naming the problem, and every output as it was ---- */

static double g_adv[MAX_SEQ], g_grad[MAX_SEQ * MAX_TOK];
static xla_grpo_metrics g_m;

static void poison_outputs(void) {
  int i;
  for (i = 0; i < MAX_SEQ; ++i) g_adv[i] = -7.0;
  for (i = 0; i < MAX_SEQ * MAX_TOK; ++i) g_grad[i] = -7.0;
  g_m.struct_size = sizeof g_m;
  g_m.loss = g_m.kl = g_m.clip_ratio_low = g_m.clip_ratio_high = g_m.clip_ratio_region = -7.0;
}

static int outputs_untouched(void) {
  int i;
  for (i = 0; i < MAX_SEQ; ++i)
    if (g_adv[i] != -7.0) return 0;
  for (i = 0; i < MAX_SEQ * MAX_TOK; ++i)
    if (g_grad[i] != -7.0) return 0;
  return g_m.loss == -7.0 && g_m.kl == -7.0 && g_m.clip_ratio_low == -7.0 && g_m.clip_ratio_high == -7.0 &&
         g_m.clip_ratio_region == -7.0;
}

static void expect_fails(xla_status st, xla_status want, const char* needle, int line) {
  if (st != want || strncmp(xla_last_error(), "xla_grpo_loss: ", 15) != 0 || !has(needle) || !outputs_untouched()) {
    ++g_failed;
    fprintf(stderr, "test_grpo.c:%d: expected status %d naming \"%s\", outputs untouched; got %d: %s\n", line, want,
            needle, st, xla_last_error());
  } else {
    ++g_passed;
  }
  poison_outputs();
}
#define FAILS(call, want, needle) expect_fails((call), (want), (needle), __LINE__)

static void test_errors(const char* json) {
  grpo_case c;
  xla_grpo_params p;
  int32_t lengths[MAX_SEQ];
  double rewards[MAX_SEQ], logps[MAX_SEQ * MAX_TOK];
  int S, T;
  read_case(json, 1, &c); /* grpo_kl_offpolicy: beta 0.04, 8 rows of 6 */
  S = c.n_seq;
  T = c.n_tok;
  poison_outputs();
#define CALL(pp, lp, op, rp, len, rw, s, t) xla_grpo_loss(pp, lp, op, rp, len, rw, s, t, g_adv, g_grad, &g_m)
  /* the base call works */
  EXPECT_OK(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T));
  EXPECT(!outputs_untouched());
  poison_outputs();

  /* NULL arrays and out, each named */
  FAILS(CALL(&c.p, NULL, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "logps is NULL");
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, NULL, c.rewards, S, T), XLA_ERR_INVALID_ARG, "lengths is NULL");
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, NULL, S, T), XLA_ERR_INVALID_ARG, "rewards is NULL");
  FAILS(CALL(&c.p, c.logps, c.old_logps, NULL, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "ref_logps");
  EXPECT(xla_grpo_loss(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T, g_adv, g_grad, NULL) ==
         XLA_ERR_INVALID_ARG);
  EXPECT(has("xla_grpo_loss") && has("out is NULL") && outputs_untouched());
  /* sizes */
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, 0, T), XLA_ERR_INVALID_ARG, "n_seq");
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, -1), XLA_ERR_INVALID_ARG, "n_tok");
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S - 1, T), XLA_ERR_SHAPE,
        "groups of 4");
  /* bad options */
  p = c.p;
  p.group_size = 1;
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "group_size");
  p.group_size = 3; /* 8 rows are not groups of 3 */
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_SHAPE, "groups of 3");
  FAILS(CALL(NULL, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "group_size"); /* NULL = the defaults, whose group_size 0 the caller must set */
  p = c.p;
  p.scale_rewards = 2;
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "scale_rewards must be 0 or 1, got 2");
  p = c.p;
  p.loss_type = 3;
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "loss");
  p = c.p;
  p.epsilon = 1.f;
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "epsilon");
  p = c.p;
  p.beta = -0.5f;
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "beta");
  p = c.p;
  p.struct_size = 0;
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "xla_grpo_params.struct_size is 0");
  p.struct_size = sizeof p + 8; /* from a newer header than this library */
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "xla_grpo_params.struct_size");
  g_m.struct_size = 0; /* never set */
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "xla_grpo_metrics.struct_size is 0");
  g_m.struct_size = sizeof g_m + 8;
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "xla_grpo_metrics.struct_size");
  /* lengths: outside [0, n_tok], over max_completion_length, all 0; n_tok itself is fine */
  memcpy(lengths, c.lengths, sizeof lengths);
  lengths[5] = T + 1;
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "lengths[5]");
  lengths[5] = -1;
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "lengths[5]");
  lengths[5] = T;
  EXPECT_OK(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, lengths, c.rewards, S, T));
  poison_outputs();
  p = c.p;
  p.max_completion_length = 4; /* one token over: row 0 now has 5 */
  memcpy(lengths, c.lengths, sizeof lengths);
  lengths[0] = 5;
  FAILS(CALL(&p, c.logps, c.old_logps, c.ref_logps, lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "lengths[0] is 5, longer than max_completion_length 4");
  p.max_completion_length = 5; /* the longest row is as long as allowed */
  EXPECT_OK(CALL(&p, c.logps, c.old_logps, c.ref_logps, lengths, c.rewards, S, T));
  poison_outputs();
  memset(lengths, 0, sizeof lengths);
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG,
        "every completion is empty");
  /* non-finite rewards and masked log-probs, named with their index */
  memcpy(rewards, c.rewards, sizeof rewards);
  rewards[3] = NAN;
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, rewards, S, T), XLA_ERR_INVALID_ARG, "rewards[3]");
  rewards[3] = INFINITY;
  FAILS(CALL(&c.p, c.logps, c.old_logps, c.ref_logps, c.lengths, rewards, S, T), XLA_ERR_INVALID_ARG, "rewards[3]");
  memcpy(logps, c.logps, sizeof logps);
  logps[1 * T + 1] = NAN; /* row 1 has 2 tokens: inside the mask */
  FAILS(CALL(&c.p, logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T), XLA_ERR_INVALID_ARG, "logps");
  logps[1 * T + 1] = c.logps[1 * T + 1];
  logps[1 * T + 4] = NAN; /* outside the mask: never read */
  EXPECT_OK(CALL(&c.p, logps, c.old_logps, c.ref_logps, c.lengths, c.rewards, S, T));
#undef CALL
}

int main(void) {
  long size = 0;
  char* json = read_file(XLA_SHARED_DIR "/oracle/grpo/grpo_cases.json", &size);
  if (!json) {
    fprintf(stderr, "cannot read %s\n", XLA_SHARED_DIR "/oracle/grpo/grpo_cases.json");
    return 1;
  }
  test_defaults();
  EXPECT(test_oracle_cases(json) == 5);
  test_on_policy(json);
  test_struct_sizes(json);
  test_errors(json);
  free(json);
  return finish("capi.grpo");
}
