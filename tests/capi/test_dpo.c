/* test_dpo.c — the DPO loss through the C API in plain C99: every loss type against the
 * formulas written out here in C, two of TRL's numbers (../shared/oracle/dpo/dpo_formulas.json;
 * the C++ test covers the whole file), the params and result struct sizes, and the errors
 * (status, message, *out untouched). */
#include <math.h>
#include <string.h>

#include "expect.h"

/* The synthetic batch of dpo_formulas.json: summed log-probs and completion lengths. */
static const double kPc[4] = {-12.5, -30.25, -7.0, -50.0}, kPr[4] = {-15.0, -28.0, -40.0, -49.5},
                    kRc[4] = {-13.0, -29.0, -9.5, -52.0}, kRr[4] = {-14.0, -29.5, -20.0, -49.0};
static const double kLenC[4] = {5, 12, 3, 20}, kLenR[4] = {6, 11, 15, 20};

static int close_to(double got, double want, double rtol) {
  double scale = fabs(want) > 1e-12 ? fabs(want) : 1e-12;
  return fabs(got - want) <= rtol * scale;
}

/* The loss and metrics as TRL 0.x writes them, straight from the definitions (moderate
   margins only: log(1 + exp(-z)) is fine here). */
static xla_dpo_metrics reference(const xla_dpo_params* p, const double* pc, const double* pr, const double* rc,
                                 const double* rr, int n) {
  xla_dpo_metrics r;
  double beta = p->beta, ls = p->label_smoothing;
  int i;
  memset(&r, 0, sizeof r);
  for (i = 0; i < n; ++i) {
    double m = (pc[i] - pr[i]) - (rc[i] - rr[i]), z = beta * m, l;
    double rwc = beta * (pc[i] - rc[i]), rwr = beta * (pr[i] - rr[i]);
    if (p->loss_type == XLA_DPO_SIGMOID)
      l = (1 - ls) * log(1 + exp(-z)) + ls * log(1 + exp(z)); /* -log sigmoid(x) = log(1 + e^-x) */
    else if (p->loss_type == XLA_DPO_IPO)
      l = (m - 1 / (2 * beta)) * (m - 1 / (2 * beta));
    else
      l = 1 - z > 0 ? 1 - z : 0;
    r.loss += l / n;
    r.reward_chosen += rwc / n;
    r.reward_rejected += rwr / n;
    r.reward_accuracy += (rwc > rwr ? 1.0 : 0.0) / n;
    r.reward_margin += (rwc - rwr) / n;
    r.logp_chosen += pc[i] / n;
    r.logp_rejected += pr[i] / n;
  }
  return r;
}

static int metrics_close(const xla_dpo_metrics* a, const xla_dpo_metrics* b, double rtol) {
  return close_to(a->loss, b->loss, rtol) && close_to(a->reward_chosen, b->reward_chosen, rtol) &&
         close_to(a->reward_rejected, b->reward_rejected, rtol) &&
         close_to(a->reward_accuracy, b->reward_accuracy, rtol) &&
         close_to(a->reward_margin, b->reward_margin, rtol) && close_to(a->logp_chosen, b->logp_chosen, rtol) &&
         close_to(a->logp_rejected, b->logp_rejected, rtol);
}

static void test_defaults(void) {
  xla_dpo_params p;
  memset(&p, 0xff, sizeof p);
  xla_dpo_params_init(&p);
  EXPECT(p.struct_size == sizeof(xla_dpo_params));
  EXPECT(p.beta == 0.1f && p.label_smoothing == 0.f && p.loss_type == XLA_DPO_SIGMOID);
  xla_dpo_params_init(NULL); /* accepted, does nothing */
}

static void test_against_the_formulas(void) {
  /* beta 0.1 and 0.5 (the C reference takes the float beta as it is: agreement to ~1e-7) */
  const float betas[2] = {0.1f, 0.5f};
  const int32_t types[3] = {XLA_DPO_SIGMOID, XLA_DPO_IPO, XLA_DPO_HINGE};
  double ac[4], ar[4], arc[4], arr[4];
  int b, t, i;
  for (i = 0; i < 4; ++i) { /* ipo takes per-token averages, as TRL 0.x */
    ac[i] = kPc[i] / kLenC[i];
    ar[i] = kPr[i] / kLenR[i];
    arc[i] = kRc[i] / kLenC[i];
    arr[i] = kRr[i] / kLenR[i];
  }
  for (b = 0; b < 2; ++b)
    for (t = 0; t < 3; ++t) {
      xla_dpo_params p;
      xla_dpo_metrics got, want;
      int ls;
      for (ls = 0; ls < (types[t] == XLA_DPO_SIGMOID ? 2 : 1); ++ls) {
        const int avg = types[t] == XLA_DPO_IPO;
        xla_dpo_params_init(&p);
        p.beta = betas[b];
        p.loss_type = types[t];
        p.label_smoothing = ls ? 0.1f : 0.f;
        got.struct_size = sizeof got;
        EXPECT_OK(xla_dpo_loss(&p, avg ? ac : kPc, avg ? ar : kPr, avg ? arc : kRc, avg ? arr : kRr, 4, &got));
        want = reference(&p, avg ? ac : kPc, avg ? ar : kPr, avg ? arc : kRc, avg ? arr : kRr, 4);
        EXPECT(metrics_close(&got, &want, 1e-6));
      }
    }
}

static void test_trl_numbers(void) {
  /* dpo_formulas.json, trl 0.x, beta 0.1: sigmoid and ipo (per-token averages), to ~1e-12 */
  xla_dpo_metrics m;
  xla_dpo_params p;
  double ac[4], ar[4], arc[4], arr[4];
  int i;
  memset(&m, 0xAB, sizeof m); /* garbage, padding included: the library clears it */
  m.struct_size = sizeof m;
  EXPECT_OK(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, 4, &m)); /* NULL = defaults: sigmoid, beta 0.1 */
  {
    xla_dpo_metrics m2;
    memset(&m2, 0xCD, sizeof m2);
    m2.struct_size = sizeof m2;
    EXPECT_OK(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, 4, &m2));
    EXPECT(memcmp(&m, &m2, sizeof m) == 0); /* equal results compare equal byte for byte */
  }
  EXPECT(close_to(m.loss, 0.5342934235686807, 1e-12));
  EXPECT(close_to(m.reward_chosen, 0.09375, 1e-12) && close_to(m.reward_rejected, -0.5, 1e-12));
  EXPECT(m.reward_accuracy == 0.75);
  EXPECT(close_to(m.reward_margin, 0.59375, 1e-12));
  EXPECT(m.logp_chosen == -24.9375 && m.logp_rejected == -33.125);
  for (i = 0; i < 4; ++i) {
    ac[i] = kPc[i] / kLenC[i];
    ar[i] = kPr[i] / kLenR[i];
    arc[i] = kRc[i] / kLenC[i];
    arr[i] = kRr[i] / kLenR[i];
  }
  xla_dpo_params_init(&p);
  p.loss_type = XLA_DPO_IPO;
  EXPECT_OK(xla_dpo_loss(&p, ac, ar, arc, arr, 4, &m));
  EXPECT(close_to(m.loss, 20.415251269800272, 1e-12));
  EXPECT(close_to(m.reward_margin, 0.05794507575757575, 1e-12));
  EXPECT(close_to(m.logp_rejected, -2.5467803030303027, 1e-12));
}

static void test_large_margin(void) {
  /* beta 0.5, m = -1000: -log sigmoid(-500) = 500 + log(1 + e^-500) = 500, not inf */
  const double pc = -1000, zero = 0;
  xla_dpo_params p;
  xla_dpo_metrics m;
  xla_dpo_params_init(&p);
  p.beta = 0.5f;
  m.struct_size = sizeof m;
  EXPECT_OK(xla_dpo_loss(&p, &pc, &zero, &zero, &zero, 1, &m));
  EXPECT(m.loss == 500.0);
  EXPECT(m.reward_accuracy == 0.0);
}

static void test_struct_sizes(void) {
  /* A metrics struct from an older, shorter header: only the fields that fit are written. */
  xla_dpo_metrics m;
  xla_dpo_params p;
  memset(&m, 0, sizeof m);
  m.struct_size = (uint32_t)(offsetof(xla_dpo_metrics, reward_chosen));
  m.reward_chosen = 42;
  EXPECT_OK(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, 4, &m));
  EXPECT(close_to(m.loss, 0.5342934235686807, 1e-12));
  EXPECT(m.reward_chosen == 42 && m.logp_rejected == 0);
  /* A params struct from an older header: beta only; the rest are defaults. */
  memset(&p, 0xff, sizeof p);
  p.struct_size = (uint32_t)(offsetof(xla_dpo_params, label_smoothing));
  p.beta = 0.5f;
  m.struct_size = sizeof m;
  EXPECT_OK(xla_dpo_loss(&p, kPc, kPr, kRc, kRr, 4, &m));
  EXPECT(close_to(m.loss, 0.5598064365687452, 1e-12)); /* trl 0.x sigmoid beta 0.5 */
}

/* Each bad call fails with the status, a message naming the problem, and *out untouched. */
static void expect_fails(xla_status st, const xla_dpo_metrics* m, const char* needle) {
  EXPECT(st == XLA_ERR_INVALID_ARG);
  EXPECT(strncmp(xla_last_error(), "xla_dpo_loss: ", 14) == 0);
  EXPECT(strstr(xla_last_error(), needle) != NULL);
  EXPECT(m->loss == -7.0 && m->reward_margin == -7.0);
}

static void test_errors(void) {
  const double nan_in[2] = {-1.0, NAN}, two[2] = {-1.0, -2.0};
  xla_dpo_params p;
  xla_dpo_metrics m;
  m.struct_size = sizeof m;
  m.loss = m.reward_margin = -7.0;
  expect_fails(xla_dpo_loss(NULL, NULL, kPr, kRc, kRr, 4, &m), &m, "policy_chosen is NULL");
  expect_fails(xla_dpo_loss(NULL, kPc, kPr, kRc, NULL, 4, &m), &m, "ref_rejected is NULL");
  expect_fails(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, 0, &m), &m, "n must be at least 1");
  expect_fails(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, -3, &m), &m, "n must be at least 1");
  EXPECT(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, 4, NULL) == XLA_ERR_INVALID_ARG);
  EXPECT(strstr(xla_last_error(), "out is NULL") != NULL);
  expect_fails(xla_dpo_loss(NULL, two, nan_in, two, two, 2, &m), &m, "policy_rejected[1] is not finite");
  m.struct_size = 0; /* never set */
  expect_fails(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, 4, &m), &m, "xla_dpo_metrics.struct_size is 0");
  m.struct_size = sizeof m + 8; /* from a newer header than this library */
  expect_fails(xla_dpo_loss(NULL, kPc, kPr, kRc, kRr, 4, &m), &m, "struct_size");
  m.struct_size = sizeof m;
  xla_dpo_params_init(&p);
  p.struct_size = 0;
  expect_fails(xla_dpo_loss(&p, kPc, kPr, kRc, kRr, 4, &m), &m, "xla_dpo_params.struct_size is 0");
  xla_dpo_params_init(&p);
  p.beta = 0;
  expect_fails(xla_dpo_loss(&p, kPc, kPr, kRc, kRr, 4, &m), &m, "beta must be > 0");
  xla_dpo_params_init(&p);
  p.label_smoothing = 0.5f;
  expect_fails(xla_dpo_loss(&p, kPc, kPr, kRc, kRr, 4, &m), &m, "label_smoothing must be in [0, 0.5)");
  xla_dpo_params_init(&p);
  p.loss_type = XLA_DPO_HINGE;
  p.label_smoothing = 0.1f;
  expect_fails(xla_dpo_loss(&p, kPc, kPr, kRc, kRr, 4, &m), &m, "sigmoid loss only");
  xla_dpo_params_init(&p);
  p.loss_type = 7;
  expect_fails(xla_dpo_loss(&p, kPc, kPr, kRc, kRr, 4, &m), &m, "loss type 7");
}

int main(void) {
  test_defaults();
  test_against_the_formulas();
  test_trl_numbers();
  test_large_margin();
  test_struct_sizes();
  test_errors();
  return finish("capi dpo");
}
