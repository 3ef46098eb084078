#!/usr/bin/env python3
"""on_every_path.py XLA_TOOL -- COMMAND... — runs COMMAND once per kernel path this CPU has
below its best (the best already runs in every other test), with XLA_CPU set to the path,
and fails if any run fails or does not report the path it was given. The paths come from
`xla info`, i.e. from the library's own cpuid check."""
import os
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: on_every_path.py XLA_TOOL -- COMMAND...")
    tool, command = sys.argv[1], sys.argv[3:]
    info = subprocess.run([tool, "info"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"this CPU runs: ([^)]*)\)", info)
    if not m:
        sys.exit(f"cannot read the kernel paths from `xla info`:\n{info}")
    paths = m.group(1).split()
    if paths[0] != "baseline":
        sys.exit(f"the lowest path should be baseline, got {paths}")
    for path in paths[:-1]:
        env = dict(os.environ, XLA_CPU=path)
        ran = subprocess.run([tool, "info"], capture_output=True, text=True, env=env, check=True).stdout
        if f"kernels        {path} " not in ran:
            sys.exit(f"XLA_CPU={path} did not select it:\n{ran}")
        print(f"== XLA_CPU={path}: {' '.join(command)}", flush=True)
        rc = subprocess.run(command, env=env).returncode
        if rc != 0:
            sys.exit(f"XLA_CPU={path}: the command failed with exit code {rc}")
    print(f"ran on {', '.join(paths[:-1])}; {paths[-1]} (the best) runs in the other tests")


if __name__ == "__main__":
    main()
