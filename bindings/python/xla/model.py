"""model.py — models, Gemma or Mamba (load, create, save, forward, log-probs, generation) and sessions.

A loaded model is immutable for inference and may be shared by threads (each with its own
Session); training changes it in place (see train.py).
"""
from __future__ import annotations

import contextlib
import ctypes
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
import json
import os

from . import _lib
from ._lib import Owned, check, lib, new_handle, int32_array, encode_str, InvalidArgumentError
from .tensor import DType, Tensor, _code, tensor as _tensor

PathLike = Union[str, os.PathLike[str]]
Tokens = Union[Sequence[int], Sequence[Sequence[int]], Tensor]  # one row of ids, equal rows, or an int Tensor


_Q8 = 6  # XLA_Q8: a weight format (int8 blocks of 32 with an f16 scale), never a Tensor dtype


def _model_options(weight_dtype: Union[DType, str]) -> _lib.ModelOptions:
    opts = _lib.init_struct(_lib.ModelOptions, lib.xla_model_options_init)
    opts.weight_dtype = _Q8 if weight_dtype in ("q8", "int8") else _code(weight_dtype)
    return opts


def _rows(tokens: Tokens) -> Tuple[List[int], int, int]:
    """(flat ids, batch, seq_len) of a list of ids (one row), a list of equal rows, or an
    int Tensor of 1 or 2 axes."""
    rows: List[Any] = tokens.tolist() if isinstance(tokens, Tensor) else list(tokens)
    if rows and isinstance(rows[0], (list, tuple)):
        seq = len(rows[0])
        if any(len(r) != seq for r in rows):
            raise InvalidArgumentError("every row of tokens must have the same length")
        return [int(t) for r in rows for t in r], len(rows), seq
    return [int(t) for t in rows], 1, len(rows)


class _TokenCallback:
    """Wraps a Python on_token(token) -> truthy-to-stop as an xla_token_fn kept alive for the
    call; an exception inside it stops generation and is re-raised after the C call."""

    def __init__(self, on_token: Optional[Callable[[int], Any]]) -> None:
        self.on_token = on_token
        self.stopped = False
        self.error: Optional[BaseException] = None
        self.fn = _lib.TOKEN_FN(self._call) if on_token is not None else _lib.TOKEN_FN(0)

    def _call(self, token: int, _user_data: Optional[int]) -> int:
        try:
            if self.on_token is not None and self.on_token(int(token)):
                self.stopped = True
                return 1
            return 0
        except BaseException as e:  # never let an exception unwind through C
            self.error = e
            return 1

    def finish(self, status: int) -> None:
        """Raises what the callback raised, or the status' error unless the callback stopped."""
        if self.error is not None:
            raise self.error
        if not (status == _lib.AbortedError.status and self.stopped):
            check(status)


def _sampler(max_new_tokens: Optional[int], temperature: Optional[float], top_k: Optional[int],
             top_p: Optional[float], min_p: Optional[float], repetition_penalty: Optional[float],
             seed: Optional[int], stop_ids: Optional[Iterable[int]]) -> Tuple[_lib.SamplerParams, Any]:
    """(xla_sampler_params, keep-alive) from keyword values; None keeps the library default."""
    p = _lib.init_struct(_lib.SamplerParams, lib.xla_sampler_params_init)
    for name, value in (("max_new_tokens", max_new_tokens), ("temperature", temperature), ("top_k", top_k),
                        ("top_p", top_p), ("min_p", min_p), ("repetition_penalty", repetition_penalty),
                        ("seed", seed)):
        if value is not None:
            setattr(p, name, value)
    stops = int32_array(stop_ids or ())
    if len(stops):
        p.n_stop_ids, p.stop_ids = len(stops), ctypes.cast(stops, _lib.I32P)
    return p, stops


def _generate(fn: Callable[..., int], handle: Optional[int], prompt_ids: Iterable[int],
              on_token: Optional[Callable[[int], Any]], kw: Dict[str, Any]) -> List[int]:
    params, keep = _sampler(**kw)
    prompt = int32_array(prompt_ids)
    cap = max(1, params.max_new_tokens)
    out = (ctypes.c_int32 * cap)()
    n = ctypes.c_size_t()
    cb = _TokenCallback(on_token)
    status = fn(handle, prompt, len(prompt), ctypes.byref(params), cb.fn, None, out, cap, ctypes.byref(n))
    cb.finish(status)
    del keep
    return [int(t) for t in out[:n.value]]


_GENERATE_DOC = """Generates up to max_new_tokens (default 256) token ids after prompt_ids and returns
        the new ones. temperature 0 (the default) is greedy; top_k 0, top_p 1, min_p 0 and
        repetition_penalty 1 are off; seed fixes sampling; generation ends after emitting any of
        stop_ids. on_token(token) is called with each new token as it is made: a true return
        stops generation early — not an error: the tokens produced are returned, the refused one
        last. An exception raised by on_token stops generation and propagates."""


class Model(Owned):
    """A Gemma 1, 2 or 3 or a Mamba text model, chosen by config.json's model_type (the
    xla_model* is freed by close(), `with`, or collection). Build one with Model.load(folder)
    or Model.create(config); everything below works the same for both families."""

    _free = "xla_model_free"

    def __init__(self, handle: Optional[int]) -> None:
        """Internal: wraps an xla_model* handle (use load or create)."""
        self._handle = handle
        self._lora_enabled: Optional[bool] = None  # None: no adapters; else the flag last set through this object

    @classmethod
    def load(cls, path: PathLike, weight_dtype: DType = "float32") -> Model:
        """Loads a Hugging Face folder (config.json + *.safetensors, sharded or not).
        weight_dtype "bfloat16" halves the memory (compute stays float32); "q8" keeps every
        matrix as int8 blocks of 32 with an f16 scale (about a quarter; Gemma only). Raises FileError
        for missing files, FormatError for corrupt ones (the message names the problem)."""
        opts = _model_options(weight_dtype)
        return cls(new_handle(lib.xla_model_load_ex, encode_str(path), ctypes.byref(opts)))

    @classmethod
    def create(cls, config: Union[str, Mapping[str, Any]], seed: int = 0, weight_dtype: DType = "float32") -> Model:
        """A model with random weights from a config (a dict, or config.json text)."""
        text = config if isinstance(config, (str, bytes)) else json.dumps(config)
        opts = _model_options(weight_dtype)
        return cls(new_handle(lib.xla_model_create_ex, encode_str(text), seed, ctypes.byref(opts)))

    def save(self, path: PathLike) -> None:
        """Writes config.json and model.safetensors into folder `path` (created if needed)."""
        check(lib.xla_model_save(self._handle, encode_str(os.fspath(path))))

    def close(self) -> None:
        """Frees the model now (idempotent). Sessions, optimizers and trainers made from it
        hold a reference, so garbage collection never frees it under them — but close() does:
        call it only once they are done (or just let collection free it)."""
        super().close()

    @property
    def vocab_size(self) -> int:
        """The number of token ids."""
        n = int(lib.xla_model_vocab_size(self._handle))
        if n < 0:
            raise InvalidArgumentError("the model is closed")
        return n

    @property
    def architecture(self) -> str:
        """The family: "gemma" (attention, a KV cache) or "mamba" (a recurrent state)."""
        name = lib.xla_model_architecture(self._handle)
        if name is None:
            raise InvalidArgumentError("the model is closed")
        return str(name.decode())

    def forward(self, tokens: Tokens, as_list: bool = False) -> Any:
        """Logits for every position: tokens a list of ids ([seq_len] -> logits [seq_len,
        vocab]) or of equal rows ([batch, seq_len] -> [batch, seq_len, vocab]); a float32
        Tensor, or nested lists when as_list."""
        if isinstance(tokens, Tensor):
            one_row = tokens.ndim == 1
        else:
            rows: List[Any] = list(tokens)
            one_row = not (rows and isinstance(rows[0], (list, tuple)))
        flat, batch, seq = _rows(tokens)
        vocab = self.vocab_size
        n = batch * seq * vocab
        buf = (ctypes.c_float * max(1, n))()
        check(lib.xla_model_forward(self._handle, int32_array(flat), batch, seq, buf, n))
        shape = [seq, vocab] if one_row else [batch, seq, vocab]
        t = _tensor(memoryview(buf).cast("B")[:4 * n], dtype="float32", shape=shape)
        return t.tolist() if as_list else t

    def logprob(self, tokens: Iterable[int], start: int = 1) -> float:
        """Sum of log p(tokens[i] | tokens[<i]) for i in [start, len(tokens)), in double: the
        score of a completion that starts at position `start`."""
        ids = int32_array(tokens)
        out = ctypes.c_double()
        check(lib.xla_model_logprob(self._handle, ids, len(ids), start, ctypes.byref(out)))
        return float(out.value)

    def loss(self, inputs: Tokens, targets: Tokens, ignore_index: int = -100, label_smoothing: float = 0.0,
             z_loss: float = 0.0) -> Tensor:
        """The mean cross-entropy on a batch as a 0-d Tensor for backward() (see
        train.model_loss)."""
        from .train import model_loss
        return model_loss(self, inputs, targets, ignore_index, label_smoothing, z_loss)

    def generate(self, prompt_ids: Iterable[int], max_new_tokens: Optional[int] = None,
                 temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
                 min_p: Optional[float] = None, repetition_penalty: Optional[float] = None,
                 seed: Optional[int] = None, stop_ids: Iterable[int] = (),
                 on_token: Optional[Callable[[int], Any]] = None) -> List[int]:
        return _generate(lib.xla_generate, self._handle, prompt_ids, on_token, dict(
            max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
            repetition_penalty=repetition_penalty, seed=seed, stop_ids=stop_ids))

    generate.__doc__ = _GENERATE_DOC

    def session(self, compile: bool = False) -> Session:
        """A new Session (its own KV cache) over this model; compile=True: see Session."""
        return Session(self, compile=compile)

    # ---- LoRA

    def add_lora(self, rank: int, alpha: float, seed: int = 0) -> None:
        """Adds low-rank adapters to every projection of every layer (Gemma: q/k/v/o and
        gate/up/down; Mamba: in_proj/x_proj/dt_proj/out_proj): each projection
        W computes x Wᵀ + (alpha / rank) · x Aᵀ Bᵀ with A random (seeded) and B zeros, so the
        model's outputs are unchanged until it trains. An Optimizer made afterwards trains the
        adapters only; training checkpoints hold them, save() writes the base weights only.
        The adapters start enabled. InvalidArgumentError for rank < 1, alpha <= 0 or a model
        that has adapters already."""
        check(lib.xla_model_add_lora(self._handle, int(rank), float(alpha), int(seed)))
        self._lora_enabled = True

    @property
    def has_lora(self) -> bool:
        """True once add_lora() has been called on this model."""
        return self._lora_enabled is not None

    @property
    def lora_enabled(self) -> Optional[bool]:
        """Whether the adapters are on (settable; off gives exactly the base model), or None
        for a model without adapters. Setting it on a model without adapters raises
        InvalidArgumentError. One flag for the model: not thread-safe."""
        return self._lora_enabled

    @lora_enabled.setter
    def lora_enabled(self, on: bool) -> None:
        check(lib.xla_model_set_lora_enabled(self._handle, 1 if on else 0))
        self._lora_enabled = bool(on)

    @contextlib.contextmanager
    def lora_disabled(self) -> Iterator[Model]:
        """`with model.lora_disabled():` runs the block on the base model (adapters off), then
        restores the previous setting, also on an exception."""
        prev = self._lora_enabled
        self.lora_enabled = False
        try:
            yield self
        finally:
            self.lora_enabled = prev


class Session(Owned):
    """A model plus its own KV cache, for multi-turn use: what was fed and generated stays in
    the context. One thread at a time; it keeps its model alive."""

    _free = "xla_session_free"

    def __init__(self, model: Model, compile: bool = False) -> None:
        """compile=True: each generated token replays a compiled graph of the model's step
        (no allocation per token; logits equal the eager ones to float rounding). Gemma only:
        UnsupportedError for Mamba."""
        self.model = model
        self._handle = new_handle(lib.xla_session_create, model._handle)
        if compile:
            self.compile(True)

    def compile(self, on: bool = True) -> None:
        """Switches compiled one-token steps on or off."""
        check(lib.xla_session_compile(self._handle, 1 if on else 0))

    def __len__(self) -> int:
        """Tokens of context held."""
        n = int(lib.xla_session_length(self._handle))
        if n < 0:
            raise InvalidArgumentError("the session is closed")
        return n

    def reset(self) -> None:
        """Forgets the context."""
        check(lib.xla_session_reset(self._handle))

    def feed(self, ids: Iterable[int], logits: bool = False) -> Optional[Tensor]:
        """Appends ids to the context; with logits=True returns the float32 Tensor [vocab] of
        logits that predict the next token (else None)."""
        arr = int32_array(ids)
        if not logits:
            check(lib.xla_session_feed(self._handle, arr, len(arr), None, 0))
            return None
        vocab = self.model.vocab_size
        buf = (ctypes.c_float * vocab)()
        check(lib.xla_session_feed(self._handle, arr, len(arr), buf, vocab))
        return _tensor(memoryview(buf).cast("B"), dtype="float32", shape=[vocab])

    def generate(self, prompt_ids: Iterable[int] = (), max_new_tokens: Optional[int] = None,
                 temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
                 min_p: Optional[float] = None, repetition_penalty: Optional[float] = None,
                 seed: Optional[int] = None, stop_ids: Iterable[int] = (),
                 on_token: Optional[Callable[[int], Any]] = None) -> List[int]:
        return _generate(lib.xla_session_generate, self._handle, prompt_ids, on_token, dict(
            max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
            repetition_penalty=repetition_penalty, seed=seed, stop_ids=stop_ids))

    generate.__doc__ = _GENERATE_DOC.replace("after prompt_ids", "after the context plus prompt_ids (may be "
                                             "empty)") + " The new tokens stay in the context."
