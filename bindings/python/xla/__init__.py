"""xla — Python bindings of libxla (the Gemma CPU library) through its C API, with ctypes and
the standard library only.

    import xla
    x = xla.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x * x).sum().backward()
    print(x.grad.tolist())                      # [[2.0, 4.0], [6.0, 8.0]]

    model = xla.Model.load("path/to/gemma")     # a Hugging Face folder
    tok = xla.Tokenizer.load("tokenizer.json")
    ids = model.generate(tok.encode("Hello"), max_new_tokens=20, on_token=print)

    with xla.Engine(model, max_seqs=8) as engine:   # continuous batching
        a = engine.submit(tok.encode("Hello"), max_new_tokens=20)
        b = engine.submit(tok.encode("Bonjour"), temperature=0.7, seed=1)
        while not engine.idle:
            for ev in engine.step():            # Event(id, token, finish)
                print(ev.id, ev.token, ev.finish)

libxla.so is found through the LIBXLA environment variable, next to the package (an
installed package carries its own copy), in the source tree's build/, or on the loader's
path (see _lib.py). Errors raise XlaError
subclasses carrying libxla's message. See bindings/python/README.md.
"""
from __future__ import annotations

from ._lib import (XlaError, InvalidArgumentError, ShapeError, DTypeError, FileError, FormatError,
                   OutOfMemoryError, BufferTooSmallError, UnsupportedError, AbortedError, InternalError,
                   BusyError, last_error, lib as _c)
from .tensor import (Tensor, DTYPES, tensor, zeros, ones, full, arange, randn, rand, where, concat, stack, split,
                     embedding, cross_entropy, no_grad, enable_grad, is_grad_enabled, set_grad_enabled)
from .model import Model, Session
from .engine import Engine, Event
from .tokenizer import Tokenizer, SpecialIds, chat_render
from .train import Optimizer, Dataset, Trainer, model_loss, checkpoint_save, checkpoint_load
from .dpo import dpo_loss, PreferenceDataset, DpoTrainer
from .grpo import grpo_loss, PromptDataset, GrpoTrainer
from .dlpack import from_dlpack

__version__: str = _c.xla_version_string().decode()
ABI_VERSION: int = _c.xla_abi_version()
# The SIMD kernels this process runs ("baseline", "avx2", "avx512", "avx512bf16"; XLA_CPU forces a lower one).
CPU_PATH: str = _c.xla_cpu_path().decode()


def set_num_threads(n: int) -> None:
    """Threads libxla's own parallel loops use (n <= 0: all cores); affects only libxla."""
    from ._lib import check
    check(_c.xla_set_num_threads(n))


def get_num_threads() -> int:
    """The thread count libxla's loops use now."""
    return int(_c.xla_get_num_threads())


__all__ = [
    "__version__", "ABI_VERSION", "CPU_PATH", "set_num_threads", "get_num_threads", "last_error",
    "XlaError", "InvalidArgumentError", "ShapeError", "DTypeError", "FileError", "FormatError", "OutOfMemoryError",
    "BufferTooSmallError", "UnsupportedError", "AbortedError", "InternalError", "BusyError",
    "Tensor", "DTYPES", "tensor", "zeros", "ones", "full", "arange", "randn", "rand", "where", "concat", "stack",
    "split", "embedding", "cross_entropy", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "Model", "Session", "Engine", "Event", "Tokenizer", "SpecialIds", "chat_render",
    "Optimizer", "Dataset", "Trainer", "model_loss", "checkpoint_save", "checkpoint_load", "dpo_loss",
    "PreferenceDataset", "DpoTrainer", "grpo_loss", "PromptDataset", "GrpoTrainer", "from_dlpack",
]
