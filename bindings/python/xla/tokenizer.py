"""tokenizer.py — Gemma's tokenizer (a Hugging Face tokenizer.json) and its chat format.

A loaded tokenizer is immutable and may be shared by threads.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any, Callable, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Union

from . import _lib
from ._lib import Owned, check, lib, new_handle, int32_array, encode_str

_TOO_SMALL = -7  # XLA_ERR_BUFFER_TOO_SMALL

# a chat message: {"role": ..., "content": ...} or a (role, content) pair
Message = Union[Mapping[str, str], Tuple[str, str]]

class SpecialIds(NamedTuple):
    """The special token ids a tokenizer defines (-1 where it defines none)."""

    bos: int
    eos: int
    pad: int
    start_of_turn: int
    end_of_turn: int


def _text_call(fn: Callable[[Any, int, Any], int], guess: int) -> str:
    """Runs fn(buf, cap, &len) for a NUL-terminated text result, growing the buffer once if
    libxla says it is too small; returns the str (invalid UTF-8 cannot come back: libxla
    writes U+FFFD)."""
    cap = max(16, guess)
    for _ in range(2):
        buf = ctypes.create_string_buffer(cap)
        n = ctypes.c_size_t()
        status = fn(buf, cap, ctypes.byref(n))
        if status == _TOO_SMALL and n.value + 1 > cap:
            cap = n.value + 1
            continue
        check(status)
        return buf.raw[:n.value].decode("utf-8", "replace")
    raise _lib.InternalError("buffer size kept growing")


def _messages(messages: Iterable[Message]) -> Tuple[Any, int, List[Tuple[bytes, bytes]]]:
    """(xla_chat_message array, keep-alive) from dicts {"role", "content"} or (role, content)."""
    pairs = []
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
        pairs.append((encode_str(role), encode_str(content)))
    arr = (_lib.ChatMessage * max(1, len(pairs)))()
    for i, (role, content) in enumerate(pairs):
        arr[i].role, arr[i].content = role, content
    return arr, len(pairs), pairs


def chat_render(messages: Iterable[Message], add_generation_prompt: bool = True) -> str:
    """Gemma's chat template: messages (dicts with "role" — "system", "user", "assistant" or
    "model" — and "content", or (role, content) pairs) as the text to encode without add_bos:
    "<bos><start_of_turn>user\\n…<end_of_turn>\\n…", plus "<start_of_turn>model\\n" when
    add_generation_prompt. A system message is folded into the first user turn."""
    arr, n, keep = _messages(messages)
    guess = 64 + sum(len(r) + len(c) + 32 for r, c in keep)
    return _text_call(lambda buf, cap, out: int(lib.xla_chat_render(arr, n, 1 if add_generation_prompt else 0,
                                                                buf, cap, out)), guess)


class Tokenizer(Owned):
    """Gemma's BPE tokenizer with byte fallback, reproduced exactly. Tokenizer.load(path)."""

    _free = "xla_tokenizer_free"

    def __init__(self, handle: Optional[int]) -> None:
        """Internal: wraps an xla_tokenizer* (use Tokenizer.load)."""
        self._handle = handle

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> Tokenizer:
        """Loads a tokenizer.json: FileError if it cannot be read, FormatError if it is not a
        valid one, UnsupportedError for features Gemma's never uses."""
        return cls(new_handle(lib.xla_tokenizer_load, encode_str(path)))

    def encode(self, text: Union[str, bytes], add_bos: bool = True) -> List[int]:
        """Token ids of text (special tokens written in it are recognised), <bos> first when
        add_bos."""
        data = encode_str(text)
        cap = len(data) + 2
        for _ in range(2):
            ids = (ctypes.c_int32 * cap)()
            n = ctypes.c_size_t()
            status = lib.xla_tokenizer_encode(self._handle, data, len(data), 1 if add_bos else 0, ids, cap,
                                              ctypes.byref(n))
            if status == _TOO_SMALL and n.value > cap:
                cap = n.value
                continue
            check(status)
            return [int(i) for i in ids[:n.value]]
        raise _lib.InternalError("buffer size kept growing")

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> str:
        """The text of ids (without special tokens when skip_special). An id outside the
        vocabulary raises InvalidArgumentError."""
        arr = int32_array(ids)
        return _text_call(lambda buf, cap, out: int(lib.xla_tokenizer_decode(self._handle, arr, len(arr),
                                                                         1 if skip_special else 0, buf, cap, out)),
                          16 * len(arr) + 16)

    def encode_chat(self, messages: Iterable[Message], add_generation_prompt: bool = True) -> List[int]:
        """The ids of chat_render(messages, add_generation_prompt) (its <bos> included)."""
        return self.encode(chat_render(messages, add_generation_prompt), add_bos=False)

    @property
    def vocab_size(self) -> int:
        """The number of token ids, added tokens included."""
        n = int(lib.xla_tokenizer_vocab_size(self._handle))
        if n < 0:
            raise _lib.InvalidArgumentError("the tokenizer is closed")
        return n

    def __len__(self) -> int:
        return self.vocab_size

    def token_id(self, piece: str) -> int:
        """The id of a token string ("<start_of_turn>", "▁world"); InvalidArgumentError if none."""
        out = ctypes.c_int32()
        check(lib.xla_tokenizer_token_id(self._handle, encode_str(piece), ctypes.byref(out)))
        return int(out.value)

    @property
    def special_ids(self) -> SpecialIds:
        """SpecialIds(bos, eos, pad, start_of_turn, end_of_turn)."""
        vals = [ctypes.c_int32() for _ in range(5)]
        check(lib.xla_tokenizer_special_ids(self._handle, *[ctypes.byref(v) for v in vals]))
        return SpecialIds(*[int(v.value) for v in vals])

    @property
    def bos_id(self) -> int:
        """<bos>'s id."""
        return self.special_ids.bos

    @property
    def eos_id(self) -> int:
        """<eos>'s id."""
        return self.special_ids.eos

    @property
    def pad_id(self) -> int:
        """<pad>'s id."""
        return self.special_ids.pad
