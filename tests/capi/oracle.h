/* oracle.h — reading the reference data of ../shared/oracle from the C tests: a whole file,
 * and the numbers after a key of a JSON file (no JSON parser: the files' layout is known). */
#ifndef XLA_TESTS_ORACLE_H
#define XLA_TESTS_ORACLE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif

/* The file's bytes, NUL-terminated (malloc'ed; NULL when it cannot be opened); *size = its length. */
static char* read_file(const char* path, long* size) {
  FILE* f = fopen(path, "rb");
  char* buf;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (char*)malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
  buf[n] = 0;
  fclose(f);
  if (size) *size = n;
  return buf;
}

/* The numbers after the k-th occurrence of "key": [a, b, ...] or a single number. */
static int read_numbers(const char* json, const char* key, int k, double* out, int cap) {
  const char* p = json;
  int n = 0, i;
  for (i = 0; i <= k; ++i) {
    p = strstr(p, key);
    if (!p) return 0;
    p += strlen(key);
  }
  p = strchr(p, ':') + 1;
  while (*p == ' ') ++p;
  if (*p != '[') {
    out[0] = strtod(p, NULL);
    return 1;
  }
  ++p;
  while (n < cap) {
    char* end;
    double v = strtod(p, &end);
    if (end == p) break;
    out[n++] = v;
    p = end;
    while (*p == ',' || *p == ' ' || *p == '\n') ++p;
  }
  return n;
}

#endif
