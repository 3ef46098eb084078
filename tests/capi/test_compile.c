/* test_compile.c — the compiler through the C API: a function of C ops captured, replayed
 * on new inputs with the eager ops' exact bits, weights read live, the dumps, the errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"

typedef struct {
  xla_tensor* w; /* [4]: a weight the function reads without getting it as an input */
} norm_weights;

/* y = x * rsqrt(mean(x*x, -1) + 1e-6) * w, and the row means as a second result. */
static int32_t rms_norm(xla_tensor* const* in, int32_t n_in, xla_tensor** out, int32_t n_out, void* user) {
  const norm_weights* nw = (const norm_weights*)user;
  const int32_t last = -1;
  const int64_t none[1] = {0};
  xla_tensor *sq = NULL, *ms = NULL, *eps = NULL, *sum = NULL, *r = NULL, *xr = NULL;
  int32_t rc = 1;
  (void)n_in;
  (void)n_out;
  if (xla_mul(in[0], in[0], &sq) || xla_mean(sq, &last, 1, 1, &ms) || xla_full(XLA_F32, 0, none, 1e-6, &eps) ||
      xla_add(ms, eps, &sum) || xla_rsqrt(sum, &r) || xla_mul(in[0], r, &xr) || xla_mul(xr, nw->w, &out[0]) ||
      xla_tensor_clone(ms, &out[1]))
    goto done;
  rc = 0;
done:
  xla_tensor_free(sq);
  xla_tensor_free(ms);
  xla_tensor_free(eps);
  xla_tensor_free(sum);
  xla_tensor_free(r);
  xla_tensor_free(xr);
  return rc;
}

/* silu(x) · x: one fused loop, over flat blocks when rows are short */
static int32_t swish_gate(xla_tensor* const* in, int32_t n_in, xla_tensor** out, int32_t n_out, void* user) {
  xla_tensor* s = NULL;
  int32_t bad;
  (void)n_in;
  (void)n_out;
  (void)user;
  bad = xla_silu(in[0], &s) != XLA_OK || xla_mul(s, in[0], &out[0]) != XLA_OK;
  xla_tensor_free(s);
  return bad;
}

static xla_tensor* make(const float* v, int32_t ndim, const int64_t* shape) {
  xla_tensor* t = NULL;
  EXPECT_OK(xla_tensor_create(XLA_F32, ndim, shape, v, &t));
  return t;
}

static int same_bits(const xla_tensor* a, const xla_tensor* b, size_t n) {
  float x[64], y[64];
  if (xla_tensor_read(a, x, n * sizeof(float)) || xla_tensor_read(b, y, n * sizeof(float))) return 0;
  return memcmp(x, y, n * sizeof(float)) == 0;
}

int main(void) {
  const int64_t xs[2] = {3, 4}, ws[1] = {4};
  const float w0[4] = {1.0f, 0.5f, -2.0f, 3.0f};
  float xv[12];
  int i, k;
  norm_weights nw;
  xla_graph* g = NULL;
  xla_tensor *x = NULL, *got[2] = {NULL, NULL}, *want[2] = {NULL, NULL};
  const xla_tensor* in[1];
  char small[4], text[8192];
  size_t len = 0;

  nw.w = make(w0, 1, ws);
  for (i = 0; i < 12; ++i) xv[i] = (float)sin(0.7 * i) * 3.0f;
  x = make(xv, 2, xs);
  in[0] = x;
  EXPECT_OK(xla_compile(rms_norm, &nw, in, 1, 2, 0, &g));

  /* new inputs: the graph gives what the function gives, bit for bit */
  for (k = 0; k < 3; ++k) {
    xla_tensor* x2;
    for (i = 0; i < 12; ++i) xv[i] = (float)cos(0.3 * i + k) * (float)(k + 1);
    x2 = make(xv, 2, xs);
    in[0] = x2;
    EXPECT_OK(xla_graph_run(g, in, 1, got, 2));
    EXPECT(rms_norm((xla_tensor* const*)in, 1, want, 2, &nw) == 0);
    EXPECT(same_bits(got[0], want[0], 12));
    EXPECT(same_bits(got[1], want[1], 3));
    for (i = 0; i < 2; ++i) {
      xla_tensor_free(got[i]);
      xla_tensor_free(want[i]);
    }
    xla_tensor_free(x2);
  }

  /* the example input itself, after other runs */
  in[0] = x;
  EXPECT_OK(xla_graph_run(g, in, 1, got, 2));
  EXPECT(rms_norm((xla_tensor* const*)in, 1, want, 2, &nw) == 0);
  EXPECT(same_bits(got[0], want[0], 12));

  /* dumps: too small a buffer reports the size needed; the optimised graph shows its loops */
  EXPECT(xla_graph_dump(g, XLA_GRAPH_OPTIMIZED, XLA_GRAPH_TEXT, small, sizeof small, &len) == XLA_ERR_BUFFER_TOO_SMALL);
  EXPECT(len > sizeof small && len < sizeof text);
  EXPECT_OK(xla_graph_dump(g, XLA_GRAPH_OPTIMIZED, XLA_GRAPH_TEXT, text, sizeof text, &len));
  EXPECT(strlen(text) == len && strstr(text, "fused loop [3, 4] {mul → mean}") != NULL);
  EXPECT_OK(xla_graph_dump(g, XLA_GRAPH_CAPTURED, XLA_GRAPH_DOT, text, sizeof text, &len));
  EXPECT(strncmp(text, "digraph G {", 11) == 0 && strstr(text, "rsqrt") != NULL);

  /* the profile: a first line for the runs, then each kind of step with its steps over all
     runs (three fused loops a run here), tab-separated; the same size rule as the dumps */
  {
    char* line;
    long loops = -1, runs = -1;
    double seconds = -1;
    EXPECT(xla_graph_profile(g, in, 1, 3, small, sizeof small, &len) == XLA_ERR_BUFFER_TOO_SMALL);
    EXPECT(len > sizeof small && len < sizeof text);
    EXPECT_OK(xla_graph_profile(g, in, 1, 3, text, sizeof text, &len));
    EXPECT(strlen(text) == len);
    EXPECT(sscanf(text, "runs\t%ld\t%lf\n", &runs, &seconds) == 2 && runs == 3 && seconds > 0);
    line = strstr(text, "\nfused loop\t");
    EXPECT(line != NULL && sscanf(line, "\nfused loop\t%ld\t", &loops) == 1 && loops == 9);
    EXPECT(xla_graph_profile(g, in, 1, 0, text, sizeof text, &len) == XLA_ERR_INVALID_ARG);
    EXPECT(strstr(xla_last_error(), "runs is 0") != NULL);
    EXPECT(xla_graph_profile(NULL, in, 1, 1, text, sizeof text, &len) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_graph_profile(g, in, 1, 1, text, sizeof text, NULL) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_graph_profile(g, NULL, 1, 1, text, sizeof text, &len) == XLA_ERR_INVALID_ARG);
    /* a run after the profile: the function's bits */
    xla_tensor_free(got[0]);
    xla_tensor_free(got[1]);
    EXPECT_OK(xla_graph_run(g, in, 1, got, 2));
    EXPECT(same_bits(got[0], want[0], 12));
  }

  for (i = 0; i < 2; ++i) {
    xla_tensor_free(got[i]);
    xla_tensor_free(want[i]);
  }
  xla_graph_free(g);
  xla_tensor_free(x);
  xla_tensor_free(nw.w);

  /* 9·3·97 = 2619 elements in rows of 97: flat blocks of 2048 shared by the threads, the
     last one short (a block read or written past the end shows under the sanitizers) */
  {
    enum { N = 9 * 3 * 97 };
    const int64_t shape[3] = {9, 3, 97};
    static float v[N], a[N], b[N];
    xla_tensor *t = NULL, *t2 = NULL, *r = NULL, *e = NULL;
    for (i = 0; i < N; ++i) v[i] = (float)sin(0.01 * i) * 4.0f;
    t = make(v, 3, shape);
    in[0] = t;
    EXPECT_OK(xla_compile(swish_gate, NULL, in, 1, 1, 0, &g));
    for (i = 0; i < N; ++i) v[i] = (float)cos(0.02 * i) * 3.0f;
    t2 = make(v, 3, shape);
    in[0] = t2;
    EXPECT_OK(xla_graph_run(g, in, 1, &r, 1));
    EXPECT(swish_gate((xla_tensor* const*)in, 1, &e, 1, NULL) == 0);
    EXPECT_OK(xla_tensor_read(r, a, sizeof a));
    EXPECT_OK(xla_tensor_read(e, b, sizeof b));
    EXPECT(memcmp(a, b, sizeof a) == 0);
    xla_tensor_free(r);
    xla_tensor_free(e);
    xla_tensor_free(t2);
    xla_tensor_free(t);
    xla_graph_free(g);
  }
  return finish("capi.compile");
}
