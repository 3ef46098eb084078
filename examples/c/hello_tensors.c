/* hello_tensors.c — libxla's C API in a few lines: a tiny linear layer and a softmax.
 * Builds x [2, 3] and W [3, 4], computes softmax(x @ W) row by row, and prints it. */
#include <stdio.h>

#include "xla/xla.h"

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != XLA_OK) {                                                \
      fprintf(stderr, "%s failed: %s\n", #call, xla_last_error());         \
      return 1;                                                            \
    }                                                                      \
  } while (0)

int main(void) {
  const float x_data[6] = {1, 2, 3, 4, 5, 6};
  const float w_data[12] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f, 1.2f};
  const int64_t x_shape[2] = {2, 3}, w_shape[2] = {3, 4};
  xla_tensor *x = NULL, *w = NULL, *y = NULL, *p = NULL;
  float probs[8];
  int i, j;

  printf("libxla %s (ABI %u)\n", xla_version_string(), (unsigned)xla_abi_version());
  CHECK(xla_tensor_create(XLA_F32, 2, x_shape, x_data, &x));
  CHECK(xla_tensor_create(XLA_F32, 2, w_shape, w_data, &w));
  CHECK(xla_matmul(x, w, &y));   /* [2, 3] @ [3, 4] -> [2, 4] */
  CHECK(xla_softmax(y, -1, &p)); /* each row sums to 1 */
  CHECK(xla_tensor_read(p, probs, sizeof probs));
  for (i = 0; i < 2; ++i) {
    printf("softmax(x @ W)[%d] =", i);
    for (j = 0; j < 4; ++j) printf(" %.4f", probs[i * 4 + j]);
    printf("\n");
  }
  /* errors are values: a shape mismatch comes back as a status and a message */
  if (xla_matmul(w, w, &y) == XLA_ERR_SHAPE) printf("as expected: %s\n", xla_last_error());
  xla_tensor_free(p);
  xla_tensor_free(y);
  xla_tensor_free(w);
  xla_tensor_free(x);
  return 0;
}
