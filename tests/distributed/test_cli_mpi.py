"""test_cli_mpi.py — `xla generate` under the MPI launcher: a pipeline over 2 and 3 ranks gives
the oracles' greedy continuations, printed once (rank 0); a rank's error ends the job with
that rank named instead of a hang; other commands refuse the ranks.
Usage: test_cli_mpi.py MPIEXEC XLA_BINARY SHARED_DIR [LAUNCHER_FLAG...]"""
import json, subprocess, sys

mpiexec, xla, shared = sys.argv[1:4]
flags = sys.argv[4:]
failures, checks = [], 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)


def run(ranks, *args, timeout=300):
    try:
        p = subprocess.run([mpiexec, *flags, "-np", str(ranks), xla, *args], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", f"still running after {timeout} s"
    return p.returncode, p.stdout, p.stderr


for variant, ranks in [("gemma2", 2), ("gemma3", 2), ("gemma3", 3)]:
    folder = f"{shared}/oracle/gemma/{variant}"
    ref = json.load(open(f"{folder}/reference.json"))
    for s, seq in enumerate(ref["sequences"]):
        want = seq["greedy_continuation"]
        rc, out, err = run(ranks, "generate", "--model", folder, "--prompt-ids", ",".join(map(str, seq["token_ids"])),
                           "--max-new-tokens", str(len(want)))
        got = [int(x) for x in out.split()] if rc == 0 else None
        check(got == want, f"{variant} sequence {s} on {ranks} ranks: {got} vs {want} (exit {rc}) {err[-400:]}")

rc, out, err = run(2, "generate", "--model", f"{shared}/oracle/nonexistent", "--prompt-ids", "2,3")
check(rc not in (0, None) and "rank " in err and "nonexistent" in err,
      f"a missing model under 2 ranks ends the job naming a rank: exit {rc} {err[-400:]}")
rc, out, err = run(2, "info", f"{shared}/oracle/gemma/gemma3")
check(rc == 2 and "runs in one process" in err, f"`xla info` refuses the ranks: exit {rc} {err[-400:]}")

for f in failures:
    print("FAILED:", f)
print(f"cli.mpi: {checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
