"""engine.py — the serving engine: many generation requests over one model, batched into one
forward per step (continuous batching) over a paged KV cache with prefix caching.

Requests may be submitted and cancelled from any thread; step() drives the engine and is
called from one thread at a time (a serving loop). Each request's tokens are exactly what
Model.generate gives for it alone, whatever else shares its steps.
"""
from __future__ import annotations

import ctypes
from typing import Dict, Iterable, List, NamedTuple, Optional

from . import _lib
from ._lib import Owned, check, lib, new_handle, int32_array
from .model import Model, _sampler

class Event(NamedTuple):
    """One event of Engine.step(): request `id` produced `token`. `finish` is None while
more tokens will come, else the request's last event: "stop" (token is a stop id), "length"
(max_new_tokens reached or the context full) or "cancelled" (token is None)."""

    id: int
    token: Optional[int]
    finish: Optional[str]

_FINISH = {0: None, 1: "stop", 2: "length", 3: "cancelled"}  # XLA_FINISH_*


class Engine(Owned):
    """A serving engine over a Model (kept alive by the engine). Keyword options are
    xla_engine_options' fields: max_seqs=8 (sequences running at once), max_batch_tokens=512
    (tokens in one step's forward, prefill chunks included), kv_tokens=0 (KV capacity in
    tokens; 0 = max_seqs full contexts), prefix_cache=True, max_queue=256 (waiting requests
    beyond which submit raises BusyError). A bad value raises InvalidArgumentError naming it.
    Free it with close() or a `with` block (or let collection do it): what is left is
    cancelled."""

    _free = "xla_engine_free"

    def __init__(self, model: Model, max_seqs: Optional[int] = None, max_batch_tokens: Optional[int] = None,
                 kv_tokens: Optional[int] = None, prefix_cache: Optional[bool] = None,
                 max_queue: Optional[int] = None) -> None:
        opts = _lib.init_struct(_lib.EngineOptions, lib.xla_engine_options_init)
        for name, value in (("max_seqs", max_seqs), ("max_batch_tokens", max_batch_tokens), ("kv_tokens", kv_tokens),
                            ("prefix_cache", prefix_cache), ("max_queue", max_queue)):
            if value is not None:
                setattr(opts, name, int(value))
        self.model = model
        self._handle = new_handle(lib.xla_engine_create, model._handle, ctypes.byref(opts))
        # room for what one step makes: a token per running sequence, or a cancellation per
        # request; any beyond that the C side holds back for the next call
        self._events = (_lib.EngineEvent * (opts.max_seqs + opts.max_queue))()

    def submit(self, prompt_ids: Iterable[int], max_new_tokens: Optional[int] = None,
               temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
               min_p: Optional[float] = None, repetition_penalty: Optional[float] = None, seed: Optional[int] = None,
               stop_ids: Iterable[int] = ()) -> int:
        """Queues a request and returns its id (1, 2, ...: never reused). The keywords are
        Model.generate's, per request (default: greedy, 256 tokens). Raises BusyError when
        max_queue requests are waiting, InvalidArgumentError for an empty prompt, one that
        does not fit the context, an id outside the vocabulary or a bad sampler value.
        Thread-safe."""
        params, keep = _sampler(max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed, stop_ids)
        prompt = int32_array(prompt_ids)
        out = ctypes.c_uint64()
        check(lib.xla_engine_submit(self._handle, prompt, len(prompt), ctypes.byref(params), ctypes.byref(out)))
        del keep
        return int(out.value)

    def cancel(self, request_id: int) -> None:
        """Ends a request: its "cancelled" event comes with the next step, which frees its KV
        cache. InvalidArgumentError for an id that is unknown or already finished.
        Thread-safe."""
        check(lib.xla_engine_cancel(self._handle, int(request_id)))

    def step(self) -> List[Event]:
        """Runs one scheduling step (one batched forward) and returns its events, a list of
        Event(id, token, finish) in the order the tokens were made; [] when there is nothing
        to do, or when the step only prefilled prompts (see idle). Events that do not fit the
        buffer (max_seqs + max_queue of them) come first with the next call, which then runs
        no step."""
        n = ctypes.c_size_t()
        check(lib.xla_engine_step(self._handle, self._events, len(self._events), ctypes.byref(n)))
        return [Event(e.id, None if e.finish == 3 else e.token, _FINISH[e.finish]) for e in self._events[:n.value]]

    def stats(self) -> Dict[str, int]:
        """The counters now, a dict: running, waiting (requests), kv_tokens_used,
        kv_tokens_capacity, prefix_tokens_reused, steps, tokens_generated (the last three in
        total). Thread-safe."""
        out = _lib.EngineStats(struct_size=ctypes.sizeof(_lib.EngineStats))
        check(lib.xla_engine_stats_get(self._handle, ctypes.byref(out)))
        return {name: int(getattr(out, name)) for name, _ in _lib.EngineStats._fields_[1:]}

    @property
    def idle(self) -> bool:
        """True when no request is running or waiting."""
        s = self.stats()
        return s["running"] == 0 and s["waiting"] == 0
