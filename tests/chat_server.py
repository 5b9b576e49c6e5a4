"""A scripted, real-HTTP OpenAI Chat Completions and Responses server for tests and benchmarks.

The server listens on ``127.0.0.1`` (OS-chosen port) and is meant to be driven through
the real ``openai`` SDK, e.g.::

    with ChatServer([Reply(content="hi"), Reply(status=429, headers={"Retry-After": "0"})]) as s:
        client = openai.OpenAI(base_url=s.base_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

Endpoints:

* ``POST /v1/chat/completions`` -- a ``chat.completion``; with ``"stream": true`` the same reply as
  a server-sent-event stream of ``chat.completion.chunk`` objects ending with ``data: [DONE]``
  (the text in several deltas, each tool call's arguments in fragments), whose bytes are kept
  (:attr:`RecordedRequest.streamed`) as a proxy would capture them.
* ``POST /v1/responses`` -- a ``response`` object answered from the same script (a reasoning
  item, a message with ``output_text``/``refusal`` parts, one ``function_call`` item a tool call);
  ``"stream": true`` is refused with a 400 (recorded, but no reply of the script is used).
* ``GET /v1/models`` -- lists the server's model.
* anything else (including ``HEAD``) -- 404 with an OpenAI-style JSON error body.

Stdlib only, so it can be imported from ``tests/`` and from ``bench/`` scripts alike.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeAlias, TypedDict

__all__ = [
    "ChatServer",
    "RecordedRequest",
    "Reply",
    "Script",
    "ToolCallSpec",
]

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
RESPONSES_STREAM_REFUSED = "streaming is not supported by this test server"
MODELS_PATH = "/v1/models"
SCRIPT_EXHAUSTED = "script exhausted"

# Errors raised when the peer went away; they are expected and never reported.
_DISCONNECT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # includes BrokenPipeError, ConnectionResetError, ConnectionAbortedError
    TimeoutError,
    socket.timeout,
)


class _ToolCallRequired(TypedDict):
    name: str
    arguments: str | dict[str, Any]


class ToolCallSpec(_ToolCallRequired, total=False):
    """One scripted tool call.

    ``arguments`` is sent verbatim when it is a ``str`` (so malformed JSON can be scripted)
    and ``json.dumps``-ed when it is a ``dict``. ``id`` defaults to ``call_<n>_<i>``.
    """

    id: str


@dataclass
class Reply:
    """What the server answers to one request, over Chat Completions or Responses alike."""

    content: str | None = None
    tool_calls: list[ToolCallSpec] | None = None
    refusal: str | None = None
    """Chat: ``message.refusal``. Responses: a ``refusal`` part of the message item (after the
    ``output_text`` part, if ``content`` is set too)."""
    reasoning: str | None = None
    """Responses only (Chat ignores it): a ``reasoning`` item before the message, with this text
    as its one ``summary_text``; its words count as ``reasoning_tokens``."""
    status: int = 200
    """Non-200 sends an OpenAI-style ``{"error": {"message", "type", "param", "code"}}``."""
    error_message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers, e.g. ``{"Retry-After": "0.1"}`` or ``{"x-request-id": "r"}``."""
    delay_s: float = 0.0
    """Sleep this long (on top of the server's ``latency_s``) before answering."""
    model: str | None = None
    """Model id to report; defaults to the server's model."""
    finish_reason: str | None = None
    """Defaults to ``"tool_calls"`` when ``tool_calls`` is set, else ``"stop"``. Responses:
    ``"length"`` makes the response ``"incomplete"`` (``incomplete_details.reason``
    ``"max_output_tokens"``), ``"content_filter"`` likewise (reason ``"content_filter"``); any
    other value gives ``"completed"``."""
    drop_connection: bool = False
    """Close the socket without sending any response (after the delay, if any)."""
    raw_body: str | bytes | None = None
    """Sent verbatim instead of a completion (a broken endpoint), with ``status`` and ``headers``
    (``Content-Type`` defaults to ``application/json``; a header given here wins)."""
    chunk_size: int | None = None
    """Send ``raw_body`` with chunked transfer encoding, this many bytes a chunk (no
    ``Content-Length``), sleeping ``chunk_delay_s`` before each chunk."""
    chunk_delay_s: float = 0.0
    """Also the pause before each event of a streamed answer."""
    echo_request: bool = False
    """Append the request's headers and body (as JSON) to ``content`` (status 200) or to
    ``error_message`` (other statuses): an endpoint that echoes what it was sent."""


Script: TypeAlias = list[Reply] | Callable[[dict[str, Any]], Reply]


@dataclass
class RecordedRequest:
    """A Chat Completions or Responses request as received by the server; ``path`` tells which
    (``/v1/chat/completions`` or ``/v1/responses``).

    ``headers`` keys are lower-cased. ``time`` is ``time.monotonic()`` at arrival.
    """

    body: dict[str, Any]
    headers: dict[str, str]
    path: str
    time: float
    #: The body of a streamed answer (the server-sent events, ``data: [DONE]`` included) exactly
    #: as the server sent it; set before the first byte goes out. ``None``: not streamed.
    streamed: bytes | None = None


_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    409: ("conflict_error", None),
    422: ("invalid_request_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    err_type, code = _ERROR_TYPES.get(
        status, ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


#: The kinds of text part in a Responses input item's content (an assistant turn sent back
#: carries ``output_text``).
_INPUT_TEXT_PARTS = ("input_text", "output_text")


def _text_of(content: Any, kinds: tuple[str, ...] = ("text",)) -> str:
    """Text of a message's ``content`` (a string or a list of content parts); ``kinds``: the
    types of the parts that hold text (Chat's ``text``, or :data:`_INPUT_TEXT_PARTS`)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in kinds
        ]
        return " ".join(parts)
    return ""


def _input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A Responses request's ``input`` as items (a bare string is one user message)."""
    found = body.get("input")
    if isinstance(found, str):
        return [{"type": "message", "role": "user", "content": found}]
    if isinstance(found, list):
        return [item for item in found if isinstance(item, dict)]
    return []


def _responses_prompt_words(body: dict[str, Any]) -> int:
    """Words a Responses request sends, counted as a Chat request's are: ``instructions`` stand
    for the system message, ``function_call_output`` items for tool messages."""
    instructions = body.get("instructions")
    words = _count_words(instructions) if isinstance(instructions, str) else 0
    for item in _input_items(body):
        if item.get("type", "message") == "message":
            words += _count_words(_text_of(item.get("content"), _INPUT_TEXT_PARTS))
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            words += _count_words(_text_of(output, _INPUT_TEXT_PARTS))
    return words


def _count_words(text: str) -> int:
    return len(text.split())


def _echo_reply(body: dict[str, Any]) -> Reply:
    """Default script: echo the content of the last user message (or user input item)."""
    messages = body.get("messages")
    last_user = ""
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                last_user = _text_of(message.get("content"))
                break
    elif "input" in body:
        for item in reversed(_input_items(body)):
            if item.get("type", "message") == "message" and item.get("role") == "user":
                last_user = _text_of(item.get("content"), _INPUT_TEXT_PARTS)
                break
    return Reply(content=f"echo: {last_user}")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, chat: ChatServer) -> None:
        self.chat = chat
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: Any,
    ) -> None:
        # Called from inside an ``except`` block by socketserver. Clients disconnecting
        # mid-request (timeouts, dropped connections, server stop) are normal here.
        exc = sys.exc_info()[1]
        if isinstance(exc, _DISCONNECT_ERRORS) or self.chat._stopping.is_set():
            return
        self.chat._record_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ChatServer/1.0"
    sys_version = ""
    server: _HTTPServer

    # -- plumbing ---------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; with Nagle's algorithm on, the body
        # waits for the client's delayed ACK (~40 ms a response), which is not an endpoint's
        # latency but this server's.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.chat._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.chat._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr logging of ``BaseHTTPRequestHandler``."""

    def _path(self) -> str:
        path = self.path.split("?", 1)[0]
        return path.rstrip("/") or "/"

    def _send_json(
        self,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        body: bool = True,
    ) -> None:
        data = json.dumps(payload).encode("utf-8")
        extra = dict(headers or {})
        lowered = {k.lower() for k in extra}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if "x-request-id" not in lowered:
            self.send_header("x-request-id", self.server.chat._next_request_id())
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)
        self.wfile.flush()

    def _send_error_json(self, status: int, message: str, *, body: bool = True) -> None:
        self._send_json(status, _error_body(status, message), body=body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- verbs ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self._path() == MODELS_PATH:
            chat = self.server.chat
            model = {
                "id": chat.model,
                "object": "model",
                "created": chat._created,
                "owned_by": "chat-server",
            }
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_error_json(404, f"unknown path: GET {self._path()}")

    def do_HEAD(self) -> None:
        self._send_error_json(404, f"unknown path: HEAD {self._path()}", body=False)

    def _not_found(self) -> None:
        self._read_body()
        self._send_error_json(404, f"unknown path: {self.command} {self._path()}")

    do_PUT = _not_found
    do_DELETE = _not_found
    do_PATCH = _not_found
    do_OPTIONS = _not_found

    def do_POST(self) -> None:
        path = self._path()
        raw = self._read_body()
        if path not in (CHAT_COMPLETIONS_PATH, RESPONSES_PATH):
            self._send_error_json(404, f"unknown path: POST {path}")
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        if not isinstance(body, dict):
            self._send_error_json(400, "request body must be a JSON object")
            return

        chat = self.server.chat
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(body, headers, path, time.monotonic())
        if path == RESPONSES_PATH and body.get("stream") is True:
            # Refused before the script is consulted, so the next request still gets its reply.
            chat._record(request)
            self._send_error_json(400, RESPONSES_STREAM_REFUSED)
            return
        try:
            reply = chat._next_reply(request)
        except _ScriptError as exc:
            self._send_error_json(500, str(exc))
            return
        chat._enter()
        try:
            reply = _echoed(reply, headers, body) if reply.echo_request else reply
            streamed = request if body.get("stream") is True else None
            self._answer(chat, body, reply, streamed, responses=path == RESPONSES_PATH)
        finally:
            chat._leave()

    def _answer(
        self,
        chat: ChatServer,
        body: dict[str, Any],
        reply: Reply,
        streamed: RecordedRequest | None = None,
        *,
        responses: bool = False,
    ) -> None:
        wait = chat.latency_s + reply.delay_s
        if wait > 0 and chat._stopping.wait(wait):
            self._drop()  # server is stopping: abandon the in-flight request
            return
        if reply.drop_connection:
            self._drop()
            return
        if reply.raw_body is not None:
            self._send_raw(chat, reply)
            return
        if reply.status != 200:
            self._send_json(
                reply.status, _error_body(reply.status, reply.error_message), reply.headers
            )
            return
        if streamed is not None:
            events = _stream_events(chat._completion(body, reply), body)
            # Kept before sending: the SDK hangs up at ``[DONE]``, and a test reads it then.
            streamed.streamed = b"".join(events)
            self._send_stream(chat, reply, events)
            return
        answer = chat._response(body, reply) if responses else chat._completion(body, reply)
        self._send_json(200, answer, reply.headers)

    def _send_raw(self, chat: ChatServer, reply: Reply) -> None:
        raw = reply.raw_body
        data = raw.encode("utf-8") if isinstance(raw, str) else raw or b""
        headers = {"Content-Type": "application/json", **reply.headers}
        if reply.chunk_size is None:
            headers.setdefault("Content-Length", str(len(data)))
        else:
            headers["Transfer-Encoding"] = "chunked"
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.chunk_size is None:
            self.wfile.write(data)
            self.wfile.flush()
            return
        for start in range(0, len(data), reply.chunk_size):
            if reply.chunk_delay_s and chat._stopping.wait(reply.chunk_delay_s):
                self._drop()
                return
            chunk = data[start : start + reply.chunk_size]
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_stream(self, chat: ChatServer, reply: Reply, events: list[bytes]) -> None:
        extra = {"Content-Type": "text/event-stream; charset=utf-8", **reply.headers}
        self.send_response(200)
        if "x-request-id" not in {name.lower() for name in extra}:
            self.send_header("x-request-id", chat._next_request_id())
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            if reply.chunk_delay_s and chat._stopping.wait(reply.chunk_delay_s):
                self._drop()
                return
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


#: How a streamed answer's text is cut into deltas: a word with the spaces before it.
_TEXT_PIECES = re.compile(r"\s*\S+|\s+")
#: How long a fragment of a streamed tool call's arguments is, at most.
_ARGUMENT_PIECE = 6


def _stream_events(completion: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
    """A completion as the server-sent events of the stream OpenAI sends for it: a first chunk
    with the role, the text in several deltas, each tool call as a head (``id``, ``type``,
    ``function.name``) and then fragments of its arguments (all keyed by ``index``), the finish
    reason in a chunk of its own, the usage in a last chunk with no choices when the request's
    ``stream_options.include_usage`` asks for it, and ``data: [DONE]``."""
    options = body.get("stream_options")
    with_usage = isinstance(options, dict) and options.get("include_usage") is True
    choice = completion["choices"][0]
    message = choice["message"]
    content = message.get("content")
    calls = message.get("tool_calls") or []

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        found = {
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        # With usage asked for, every chunk says it has none but the last one.
        return found | {"usage": None} if with_usage else found

    chunks = [chunk({"role": "assistant", "content": "" if content else None, "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in _TEXT_PIECES.findall(content or "")]
    refusal = message.get("refusal")
    chunks += [chunk({"refusal": piece}) for piece in _TEXT_PIECES.findall(refusal or "")]
    for index, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        for start in range(0, len(arguments), _ARGUMENT_PIECE):
            piece = arguments[start : start + _ARGUMENT_PIECE]
            fragment = {"index": index, "function": {"arguments": piece}}
            chunks.append(chunk({"tool_calls": [fragment]}))
    chunks.append(chunk({}, choice["finish_reason"]))
    if with_usage:
        chunks.append({**chunk({}), "choices": [], "usage": completion["usage"]})
    events = [f"data: {json.dumps(item, separators=(',', ':'))}\n\n" for item in chunks]
    return [event.encode("utf-8") for event in [*events, "data: [DONE]\n\n"]]


class _ScriptError(Exception):
    pass


def _echoed(reply: Reply, headers: dict[str, str], body: dict[str, Any]) -> Reply:
    echo = (
        f"request headers: {json.dumps(headers, sort_keys=True)}\nrequest body: {json.dumps(body)}"
    )
    if reply.status != 200:
        return replace(reply, error_message=f"{reply.error_message}\n{echo}")
    return replace(reply, content=f"{reply.content or ''}{echo}")


class ChatServer:
    """Scripted OpenAI-compatible Chat Completions and Responses server on ``127.0.0.1``.

    ``script`` is either a list of replies answered in order across requests (then HTTP 500
    ``"script exhausted"``), a callable ``(request_body) -> Reply`` (invoked under a lock, so
    it never runs concurrently), or ``None`` to echo the last user message. Both APIs draw from
    the one script, in arrival order; a callable gets the body of either API's request.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        model: str = "test-model",
        latency_s: float = 0.0,
    ) -> None:
        self.model = model
        self.latency_s = latency_s
        self._lock = threading.Lock()
        self._script: Script | None = script
        self._position = 0
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._completion_counter = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._request_id_counter = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._created = int(time.time())
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> ChatServer:
        if self._httpd is not None:
            raise RuntimeError("ChatServer already started")
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ChatServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; in-flight requests are abandoned (their connections closed)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ChatServer:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- public API -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ChatServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, suitable for ``openai.OpenAI(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of the Chat Completions and Responses requests received so far, in arrival
        order (their ``path`` tells them apart)."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of unexpected server-side errors (should stay empty)."""
        with self._lock:
            return list(self._errors)

    def set_script(self, script: Script | None) -> None:
        """Replace the script; a list script starts again from its first reply."""
        with self._lock:
            self._script = script
            self._position = 0

    # -- internals (called from handler threads) --------------------------------------------

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _next_request_id(self) -> str:
        with self._lock:
            self._request_id_counter += 1
            return f"req_{self._request_id_counter}"

    @property
    def max_in_flight(self) -> int:
        """The most model requests (either API) this server was answering at one time."""
        with self._lock:
            return self._max_in_flight

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _record(self, request: RecordedRequest) -> None:
        """Record a request that is answered without consulting the script."""
        with self._lock:
            self._requests.append(request)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        """Record ``request`` and pick its reply atomically (request i gets reply i)."""
        with self._lock:
            self._requests.append(request)
            script = self._script
            if script is None:
                return _echo_reply(request.body)
            if isinstance(script, list):
                if self._position >= len(script):
                    raise _ScriptError(
                        f"{SCRIPT_EXHAUSTED}: all {len(script)} scripted replies were used"
                    )
                reply = script[self._position]
                self._position += 1
                return reply
            try:
                reply = script(request.body)
            except Exception as exc:
                raise _ScriptError(f"script raised {type(exc).__name__}: {exc}") from exc
            if not isinstance(reply, Reply):
                raise _ScriptError(f"script returned {type(reply).__name__}, not Reply")
            return reply

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        with self._lock:
            self._completion_counter += 1
            n = self._completion_counter

        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content,
            "refusal": reply.refusal,
        }
        completion_words = _count_words(reply.content or "") + _count_words(reply.refusal or "")
        if reply.tool_calls:
            calls = []
            for i, spec in enumerate(reply.tool_calls):
                args = spec["arguments"]
                arguments = args if isinstance(args, str) else json.dumps(args)
                completion_words += _count_words(spec["name"]) + _count_words(arguments)
                calls.append(
                    {
                        "id": spec.get("id", f"call_{n}_{i}"),
                        "type": "function",
                        "function": {"name": spec["name"], "arguments": arguments},
                    }
                )
            message["tool_calls"] = calls

        messages = body.get("messages")
        prompt_words = 0
        if isinstance(messages, list):
            for m in messages:
                if isinstance(m, dict):
                    prompt_words += _count_words(_text_of(m.get("content")))

        finish_reason = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": completion_words,
                "total_tokens": prompt_words + completion_words,
            },
        }

    def _response(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """``reply`` as the ``response`` object of the Responses API."""
        with self._lock:
            self._completion_counter += 1
            n = self._completion_counter

        reason = _INCOMPLETE_REASONS.get(reply.finish_reason or "")
        status = "completed" if reason is None else "incomplete"
        output: list[dict[str, Any]] = []
        reasoning_words = 0
        if reply.reasoning is not None:
            reasoning_words = _count_words(reply.reasoning)
            summary = [{"type": "summary_text", "text": reply.reasoning}]
            output.append({"type": "reasoning", "id": f"rs_{n}", "summary": summary})
        parts: list[dict[str, Any]] = []
        if reply.content is not None:
            parts.append({"type": "output_text", "text": reply.content, "annotations": []})
        if reply.refusal is not None:
            parts.append({"type": "refusal", "refusal": reply.refusal})
        if parts:
            message = {"type": "message", "id": f"msg_{n}", "status": status}
            output.append(message | {"role": "assistant", "content": parts})
        output_words = _count_words(reply.content or "") + _count_words(reply.refusal or "")
        for i, spec in enumerate(reply.tool_calls or []):
            args = spec["arguments"]
            arguments = args if isinstance(args, str) else json.dumps(args)
            output_words += _count_words(spec["name"]) + _count_words(arguments)
            call = {"type": "function_call", "id": f"fc_{n}_{i}"}
            call |= {"call_id": spec.get("id", f"call_{n}_{i}"), "name": spec["name"]}
            output.append(call | {"arguments": arguments, "status": "completed"})

        input_words = _responses_prompt_words(body)
        output_words += reasoning_words  # the API counts reasoning among the output tokens
        created = int(time.time())
        tools = body.get("tools")
        return {
            "id": f"resp_{n}",
            "object": "response",
            "created_at": created,
            "completed_at": created if status == "completed" else None,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None if reason is None else {"reason": reason},
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": reply.model or self.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [_echoed_tool(tool) for tool in tools] if isinstance(tools, list) else [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": {
                "input_tokens": input_words,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": output_words,
                "output_tokens_details": {"reasoning_tokens": reasoning_words},
                "total_tokens": input_words + output_words,
            },
            "user": None,
            "metadata": body.get("metadata") or {},
        }


#: The finish reasons that leave a Responses answer ``"incomplete"``, and the reason it gives.
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def _echoed_tool(tool: Any) -> Any:
    """A request's tool as the API repeats it in the response: a function tool with the fields
    it may leave out filled in (Responses function tools are strict unless told otherwise)."""
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    defaults = {"description": None, "parameters": None, "strict": True}
    return defaults | tool
