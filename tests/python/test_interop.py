"""test_interop.py — xla.Tensor and NumPy / PyTorch share memory, no copies: numpy.asarray(t)
(the array interface), Tensor.from_numpy, memoryview(t.buffer()), and DLPack both ways
(torch_from_dlpack(t), xla.from_dlpack(torch_tensor)). Each check writes on one side and reads
on the other, and checks who keeps the memory alive. Needs Debian's python3-numpy and
python3-torch; run through the installed package (ctest python.interop).
"""
from __future__ import annotations

import gc
import sys
import unittest
from typing import Any, cast

import numpy as np
import torch
from torch.utils.dlpack import from_dlpack as torch_from_dlpack

import xla
from xla import dlpack
from xla.tensor import _BORROWED


class NumpyTest(unittest.TestCase):
    def test_asarray_shares_memory(self) -> None:
        t = xla.arange(0, 6).reshape(2, 3)
        a = np.asarray(t)
        self.assertEqual(a.dtype, np.float32)
        self.assertEqual(a.shape, (2, 3))
        a[1, 2] = 42.0
        self.assertEqual(t.tolist(), [[0.0, 1.0, 2.0], [3.0, 4.0, 42.0]])
        b = np.asarray(t)
        self.assertTrue(np.shares_memory(a, b))
        self.assertEqual(a.__array_interface__["data"][0], t._memory()[0])

    def test_the_array_keeps_the_memory_alive(self) -> None:
        t = xla.full([1000], 7.0)
        a = np.asarray(t)
        t.close()  # the handle goes; the array still holds the tensor object and its memory
        del t
        gc.collect()
        xla.full([1000], -1.0)  # a new allocation must not land on the array's memory
        self.assertTrue(bool((a == 7.0).all()))

    def test_dtypes_and_views(self) -> None:
        for dtype, np_dtype in (("float32", np.float32), ("float16", np.float16), ("int32", np.int32),
                                ("int64", np.int64), ("uint8", np.uint8)):
            a = np.asarray(xla.tensor([1, 2, 3], dtype=dtype))
            self.assertEqual(a.dtype, np_dtype, dtype)
            self.assertEqual(a.tolist(), [1, 2, 3], dtype)
        bits = np.asarray(xla.tensor([1.0, -2.5], dtype="bfloat16"))  # no NumPy bfloat16: raw bits
        self.assertEqual(bits.dtype, np.uint16)
        self.assertEqual(bits.tolist(), [0x3F80, 0xC020])
        m = xla.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        mt = np.asarray(m.T)  # a strided view: NumPy gets the strides, still no copy
        self.assertEqual(mt.tolist(), [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])
        self.assertTrue(np.shares_memory(mt, np.asarray(m)))

    def test_from_numpy_shares_memory(self) -> None:
        a = np.arange(6, dtype=np.float32).reshape(2, 3)
        t = xla.Tensor.from_numpy(a)
        a[0, 1] = -5.0  # NumPy writes, libxla reads
        self.assertEqual(t.tolist(), [[0.0, -5.0, 2.0], [3.0, 4.0, 5.0]])
        np.asarray(t)[1, 0] = 30.0  # and the other way
        self.assertEqual(a[1, 0], 30.0)
        self.assertEqual((t * 2).sum().item(), 2 * float(a.sum()))

    def test_from_numpy_keeps_the_array_alive(self) -> None:
        a = np.full(4096, 3.0, dtype=np.float32)
        t = xla.Tensor.from_numpy(a, copy=False)
        view = t[10:20]
        del a, t
        gc.collect()
        np.full(4096, 9.0, dtype=np.float32)
        self.assertEqual(view.tolist(), [3.0] * 10)
        held = len(_BORROWED)
        del view
        gc.collect()
        self.assertEqual(len(_BORROWED), held - 1)  # released once the last view went

    def test_from_numpy_copies_when_it_must(self) -> None:
        a = np.arange(6, dtype=np.float32).reshape(2, 3).T  # not row-major
        t = xla.Tensor.from_numpy(a)
        a[0, 0] = 100.0
        self.assertEqual(t.tolist(), [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]])  # a copy
        with self.assertRaisesRegex(xla.InvalidArgumentError, "not row-major"):
            xla.Tensor.from_numpy(a, copy=False)
        ro = np.arange(3, dtype=np.int32)
        ro.flags.writeable = False
        with self.assertRaisesRegex(xla.InvalidArgumentError, "read-only"):
            xla.Tensor.from_numpy(ro, copy=False)
        with self.assertRaisesRegex(xla.InvalidArgumentError, "no libxla dtype"):
            xla.Tensor.from_numpy(np.zeros(3, dtype=np.complex64), copy=False)
        c = np.arange(3, dtype=np.float32)
        tc = xla.Tensor.from_numpy(c, copy=True)
        c[0] = 9.0
        self.assertEqual(tc.tolist(), [0.0, 1.0, 2.0])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "from_dlpack"):
            xla.Tensor.from_numpy([1.0, 2.0])
        bf = xla.Tensor.from_numpy(np.array([0x3F80, 0xC020], dtype=np.uint16), dtype="bfloat16", copy=False)
        self.assertEqual((bf.dtype, bf.tolist()), ("bfloat16", [1.0, -2.5]))

    def test_buffer(self) -> None:
        t = xla.tensor([[1, 2], [3, 4]], dtype="int32")
        mv = t.buffer()
        self.assertEqual((mv.format, mv.shape, mv.readonly), ("i", (2, 2), False))
        cast(Any, mv)[1, 1] = 40  # typeshed knows 1-d item assignment only
        self.assertEqual(t.tolist(), [[1, 2], [3, 40]])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "contiguous"):
            t.T.buffer()
        if sys.version_info >= (3, 12):  # the buffer protocol from Python
            self.assertEqual(memoryview(cast(Any, t)).tolist(), [[1, 2], [3, 40]])


class TorchTest(unittest.TestCase):
    def test_torch_from_xla(self) -> None:
        t = xla.arange(0, 4)
        p = torch_from_dlpack(t)
        self.assertEqual(p.dtype, torch.float32)
        p[2] = 20.0  # PyTorch writes, libxla reads
        self.assertEqual(t.tolist(), [0.0, 1.0, 20.0, 3.0])
        self.assertEqual(p.data_ptr(), t._memory()[0])
        bf = torch_from_dlpack(xla.tensor([1.0, -2.5], dtype="bfloat16"))
        self.assertEqual(bf.dtype, torch.bfloat16)
        self.assertEqual(bf.tolist(), [1.0, -2.5])
        c = xla.tensor([5.0, 6.0])  # DLPack 1.0's keywords: a copy when asked for
        copied = xla.from_dlpack(c.__dlpack__(max_version=(1, 0), copy=True))
        self.assertNotEqual(copied._memory()[0], c._memory()[0])
        self.assertEqual(copied.tolist(), [5.0, 6.0])
        tt = torch_from_dlpack(xla.tensor([[1.0, 2.0], [3.0, 4.0]]).T)  # strides travel too
        self.assertEqual(tt.tolist(), [[1.0, 3.0], [2.0, 4.0]])

    def test_xla_from_torch(self) -> None:
        p = torch.arange(6, dtype=torch.int64).reshape(2, 3)
        t = xla.from_dlpack(p)
        self.assertEqual((t.dtype, t.shape), ("int64", (2, 3)))
        p[0, 0] = 7  # and the other way
        self.assertEqual(t.tolist(), [[7, 1, 2], [3, 4, 5]])
        np.asarray(t)[1, 2] = -1
        self.assertEqual(int(p[1, 2]), -1)
        self.assertEqual(xla.from_dlpack(torch.tensor([1.5], dtype=torch.bfloat16)).tolist(), [1.5])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "row-major"):
            xla.from_dlpack(p.T)
        with self.assertRaisesRegex(xla.DTypeError, "no libxla dtype"):
            xla.from_dlpack(torch.zeros(2, dtype=torch.float64))

    def test_round_trip_and_lifetimes(self) -> None:
        exported = len(dlpack._EXPORTS)
        t = xla.randn([64], seed=3)
        p = torch_from_dlpack(t)
        back = xla.from_dlpack(p)  # xla -> torch -> xla: still the same memory
        self.assertEqual(back._memory()[0], t._memory()[0])
        self.assertEqual(len(dlpack._EXPORTS), exported + 1)
        want = t.tolist()
        del t, p
        gc.collect()
        self.assertEqual(back.tolist(), want)  # the chain of owners keeps it alive
        del back
        gc.collect()
        self.assertEqual(len(dlpack._EXPORTS), exported)  # every deleter ran
        cap = xla.arange(0, 3).__dlpack__()  # an unused capsule frees its alias when collected
        self.assertEqual(len(dlpack._EXPORTS), exported + 1)
        del cap
        gc.collect()
        self.assertEqual(len(dlpack._EXPORTS), exported)

    def test_numpy_dlpack(self) -> None:
        if not hasattr(np, "from_dlpack"):
            self.fail("NumPy %s has no from_dlpack" % np.__version__)
        t = xla.tensor([1, 2, 3], dtype="int32")
        a = np.from_dlpack(t)  # read-only in NumPy, but the same memory
        t.buffer()[0] = 10
        self.assertEqual(a.tolist(), [10, 2, 3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
