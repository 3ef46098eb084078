/* test_autograd.c — autograd through the C API in plain C99: gradients against hand
 * derivations, cross-entropy's value and gradient, grad mode, detach, and the errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"


static xla_tensor* f32(int32_t ndim, const int64_t* shape, const float* data) {
  xla_tensor* t = NULL;
  xla_tensor_create(XLA_F32, ndim, shape, data, &t);
  return t;
}

static void test_square_sum(void) {
  /* y = sum(x * x): dy/dx = 2x */
  const int64_t s[1] = {3};
  const float x0[3] = {1.f, -2.f, 0.5f};
  float g[3];
  int32_t flag = -1;
  xla_tensor *x = f32(1, s, x0), *sq = NULL, *y = NULL, *gx = NULL, *none = (xla_tensor*)&g_passed;
  EXPECT_OK(xla_tensor_grad(x, &none));
  EXPECT(none == NULL); /* no gradient yet */
  EXPECT_OK(xla_tensor_set_requires_grad(x, 1));
  EXPECT_OK(xla_mul(x, x, &sq));
  EXPECT_OK(xla_tensor_requires_grad(sq, &flag));
  EXPECT(flag == 1);
  EXPECT_OK(xla_sum(sq, NULL, 0, 0, &y));
  EXPECT_OK(xla_backward(y));
  EXPECT_OK(xla_tensor_grad(x, &gx));
  EXPECT_OK(xla_tensor_read(gx, g, sizeof g));
  EXPECT(g[0] == 2.f && g[1] == -4.f && g[2] == 1.f);
  /* the graph was freed: a second backward is an error naming retain_graph */
  EXPECT(xla_backward(y) == XLA_ERR_INVALID_ARG);
  EXPECT(strstr(xla_last_error(), "retain_graph") != NULL);
  EXPECT_OK(xla_tensor_zero_grad(x));
  xla_tensor_free(gx);
  gx = NULL;
  EXPECT_OK(xla_tensor_grad(x, &gx));
  EXPECT(gx == NULL);
  xla_tensor_free(x);
  xla_tensor_free(sq);
  xla_tensor_free(y);
}

static void test_cross_entropy(void) {
  /* logits [[0, 0, ln 2], [1, 2, 3]], targets [2, 0]:
     row 0: softmax = [1/4, 1/4, 1/2], loss = -ln(1/2) = ln 2
     row 1: lse = 3 + ln(1 + e^-1 + e^-2), loss = lse - 1
     mean loss = (ln 2 + lse - 1) / 2; dloss/dlogits = (softmax - onehot) / 2 */
  const int64_t sl[2] = {2, 3}, st[1] = {2};
  const float logits0[6] = {0.f, 0.f, (float)log(2.0), 1.f, 2.f, 3.f};
  const int32_t targets0[2] = {2, 0};
  double lse1 = 3.0 + log(1.0 + exp(-1.0) + exp(-2.0));
  double want = (log(2.0) + lse1 - 1.0) / 2.0;
  float loss = 0, g[6];
  xla_tensor *logits = f32(2, sl, logits0), *targets = NULL, *l = NULL, *gl = NULL;
  int i;
  EXPECT_OK(xla_tensor_create(XLA_I32, 1, st, targets0, &targets));
  EXPECT_OK(xla_tensor_set_requires_grad(logits, 1));
  EXPECT_OK(xla_cross_entropy(logits, targets, -100, 0.f, &l));
  EXPECT_OK(xla_tensor_read(l, &loss, sizeof loss));
  EXPECT(fabs(loss - want) < 1e-6);
  EXPECT_OK(xla_backward(l));
  EXPECT_OK(xla_tensor_grad(logits, &gl));
  EXPECT_OK(xla_tensor_read(gl, g, sizeof g));
  EXPECT(fabsf(g[0] - 0.125f) < 1e-6f && fabsf(g[1] - 0.125f) < 1e-6f && fabsf(g[2] - (-0.25f)) < 1e-6f);
  for (i = 0; i < 3; ++i) {
    double p = exp((double)logits0[3 + i] - lse1);
    EXPECT(fabs(g[3 + i] - (p - (i == 0 ? 1.0 : 0.0)) / 2.0) < 1e-6);
  }
  xla_tensor_free(l);
  l = (xla_tensor*)&g_passed;
  EXPECT(xla_cross_entropy(logits, logits, -100, 0.f, &l) == XLA_ERR_DTYPE && l == (xla_tensor*)&g_passed);
  xla_tensor_free(logits);
  xla_tensor_free(targets);
  xla_tensor_free(gl);
}

static void test_grad_mode_and_detach(void) {
  const int64_t s[1] = {2};
  const float v[2] = {3.f, 4.f};
  float g[2];
  int32_t flag = -1;
  xla_tensor *x = f32(1, s, v), *y = NULL, *d = NULL, *z = NULL, *sum = NULL, *gx = NULL;
  EXPECT_OK(xla_tensor_set_requires_grad(x, 1));
  EXPECT(xla_set_grad_enabled(0) == 1);
  EXPECT(xla_is_grad_enabled() == 0);
  EXPECT_OK(xla_mul(x, x, &y));
  EXPECT_OK(xla_tensor_requires_grad(y, &flag));
  EXPECT(flag == 0);
  EXPECT(xla_set_grad_enabled(1) == 0);
  /* z = x * detach(x): dz/dx = detach(x) = x */
  EXPECT_OK(xla_tensor_detach(x, &d));
  EXPECT_OK(xla_mul(x, d, &z));
  EXPECT_OK(xla_sum(z, NULL, 0, 0, &sum));
  EXPECT_OK(xla_backward(sum));
  EXPECT_OK(xla_tensor_grad(x, &gx));
  EXPECT_OK(xla_tensor_read(gx, g, sizeof g));
  EXPECT(g[0] == 3.f && g[1] == 4.f);
  xla_tensor_free(x);
  xla_tensor_free(y);
  xla_tensor_free(d);
  xla_tensor_free(z);
  xla_tensor_free(sum);
  xla_tensor_free(gx);
}

static void test_errors(void) {
  const int64_t s[1] = {2};
  const float v[2] = {1.f, 2.f};
  const int32_t ids[2] = {0, 1};
  xla_tensor *x = f32(1, s, v), *y = NULL, *i = NULL, *seed = NULL;
  EXPECT(xla_backward(NULL) == XLA_ERR_INVALID_ARG);
  EXPECT(xla_backward(x) == XLA_ERR_INVALID_ARG); /* does not require grad */
  EXPECT(strstr(xla_last_error(), "does not require grad") != NULL);
  EXPECT_OK(xla_tensor_set_requires_grad(x, 1));
  EXPECT_OK(xla_mul(x, x, &y));
  EXPECT(xla_backward(y) == XLA_ERR_INVALID_ARG); /* two elements: needs a seed */
  EXPECT(strstr(xla_last_error(), "seed") != NULL);
  EXPECT_OK(xla_tensor_create(XLA_F32, 1, s, v, &seed));
  EXPECT_OK(xla_backward_seeded(y, seed, 0)); /* d(Σ s ⊙ x²)/dx = 2 s x = [2, 8] */
  EXPECT(xla_tensor_set_requires_grad(y, 0) == XLA_ERR_INVALID_ARG);
  EXPECT_OK(xla_tensor_create(XLA_I32, 1, s, ids, &i));
  EXPECT(xla_tensor_set_requires_grad(i, 1) == XLA_ERR_DTYPE);
  EXPECT(xla_tensor_grad(x, NULL) == XLA_ERR_INVALID_ARG);
  {
    xla_tensor* gx = NULL;
    float g[2];
    EXPECT_OK(xla_tensor_grad(x, &gx));
    EXPECT_OK(xla_tensor_read(gx, g, sizeof g));
    EXPECT(g[0] == 2.f && g[1] == 8.f);
    xla_tensor_free(gx);
  }
  xla_tensor_free(x);
  xla_tensor_free(y);
  xla_tensor_free(i);
  xla_tensor_free(seed);
}

int main(void) {
  test_square_sum();
  test_cross_entropy();
  test_grad_mode_and_detach();
  test_errors();
  return finish("capi autograd");
}
