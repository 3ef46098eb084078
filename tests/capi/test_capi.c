/* test_capi.c — the C API from plain C99: values through every family of entry points,
 * and bad input (NULL pointers, wrong byte counts, incompatible shapes, bad dtypes) giving
 * the documented status, a message that names the problem, and out-pointers untouched. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"


static xla_tensor* make_f32(int32_t ndim, const int64_t* shape, const float* data) {
  xla_tensor* t = NULL;
  if (xla_tensor_create(XLA_F32, ndim, shape, data, &t) != XLA_OK) {
    fprintf(stderr, "create failed: %s\n", xla_last_error());
    return NULL;
  }
  return t;
}

static int near(float a, float b, float tol) { return fabsf(a - b) <= tol; }

static void test_version(void) {
  char expect[32];
  sprintf(expect, "%d.%d.%d", XLA_VERSION_MAJOR, XLA_VERSION_MINOR, XLA_VERSION_PATCH);
  EXPECT(strcmp(xla_version_string(), expect) == 0);
  EXPECT(xla_abi_version() == XLA_ABI_VERSION);
  EXPECT(xla_last_error() != NULL);
}

static void test_create_read_roundtrip(void) {
  const int64_t shape[3] = {2, 1, 3};
  const int32_t ids[6] = {5, -7, 0, 2147483647, 1, 42};
  int32_t back[6] = {0};
  int32_t dtype = -1, ndim = -1;
  int64_t got[XLA_MAX_DIMS] = {0};
  int64_t numel = 0;
  size_t nbytes = 0;
  xla_tensor* t = NULL;
  EXPECT_OK(xla_tensor_create(XLA_I32, 3, shape, ids, &t));
  EXPECT_OK(xla_tensor_shape(t, &dtype, &ndim, got));
  EXPECT(dtype == XLA_I32 && ndim == 3 && got[0] == 2 && got[1] == 1 && got[2] == 3);
  EXPECT_OK(xla_tensor_numel(t, &numel, &nbytes));
  EXPECT(numel == 6 && nbytes == 24);
  EXPECT_OK(xla_tensor_read(t, back, sizeof back));
  EXPECT(memcmp(ids, back, sizeof ids) == 0);
  xla_tensor_free(t);
  xla_tensor_free(NULL); /* accepted */
}

static int g_released = 0;
static void count_release(void* user_data) { g_released += *(int*)user_data; }

/* A borrowed buffer: no copy either way, a write through xla_tensor_data is seen by the
   buffer's owner, and the release callback runs once, after the last view is freed. */
static void test_shared_memory(void) {
  float buf[6] = {1, 2, 3, 4, 5, 6}, back[2] = {0};
  const int64_t shape[2] = {2, 3};
  int64_t strides[XLA_MAX_DIMS] = {0};
  int weight = 1;
  void* p = NULL;
  xla_tensor *t = NULL, *col = NULL;
  g_released = 0;
  EXPECT_OK(xla_tensor_from_buffer(XLA_F32, 2, shape, buf, count_release, &weight, &t));
  EXPECT_OK(xla_tensor_data(t, &p, strides));
  EXPECT(p == (void*)buf && strides[0] == 3 && strides[1] == 1);
  EXPECT_OK(xla_slice(t, 1, 1, 2, 1, &col)); /* column 1: [2, 5], a view */
  EXPECT_OK(xla_tensor_data(col, &p, strides));
  EXPECT(p == (void*)(buf + 1) && strides[0] == 3);
  ((float*)p)[3] = 50; /* element [1, 0] of the view is buf[4] */
  EXPECT(buf[4] == 50);
  buf[1] = 20; /* and the owner's writes are seen by the tensors */
  EXPECT_OK(xla_tensor_read(col, back, sizeof back));
  EXPECT(back[0] == 20 && back[1] == 50);
  xla_tensor_free(t);
  EXPECT(g_released == 0); /* the view still uses the buffer */
  xla_tensor_free(col);
  EXPECT(g_released == 1);
}

static void test_zeros_and_bf16(void) {
  const int64_t shape[1] = {3};
  const float vals[3] = {1.0f, 1.00390625f /* 1 + 2^-8: a bf16 tie, rounds to even (1.0) */, -2.5f};
  float back[3];
  uint16_t bits[3];
  xla_tensor *z = NULL, *x = make_f32(1, shape, vals), *b = NULL, *f = NULL;
  EXPECT_OK(xla_tensor_create(XLA_F32, 1, shape, NULL, &z));
  EXPECT_OK(xla_tensor_read(z, back, sizeof back));
  EXPECT(back[0] == 0.f && back[1] == 0.f && back[2] == 0.f);
  EXPECT_OK(xla_cast(x, XLA_BF16, &b));
  EXPECT_OK(xla_tensor_read(b, bits, sizeof bits));
  EXPECT(bits[0] == 0x3F80 && bits[1] == 0x3F80 && bits[2] == 0xC020);
  EXPECT_OK(xla_cast(b, XLA_F32, &f));
  EXPECT_OK(xla_tensor_read(f, back, sizeof back));
  EXPECT(back[0] == 1.f && back[1] == 1.f && back[2] == -2.5f);
  xla_tensor_free(z);
  xla_tensor_free(x);
  xla_tensor_free(b);
  xla_tensor_free(f);
}

static void test_broadcast_add_and_matmul(void) {
  /* a [2, 3] + b [3] = each row plus [10, 20, 30] */
  const int64_t sa[2] = {2, 3}, sb[1] = {3}, sw[2] = {3, 2};
  const float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30}, w[6] = {1, 0, 0, 1, 1, 1};
  float out[6], mm[4];
  xla_tensor *ta = make_f32(2, sa, a), *tb = make_f32(1, sb, b), *tw = make_f32(2, sw, w);
  xla_tensor *sum = NULL, *prod = NULL;
  int i;
  EXPECT_OK(xla_add(ta, tb, &sum));
  EXPECT_OK(xla_tensor_read(sum, out, sizeof out));
  for (i = 0; i < 6; ++i) EXPECT(out[i] == a[i] + b[i % 3]);
  /* [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[1+3, 2+3], [4+6, 5+6]] */
  EXPECT_OK(xla_matmul(ta, tw, &prod));
  EXPECT_OK(xla_tensor_read(prod, mm, sizeof mm));
  EXPECT(mm[0] == 4 && mm[1] == 5 && mm[2] == 10 && mm[3] == 11);
  xla_tensor_free(ta);
  xla_tensor_free(tb);
  xla_tensor_free(tw);
  xla_tensor_free(sum);
  xla_tensor_free(prod);
}

static void test_reductions_softmax(void) {
  const int64_t s[2] = {2, 3};
  const float x[6] = {1, 2, 3, 4, 5, 6};
  const int32_t axis0 = 0;
  float col[3], soft[6], all;
  int64_t arg[2];
  xla_tensor *t = make_f32(2, s, x), *r = NULL, *sm = NULL, *tot = NULL, *am = NULL;
  EXPECT_OK(xla_sum(t, &axis0, 1, 0, &r)); /* column sums: 5 7 9 */
  EXPECT_OK(xla_tensor_read(r, col, sizeof col));
  EXPECT(col[0] == 5 && col[1] == 7 && col[2] == 9);
  EXPECT_OK(xla_sum(t, NULL, 0, 0, &tot)); /* all: 21 */
  EXPECT_OK(xla_tensor_read(tot, &all, sizeof all));
  EXPECT(all == 21);
  /* softmax([1,2,3]) = [e^-2, e^-1, 1] / (1 + e^-1 + e^-2) = 0.0900306, 0.2447285, 0.6652410 */
  EXPECT_OK(xla_softmax(t, -1, &sm));
  EXPECT_OK(xla_tensor_read(sm, soft, sizeof soft));
  EXPECT(near(soft[0], 0.0900306f, 1e-6f) && near(soft[1], 0.2447285f, 1e-6f) && near(soft[2], 0.6652410f, 1e-6f));
  EXPECT(near(soft[3], soft[0], 1e-7f)); /* shift invariance: row 2 is row 1 plus 3 */
  EXPECT_OK(xla_argmax(t, 1, 0, &am));
  EXPECT_OK(xla_tensor_read(am, arg, sizeof arg));
  EXPECT(arg[0] == 2 && arg[1] == 2);
  xla_tensor_free(t);
  xla_tensor_free(r);
  xla_tensor_free(sm);
  xla_tensor_free(tot);
  xla_tensor_free(am);
}

static void test_views_and_split(void) {
  const int64_t s[2] = {2, 3}, flat[1] = {-1};
  const float x[6] = {1, 2, 3, 4, 5, 6};
  const int64_t pieces[1] = {2};
  float tr[6], v[2];
  xla_tensor *t = make_f32(2, s, x), *tt = NULL, *f = NULL, *outs[2] = {NULL, NULL}, *one[1] = {NULL};
  size_t n = 0;
  int64_t shape[XLA_MAX_DIMS];
  int32_t ndim = 0;
  EXPECT_OK(xla_transpose(t, 0, 1, &tt)); /* [[1,4],[2,5],[3,6]] read row-major */
  EXPECT_OK(xla_tensor_read(tt, tr, sizeof tr));
  EXPECT(tr[0] == 1 && tr[1] == 4 && tr[2] == 2 && tr[3] == 5 && tr[4] == 3 && tr[5] == 6);
  EXPECT_OK(xla_reshape(tt, 1, flat, &f));
  EXPECT_OK(xla_tensor_shape(f, NULL, &ndim, shape));
  EXPECT(ndim == 1 && shape[0] == 6);
  /* split 3 columns into pieces of 2: [2,2] and [2,1]; too small a buffer reports 2 */
  EXPECT(xla_split(t, pieces, 1, 1, one, 1, &n) == XLA_ERR_BUFFER_TOO_SMALL);
  EXPECT(n == 2 && one[0] == NULL);
  EXPECT_OK(xla_split(t, pieces, 1, 1, outs, 2, &n));
  EXPECT(n == 2);
  EXPECT_OK(xla_tensor_read(outs[1], v, sizeof v));
  EXPECT(v[0] == 3 && v[1] == 6);
  xla_tensor_free(t);
  xla_tensor_free(tt);
  xla_tensor_free(f);
  xla_tensor_free(outs[0]);
  xla_tensor_free(outs[1]);
}

static void test_bad_input(void) {
  const int64_t s23[2] = {2, 3}, s4[1] = {4}, neg[1] = {-3};
  const int64_t huge[2] = {(int64_t)1 << 31, (int64_t)1 << 31}, wrap[2] = {(int64_t)1 << 62, 4};
  const float x[6] = {1, 2, 3, 4, 5, 6}, y[4] = {1, 2, 3, 4};
  xla_tensor *a = make_f32(2, s23, x), *b = make_f32(1, s4, y);
  xla_tensor* sentinel = (xla_tensor*)&g_passed; /* any non-NULL value: must stay untouched */
  xla_tensor* out = sentinel;
  float small[5];
  int32_t bad_axis = 7;

  /* incompatible shapes: [2,3] + [4] */
  EXPECT(xla_add(a, b, &out) == XLA_ERR_SHAPE);
  EXPECT(out == sentinel);
  /* the C++ op's own name ("add: ") is not repeated after the entry point's */
  EXPECT(strcmp(xla_last_error(), "xla_add: shapes [2, 3] and [4] cannot be broadcast together") == 0);
  EXPECT(xla_matmul(a, a, &out) == XLA_ERR_SHAPE && out == sentinel);
  EXPECT(strcmp(xla_last_error(), "xla_matmul: inner dimensions differ: [2, 3] @ [2, 3]") == 0);
  /* NULL pointers */
  EXPECT(xla_add(NULL, b, &out) == XLA_ERR_INVALID_ARG && out == sentinel);
  EXPECT(strstr(xla_last_error(), "a is NULL") != NULL);
  EXPECT(xla_add(a, b, NULL) == XLA_ERR_INVALID_ARG);
  EXPECT(xla_tensor_create(XLA_F32, 2, NULL, x, &out) == XLA_ERR_INVALID_ARG && out == sentinel);
  EXPECT(xla_tensor_shape(NULL, NULL, NULL, NULL) == XLA_ERR_INVALID_ARG);
  /* wrong byte count, named in the message */
  EXPECT(xla_tensor_read(a, small, sizeof small) == XLA_ERR_INVALID_ARG);
  EXPECT(strstr(xla_last_error(), "20 bytes") != NULL && strstr(xla_last_error(), "24") != NULL);
  /* bad dtype, ndim, extents, axis */
  EXPECT(xla_tensor_create(99, 1, s4, y, &out) == XLA_ERR_INVALID_ARG && out == sentinel);
  EXPECT(xla_tensor_create(XLA_F32, 9, s4, y, &out) == XLA_ERR_INVALID_ARG && out == sentinel);
  EXPECT(xla_tensor_create(XLA_F32, 1, neg, NULL, &out) == XLA_ERR_SHAPE && out == sentinel);
  /* sizes past memory: 2^31 x 2^31 f32 is 2^64 bytes (it wrapped to an empty buffer), 2^62 x 4 elements overflow int64 */
  EXPECT(xla_tensor_create(XLA_F32, 2, huge, NULL, &out) == XLA_ERR_SHAPE && out == sentinel);
  EXPECT(strstr(xla_last_error(), "[2147483648, 2147483648]") != NULL);
  EXPECT(xla_tensor_create(XLA_F32, 2, wrap, NULL, &out) == XLA_ERR_SHAPE && out == sentinel);
  EXPECT(strstr(xla_last_error(), "2^63") != NULL);
  EXPECT(xla_sum(a, &bad_axis, 1, 0, &out) == XLA_ERR_INVALID_ARG && out == sentinel);
  EXPECT(strstr(xla_last_error(), "axis 7") != NULL);
  EXPECT(xla_sum(a, NULL, 1, 0, &out) == XLA_ERR_INVALID_ARG && out == sentinel);
  EXPECT(xla_concat(NULL, 2, 0, &out) == XLA_ERR_INVALID_ARG && out == sentinel);
  /* a failed call leaves the last error; a successful one does not erase it */
  EXPECT(xla_add(a, b, &out) == XLA_ERR_SHAPE);
  EXPECT_OK(xla_neg(a, &out));
  EXPECT(strstr(xla_last_error(), "xla_add") != NULL);
  xla_tensor_free(out);
  xla_tensor_free(a);
  xla_tensor_free(b);
}

int main(void) {
  test_version();
  test_create_read_roundtrip();
  test_zeros_and_bf16();
  test_shared_memory();
  test_broadcast_add_and_matmul();
  test_reductions_softmax();
  test_views_and_split();
  test_bad_input();
  return finish("capi");
}
