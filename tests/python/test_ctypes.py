"""test_ctypes.py — loads the built libxla.so from Python with ctypes (standard library only)
and checks real values through it: creation, broadcasting add, matmul, softmax, errors, the
DPO loss against TRL's numbers (../shared/oracle/dpo/dpo_formulas.json), and the size and
every field offset of the bindings' ctypes structs against the C layout pinned in
capi/abi_layout.cpp (generated from xla.h by abi/gen_layout.py)."""
import ctypes
import json
import math
import os
import re
import sys
from typing import Any, Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
failures: List[str] = []
n_checks = 0


def check(cond: Any, what: str) -> None:
    global n_checks
    n_checks += 1
    if not cond:
        failures.append(what)


def tensor(values: List[float], shape: List[int]) -> ctypes.c_void_p:
    dims = (ctypes.c_int64 * len(shape))(*shape)
    data = (ctypes.c_float * len(values))(*values)
    out = P()
    st = lib.xla_tensor_create(XLA_F32, len(shape), dims, ctypes.cast(data, P), ctypes.byref(out))
    assert st == 0, lib.xla_last_error()
    return out


def read(t: ctypes.c_void_p, n: int) -> List[float]:
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
mm = P()
check(lib.xla_matmul(a, w, ctypes.byref(mm)) == 0, "matmul status")
check(read(mm, 4) == [4, 5, 10, 11], "matmul values")
sm = P()
check(lib.xla_softmax(a, -1, ctypes.byref(sm)) == 0, "softmax status")
z = sum(math.exp(v) for v in (4, 5, 6))  # second row
check(all(abs(x - math.exp(v) / z) < 1e-6 for x, v in zip(read(sm, 6)[3:], (4, 5, 6))), "softmax values")
bad = P()
check(lib.xla_matmul(a, a, ctypes.byref(bad)) == XLA_ERR_SHAPE and not bad.value, "matmul shape error")
check(b"inner dimensions" in lib.xla_last_error(), "error message")
for t in (a, b, s, w, mm, sm):
    lib.xla_tensor_free(t)


# ---- DPO: the C structs as ctypes sees them, every TRL 0.x case of dpo_formulas.json ----
class DpoParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("beta", ctypes.c_float), ("label_smoothing", ctypes.c_float),
                ("loss_type", ctypes.c_int32)]


class DpoMetrics(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32)] + [(f, ctypes.c_double) for f in (
        "loss", "reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin", "logp_chosen",
        "logp_rejected")]


D = ctypes.POINTER(ctypes.c_double)
lib.xla_dpo_params_init.argtypes = [ctypes.POINTER(DpoParams)]
lib.xla_dpo_loss.argtypes = [ctypes.POINTER(DpoParams), D, D, D, D, ctypes.c_int64, ctypes.POINTER(DpoMetrics)]
shared = os.environ.get("XLA_SHARED_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared"))
with open(os.path.join(shared, "oracle/dpo/dpo_formulas.json")) as f:
    formulas = json.load(f)
inp = formulas["inputs"]
metric_names = {"rewards/chosen": "reward_chosen", "rewards/rejected": "reward_rejected",
                "rewards/accuracies": "reward_accuracy", "rewards/margins": "reward_margin",
                "logps/chosen": "logp_chosen", "logps/rejected": "logp_rejected"}
for case in (c for c in formulas["cases"] if c["trl"] == "0.x"):
    params = DpoParams()
    lib.xla_dpo_params_init(ctypes.byref(params))
    params.beta, params.label_smoothing = case["beta"], case["label_smoothing"]
    params.loss_type = {"sigmoid": 0, "ipo": 1, "hinge": 2}[case["loss_type"]]
    ipo = case["loss_type"] == "ipo"  # TRL 0.x: per-token averages
    arrays: List[Any] = []
    for key, lens in (("chosen_logps", "chosen_lengths"), ("rejected_logps", "rejected_lengths"),
                      ("ref_chosen_logps", "chosen_lengths"), ("ref_rejected_logps", "rejected_lengths")):
        vals = [v / n if ipo else v for v, n in zip(inp[key], inp[lens])]
        arrays.append((ctypes.c_double * len(vals))(*vals))
    metrics = DpoMetrics(struct_size=ctypes.sizeof(DpoMetrics))
    st = lib.xla_dpo_loss(ctypes.byref(params), *arrays, len(inp["chosen_logps"]), ctypes.byref(metrics))
    want = dict(case["metrics"], loss=case["loss"])
    got = {metric_names.get(k, k): getattr(metrics, metric_names.get(k, k)) for k in want}
    check(st == 0 and all(math.isclose(got[metric_names.get(k, k)], v, rel_tol=1e-12, abs_tol=1e-15)
                          for k, v in want.items()), f"dpo {case['loss_type']} beta {case['beta']}")
bad_metrics = DpoMetrics(struct_size=ctypes.sizeof(DpoMetrics), loss=-7.0)
check(lib.xla_dpo_loss(None, *arrays, 0, ctypes.byref(bad_metrics)) == -1 and bad_metrics.loss == -7.0, "dpo n = 0 refused")
check(b"n must be at least 1" in lib.xla_last_error(), "dpo error message")


# ---- the bindings' structs (bindings/python/xla/_lib.py) against the pinned C layout ----
# xla_foo_bar in the C header is FooBar in _lib.py; every struct the layout pins must exist
# there with the same size and, for each field, the same name and offset.
sys.path.insert(0, os.path.join(REPO, "bindings", "python"))
from xla import _lib  # noqa: E402  (honours LIBXLA, set by ctest)

layout: Dict[str, Dict[str, int]] = {}  # C struct -> {"size": n, field: offset}
with open(os.path.join(REPO, "capi", "abi_layout.cpp")) as src:
    for line in src:
        hit = re.match(r"static_assert\(sizeof\((xla_\w+)\) == (\d+)\);", line)
        if hit:
            layout.setdefault(hit.group(1), {})["size"] = int(hit.group(2))
        hit = re.match(r"static_assert\(offsetof\((xla_\w+), (\w+)\) == (\d+)\);", line)
        if hit:
            layout.setdefault(hit.group(1), {})[hit.group(2)] = int(hit.group(3))
check(len(layout) >= 10, f"abi_layout.cpp pins {len(layout)} structs")
for c_name, want in sorted(layout.items()):
    py_name = "".join(w.capitalize() for w in c_name[len("xla_"):].split("_"))
    cls = getattr(_lib, py_name, None)
    if not (isinstance(cls, type) and issubclass(cls, ctypes.Structure)):
        check(False, f"{c_name}: no ctypes struct {py_name} in _lib.py")
        continue
    got = {"size": ctypes.sizeof(cls)}
    got.update({field[0]: getattr(cls, field[0]).offset for field in cls._fields_})
    check(got == want, f"{c_name} vs _lib.{py_name}: C {want}, ctypes {got}")

print(f"python.ctypes: {n_checks - len(failures)} passed, {len(failures)} failed")
for failed in failures:
    print("FAILED:", failed)
sys.exit(1 if failures else 0)
