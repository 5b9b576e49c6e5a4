"""Requests -> replies: one OpenAI-compatible endpoint behind the official SDK, spoken to over
Chat Completions or the Responses API (:mod:`incident_evals.responses_api` converts the forms).

Retries live here, not in the SDK (``max_retries=0``), so that one policy covers every call: the
SDK's own choice of what to retry (408, 409, 429, 5xx, timeouts, connection errors, and the
server's ``x-should-retry``), with exponential backoff and jitter, honouring ``Retry-After``. A
call that exhausts its budget raises :class:`EndpointError` carrying the cause.

An answer is untrusted input: it is read in bounded time and size, and must be one JSON object
(:func:`load_answer`); whether that object is a completion is checked where it is read
(:func:`incident_evals.replay.read_answer`), which also covers targets and recordings.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import sys
import threading
import time
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_evals.files import write_atomic
from incident_evals.json_types import a_json_type

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Sequence

    import openai
    from tenacity import RetryCallState

    from incident_evals.dispatch import EventLoop

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
#: Sent when no key is set: local servers ignore it, and the SDK refuses an empty key.
PLACEHOLDER_API_KEY = "unused"
MAX_RETRY_AFTER_S = 60.0
#: The most one answer may hold, decompressed. A completion is a few kilobytes; this leaves room
#: for long outputs and many tool calls while keeping a runaway or hostile answer from filling
#: memory (each request in flight may hold one).
MAX_ANSWER_BYTES = 8 * 1024 * 1024
#: An error answer (HTTP 4xx/5xx) is read only for its message: the rest is dropped unread.
MAX_ERROR_BODY_BYTES = 64 * 1024
#: Deeper JSON is refused: later steps (recordings, reports) walk it recursively.
MAX_ANSWER_DEPTH = 100
#: How much of an untrusted text (a body, an error message) a one-line error quotes.
QUOTE_CHARS = 80
#: Keep-alive connections when the caller does not say how many requests it sends at once.
DEFAULT_KEEPALIVE = 100
#: Statuses worth another attempt, as the official SDK decides: request timeout, conflict (a
#: lock timeout at OpenAI), rate limit; plus every status >= 500.
RETRIED_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class Endpoint:
    #: ``None`` means the SDK's own default (https://api.openai.com/v1).
    base_url: str | None
    model: str
    #: Where the endpoint came from, for the terminal header ("--incident-base-url", ...).
    source: str
    api_key_env: str = DEFAULT_API_KEY_ENV
    #: The user-info of the URL as given (``http://user:pass@host/v1``), taken out of
    #: ``base_url`` so that it is never shown or stored; requests send it as HTTP Basic auth.
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    #: A key given in code (the Python API), sent instead of ``api_key_env``'s value.
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.base_url is not None:
            from incident_evals.secrets import split_userinfo

            clean, credentials = split_userinfo(self.base_url)
            if credentials is not None:
                object.__setattr__(self, "base_url", clean)
                object.__setattr__(self, "credentials", credentials)

    @property
    def shown_url(self) -> str:
        return self.base_url or "https://api.openai.com/v1"


class EndpointError(Exception):
    """The endpoint could not give an answer, after every retry: an infrastructure error."""

    #: How an item's error names it: "endpoint error: ...".
    kind = "endpoint"
    #: Whether the endpoint could not be reached at all, when that was decided where the
    #: request was sent (a helper process); ``None``: read from the chain of causes.
    connection_failure: bool | None = None

    def __init__(self, cause: str, attempts: int) -> None:
        super().__init__(cause)
        self.cause = cause
        self.attempts = attempts

    def __str__(self) -> str:
        if self.attempts == 0:
            return self.cause
        tries = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
        return f"{self.cause} (after {tries})"


class JudgeError(EndpointError):
    """The judge could not give a verdict (no judge, no answer, or not a verdict)."""

    kind = "judge"


class MalformedAnswer(EndpointError):
    """An answer that is not a well-formed completion: never retried, never read as an output."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause, 1)

    def __str__(self) -> str:
        # Malformed answers are never retried, so "(after 1 attempt)" would say nothing.
        return self.cause


class _AnswerTooLarge(Exception):
    """The answer passed :data:`MAX_ANSWER_BYTES` (raised while it arrives, before it is kept)."""


class _AnswerEncoded(Exception):
    """The answer came compressed in a form this client does not inflate."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = encoding


class _AnswerTooSlow(Exception):
    """The answer's body was still arriving when the request's timeout ran out."""


def quote_fragment(text: str, limit: int = QUOTE_CHARS) -> str:
    """A fragment of untrusted text for a one-line message: escaped, clipped, its size named."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def one_line(text: str, limit: int = 200) -> str:
    """An endpoint's own message on one line: whitespace collapsed, clipped."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


#: Characters of one endpoint error line (its own message is already cut to 200), kept after
#: scrubbing.
ERROR_MESSAGE_LIMIT = 400


def describe_error(exc: BaseException, sent: Sequence[str] = ()) -> str:
    """One line naming the status, the message and the request id where the endpoint gave them.

    Scrubbed of the credentials the request carried and of any credential-looking value (an
    endpoint may echo the request's headers), then clipped to :data:`ERROR_MESSAGE_LIMIT`.
    """
    return _scrubbed(exc, _described(exc), sent)


def _described(exc: BaseException) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        request_id = exc.request_id or exc.response.headers.get("x-request-id")
        suffix = f" [request id {one_line(request_id, QUOTE_CHARS)}]" if request_id else ""
        return f"HTTP {exc.status_code} from the endpoint: {_error_message(exc)}{suffix}"
    transport = _aiohttp_error(exc)
    if transport is not None:
        # Read from aiohttp's own error: the SDK's adapter names every connection error
        # (refused, reset, closed) a connect timeout.
        aiohttp = sys.modules["aiohttp"]
        if isinstance(transport, aiohttp.ServerTimeoutError):
            return "the request timed out"
        if isinstance(transport, aiohttp.ClientPayloadError):
            return f"the connection broke while the answer arrived ({one_line(str(transport))})"
        detail = _system_error(exc) or str(transport)
        return f"cannot connect to the endpoint: {one_line(detail)}"
    if isinstance(exc, openai.APITimeoutError | _AnswerTooSlow):
        return "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = _system_error(exc) or exc.__cause__
        detail = f": {one_line(str(cause))}" if cause and str(cause) else ""
        return f"cannot connect to the endpoint{detail}"
    if isinstance(exc, _AnswerTooLarge):
        return (
            f"the endpoint's answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB, "
            "the most one answer may hold"
        )
    if isinstance(exc, _AnswerEncoded):
        return (
            f"the endpoint compressed its answer ({quote_fragment(exc.encoding)}) though asked "
            "not to, in a form that cannot be read (only gzip and deflate are)"
        )
    http = _http_module()
    if isinstance(exc, http.TimeoutException):
        return "the request timed out"
    if isinstance(exc, http.TransportError):
        detail = f": {one_line(str(exc))}" if str(exc) else ""
        return f"the connection broke while the answer arrived ({type(exc).__name__}{detail})"
    return one_line(f"{type(exc).__name__}: {exc}")


def _aiohttp_error(exc: BaseException) -> BaseException | None:
    """aiohttp's own error behind ``exc`` (the SDK's errors carry the transport's as their
    cause), when requests go over aiohttp."""
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return None
    node: BaseException | None = exc
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, aiohttp.ClientError):
            found: BaseException = node
            return found
        node = node.__cause__
    return None


def is_connection_failure(exc: EndpointError) -> bool:
    """Whether ``exc`` is a failure to reach the endpoint at all (refused, reset, closed), as
    opposed to a timeout, an error status or a malformed answer."""
    if exc.connection_failure is not None:
        return exc.connection_failure
    import openai

    cause = exc.__cause__
    if cause is None:
        return False
    transport = _aiohttp_error(cause)
    if transport is not None:
        aiohttp = sys.modules["aiohttp"]
        return isinstance(transport, aiohttp.ClientConnectionError) and not isinstance(
            transport, aiohttp.ServerTimeoutError
        )
    return isinstance(cause, openai.APIConnectionError) and not isinstance(
        cause, openai.APITimeoutError
    )


def _system_error(exc: BaseException) -> str | None:
    """The system's own words for why a connection failed (``[Errno 111] Connection
    refused``), from deep in the chain of causes: the asynchronous transport wraps them in
    "All connection attempts failed", and a group when several addresses were tried."""
    node: BaseException | None = exc.__cause__
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, OSError) and node.errno is not None:
            reason = os.strerror(node.errno) if node.errno > 0 else node.strerror
            return f"[Errno {node.errno}] {reason}"
        group = getattr(node, "exceptions", None)
        if isinstance(group, tuple) and group and isinstance(group[0], BaseException):
            node = group[0]
        else:
            node = node.__cause__ or node.__context__
    return None


def _scrubbed(exc: BaseException, text: str, sent: Sequence[str]) -> str:
    """``text`` without the credential values the request carried: those the caller says it
    sent (some SDK versions add the key only as the request leaves, so the request kept on the
    exception lacks it) and those found in the request's headers."""
    from incident_evals.secrets import CREDENTIALS, Scrubber, clip

    values = list(sent)
    request = getattr(exc, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        for name in ("authorization", "proxy-authorization", "api-key", "x-api-key"):
            value = headers.get(name)
            if value:
                values.append(value)
    known = [
        (secret, CREDENTIALS)
        for value in values
        for secret in (value, value.partition(" ")[2])
        if secret
    ]
    flat = " ".join(Scrubber(known).text(text).split())
    return clip(flat, ERROR_MESSAGE_LIMIT)


def _error_message(exc: openai.APIStatusError) -> str:
    """The endpoint's own message: from an OpenAI-style error object, else a clipped quote of
    the body (an ``error`` string, or a proxy's HTML page)."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        message = body.get("message") or (
            error.get("message") if isinstance(error, dict) else error
        )
        if isinstance(message, str) and message.strip():
            return one_line(message)
    elif isinstance(body, str) and body.strip():
        return quote_fragment(one_line(body, len(body)))
    return one_line(exc.message)


def _is_retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIStatusError):
        # The server's own word first, as the SDK does (OpenAI sends it on some errors).
        should_retry = exc.response.headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            return should_retry == "true"
        return exc.status_code in RETRIED_STATUSES or exc.status_code >= 500
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError | _AnswerTooSlow):
        return True
    # The body broke off or stalled after the headers: the SDK had already handed it over.
    http = _http_module()
    return isinstance(exc, http.TimeoutException | http.TransportError)


def async_http_client(keepalive: int, event_hooks: dict[str, list[Any]]) -> Any:
    """The SDK's asynchronous HTTP client over aiohttp (``openai[aiohttp]``), the transport the
    SDK documents for concurrency; its default one, where the SDK or the environment lacks it.

    Over aiohttp a request costs about a millisecond less CPU (the default transport's pool
    probes the socket of every idle connection each time it hands one out), and the loop's
    thread shares the interpreter with pytest's (docs/performance.md). ``keepalive`` is how many
    connections stay open between requests. The SDK's timeout includes waiting for a pooled
    connection: with no limit on connections, no request ever waits there behind the others.
    """
    import openai

    http = _http_module()
    try:
        # aiohttp reads max_connections 0 as "no limit" (None as its default, 100).
        return openai.DefaultAioHttpClient(
            limits=http.Limits(max_connections=0, max_keepalive_connections=keepalive),
            event_hooks=event_hooks,
        )
    except (AttributeError, RuntimeError):  # an SDK without it, or aiohttp not installed
        return openai.DefaultAsyncHttpxClient(
            limits=http.Limits(max_connections=None, max_keepalive_connections=keepalive),
            event_hooks=event_hooks,
        )


@functools.cache
def _http_module() -> Any:
    """The HTTP library under the installed SDK (``httpx``, or ``httpx2`` in newer releases)."""
    import openai

    base = next(klass for klass in openai.DefaultHttpxClient.__mro__ if klass.__name__ == "Client")
    return sys.modules[base.__module__.split(".")[0]]


def load_answer(body: bytes | str, source: str = "the endpoint") -> dict[str, Any]:
    """The answer as JSON data: one object, of bounded depth, with no NaN or Infinity.

    Raises :class:`MalformedAnswer`; whether the object is a completion is
    :func:`incident_evals.replay.read_answer`'s to say.
    """
    prefix = f"malformed answer from {source}: the body"
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if not text.strip():
        raise MalformedAnswer(f"{prefix} is empty")
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise MalformedAnswer(f"{prefix} is nested deeper than {MAX_ANSWER_DEPTH} levels") from None
    except ValueError:
        raise MalformedAnswer(f"{prefix} is not JSON: {quote_fragment(text)}") from None
    if not isinstance(value, dict):
        raise MalformedAnswer(
            f"{prefix} is {a_json_type(value)}, expected an object: {quote_fragment(text)}"
        )
    if nested_deeper_than(value, MAX_ANSWER_DEPTH):
        raise MalformedAnswer(f"{prefix} is nested deeper than {MAX_ANSWER_DEPTH} levels")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON data nests more than ``limit`` arrays and objects (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _retry_after(exc: BaseException | None) -> float | None:
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    value = exc.response.headers.get("retry-after-ms")
    if value is not None:
        try:
            return min(max(float(value) / 1000, 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    value = exc.response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            delay = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
        return min(max(delay, 0.0), MAX_RETRY_AFTER_S)


class TargetClient:
    """The application itself as the endpoint (``pytest_incident_evals_target``).

    The target is called with each request body and returns the response body: in the Chat
    Completions form (a dict with ``choices[0].message``), or over the Responses API (``--incident-
    api responses``, ``model.api``) a Responses request and response. It runs in the dispatcher's
    threads, like requests to an endpoint; an exception or a reply that is not a response is the
    item's error, with its cause.
    """

    def __init__(self, target: Callable[[dict[str, Any]], Any], model: str) -> None:
        self.target = target
        self.name = getattr(target, "__qualname__", None) or type(target).__name__
        self.endpoint = Endpoint(base_url=None, model=model, source="pytest_incident_evals_target")
        #: Names where an answer came from, in the messages about a malformed one.
        self.source = f"the target {self.name}"

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        try:
            reply = self.target(json.loads(json.dumps(request)))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            # The application's code: a SystemExit or RecursionError in it is this item's error,
            # not the end of the run.
            raise EndpointError(
                f"the target {self.name} raised {type(exc).__name__}: {one_line(str(exc))}", 1
            ) from None
        latency = time.perf_counter() - started
        if not isinstance(reply, dict):
            raise EndpointError(
                f"the target {self.name} returned {type(reply).__name__}, not a response "
                "(a dict: a Chat Completions completion, or a Responses API response under "
                "--incident-api responses)",
                1,
            )
        try:
            # Plain JSON data from here on, as an endpoint's answer is: recordings and
            # reports write it, and the application keeps no hold on what the replay reads.
            text = json.dumps(reply, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise MalformedAnswer(
                f"malformed answer from {self.source}: the response is not JSON data "
                f"({one_line(str(exc), QUOTE_CHARS)})"
            ) from None
        return load_answer(text, self.source), latency

    def cancel(self) -> None:
        """Nothing to cancel: a call in progress is the application's own."""

    def close(self) -> None:
        """The application owns whatever the target holds."""


class ChatClient:
    """Sends requests to one endpoint, retrying what is worth retrying.

    ``api`` is the API spoken: ``chat`` sends Chat Completions request bodies, ``responses``
    sends Responses request bodies (:class:`incident_evals.responses_api.ResponsesCompleter`
    makes them). Either way the answer is the body as JSON data, read bounded, and every error
    is described, scrubbed and retried alike.

    Requests go out through the SDK's ``AsyncOpenAI`` on ``loop`` (the process's event loop
    unless one is given, :mod:`incident_evals.dispatch`): :meth:`acomplete` on the loop, and
    :meth:`complete` from any other thread, which waits for it there.

    ``concurrency`` is how many requests the caller sends at once. The connection pool never
    makes a request wait for a connection, so the timeout of each attempt runs from when it is
    sent; ``concurrency`` only sizes how many connections are kept open between requests.
    """

    #: Names where an answer came from, in the messages about a malformed one.
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
    ) -> None:
        import asyncio

        import openai

        from incident_evals.dispatch import shared_loop

        self.endpoint = endpoint
        self.api = api
        self.retries = retries
        self.timeout_s = timeout_s
        self._loop = loop or shared_loop()
        # Set when the run stops: no new attempt starts, and backoff waits end at once (the
        # event wakes them on the loop).
        self._cancelled = threading.Event()
        self._wake = asyncio.Event()
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._key_prefix = os.urandom(8).hex()
        self._keys = itertools.count()
        headers = None
        secret_key = endpoint.api_key or os.environ.get(endpoint.api_key_env)
        api_key = secret_key or PLACEHOLDER_API_KEY
        #: Every credential value this client sends, scrubbed from what an endpoint echoes.
        self._sent: tuple[str, ...] = (f"Bearer {secret_key}",) if secret_key else ()
        if endpoint.credentials is not None:
            from incident_evals.secrets import basic_auth

            # What HTTP clients do with user-info in a URL, without the URL carrying it.
            headers = {"Authorization": basic_auth(*endpoint.credentials)}
            self._sent += (headers["Authorization"],)
        self._sdk = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=api_key,
            timeout=timeout_s,
            max_retries=0,
            # Uncompressed, so the size of an answer is what arrives (a small compressed body
            # can expand a thousandfold); a server that compresses anyway is still bounded.
            default_headers={"Accept-Encoding": "identity", **(headers or {})},
            http_client=async_http_client(
                concurrency or DEFAULT_KEEPALIVE, {"response": [self._bound_answer]}
            ),
        )
        # Closed by close(), or else when the client is collected or the interpreter exits:
        # aiohttp complains on the terminal about a session left open.
        self._close_connections = weakref.finalize(self, _close_sdk, self._loop, self._sdk)

    async def _bound_answer(self, response: Any) -> None:
        """Bound an answer's size and the time its body takes, before anything reads it.

        Runs as the headers arrive, for answers the SDK reads itself (error bodies) and for
        those :meth:`acomplete` reads, so no body is ever held whole before it is measured.
        """
        failed = response.status_code >= 400
        length = response.headers.get("content-length", "")
        if not failed and length.isdigit() and int(length) > MAX_ANSWER_BYTES:
            raise _AnswerTooLarge
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        inflate = None
        if encoding != "identity":
            # Asked for identity, compressed anyway. Only the message of an error body is
            # wanted: not worth inflating. An answer is inflated here, measured as it inflates,
            # rather than by the HTTP library, which would inflate it whole before the size of
            # what it holds is known.
            del response.headers["content-encoding"]
            if not failed:
                if encoding not in ("gzip", "x-gzip", "deflate"):
                    raise _AnswerEncoded(encoding)
                # zlib's automatic header detection: gzip, or deflate in its zlib wrapper.
                inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
        response.stream = _bounded_stream(
            _http_module(),
            response.stream,
            limit=MAX_ERROR_BODY_BYTES if failed else MAX_ANSWER_BYTES,
            truncate=failed,
            deadline=time.monotonic() + self.timeout_s,
            inflate=inflate,
        )

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """:meth:`acomplete`, from a thread other than the loop's."""
        return self._loop.wait(self.acomplete(request))

    async def acomplete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The reply as plain JSON data, and the latency of the attempt that succeeded."""
        body, latency = await self.answer_body(request)
        return load_answer(body, self.source), latency

    async def answer_body(self, request: dict[str, Any]) -> tuple[bytes, float]:
        """The reply's body as it arrived (read bounded, not yet parsed), and the latency of the
        attempt that succeeded."""
        from tenacity import (
            AsyncRetrying,
            retry_if_exception,
            stop_after_attempt,
            wait_random_exponential,
        )

        jitter = wait_random_exponential(
            multiplier=self._backoff_initial_s, max=self._backoff_max_s
        )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = _retry_after(exc)
            return after if after is not None else float(jitter(state))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait,
            retry=retry_if_exception(_is_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    if self._cancelled.is_set():
                        raise EndpointError("the run was stopped before this request", 0)
                    attempts += 1
                    started = time.perf_counter()
                    body = await self._post(request)
                    latency = time.perf_counter() - started
        except EndpointError:
            raise
        except Exception as exc:
            import openai

            http = _http_module()
            if isinstance(
                exc,
                openai.OpenAIError
                | _AnswerTooLarge
                | _AnswerTooSlow
                | _AnswerEncoded
                | http.HTTPError,
            ):
                raise EndpointError(describe_error(exc, self._sent), attempts) from exc
            raise
        return body, latency

    async def _post(self, request: dict[str, Any]) -> bytes:
        """The answer's body, as bytes, read bounded (:meth:`_bound_answer`).

        Sent with the SDK's own ``post`` (its documented way to send a request body as it is):
        the request is plain JSON already, so the typed ``create`` methods would only convert it
        again, and the answer is wanted as JSON data, not as the SDK's pydantic model; the SDK
        still adds the key and headers, and raises its own errors for error statuses.
        """
        import openai

        path = "/responses" if self.api == "responses" else "/chat/completions"
        # Given, so the SDK does not draw a random one per request: drawing it is a system call
        # on the loop's thread, which lets pytest's thread take the interpreter for up to a
        # switch interval (5 ms) each time. Unique all the same (this client's prefix, a count).
        key = f"incident-evals-{self._key_prefix}-{next(self._keys)}"
        try:
            response = await self._sdk.post(
                path,
                cast_to=_http_module().Response,
                body=request,
                options={"idempotency_key": key},
            )
        except openai.APIConnectionError as exc:
            # The SDK reads the body inside its send, and names anything that breaks off there
            # a connection error: a bound that refused the answer is that bound's error.
            if isinstance(exc.__cause__, _AnswerTooLarge | _AnswerTooSlow | _AnswerEncoded):
                raise exc.__cause__ from None
            raise
        return bytes(response.content)

    async def _sleep(self, seconds: float) -> None:
        import asyncio

        if not self._cancelled.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        if self._cancelled.is_set():
            raise EndpointError("the run was stopped while waiting to retry", 0)

    def cancel(self) -> None:
        """Stop retrying: waits end now, and no new attempt starts."""
        self._cancelled.set()
        # asyncio's event belongs to the loop: set on its thread.
        self._loop.call(self._wake.set)

    def close(self) -> None:
        self.cancel()
        self._close_connections()


#: How long closing a client's connections may take.
CLOSE_TIMEOUT_S = 5.0


def _close_sdk(loop: EventLoop, sdk: Any) -> None:
    """Close ``sdk``'s connections on ``loop``, from any thread."""
    if loop.in_loop_thread():
        loop.loop.create_task(sdk.close())
        return
    with contextlib.suppress(Exception):
        # Bounded: a close that hangs (a connection that will not shut) must not hold the end
        # of the run.
        loop.run(sdk.close()).result(timeout=CLOSE_TIMEOUT_S)


def _bounded_stream(
    http: Any,
    inner: Any,
    *,
    limit: int,
    truncate: bool,
    deadline: float,
    inflate: Any = None,
) -> Any:
    """``inner`` (a response's raw byte stream), cut at ``limit`` bytes and at ``deadline``.

    A larger body is refused (:class:`_AnswerTooLarge`), or with ``truncate`` cut short; a body
    still arriving at ``deadline`` is a timeout (:class:`_AnswerTooSlow`): the SDK's own timeout
    bounds each wait for data, not the whole answer, so a slow trickle would otherwise never end.
    """
    return _bounded_stream_class(http)(inner, limit, truncate, deadline, inflate)


@functools.cache
def _bounded_stream_class(http: Any) -> Any:
    # Made once per HTTP library: the stream must be that library's own AsyncByteStream.
    class BoundedStream(http.AsyncByteStream):  # type: ignore[misc]
        def __init__(
            self, inner: Any, limit: int, truncate: bool, deadline: float, inflate: Any
        ) -> None:
            self.inner = inner
            self.limit = limit
            self.truncate = truncate
            self.deadline = deadline
            #: A zlib decompressor when the body came compressed: sizes count what it inflates.
            self.inflate = inflate

        async def __aiter__(self) -> AsyncIterator[bytes]:
            size = 0
            async for raw in self.inner:
                if time.monotonic() > self.deadline:
                    raise _AnswerTooSlow
                chunk = raw
                if self.inflate is not None:
                    room = self.limit - size
                    try:
                        # At most one byte past the room: enough to know it does not fit.
                        chunk = self.inflate.decompress(raw, room + 1)
                    except zlib.error:
                        raise _AnswerEncoded("gzip or deflate that does not inflate") from None
                    if self.inflate.unconsumed_tail:
                        raise _AnswerTooLarge
                size += len(chunk)
                if size > self.limit:
                    if self.truncate:
                        yield chunk[: len(chunk) - (size - self.limit)]
                        return
                    raise _AnswerTooLarge
                yield chunk

        async def aclose(self) -> None:
            await self.inner.aclose()

    return BoundedStream


# --- the response cache ---------------------------------------------------------------------


def request_digest(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Replies by request (judge verdicts, generated paraphrases); on disk when ``directory`` is
    given, else for this run only.

    Safe to share between threads and xdist workers: files are written whole and renamed into
    place, and two writers of one key write the same reply.
    """

    def __init__(self, directory: Path | None, scrub: Callable[[Any], Any] | None = None) -> None:
        self.directory = directory
        #: Applied to requests and replies before they are keyed or kept (the run's
        #: credentials out, :meth:`incident_evals.secrets.Scrubber.credentials`).
        self._scrub = scrub or (lambda value: value)
        self._memory: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, request: dict[str, Any]) -> dict[str, Any] | None:
        request = self._scrub(request)
        key = request_digest(request)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        if self.directory is None:
            return None
        try:
            record = json.loads((self.directory / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        # A hand-edited or colliding entry must not answer another request.
        if not isinstance(record, dict) or record.get("request") != request:
            return None
        response = record.get("response")
        return response if isinstance(response, dict) else None

    def put(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        request, response = self._scrub(request), self._scrub(response)
        key = request_digest(request)
        with self._lock:
            self._memory[key] = response
        if self.directory is None:
            return
        text = json.dumps({"request": request, "response": response}, ensure_ascii=False)
        with contextlib.suppress(OSError):
            # A cache that cannot be written only costs a request next time.
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomic(self.directory / f"{key}.json", text)
