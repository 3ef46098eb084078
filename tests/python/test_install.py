"""test_install.py — the package installed as a user installs it: a fresh virtual environment
(with the system's site packages, where Debian puts NumPy and PyTorch), `pip install` of
bindings/python offline, then checks from outside the checkout: `import xla` loads the libxla.so
the package carries (not the build tree's, not LIBXLA's), its version is the library's, py.typed
is installed; `pip uninstall` leaves nothing behind; last, the package is installed again for
the tests that use this environment (ctest fixture python.venv).

    python3 tests/python/test_install.py VENV --version 0.1.0   (LIBXLA: the library to package)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "bindings", "python")
PROBE = """import json, os, xla
from xla import _lib
here = os.path.dirname(xla.__file__)
print(json.dumps({"file": xla.__file__, "lib": _lib.lib._name, "version": xla.__version__,
                  "typed": os.path.exists(os.path.join(here, "py.typed")),
                  "sum": (xla.arange(0, 4) * 2).sum().item()}))
"""


def run(cmd: List[str], env: Dict[str, str], cwd: str) -> str:
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit("FAIL: %s exited with %d:\n%s" % (" ".join(cmd), p.returncode, p.stdout))
    return p.stdout


def installed(site: str) -> List[str]:
    return sorted(n for n in os.listdir(site) if n.startswith(("xla", "libxla")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("venv")
    ap.add_argument("--version", required=True, help="the CMake project version the library must report")
    args = ap.parse_args()
    if "LIBXLA" not in os.environ:
        sys.exit("FAIL: set LIBXLA to the library to package")
    venv = os.path.abspath(args.venv)
    shutil.rmtree(venv, ignore_errors=True)
    t0 = time.monotonic()
    env = dict(os.environ, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], env, "/")
    python = os.path.join(venv, "bin", "python")
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env, "/").strip()
    pip = [python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-deps", "-q", SOURCE]
    run(pip, env, "/")
    t_install = time.monotonic() - t0

    outside = dict(env)
    outside.pop("LIBXLA")  # the installed package must not need it
    outside.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as cwd:
        got = json.loads(run([python, "-c", PROBE], outside, cwd))
    failures = []
    if not got["file"].startswith(site + os.sep):
        failures.append("xla imported from %s, not the environment's %s" % (got["file"], site))
    if os.path.dirname(got["lib"]) != os.path.join(site, "xla") or not os.path.basename(got["lib"]).startswith(
            "libxla.so"):
        failures.append("libxla loaded from %s, not the copy inside the package" % got["lib"])
    if got["version"] != args.version:
        failures.append("xla.__version__ is %s, the library is %s" % (got["version"], args.version))
    if not got["typed"]:
        failures.append("py.typed is not installed: type checkers would ignore the annotations")
    if got["sum"] != 12.0:
        failures.append("(arange(4) * 2).sum() is %r, not 12" % got["sum"])
    meta = run([python, "-m", "pip", "show", "libxla"], outside, "/")
    if "Version: %s" % args.version not in meta:
        failures.append("pip show libxla does not say version %s:\n%s" % (args.version, meta))

    run([python, "-m", "pip", "uninstall", "-y", "-q", "libxla"], outside, "/")
    left = installed(site)
    if left:
        failures.append("pip uninstall left %s in %s" % (left, site))
    run(pip, env, "/")  # again, for the tests that use this environment
    if installed(site) != sorted(["xla", "libxla-%s.dist-info" % args.version]):
        failures.append("installed files: %s" % installed(site))

    for f in failures:
        print("FAIL:", f)
    print("python.install: venv + pip install in %.1f s, %d checks failed" % (t_install, len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
