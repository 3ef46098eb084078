/* test_env_threads.c — the default thread count follows the environment, as OpenMP
 * programs' users expect: XLA_NUM_THREADS, else OMP_NUM_THREADS, else every core.
 * ctest runs it under several environments with the count it must see as argv[1]. */
#include <stdio.h>
#include <stdlib.h>

#include "xla/xla.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_env_threads EXPECTED\n");
    return 2;
  }
  const int expected = atoi(argv[1]);
  int failures = 0;
  if (xla_get_num_threads() != expected) {
    fprintf(stderr, "default: %d threads, expected %d\n", (int)xla_get_num_threads(), expected);
    ++failures;
  }
  /* An explicit count wins; 0 goes back to the environment's. */
  if (xla_set_num_threads(3) != XLA_OK || xla_get_num_threads() != 3) {
    fprintf(stderr, "set 3: got %d\n", (int)xla_get_num_threads());
    ++failures;
  }
  if (xla_set_num_threads(0) != XLA_OK || xla_get_num_threads() != expected) {
    fprintf(stderr, "reset: got %d, expected %d\n", (int)xla_get_num_threads(), expected);
    ++failures;
  }
  if (failures == 0) printf("threads: %d as the environment says\n", expected);
  return failures ? 1 : 0;
}
