"""_lib.py — loads libxla.so and declares every C function the package calls.

The library is looked for, in order: the path in the environment variable LIBXLA; a
libxla.so* next to this package (bindings/python/xla/ or bindings/python/); the source
tree's build/ folder (`make build`); ctypes.util's search for "xla"; then the plain names
libxla.so.0 and libxla.so (the dynamic loader's search path, LD_LIBRARY_PATH included).

Every C call that returns an xla_status goes through check(), which turns a nonzero status
into the XlaError subclass for that code, carrying xla_last_error()'s message.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from typing import Any, Callable, Iterable, Iterator, Optional, Type, TypeVar, Union

ABI_VERSION = 0  # XLA_ABI_VERSION of the header these declarations follow

# ---------------------------------------------------------------- errors


class XlaError(Exception):
    """An error reported by libxla: `status` is the C status code, `message` its text
    (xla_last_error() of the failed call, e.g. "xla_add: shapes [2, 3] and [4] cannot be
    broadcast together")."""

    status: Optional[int] = None

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidArgumentError(XlaError, ValueError):
    """XLA_ERR_INVALID_ARG: a NULL (closed) handle, a value out of range, an undefined axis."""
    status = -1


class ShapeError(XlaError, ValueError):
    """XLA_ERR_SHAPE: shapes that do not fit the operation."""
    status = -2


class DTypeError(XlaError, TypeError):
    """XLA_ERR_DTYPE: a dtype the operation does not take."""
    status = -3


class FileError(XlaError, OSError):
    """XLA_ERR_IO: a file could not be read or written."""
    status = -4


class FormatError(XlaError, ValueError):
    """XLA_ERR_FORMAT: a corrupt or unsupported file."""
    status = -5


class OutOfMemoryError(XlaError, MemoryError):
    """XLA_ERR_OOM."""
    status = -6


class BufferTooSmallError(XlaError):
    """XLA_ERR_BUFFER_TOO_SMALL (the bindings size their buffers, so rarely seen)."""
    status = -7


class UnsupportedError(XlaError, NotImplementedError):
    """XLA_ERR_UNSUPPORTED."""
    status = -8


class AbortedError(XlaError):
    """XLA_ERR_ABORTED: a callback asked to stop (the wrappers report this as a normal,
    early return instead, see Model.generate and Trainer.run)."""
    status = -9


class InternalError(XlaError):
    """XLA_ERR_INTERNAL: a bug in libxla."""
    status = -10


class BusyError(XlaError):
    """XLA_ERR_BUSY: a full queue (Engine.submit with max_queue requests waiting): try again
    after a step."""
    status = -11


_ERRORS = {c.status: c for c in (InvalidArgumentError, ShapeError, DTypeError, FileError, FormatError,
                                 OutOfMemoryError, BufferTooSmallError, UnsupportedError, AbortedError,
                                 InternalError, BusyError)}

# ---------------------------------------------------------------- finding the library


def _candidates() -> Iterator[str]:
    env = os.environ.get("LIBXLA")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    repo_build = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))), "build")
    for d in (here, os.path.dirname(here), repo_build):
        for path in sorted(glob.glob(os.path.join(d, "libxla.so*"))):
            yield path
    found = ctypes.util.find_library("xla")
    if found:
        yield found
    yield "libxla.so.%d" % ABI_VERSION
    yield "libxla.so"


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("xla: cannot load libxla.so; set LIBXLA to its path (tried: %s)" % "; ".join(errors))


lib = _load()

# ---------------------------------------------------------------- C types

P = ctypes.c_void_p  # any handle, or a data pointer
PP = ctypes.POINTER(ctypes.c_void_p)  # xla_x** out
i32, i64, u32, u64, f32, f64, size_t = (ctypes.c_int32, ctypes.c_int64, ctypes.c_uint32, ctypes.c_uint64,
                                        ctypes.c_float, ctypes.c_double, ctypes.c_size_t)
I32P, I64P, U64P, F64P, SIZEP = (ctypes.POINTER(i32), ctypes.POINTER(i64), ctypes.POINTER(u64),
                                 ctypes.POINTER(f64), ctypes.POINTER(size_t))
STATUS = i32


class ModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("weight_dtype", i32)]


class SamplerParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("seed", u64), ("temperature", f32), ("top_k", i32), ("top_p", f32),
                ("min_p", f32), ("repetition_penalty", f32), ("max_new_tokens", i32), ("n_stop_ids", i32),
                ("stop_ids", I32P)]


class EngineOptions(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("max_seqs", i32), ("max_batch_tokens", i32), ("kv_tokens", i64),
                ("prefix_cache", i32), ("max_queue", i32)]


class EngineEvent(ctypes.Structure):
    _fields_ = [("id", u64), ("token", i32), ("finish", i32)]


class EngineStats(ctypes.Structure):
    _fields_ = [("struct_size", u32)] + [(name, i64) for name in (
        "running", "waiting", "kv_tokens_used", "kv_tokens_capacity", "prefix_tokens_reused", "steps",
        "tokens_generated")]


class ChatMessage(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


class OptimizerParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("kind", i32), ("lr", f64), ("beta1", f64), ("beta2", f64), ("eps", f64),
                ("weight_decay", f64), ("momentum", f64), ("dampening", f64), ("nesterov", i32),
                ("decay_all", i32)]


class LossParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("ignore_index", i32), ("label_smoothing", f32), ("z_loss", f32)]


# xla_collective's callbacks: a transport between processes (docs/distributed.md)
ALL_REDUCE_F32_FN = ctypes.CFUNCTYPE(i32, ctypes.POINTER(f32), size_t, i32, P)
ALL_REDUCE_F64_FN = ctypes.CFUNCTYPE(i32, ctypes.POINTER(f64), size_t, i32, P)
BROADCAST_FN = ctypes.CFUNCTYPE(i32, P, size_t, i32, P)
SEND_FN = ctypes.CFUNCTYPE(i32, P, size_t, i32, P)
RECV_FN = ctypes.CFUNCTYPE(i32, P, size_t, i32, P)


class Collective(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("rank", i32), ("world_size", i32), ("user_data", P),
                ("all_reduce_f32", ALL_REDUCE_F32_FN), ("all_reduce_f64", ALL_REDUCE_F64_FN),
                ("broadcast", BROADCAST_FN), ("send", SEND_FN), ("recv", RECV_FN)]


class TrainerParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("batch_size", i64), ("grad_accum", i64), ("steps", i64), ("schedule", i32),
                ("warmup_steps", i64), ("min_lr_ratio", f64), ("max_grad_norm", f64), ("loss", LossParams),
                ("seed", u64), ("eval_every", i64), ("eval_batches", i64), ("metrics_path", ctypes.c_char_p),
                ("checkpoint_dir", ctypes.c_char_p), ("checkpoint_every", i64), ("keep_checkpoints", i32),
                ("progress", i32), ("collective", ctypes.POINTER(Collective)), ("compile", i32)]


class TrainMetrics(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("step", i64), ("loss", f64), ("lr", f64), ("grad_norm", f64),
                ("tokens_per_s", f64), ("elapsed_s", f64), ("tokens", i64), ("mem_mb", f64), ("val_loss", f64),
                ("val_ppl", f64), ("skipped", i32)]


class DpoParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("beta", f32), ("label_smoothing", f32), ("loss_type", i32)]


class DpoMetrics(ctypes.Structure):
    _fields_ = [("struct_size", u32)] + [(name, f64) for name in (
        "loss", "reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin", "logp_chosen",
        "logp_rejected")]


class DpoTrainerParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("dpo", DpoParams), ("reference", i32), ("reference_model", P),
                ("cache_dir", ctypes.c_char_p), ("batch_size", i64), ("grad_accum", i64), ("steps", i64),
                ("schedule", i32), ("warmup_steps", i64), ("min_lr_ratio", f64), ("max_grad_norm", f64),
                ("seed", u64), ("eval_every", i64), ("metrics_path", ctypes.c_char_p),
                ("checkpoint_dir", ctypes.c_char_p), ("checkpoint_every", i64), ("keep_checkpoints", i32),
                ("progress", i32), ("collective", ctypes.POINTER(Collective))]


class GrpoParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("group_size", i32), ("beta", f32), ("epsilon", f32), ("epsilon_high", f32),
                ("loss_type", i32), ("scale_rewards", i32), ("max_completion_length", i32)]


class GrpoMetrics(ctypes.Structure):
    _fields_ = [("struct_size", u32)] + [(name, f64) for name in (
        "loss", "kl", "clip_ratio_low", "clip_ratio_high", "clip_ratio_region")]


class GrpoTrainerParams(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("grpo", GrpoParams), ("num_iterations", i32), ("max_completion_length", i32),
                ("sampling", SamplerParams), ("sampler", i32), ("engine_max_seqs", i32), ("reference", i32),
                ("reference_model", P), ("batch_size", i64), ("grad_accum", i64), ("steps", i64), ("schedule", i32),
                ("warmup_steps", i64), ("min_lr_ratio", f64), ("max_grad_norm", f64), ("seed", u64),
                ("metrics_path", ctypes.c_char_p), ("checkpoint_dir", ctypes.c_char_p), ("checkpoint_every", i64),
                ("keep_checkpoints", i32), ("progress", i32)]


class GrpoStepMetrics(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("step", i64)] + [(name, f64) for name in (
        "loss", "kl", "clip_ratio_low", "clip_ratio_high", "clip_ratio_region", "reward", "reward_std",
        "frac_reward_zero_std", "completion_mean_length", "clipped_ratio", "grad_norm", "learning_rate",
        "samples_per_s", "sampled_tokens_per_s")] + [("sampled", i32)]


TOKEN_FN = ctypes.CFUNCTYPE(i32, i32, P)  # xla_token_fn
TRAIN_FN = ctypes.CFUNCTYPE(i32, ctypes.POINTER(TrainMetrics), P)  # xla_train_fn
DPO_FN = ctypes.CFUNCTYPE(i32, i64, ctypes.POINTER(DpoMetrics), P)  # xla_dpo_fn
GRPO_FN = ctypes.CFUNCTYPE(i32, i64, ctypes.POINTER(GrpoStepMetrics), P)  # xla_grpo_fn
# xla_reward_fn: prompt ids, n, completion ids, n, prompt text, completion text, answer, *reward, user_data
RELEASE_FN = ctypes.CFUNCTYPE(None, P)  # xla_release_fn
REWARD_FN = ctypes.CFUNCTYPE(i32, I32P, size_t, I32P, size_t, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                             F64P, P)

# ---------------------------------------------------------------- declarations

_UNARY = ("neg abs exp log sqrt rsqrt tanh sigmoid relu gelu gelu_tanh silu").split()
_BINARY = ("add sub mul div maximum minimum pow eq ne lt le gt ge matmul").split()
_REDUCE = ("sum mean max min logsumexp").split()

_DECLS = {
    # library
    "xla_version_string": (ctypes.c_char_p, []),
    "xla_abi_version": (u32, []),
    "xla_cpu_path": (ctypes.c_char_p, []),
    "xla_last_error": (ctypes.c_char_p, []),
    "xla_set_num_threads": (STATUS, [i32]),
    "xla_get_num_threads": (i32, []),
    # tensors
    "xla_tensor_create": (STATUS, [i32, i32, I64P, P, PP]),
    "xla_tensor_free": (None, [P]),
    "xla_tensor_shape": (STATUS, [P, I32P, I32P, I64P]),
    "xla_tensor_read": (STATUS, [P, P, size_t]),
    "xla_tensor_numel": (STATUS, [P, I64P, SIZEP]),
    "xla_tensor_clone": (STATUS, [P, PP]),
    "xla_tensor_data": (STATUS, [P, PP, I64P]),
    "xla_tensor_from_buffer": (STATUS, [i32, i32, I64P, P, RELEASE_FN, P, PP]),
    "xla_arange": (STATUS, [f64, f64, f64, i32, PP]),
    "xla_full": (STATUS, [i32, i32, I64P, f64, PP]),
    "xla_randn": (STATUS, [i32, I64P, u64, f32, f32, PP]),
    "xla_rand": (STATUS, [i32, I64P, u64, f32, f32, PP]),
    "xla_cast": (STATUS, [P, i32, PP]),
    "xla_where": (STATUS, [P, P, P, PP]),
    "xla_var": (STATUS, [P, I32P, i32, i32, i32, PP]),
    "xla_argmax": (STATUS, [P, i32, i32, PP]),
    "xla_softmax": (STATUS, [P, i32, PP]),
    "xla_log_softmax": (STATUS, [P, i32, PP]),
    "xla_reshape": (STATUS, [P, i32, I64P, PP]),
    "xla_permute": (STATUS, [P, I32P, i32, PP]),
    "xla_transpose": (STATUS, [P, i32, i32, PP]),
    "xla_slice": (STATUS, [P, i32, i64, i64, i64, PP]),
    "xla_expand": (STATUS, [P, i32, I64P, PP]),
    "xla_squeeze": (STATUS, [P, i32, PP]),
    "xla_unsqueeze": (STATUS, [P, i32, PP]),
    "xla_contiguous": (STATUS, [P, PP]),
    "xla_index_select": (STATUS, [P, i32, P, PP]),
    "xla_gather": (STATUS, [P, i32, P, PP]),
    "xla_embedding": (STATUS, [P, P, PP]),
    "xla_concat": (STATUS, [PP, i32, i32, PP]),
    "xla_stack": (STATUS, [PP, i32, i32, PP]),
    "xla_split": (STATUS, [P, I64P, i32, i32, PP, size_t, SIZEP]),
    "xla_tril": (STATUS, [P, i64, PP]),
    "xla_triu": (STATUS, [P, i64, PP]),
    "xla_cross_entropy": (STATUS, [P, P, i64, f32, PP]),
    # autograd
    "xla_tensor_set_requires_grad": (STATUS, [P, i32]),
    "xla_tensor_requires_grad": (STATUS, [P, I32P]),
    "xla_backward": (STATUS, [P]),
    "xla_backward_seeded": (STATUS, [P, P, i32]),
    "xla_tensor_grad": (STATUS, [P, PP]),
    "xla_tensor_zero_grad": (STATUS, [P]),
    "xla_tensor_detach": (STATUS, [P, PP]),
    "xla_set_grad_enabled": (i32, [i32]),
    "xla_is_grad_enabled": (i32, []),
    # models
    "xla_model_options_init": (None, [P]),
    "xla_model_load_ex": (STATUS, [ctypes.c_char_p, ctypes.POINTER(ModelOptions), PP]),
    "xla_model_load_pipeline": (STATUS, [ctypes.c_char_p, ctypes.POINTER(ModelOptions), ctypes.POINTER(Collective), PP]),
    "xla_model_create_ex": (STATUS, [ctypes.c_char_p, u64, ctypes.POINTER(ModelOptions), PP]),
    "xla_model_save": (STATUS, [P, ctypes.c_char_p]),
    "xla_model_free": (None, [P]),
    "xla_model_vocab_size": (i64, [P]),
    "xla_model_architecture": (ctypes.c_char_p, [P]),
    "xla_model_forward": (STATUS, [P, I32P, i64, i64, P, size_t]),
    "xla_model_logprob": (STATUS, [P, I32P, i64, i64, F64P]),
    # generation and sessions
    "xla_sampler_params_init": (None, [P]),
    "xla_generate": (STATUS, [P, I32P, size_t, ctypes.POINTER(SamplerParams), TOKEN_FN, P, I32P, size_t, SIZEP]),
    "xla_session_create": (STATUS, [P, PP]),
    "xla_session_free": (None, [P]),
    "xla_session_length": (i64, [P]),
    "xla_session_reset": (STATUS, [P]),
    "xla_session_compile": (STATUS, [P, i32]),
    "xla_session_feed": (STATUS, [P, I32P, size_t, P, size_t]),
    "xla_session_generate": (STATUS, [P, I32P, size_t, ctypes.POINTER(SamplerParams), TOKEN_FN, P, I32P, size_t,
                                      SIZEP]),
    # the serving engine
    "xla_engine_options_init": (None, [P]),
    "xla_engine_create": (STATUS, [P, ctypes.POINTER(EngineOptions), PP]),
    "xla_engine_free": (None, [P]),
    "xla_engine_submit": (STATUS, [P, I32P, size_t, ctypes.POINTER(SamplerParams), U64P]),
    "xla_engine_cancel": (STATUS, [P, u64]),
    "xla_engine_step": (STATUS, [P, ctypes.POINTER(EngineEvent), size_t, SIZEP]),
    "xla_engine_stats_get": (STATUS, [P, ctypes.POINTER(EngineStats)]),
    # tokenizer
    "xla_tokenizer_load": (STATUS, [ctypes.c_char_p, PP]),
    "xla_tokenizer_free": (None, [P]),
    "xla_tokenizer_encode": (STATUS, [P, ctypes.c_char_p, size_t, i32, I32P, size_t, SIZEP]),
    "xla_tokenizer_decode": (STATUS, [P, I32P, size_t, i32, ctypes.c_char_p, size_t, SIZEP]),
    "xla_tokenizer_vocab_size": (i32, [P]),
    "xla_tokenizer_token_id": (STATUS, [P, ctypes.c_char_p, I32P]),
    "xla_tokenizer_special_ids": (STATUS, [P, I32P, I32P, I32P, I32P, I32P]),
    "xla_chat_render": (STATUS, [ctypes.POINTER(ChatMessage), size_t, i32, ctypes.c_char_p, size_t, SIZEP]),
    # training
    "xla_optimizer_params_init": (None, [P]),
    "xla_optimizer_params_defaults": (STATUS, [ctypes.POINTER(OptimizerParams), i32, f64]),
    "xla_optimizer_create": (STATUS, [P, ctypes.POINTER(OptimizerParams), PP]),
    "xla_optimizer_free": (None, [P]),
    "xla_optimizer_step": (STATUS, [P]),
    "xla_optimizer_zero_grad": (STATUS, [P]),
    "xla_optimizer_set_lr": (STATUS, [P, f64]),
    "xla_optimizer_get_lr": (STATUS, [P, F64P]),
    "xla_optimizer_clip_grad_norm": (STATUS, [P, f64, F64P]),
    "xla_loss_params_init": (None, [P]),
    "xla_model_loss": (STATUS, [P, I32P, I32P, i64, i64, ctypes.POINTER(LossParams), PP]),
    "xla_dataset_from_text": (STATUS, [ctypes.c_char_p, size_t, P, i64, PP]),
    "xla_dataset_from_text_file": (STATUS, [ctypes.c_char_p, P, i64, PP]),
    "xla_dataset_from_pairs": (STATUS, [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p), size_t, P,
                                        i64, PP]),
    "xla_dataset_from_jsonl": (STATUS, [ctypes.c_char_p, P, i64, i32, PP]),
    "xla_dataset_split": (STATUS, [P, f64, u64, PP, PP]),
    "xla_dataset_size": (i64, [P]),
    "xla_dataset_free": (None, [P]),
    "xla_trainer_params_init": (None, [P]),
    "xla_trainer_create": (STATUS, [P, P, P, P, ctypes.POINTER(TrainerParams), PP]),
    "xla_trainer_free": (None, [P]),
    "xla_trainer_resume": (STATUS, [P, I32P]),
    "xla_trainer_step": (STATUS, [P, ctypes.POINTER(TrainMetrics)]),
    "xla_trainer_run": (STATUS, [P, TRAIN_FN, P, I64P]),
    "xla_trainer_evaluate": (STATUS, [P, F64P]),
    "xla_trainer_save": (STATUS, [P]),
    "xla_checkpoint_save": (STATUS, [ctypes.c_char_p, P, P, i64]),
    "xla_checkpoint_load": (STATUS, [ctypes.c_char_p, P, P, I64P]),
    # DPO
    "xla_dpo_params_init": (None, [P]),
    "xla_dpo_loss": (STATUS, [ctypes.POINTER(DpoParams), F64P, F64P, F64P, F64P, i64, ctypes.POINTER(DpoMetrics)]),
    # LoRA
    "xla_model_add_lora": (STATUS, [P, i64, f32, u64]),
    "xla_model_set_lora_enabled": (STATUS, [P, i32]),
    # the DPO trainer
    "xla_preference_dataset_from_jsonl": (STATUS, [ctypes.c_char_p, P, i64, i32, PP]),
    "xla_preference_dataset_from_text": (STATUS, [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                                                  ctypes.POINTER(ctypes.c_char_p), size_t, P, i64, PP]),
    "xla_preference_dataset_split": (STATUS, [P, f64, u64, PP, PP]),
    "xla_preference_dataset_size": (i64, [P]),
    "xla_preference_dataset_free": (None, [P]),
    "xla_dpo_trainer_params_init": (None, [P]),
    "xla_dpo_trainer_create": (STATUS, [P, P, P, P, ctypes.POINTER(DpoTrainerParams), PP]),
    "xla_dpo_trainer_free": (None, [P]),
    "xla_dpo_trainer_step": (STATUS, [P, ctypes.POINTER(DpoMetrics)]),
    "xla_dpo_trainer_run": (STATUS, [P, DPO_FN, P, I64P]),
    "xla_dpo_trainer_evaluate": (STATUS, [P, ctypes.POINTER(DpoMetrics)]),
    "xla_dpo_trainer_resume": (STATUS, [P, I32P]),
    "xla_dpo_trainer_save": (STATUS, [P]),
    # GRPO
    "xla_grpo_params_init": (None, [P]),
    "xla_grpo_loss": (STATUS, [ctypes.POINTER(GrpoParams), F64P, F64P, F64P, I32P, F64P, i64, i64, F64P, F64P,
                               ctypes.POINTER(GrpoMetrics)]),
    # the GRPO trainer
    "xla_prompt_dataset_from_text": (STATUS, [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p), size_t,
                                              P, i32, PP]),
    "xla_prompt_dataset_load_jsonl": (STATUS, [ctypes.c_char_p, P, i32, PP]),
    "xla_prompt_dataset_size": (i64, [P]),
    "xla_prompt_dataset_free": (None, [P]),
    "xla_grpo_trainer_params_init": (None, [P]),
    "xla_grpo_trainer_create": (STATUS, [P, P, P, P, ctypes.POINTER(GrpoTrainerParams), PP]),
    "xla_grpo_trainer_free": (None, [P]),
    "xla_grpo_trainer_add_reward": (STATUS, [P, ctypes.c_char_p, REWARD_FN, P, f64]),
    "xla_grpo_trainer_add_exact_match_reward": (STATUS, [P, f64]),
    "xla_grpo_trainer_add_format_reward": (STATUS, [P, ctypes.c_char_p, f64]),
    "xla_grpo_trainer_step": (STATUS, [P, ctypes.POINTER(GrpoStepMetrics)]),
    "xla_grpo_trainer_run": (STATUS, [P, GRPO_FN, P, I64P]),
    "xla_grpo_trainer_resume": (STATUS, [P, I32P]),
    "xla_grpo_trainer_save": (STATUS, [P]),
}
for _op in _UNARY:
    _DECLS["xla_" + _op] = (STATUS, [P, PP])
for _op in _BINARY:
    _DECLS["xla_" + _op] = (STATUS, [P, P, PP])
for _op in _REDUCE:
    _DECLS["xla_" + _op] = (STATUS, [P, I32P, i32, i32, PP])

for _name, (_res, _args) in _DECLS.items():
    _fn = getattr(lib, _name)  # AttributeError here: the library predates this binding
    _fn.restype = _res
    _fn.argtypes = _args

if lib.xla_abi_version() != ABI_VERSION:
    raise ImportError("xla: the loaded libxla has ABI version %d, these bindings expect %d"
                      % (lib.xla_abi_version(), ABI_VERSION))

# ---------------------------------------------------------------- helpers

S = TypeVar("S", bound=ctypes.Structure)


def last_error() -> str:
    """The calling thread's message for its last failed libxla call ("" if none)."""
    message: bytes = lib.xla_last_error() or b""
    return message.decode("utf-8", "replace")


def error_for(status: int, message: Optional[str] = None) -> XlaError:
    """The XlaError subclass instance for a nonzero status (message defaults to last_error())."""
    cls = _ERRORS.get(status, XlaError)
    return cls(last_error() if message is None else message, status)


def check(status: int) -> None:
    """Raises the XlaError subclass for a nonzero xla_status, with xla_last_error()'s message."""
    if status != 0:
        raise error_for(status)


def init_struct(cls: Type[S], init: Callable[[Any], None]) -> S:
    """An options struct filled by its C `_init` function, with struct_size set to the size
    these bindings know (the library reads only that much, rule 7 of docs/capi.md). The C
    function writes into a generous buffer, so a newer, larger struct cannot overflow."""
    buf = ctypes.create_string_buffer(max(1024, ctypes.sizeof(cls)))
    init(buf)
    s = cls.from_buffer_copy(buf.raw[:ctypes.sizeof(cls)])
    s.struct_size = ctypes.sizeof(cls)
    return s


def new_handle(fn: Callable[..., int], *args: Any) -> Optional[int]:
    """Calls fn(*args, &out), checks the status and returns out (an int address)."""
    out = ctypes.c_void_p()
    check(fn(*args, ctypes.byref(out)))
    return out.value


def int32_array(values: Iterable[int]) -> Any:
    """A ctypes int32 array of `values` (any iterable of ints)."""
    values = list(values)
    return (i32 * len(values))(*values)


def encode_str(s: Union[str, bytes, os.PathLike[str]]) -> bytes:
    """UTF-8 bytes of a str, os.PathLike or bytes."""
    if isinstance(s, bytes):
        return s
    return os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode("utf-8")


# ---------------------------------------------------------------- owned handles

O = TypeVar("O", bound="Owned")


class Owned:
    """A C handle this object owns (self._handle), freed once: by close() (idempotent), at the
    end of a `with` block, or by garbage collection. Subclasses name their C free function in
    _free ("xla_model_free", …)."""

    __slots__ = ("_handle",)  # subclasses choose: Tensor keeps slots, the others a __dict__
    _free: str = ""
    _handle: Optional[int]  # set by every constructor; unset only if one failed early

    def close(self) -> None:
        """Frees the C object now (idempotent)."""
        h, self._handle = getattr(self, "_handle", None), None
        if h:
            getattr(lib, self._free)(h)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __enter__(self: O) -> O:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
