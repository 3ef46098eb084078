#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into corpus/<target>/seed-*: small valid files
of each format (the fuzzer mutates from there) and a few near misses. Inputs found by
fuzzing that crashed a target are kept beside them as crash-* (never regenerated here).
Usage: make_seeds.py [--shared ../shared]  (the reference configs are read from shared/oracle)."""
import argparse
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] -> the file's bytes."""
    header, offset, blobs = {}, 0, []
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def seeds_safetensors():
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    write("safetensors", "f32", safetensors([("w", "F32", [2, 3], f32)]))
    write("safetensors", "mixed", safetensors([("a", "BF16", [2], b"\x80\x3f\x00\x40"), ("b", "I32", [1], b"\x07\0\0\0"),
                                               ("c", "U8", [3], b"abc"), ("d", "F16", [], b"\x00\x3c"),
                                               ("e", "I64", [0, 4], b"")], {"format": "pt"}))
    write("safetensors", "empty", safetensors([]))
    write("safetensors", "overlap", safetensors([("x", "F32", [1], b"\0\0\0\0")])[:-2])


def seeds_shard_index():
    write("shard_index", "valid", json.dumps({"metadata": {"total_size": 40},
                                              "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}}))
    write("shard_index", "missing", json.dumps({"weight_map": {"x": "c.safetensors"}}))
    write("shard_index", "escape", json.dumps({"weight_map": {"x": "../a.safetensors", "y": "/etc/passwd"}}))
    write("shard_index", "wrong_tensor", json.dumps({"weight_map": {"z": "a.safetensors"}}))


def seeds_gemma_config(shared):
    for v in ("gemma1", "gemma2", "gemma3"):
        with open(os.path.join(shared, "oracle", "gemma", v, "config.json"), "rb") as f:
            write("gemma_config", v, f.read())
    write("gemma_config", "minimal", json.dumps({"model_type": "gemma", "vocab_size": 16, "hidden_size": 8,
                                                 "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 1,
                                                 "num_key_value_heads": 1, "head_dim": 8}))


def seeds_model_config(shared):
    with open(os.path.join(shared, "oracle", "mamba", "config.json"), "rb") as f:
        write("model_config", "mamba", f.read())
    with open(os.path.join(HERE, "..", "..", "benchmarks", "mamba-130m.config.json"), "rb") as f:
        write("model_config", "mamba-130m", f.read())
    write("model_config", "mamba-minimal", json.dumps({"model_type": "mamba", "vocab_size": 16, "hidden_size": 8,
                                                       "num_hidden_layers": 1, "state_size": 4, "conv_kernel": 2,
                                                       "time_step_rank": "auto", "use_bias": True}))
    write("model_config", "gemma-minimal", json.dumps({"model_type": "gemma", "vocab_size": 16, "hidden_size": 8,
                                                       "intermediate_size": 16, "num_hidden_layers": 1,
                                                       "num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": 8}))
    write("model_config", "unknown-type", json.dumps({"model_type": "llama", "vocab_size": 16}))


def tokenizer(pieces, merges, extra_added=()):
    vocab, added, n = {}, [], 0
    for s in ["<pad>", "<eos>", "<bos>", "<unk>", *extra_added]:
        added.append({"id": n, "content": s, "special": True, "normalized": False, "lstrip": False, "rstrip": False,
                      "single_word": False})
        vocab[s] = n
        n += 1
    for b in range(256):
        vocab["<0x%02X>" % b] = n
        n += 1
    for p in pieces:
        vocab[p] = n
        n += 1
    meta = "\u2581"
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": meta},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": meta}, "content": " "},
                                                      {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }, ensure_ascii=False)


def seeds_tokenizer():
    meta = "\u2581"
    write("tokenizer", "bpe", tokenizer(["a", "b", "c", "ab", "abc", meta, meta + "a"], [["a", "b"], ["ab", "c"], [meta, "a"]]))
    write("tokenizer", "string_merges", tokenizer(["a", "b", "ab"], ["a b"]))
    write("tokenizer", "chat_markers", tokenizer(["h", "i", "hi"], [["h", "i"]], ["<start_of_turn>", "<end_of_turn>"]))


def seeds_chat():
    rs, us = "\x1e", "\x1f"
    write("chat", "two_turns", "\x01" + "\x01hello" + rs + "\x02hi there" + rs + "\x01again")
    write("chat", "system", "\x00" + "\x00be brief" + rs + "\x01  what?  " + rs + "\x03answer")
    write("chat", "parts", "\x01" + "\x00sys" + us + "second" + rs + "\x01a" + us + " b " + us + "c")
    write("chat", "bad_order", "\x00" + "\x02first" + rs + "\x02second")


def seeds_jsonl():
    sft = "\n".join(json.dumps(r) for r in [{"prompt": "2+3=", "response": "5"}, {"prompt": "a", "completion": "b"}])
    pref = "\n".join(json.dumps(r) for r in [{"prompt": "q", "chosen": "yes", "rejected": "no"},
                                               {"prompt_ids": [2, 10], "chosen_ids": [20, 1], "rejected_ids": [30, 1]}])
    prompts = "\n".join(json.dumps(r) for r in [{"prompt": "1+1=", "answer": "2"}, {"prompt": "x", "answer": 7},
                                                  {"prompt_ids": [2, 5, 6]}])
    sft, pref, prompts = sft.encode(), pref.encode(), prompts.encode()
    write("jsonl", "supervised", b"\x80" + sft)        # byte 0: reader (bits 0-1), chat (bit 2), seq_len 1 + 4 * (bits 3-7)
    write("jsonl", "supervised_chat", b"\xa4" + sft)   # chat, seq_len 81
    write("jsonl", "preference", b"\x81" + pref)
    write("jsonl", "prompts", b"\x82" + prompts)
    write("jsonl", "prompts_chat", b"\x86" + prompts + b"\n\n")


def seeds_training_state():
    base = {"format": "libxla-train-1", "step": 3, "data": {"seed": 42, "epoch": 0, "position": 2},
            "optimizer": {"kind": "adamw", "steps": 3, "lr": 0.001}}
    write("training_state", "valid", json.dumps(base, indent=2))
    write("training_state", "trainer", json.dumps({**base, "trainer": "dpo", "reference": "abc", "extra": {"round": 1}}))
    write("training_state", "negative", json.dumps({**base, "step": -1}))


def seeds_http_request():
    chat = {"model": "tiny", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ab"}],
            "max_tokens": 4, "temperature": 0.7, "top_p": 0.9, "stop": ["\n"], "logprobs": True, "top_logprobs": 2,
            "stream": True, "stream_options": {"include_usage": True}, "seed": 1}
    write("http_request", "chat", "\x01" + json.dumps(chat))
    write("http_request", "chat_parts", "\x01" + json.dumps({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "n": 1, "top_k": 5, "min_p": 0.1}))
    write("http_request", "completion", "\x00" + json.dumps({"model": "tiny", "prompt": "ab", "max_tokens": 3,
                                                             "echo": False, "logprobs": 1}))
    write("http_request", "completion_ids", "\x00" + json.dumps({"prompt": [2, 3, 4], "ignore_eos": True,
                                                                 "return_tokens_as_token_ids": True}))


def seeds_capi_tensor():
    # op bytes: 0 create, 1 full, 2 reshape, 3 expand, 4 slice, 5 transpose, 6 matmul, 7 add,
    # 8 sum, 9 softmax, 10 concat, 11 read; extents < 240 are small, >= 240 the breaking ones
    write("capi_tensor", "matmul", bytes([1, 0, 3, 2, 3, 4, 1, 0, 2, 4, 5, 6, 11, 0]))
    write("capi_tensor", "huge", bytes([0, 0, 3, 240, 240, 1, 8, 0, 1, 0, 2, 241, 2, 11]))
    write("capi_tensor", "views", bytes([1, 0, 4, 2, 3, 4, 5, 5, 1, 2, 4, 3, 0, 2, 2, 9, 2, 10, 1, 8, 0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "shared"))
    a = ap.parse_args()
    seeds_safetensors()
    seeds_shard_index()
    seeds_gemma_config(a.shared)
    seeds_model_config(a.shared)
    seeds_tokenizer()
    seeds_chat()
    seeds_jsonl()
    seeds_training_state()
    seeds_http_request()
    seeds_capi_tensor()


if __name__ == "__main__":
    main()
