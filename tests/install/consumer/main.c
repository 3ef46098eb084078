/* main.c — a downstream C program: sums [1, 2, 3, 4] through the installed libxla. */
#include <stdio.h>

#include <xla/xla.h>

int main(void) {
  const int64_t shape[1] = {4};
  const float data[4] = {1, 2, 3, 4};
  xla_tensor *t = NULL, *s = NULL;
  float total = 0;
  if (xla_tensor_create(XLA_F32, 1, shape, data, &t) || xla_sum(t, NULL, 0, 0, &s) ||
      xla_tensor_read(s, &total, sizeof total)) {
    fprintf(stderr, "error: %s\n", xla_last_error());
    return 1;
  }
  printf("sum = %g\n", total);
  xla_tensor_free(s);
  xla_tensor_free(t);
  return total == 10.0f ? 0 : 1;
}
