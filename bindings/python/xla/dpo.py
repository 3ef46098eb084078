"""dpo.py — the DPO loss and its metrics (Rafailov et al. 2023) with Hugging Face TRL 0.x
semantics, computed by libxla in double (docs/dpo.md); preference data and the DPO trainer
(TRL's DPOTrainer: a policy trained against a frozen copy, another model, precomputed
log-probs, or itself with its LoRA adapters off)."""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union
import numbers
import os

from . import _lib
from ._lib import Owned, check, lib, new_handle, encode_str, InvalidArgumentError
from .model import Model, PathLike
from .train import SCHEDULES, Optimizer, _TrainingLoop

if TYPE_CHECKING:
    from .tokenizer import Tokenizer

LogProbs = Union[float, Sequence[float], Any]  # a number, a sequence, or a NumPy array of them

LOSS_TYPES = {"sigmoid": 0, "ipo": 1, "hinge": 2}
METRICS = ("loss", "reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin", "logp_chosen",
           "logp_rejected")


def _doubles(name: str, values: Any) -> Tuple[Any, int]:
    if isinstance(values, numbers.Real):
        values = [values]
    elif hasattr(values, "tolist"):  # a Tensor (or a NumPy array)
        values = values.tolist()
    values = [float(v) for v in values]
    return (ctypes.c_double * max(1, len(values)))(*values), len(values)


def dpo_loss(policy_chosen: LogProbs, policy_rejected: LogProbs, ref_chosen: LogProbs, ref_rejected: LogProbs,
             beta: float = 0.1, loss_type: str = "sigmoid", label_smoothing: float = 0.0) -> Dict[str, float]:
    """The DPO loss and TRL's metrics of a batch of pairs, as a dict with the keys loss,
    reward_chosen, reward_rejected, reward_accuracy, reward_margin, logp_chosen and
    logp_rejected (batch means; TRL's rewards/chosen, ..., logps/rejected).

    The four arguments are the summed completion log-probs (Model.logprob gives them) of the
    policy and of the frozen reference, for the chosen and the rejected answer of each pair:
    sequences of equal length, or numbers for one pair. loss_type "sigmoid" (label_smoothing
    in [0, 0.5) gives cDPO), "ipo" (pass per-token averages, as TRL 0.x does) or "hinge".
    Bad input (beta <= 0, a NaN log-prob, ...) raises InvalidArgumentError with libxla's
    message."""
    if loss_type not in LOSS_TYPES:
        raise InvalidArgumentError("unknown loss_type %r (one of %s)" % (loss_type, ", ".join(LOSS_TYPES)))
    arrays = [_doubles(n, v) for n, v in (("policy_chosen", policy_chosen), ("policy_rejected", policy_rejected),
                                          ("ref_chosen", ref_chosen), ("ref_rejected", ref_rejected))]
    n = arrays[0][1]
    if any(a[1] != n for a in arrays):
        raise InvalidArgumentError("dpo_loss: the four log-prob sequences differ in length: %s"
                                   % [a[1] for a in arrays])
    p = _lib.init_struct(_lib.DpoParams, lib.xla_dpo_params_init)
    p.beta, p.label_smoothing, p.loss_type = beta, label_smoothing, LOSS_TYPES[loss_type]
    out = _lib.DpoMetrics(struct_size=ctypes.sizeof(_lib.DpoMetrics))
    check(lib.xla_dpo_loss(ctypes.byref(p), *[a[0] for a in arrays], n, ctypes.byref(out)))
    return {k: getattr(out, k) for k in METRICS}


# ---------------------------------------------------------------- preference data


class PreferenceDataset(Owned):
    """Preference pairs (prompt, chosen, rejected) for DpoTrainer. Text goes through a
    Tokenizer, or byte-level when tokenizer is None (id = byte + 3: a 259-word model); the
    prompt gets <bos>, each completion <eos>. max_len > 0 makes a pair longer than that
    (prompt + completion) an error naming it — pairs are never truncated. len() is the
    number of pairs."""

    _free = "xla_preference_dataset_free"

    def __init__(self, handle: Optional[int], keep: Tuple[Any, ...] = ()) -> None:
        """Internal: wraps an xla_preference_dataset* (use from_jsonl or from_text)."""
        self._handle = handle
        self._keep = keep  # the tokenizer: datasets never outlive what made them

    @staticmethod
    def _tok(tokenizer: Optional[Tokenizer]) -> Optional[int]:
        return None if tokenizer is None else tokenizer._handle

    @classmethod
    def from_jsonl(cls, path: PathLike, tokenizer: Optional[Tokenizer] = None, max_len: int = 0,
                   chat: bool = False) -> PreferenceDataset:
        """One pair a line: {"prompt", "chosen", "rejected"} as text (chat=True renders the
        prompt as a user turn of Gemma's chat template), or {"prompt_ids", "chosen_ids",
        "rejected_ids"} as token ids. FileError when unreadable, FormatError naming
        file:line."""
        return cls(new_handle(lib.xla_preference_dataset_from_jsonl, encode_str(os.fspath(path)), cls._tok(tokenizer),
                              max_len, 1 if chat else 0), (tokenizer,))

    @classmethod
    def from_text(cls, prompts: Sequence[Any], chosen: Optional[Sequence[str]] = None,
                  rejected: Optional[Sequence[str]] = None, tokenizer: Optional[Tokenizer] = None,
                  max_len: int = 0) -> PreferenceDataset:
        """Pairs from strings: three equal sequences from_text(prompts, chosen, rejected), or
        one sequence of (prompt, chosen, rejected) tuples or {"prompt", "chosen", "rejected"}
        dicts, from_text(pairs). As the JSONL text form, without chat."""
        if chosen is None and rejected is None:
            triples = [(p["prompt"], p["chosen"], p["rejected"]) if isinstance(p, dict) else tuple(p)
                       for p in prompts]
            if any(len(t) != 3 for t in triples):
                raise InvalidArgumentError("from_text: each pair must be (prompt, chosen, rejected)")
            prompts, chosen, rejected = ([t[i] for t in triples] for i in range(3))
        elif chosen is None or rejected is None:
            raise InvalidArgumentError("from_text: give chosen and rejected, or neither (a sequence of triples)")
        cols = [[encode_str(v) for v in col] for col in (prompts, chosen, rejected)]
        n = len(cols[0])
        if any(len(c) != n for c in cols):
            raise InvalidArgumentError("from_text: prompts, chosen and rejected differ in length: %s"
                                       % [len(c) for c in cols])
        arrays = [(ctypes.c_char_p * max(1, n))(*c) for c in cols]
        return cls(new_handle(lib.xla_preference_dataset_from_text, *arrays, n, cls._tok(tokenizer), max_len),
                   (tokenizer,))

    def split(self, val_fraction: float, seed: int = 0) -> Tuple[PreferenceDataset, PreferenceDataset]:
        """(train, eval): a seeded random val_fraction of the pairs in eval, the rest in train."""
        tr, va = ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.xla_preference_dataset_split(self._handle, val_fraction, seed, ctypes.byref(tr), ctypes.byref(va)))
        return PreferenceDataset(tr.value, self._keep), PreferenceDataset(va.value, self._keep)

    def __len__(self) -> int:
        n = int(lib.xla_preference_dataset_size(self._handle))
        if n < 0:
            raise InvalidArgumentError("the preference dataset is closed")
        return n




# ---------------------------------------------------------------- the DPO trainer

REFERENCES = {"frozen_copy": 0, "model": 1, "precomputed": 2, "lora_disabled": 3}
# xla_dpo_metrics' fields and TRL's names for them
TRL_NAMES = {"loss": "loss", "reward_chosen": "rewards/chosen", "reward_rejected": "rewards/rejected",
             "reward_accuracy": "rewards/accuracies", "reward_margin": "rewards/margins",
             "logp_chosen": "logps/chosen", "logp_rejected": "logps/rejected"}
_DPO_TRAINER_FIELDS = {name for name, _ in _lib.DpoTrainerParams._fields_} - {
    "struct_size", "dpo", "reference", "reference_model", "cache_dir"}


def _trl_metrics(m: Any) -> Dict[str, Any]:
    """A dict of an xla_dpo_metrics under TRL's metric names."""
    return {trl: getattr(m, field) for field, trl in TRL_NAMES.items()}


class DpoTrainer(_TrainingLoop):
    """Hugging Face TRL 0.x's DPOTrainer: trains `policy` with `optimizer` on the preference
    pairs of `train` against a reference:
      "frozen_copy"   a copy of the policy made at creation (TRL's default);
      "model"         reference_model (required);
      "precomputed"   reference log-probs computed once at creation by reference_model (None:
                      the policy), cached in cache_dir when given;
      "lora_disabled" the policy with its LoRA adapters off (Model.add_lora first): no second
                      model.
    beta, loss_type ("sigmoid", "ipo", "hinge") and label_smoothing are the DPO loss's (see
    dpo_loss); the other keyword parameters are xla_dpo_trainer_params' fields: batch_size=8
    (pairs), grad_accum=1, steps=100, schedule ("constant", "linear", "cosine"), warmup_steps,
    min_lr_ratio, max_grad_norm=1.0, seed, eval_every, metrics_path (TRL's names, JSONL),
    checkpoint_dir, checkpoint_every, keep_checkpoints=2, progress=-1 (0: off).
    Make the optimizer after add_lora so that it trains the adapters only. The trainer keeps
    the policy, the optimizer, the datasets and the reference model alive. Metrics are dicts
    with TRL's keys: loss, rewards/chosen, rewards/rejected, rewards/accuracies,
    rewards/margins, logps/chosen, logps/rejected (batch means). run()'s on_step gets
    (step, metrics)."""

    _free = "xla_dpo_trainer_free"
    _c = "xla_dpo_trainer"
    _metrics_type = _lib.DpoMetrics
    _callback_type = _lib.DPO_FN

    def __init__(self, policy: Model, optimizer: Optimizer, train: PreferenceDataset,
                 eval: Optional[PreferenceDataset] = None, reference: str = "frozen_copy",
                 reference_model: Optional[Model] = None, cache_dir: Optional[PathLike] = None, beta: float = 0.1,
                 loss_type: str = "sigmoid", label_smoothing: float = 0.0, **params: Any) -> None:
        if reference not in REFERENCES:
            raise InvalidArgumentError("unknown reference %r (one of %s)" % (reference, ", ".join(REFERENCES)))
        if loss_type not in LOSS_TYPES:
            raise InvalidArgumentError("unknown loss_type %r (one of %s)" % (loss_type, ", ".join(LOSS_TYPES)))
        p = _lib.init_struct(_lib.DpoTrainerParams, lib.xla_dpo_trainer_params_init)
        p.dpo.beta, p.dpo.loss_type, p.dpo.label_smoothing = beta, LOSS_TYPES[loss_type], label_smoothing
        p.reference = REFERENCES[reference]
        p.reference_model = None if reference_model is None else reference_model._handle
        self._strings: List[Optional[bytes]] = []

        def string(value: Optional[PathLike]) -> Optional[bytes]:
            s = None if value is None else encode_str(os.fspath(value))
            self._strings.append(s)
            return s

        p.cache_dir = string(cache_dir)
        for key, value in params.items():
            if key == "schedule":
                if value not in SCHEDULES:
                    raise InvalidArgumentError("unknown schedule %r (one of %s)" % (value, ", ".join(SCHEDULES)))
                p.schedule = SCHEDULES[value]
            elif key in ("metrics_path", "checkpoint_dir"):
                setattr(p, key, string(value))
            elif key in _DPO_TRAINER_FIELDS:
                setattr(p, key, int(value) if isinstance(value, bool) else value)
            else:
                raise TypeError("DpoTrainer() got an unknown parameter %r" % key)
        self.policy, self.optimizer, self.train, self.eval = policy, optimizer, train, eval
        self.reference, self.reference_model = reference, reference_model
        self._eval_set = eval
        self.stopped = False
        self._handle = new_handle(lib.xla_dpo_trainer_create, policy._handle, optimizer._handle, train._handle,
                                  None if eval is None else eval._handle, ctypes.byref(p))

    _metrics = staticmethod(_trl_metrics)

    def _callback_args(self, step: int, metrics_ptr: Any) -> Tuple[Any, ...]:
        return int(step), _trl_metrics(metrics_ptr.contents)

    def evaluate(self) -> Optional[Dict[str, Any]]:
        """The loss and metrics over every eval pair (no update), or None without an eval set."""
        m = self._new_metrics()
        return None if self._evaluate(m) is None else _trl_metrics(m)
