/* autograd.c — gradients from C: f(x) = sum(tanh(x) * x), its gradient by backward, and the
 * same derivative by central finite differences, side by side.
 *   d/dx [tanh(x)·x] = tanh(x) + x·(1 − tanh²(x)) */
#include <math.h>
#include <stdio.h>

#include "xla/xla.h"

#define CHECK(call)                                                \
  do {                                                             \
    if ((call) != XLA_OK) {                                        \
      fprintf(stderr, "%s failed: %s\n", #call, xla_last_error()); \
      return 1;                                                    \
    }                                                              \
  } while (0)

/* f at x (no graph recorded: grad mode off) */
static float f_at(const float* x, int n) {
  const int64_t shape[1] = {n};
  xla_tensor *t = NULL, *th = NULL, *prod = NULL, *s = NULL;
  float v = NAN;
  int32_t was = xla_set_grad_enabled(0);
  if (xla_tensor_create(XLA_F32, 1, shape, x, &t) == XLA_OK && xla_tanh(t, &th) == XLA_OK &&
      xla_mul(th, t, &prod) == XLA_OK && xla_sum(prod, NULL, 0, 0, &s) == XLA_OK)
    xla_tensor_read(s, &v, sizeof v);
  xla_set_grad_enabled(was);
  xla_tensor_free(s);
  xla_tensor_free(prod);
  xla_tensor_free(th);
  xla_tensor_free(t);
  return v;
}

int main(void) {
  float x[4] = {-1.5f, -0.2f, 0.3f, 2.0f}, g[4];
  const int64_t shape[1] = {4};
  xla_tensor *t = NULL, *th = NULL, *prod = NULL, *s = NULL, *grad = NULL;
  float worst = 0;
  int i;

  CHECK(xla_tensor_create(XLA_F32, 1, shape, x, &t));
  CHECK(xla_tensor_set_requires_grad(t, 1)); /* a leaf: backward fills its .grad */
  CHECK(xla_tanh(t, &th));
  CHECK(xla_mul(th, t, &prod));
  CHECK(xla_sum(prod, NULL, 0, 0, &s));
  CHECK(xla_backward(s));
  CHECK(xla_tensor_grad(t, &grad));
  CHECK(xla_tensor_read(grad, g, sizeof g));

  printf("   x     backward   finite difference\n");
  for (i = 0; i < 4; ++i) {
    const float h = 1e-2f, xi = x[i];
    float numeric;
    x[i] = xi + h;
    numeric = f_at(x, 4);
    x[i] = xi - h;
    numeric = (numeric - f_at(x, 4)) / (2 * h);
    x[i] = xi;
    printf("%5.2f   %8.5f   %8.5f\n", xi, g[i], numeric);
    if (fabsf(g[i] - numeric) > worst) worst = fabsf(g[i] - numeric);
  }
  printf("largest difference: %.2e\n", worst);
  xla_tensor_free(grad);
  xla_tensor_free(s);
  xla_tensor_free(prod);
  xla_tensor_free(th);
  xla_tensor_free(t);
  return worst < 1e-2f ? 0 : 1;
}
