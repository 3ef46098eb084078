"""grpo.py — the GRPO loss (DeepSeekMath; Hugging Face TRL's GRPOTrainer) computed by libxla in
double, prompt data, and the GRPO trainer with Python functions as rewards: for each prompt
the policy samples a group of completions, the rewards are normalised within the group into
advantages, and the clipped loss takes the steps (the book's chapter "Learning from its own
samples")."""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union
import inspect
import numbers
import os

from . import _lib
from ._lib import Owned, check, lib, new_handle, encode_str, int32_array, InvalidArgumentError, ShapeError
from .model import Model, PathLike
from .train import SCHEDULES, Optimizer, _TrainingLoop

if TYPE_CHECKING:
    from .tokenizer import Tokenizer

Matrix = Any  # [n_seq][n_tok] numbers: nested sequences, a Tensor or a NumPy array

LOSS_TYPES = {"grpo": 0, "bnpo": 1, "dr_grpo": 2}
SAMPLERS = {"engine": 0, "sessions": 1}
REFERENCES = {"frozen_copy": 0, "model": 1, "lora_disabled": 3}
METRICS = ("loss", "kl", "clip_ratio_low", "clip_ratio_high", "clip_ratio_region")


def _matrix(name: str, data: Any, n_seq: Optional[int] = None, n_tok: Optional[int] = None) -> Tuple[Any, int, int]:
    """Flat doubles of rows ([n_seq][n_tok] lists, or a Tensor), with (n_seq, n_tok)."""
    if hasattr(data, "tolist"):
        data = data.tolist()
    rows = [list(r) for r in data]
    if not rows or not rows[0]:
        raise ShapeError("grpo_loss: %s is empty" % name)
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ShapeError("grpo_loss: the rows of %s differ in length: %s" % (name, [len(r) for r in rows]))
    if n_seq is not None and n_tok is not None and (len(rows), width) != (n_seq, n_tok):
        raise ShapeError("grpo_loss: %s is [%d, %d], logps is [%d, %d]" % (name, len(rows), width, n_seq, n_tok))
    flat = [float(v) for r in rows for v in r]
    return (ctypes.c_double * len(flat))(*flat), len(rows), width


def _vector(name: str, data: Any, n: int, ctype: Any = ctypes.c_double, convert: Callable[[Any], Any] = float) -> Any:
    if hasattr(data, "tolist"):
        data = data.tolist()
    values = [convert(v) for v in data]
    if len(values) != n:
        raise ShapeError("grpo_loss: %s has %d values, logps has %d rows" % (name, len(values), n))
    return (ctype * n)(*values)


def _length(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not float(v).is_integer():
        raise InvalidArgumentError("grpo_loss: a length must be a whole number, got %r" % (v,))
    return int(v)


def _grpo_params(p: Any, group_size: int, beta: float, epsilon: float, epsilon_high: float, loss_type: str,
                 scale_rewards: Union[bool, int]) -> None:
    if loss_type not in LOSS_TYPES:
        raise InvalidArgumentError("unknown loss_type %r (one of %s)" % (loss_type, ", ".join(LOSS_TYPES)))
    if isinstance(scale_rewards, bool):
        scale_rewards = int(scale_rewards)
    p.group_size, p.beta, p.epsilon, p.epsilon_high = group_size, beta, epsilon, epsilon_high
    p.loss_type, p.scale_rewards = LOSS_TYPES[loss_type], scale_rewards


def grpo_loss(logps: Matrix, old_logps: Optional[Matrix], ref_logps: Optional[Matrix], lengths: Sequence[int],
              rewards: Sequence[float], group_size: int, beta: float = 0.0, epsilon: float = 0.2,
              epsilon_high: float = 0.2, loss_type: str = "grpo", scale_rewards: Union[bool, int] = True,
              max_completion_length: int = 0) -> Dict[str, Any]:
    """The GRPO loss of a batch of completions, with TRL's metrics and the gradient, as a dict:
    loss, kl (0 when beta is 0), clip_ratio_low, clip_ratio_high, clip_ratio_region (TRL's
    clip_ratio/low_mean, ...: means over the completion tokens), advantages ([n_seq]) and grad
    (d loss / d logps, [n_seq][n_tok] nested lists, 0 outside each row's completion).

    logps, old_logps and ref_logps are [n_seq][n_tok] per-token log-probs (lists of rows, or
    Tensors) of the policy, of the policy that sampled (None: on-policy, old = logps) and of
    the reference (None only when beta is 0). lengths[i] tokens of row i count; rewards[i] is
    row i's reward; group_size consecutive rows are the completions of one prompt. loss_type
    "grpo", "bnpo" or "dr_grpo" (which divides by n_seq * max_completion_length, 0 = n_tok).
    Bad input (a NaN reward, a length out of range, ...) raises InvalidArgumentError or
    ShapeError with libxla's message."""
    lp, n_seq, n_tok = _matrix("logps", logps)
    old = None if old_logps is None else _matrix("old_logps", old_logps, n_seq, n_tok)[0]
    ref = None if ref_logps is None else _matrix("ref_logps", ref_logps, n_seq, n_tok)[0]
    lens = _vector("lengths", lengths, n_seq, ctypes.c_int32, _length)
    rw = _vector("rewards", rewards, n_seq)
    p = _lib.init_struct(_lib.GrpoParams, lib.xla_grpo_params_init)
    _grpo_params(p, group_size, beta, epsilon, epsilon_high, loss_type, scale_rewards)
    p.max_completion_length = max_completion_length
    adv = (ctypes.c_double * n_seq)()
    grad = (ctypes.c_double * (n_seq * n_tok))()
    out = _lib.GrpoMetrics(struct_size=ctypes.sizeof(_lib.GrpoMetrics))
    check(lib.xla_grpo_loss(ctypes.byref(p), lp, old, ref, lens, rw, n_seq, n_tok, adv, grad, ctypes.byref(out)))
    result = {k: getattr(out, k) for k in METRICS}
    result["advantages"] = list(adv)
    result["grad"] = [list(grad[i * n_tok:(i + 1) * n_tok]) for i in range(n_seq)]
    return result


# ---------------------------------------------------------------- prompts


class PromptDataset(Owned):
    """Prompts for GrpoTrainer, each with an optional answer (what the exact_match reward
    compares with). Text goes through a Tokenizer, or byte-level when tokenizer is None (id =
    byte + 3: a 259-word model); each prompt gets <bos>, and with chat=True is rendered as a
    user turn followed by the model's turn opener. len() is the number of prompts."""

    _free = "xla_prompt_dataset_free"

    def __init__(self, handle: Optional[int], keep: Tuple[Any, ...] = ()) -> None:
        """Internal: wraps an xla_prompt_dataset* (use from_text or from_jsonl)."""
        self._handle = handle
        self._keep = keep  # the tokenizer: the dataset never outlives what made it

    @staticmethod
    def _tok(tokenizer: Optional[Tokenizer]) -> Optional[int]:
        return None if tokenizer is None else tokenizer._handle

    @classmethod
    def from_text(cls, prompts: Sequence[str], answers: Optional[Sequence[Optional[str]]] = None,
                  tokenizer: Optional[Tokenizer] = None, chat: bool = False) -> PromptDataset:
        """Prompts from strings; answers None, or one per prompt (None = no answer)."""
        texts = [encode_str(p) for p in prompts]
        n = len(texts)
        ans = None
        if answers is not None:
            answer_texts = [None if a is None else encode_str(a) for a in answers]
            if len(answer_texts) != n:
                raise InvalidArgumentError("from_text: %d prompts but %d answers" % (n, len(answer_texts)))
            ans = (ctypes.c_char_p * max(1, n))(*answer_texts)
        return cls(new_handle(lib.xla_prompt_dataset_from_text, (ctypes.c_char_p * max(1, n))(*texts), ans, n,
                              cls._tok(tokenizer), 1 if chat else 0), (tokenizer,))

    @classmethod
    def from_jsonl(cls, path: PathLike, tokenizer: Optional[Tokenizer] = None, chat: bool = False) -> PromptDataset:
        """One prompt a line: {"prompt": "...", "answer": "..."} or {"prompt_ids": [...],
        "answer": "..."} ("answer" optional). FileError when unreadable, FormatError naming
        file:line."""
        return cls(new_handle(lib.xla_prompt_dataset_load_jsonl, encode_str(os.fspath(path)), cls._tok(tokenizer),
                              1 if chat else 0), (tokenizer,))

    def __len__(self) -> int:
        n = int(lib.xla_prompt_dataset_size(self._handle))
        if n < 0:
            raise InvalidArgumentError("the prompt dataset is closed")
        return n


# ---------------------------------------------------------------- rewards

REWARD_ARGS = ("prompt_ids", "completion_ids", "prompt_text", "completion_text", "answer")


def _reward_caller(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn as a function of the five reward arguments (REWARD_ARGS order). A function whose
    parameters are all among those names (or that takes **kwargs) gets the ones it names, by
    keyword; any other gets the five positionally."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        return fn
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return lambda *a: fn(**dict(zip(REWARD_ARGS, a)))
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if params and all(p.kind != p.VAR_POSITIONAL for p in params) and named and all(n in REWARD_ARGS for n in named):
        return lambda *a: fn(**{k: v for k, v in zip(REWARD_ARGS, a) if k in named})
    return fn


# ---------------------------------------------------------------- the trainer

# xla_grpo_step_metrics' fields and TRL's names for them
TRL_NAMES = {"step": "step", "loss": "loss", "kl": "kl", "clip_ratio_low": "clip_ratio/low_mean",
             "clip_ratio_high": "clip_ratio/high_mean", "clip_ratio_region": "clip_ratio/region_mean",
             "reward": "reward", "reward_std": "reward_std", "frac_reward_zero_std": "frac_reward_zero_std",
             "completion_mean_length": "completions/mean_length", "clipped_ratio": "completions/clipped_ratio",
             "grad_norm": "grad_norm", "learning_rate": "learning_rate", "samples_per_s": "samples_per_s",
             "sampled_tokens_per_s": "sampled_tokens_per_s"}
_GRPO_TRAINER_FIELDS = {name for name, _ in _lib.GrpoTrainerParams._fields_} - {
    "struct_size", "grpo", "sampling", "sampler", "reference", "reference_model"}
_SAMPLING_FIELDS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty")


def _trl_metrics(m: Any) -> Dict[str, Any]:
    """A dict of an xla_grpo_step_metrics under TRL's metric names (sampled: a bool)."""
    d = {trl: getattr(m, field) for field, trl in TRL_NAMES.items()}
    d["sampled"] = bool(m.sampled)
    return d


class GrpoTrainer(_TrainingLoop):
    """Hugging Face TRL's GRPOTrainer: trains `policy` with `optimizer` on `prompts` (a
    PromptDataset). Each round samples group_size completions of grad_accum * batch_size /
    group_size prompts (through the serving engine, sampler="engine", or one session each,
    "sessions"), scores them with the rewards, and takes num_iterations optimizer steps on them.

    rewards: a list of reward functions, each a callable (named after its __name__), a tuple
    (name, callable) or (name, callable, weight), or the string "exact_match" (1 when the
    completion's text, trimmed, equals the prompt's answer). The total reward is the weighted
    sum. A callable gets the completion as (prompt_ids, completion_ids, prompt_text,
    completion_text, answer) — or, when its parameters are all among those names, just the
    ones it names (e.g. `def reward(completion_text, answer)`) — and returns a number. An
    exception in it fails the step: step() and run() raise that exception. A NaN reward
    raises InvalidArgumentError naming the reward. add_reward and add_format_reward add more.

    Keyword parameters: the loss's group_size=4, beta=0 (the KL coefficient; beta != 0 needs
    a reference: "frozen_copy" (default), "model" with reference_model, or "lora_disabled"),
    epsilon=0.2, epsilon_high=0.2, loss_type ("grpo", "bnpo", "dr_grpo"), scale_rewards=True;
    sampling's max_completion_length=64, temperature=1 (> 0), top_k, top_p, min_p,
    repetition_penalty, stop_ids (None: <eos>), sampler="engine", engine_max_seqs=8,
    num_iterations=1; and xla_grpo_trainer_params' loop fields: batch_size=8 (completions per
    micro-batch, a multiple of group_size), grad_accum=1, steps=100, schedule ("constant",
    "linear", "cosine"), warmup_steps, min_lr_ratio, max_grad_norm=1.0, seed (prompt order and
    every completion's sampler seed), metrics_path (JSONL with TRL's names), checkpoint_dir,
    checkpoint_every, keep_checkpoints=2, progress=-1 (0: off).

    The trainer keeps the policy, the optimizer, the prompts, the tokenizer (None: bytes) and
    the reference model alive. Metrics are dicts with TRL's keys: step, loss, kl,
    clip_ratio/low_mean, clip_ratio/high_mean, clip_ratio/region_mean, reward, reward_std,
    frac_reward_zero_std, completions/mean_length, completions/clipped_ratio, grad_norm,
    learning_rate, samples_per_s, sampled_tokens_per_s, and sampled (True when the step drew
    a new round). run()'s on_step gets (step, metrics)."""

    _free = "xla_grpo_trainer_free"
    _c = "xla_grpo_trainer"
    _metrics_type = _lib.GrpoStepMetrics
    _callback_type = _lib.GRPO_FN
    _eval_set = None

    def __init__(self, policy: Model, optimizer: Optimizer, prompts: PromptDataset,
                 tokenizer: Optional[Tokenizer] = None, rewards: Iterable[Any] = (), group_size: int = 4,
                 beta: float = 0.0, epsilon: float = 0.2, epsilon_high: float = 0.2, loss_type: str = "grpo",
                 scale_rewards: Union[bool, int] = True, sampler: str = "engine", reference: str = "frozen_copy",
                 reference_model: Optional[Model] = None, stop_ids: Optional[Iterable[int]] = None,
                 **params: Any) -> None:
        if sampler not in SAMPLERS:
            raise InvalidArgumentError("unknown sampler %r (one of %s)" % (sampler, ", ".join(SAMPLERS)))
        if reference not in REFERENCES:
            raise InvalidArgumentError("unknown reference %r (one of %s)" % (reference, ", ".join(REFERENCES)))
        p = _lib.init_struct(_lib.GrpoTrainerParams, lib.xla_grpo_trainer_params_init)
        _grpo_params(p.grpo, group_size, beta, epsilon, epsilon_high, loss_type, scale_rewards)
        p.sampler, p.reference = SAMPLERS[sampler], REFERENCES[reference]
        p.reference_model = None if reference_model is None else reference_model._handle
        self._keep: List[Any] = []  # strings and arrays the params point at

        def string(value: Optional[PathLike]) -> Optional[bytes]:
            s = None if value is None else encode_str(os.fspath(value))
            self._keep.append(s)
            return s

        if stop_ids is not None:
            ids = int32_array(stop_ids)
            self._keep.append(ids)
            p.sampling.n_stop_ids = len(ids)
            p.sampling.stop_ids = ctypes.cast(ids, _lib.I32P)
        for key, value in params.items():
            if key in _SAMPLING_FIELDS:
                setattr(p.sampling, key, value)
            elif key == "schedule":
                if value not in SCHEDULES:
                    raise InvalidArgumentError("unknown schedule %r (one of %s)" % (value, ", ".join(SCHEDULES)))
                p.schedule = SCHEDULES[value]
            elif key in ("metrics_path", "checkpoint_dir"):
                setattr(p, key, string(value))
            elif key in _GRPO_TRAINER_FIELDS:
                setattr(p, key, int(value) if isinstance(value, bool) else value)
            else:
                raise TypeError("GrpoTrainer() got an unknown parameter %r" % key)
        self.policy, self.optimizer, self.prompts, self.tokenizer = policy, optimizer, prompts, tokenizer
        self.reference, self.reference_model = reference, reference_model
        self.stopped = False
        self._reward_fns: List[Any] = []  # the ctypes callbacks: alive as long as the trainer
        self._reward_error: Optional[BaseException] = None
        self._handle = new_handle(lib.xla_grpo_trainer_create, policy._handle, optimizer._handle, prompts._handle,
                                  None if tokenizer is None else tokenizer._handle, ctypes.byref(p))
        for i, r in enumerate(rewards):
            if isinstance(r, str):
                if r != "exact_match":
                    raise InvalidArgumentError("unknown built-in reward %r (\"exact_match\"; see add_format_reward)"
                                               % r)
                self.add_exact_match_reward()
            elif callable(r):
                name = getattr(r, "__name__", None)
                self.add_reward(r, name if name and name.isidentifier() else "reward%d" % i)
            elif isinstance(r, tuple) and len(r) in (2, 3) and isinstance(r[0], str) and callable(r[1]):
                self.add_reward(r[1], r[0], *r[2:])
            else:
                raise InvalidArgumentError("rewards[%d] is %r: give a callable, (name, callable[, weight]) or "
                                           "\"exact_match\"" % (i, r))

    def add_reward(self, fn: Callable[..., Any], name: Optional[str] = None, weight: float = 1.0) -> None:
        """Adds a reward function (see the class): metrics rewards/<name>/mean in the JSONL;
        name defaults to fn.__name__."""
        if not callable(fn):
            raise InvalidArgumentError("add_reward: %r is not callable" % (fn,))
        label: str = name or getattr(fn, "__name__", None) or "reward"
        call = _reward_caller(fn)

        def c_reward(prompt: Any, n_prompt: int, completion: Any, n_completion: int, prompt_text: Optional[bytes],
                     completion_text: Optional[bytes], answer: Optional[bytes], out: Any, _user: Any) -> int:
            try:
                texts = [(t or b"").decode("utf-8", "replace") for t in (prompt_text, completion_text, answer)]
                r = call(prompt[:n_prompt], completion[:n_completion], *texts)
                if not isinstance(r, numbers.Real):
                    raise TypeError("reward %r returned %r, not a number" % (label, r))
                out[0] = float(r)
                return 0
            except BaseException as e:  # never unwind through C: step() raises it
                if self._reward_error is None:
                    self._reward_error = e
                return 1

        fn_c = _lib.REWARD_FN(c_reward)
        check(lib.xla_grpo_trainer_add_reward(self._handle, encode_str(label), fn_c, None, float(weight)))
        self._reward_fns.append(fn_c)

    def add_exact_match_reward(self, weight: float = 1.0) -> None:
        """1 when the completion's text, trimmed, equals the prompt's answer (0 without one)."""
        check(lib.xla_grpo_trainer_add_exact_match_reward(self._handle, float(weight)))

    def add_format_reward(self, pattern: str, weight: float = 1.0) -> None:
        """1 when the whole completion text matches `pattern` (an ECMAScript regex)."""
        check(lib.xla_grpo_trainer_add_format_reward(self._handle, encode_str(pattern), float(weight)))

    def _raise_reward_error(self) -> None:
        e, self._reward_error = self._reward_error, None
        if e is not None:
            raise e

    def step(self) -> Dict[str, Any]:
        """One optimizer step (sampling a round first when one is due); returns its metrics.
        An exception raised by a reward function comes back from here."""
        self._reward_error = None
        m = self._new_metrics()
        status = lib.xla_grpo_trainer_step(self._handle, ctypes.byref(m))
        self._raise_reward_error()
        check(status)
        return _trl_metrics(m)

    def run(self, on_step: Optional[Callable[..., Any]] = None) -> int:
        """Steps until `steps` are done and returns how many this call ran; on_step(step,
        metrics) returning true stops early (self.stopped). An exception raised by on_step or
        by a reward function stops the run and comes back from here."""
        self._reward_error = None
        try:
            return super().run(on_step)
        except _lib.AbortedError:
            if self._reward_error is None:
                raise
        e, self._reward_error = self._reward_error, None
        self.stopped = True
        raise e

    _metrics = staticmethod(_trl_metrics)

    def _callback_args(self, step: int, metrics_ptr: Any) -> Tuple[Any, ...]:
        return int(step), _trl_metrics(metrics_ptr.contents)

