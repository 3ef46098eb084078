/* expect.h — the C tests' tiny check macros: count passes and failures, print the failed
 * condition with the library's last error, and end with the "N passed, N failed" line. */
#ifndef XLA_TESTS_EXPECT_H
#define XLA_TESTS_EXPECT_H
#include <stdio.h>
#include <string.h>

#include "xla/xla.h"

static int g_failed = 0, g_passed = 0;

#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (cond) {                                                                                    \
      ++g_passed;                                                                                  \
    } else {                                                                                       \
      ++g_failed;                                                                                  \
      fprintf(stderr, "%s:%d: EXPECT(%s) failed (last error: %s)\n", __FILE__, __LINE__, #cond,    \
              xla_last_error());                                                                   \
    }                                                                                              \
  } while (0)
#define EXPECT_OK(call) EXPECT((call) == XLA_OK)

/* The library's last error message contains `word`. */
static inline int has(const char* word) { return strstr(xla_last_error(), word) != NULL; }

/* call returns `status`, and the message names `fn` and `word` */
#define BAD(call, status, fn, word) \
  do {                              \
    EXPECT((call) == (status));     \
    EXPECT(has(fn));                \
    EXPECT(has(word));              \
  } while (0)

/* Prints the closing line and gives main's exit status. */
static int finish(const char* name) {
  printf("%s: %d passed, %d failed\n", name, g_passed, g_failed);
  return g_failed ? 1 : 0;
}

#endif
