"""Requests sent from a helper process: the endpoint's client on a second CPU.

A pytest process has one interpreter lock. Collecting, running and reporting items needs it, and
so does every request the SDK sends (about a millisecond of CPU each: its options, headers, the
HTTP transport, the retry policy), and so does the SDK's import (about half a second). On a
machine with two CPUs or more, :class:`ProcessChatClient` moves all of that into a child Python
process that runs an ordinary :class:`~incident_evals.client.ChatClient`: pytest's process only
writes each request to a pipe and reads each answer's body back, and the two interpreters run
side by side.

Nothing else changes: the child's client retries, bounds answers and scrubs its error messages
exactly as in-process; the answer's body is parsed and checked in pytest's process, as any other
answer (:func:`~incident_evals.client.load_answer`); a request the child could not complete is an
:class:`~incident_evals.client.EndpointError` with the child's cause. If the child dies, every
request it held, and every later one, is an error naming its exit: never an answer.

The pipe speaks frames: a 4-byte big-endian length, then the payload. The parent sends JSON
objects (``config`` once, then ``send``, ``drop`` and ``cancel``); the child answers each ``send``
with a JSON header, a newline, and the body as it arrived.

    python -m incident_evals.request_process   # started by ProcessChatClient, never by hand
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from incident_evals.client import (
    CLOSE_TIMEOUT_S,
    MAX_ANSWER_BYTES,
    Endpoint,
    EndpointError,
    load_answer,
    one_line,
)

if TYPE_CHECKING:
    import asyncio

    from incident_evals.client import ChatClient
    from incident_evals.dispatch import EventLoop

FRAME = struct.Struct(">I")
#: The most one frame from the child may hold: an answer's body at its limit, and a header.
MAX_REPLY_FRAME = MAX_ANSWER_BYTES + 64 * 1024
#: How much of the child's own error output an error quotes when it dies.
STDERR_TAIL_BYTES = 2000


def helps_here() -> bool:
    """Whether a helper process pays here: a CPU to spare for it (two or more for this
    process), and the SDK not loaded in this process yet. Once something here imported it (a
    conftest, the application under test, an earlier run in the same process), the in-process
    client is ready at once, while a helper would spend 0.6 s importing it again before its
    first request."""
    if "openai" in sys.modules:
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus >= 2


def _child_environment() -> dict[str, str]:
    """The parent's environment, with this package first on the path: the child runs the same
    code as pytest's process, wherever that was imported from."""
    # The folder holding this package: this module is in it.
    here = str(Path(__file__).resolve().parent.parent)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [here, *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    )
    return environment


class RequestProcess:
    """One helper process, started at once (its imports run while pytest's process imports the
    plugin and collects) and configured by the first client that takes it."""

    def __init__(self) -> None:
        # Open for the child's life: read when it dies, closed when it ends.
        self._stderr: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="incident-evals-requests-"
        )
        self.taken = False
        self.failed: OSError | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "incident_evals.request_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=_child_environment(),
                # Its own session: Ctrl-C at the terminal is pytest's to handle (it cancels).
                start_new_session=True,
            )
        except OSError as exc:
            self.failed = exc

    def take(self) -> subprocess.Popen[bytes]:
        """The child, for the one client that speaks through it."""
        self.taken = True
        if self.popen is None:
            raise EndpointError(
                f"the process that sends requests could not start: {self.failed}", 0
            )
        return self.popen

    def stderr_tail(self) -> str:
        """The last line the child wrote to its error output, clipped (an item's error quotes
        it; it is scrubbed with the rest of that error)."""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - STDERR_TAIL_BYTES))
            text = self._stderr.read().decode("utf-8", "replace")
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            return one_line(lines[-1]) if lines else ""
        return ""

    def discard(self) -> None:
        """End the child unless a client took it (a run that sent nothing): at once, since it
        may still be importing the SDK."""
        if self.taken:
            return
        self.taken = True
        if self.popen is not None:
            with contextlib.suppress(OSError):
                self.popen.kill()
                self.popen.wait()
        self.release()

    def release(self) -> None:
        """Close the file of the child's error output (it keeps its own handle)."""
        self._stderr.close()


class ProcessChatClient:
    """:class:`~incident_evals.client.ChatClient`'s interface, its requests sent by a helper
    process (see the module's text). ``process`` is one started ahead, if any."""

    source = "the endpoint"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 20.0,
        concurrency: int | None = None,
        api: str = "chat",
        loop: EventLoop | None = None,
        process: RequestProcess | None = None,
    ) -> None:
        from incident_evals.dispatch import shared_loop

        self.endpoint = endpoint
        self.api = api
        self.retries = retries
        self.timeout_s = timeout_s
        self._loop = loop or shared_loop()
        self._process = process if process is not None else RequestProcess()
        # Every field of the endpoint, so that one added later reaches the child too.
        self._config = {
            "endpoint": dataclasses.asdict(endpoint),
            "client": {
                "timeout_s": timeout_s,
                "retries": retries,
                "backoff_initial_s": backoff_initial_s,
                "backoff_max_s": backoff_max_s,
                "concurrency": concurrency,
                "api": api,
            },
        }
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[tuple[bytes, float]]] = {}
        self._to_child: asyncio.WriteTransport | None = None
        self._reading: asyncio.Task[None] | None = None
        self._ready: asyncio.Lock | None = None
        self._ended: EndpointError | None = None
        self._cancelled = threading.Event()

    async def _started(self) -> asyncio.WriteTransport:
        """The pipe to the child, configured, with its answers read as they come."""
        import asyncio

        if self._to_child is not None:
            return self._to_child
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self._to_child is None:
                popen = self._process.take()
                assert popen.stdin is not None
                assert popen.stdout is not None
                loop = asyncio.get_running_loop()
                answers = asyncio.StreamReader(limit=MAX_REPLY_FRAME + FRAME.size, loop=loop)
                await loop.connect_read_pipe(
                    lambda: asyncio.StreamReaderProtocol(answers, loop=loop), popen.stdout
                )
                to_child, _ = await loop.connect_write_pipe(asyncio.Protocol, popen.stdin)
                _write(to_child, {"op": "config", **self._config})
                self._reading = loop.create_task(self._read_answers(popen, answers))
                self._to_child = to_child
        return self._to_child

    async def _read_answers(
        self, popen: subprocess.Popen[bytes], answers: asyncio.StreamReader
    ) -> None:
        import asyncio

        problem = None
        try:
            while True:
                (size,) = FRAME.unpack(await answers.readexactly(FRAME.size))
                if size > MAX_REPLY_FRAME:
                    problem = f"sent a frame of {size:,} bytes"
                    break
                frame = await answers.readexactly(size)
                header_end = frame.index(b"\n")
                header = json.loads(frame[:header_end])
                waiting = self._pending.pop(header["id"], None)
                if waiting is None or waiting.done():
                    continue  # dropped by its caller meanwhile
                if header["ok"]:
                    waiting.set_result((frame[header_end + 1 :], float(header["latency"])))
                else:
                    waiting.set_exception(_error_from(header))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (ValueError, KeyError, TypeError) as exc:
            problem = f"sent what this process cannot read ({type(exc).__name__})"
        if problem is not None:
            with contextlib.suppress(OSError):
                popen.kill()
        code = await _exit_code(popen)
        reason = problem or (f"exit code {code}" if code is not None else "its output closed")
        tail = self._process.stderr_tail()
        self._ended = EndpointError(
            f"the process that sends requests ended ({reason})" + (f": {tail}" if tail else ""),
            0,
        )
        pending, self._pending = self._pending, {}
        for waiting in pending.values():
            if not waiting.done():
                waiting.set_exception(self._ended)

    @property
    def process_id(self) -> int | None:
        """The helper process's id, once it is started."""
        popen = self._process.popen
        return popen.pid if popen is not None else None

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """:meth:`acomplete`, from a thread other than the loop's."""
        return self._loop.wait(self.acomplete(request))

    async def acomplete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The reply as plain JSON data, and the latency of the attempt that succeeded."""
        import asyncio

        if self._cancelled.is_set():
            raise EndpointError("the run was stopped before this request", 0)
        to_child = await self._started()
        if self._ended is not None:
            raise self._ended
        request_id = next(self._ids)
        waiting: asyncio.Future[tuple[bytes, float]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiting
        _write(to_child, {"op": "send", "id": request_id, "request": request})
        try:
            body, latency = await waiting
        except asyncio.CancelledError:
            if self._pending.pop(request_id, None) is not None:
                _write(to_child, {"op": "drop", "id": request_id})
            raise
        return load_answer(body, self.source), latency

    def cancel(self) -> None:
        """Stop retrying: waits end now, and no new attempt starts."""
        self._cancelled.set()
        self._loop.call(self._cancel_in_child)

    def _cancel_in_child(self) -> None:
        if self._to_child is not None and self._ended is None:
            _write(self._to_child, {"op": "cancel"})

    def close(self) -> None:
        """Cancel, end the child's input (it closes its connections and exits), wait for it."""
        self.cancel()
        if self._loop.in_loop_thread():
            self._loop.loop.create_task(self._end())
            return
        with contextlib.suppress(Exception):
            self._loop.run(self._end()).result(timeout=CLOSE_TIMEOUT_S + 1)

    async def _end(self) -> None:
        import asyncio

        if self._to_child is None:
            self._process.discard()
            return
        self._to_child.close()
        if self._reading is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reading), CLOSE_TIMEOUT_S)
        popen = self._process.popen
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(OSError):
                popen.kill()
        self._process.release()


def _write(to_child: asyncio.WriteTransport, message: dict[str, Any]) -> None:
    # JSON's ASCII escapes: any character of a request encodes, the child decodes it as it was.
    payload = json.dumps(message).encode("ascii")
    if not to_child.is_closing():
        # A child that is gone is seen by the reader, which fails what it held.
        to_child.write(FRAME.pack(len(payload)) + payload)


async def _exit_code(popen: subprocess.Popen[bytes]) -> int | None:
    """The child's exit code once it has ended, waiting a little for it (its output closed
    first); ``None`` if it has not ended by then."""
    import asyncio

    for _ in range(200):
        code = popen.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.01)
    return None


def _error_from(header: dict[str, Any]) -> BaseException:
    """The exception a failed ``send`` stands for, as the child described it."""
    if header.get("crash"):
        return RuntimeError(f"the process that sends requests failed: {header['cause']}")
    error = EndpointError(str(header["cause"]), int(header["attempts"]))
    error.connection_failure = bool(header.get("connection_failure"))
    return error


# --- the child ---------------------------------------------------------------------------


def _read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    message = json.loads(payload)
    return message if isinstance(message, dict) else None


class _Child:
    """The helper process: a :class:`ChatClient` on its own loop, fed by its input."""

    def __init__(self, config: dict[str, Any], output: IO[bytes]) -> None:
        from incident_evals.client import ChatClient
        from incident_evals.dispatch import EventLoop

        fields = config["endpoint"]
        if fields.get("credentials"):
            fields["credentials"] = tuple(fields["credentials"])  # JSON made the pair a list
        endpoint = Endpoint(**fields)
        self.loop = EventLoop("incident-evals-requests")
        self.client: ChatClient = ChatClient(endpoint, loop=self.loop, **config["client"])
        self._output = output
        self._write_lock = threading.Lock()
        self._tasks: dict[int, Future[None]] = {}

    def send(self, request_id: int, request: dict[str, Any]) -> None:
        self._tasks[request_id] = self.loop.run(self._answer(request_id, request))

    def drop(self, request_id: int) -> None:
        task = self._tasks.pop(request_id, None)
        if task is not None:
            task.cancel()

    async def _answer(self, request_id: int, request: dict[str, Any]) -> None:
        from incident_evals.client import is_connection_failure

        body = b""
        try:
            body, latency = await self.client.answer_body(request)
            header: dict[str, Any] = {"id": request_id, "ok": True, "latency": latency}
        except EndpointError as exc:
            header = {
                "id": request_id,
                "ok": False,
                "cause": exc.cause,
                "attempts": exc.attempts,
                "connection_failure": is_connection_failure(exc),
            }
        except Exception as exc:  # a fault of this code: the parent's item errors with it
            header = {
                "id": request_id,
                "ok": False,
                "crash": True,
                "cause": f"{type(exc).__name__}: {exc}",
            }
        self._tasks.pop(request_id, None)
        self._reply(json.dumps(header).encode("utf-8") + b"\n" + body)

    def _reply(self, payload: bytes) -> None:
        with self._write_lock, contextlib.suppress(OSError):
            self._output.write(FRAME.pack(len(payload)) + payload)
            self._output.flush()


def main() -> int:
    # Ctrl-C and the terminal's signals are the parent's: it cancels, then ends this input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The frames get standard output to themselves: anything printed goes to the error output.
    output = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    source = sys.stdin.buffer
    # Imported now, while the parent collects: the first request finds the SDK loaded.
    import openai  # noqa: F401
    import tenacity  # noqa: F401

    config = _read_frame(source)
    if config is None or config.get("op") != "config":
        return 0
    child = _Child(config, output)
    try:
        while (message := _read_frame(source)) is not None:
            op = message.get("op")
            if op == "send":
                child.send(int(message["id"]), message["request"])
            elif op == "drop":
                child.drop(int(message["id"]))
            elif op == "cancel":
                child.client.cancel()
    finally:
        child.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
