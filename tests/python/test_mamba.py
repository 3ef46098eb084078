"""test_mamba.py — Mamba configurations beyond the oracle's, against PyTorch: each variant (conv
kernels 2 and 3, in/out projection biases, no conv bias, state sizes 4 and 8, expand 3, an
untied head, time_step_rank "auto") gets random weights here, is written as a Hugging Face
folder (config.json + model.safetensors), computed by transformers' slow path written out
in PyTorch (float64), and loaded by libxla: logits within 1e-4, and the greedy continuation
through the recurrent state equal to PyTorch's. Needs Debian's python3-torch; run through the
installed package (ctest python.mamba).
"""
from __future__ import annotations

import json
import math
import os
import struct
import tempfile
import unittest
from typing import Any, Dict, List

import torch
import torch.nn.functional as F

import xla

BASE: Dict[str, Any] = {"model_type": "mamba", "vocab_size": 97, "hidden_size": 24, "state_size": 16,
                        "num_hidden_layers": 2, "expand": 2, "conv_kernel": 4, "time_step_rank": 3,
                        "layer_norm_epsilon": 1e-5, "use_bias": False, "use_conv_bias": True,
                        "tie_word_embeddings": True, "hidden_act": "silu"}
VARIANTS: Dict[str, Dict[str, Any]] = {
    "kernel 2, projection biases": {"conv_kernel": 2, "use_bias": True},
    "kernel 3, state 8, untied head, no conv bias": {"conv_kernel": 3, "state_size": 8, "tie_word_embeddings": False,
                                                     "use_conv_bias": False},
    "expand 3, state 4, rank auto": {"expand": 3, "state_size": 4, "time_step_rank": "auto", "hidden_size": 40},
}


def full_config(overrides: Dict[str, Any]) -> Dict[str, Any]:
    c = dict(BASE, **overrides)
    c["intermediate_size"] = c["expand"] * c["hidden_size"]
    return c


def weights(c: Dict[str, Any], seed: int) -> Dict[str, torch.Tensor]:
    """Random weights under Hugging Face's names, float32, scaled so every path matters."""
    g = torch.Generator().manual_seed(seed)
    C, I, S, K = c["hidden_size"], c["intermediate_size"], c["state_size"], c["conv_kernel"]
    R = math.ceil(C / 16) if c["time_step_rank"] == "auto" else c["time_step_rank"]

    def rnd(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    w = {"backbone.embeddings.weight": rnd(c["vocab_size"], C, scale=0.5),
         "backbone.norm_f.weight": 1 + rnd(C, scale=0.1)}
    for n in range(c["num_hidden_layers"]):
        p = f"backbone.layers.{n}."
        w[p + "norm.weight"] = 1 + rnd(C, scale=0.1)
        w[p + "mixer.in_proj.weight"] = rnd(2 * I, C)
        w[p + "mixer.conv1d.weight"] = rnd(I, 1, K, scale=0.4)
        w[p + "mixer.x_proj.weight"] = rnd(R + 2 * S, I)
        w[p + "mixer.dt_proj.weight"] = rnd(I, R, scale=0.5)
        w[p + "mixer.dt_proj.bias"] = rnd(I, scale=0.5) - 1.0
        w[p + "mixer.A_log"] = torch.log(torch.arange(1, S + 1, dtype=torch.float32)).repeat(I, 1) + rnd(I, S, scale=0.1)
        w[p + "mixer.D"] = 1 + rnd(I, scale=0.1)
        w[p + "mixer.out_proj.weight"] = rnd(C, I)
        if c["use_conv_bias"]:
            w[p + "mixer.conv1d.bias"] = rnd(I)
        if c["use_bias"]:
            w[p + "mixer.in_proj.bias"] = rnd(2 * I)
            w[p + "mixer.out_proj.bias"] = rnd(C)
    if not c["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(c["vocab_size"], C, scale=0.5)
    return w


def write_folder(path: str, c: Dict[str, Any], w: Dict[str, torch.Tensor]) -> None:
    """config.json and model.safetensors (the format by hand: a JSON header, then the bytes)."""
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(c, f)
    header: Dict[str, Any] = {}
    blobs: List[bytes] = []
    at = 0
    for name, t in w.items():
        b = t.contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(path, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def reference_logits(c: Dict[str, Any], w: Dict[str, torch.Tensor], ids: List[int]) -> torch.Tensor:
    """transformers' MambaForCausalLM slow path, float64: [T, V]."""
    d = {k: v.double() for k, v in w.items()}
    I, S, K = c["intermediate_size"], c["state_size"], c["conv_kernel"]
    R = d["backbone.layers.0.mixer.dt_proj.weight"].shape[1]
    eps = c["layer_norm_epsilon"]

    def rms(x: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        return wt * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)

    h = d["backbone.embeddings.weight"][torch.tensor(ids)]  # [T, C]
    T = len(ids)
    for n in range(c["num_hidden_layers"]):
        p = f"backbone.layers.{n}.mixer."
        u = rms(h, d[f"backbone.layers.{n}.norm.weight"])
        xz = F.linear(u, d[p + "in_proj.weight"], d.get(p + "in_proj.bias"))
        x, z = xz[:, :I], xz[:, I:]
        x = F.conv1d(x.T[None], d[p + "conv1d.weight"], d.get(p + "conv1d.bias"), padding=K - 1, groups=I)[0, :, :T].T
        x = F.silu(x)
        dbc = F.linear(x, d[p + "x_proj.weight"])
        dt = F.softplus(F.linear(dbc[:, :R], d[p + "dt_proj.weight"], d[p + "dt_proj.bias"]))  # [T, I]
        Bm, Cm = dbc[:, R:R + S], dbc[:, R + S:]
        A = -torch.exp(d[p + "A_log"])
        state = torch.zeros(I, S, dtype=torch.float64)
        ys = []
        for t in range(T):
            state = torch.exp(A * dt[t][:, None]) * state + dt[t][:, None] * Bm[t][None, :] * x[t][:, None]
            ys.append(state @ Cm[t] + d[p + "D"] * x[t])
        y = torch.stack(ys) * F.silu(z)
        h = h + F.linear(y, d[p + "out_proj.weight"], d.get(p + "out_proj.bias"))
    h = rms(h, d["backbone.norm_f.weight"])
    head = d["backbone.embeddings.weight"] if c["tie_word_embeddings"] else d["lm_head.weight"]
    return F.linear(h, head)


class MambaVariantsTest(unittest.TestCase):
    def test_variants_match_pytorch(self) -> None:
        for k, (label, overrides) in enumerate(VARIANTS.items()):
            with self.subTest(label), tempfile.TemporaryDirectory() as d:
                c = full_config(overrides)
                w = weights(c, seed=10 + k)
                write_folder(d, c, w)
                g = torch.Generator().manual_seed(k)
                ids = torch.randint(0, c["vocab_size"], (11,), generator=g).tolist()
                want = reference_logits(c, w, ids)
                with xla.Model.load(d) as m:
                    self.assertEqual(m.architecture, "mamba")
                    got = torch.tensor(m.forward(ids, as_list=True), dtype=torch.float64)
                    self.assertEqual(tuple(got.shape), (len(ids), c["vocab_size"]))
                    err = (got - want).abs().max().item()
                    self.assertLess(err, 1e-4, f"{label}: max logit error {err}")
                    # greedy through the state: each token the argmax of the reference's last row
                    seq = list(ids)
                    for _ in range(5):
                        seq.append(int(reference_logits(c, w, seq)[-1].argmax()))
                    self.assertEqual(m.generate(ids, max_new_tokens=5), seq[len(ids):])

    def test_a_missing_bias_is_named(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            c = full_config({"use_bias": True})
            w = weights(c, seed=3)
            del w["backbone.layers.1.mixer.out_proj.bias"]
            write_folder(d, c, w)
            with self.assertRaisesRegex(xla.FormatError, "backbone.layers.1.mixer.out_proj.bias"):
                xla.Model.load(d)


if __name__ == "__main__":
    unittest.main()
