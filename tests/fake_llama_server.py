"""A stand-in for the embedded model's server process, for tests of how the plugin watches it.

``python fake_llama_server.py PORT BEHAVIOUR`` serves the two routes the plugin uses
(``GET /v1/models``, ``POST /v1/chat/completions``, answering "30 days.") on 127.0.0.1:PORT,
and misbehaves as BEHAVIOUR says:

- ``ok``: answers everything;
- ``die-on-request:N:SIG``: on its N-th chat request (1-based), before answering, ends itself
  with signal SIG (``SIGSEGV``, ``SIGKILL``, ...) or, for ``exit-C``, exits with status C;
- ``die-at-start:SIG``: ends itself so before it listens;
- ``never-ready``: ``/v1/models`` answers 503 for ever;
- ``hang``: chat requests are never answered.

It logs a few lines to stdout (the plugin's log file). In its working directory it creates
``fake-server-started`` when it starts (a line with its pid each time), so tests can tell
whether and how often it was launched, and appends
to ``fake-server-requests`` how many chat requests it holds at once as each one arrives (each
is held ``HOLD_S``), so tests can tell how many the plugin sends together, and appends each
request's body, one JSON line, to ``fake-server-bodies``.

:func:`conftest_text` is a pytester ``conftest.py`` that makes the plugin launch this instead of
llama.cpp (its ``LocalModelServer.command``), with no ``[local]`` extra needed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SENTINEL = "fake-server-started"
IN_FLIGHT_LOG = "fake-server-requests"
BODIES_LOG = "fake-server-bodies"
HOLD_S = 0.1
SCRIPT = Path(__file__).resolve()
MODEL = "smollm2-135m-instruct"
#: What the fake writes to its log before it ends itself (the plugin quotes the log's tail).
LAST_WORDS = "ggml_amx_init: fake general protection fault"


def end_itself(how: str) -> None:
    print(LAST_WORDS, flush=True)
    if how.startswith("exit-"):
        os._exit(int(how[len("exit-") :]))
    os.kill(os.getpid(), signal.Signals[how])
    time.sleep(10)  # a signal that does not end it (never, for the ones the tests use)


def main() -> None:
    port, behaviour = int(sys.argv[1]), sys.argv[2]
    with open(SENTINEL, "a", encoding="utf-8") as started:
        started.write(f"{os.getpid()}\n")
    print(f"fake llama server: loading the model ({behaviour})", flush=True)
    kind, _, spec = behaviour.partition(":")
    if kind == "die-at-start":
        end_itself(spec)
    die_on, how = 0, ""
    if kind == "die-on-request":
        count, how = spec.split(":")
        die_on = int(count)
    served = in_flight = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            print(f"fake llama server: {format % args}", flush=True)

        def do_GET(self) -> None:
            if kind == "never-ready":
                self._send(503, {"error": {"message": "loading"}})
            else:
                self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})

        def do_POST(self) -> None:
            nonlocal served, in_flight
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                served += 1
                in_flight += 1
                number = served
                with open(IN_FLIGHT_LOG, "a", encoding="utf-8") as log:
                    log.write(f"{in_flight}\n")
                with open(BODIES_LOG, "a", encoding="utf-8") as log:
                    log.write(json.dumps(json.loads(body)) + "\n")
            if number == die_on:
                end_itself(how)
            time.sleep(3600 if kind == "hang" else HOLD_S)
            with lock:
                in_flight -= 1
            self._send(
                200,
                {
                    "id": f"chatcmpl-{number}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": MODEL,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "30 days."},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                },
            )

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"fake llama server: listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


def conftest_text(behaviour: str, build_problem: str | None = None) -> str:
    """A ``conftest.py`` that points the plugin's embedded model at this script."""
    return f"""
import sys
from pathlib import Path

from incident_evals import local_model

def command(self):
    return [sys.executable, {str(SCRIPT)!r}, str(self.port), {behaviour!r}]

local_model.LocalModelServer.command = command
local_model.LocalModelServer.build_problem = lambda self: {build_problem!r}
local_model.find_local_model = lambda: Path({str(SCRIPT)!r})
"""


if __name__ == "__main__":
    main()
