#!/usr/bin/env python3
"""ctest book.playground: the playground server (serve.py) against its promises — it
compiles and runs a posted program, listens on 127.0.0.1 only, refuses other origins,
bad requests and oversized programs, stops programs at the time, memory and output
limits, and gives every request a fresh folder.

    test_serve.py TOOLCHAIN_JSON
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def post(port, body, headers=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request("POST", "/api/run", body=raw if raw is not None else json.dumps(body), headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, {}


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def main():
    toolchain = sys.argv[1]
    with tempfile.TemporaryDirectory() as html:
        with open(os.path.join(html, "index.html"), "w") as f:
            f.write("<p>the book</p>")
        server = subprocess.Popen([sys.executable, os.path.join(HERE, "serve.py"), "--html", html,
                                   "--toolchain", toolchain, "--port", "0", "--timeout", "3",
                                   "--memory-mb", "1024", "--max-output", "4096", "--max-source", "8192"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = server.stdout.readline()
            check(line.startswith("serving the book at http://127.0.0.1:"), f"it announces a 127.0.0.1 URL: {line.strip()}")
            port = int(line.split("127.0.0.1:")[1].split("/")[0])
            run_tests(port)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


PROGRAM = """#include <stdio.h>
#include "xla/xla.h"
int main(void) {
  xla_tensor* t = NULL;
  float s = 0;
  xla_arange(1, 11, 1, XLA_F32, &t);
  xla_tensor* u = NULL;
  xla_sum(t, NULL, 0, 0, &u);
  xla_tensor_read(u, &s, sizeof s);
  printf("sum 1..10 = %g\\n", s);
  fprintf(stderr, "to stderr\\n");
  xla_tensor_free(u); xla_tensor_free(t);
  return 3;
}
"""


# The escapee says who it is (its pid, on stdout) before its parent goes on; it would sleep
# 30 s, then die of its alarm. The reply must come well before that (the limits allow for a
# loaded machine), with the escapee gone.
ESCAPE = """#include <stdio.h>
#include <unistd.h>
static int fds[2];
static void stay(void) {
  alarm(30);
  printf("left %d\\n", (int)getpid());
  fflush(stdout);
  if (write(fds[1], "x", 1) != 1) _exit(1);
  for (;;) pause();
}
int main(void) {
  if (pipe(fds) != 0) return 1;
  if (fork() == 0) { ESCAPE }
  char c;
  if (read(fds[0], &c, 1) != 1) return 1;
  END
}
"""

ESCAPE_PY = """import os, signal, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.alarm(30)
        print("left", os.getpid(), flush=True)
        os.write(w, b"x")
        time.sleep(60)
    os._exit(0)
os.read(r, 1)
"""


def playground_process(pid):
    """True if pid is alive and one of the playground's (its HOME is a playground folder)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and any(e.startswith(b"HOME=") and b"xla-play-" in e for e in env)


def check_none_left(status, r, what, took, seconds):
    pids = [int(l.split()[1]) for l in r.get("stdout", "").splitlines() if l.startswith("left ")]
    left = [p for p in pids if playground_process(p)]
    for p in left:  # a failing run must not leave them either
        try:
            os.kill(p, 9)
        except OSError:
            pass
    check(status == 200 and len(pids) == 1 and not left and took < seconds,
          f"{what}: nothing left running after the reply ({len(pids)} started, still alive: {left}, {took:.1f} s)")


def run_tests(port):
    # Listens on loopback only: the kernel's table of listening sockets says so.
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = [l.split() for l in f.readlines()[1:]]
        except OSError:
            continue
        for row in rows:
            addr, hexport = row[1].split(":")
            if int(hexport, 16) == port and row[3] == "0A":  # 0A: LISTEN
                listening.append(addr)
    check(listening == ["0100007F"], f"the only socket listening on port {port} is 127.0.0.1's ({listening})")

    status, r = post(port, {"lang": "c", "source": PROGRAM})
    check(status == 200 and r.get("stdout") == "sum 1..10 = 55\n", f"a C program against libxla runs: {r.get('stdout')!r}")
    check(r.get("stderr") == "to stderr\n" and r.get("exit_code") == 3, "its stderr and exit status come back")

    cpp = '#include <cstdio>\n#include "xla/tensor.hpp"\n#include "xla/ops.hpp"\nint main() {\n' \
          '  auto a = xla::Tensor::from_vector({1, 2, 3, 4}, {2, 2});\n' \
          '  std::printf("%g\\n", xla::sum(xla::matmul(a, a)).item());\n}\n'
    status, r = post(port, {"lang": "cpp", "source": cpp})
    check(status == 200 and r.get("stdout") == "54\n", f"a C++ program against the C++ API runs: {r.get('stdout')!r} {r.get('stderr', '')[:300]}")

    py = "import xla\nprint(xla.arange(0, 4).sum().item())\n"
    status, r = post(port, {"lang": "python", "source": py})
    check(status == 200 and r.get("stdout") == "6.0\n", f"a Python program through the bindings runs: {r.get('stdout')!r} {r.get('stderr', '')[-300:]}")

    status, r = post(port, {"lang": "c", "source": "int main(void) { return undefined_name; }\n"})
    check(status == 200 and r.get("stage") == "compile" and "undefined_name" in r.get("stderr", ""),
          "a compile error comes back as the compiler's message")

    t0 = time.time()
    status, r = post(port, {"lang": "c", "source": "int main(void) { for (;;) {} }\n"})
    took = time.time() - t0
    check(status == 200 and r.get("timed_out") is True, f"an endless loop is stopped (after {took:.1f} s, limit 3 s)")

    sleeper = '#include <unistd.h>\nint main(void) { if (fork() == 0) { for (;;) pause(); } for (;;) pause(); }\n'
    status, r = post(port, {"lang": "c", "source": sleeper})
    check(status == 200 and r.get("timed_out") is True, "a program that sleeps with a child is stopped at the wall-clock limit")

    # Nothing a program starts outlives it: a child left by a parent that exits, a setsid
    # child, a double fork with setsid, and the same at the time limit.
    for what, escape, end in (("a forked child whose parent exits", "stay();", "return 0;"),
                              ("a setsid child", "setsid(); stay();", "return 0;"),
                              ("a double fork with setsid", "setsid(); if (fork() == 0) stay(); _exit(0);", "return 0;"),
                              ("a setsid child of a program stopped at the time limit", "setsid(); stay();",
                               "for (;;) {}")):
        t0 = time.time()
        status, r = post(port, {"lang": "c", "source": ESCAPE.replace("ESCAPE", escape).replace("END", end)})
        took = time.time() - t0
        check_none_left(status, r, what, took, 10 if end == "return 0;" else 13)
    t0 = time.time()
    status, r = post(port, {"lang": "python", "source": ESCAPE_PY})
    check_none_left(status, r, "a Python program's double-forked setsid child", time.time() - t0, 10)

    hog = ('#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) {\n'
           '  size_t n = (size_t)3 << 30; char* p = malloc(n);\n'
           '  if (!p) { printf("no memory\\n"); return 1; }\n  memset(p, 1, n); printf("got it\\n"); return 0;\n}\n')
    status, r = post(port, {"lang": "c", "source": hog})
    check(status == 200 and r.get("stdout") == "no memory\n", f"3 GiB is refused under a 1 GiB limit: {r.get('stdout')!r}")

    chatty = '#include <stdio.h>\nint main(void) { for (;;) puts("spam spam spam"); }\n'
    status, r = post(port, {"lang": "c", "source": chatty})
    check(status == 200 and r.get("truncated") is True and len(r.get("stdout", "")) <= 4096,
          f"endless output is cut at the limit ({len(r.get('stdout', ''))} bytes sent back)")

    marker = ('#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n'
              '  char cwd[512]; getcwd(cwd, sizeof cwd);\n'
              '  printf("%s\\n", access("mark", F_OK) == 0 ? "seen before" : "fresh");\n'
              '  FILE* f = fopen("mark", "w"); fputs("x", f); fclose(f);\n'
              '  fprintf(stderr, "%s", cwd); return 0;\n}\n')
    _, r1 = post(port, {"lang": "c", "source": marker})
    _, r2 = post(port, {"lang": "c", "source": marker})
    check(r1.get("stdout") == "fresh\n" and r2.get("stdout") == "fresh\n", "each request runs in a fresh folder")
    check(r1.get("stderr") and not os.path.exists(r1["stderr"]), "the folder is deleted afterwards")

    status, _ = post(port, {"lang": "c", "source": PROGRAM}, headers={"Origin": "http://example.com"})
    check(status == 403, f"a post from another origin is refused ({status})")
    status, _ = post(port, {"lang": "c", "source": PROGRAM}, headers={"Host": "attacker.example:80"})
    check(status == 403, f"a post under another Host name (DNS rebinding) is refused ({status})")
    status, _ = post(port, None, headers={"Content-Type": "text/plain"}, raw="x")
    check(status == 415, f"a non-JSON post is refused ({status})")
    status, r = post(port, None, raw="{not json")
    check(status == 400 and "bad request" in r.get("error", ""), f"broken JSON gets 400 and a message ({status})")
    status, r = post(port, {"lang": "rust", "source": "fn main() {}"})
    check(status == 400 and "unknown language" in r.get("error", ""), f"an unknown language gets 400 ({status})")
    status, r = post(port, {"lang": "javascript", "source": "console.log(1);"})
    check(status == 400 and "do not run in the playground" in r.get("error", ""),
          f"a JavaScript program is refused with the reason ({status})")
    status, r = post(port, {"lang": "c", "source": "/*" + "x" * 20000 + "*/ int main(void){return 0;}"})
    check(status == 413, f"a program over the size limit gets 413 ({status})")
    status, _ = get(port, "/../../etc/passwd")
    check(status == 404, f"no file outside the book is served ({status})")
    status, body = get(port, "/index.html")
    check(status == 200 and b"the book" in body, "the book's pages are served")


if __name__ == "__main__":
    sys.exit(main())
