#!/usr/bin/env python3
"""Plain-PyTorch Mamba (v1) language model with random weights: the CPU peer of bench_mamba.

Hugging Face's MambaForCausalLM as its slow path computes it (no CUDA kernels), written out
without importing transformers: in_proj, causal depthwise conv1d + SiLU, x_proj, dt_proj +
softplus, the selective scan as a loop over tokens, the SiLU gate, out_proj; RMSNorm with
`weight`; the LM head tied to the embedding. Decode carries each layer's state as the slow
path's cache does: the conv window [B, I, K] and the SSM state h [B, I, S].
Targets Debian 12's torch 1.13 (apt-get install python3-torch; run with /usr/bin/python3).
Config: mamba-130m.config.json beside this file.

  python3 torch_mamba.py prefill [--T 512]
  python3 torch_mamba.py decode  [--prompt 128 --gen 64]
PyTorch's OpenMP and OpenBLAS thread pools fight on 2 cores, so each mode runs twice by
default, in a fresh process each: OpenMP's default wait policy, then OMP_WAIT_POLICY=PASSIVE
(--omp default|passive runs one). Each run prints one JSON line with per-repeat timings
(median/min/max).
"""
import argparse, json, math, os, resource, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["prefill", "decode"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--T", type=int, default=512)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--omp", choices=["both", "default", "passive"], default="both",
                    help="OpenMP wait policy; both = one fresh process each")
    ap.add_argument("--config", default=os.path.join(HERE, "mamba-130m.config.json"))
    return ap.parse_args(argv)


def policy_now():
    return "passive" if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else "default"


def run_in_fresh_processes(argv, policies):
    # OMP_WAIT_POLICY is read when the OpenMP runtime starts (at `import torch`): a fresh
    # process per policy, with --omp naming it.
    rc = 0
    argv = [x for i, x in enumerate(argv) if x != "--omp" and (i == 0 or argv[i - 1] != "--omp")
            and not x.startswith("--omp=")]
    for policy in policies:
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        if policy == "passive":
            env["OMP_WAIT_POLICY"] = "PASSIVE"
        rc |= subprocess.call([sys.executable, os.path.abspath(__file__)] + argv + ["--omp", policy], env=env)
    return rc


def build(c):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class RMSNorm(nn.Module):  # Mamba: w * x * rsqrt(mean(x^2) + eps), in fp32
        def __init__(self, dim, eps):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            xf = x.float()
            return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x)

    class Mixer(nn.Module):
        def __init__(self, c):
            super().__init__()
            H, I, S = c["hidden_size"], c["intermediate_size"], c["state_size"]
            R, K = c["time_step_rank"], c["conv_kernel"]
            self.I, self.S, self.R, self.K = I, S, R, K
            self.in_proj = nn.Linear(H, 2 * I, bias=c.get("use_bias", False))
            self.conv1d = nn.Conv1d(I, I, K, groups=I, padding=K - 1, bias=c.get("use_conv_bias", True))
            self.x_proj = nn.Linear(I, R + 2 * S, bias=False)
            self.dt_proj = nn.Linear(R, I, bias=True)
            self.A_log = nn.Parameter(torch.log(torch.arange(1, S + 1, dtype=torch.float32)).repeat(I, 1))  # [I, S]
            self.D = nn.Parameter(torch.ones(I))
            self.out_proj = nn.Linear(I, H, bias=c.get("use_bias", False))
            with torch.no_grad():  # Mamba's init of the step size: dt log-uniform in [dt_min, dt_max]
                std = R ** -0.5 * c.get("time_step_scale", 1.0)
                self.dt_proj.weight.uniform_(-std, std)
                lo, hi = math.log(c.get("time_step_min", 1e-3)), math.log(c.get("time_step_max", 0.1))
                dt = torch.exp(torch.rand(I) * (hi - lo) + lo).clamp(min=c.get("time_step_floor", 1e-4))
                self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)

        def forward(self, u, cache=None):
            # u [B, T, H]; cache = (conv_state [B, I, K], ssm_state [B, I, S]), updated in place
            B, T, _ = u.shape
            x, z = self.in_proj(u).transpose(1, 2).chunk(2, dim=1)  # [B, I, T] each
            if cache is not None and T == 1:  # decode: shift the window, one dot product per channel
                conv_state, ssm_state = cache
                conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
                conv_state[:, :, -1] = x[:, :, 0]
                x = torch.sum(conv_state * self.conv1d.weight[:, 0, :], dim=-1)
                if self.conv1d.bias is not None:
                    x = x + self.conv1d.bias
                x = F.silu(x).unsqueeze(-1)  # [B, I, 1]
            else:
                if cache is not None:  # prefill: keep the last K inputs of the convolution
                    cache[0].copy_(F.pad(x, (self.K - T, 0))[:, :, -self.K:])
                x = F.silu(self.conv1d(x)[..., :T])
            h = cache[1] if cache is not None else torch.zeros(B, self.I, self.S, dtype=x.dtype)
            dt_r, Bm, Cm = torch.split(self.x_proj(x.transpose(1, 2)), [self.R, self.S, self.S], dim=-1)
            dt = F.softplus(self.dt_proj(dt_r)).transpose(1, 2)  # [B, I, T]
            A = -torch.exp(self.A_log.float())  # [I, S]
            dA = torch.exp(A[None, :, None, :] * dt[:, :, :, None])  # [B, I, T, S]
            dBx = dt[:, :, :, None] * Bm[:, None, :, :].float() * x[:, :, :, None].float()
            ys = []
            for t in range(T):
                h = dA[:, :, t, :] * h + dBx[:, :, t, :]
                ys.append(torch.matmul(h.to(x.dtype), Cm[:, t, :].unsqueeze(-1))[:, :, 0])
            if cache is not None:
                cache[1].copy_(h)
            y = torch.stack(ys, dim=-1) + x * self.D[None, :, None]  # [B, I, T]
            y = y * F.silu(z)
            return self.out_proj(y.transpose(1, 2))

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = RMSNorm(c["hidden_size"], c.get("layer_norm_epsilon", 1e-5))
            self.mixer = Mixer(c)

        def forward(self, x, cache):
            return x + self.mixer(self.norm(x), cache)

    class Mamba(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c
            self.embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
            self.layers = nn.ModuleList([Block(c) for _ in range(c["num_hidden_layers"])])
            self.norm_f = RMSNorm(c["hidden_size"], c.get("layer_norm_epsilon", 1e-5))
            with torch.no_grad():  # random projections and embedding (the LM head is tied to it)
                self.embeddings.weight.normal_(0.0, 0.02)
                for layer in self.layers:
                    for lin in (layer.mixer.in_proj, layer.mixer.x_proj, layer.mixer.out_proj):
                        lin.weight.normal_(0.0, 0.02)

        def new_cache(self, B):
            c = self.c
            I = c["intermediate_size"]
            return [(torch.zeros(B, I, c["conv_kernel"]), torch.zeros(B, I, c["state_size"])) for _ in self.layers]

        def forward(self, ids, caches=None, last_only=False):
            x = self.embeddings(ids)
            for i, layer in enumerate(self.layers):
                x = layer(x, caches[i] if caches is not None else None)
            x = self.norm_f(x)
            if last_only:
                x = x[:, -1:]
            return F.linear(x, self.embeddings.weight)

    return Mamba(c)


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main():
    a = parse_args()
    if a.omp == "both":
        return run_in_fresh_processes(sys.argv[1:], ["default", "passive"])
    if a.omp != policy_now():
        return run_in_fresh_processes(sys.argv[1:], [a.omp])
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = json.load(open(a.config))
    if c.get("model_type") != "mamba":
        sys.exit(f"{a.config}: model_type is {c.get('model_type')!r}, not 'mamba'")
    c.setdefault("intermediate_size", c.get("expand", 2) * c["hidden_size"])
    if c.get("time_step_rank", "auto") == "auto":
        c["time_step_rank"] = math.ceil(c["hidden_size"] / 16)
    model = build(c).eval()
    params = sum(p.numel() for p in model.parameters())
    out = {"mode": a.mode, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "omp_wait_policy": policy_now(), "dtype": "torch.float32",
           "parameters": params}
    g = torch.Generator().manual_seed(1)
    if a.mode == "prefill":
        ids = torch.randint(0, c["vocab_size"], (1, a.T), generator=g)
        times = []
        with torch.no_grad():
            for r in range(a.reps + 1):
                t0 = time.perf_counter()
                model(ids, last_only=True)
                if r:  # the first run is a warm-up
                    times.append(time.perf_counter() - t0)
        out.update(T=a.T, seconds=stats(times), tok_per_s=stats([a.T / t for t in times]))
    else:
        ids = torch.randint(0, c["vocab_size"], (1, a.prompt), generator=g)
        rates = []
        with torch.no_grad():
            for r in range(a.reps + 1):
                caches = model.new_cache(1)
                tok = model(ids, caches, last_only=True)[:, -1].argmax(-1, keepdim=True)
                t0 = time.perf_counter()
                for _ in range(a.gen):
                    tok = model(tok, caches, last_only=True)[:, -1].argmax(-1, keepdim=True)
                if r:
                    rates.append(a.gen / (time.perf_counter() - t0))
        # what a decode step reads: every weight once (the embedding as the tied head)
        out.update(prompt=a.prompt, gen=a.gen, tok_per_s=stats(rates), weight_bytes_per_token=params * 4)
    out["maxrss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
