#!/usr/bin/env python3
"""The book's examples: pull them out of the Markdown, compile them against the built
library, run them and compare what they print with the book.

Conventions (docs/book/README.md explains them to readers):
  * every ```c, ```cpp, ```python or ```javascript block is a complete program (Python
    with the package of bindings/python installed, toolchain.json's "python" a virtual
    environment's interpreter; JavaScript, an ES module, with Node.js
    and the npm packages of tests/server, such as `openai`);
  * a line starting with `//~` (`#~` in Python) is compiled but not shown (hidden
    boilerplate: includes, main(), error checks); the marker and one following space are
    removed;
  * the block right after it, ```output, is exactly what the program prints on stdout;
    its standard error must be empty, unless a ```stderr block follows the output block:
    then stderr must be exactly that;
  * a ```console block is a terminal transcript: each `$ ` line is a command, run with bash
    from the checkout's root with the build folder first on PATH (so `xla` is the built
    tool) and $TOKENIZER set, and the lines after it are what it prints on stdout; its
    stderr must be empty (a transcript that shows stderr redirects it: `2>&1`).

    book.py check docs/book/02-tensors.md [--toolchain build/book/toolchain.json]
    book.py extract docs/book/02-tensors.md OUTDIR
    book.py update docs/book/02-tensors.md --only 3   (after a deliberate change; read the diff)

The playground server (serve.py) compiles and runs with the same functions.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

LANGS = {"c": ".c", "cpp": ".cpp", "python": ".py", "javascript": ".mjs"}
HIDDEN = {"c": "//~", "cpp": "//~", "python": "#~", "javascript": "//~"}
FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")


@dataclass
class Example:
    chapter: str      # file name of the chapter
    index: int        # 1-based, in the chapter
    line: int         # 1-based line of the opening fence
    lang: str         # "c", "cpp", "python" or "javascript"
    source: str       # the whole program, hidden lines included
    expected: str
    block_lines: list  # the block as written, hidden lines included
    expected_stderr: str = ""  # the ```stderr block after the output, if any; else stderr is empty

    @property
    def name(self):
        return f"{os.path.splitext(self.chapter)[0]}-{self.index:02d}"


def compiled_source(lang, block_lines):
    out = []
    for l in block_lines:
        s = l.lstrip()
        if s.startswith(HIDDEN[lang]):
            rest = s[len(HIDDEN[lang]):]
            out.append(rest[1:] if rest.startswith(" ") else rest)
        else:
            out.append(l)
    return "\n".join(out) + "\n"


def parse_blocks(text):
    """Yields (opening line, lang, body lines, closing line) for every fenced block; lines
    are 1-based."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence[0] * len(fence)):
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"line {start + 1}: code block is never closed")
        yield start + 1, lang, body, i + 1
        i += 1


@dataclass
class Transcript:
    chapter: str
    line: int
    commands: list  # (command, expected output)


def parse_transcripts(path):
    """The chapter's ```console blocks."""
    text = open(path, encoding="utf-8").read()
    out = []
    for line, lang, body, _ in parse_blocks(text):
        if lang != "console":
            continue
        commands = []
        for l in body:
            if l.startswith("$ "):
                commands.append([l[2:], []])
            elif not commands:
                raise ValueError(f"{os.path.basename(path)}:{line}: a console block starts with a `$ ` command")
            else:
                commands[-1][1].append(l)
        out.append(Transcript(os.path.basename(path), line, [(c, "\n".join(o)) for c, o in commands]))
    return out


# The printed outputs are those of libxla's avx2 kernels: the last digits of a result depend
# on the kernel path (AVX-512 sums in another order, the bf16 unit rounds activations), and
# every machine the book is checked on has AVX2.
BOOK_CPU_PATH = "avx2"


def run_console(tc, command, timeout=120):
    env = dict(os.environ, PATH=tc["bindir"] + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
               TOKENIZER=tc["tokenizer"], LANG="C.UTF-8", XLA_CPU=BOOK_CPU_PATH)
    try:
        p = subprocess.run(["bash", "-c", command], cwd=tc["source"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {timeout} s"


def parse_chapter(path):
    """The chapter's examples, each with its expected output. Raises ValueError on a
    broken convention (an example without its output block, an output block alone)."""
    text = open(path, encoding="utf-8").read()
    chapter = os.path.basename(path)
    blocks = list(parse_blocks(text))
    lines = text.split("\n")
    examples, used = [], set()
    for k, (line, lang, body, end) in enumerate(blocks):
        if lang not in LANGS:
            continue
        if k + 1 >= len(blocks) or blocks[k + 1][1] != "output":
            raise ValueError(f"{chapter}:{line}: a ```{lang} example must be followed by an ```output block")
        nline, _, out_body, _ = blocks[k + 1]
        between = lines[end:nline - 1]
        if any(l.strip() for l in between):
            raise ValueError(f"{chapter}:{line}: only blank lines may stand between an example and its ```output block")
        used.add(k + 1)
        err_body = []
        if k + 2 < len(blocks) and blocks[k + 2][1] == "stderr":
            eline, _, err_body, _ = blocks[k + 2]
            if any(l.strip() for l in lines[blocks[k + 1][3]:eline - 1]):
                raise ValueError(f"{chapter}:{eline}: only blank lines may stand between an ```output block and its ```stderr block")
            used.add(k + 2)
        examples.append(Example(chapter, len(examples) + 1, line, lang, compiled_source(lang, body),
                                "\n".join(out_body), body, "\n".join(err_body)))
    for k, (line, lang, _, _) in enumerate(blocks):
        if lang == "output" and k not in used:
            raise ValueError(f"{chapter}:{line}: an ```output block without an example before it")
        if lang == "stderr" and k not in used:
            raise ValueError(f"{chapter}:{line}: a ```stderr block must follow an example's ```output block")
    return examples


def shown_lines(lang, block_lines):
    """What the reader sees: the block without its hidden lines."""
    return [l for l in block_lines if not l.lstrip().startswith(HIDDEN[lang])]


# ---- compile and run -------------------------------------------------------------------

def load_toolchain(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def compile_command(tc, lang, src, exe):
    defines = [f'-DBOOK_SHARED="{tc["shared"]}"', f'-DBOOK_TOKENIZER="{tc["tokenizer"]}"']
    warn = ["-Wall", "-Wextra", "-Werror"]
    if lang == "c":
        return ([tc["cc"], "-std=c11", "-O2", *warn, *defines, "-I", tc["include"], src, "-o", exe,
                 tc["libxla"], f'-Wl,-rpath,{tc["libdir"]}', "-lm"])
    # C++ programs use the C++ API, which libxla.so does not export: they link its static
    # archive, libxla_cpp.a (any further archives are grouped: they may refer to each other).
    return ([tc["cxx"], "-std=c++20", "-O2", *tc.get("cxx_flags", []), *warn, *defines, "-I", tc["include"],
             src, "-o", exe, "-Wl,--start-group", *tc["archives"], "-Wl,--end-group", "-fopenmp", "-lm"])


@dataclass
class RunResult:
    stage: str          # "compile" or "run": where it stopped
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False


def _limited(cmd, memory_bytes, cpu_seconds, file_bytes):
    """cmd under prlimit (util-linux): limits set in the child, never in this process, and
    without preexec_fn, which is unsafe in a threaded server."""
    lim = ["--core=0"]
    if memory_bytes:
        lim.append(f"--as={memory_bytes}")
    if cpu_seconds:
        lim.append(f"--cpu={cpu_seconds}")
    if file_bytes:
        lim.append(f"--fsize={file_bytes}")
    return ["prlimit", *lim, "--", *cmd]


REAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reap.py")


def _run_limited(cmd, cwd, env, timeout, memory_bytes, cpu_seconds, file_bytes, max_output):
    """Runs cmd through reap.py, which kills it at the timeout and, however it ends, kills
    every process it started (forked, setsid, double-forked) before returning. stdout and
    stderr go to files capped by RLIMIT_FSIZE, so a program that prints forever cannot
    fill memory."""
    out_path, err_path = os.path.join(cwd, ".stdout"), os.path.join(cwd, ".stderr")
    status_r, status_w = os.pipe()
    launcher = [sys.executable, "-I", "-B", REAP, "--status-fd", str(status_w)]
    if timeout is not None:
        launcher += ["--timeout", str(timeout)]
    if cpu_seconds:
        launcher += ["--cpu", str(cpu_seconds)]
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            p = subprocess.Popen([*launcher, "--", *_limited(cmd, memory_bytes, cpu_seconds, file_bytes)],
                                 cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 start_new_session=True, pass_fds=(status_w,))
            os.close(status_w)
            status_w = None
            try:  # the launcher keeps the time; this is a backstop if it hangs
                p.wait(timeout=None if timeout is None else timeout + 60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        with os.fdopen(status_r, "rb") as f:
            status_r = None
            report = f.read()
    finally:
        for fd in (status_r, status_w):
            if fd is not None:
                os.close(fd)
    try:
        r = json.loads(report)
        code, timed_out = r["exit_code"], r["timed_out"]
    except (ValueError, KeyError, TypeError):  # the launcher itself failed: its message is on stderr
        code, timed_out = p.returncode if p.returncode else 125, False
    truncated = False
    texts = []
    for path in (out_path, err_path):
        with open(path, "rb") as f:
            data = f.read(max_output + 1)
        if len(data) > max_output:
            data, truncated = data[:max_output], True
        texts.append(data.decode("utf-8", "replace"))
    return code, texts[0], texts[1], timed_out, truncated


def compile_and_run(tc, lang, source, workdir, run_timeout=60, compile_timeout=120,
                    memory_bytes=None, cpu_seconds=None, file_bytes=64 << 20, max_output=1 << 20):
    if lang not in LANGS:
        return RunResult("compile", None, "", f"unknown language '{lang}': use {', '.join(LANGS)}\n")
    src = os.path.join(workdir, "main" + LANGS[lang])
    exe = os.path.join(workdir, "main")
    with open(src, "w", encoding="utf-8") as f:
        f.write(source)
    # The build folder first on PATH (the `xla` tool, as in a console transcript); the data's
    # folders as environment variables of the macros' names, for the interpreted languages.
    env = {"PATH": tc["bindir"] + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir,
           "TMPDIR": workdir, "LANG": "C.UTF-8", "BOOK_SHARED": tc["shared"], "BOOK_TOKENIZER": tc["tokenizer"]}
    if lang == "python":  # nothing to compile: the interpreter has the package installed (a venv)
        cmd = [tc["python"], "-B", src]
        env.update(PYTHONUNBUFFERED="1")
        if tc.get("python_path"):  # or the package from a source tree, over a given libxla.so
            env.update(PYTHONPATH=tc["python_path"], LIBXLA=tc["libxla"])
    elif lang == "javascript":  # an ES module; its imports resolve in tests/server's node_modules
        node, modules = tc.get("node") or shutil.which("node"), tc.get("node_modules", "")
        if not node:
            return RunResult("compile", None, "", "javascript examples need Node.js (node), which is not installed\n")
        if not os.path.isdir(modules):
            return RunResult("compile", None, "", f"javascript examples need the npm packages of {modules}: "
                             f"npm ci --prefix {os.path.dirname(modules)} (make test does it)\n")
        os.symlink(modules, os.path.join(workdir, "node_modules"))
        cmd = [node, src]
    else:
        code, out, err, to, tr = _run_limited(compile_command(tc, lang, src, exe), workdir, env, compile_timeout,
                                              None, None, file_bytes, max_output)
        if code != 0 or to:
            return RunResult("compile", code, out, err, to, tr)
        cmd = [exe]
    env["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "2")
    env["XLA_CPU"] = BOOK_CPU_PATH
    code, out, err, to, tr = _run_limited(cmd, workdir, env, run_timeout, memory_bytes, cpu_seconds,
                                          file_bytes, max_output)
    return RunResult("run", code, out, err, to, tr)


def normalize(text):
    return "\n".join(l.rstrip() for l in text.strip("\n").split("\n"))


# ---- commands --------------------------------------------------------------------------

def cmd_check(args):
    tc = load_toolchain(args.toolchain)
    failed = 0
    for path in args.chapters:
        try:
            examples = parse_chapter(path)
        except ValueError as e:
            print(f"FAIL {e}")
            failed += 1
            continue
        for ex in examples:
            if args.only and ex.index not in args.only:
                continue
            with tempfile.TemporaryDirectory(prefix="xla-book-") as d:
                r = compile_and_run(tc, ex.lang, ex.source, d)
            where = f"{ex.chapter}:{ex.line} (example {ex.index})"
            if r.stage == "compile" or r.exit_code != 0 or r.timed_out:
                failed += 1
                what = "timed out" if r.timed_out else f"{r.stage} failed (exit {r.exit_code})"
                print(f"FAIL {where}: {what}\n{r.stderr}{r.stdout}")
            elif normalize(r.stdout) != normalize(ex.expected):
                failed += 1
                print(f"FAIL {where}: the output differs from the book")
                print("--- book\n" + normalize(ex.expected) + "\n--- program\n" + normalize(r.stdout))
            elif normalize(r.stderr) != normalize(ex.expected_stderr):
                failed += 1
                what = "its ```stderr block" if ex.expected_stderr else "none (no ```stderr block)"
                print(f"FAIL {where}: the standard error differs from the book, which shows {what}")
                print("--- book\n" + normalize(ex.expected_stderr) + "\n--- program's stderr\n" + normalize(r.stderr))
            else:
                print(f"ok   {where}")
        try:
            transcripts = parse_transcripts(path)
        except ValueError as e:
            print(f"FAIL {e}")
            failed += 1
            continue
        for t in transcripts if not args.only else []:
            for command, expected in t.commands:
                code, out, err = run_console(tc, command)
                where = f"{t.chapter}:{t.line} ($ {command})"
                if code != 0:
                    failed += 1
                    print(f"FAIL {where}: exit {code}\n{err}{out}")
                elif normalize(out) != normalize(expected):
                    failed += 1
                    print(f"FAIL {where}: the output differs from the book")
                    print("--- book\n" + normalize(expected) + "\n--- command\n" + normalize(out))
                elif normalize(err):
                    failed += 1
                    print(f"FAIL {where}: the command wrote to stderr, which the transcript does not show "
                          f"(redirect it with 2>&1 to show it)\n{err}")
                else:
                    print(f"ok   {where}")
        if not examples and not transcripts:
            print(f"note {path}: no examples")
    return 1 if failed else 0


def cmd_update(args):
    """Rewrites the output blocks of the chosen examples with what they print now. An
    authoring aid after a deliberate change: read the diff (git diff) before committing."""
    tc = load_toolchain(args.toolchain)
    text = open(args.chapter, encoding="utf-8").read()
    lines = text.split("\n")
    blocks = list(parse_blocks(text))
    examples = parse_chapter(args.chapter)
    by_line = {ex.line: ex for ex in examples}
    edits = []  # (first body line index, end index exclusive, new lines)
    for k, (line, lang, _, _) in enumerate(blocks):
        ex = by_line.get(line)
        if not ex or (args.only and ex.index not in args.only):
            continue
        with tempfile.TemporaryDirectory(prefix="xla-book-") as d:
            r = compile_and_run(tc, ex.lang, ex.source, d)
        if r.stage == "compile" or r.exit_code != 0 or r.timed_out:
            print(f"{ex.chapter}:{ex.line}: example {ex.index} failed, left as it is\n{r.stderr}")
            continue
        out_line, _, out_body, _ = blocks[k + 1]
        edits.append((out_line, out_line + len(out_body), normalize(r.stdout).split("\n")))
        if normalize(r.stderr) != normalize(ex.expected_stderr):
            print(f"{ex.chapter}:{ex.line}: example {ex.index} writes to stderr what the book does not show; "
                  f"edit its ```stderr block by hand:\n{r.stderr}")
        print(f"{ex.chapter}:{ex.line}: example {ex.index} " +
              ("unchanged" if normalize(r.stdout) == normalize(ex.expected) else "updated"))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    with open(args.chapter, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return 0


def cmd_extract(args):
    os.makedirs(args.outdir, exist_ok=True)
    for ex in parse_chapter(args.chapter):
        base = os.path.join(args.outdir, ex.name)
        with open(base + LANGS[ex.lang], "w", encoding="utf-8") as f:
            f.write(ex.source)
        with open(base + ".expected", "w", encoding="utf-8") as f:
            f.write(normalize(ex.expected) + "\n")
        print(base + LANGS[ex.lang])
    return 0


def cmd_json(args):
    """Every chapter's examples as JSON: the renderer reads this (one parser, not two)."""
    out = {}
    for path in args.chapters:
        out[os.path.basename(path)] = [
            {"index": ex.index, "line": ex.line, "lang": ex.lang, "source": ex.source,
             "raw": "\n".join(ex.block_lines),
             "shown": "\n".join(shown_lines(ex.lang, ex.block_lines)), "expected": normalize(ex.expected),
             "expected_stderr": normalize(ex.expected_stderr)}
            for ex in parse_chapter(path)]
    json.dump(out, sys.stdout, indent=1)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="compile, run and compare every example of the chapters")
    c.add_argument("chapters", nargs="+")
    c.add_argument("--toolchain", default="build/book/toolchain.json")
    c.add_argument("--only", type=int, action="append", help="only example N (repeatable)")
    e = sub.add_parser("extract", help="write a chapter's programs and expected outputs to a folder")
    e.add_argument("chapter")
    e.add_argument("outdir")
    u = sub.add_parser("update", help="rewrite output blocks with what the examples print now (read the diff!)")
    u.add_argument("chapter")
    u.add_argument("--toolchain", default="build/book/toolchain.json")
    u.add_argument("--only", type=int, action="append", help="only example N (repeatable)")
    j = sub.add_parser("json", help="print the chapters' examples as JSON")
    j.add_argument("chapters", nargs="+")
    args = ap.parse_args()
    try:
        return {"check": cmd_check, "extract": cmd_extract, "update": cmd_update, "json": cmd_json}[args.cmd](args)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
