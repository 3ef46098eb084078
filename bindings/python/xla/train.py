"""train.py — training a model in place: optimizers, the fused loss, datasets, the trainer
with a step callback, and checkpoints (docs/training.md).

Training changes the model: do not share it with other threads while it trains. Weights
must be float32.
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
import math
import os

from . import _lib
from ._lib import Owned, check, lib, new_handle, int32_array, encode_str, InvalidArgumentError
from .model import Model, PathLike, Tokens, _rows as _batch  # (flat ids, batch, seq_len) of rows
from .tensor import Tensor

if TYPE_CHECKING:
    from .tokenizer import Tokenizer

OPTIMIZERS = {"sgd": 0, "adam": 1, "adamw": 2}
SCHEDULES = {"constant": 0, "linear": 1, "cosine": 2}


def _loss_params(ignore_index: int = -100, label_smoothing: float = 0.0, z_loss: float = 0.0) -> _lib.LossParams:
    p = _lib.init_struct(_lib.LossParams, lib.xla_loss_params_init)
    p.ignore_index, p.label_smoothing, p.z_loss = ignore_index, label_smoothing, z_loss
    return p


def model_loss(model: Model, inputs: Tokens, targets: Tokens, ignore_index: int = -100,
               label_smoothing: float = 0.0, z_loss: float = 0.0) -> Tensor:
    """The mean cross-entropy of model on a batch, a 0-d float32 Tensor to call backward() on.
    inputs and targets are [batch][seq_len] lists of ids (or one row); targets[t] is the
    token position t should predict, or ignore_index where nothing is learned. The LM head
    and the loss are fused: the [tokens, vocab] logits are never held."""
    flat_in, batch, seq = _batch(inputs)
    flat_tg, tb, ts = _batch(targets)
    if (tb, ts) != (batch, seq):
        raise _lib.ShapeError("inputs are [%d, %d] but targets [%d, %d]" % (batch, seq, tb, ts))
    params = _loss_params(ignore_index, label_smoothing, z_loss)
    return Tensor._wrap(new_handle(lib.xla_model_loss, model._handle, int32_array(flat_in), int32_array(flat_tg),
                                   batch, seq, ctypes.byref(params)))


class Optimizer(Owned):
    """SGD, Adam or AdamW over every weight of a model, with PyTorch's semantics and defaults:
    Optimizer(model, kind="adamw", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=
    0.01 for AdamW / 0 otherwise, momentum=0, dampening=0, nesterov=False, decay_all=False).
    Arguments left None keep PyTorch's default for the kind. The optimizer keeps the model
    alive."""

    _free = "xla_optimizer_free"

    def __init__(self, model: Model, kind: str = "adamw", lr: Optional[float] = None,
                 betas: Optional[Tuple[float, float]] = None, eps: Optional[float] = None,
                 weight_decay: Optional[float] = None, momentum: Optional[float] = None,
                 dampening: Optional[float] = None, nesterov: Optional[bool] = None,
                 decay_all: Optional[bool] = None) -> None:
        if kind not in OPTIMIZERS:
            raise InvalidArgumentError("unknown optimizer kind %r (one of %s)" % (kind, ", ".join(OPTIMIZERS)))
        p = _lib.init_struct(_lib.OptimizerParams, lib.xla_optimizer_params_init)
        check(lib.xla_optimizer_params_defaults(ctypes.byref(p), OPTIMIZERS[kind], p.lr if lr is None else lr))
        if betas is not None:
            p.beta1, p.beta2 = betas
        for name, value in (("eps", eps), ("weight_decay", weight_decay), ("momentum", momentum),
                            ("dampening", dampening)):
            if value is not None:
                setattr(p, name, value)
        if nesterov is not None:
            p.nesterov = 1 if nesterov else 0
        if decay_all is not None:
            p.decay_all = 1 if decay_all else 0
        self.kind = kind
        self.model = model
        self._handle = new_handle(lib.xla_optimizer_create, model._handle, ctypes.byref(p))

    def step(self) -> None:
        """One update from the accumulated gradients."""
        check(lib.xla_optimizer_step(self._handle))

    def zero_grad(self) -> None:
        """Forgets every gradient (call before the next backward)."""
        check(lib.xla_optimizer_zero_grad(self._handle))

    @property
    def lr(self) -> float:
        """The learning rate (settable)."""
        out = ctypes.c_double()
        check(lib.xla_optimizer_get_lr(self._handle, ctypes.byref(out)))
        return float(out.value)

    @lr.setter
    def lr(self, value: float) -> None:
        check(lib.xla_optimizer_set_lr(self._handle, value))

    def clip_grad_norm(self, max_norm: float) -> float:
        """Scales the gradients to a global L2 norm of at most max_norm (<= 0: measure only);
        returns the norm before."""
        out = ctypes.c_double()
        check(lib.xla_optimizer_clip_grad_norm(self._handle, max_norm, ctypes.byref(out)))
        return float(out.value)


class Dataset(Owned):
    """Rows of seq_len token ids for training. Text goes through a Tokenizer, or byte-level
    when tokenizer is None (id = byte + 3, after <pad> 0, <eos> 1, <bos> 2: a 259-word model).
    len(dataset) is the number of rows."""

    _free = "xla_dataset_free"

    def __init__(self, handle: Optional[int], keep: Tuple[Any, ...] = ()) -> None:
        """Internal: wraps an xla_dataset* (use the from_* constructors)."""
        self._handle = handle
        self._keep = keep  # the tokenizer: datasets never outlive what made them

    @staticmethod
    def _tok(tokenizer: Optional[Tokenizer]) -> Optional[int]:
        return None if tokenizer is None else tokenizer._handle

    @classmethod
    def from_text(cls, text: Union[str, bytes], seq_len: int, tokenizer: Optional[Tokenizer] = None) -> Dataset:
        """Documents separated by blank lines, each <bos> text <eos>, packed into rows."""
        data = encode_str(text)
        return cls(new_handle(lib.xla_dataset_from_text, data, len(data), cls._tok(tokenizer), seq_len),
                   (tokenizer,))

    @classmethod
    def from_text_file(cls, path: PathLike, seq_len: int, tokenizer: Optional[Tokenizer] = None) -> Dataset:
        """from_text of a file's contents."""
        return cls(new_handle(lib.xla_dataset_from_text_file, encode_str(os.fspath(path)), cls._tok(tokenizer),
                              seq_len), (tokenizer,))

    @classmethod
    def from_pairs(cls, pairs: Iterable[Union[Tuple[str, str], Mapping[str, str]]], seq_len: int,
                   tokenizer: Optional[Tokenizer] = None) -> Dataset:
        """Prompt/response pairs — (prompt, response) tuples or dicts with "prompt" and
        "response" — with the loss on the response only."""
        prompts, responses = [], []
        for p in pairs:
            prompt, response = (p["prompt"], p["response"]) if isinstance(p, Mapping) else p
            prompts.append(encode_str(prompt))
            responses.append(encode_str(response))
        n = len(prompts)
        pa = (ctypes.c_char_p * max(1, n))(*prompts)
        ra = (ctypes.c_char_p * max(1, n))(*responses)
        return cls(new_handle(lib.xla_dataset_from_pairs, pa, ra, n, cls._tok(tokenizer), seq_len), (tokenizer,))

    @classmethod
    def from_jsonl(cls, path: PathLike, seq_len: int, tokenizer: Optional[Tokenizer] = None,
                   chat: bool = False) -> Dataset:
        """JSONL lines {"prompt": ..., "response": ...}, loss on the response only; chat=True
        renders them through Gemma's chat template."""
        return cls(new_handle(lib.xla_dataset_from_jsonl, encode_str(os.fspath(path)), cls._tok(tokenizer), seq_len,
                              1 if chat else 0), (tokenizer,))

    def split(self, val_fraction: float, seed: int = 0) -> Tuple[Dataset, Dataset]:
        """(train, val): a seeded random val_fraction of the rows in val, the rest in train."""
        tr, va = ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.xla_dataset_split(self._handle, val_fraction, seed, ctypes.byref(tr), ctypes.byref(va)))
        return Dataset(tr.value, self._keep), Dataset(va.value, self._keep)

    def __len__(self) -> int:
        n = int(lib.xla_dataset_size(self._handle))
        if n < 0:
            raise InvalidArgumentError("the dataset is closed")
        return n




def _metrics_dict(m: Any) -> Dict[str, Any]:
    """A dict of an xla_train_metrics: step, loss, lr, grad_norm, tokens_per_s, elapsed_s,
    tokens, mem_mb, val_loss and val_ppl (None when the step ran no validation), skipped."""
    d = {name: getattr(m, name) for name, _ in _lib.TrainMetrics._fields_ if name != "struct_size"}
    for k in ("val_loss", "val_ppl"):
        if math.isnan(d[k]):
            d[k] = None
    d["skipped"] = bool(d["skipped"])
    return d


_TRAINER_FIELDS = {name for name, _ in _lib.TrainerParams._fields_} - {"struct_size", "loss"}
_LOSS_FIELDS = {"ignore_index", "label_smoothing", "z_loss"}


class _TrainingLoop(Owned):
    """What Trainer and DpoTrainer share: run() with its callback, step(), evaluate(),
    resume() and save() over their C functions. A subclass names them: _c (the C prefix,
    "xla_trainer" or "xla_dpo_trainer"), _metrics_type, _callback_type, _metrics (a C metrics
    struct to a dict), _callback_args (the C callback's arguments less user_data, to the
    arguments of on_step) and _eval_set."""

    _c: str
    _metrics_type: Any
    _callback_type: Any
    _eval_set: Any
    stopped: bool

    _metrics: Callable[[Any], Dict[str, Any]]
    _callback_args: Callable[..., Tuple[Any, ...]]

    def _fn(self, verb: str) -> Callable[..., int]:
        fn: Callable[..., int] = getattr(lib, self._c + "_" + verb)
        return fn

    def _new_metrics(self) -> Any:
        return self._metrics_type(struct_size=ctypes.sizeof(self._metrics_type))

    def step(self) -> Dict[str, Any]:
        """One optimizer step; returns its metrics as a dict."""
        m = self._new_metrics()
        check(self._fn("step")(self._handle, ctypes.byref(m)))
        return self._metrics(m)

    def run(self, on_step: Optional[Callable[..., Any]] = None) -> int:
        """Steps until `steps` are done and returns how many this call ran. on_step is called
        after every step (Trainer: on_step(metrics); DpoTrainer: on_step(step, metrics)); a
        true return stops the run early. Stopping is not an error: run returns the steps done
        and sets self.stopped (the trainer can go on with step() or run()). An exception
        raised by on_step stops the run and propagates."""
        state: Dict[str, Any] = {"calls": 0, "error": None, "stop": False}

        def call(*args: Any) -> int:  # the C callback's arguments, user_data last
            state["calls"] += 1
            try:
                if on_step is not None and on_step(*self._callback_args(*args[:-1])):
                    state["stop"] = True
                    return 1
                return 0
            except BaseException as e:  # never unwind through C
                state["error"] = e
                return 1

        fn = self._callback_type(call)
        done = ctypes.c_int64(-1)
        status = self._fn("run")(self._handle, fn, None, ctypes.byref(done))
        self.stopped = state["stop"] or state["error"] is not None
        if state["error"] is not None:
            raise state["error"]
        if status == _lib.AbortedError.status and state["stop"]:
            return int(state["calls"])  # *steps_out is left untouched on an abort
        check(status)
        return int(done.value)

    def _evaluate(self, out: Any) -> Optional[bool]:
        """None without an eval set (where C reports an error), else fills out and returns True."""
        if self._eval_set is None or len(self._eval_set) == 0:
            return None
        check(self._fn("evaluate")(self._handle, ctypes.byref(out)))
        return True

    def resume(self) -> bool:
        """Continues from checkpoint_dir's latest training state if there is one; True if it
        did. A training state of the other kind of trainer raises FormatError."""
        out = ctypes.c_int32()
        check(self._fn("resume")(self._handle, ctypes.byref(out)))
        return bool(out.value)

    def save(self) -> None:
        """Writes a training state into checkpoint_dir now."""
        check(self._fn("save")(self._handle))


class Trainer(_TrainingLoop):
    """The whole training loop: micro-batches (grad_accum), clipping (max_grad_norm), the lr
    schedule ("constant", "linear" or "cosine", warmup_steps, min_lr_ratio), periodic
    validation (eval_every, eval_batches), a metrics JSONL (metrics_path), checkpoints
    (checkpoint_dir, checkpoint_every, keep_checkpoints) and a progress display (progress:
    -1 auto, 0 off). Keyword parameters are xla_trainer_params' fields (batch_size=8,
    steps=100, seed=0, ...) plus the loss options ignore_index, label_smoothing and z_loss.
    Trainer(model, optimizer, train, val=None, **params); it keeps them all alive. step()
    and run()'s on_step(metrics) give metrics dicts: step, loss, lr, grad_norm, tokens_per_s,
    elapsed_s, tokens, mem_mb, val_loss, val_ppl (None when the step ran no validation),
    skipped."""

    _free = "xla_trainer_free"
    _c = "xla_trainer"
    _metrics_type = _lib.TrainMetrics
    _callback_type = _lib.TRAIN_FN

    def __init__(self, model: Model, optimizer: Optimizer, train: Dataset, val: Optional[Dataset] = None,
                 **params: Any) -> None:
        p = _lib.init_struct(_lib.TrainerParams, lib.xla_trainer_params_init)
        self._strings: List[Optional[bytes]] = []
        for key, value in params.items():
            if key in _LOSS_FIELDS:
                setattr(p.loss, key, value)
            elif key == "schedule":
                if value not in SCHEDULES:
                    raise InvalidArgumentError("unknown schedule %r (one of %s)" % (value, ", ".join(SCHEDULES)))
                p.schedule = SCHEDULES[value]
            elif key in ("metrics_path", "checkpoint_dir"):
                s = None if value is None else encode_str(os.fspath(value))
                self._strings.append(s)
                setattr(p, key, s)
            elif key in _TRAINER_FIELDS:
                setattr(p, key, int(value) if isinstance(value, bool) else value)
            else:
                raise TypeError("Trainer() got an unknown parameter %r" % key)
        self.model, self.optimizer, self.train, self.val = model, optimizer, train, val
        self._eval_set = val
        self.stopped = False
        self._handle = new_handle(lib.xla_trainer_create, model._handle, optimizer._handle, train._handle,
                                  None if val is None else val._handle, ctypes.byref(p))

    _metrics = staticmethod(_metrics_dict)

    def _callback_args(self, metrics_ptr: Any) -> Tuple[Any, ...]:
        return (_metrics_dict(metrics_ptr.contents),)

    def evaluate(self) -> Optional[float]:
        """The mean validation loss, or None without a validation set."""
        out = ctypes.c_double()
        return None if self._evaluate(out) is None or math.isnan(out.value) else float(out.value)


def checkpoint_save(root: PathLike, model: Model, optimizer: Optional[Optimizer] = None, step: int = 0) -> None:
    """Writes a training state: root/step-N/ (weights, optimizer state, step) and replaces
    root/latest atomically. (Model.save writes a model folder alone.)"""
    check(lib.xla_checkpoint_save(encode_str(os.fspath(root)), model._handle,
                                  None if optimizer is None else optimizer._handle, step))


def checkpoint_load(path: PathLike, model: Model, optimizer: Optional[Optimizer] = None) -> int:
    """Reads a training-state folder, or a root's latest, into model (and optimizer) in place;
    returns its step. FileError when missing, FormatError naming a mismatch."""
    step = ctypes.c_int64()
    check(lib.xla_checkpoint_load(encode_str(os.fspath(path)), model._handle,
                                  None if optimizer is None else optimizer._handle, ctypes.byref(step)))
    return int(step.value)
