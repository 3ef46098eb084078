"""tensor.py — Tensor, an owned xla_tensor* with Python conversions, operators and autograd.

Tensors are immutable (as through the C API): every operation returns a new Tensor, which
may be a view sharing memory with its input — never visible, only cheaper.

dtypes are named by strings: "float32" (the compute type), "bfloat16" and "float16"
(storage), "int32" (token ids), "int64" (indices), "uint8" (masks). Floating ops compute in
f32: their results are float32 whatever the inputs.
"""
from __future__ import annotations

import array
import builtins
import contextlib
import ctypes
import itertools
import numbers
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union, cast

from ._lib import RELEASE_FN, Owned, check, lib, new_handle, InvalidArgumentError, DTypeError

# ---------------------------------------------------------------- types of the signatures

DType = Union[str, int]            # a dtype name, an alias ("bf16") or an XLA_* code
ShapeLike = Sequence[int]
Axis = Union[int, Sequence[int], None]
Scalar = Union[int, float, bool]
TensorLike = Union["Tensor", Scalar, Sequence[Any], memoryview, bytes, bytearray, "array.array[Any]"]

# ---------------------------------------------------------------- dtypes

DTYPES = ("float32", "bfloat16", "float16", "int32", "int64", "uint8")  # index = the XLA_* code
_ALIASES = {"f32": "float32", "float": "float32", "bf16": "bfloat16", "f16": "float16", "half": "float16",
            "i32": "int32", "int": "int32", "i64": "int64", "long": "int64", "u8": "uint8", "bool": "uint8"}
_ITEMSIZE = {"float32": 4, "bfloat16": 2, "float16": 2, "int32": 4, "int64": 8, "uint8": 1}
# struct/memoryview format of each dtype's raw elements (bf16 and f16 as their 16-bit patterns)
_FORMAT = {"float32": "f", "bfloat16": "H", "float16": "H", "int32": "i", "int64": "q", "uint8": "B"}
_FLOATING = ("float32", "bfloat16", "float16")
# NumPy's array-interface type strings (without the byte-order mark) of each dtype
_TYPESTR = {"float32": "<f4", "bfloat16": "<u2", "float16": "<f2", "int32": "<i4", "int64": "<i8", "uint8": "|u1"}
_NUMPY_DTYPES = {"f4": "float32", "f2": "float16", "i4": "int32", "i8": "int64", "u1": "uint8", "b1": "uint8"}

# NumPy arrays lent to libxla (Tensor.from_numpy), by key, until libxla releases them.
_BORROWED: Dict[int, Any] = {}
_borrow_keys = itertools.count(1)


def _release_borrowed(key: Optional[int]) -> None:
    """libxla's release callback: the last tensor over a lent array is gone."""
    _BORROWED.pop(key or 0, None)


_release_borrowed_fn = RELEASE_FN(_release_borrowed)  # one C function pointer for every loan


def _row_major(shape: Sequence[int], strides: Sequence[int], scale: int = 1) -> Tuple[int, ...]:
    """The row-major strides of shape, except where an extent of 1 makes a stride
    meaningless: there `strides`' own entry (divided by scale) is kept, so equality with
    strides means "one row-major block"."""
    out = [0] * len(shape)
    expected = 1
    for i in reversed(range(len(shape))):
        out[i] = expected if shape[i] != 1 else strides[i] // scale
        expected *= shape[i]
    return tuple(out)


def dtype_name(dtype: DType) -> str:
    """The canonical name of a dtype given as a name, an alias ("bf16", "i32") or an XLA_* code."""
    if isinstance(dtype, numbers.Integral) and 0 <= int(dtype) < len(DTYPES):
        return DTYPES[int(dtype)]
    name = _ALIASES.get(dtype, dtype) if isinstance(dtype, str) else dtype
    if not isinstance(name, str) or name not in _ITEMSIZE:
        raise DTypeError("unknown dtype %r (one of %s)" % (dtype, ", ".join(DTYPES)))
    return name


def _code(dtype: DType) -> int:
    return DTYPES.index(dtype_name(dtype))


def _shape_array(shape: Iterable[int]) -> Tuple[Any, int]:
    shape = [int(s) for s in shape]
    return (ctypes.c_int64 * max(1, len(shape)))(*shape), len(shape)


def _axes_array(axis: Axis) -> Tuple[Any, int]:
    if axis is None:
        return None, 0
    axes = [int(axis)] if isinstance(axis, numbers.Integral) else [int(a) for a in cast(Sequence[int], axis)]
    return (ctypes.c_int32 * len(axes))(*axes), len(axes)


# ---------------------------------------------------------------- grad mode


def is_grad_enabled() -> bool:
    """Whether ops record autograd history on this thread (on by default)."""
    return bool(lib.xla_is_grad_enabled())


def set_grad_enabled(on: bool) -> bool:
    """Turns recording on or off for this thread; returns the previous setting."""
    return bool(lib.xla_set_grad_enabled(1 if on else 0))


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager (also a decorator) that turns autograd recording off on this thread,
    restoring the previous setting on exit: `with xla.no_grad(): y = model_step(x)`."""
    previous = lib.xla_set_grad_enabled(0)
    try:
        yield
    finally:
        lib.xla_set_grad_enabled(previous)


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager that turns recording back on inside a no_grad block."""
    previous = lib.xla_set_grad_enabled(1)
    try:
        yield
    finally:
        lib.xla_set_grad_enabled(previous)


# ---------------------------------------------------------------- conversions


def _flatten(data: Any) -> Tuple[List[Any], Tuple[int, ...]]:
    """(flat list, shape) of a number or nested lists/tuples with a rectangular shape."""
    if isinstance(data, (list, tuple)):
        if not data:
            return [], (0,)
        parts = [_flatten(x) for x in data]
        inner = parts[0][1]
        if any(p[1] != inner for p in parts):
            raise InvalidArgumentError("nested lists are ragged: their rows differ in shape")
        return [v for p in parts for v in p[0]], (len(data),) + inner
    if isinstance(data, (numbers.Number, bool)):
        return [data], ()
    raise InvalidArgumentError("cannot make a tensor from %s" % type(data).__name__)


def _nest(flat: List[Any], shape: Sequence[int]) -> Any:
    """Nested lists of shape `shape` from a flat row-major list (a scalar for shape ())."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _infer_dtype(flat: List[Any]) -> str:
    if all(isinstance(v, bool) for v in flat) and flat:
        return "uint8"
    if all(isinstance(v, numbers.Integral) for v in flat):
        return "int32"
    return "float32"


_BUFFER_DTYPES = {("f", 4): "float32", ("e", 2): "float16", ("i", 4): "int32", ("l", 4): "int32",
                  ("i", 8): "int64", ("l", 8): "int64", ("q", 8): "int64", ("B", 1): "uint8",
                  ("c", 1): "uint8", ("?", 1): "uint8"}


def _from_buffer(mv: memoryview, dtype: Optional[DType], shape: Optional[ShapeLike]
                 ) -> Tuple[bytes, str, Tuple[int, ...]]:
    """(raw bytes, dtype, shape) of a memoryview: its elements are taken as they are when
    their size matches the dtype's (so array('H') holds bfloat16 bit patterns), or as raw
    bytes when the buffer is of bytes."""
    fmt = mv.format.lstrip("@=<")
    if dtype is None:
        dtype = _BUFFER_DTYPES.get((fmt, mv.itemsize))
        if dtype is None:
            raise DTypeError("buffer format %r has no libxla dtype; pass dtype=" % mv.format)
    name = dtype_name(dtype)
    size = _ITEMSIZE[name]
    default_shape: Tuple[int, ...]
    if mv.itemsize == size:
        default_shape = mv.shape or ()
    elif mv.itemsize == 1:
        default_shape = (mv.nbytes // size,)
    else:
        raise DTypeError("buffer elements of %d bytes (format %r) cannot hold %s (%d bytes)"
                         % (mv.itemsize, mv.format, name, size))
    out_shape = tuple(default_shape if shape is None else shape)
    numel = 1
    for n in out_shape:
        numel *= n
    if numel * size != mv.nbytes:
        raise InvalidArgumentError("a buffer of %d bytes does not hold shape %s of %s (%d bytes)"
                                   % (mv.nbytes, list(out_shape), name, numel * size))
    return mv.tobytes(), name, out_shape


def _create(raw: bytes, dtype: DType, shape: Sequence[int]) -> Tensor:
    dims, ndim = _shape_array(shape)
    return Tensor._wrap(new_handle(lib.xla_tensor_create, _code(dtype), ndim, dims, raw))


def tensor(data: TensorLike, dtype: Optional[DType] = None, shape: Optional[ShapeLike] = None,
           requires_grad: bool = False) -> Tensor:
    """A new Tensor (its own copy of the data) from:
    - a number or nested lists/tuples: dtype inferred as int32 for ints, uint8 for bools,
      float32 otherwise (floats become bfloat16/float16 through libxla's exact rounding);
    - any buffer-protocol object (array.array, memoryview, bytes, a NumPy array): shape
      defaults to the buffer's (bytes: 1-D); dtype from its format unless given (float64
      buffers are converted, as lists are; elements of the dtype's size are taken as raw
      bits, so array('H') of bit patterns with dtype="bfloat16" is exact);
    - another Tensor (a copy, converted to dtype when given).
    `shape` reshapes the data (same element count); requires_grad marks the new leaf."""
    if isinstance(data, Tensor):
        t = data.astype(dtype) if dtype is not None and dtype_name(dtype) != data.dtype else data.clone()
        if shape is not None:
            t = t.reshape(shape)
    elif isinstance(data, (list, tuple, numbers.Number)):
        flat, inferred = _flatten(data)
        dt = dtype_name(dtype) if dtype is not None else _infer_dtype(flat)
        target = inferred if shape is None else tuple(shape)
        if dt in _FLOATING:
            raw = array.array("f", [float(v) for v in flat]).tobytes()
            t = _create(raw, "float32", inferred)
            if dt != "float32":
                t = t.astype(dt)
        else:
            fmt = {"int32": "i", "int64": "q", "uint8": "B"}[dt]
            try:
                raw = array.array(fmt, [int(v) for v in flat]).tobytes()
            except OverflowError as e:
                raise InvalidArgumentError("a value does not fit %s: %s" % (dt, e)) from None
            t = _create(raw, dt, inferred)
        if tuple(target) != tuple(inferred):
            t = t.reshape(target)
    else:
        mv = memoryview(cast(bytes, data))
        if mv.format.lstrip("@=<") == "d":  # float64: through the float path
            flat = array.array("d", mv.tobytes()).tolist()
            return tensor(flat, "float32" if dtype is None else dtype, mv.shape if shape is None else shape,
                          requires_grad)
        t = _create(*_from_buffer(mv, dtype, shape))
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(shape: ShapeLike, dtype: DType = "float32") -> Tensor:
    """A tensor of zeros."""
    dims, ndim = _shape_array(shape)
    return Tensor._wrap(new_handle(lib.xla_tensor_create, _code(dtype), ndim, dims, None))


def full(shape: ShapeLike, value: float, dtype: DType = "float32") -> Tensor:
    """A tensor of `shape` with every element `value`."""
    dims, ndim = _shape_array(shape)
    return Tensor._wrap(new_handle(lib.xla_full, _code(dtype), ndim, dims, float(value)))


def ones(shape: ShapeLike, dtype: DType = "float32") -> Tensor:
    """A tensor of ones."""
    return full(shape, 1.0, dtype)


def arange(start: float, stop: Optional[float] = None, step: float = 1, dtype: DType = "float32") -> Tensor:
    """[start, stop) in steps of step, as Python's range (arange(n) = 0 .. n-1)."""
    if stop is None:
        start, stop = 0, start
    return Tensor._wrap(new_handle(lib.xla_arange, float(start), float(stop), float(step), _code(dtype)))


def randn(shape: ShapeLike, seed: int = 0, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """float32 samples of N(mean, std²), the same for a seed whatever the thread count."""
    dims, ndim = _shape_array(shape)
    return Tensor._wrap(new_handle(lib.xla_randn, ndim, dims, seed, mean, std))


def rand(shape: ShapeLike, seed: int = 0, low: float = 0.0, high: float = 1.0) -> Tensor:
    """float32 samples of U[low, high)."""
    dims, ndim = _shape_array(shape)
    return Tensor._wrap(new_handle(lib.xla_rand, ndim, dims, seed, low, high))


def where(cond: Tensor, a: TensorLike, b: TensorLike) -> Tensor:
    """cond ? a : b elementwise (cond nonzero = true), all three broadcast."""
    ta = _as(a, b if isinstance(b, Tensor) else None)  # temporaries must outlive the call
    tb = _as(b, ta)
    return Tensor._wrap(new_handle(lib.xla_where, _h(cond), _h(ta), _h(tb)))


def _handles(ts: Iterable[Tensor]) -> Tuple[Any, int]:
    ts = list(ts)
    return (ctypes.c_void_p * max(1, len(ts)))(*[_h(t) for t in ts]), len(ts)


def concat(tensors: Iterable[Tensor], axis: int = 0) -> Tensor:
    """Joins tensors of one dtype (same shape outside `axis`) along an existing axis."""
    arr, n = _handles(tensors)
    return Tensor._wrap(new_handle(lib.xla_concat, arr, n, axis))


def stack(tensors: Iterable[Tensor], axis: int = 0) -> Tensor:
    """Joins tensors of one shape along a new axis."""
    arr, n = _handles(tensors)
    return Tensor._wrap(new_handle(lib.xla_stack, arr, n, axis))


def split(t: Tensor, sizes: Union[int, Sequence[int]], axis: int = 0) -> List[Tensor]:
    """Views of t cut along axis: into pieces of `sizes` (a list summing to the extent), or of
    an int size (the last piece may be smaller)."""
    pieces = [int(sizes)] if isinstance(sizes, numbers.Integral) else [int(n) for n in cast(Sequence[int], sizes)]
    s = (ctypes.c_int64 * len(pieces))(*pieces)
    n = ctypes.c_size_t()
    status = lib.xla_split(_h(t), s, len(pieces), axis, None, 0, ctypes.byref(n))
    if status != -7:  # XLA_ERR_BUFFER_TOO_SMALL reports the count
        check(status)
    outs = (ctypes.c_void_p * max(1, n.value))()
    check(lib.xla_split(_h(t), s, len(pieces), axis, outs, n.value, ctypes.byref(n)))
    return [Tensor._wrap(outs[i]) for i in range(n.value)]


def embedding(weight: Tensor, ids: TensorLike) -> Tensor:
    """Rows of weight [vocab, dim] for every id in `ids` (any shape) -> [..., dim]."""
    ids = _as_ids(ids)
    return Tensor._wrap(new_handle(lib.xla_embedding, _h(weight), _h(ids)))


def cross_entropy(logits: Tensor, targets: TensorLike, ignore_index: int = -100,
                  label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy of logits [..., C] against integer targets [...] (rows whose target is
    ignore_index count nowhere): a 0-d float32 tensor, differentiable w.r.t. logits."""
    targets = _as_ids(targets)
    return Tensor._wrap(new_handle(lib.xla_cross_entropy, _h(logits), _h(targets), ignore_index,
                                   label_smoothing))


def _h(t: Any) -> Optional[int]:
    """The C handle of a Tensor (None — NULL — once closed: libxla then reports the misuse).
    The Tensor must stay referenced until the C call returns: never pass _h(temporary)."""
    if not isinstance(t, Tensor):
        raise InvalidArgumentError("expected a Tensor, got %s" % type(t).__name__)
    return t._handle


def _as(x: TensorLike, like: Optional[Tensor]) -> Tensor:
    """x as a Tensor; a Python number becomes a 0-d tensor (of like's integer dtype for an int
    combined with an integer tensor, float32 otherwise)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        dt = "float32"
        if isinstance(x, numbers.Integral) and isinstance(like, Tensor) and like.dtype in ("int32", "int64"):
            dt = like.dtype
        return tensor(x, dtype=dt)
    return tensor(x)


def _as_ids(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else tensor(x, dtype="int32")


# ---------------------------------------------------------------- Tensor


class Tensor(Owned):
    """An N-d array owned by Python: the xla_tensor* is freed when the object is collected,
    or at once by close() (or a `with` block). A closed tensor holds NULL; using it raises
    InvalidArgumentError with libxla's message ("... is NULL").

    Make one with xla.tensor(data, dtype=None, shape=None, requires_grad=False) or the
    factories (zeros, ones, full, arange, randn, rand); `Tensor(data, ...)` is the same call.

    Operators: + - * / ** @, unary -, abs(), and < <= > >= (uint8 masks; == and != keep
    Python's identity semantics — use eq()/ne()). Python numbers broadcast as 0-d tensors."""

    _free = "xla_tensor_free"

    __slots__ = ("_keep", "__weakref__")
    _keep: Optional[Tensor]

    def __init__(self, data: TensorLike, dtype: Optional[DType] = None, shape: Optional[ShapeLike] = None,
                 requires_grad: bool = False) -> None:
        t = tensor(data, dtype, shape, requires_grad)
        self._handle, t._handle = t._handle, None
        self._keep = None

    @classmethod
    def _wrap(cls, handle: Optional[int]) -> Tensor:
        t = object.__new__(cls)
        t._handle = handle
        t._keep = None  # an alias of the memory, made once it is shared (see _pin)
        return t

    # ---- lifetime

    def close(self) -> None:
        """Frees the C tensor now (idempotent). Views made from it stay valid."""
        super().close()

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._handle is None

    # ---- description

    def _info(self) -> Tuple[str, Tuple[int, ...]]:
        dt, nd = ctypes.c_int32(), ctypes.c_int32()
        dims = (ctypes.c_int64 * 8)()
        check(lib.xla_tensor_shape(self._handle, ctypes.byref(dt), ctypes.byref(nd), dims))
        return DTYPES[dt.value], tuple(dims[i] for i in range(nd.value))

    @property
    def shape(self) -> Tuple[int, ...]:
        """The extents, a tuple of ints."""
        return self._info()[1]

    @property
    def dtype(self) -> str:
        """The dtype's name ("float32", "bfloat16", "float16", "int32", "int64", "uint8")."""
        return self._info()[0]

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return len(self.shape)

    @property
    def numel(self) -> int:
        """The number of elements."""
        n = ctypes.c_int64()
        check(lib.xla_tensor_numel(self._handle, ctypes.byref(n), None))
        return n.value

    @property
    def nbytes(self) -> int:
        """numel * the element size."""
        n = ctypes.c_size_t()
        check(lib.xla_tensor_numel(self._handle, None, ctypes.byref(n)))
        return n.value

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __repr__(self) -> str:
        if self._handle is None:
            return "Tensor(<closed>)"
        dtype, shape = self._info()
        if self.numel > 64:
            return "Tensor(shape=%s, dtype=%s)" % (list(shape), dtype)
        return "Tensor(%r, dtype=%s)" % (self.tolist(), dtype)

    # ---- reading out

    def to_bytes(self) -> bytes:
        """The elements, row-major, as bytes in the tensor's dtype (bfloat16/float16 as their
        16-bit patterns)."""
        n = self.nbytes
        buf = ctypes.create_string_buffer(max(1, n))
        check(lib.xla_tensor_read(self._handle, buf, n))
        return buf.raw[:n]

    def to_memoryview(self) -> memoryview:
        """A read-only memoryview of a copy, with the tensor's shape and the struct format of
        its dtype ('f', 'i', 'q', 'B'; 'H' bit patterns for bfloat16/float16)."""
        dtype, shape = self._info()
        mv = memoryview(self.to_bytes()).cast("B")
        if 0 in shape:  # memoryview cannot take a shape with a zero extent: flat and empty
            return mv.cast(_FORMAT[dtype])
        return mv.cast(_FORMAT[dtype], list(shape))

    def tolist(self) -> Any:
        """Nested Python lists (a number for a 0-d tensor): floats for floating dtypes (bfloat16
        and float16 widened exactly), ints otherwise."""
        dtype, shape = self._info()
        src = self.astype("float32") if dtype in ("bfloat16", "float16") else self
        fmt = "f" if dtype in _FLOATING else _FORMAT[dtype]
        flat = array.array(fmt, src.to_bytes()).tolist()
        return _nest(flat, shape)

    def item(self) -> Union[int, float]:
        """The value of a one-element tensor as a Python number."""
        if self.numel != 1:
            raise InvalidArgumentError("item() needs one element, the tensor has %d" % self.numel)
        v: Union[int, float] = self.reshape([]).tolist()
        return v

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def numpy(self) -> Any:
        """A NumPy array copy (bfloat16 widened to float32, float16 kept); needs NumPy, which the
        package itself never does."""
        import numpy as np  # optional: only this method needs it
        dtype, shape = self._info()
        if dtype == "bfloat16":
            return self.astype("float32").numpy()
        np_dtype = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "int64": np.int64,
                    "uint8": np.uint8}[dtype]
        return np.frombuffer(self.to_bytes(), dtype=np_dtype).reshape(shape).copy()

    # ---- sharing memory (no copies): NumPy, memoryview, DLPack

    def _memory(self) -> Tuple[int, Tuple[int, ...]]:
        """(address of element [0, ...], strides in elements) of the memory this tensor views."""
        address = ctypes.c_void_p()
        strides = (ctypes.c_int64 * 8)()
        check(lib.xla_tensor_data(self._handle, ctypes.byref(address), strides))
        return address.value or 0, tuple(strides[i] for i in range(self.ndim))

    def _pin(self) -> None:
        """Keeps the memory alive as long as this object, close() or not: NumPy arrays and
        memoryviews made from it hold the object, not its handle."""
        if self._keep is None:
            self._keep = self.detach()

    @property
    def __array_interface__(self) -> Dict[str, Any]:
        """NumPy's array interface over this tensor's own memory: numpy.asarray(t) shares it
        (writes are seen both ways) and keeps t alive. bfloat16 is exposed as uint16 bit
        patterns ('<u2'), NumPy having no bfloat16."""
        dtype, shape = self._info()
        address, strides = self._memory()
        self._pin()
        size = _ITEMSIZE[dtype]
        return {"version": 3, "shape": shape, "typestr": _TYPESTR[dtype], "data": (address, False),
                "strides": tuple(st * size for st in strides)}

    def buffer(self) -> memoryview:
        """A writable memoryview of this tensor's own memory (no copy; the view keeps the
        memory alive), shaped as the tensor, format as to_memoryview(). Strided views
        (a transpose, a step slice) have no such buffer: call contiguous() first."""
        dtype, shape = self._info()
        address, strides = self._memory()
        if strides != _row_major(shape, strides):
            raise InvalidArgumentError("buffer(): a strided view (shape %s, strides %s) is not one row-major "
                                       "block; call contiguous() first" % (list(shape), list(strides)))
        self._pin()
        raw = (ctypes.c_char * self.nbytes).from_address(address)
        setattr(raw, "_owner", self)  # the ctypes array, exported by the memoryview, keeps the tensor alive
        mv = memoryview(raw).cast("B")
        if 0 in shape:  # memoryview cannot take a shape with a zero extent: flat and empty
            return mv.cast(_FORMAT[dtype])
        return mv.cast(_FORMAT[dtype], list(shape))

    def __buffer__(self, flags: int) -> memoryview:
        """The buffer protocol (Python 3.12+): memoryview(t) is t.buffer()."""
        return self.buffer()

    def __dlpack__(self, stream: Optional[int] = None, max_version: Optional[Tuple[int, int]] = None,
                   dl_device: Optional[Tuple[int, int]] = None, copy: Optional[bool] = None) -> Any:
        """A DLPack capsule over this tensor's memory: torch.from_dlpack(t) shares it. The
        capsule is DLPack's unversioned "dltensor" whatever max_version asks (the standard
        lets a producer answer so); copy=True exports a copy, dl_device must be the CPU."""
        if stream is not None and stream != -1:
            raise InvalidArgumentError("__dlpack__: libxla tensors live on the CPU, stream must be None")
        if dl_device is not None and tuple(dl_device) != (1, 0):
            raise InvalidArgumentError("__dlpack__: dl_device %s: libxla tensors live on the CPU (1, 0)"
                                       % (dl_device,))
        from .dlpack import to_dlpack
        return to_dlpack(self.clone() if copy else self)

    def __dlpack_device__(self) -> Tuple[int, int]:
        """(kDLCPU, 0)."""
        from .dlpack import device
        return device()

    @classmethod
    def from_numpy(cls, a: Any, dtype: Optional[DType] = None, copy: Optional[bool] = None) -> Tensor:
        """A Tensor over a NumPy array's memory (anything with __array_interface__): no copy
        when the array is row-major, aligned, writable and of a libxla dtype (float32 float16
        int32 int64 uint8 bool; uint16 with dtype="bfloat16" as bit patterns). Writes on
        either side are then seen by the other, and the array stays alive until the last
        tensor over it (views included) is freed. Otherwise a copy is made — or, with
        copy=False, InvalidArgumentError says why sharing is impossible; copy=True always
        copies."""
        ai = getattr(a, "__array_interface__", None)
        if not isinstance(ai, dict):
            raise InvalidArgumentError("from_numpy: %s has no __array_interface__ (a DLPack producer such as a "
                                       "torch.Tensor goes through xla.from_dlpack)" % type(a).__name__)
        typestr, shape = ai["typestr"], tuple(int(n) for n in ai["shape"])
        address, readonly = ai["data"]
        native = typestr[0] in "<|="
        dt = dtype_name(dtype) if dtype is not None else _NUMPY_DTYPES.get(typestr[1:])
        size = int(typestr[2:]) if typestr[2:].isdigit() else 0
        problem = None
        if dt is None:
            problem = "NumPy dtype %r has no libxla dtype" % typestr
        elif size != _ITEMSIZE[dt] or not native:
            problem = "NumPy dtype %r cannot hold %s" % (typestr, dt)
        elif ai.get("strides") is not None and tuple(ai["strides"]) != tuple(
                s * size for s in _row_major(shape, ai["strides"], size)):
            problem = "the array is not row-major (strides %s)" % (tuple(ai["strides"]),)
        elif address % size:
            problem = "the array's data is not aligned to its %d-byte elements" % size
        elif readonly:
            problem = "the array is read-only"
        if problem is None and dt is not None and not copy:
            key = next(_borrow_keys)
            _BORROWED[key] = a
            dims, ndim = _shape_array(shape)
            try:
                handle = new_handle(lib.xla_tensor_from_buffer, _code(dt), ndim, dims, address or None,
                                    _release_borrowed_fn, key)
            except BaseException:
                _BORROWED.pop(key, None)
                raise
            return cls._wrap(handle)
        if copy is False:
            raise InvalidArgumentError("from_numpy(copy=False): %s, so its memory cannot be shared" % problem)
        if dt is not None and size == _ITEMSIZE[dt] and not native:
            raise DTypeError("from_numpy: %s" % problem)
        return tensor(memoryview(a), dtype=dt if dtype is not None else None, shape=shape)

    # ---- conversions and copies

    def astype(self, dtype: DType) -> Tensor:
        """Converted to dtype (floats to integers truncate toward zero and saturate)."""
        return Tensor._wrap(new_handle(lib.xla_cast, self._handle, _code(dtype)))

    def clone(self) -> Tensor:
        """A packed copy with its own memory."""
        return Tensor._wrap(new_handle(lib.xla_tensor_clone, self._handle))

    def contiguous(self) -> Tensor:
        """self's data packed row-major (a new handle to the same memory when already packed)."""
        return Tensor._wrap(new_handle(lib.xla_contiguous, self._handle))

    # ---- elementwise

    def _unary(self, name: str) -> Tensor:
        return Tensor._wrap(new_handle(getattr(lib, "xla_" + name), self._handle))

    def _binary(self, name: str, other: TensorLike, reverse: bool = False) -> Tensor:
        other = _as(other, self)
        a, b = (other, self) if reverse else (self, other)
        return Tensor._wrap(new_handle(getattr(lib, "xla_" + name), a._handle, b._handle))

    def neg(self) -> Tensor: return self._unary("neg")
    def exp(self) -> Tensor: return self._unary("exp")
    def log(self) -> Tensor: return self._unary("log")
    def sqrt(self) -> Tensor: return self._unary("sqrt")
    def rsqrt(self) -> Tensor: return self._unary("rsqrt")
    def tanh(self) -> Tensor: return self._unary("tanh")
    def sigmoid(self) -> Tensor: return self._unary("sigmoid")
    def relu(self) -> Tensor: return self._unary("relu")
    def gelu(self) -> Tensor: return self._unary("gelu")
    def gelu_tanh(self) -> Tensor: return self._unary("gelu_tanh")
    def silu(self) -> Tensor: return self._unary("silu")
    def abs(self) -> Tensor: return self._unary("abs")

    def add(self, other: TensorLike) -> Tensor: return self._binary("add", other)
    def sub(self, other: TensorLike) -> Tensor: return self._binary("sub", other)
    def mul(self, other: TensorLike) -> Tensor: return self._binary("mul", other)
    def div(self, other: TensorLike) -> Tensor: return self._binary("div", other)
    def pow(self, other: TensorLike) -> Tensor: return self._binary("pow", other)
    def maximum(self, other: TensorLike) -> Tensor: return self._binary("maximum", other)
    def minimum(self, other: TensorLike) -> Tensor: return self._binary("minimum", other)
    def matmul(self, other: TensorLike) -> Tensor: return self._binary("matmul", other)
    def eq(self, other: TensorLike) -> Tensor: return self._binary("eq", other)
    def ne(self, other: TensorLike) -> Tensor: return self._binary("ne", other)
    def lt(self, other: TensorLike) -> Tensor: return self._binary("lt", other)
    def le(self, other: TensorLike) -> Tensor: return self._binary("le", other)
    def gt(self, other: TensorLike) -> Tensor: return self._binary("gt", other)
    def ge(self, other: TensorLike) -> Tensor: return self._binary("ge", other)

    __neg__ = neg
    __abs__ = abs
    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div
    __pow__ = pow
    __matmul__ = matmul
    __lt__ = lt
    __le__ = le
    __gt__ = gt
    __ge__ = ge

    def __pos__(self) -> Tensor: return self
    def __radd__(self, other: TensorLike) -> Tensor: return self._binary("add", other, True)
    def __rsub__(self, other: TensorLike) -> Tensor: return self._binary("sub", other, True)
    def __rmul__(self, other: TensorLike) -> Tensor: return self._binary("mul", other, True)
    def __rtruediv__(self, other: TensorLike) -> Tensor: return self._binary("div", other, True)
    def __rpow__(self, other: TensorLike) -> Tensor: return self._binary("pow", other, True)
    def __rmatmul__(self, other: TensorLike) -> Tensor: return self._binary("matmul", other, True)

    # ---- reductions (axis: None = all, an int or a list; results are float32)

    def _reduce(self, name: str, axis: Axis, keepdims: bool) -> Tensor:
        axes, n = _axes_array(axis)
        return Tensor._wrap(new_handle(getattr(lib, "xla_" + name), self._handle, axes, n, 1 if keepdims else 0))

    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return self._reduce("sum", axis, keepdims)
    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return self._reduce("mean", axis, keepdims)
    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return self._reduce("max", axis, keepdims)
    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return self._reduce("min", axis, keepdims)
    def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return self._reduce("logsumexp", axis, keepdims)

    def var(self, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> Tensor:
        """Variance (correction 1 = unbiased as torch.var; 0 = NumPy's default)."""
        axes, n = _axes_array(axis)
        return Tensor._wrap(new_handle(lib.xla_var, self._handle, axes, n, 1 if keepdims else 0, correction))

    def argmax(self, axis: int = -1, keepdims: bool = False) -> Tensor:
        """int64 index of the first maximum along axis."""
        return Tensor._wrap(new_handle(lib.xla_argmax, self._handle, axis, 1 if keepdims else 0))

    def softmax(self, axis: int = -1) -> Tensor:
        """Numerically stable softmax along axis."""
        return Tensor._wrap(new_handle(lib.xla_softmax, self._handle, axis))

    def log_softmax(self, axis: int = -1) -> Tensor:
        """Numerically stable log-softmax along axis."""
        return Tensor._wrap(new_handle(lib.xla_log_softmax, self._handle, axis))

    # ---- shape and views

    def reshape(self, *shape: Any) -> Tensor:
        """Same elements in a new shape (one entry may be -1): t.reshape(2, 3) or t.reshape([2, 3])."""
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = tuple(shape[0])
        dims, ndim = _shape_array(shape)
        return Tensor._wrap(new_handle(lib.xla_reshape, self._handle, ndim, dims))

    def permute(self, *order: Any) -> Tensor:
        """Axes reordered: order is a permutation of 0..ndim-1."""
        if len(order) == 1 and not isinstance(order[0], numbers.Integral):
            order = tuple(order[0])
        arr = (ctypes.c_int32 * max(1, len(order)))(*order)
        return Tensor._wrap(new_handle(lib.xla_permute, self._handle, arr, len(order)))

    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor:
        """Two axes swapped (the last two by default)."""
        return Tensor._wrap(new_handle(lib.xla_transpose, self._handle, axis0, axis1))

    @property
    def T(self) -> Tensor:
        """The last two axes swapped."""
        return self.transpose(-2, -1)

    def slice(self, axis: int, start: Optional[int] = None, stop: Optional[int] = None, step: int = 1) -> Tensor:
        """Elements start, start+step, ... < stop along axis (Python slice rules, step > 0)."""
        big = 2 ** 62
        return Tensor._wrap(new_handle(lib.xla_slice, self._handle, axis, 0 if start is None else start,
                                       big if stop is None else stop, step))

    def expand(self, *shape: Any) -> Tensor:
        """Broadcast to shape (size-1 axes stretch; -1 keeps a size)."""
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = tuple(shape[0])
        dims, ndim = _shape_array(shape)
        return Tensor._wrap(new_handle(lib.xla_expand, self._handle, ndim, dims))

    def squeeze(self, axis: int) -> Tensor:
        """Axis `axis` (of size 1) removed."""
        return Tensor._wrap(new_handle(lib.xla_squeeze, self._handle, axis))

    def unsqueeze(self, axis: int) -> Tensor:
        """A size-1 axis inserted at `axis`."""
        return Tensor._wrap(new_handle(lib.xla_unsqueeze, self._handle, axis))

    def __getitem__(self, key: Union[int, builtins.slice, Tuple[Union[int, builtins.slice], ...]]) -> Tensor:
        """Basic indexing: ints, slices with a positive step, and Ellipsis-free tuples of them
        (t[0], t[1:3], t[:, 2]). An int past the end raises IndexError (so iteration works)."""
        if not isinstance(key, tuple):
            key = (key,)
        shape = self.shape
        if len(key) > len(shape):
            raise IndexError("too many indices: %d for %d axes" % (len(key), len(shape)))
        out, axis = self, 0
        for k in key:
            if isinstance(k, numbers.Integral):
                n = out.shape[axis]
                i = int(k) + n if k < 0 else int(k)
                if not 0 <= i < n:
                    raise IndexError("index %d is out of range for axis of size %d" % (k, n))
                out = out.slice(axis, i, i + 1).squeeze(axis)
            elif isinstance(k, slice):
                start, stop, step = k.indices(out.shape[axis])
                if step <= 0:
                    raise InvalidArgumentError("slices need a positive step")
                out = out.slice(axis, start, max(start, stop), step)
                axis += 1
            else:
                raise InvalidArgumentError("unsupported index %r (ints and slices only)" % (k,))
        return out

    # ---- indexing and joining

    def index_select(self, axis: int, index: TensorLike) -> Tensor:
        """Entries of `axis` listed by a 1-D int32/int64 index (a Tensor or a list)."""
        index = _as_ids(index)
        return Tensor._wrap(new_handle(lib.xla_index_select, self._handle, axis, _h(index)))

    def gather(self, axis: int, index: TensorLike) -> Tensor:
        """torch.gather: out[i][j] = self[index[i][j]][j] for axis 0; out has index's shape."""
        index = _as_ids(index)
        return Tensor._wrap(new_handle(lib.xla_gather, self._handle, axis, _h(index)))

    def tril(self, k: int = 0) -> Tensor:
        """Zeroes above diagonal k of the last two axes."""
        return Tensor._wrap(new_handle(lib.xla_tril, self._handle, k))

    def triu(self, k: int = 0) -> Tensor:
        """Zeroes below diagonal k of the last two axes."""
        return Tensor._wrap(new_handle(lib.xla_triu, self._handle, k))

    # ---- autograd

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to or through this tensor. Settable on leaves (made by
        tensor() or a factory), floating dtypes only."""
        out = ctypes.c_int32()
        check(lib.xla_tensor_requires_grad(self._handle, ctypes.byref(out)))
        return bool(out.value)

    @requires_grad.setter
    def requires_grad(self, on: bool) -> None:
        check(lib.xla_tensor_set_requires_grad(self._handle, 1 if on else 0))

    def requires_grad_(self, on: bool = True) -> Tensor:
        """Sets requires_grad and returns self (chainable)."""
        self.requires_grad = on
        return self

    def backward(self, gradient: Optional[TensorLike] = None, retain_graph: bool = False) -> None:
        """Backpropagates from this tensor: with no gradient it must hold one element; else
        `gradient` (a Tensor or list of this shape) is d(loss)/d(self). The graph is freed
        afterwards unless retain_graph."""
        if gradient is None and not retain_graph:
            check(lib.xla_backward(self._handle))
        else:
            seed = None if gradient is None else _as(gradient, None)  # kept alive through the call
            check(lib.xla_backward_seeded(self._handle, None if seed is None else _h(seed),
                                          1 if retain_graph else 0))

    @property
    def grad(self) -> Optional[Tensor]:
        """The accumulated gradient (a float32 Tensor of this shape), or None."""
        h = new_handle(lib.xla_tensor_grad, self._handle)
        return Tensor._wrap(h) if h else None

    def zero_grad(self) -> None:
        """Forgets the accumulated gradient."""
        check(lib.xla_tensor_zero_grad(self._handle))

    def detach(self) -> Tensor:
        """The same values without history (gradients stop here)."""
        return Tensor._wrap(new_handle(lib.xla_tensor_detach, self._handle))

