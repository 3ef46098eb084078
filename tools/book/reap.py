#!/usr/bin/env python3
"""Runs one program so that nothing it starts outlives it: the playground's launcher
(book.py runs every compile and every program through it).

    reap.py --status-fd FD [--timeout SECONDS] [--cpu SECONDS] -- COMMAND [ARGS...]

It makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every orphan among
the program's descendants — children left behind by a parent that exited, `setsid`
daemons, double forks — is reparented to it rather than to init. It starts the program
in a process group of its own and waits for it, at most SECONDS. Then, whatever happened,
it kills that group and SIGKILLs its own children again and again, reaping each, until it
has none: a killed child's children become its own, so the loop ends only when every
descendant is gone. It writes {"exit_code": N or -SIGNAL, "timed_out": bool} on FD and
exits 0; its own failures go to stderr with exit 125. --cpu names the CPU-time limit that
COMMAND (prlimit) sets: a program the kernel kills on reaching it also "timed out" (with the
CPU limit equal to the wall-clock one, which of the two comes first is a race).

What it does not stop: a program that kills this launcher first (same user) leaves its
orphans to init. A PID namespace or a cgroup would close that; the playground runs only
on the reader's own machine (docs/book/README.md).
"""
import ctypes
import json
import os
import select
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


class Stop(Exception):
    """SIGTERM, SIGINT or SIGHUP reached the launcher: clean up, then go."""


def _stop(signum, frame):
    raise Stop(signum)


def children():
    """This process's live and zombie children: /proc/self/task/*/children where the kernel
    has it (CONFIG_PROC_CHILDREN), else every /proc/PID/stat whose parent is us."""
    me = os.getpid()
    try:
        tasks = os.listdir(f"/proc/{me}/task")
        found = set()
        for t in tasks:
            with open(f"/proc/{me}/task/{t}/children") as f:
                found.update(int(p) for p in f.read().split())
        return found
    except FileNotFoundError:
        pass
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            found.add(int(name))
    return found


def wait_for(pid, timeout):
    """Waits for pid to end, at most timeout seconds (None: no limit). Returns its wait
    status and the CPU seconds it used, or None when the time ran out."""
    if timeout is None:
        _, status, usage = os.wait4(pid, 0)
        return status, usage.ru_utime + usage.ru_stime
    deadline = time.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3: poll
        fd = None
    try:
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return status, usage.ru_utime + usage.ru_stime
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if fd is not None:
                select.select([fd], [], [], left)
            else:
                time.sleep(min(left, 0.01))
    finally:
        if fd is not None:
            os.close(fd)


def kill_all(pgid):
    """Kills the program's group, then every child of ours (orphans included) until none is
    left, reaping each."""
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    while True:
        for pid in children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no child at all: everything is gone
            return
        if done == 0:  # killed, not yet dead
            time.sleep(0.001)


def main(argv):
    if "--" not in argv:
        print("usage: reap.py --status-fd FD [--timeout SECONDS] [--cpu SECONDS] -- COMMAND [ARGS...]", file=sys.stderr)
        return 125
    split = argv.index("--")
    opts, cmd = argv[:split], argv[split + 1:]
    status_fd, timeout, cpu_limit = None, None, None
    for k in range(0, len(opts) - 1, 2):
        if opts[k] == "--status-fd":
            status_fd = int(opts[k + 1])
        elif opts[k] == "--timeout":
            timeout = float(opts[k + 1])
        elif opts[k] == "--cpu":
            cpu_limit = float(opts[k + 1])
    if status_fd is None or not cmd:
        print("reap.py: --status-fd and a command are required", file=sys.stderr)
        return 125
    os.set_inheritable(status_fd, False)  # the program must not write (or hold) our report
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"reap.py: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 125
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _stop)
    pid, result = None, {"exit_code": None, "timed_out": False}
    try:
        # Python ignores SIGPIPE and SIGXFSZ; the program gets their defaults back (a program
        # over the file-size limit dies of SIGXFSZ, as it would from a shell).
        pid = os.posix_spawnp(cmd[0], cmd, os.environ, setpgroup=0,
                              setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT,
                                         signal.SIGHUP))
        ended = wait_for(pid, timeout)
        if ended is None:
            result["timed_out"] = True
            os.killpg(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
        else:
            status, cpu = ended
            result["timed_out"] = (cpu_limit is not None and os.WIFSIGNALED(status) and
                                   os.WTERMSIG(status) in (signal.SIGKILL, signal.SIGXCPU) and cpu >= cpu_limit - 0.05)
        result["exit_code"] = os.waitstatus_to_exitcode(status)
    except OSError as e:
        print(f"cannot run {cmd[0]}: {e.strerror}", file=sys.stderr)
        result["exit_code"] = 127
    except Stop:
        result["exit_code"] = None
    finally:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # the clean-up runs to its end
            signal.signal(s, signal.SIG_IGN)
        kill_all(pid)
    os.write(status_fd, json.dumps(result).encode())
    os.close(status_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
