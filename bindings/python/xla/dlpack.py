"""dlpack.py — DLPack exchange without copies: Tensor.__dlpack__ / __dlpack_device__ hand a
tensor's memory to PyTorch, NumPy, JAX …, and from_dlpack takes theirs.

The structs are DLPack's (dlpack.h, the unversioned "dltensor" capsule every consumer reads),
declared with ctypes. Lifetimes: an exported capsule holds its own handle to the tensor's
memory, freed by the DLPack deleter when the consumer is done (or when an unused capsule is
collected); an imported tensor borrows the producer's memory through xla_tensor_from_buffer,
whose release callback is the producer's own deleter, called by libxla when the last tensor
(views included) over that memory is freed.
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Dict, Tuple

from ._lib import RELEASE_FN, DTypeError, InvalidArgumentError, lib, new_handle

if TYPE_CHECKING:
    from .tensor import Tensor

KDL_CPU = 1  # DLDeviceType of host memory
_KDL_INT, _KDL_UINT, _KDL_FLOAT, _KDL_BFLOAT = 0, 1, 2, 4

# dtype name -> DLDataType (code, bits), lanes always 1
_TO_DL = {"float32": (_KDL_FLOAT, 32), "float16": (_KDL_FLOAT, 16), "bfloat16": (_KDL_BFLOAT, 16),
          "int32": (_KDL_INT, 32), "int64": (_KDL_INT, 64), "uint8": (_KDL_UINT, 8)}
_FROM_DL = {v: k for k, v in _TO_DL.items()}


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]

_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
_GET_POINTER_RAW = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", _api))

_NAME = b"dltensor"          # module-level: the capsule keeps a pointer to these bytes
_USED_NAME = b"used_dltensor"


class _Export:
    """What one exported capsule keeps alive: the struct, its shape and strides arrays, and
    an alias handle (a Tensor) of the exported memory."""

    def __init__(self, owner: Tensor, managed: DLManagedTensor, shape: Any, strides: Any) -> None:
        self.owner, self.managed, self.shape, self.strides = owner, managed, shape, strides


_EXPORTS: Dict[int, _Export] = {}  # address of the DLManagedTensor -> what it needs


def _delete(managed: Any) -> None:
    """DLPack's deleter: the consumer is done with the memory; drop our alias handle."""
    export = _EXPORTS.pop(ctypes.addressof(managed.contents), None)
    if export is not None:
        export.owner.close()


_delete_fn = DELETER(_delete)


def _capsule_destructor(capsule: int) -> None:
    """A capsule collected unused (still named "dltensor") frees what it holds."""
    if _api.PyCapsule_IsValid(capsule, _NAME):
        address = _GET_POINTER_RAW(capsule, _NAME)
        export = _EXPORTS.pop(address or 0, None)
        if export is not None:
            export.owner.close()


_capsule_destructor_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_capsule_destructor)


def to_dlpack(t: Tensor) -> Any:
    """A "dltensor" capsule over t's memory (strided as t is); the capsule owns an alias."""
    dtype, shape = t._info()
    address, strides = t._memory()
    alias = t.detach()
    n = max(1, len(shape))
    shape_arr = (ctypes.c_int64 * n)(*shape)
    strides_arr = (ctypes.c_int64 * n)(*strides)
    code, bits = _TO_DL[dtype]
    managed = DLManagedTensor()
    managed.dl_tensor = DLTensor(address, DLDevice(KDL_CPU, 0), len(shape), DLDataType(code, bits, 1),
                                 ctypes.cast(shape_arr, ctypes.POINTER(ctypes.c_int64)),
                                 ctypes.cast(strides_arr, ctypes.POINTER(ctypes.c_int64)), 0)
    managed.manager_ctx = None
    managed.deleter = _delete_fn
    key = ctypes.addressof(managed)
    _EXPORTS[key] = _Export(alias, managed, shape_arr, strides_arr)
    destructor = ctypes.cast(_capsule_destructor_fn, ctypes.c_void_p).value
    return _api.PyCapsule_New(key, _NAME, destructor)


def device() -> Tuple[int, int]:
    """(kDLCPU, 0): libxla's tensors live in host memory."""
    return (KDL_CPU, 0)


def from_dlpack(obj: Any) -> Tensor:
    """A Tensor sharing the memory of `obj`, any object with __dlpack__ (a torch.Tensor, a
    NumPy array, a JAX array, an xla.Tensor) or a "dltensor" capsule. The memory must be on the
    CPU, row-major and of a libxla dtype (float32 bfloat16 float16 int32 int64 uint8); writes
    on either side are seen by the other. The producer's memory stays alive until the last
    tensor over it is freed."""
    from .tensor import DTYPES, Tensor

    if hasattr(obj, "__dlpack__"):
        if hasattr(obj, "__dlpack_device__"):
            dev = tuple(obj.__dlpack_device__())
            if dev[0] != KDL_CPU:
                raise InvalidArgumentError("from_dlpack: the memory is on device %s, libxla needs the CPU (%d)"
                                           % (dev, KDL_CPU))
        capsule = obj.__dlpack__()
    else:
        capsule = obj
    try:
        address = _api.PyCapsule_GetPointer(capsule, _NAME)
    except ValueError:  # a used capsule, or not a capsule at all
        raise InvalidArgumentError("from_dlpack: %s is neither an object with __dlpack__ nor an unused "
                                   "\"dltensor\" capsule" % type(obj).__name__) from None
    managed = DLManagedTensor.from_address(address)
    dl = managed.dl_tensor
    if dl.device.device_type != KDL_CPU:
        raise InvalidArgumentError("from_dlpack: the memory is on device type %d, libxla needs the CPU (%d)"
                                   % (dl.device.device_type, KDL_CPU))
    dtype = _FROM_DL.get((dl.dtype.code, dl.dtype.bits))
    if dtype is None or dl.dtype.lanes != 1:
        raise DTypeError("from_dlpack: DLPack dtype (code %d, bits %d, lanes %d) has no libxla dtype"
                         % (dl.dtype.code, dl.dtype.bits, dl.dtype.lanes))
    shape = [dl.shape[i] for i in range(dl.ndim)]
    if dl.strides:
        expected = 1
        for i in reversed(range(dl.ndim)):
            if shape[i] != 1 and dl.strides[i] != expected:
                raise InvalidArgumentError("from_dlpack: strides %s of shape %s are not row-major; make the "
                                           "tensor contiguous first" % ([dl.strides[j] for j in range(dl.ndim)],
                                                                          shape))
            expected *= shape[i]
    dims = (ctypes.c_int64 * max(1, len(shape)))(*shape)
    data = (dl.data or 0) + dl.byte_offset
    # The producer's deleter is libxla's release callback: it runs in C, without Python.
    deleter = ctypes.cast(managed.deleter, ctypes.c_void_p).value
    release = RELEASE_FN(deleter or 0)  # NULL when the producer has no deleter
    handle = new_handle(lib.xla_tensor_from_buffer, DTYPES.index(dtype), len(shape), dims, data or None,
                        release, address)
    _api.PyCapsule_SetName(capsule, _USED_NAME)  # consumed: its destructor leaves the memory alone
    return Tensor._wrap(handle)
