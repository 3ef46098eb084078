"""dpo.py — the DPO loss and its metrics (Rafailov et al. 2023) with Hugging Face TRL 0.x
semantics, computed by libxla in double (docs/dpo.md)."""
import ctypes
import numbers

from . import _lib
from ._lib import check, lib, InvalidArgumentError

LOSS_TYPES = {"sigmoid": 0, "ipo": 1, "hinge": 2}
METRICS = ("loss", "reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin", "logp_chosen",
           "logp_rejected")


def _doubles(name, values):
    if isinstance(values, numbers.Real):
        values = [values]
    elif hasattr(values, "tolist"):  # a Tensor (or a NumPy array)
        values = values.tolist()
    values = [float(v) for v in values]
    return (ctypes.c_double * max(1, len(values)))(*values), len(values)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=0.1, loss_type="sigmoid",
             label_smoothing=0.0):
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
