"""test_cli.py — the `xla` command-line tool end to end: exit codes, `info` against the
checkpoint's own header, `tokenize` against the oracle's ids, `create` + `generate` on a tiny
model agreeing with the C API's generate, `chat` over two turns, `plot` read back from its SVG,
and clear errors: full disks, FIFOs, a config of more layers than its checkpoint under a
memory cap.
Usage: test_cli.py XLA_BINARY LIBXLA SHARED_DIR TOKENIZER_JSON WORK_DIR"""
import ctypes, json, math, os, resource, shutil, signal, struct, subprocess, sys, time
import xml.etree.ElementTree as ET

xla, libxla, shared, tokenizer, work = sys.argv[1:6]
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)


def run(*args, stdin=None, timeout=600, preexec_fn=None):
    try:
        p = subprocess.run([xla, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=preexec_fn)
    except subprocess.TimeoutExpired:
        return None, "", f"still running after {timeout} s"
    return p.returncode, p.stdout, p.stderr


def full_disk():
    """In the child before exec: every file it writes is capped at 4 KB (a full disk without
    root); SIGXFSZ ignored, so writes fail with EFBIG instead of killing it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


if not os.path.exists(tokenizer):
    print(f"FAILED: {tokenizer} is missing; run `make tokenizer-data`")
    sys.exit(1)

# usage and exit codes
rc, out, err = run("--help")
check(rc == 0 and "generate" in out and "chat" in out, "xla --help")
rc, out, err = run("frobnicate")
check(rc == 2 and "unknown command 'frobnicate'" in err, "unknown command exits 2")
rc, out, err = run("generate", "--prompt", "hi")
check(rc == 2 and "--model is required" in err, "missing --model exits 2")
rc, out, err = run("generate", "--model", "/nonexistent/m", "--tokenizer", tokenizer, "--prompt", "hi")
check(rc == 1 and "/nonexistent/m" in err, "missing model folder exits 1 naming it")
rc, out, err = run("generate", "--help")
check(rc == 0 and "--temperature" in out, "generate --help")

# integer flags are read as integers, range-checked, never wrapped (parsed before any loading)
gen = ["generate", "--model", "/nonexistent/m", "--tokenizer", tokenizer, "--prompt", "hi"]
for flag, value, bounds in [("max-new-tokens", "4294967297", "[0, 2147483647]"),
                            ("max-new-tokens", "-1", "[0, 2147483647]"),
                            ("max-new-tokens", "2.5", "[0, 2147483647]"),
                            ("max-new-tokens", "1e3", "[0, 2147483647]"),
                            ("top-k", "99999999999", "[0, 2147483647]"),
                            ("seed", "-1", "[0, 18446744073709551615]"),
                            ("seed", "18446744073709551616", "[0, 18446744073709551615]")]:
    rc, out, err = run(*gen, "--" + flag, value)
    check(rc == 2 and f"--{flag} must be an integer in {bounds}, got '{value}'" in err,
          f"--{flag} {value} is a usage error naming the range: {rc} {err}")
rc, out, err = run("serve", "--model", "/nonexistent/m", "--port", "99999999999999999999")
check(rc == 2 and "--port must be an integer in [0, 65535]" in err, f"serve --port out of range: {rc} {err}")

# FIFOs and folders where files belong: an error naming the file at once, never a hang
os.makedirs(work, exist_ok=True)
fifo_model = os.path.join(work, "fifo_model")
os.makedirs(fifo_model, exist_ok=True)
if not os.path.exists(os.path.join(fifo_model, "config.json")):
    os.mkfifo(os.path.join(fifo_model, "config.json"))
rc, out, err = run("info", fifo_model, timeout=30)
check(rc == 1 and "config.json' is not a regular file" in err, f"info on a FIFO config.json: {rc} {err}")
rc, out, err = run("tokenize", "--tokenizer", work, "hi", timeout=30)
check(rc == 1 and f"'{work}' is a directory" in err, f"tokenize with a folder as tokenizer: {rc} {err}")

# plot: metrics .jsonl -> SVG, read back with ElementTree. Lines out of step order, a blank
# line, NaN and Infinity (as Python's json writes them) among 12 finite losses.
SVG = "{http://www.w3.org/2000/svg}"
os.makedirs(work, exist_ok=True)
steps = [10 * (i + 1) for i in range(12)]
loss = {s: 3.0 * math.exp(-s / 60) + 0.5 for s in steps}  # strictly decreasing in step
run1 = os.path.join(work, "run1.jsonl")
with open(run1, "w") as f:
    for s in steps[6:] + steps[:6]:
        f.write(json.dumps({"step": s, "loss": loss[s], "lr": 3e-4, "grad_norm": 1.0 + s / 100}) + "\n")
        if s % 40 == 0:
            f.write(json.dumps({"step": s, "val_loss": loss[s] + 0.2, "val_ppl": math.exp(loss[s] + 0.2)}) + "\n")
    f.write("\n")
    f.write(json.dumps({"step": 130, "loss": float("nan"), "rewards/margins": 0.5}) + "\n")
    f.write(json.dumps({"step": 140, "loss": float("inf"), "rewards/margins": 0.7}) + "\n")
run2 = os.path.join(work, "run2.jsonl")
with open(run2, "w") as f:
    for s in steps[:5]:
        f.write(json.dumps({"step": s, "loss": loss[s] + 0.3, "lr": 1e-4}) + "\n")


def plot(*args):
    svg_path = os.path.join(work, "plot.svg")
    if os.path.exists(svg_path):
        os.remove(svg_path)
    rc, out, err = run("plot", *args, "-o", svg_path)
    root = ET.parse(svg_path).getroot() if rc == 0 and os.path.exists(svg_path) else None
    return rc, err, root


def series(root, metric, run_name="run1"):
    for p in root.iter(SVG + "polyline"):
        if p.get("data-metric") == metric and p.get("data-run") == run_name:
            return [tuple(float(c) for c in xy.split(",")) for xy in p.get("points").split()]
    return None


def affine(us, vs):  # v = a·u + b for every point, within rounding to 0.01
    a = (vs[-1] - vs[0]) / (us[-1] - us[0])
    return all(abs(vs[0] + a * (u - us[0]) - v) < 0.02 for u, v in zip(us, vs))


rc, err, root = plot(run1, "--title", "tiny <run>")
check(root is not None, f"plot writes a readable SVG: rc {rc} {err}")
if root is not None:
    titles = [t.text for t in root.iter(SVG + "text") if t.get("class") == "title"]
    check(titles == ["tiny <run>"], f"plot title {titles}")
    panels = [g.get("data-metrics") for g in root.iter(SVG + "g") if g.get("class") == "panel"]
    check(panels == ["loss,val_loss", "lr", "grad_norm", "val_ppl", "rewards/margins"], f"plot panels {panels}")
    pts = series(root, "loss")
    check(pts is not None and len(pts) == 12, f"loss polyline has the 12 finite points, NaN and inf dropped: {pts}")
    if pts and len(pts) == 12:
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        check(all(a < b for a, b in zip(xs, xs[1:])), f"loss x grows with step: {xs}")
        check(all(a < b for a, b in zip(ys, ys[1:])), f"loss y grows down the page as loss falls: {ys}")
        check(affine(steps, xs) and affine([loss[s] for s in steps], ys), "loss points are affine in step and loss")
    val = series(root, "val_loss")
    check(val is not None and len(val) == 3 and pts and val[0][0] == pts[3][0], f"val_loss at steps 40, 80, 120: {val}")
    margins = series(root, "rewards/margins")
    check(margins is not None and len(margins) == 2, f"rewards/margins has its 2 points: {margins}")

rc, err, root = plot(run1, run2, "--metrics", "loss", "--log-y")
check(root is not None, f"plot of two runs: rc {rc} {err}")
if root is not None:
    a, b = series(root, "loss", "run1"), series(root, "loss", "run2")
    lines = {p.get("data-run"): p.get("stroke") for p in root.iter(SVG + "polyline")}
    check(sorted(lines) == ["run1", "run2"] and lines["run1"] != lines["run2"], f"two runs, two colours: {lines}")
    check(a and b and len(b) == 5 and [p[0] for p in b] == [p[0] for p in a[:5]], "runs share the step axis")
    check(a and affine([math.log10(loss[s]) for s in steps], [p[1] for p in a]), "--log-y: y affine in log10(loss)")

with open(os.path.join(work, "bad.jsonl"), "w") as f:
    f.write('{"step": 1, "loss": 2.0}\n\n{"step": 2, "loss": 1.9\n')
rc, err, root = plot(os.path.join(work, "bad.jsonl"))
check(rc == 1 and "bad.jsonl:3:" in err and not os.path.exists(os.path.join(work, "plot.svg")),
      f"a malformed line exits 1 naming file and line, writing nothing: {rc} {err}")
rc, err, root = plot(run1, "--metrics", "loss,nope")
check(rc == 1 and "'nope'" in err, f"an absent metric exits 1 naming it: {rc} {err}")
rc, out, err = run("plot", run1)
check(rc == 2 and "-o" in err, f"plot without -o exits 2: {rc} {err}")
rc, err, root = plot(os.path.join(work, "missing.jsonl"))
check(rc == 1 and "missing.jsonl" in err, f"a missing input exits 1 naming it: {rc} {err}")

# plot on a full disk: exit 1 naming the file; an earlier plot of that name is left whole
# (the SVG goes through a temporary file, renamed only once written and synced)
svg_path = os.path.join(work, "plot.svg")
with open(svg_path, "w") as f:
    f.write("<svg>earlier</svg>")
rc, out, err = run("plot", run1, "-o", svg_path, preexec_fn=full_disk)
with open(svg_path) as f:
    kept = f.read()
check(rc == 1 and f"cannot write the plot '{svg_path}'" in err and "wrote" not in out,
      f"plot on a full disk exits 1 naming the file: {rc} {out} {err}")
check(kept == "<svg>earlier</svg>" and not os.path.exists(svg_path + ".tmp"),
      f"plot on a full disk leaves the earlier file and no temporary: {kept[:60]!r}")
rc, err, root = plot(run1)
check(root is not None and os.path.getsize(svg_path) > 4096, "the plot needs more than the full disk's 4 KB")

# info: the parameter count is the sum over the safetensors header
model2 = os.path.join(shared, "oracle/gemma/gemma2")
with open(os.path.join(model2, "model.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
params = 0
for name, t in header.items():
    if name != "__metadata__":
        p = 1
        for d in t["shape"]:
            p *= d
        params += p
rc, out, err = run("info", model2)
check(rc == 0 and f"parameters     {params}" in out and "Gemma 2" in out, f"info reports {params} parameters: {out}")
check("(2 sliding-window, 2 global)" in out, "info counts layer types")

# tokenize: the oracle's first case
with open(os.path.join(shared, "oracle/tokenizer/cases.jsonl")) as f:
    case = json.loads(f.readline())
rc, out, err = run("tokenize", "--tokenizer", tokenizer, case["text"])
ids = [int(line.split("\t")[0]) for line in out.strip().splitlines()]
check(rc == 0 and ids == case["ids"], f"tokenize ids {ids} vs {case['ids']}")

# create a tiny model with the real vocabulary, then generate from it
config = {"model_type": "gemma3_text", "vocab_size": 262144, "hidden_size": 16, "intermediate_size": 32,
          "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
          "sliding_window": 4, "sliding_window_pattern": 2}
os.makedirs(work, exist_ok=True)
cfg_path, tiny = os.path.join(work, "tiny.json"), os.path.join(work, "tiny")
with open(cfg_path, "w") as f:
    json.dump(config, f)
rc, out, err = run("create", "--config", cfg_path, "--out", tiny, "--seed", "3")
check(rc == 0 and os.path.exists(os.path.join(tiny, "model.safetensors")), f"create: {err}")
# the same on a full disk: an error, no "wrote", and no config.json beside missing weights
full = os.path.join(work, "tiny_full")
rc, out, err = run("create", "--config", cfg_path, "--out", full, "--seed", "3", preexec_fn=full_disk)
check(rc == 1 and "wrote" not in out and not os.path.exists(os.path.join(full, "config.json")),
      f"create on a full disk fails: {rc} {out} {err}")
def memory_cap():
    """In the child before exec: 1 GiB of address space (prlimit --as), so a loader that
    sizes anything from the config's numbers before checking the files dies of it."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))


# A config that claims more layers than its checkpoint holds fails fast and small: 1024
# layers of this width would be 4 GB, a million would be past the cap on layers.
one_layer = os.path.join(work, "one_layer")
with open(os.path.join(work, "one_layer.json"), "w") as f:
    json.dump(dict(config, vocab_size=64, hidden_size=256, intermediate_size=1024, num_hidden_layers=1,
                   num_attention_heads=4, head_dim=64), f)
rc, out, err = run("create", "--config", os.path.join(work, "one_layer.json"), "--out", one_layer, "--seed", "1")
check(rc == 0, f"create a 1-layer model: {err}")
for layers, says in [(1024, "config.json says 1024 layers, but tensor 'model.layers.1023.input_layernorm.weight' "
                            "is missing from " + one_layer),
                     (1000000, "config.json: 'num_hidden_layers' is 1000000, more than the cap of 1024")]:
    with open(os.path.join(one_layer, "config.json")) as f:
        cfg = json.load(f)
    cfg["num_hidden_layers"] = layers
    cfg.pop("layer_types", None)
    with open(os.path.join(one_layer, "config.json"), "w") as f:
        json.dump(cfg, f)
    t0 = time.monotonic()
    rc, out, err = run("generate", "--model", one_layer, "--tokenizer", tokenizer, "--prompt", "hi",
                       "--max-new-tokens", "2", timeout=60, preexec_fn=memory_cap)
    took = time.monotonic() - t0
    check(rc == 1 and says in err and took < 10,
          f"{layers} layers beside a 1-layer checkpoint, under a 1 GiB cap: exit 1 in {took:.1f} s: {rc} {err}")

rc, out, err = run("generate", "--model", tiny, "--tokenizer", tokenizer, "--prompt", case["text"],
                   "--max-new-tokens", "6", "--ids")
cli_ids = [int(x) for x in out.split()]
check(rc == 0 and (len(cli_ids) == 6 or cli_ids[-1] == 1), f"generate --ids printed {cli_ids} ({err})")

# the same generation through the C API (prompt = the oracle's ids, which include <bos>)
lib = ctypes.CDLL(libxla)
P = ctypes.c_void_p
lib.xla_model_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(P)]
lib.xla_generate.argtypes = [P, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, P, P, P,
                             ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
lib.xla_model_free.argtypes = [P]
m = P()
check(lib.xla_model_load(tiny.encode(), ctypes.byref(m)) == 0, "C API loads the tiny model")


class Params(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("seed", ctypes.c_uint64), ("temperature", ctypes.c_float),
                ("top_k", ctypes.c_int32), ("top_p", ctypes.c_float), ("min_p", ctypes.c_float),
                ("repetition_penalty", ctypes.c_float), ("max_new_tokens", ctypes.c_int32),
                ("n_stop_ids", ctypes.c_int32), ("stop_ids", P)]


params = Params()
lib.xla_sampler_params_init(ctypes.byref(params))
params.max_new_tokens = 6
prompt = (ctypes.c_int32 * len(case["ids"]))(*case["ids"])
out_ids = (ctypes.c_int32 * 6)()
n_out = ctypes.c_size_t()
st = lib.xla_generate(m, prompt, len(case["ids"]), ctypes.cast(ctypes.pointer(params), P), None, None, out_ids, 6,
                      ctypes.byref(n_out))
check(st == 0 and len(cli_ids) > 0 and list(out_ids)[: len(cli_ids)] == cli_ids, f"CLI {cli_ids} vs C API {list(out_ids)}")
lib.xla_model_free(m)

# chat: two turns from standard input, one reply line each
rc, out, err = run("chat", "--model", tiny, "--tokenizer", tokenizer, "--max-new-tokens", "3", stdin="Hi\nAgain\n")
check(rc == 0 and out.count("\n") == 2, f"chat answered two turns: {out!r} {err}")

# a Mamba folder through the same commands: info, and generate from ids (no tokenizer)
mamba = os.path.join(shared, "oracle/mamba")
with open(os.path.join(mamba, "reference.json")) as f:
    mref = json.load(f)
with open(os.path.join(mamba, "model.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    mparams = sum(math.prod(t["shape"]) for k, t in json.loads(f.read(n)).items() if k != "__metadata__")
rc, out, err = run("info", mamba)
check(rc == 0 and "Mamba" in out and f"parameters     {mparams}" in out and "state 16" in out,
      f"info on the Mamba oracle: {rc} {out} {err}")
for seq in mref["sequences"]:
    rc, out, err = run("generate", "--model", mamba, "--prompt-ids", ",".join(map(str, seq["ids"])),
                       "--max-new-tokens", "8")
    got = [int(x) for x in out.split()]
    check(rc == 0 and got == seq["greedy"], f"generate --prompt-ids on the Mamba oracle: {got} vs {seq['greedy']} {err}")
rc, out, err = run("generate", "--model", mamba, "--prompt-ids", "1,x2")
check(rc == 2 and "'x2' is not a token id" in err, f"a bad --prompt-ids is a usage error: {rc} {err}")
rc, out, err = run("generate", "--model", mamba, "--prompt-ids", "1,512", "--max-new-tokens", "2")
check(rc == 1 and "512" in err and not out, f"an id outside the vocabulary is named: {rc} {out!r} {err}")
rc, out, err = run("generate", "--model", mamba, "--prompt-ids", "1", "--prompt", "hi")
check(rc == 2 and "either --prompt" in err, f"--prompt and --prompt-ids together: {rc} {err}")

# the library's kernels, forced lower by XLA_CPU; 8-bit weights: quantize, info, generate
rc, out, err = run("info")
check(rc == 0 and "kernels" in out and "this CPU runs: baseline" in out, f"xla info names the kernels: {rc} {out} {err}")
os.environ["XLA_CPU"] = "baseline"
rc, out2, err = run("info")
del os.environ["XLA_CPU"]
check(rc == 0 and "kernels        baseline " in out2 and "forced by XLA_CPU=baseline" in out2, f"XLA_CPU=baseline: {out2}")
gemma2_ref = json.load(open(os.path.join(model2, "reference.json")))["sequences"][0]
q8_dir = os.path.join(work, "gemma2_q8")
shutil.rmtree(q8_dir, ignore_errors=True)
rc, out, err = run("quantize", model2, q8_dir)
check(rc == 0 and os.path.exists(os.path.join(q8_dir, "model.safetensors")), f"quantize: {rc} {out} {err}")
rc, out, err = run("info", q8_dir)
check(rc == 0 and "q8:" in out and "f32:" in out, f"info on the quantized folder lists q8 and f32 (norms): {out} {err}")
for weights in (["--weights", "q8"], []):  # held as q8, or widened back to f32
    rc, out, err = run("generate", "--model", q8_dir, *weights, "--prompt-ids", ",".join(map(str, gemma2_ref["token_ids"])),
                       "--max-new-tokens", "8")
    got = [int(x) for x in out.split()]
    same = sum(a == b for a, b in zip(got, gemma2_ref["greedy_continuation"]))
    check(rc == 0 and len(got) == 8 and same >= 1, f"generate {weights} on the quantized folder: {got} vs {gemma2_ref['greedy_continuation']} {err}")
rc, out, err = run("generate", "--model", model2, "--weights", "q4", "--prompt-ids", "2")
check(rc == 2 and "--weights must be f32, bf16 or q8" in err, f"a bad --weights is a usage error: {rc} {err}")
# compiled steps: the reference's greedy continuation; Mamba cannot compile its step
rc, out, err = run("generate", "--model", model2, "--compile", "--prompt-ids", ",".join(map(str, gemma2_ref["token_ids"])),
                   "--max-new-tokens", str(len(gemma2_ref["greedy_continuation"])))
check(rc == 0 and [int(x) for x in out.split()] == gemma2_ref["greedy_continuation"],
      f"generate --compile gives the reference continuation: {out!r} {err}")
rc, out, err = run("generate", "--model", mamba, "--compile", "--prompt-ids", "1,2", "--max-new-tokens", "2")
check(rc == 1 and "cannot compile" in err and not out, f"generate --compile on Mamba is refused: {rc} {out!r} {err}")
rc, out, err = run("quantize", mamba, os.path.join(work, "mamba_q8"))
check(rc == 1 and "q8" in err, f"quantizing a Mamba model is refused: {rc} {err}")

print(f"cli: {checks - len(failures)} passed, {len(failures)} failed")
for f in failures:
    print("FAILED:", f)
sys.exit(1 if failures else 0)
