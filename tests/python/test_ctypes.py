"""test_ctypes.py — loads the built libxla.so from Python with ctypes (standard library only)
and checks real values through it: creation, broadcasting add, matmul, softmax, errors."""
import ctypes
import math
import os
import sys

lib = ctypes.CDLL(os.environ.get("LIBXLA", "libxla.so.0"))
P = ctypes.c_void_p
lib.xla_version_string.restype = ctypes.c_char_p
lib.xla_last_error.restype = ctypes.c_char_p
lib.xla_tensor_create.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(ctypes.c_int64), P, ctypes.POINTER(P)]
lib.xla_tensor_read.argtypes = [P, P, ctypes.c_size_t]
lib.xla_tensor_free.argtypes = [P]
for name in ("xla_add", "xla_matmul"):
    getattr(lib, name).argtypes = [P, P, ctypes.POINTER(P)]
lib.xla_softmax.argtypes = [P, ctypes.c_int32, ctypes.POINTER(P)]

XLA_F32, XLA_ERR_SHAPE = 0, -2
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def tensor(values, shape):
    dims = (ctypes.c_int64 * len(shape))(*shape)
    data = (ctypes.c_float * len(values))(*values)
    out = P()
    st = lib.xla_tensor_create(XLA_F32, len(shape), dims, ctypes.cast(data, P), ctypes.byref(out))
    assert st == 0, lib.xla_last_error()
    return out


def read(t, n):
    buf = (ctypes.c_float * n)()
    assert lib.xla_tensor_read(t, ctypes.cast(buf, P), 4 * n) == 0, lib.xla_last_error()
    return list(buf)


check(lib.xla_version_string().decode().count(".") == 2, "version string")
a = tensor([1, 2, 3, 4, 5, 6], [2, 3])
b = tensor([10, 20, 30], [3])
s = P()
check(lib.xla_add(a, b, ctypes.byref(s)) == 0, "add status")
check(read(s, 6) == [11, 22, 33, 14, 25, 36], "broadcast add values")
# [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
w = tensor([1, 0, 0, 1, 1, 1], [3, 2])
m = P()
check(lib.xla_matmul(a, w, ctypes.byref(m)) == 0, "matmul status")
check(read(m, 4) == [4, 5, 10, 11], "matmul values")
sm = P()
check(lib.xla_softmax(a, -1, ctypes.byref(sm)) == 0, "softmax status")
z = sum(math.exp(v) for v in (4, 5, 6))  # second row
check(all(abs(x - math.exp(v) / z) < 1e-6 for x, v in zip(read(sm, 6)[3:], (4, 5, 6))), "softmax values")
bad = P()
check(lib.xla_matmul(a, a, ctypes.byref(bad)) == XLA_ERR_SHAPE and not bad.value, "matmul shape error")
check(b"inner dimensions" in lib.xla_last_error(), "error message")
for t in (a, b, s, w, m, sm):
    lib.xla_tensor_free(t)

print(f"python.ctypes: {8 - len(failures)} passed, {len(failures)} failed")
for f in failures:
    print("FAILED:", f)
sys.exit(1 if failures else 0)
