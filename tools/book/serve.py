#!/usr/bin/env python3
"""The book's playground: serves the rendered book and compiles and runs the programs its
Run buttons post, against the local build.

    serve.py --html build/book/html --toolchain build/book/toolchain.json [--port 8000]

Safety: it listens on 127.0.0.1 only. POST /api/run takes JSON only, from a page of this
server (the Host and Origin headers are checked, so neither another web site nor DNS
rebinding can make a browser post to it). Each request gets a fresh temporary folder,
deleted afterwards; the program runs in its own process group with limits on wall time, CPU
time, address space, file size and output size, under reap.py: when it ends or runs past
them, every process it started is killed, even one that left with setsid. At most --jobs programs build or run at once.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import book  # noqa: E402

HOST = "127.0.0.1"


# Node.js reserves gigabytes of address space for WebAssembly (its HTTP client, undici, is
# built on it), far beyond the limit a program gets here: JavaScript runs only in the tests.
NOT_HERE = {"javascript": "JavaScript examples do not run in the playground (Node.js needs more address space than "
                          "its limit); run them with `python3 tools/book/book.py check CHAPTER`"}


class Limits:
    def __init__(self, args):
        self.run_seconds = args.timeout
        self.compile_seconds = args.compile_timeout
        self.memory_bytes = args.memory_mb << 20
        self.max_output = args.max_output
        self.max_source = args.max_source
        self.slots = threading.BoundedSemaphore(args.jobs)


class Handler(SimpleHTTPRequestHandler):
    toolchain = None
    limits = None

    quiet = False

    def log_message(self, fmt, *args):  # one short line per request, on stderr
        if not self.quiet:
            sys.stderr.write("%s\n" % (fmt % args))

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def list_directory(self, path):  # no folder listings
        self.send_error(HTTPStatus.NOT_FOUND)
        return None

    def _reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _same_origin(self):
        port = self.server.server_address[1]
        allowed = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if self.headers.get("Host", "") not in allowed:
            return False
        origin = self.headers.get("Origin")
        return origin is None or origin in {f"http://{h}" for h in allowed}

    def do_POST(self):
        if self.path.split("?")[0] not in ("/api/run", "/api/run/"):
            return self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {self.path}"})
        if not self._same_origin():
            return self._reply(HTTPStatus.FORBIDDEN, {"error": "requests must come from this server's own pages"})
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send JSON (Content-Type: application/json)"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._reply(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length is required"})
        if length < 0 or length > self.limits.max_source + 4096:
            return self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               {"error": f"the program is larger than {self.limits.max_source} bytes"})
        try:
            req = json.loads(self.rfile.read(length))
            lang, source = req["lang"], req["source"]
            if not isinstance(lang, str) or not isinstance(source, str):
                raise TypeError("lang and source must be strings")
        except (ValueError, KeyError, TypeError) as e:
            return self._reply(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {e}; send {{\"lang\": \"c\", \"source\": \"...\"}}"})
        if lang not in book.LANGS:
            return self._reply(HTTPStatus.BAD_REQUEST, {"error": f"unknown language '{lang}': use {', '.join(book.LANGS)}"})
        if lang in NOT_HERE:
            return self._reply(HTTPStatus.BAD_REQUEST, {"error": NOT_HERE[lang]})
        if len(source.encode()) > self.limits.max_source:
            return self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               {"error": f"the program is larger than {self.limits.max_source} bytes"})
        if not self.limits.slots.acquire(timeout=60):
            return self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "the playground is busy: try again"})
        try:
            with tempfile.TemporaryDirectory(prefix="xla-play-") as workdir:
                r = book.compile_and_run(self.toolchain, lang, source, workdir,
                                         run_timeout=self.limits.run_seconds,
                                         compile_timeout=self.limits.compile_seconds,
                                         memory_bytes=self.limits.memory_bytes,
                                         cpu_seconds=self.limits.run_seconds,
                                         file_bytes=16 << 20, max_output=self.limits.max_output)
        finally:
            self.limits.slots.release()
        sig = None
        if r.exit_code is not None and r.exit_code < 0:
            try:
                sig = signal.Signals(-r.exit_code).name
            except ValueError:
                sig = f"signal {-r.exit_code}"
        self._reply(HTTPStatus.OK, {"stage": r.stage, "exit_code": r.exit_code, "signal": sig,
                                    "stdout": r.stdout, "stderr": r.stderr, "timed_out": r.timed_out,
                                    "truncated": r.truncated})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--html", default="build/book/html", help="the rendered book (render.mjs)")
    ap.add_argument("--toolchain", default="build/book/toolchain.json", help="written by CMake into the build folder")
    ap.add_argument("--port", type=int, default=8000, help="0 = any free port (the URL is printed)")
    ap.add_argument("--timeout", type=int, default=20, help="seconds a program may run (wall and CPU)")
    ap.add_argument("--compile-timeout", type=int, default=60)
    ap.add_argument("--memory-mb", type=int, default=4096, help="address-space limit of a program")
    ap.add_argument("--max-output", type=int, default=64 << 10, help="bytes of stdout and of stderr sent back")
    ap.add_argument("--max-source", type=int, default=64 << 10, help="largest program accepted, in bytes")
    ap.add_argument("--jobs", type=int, default=1, help="programs built or run at the same time")
    ap.add_argument("--quiet", action="store_true", help="no line per request")
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.html, "index.html")):
        sys.exit(f"serve: no book at {args.html}: render it first (make book)")
    try:
        Handler.toolchain = book.load_toolchain(args.toolchain)
    except OSError as e:
        sys.exit(f"serve: {e}: build libxla first (make build)")
    Handler.limits = Limits(args)
    Handler.quiet = args.quiet
    server = ThreadingHTTPServer((HOST, args.port), partial(Handler, directory=os.path.abspath(args.html)))
    server.daemon_threads = True
    print(f"serving the book at http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
