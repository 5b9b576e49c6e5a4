"""Requests -> replies: one OpenAI-compatible Chat Completions endpoint behind the official SDK.

Retries live here, not in the SDK (``max_retries=0``), so that one policy covers every call:
exponential backoff with jitter on 429, 5xx, timeouts and connection errors, honouring
``Retry-After``. A call that exhausts its budget raises :class:`EndpointError` carrying the cause.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import openai
    from tenacity import RetryCallState

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
#: Sent when no key is set: local servers ignore it, and the SDK refuses an empty key.
PLACEHOLDER_API_KEY = "unused"
MAX_RETRY_AFTER_S = 60.0


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


#: Characters of an endpoint's error message kept in an item's error (after scrubbing).
ERROR_MESSAGE_LIMIT = 300


def describe_error(exc: BaseException) -> str:
    """One line naming the status, the message and the request id where the endpoint gave them.

    Scrubbed of the credentials the request carried and of any credential-looking value (an
    endpoint may echo the request's headers), then clipped to :data:`ERROR_MESSAGE_LIMIT`.
    """
    import openai

    if isinstance(exc, openai.APIStatusError):
        request_id = exc.request_id or exc.response.headers.get("x-request-id")
        suffix = f" [request id {request_id}]" if request_id else ""
        message = _scrubbed(exc, _error_message(exc))
        return f"HTTP {exc.status_code} from the endpoint: {message}{suffix}"
    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f": {_scrubbed(exc, str(cause))}" if cause else ""
        return f"cannot connect to the endpoint{detail}"
    return _scrubbed(exc, f"{type(exc).__name__}: {exc}")


def _scrubbed(exc: BaseException, text: str) -> str:
    from incident_evals.secrets import CREDENTIALS, Scrubber, clip

    sent: list[tuple[str, str]] = []
    request = getattr(exc, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        for name in ("authorization", "proxy-authorization", "api-key", "x-api-key"):
            value = headers.get(name)
            if value:
                sent.append((value, CREDENTIALS))
                sent.append((value.partition(" ")[2], CREDENTIALS))
    flat = " ".join(Scrubber(sent).text(text).split())
    return clip(flat, ERROR_MESSAGE_LIMIT)


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return exc.message


def _preview(body: str) -> str:
    """The start of an answer, quoted; clipped with a mark, so that the sinks' scrubbing knows a
    secret may have been cut there."""
    from incident_evals.secrets import clip

    return repr(clip(body, 120))


def _is_retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APITimeoutError | openai.APIConnectionError)


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

    The target is called with each Chat Completions request body and returns the response body
    (a dict with ``choices[0].message``). It runs in the dispatcher's threads, like requests to
    an endpoint; an exception or a reply that is not a response is the item's error, with its
    cause.
    """

    def __init__(self, target: Callable[[dict[str, Any]], Any], model: str) -> None:
        self.target = target
        self.name = getattr(target, "__qualname__", None) or type(target).__name__
        self.endpoint = Endpoint(base_url=None, model=model, source="pytest_incident_evals_target")

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        try:
            reply = self.target(json.loads(json.dumps(request)))
        except Exception as exc:
            raise EndpointError(
                f"the target {self.name} raised {type(exc).__name__}: {exc}", 1
            ) from exc
        latency = time.perf_counter() - started
        if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
            raise EndpointError(
                f"the target {self.name} returned {type(reply).__name__}, not a Chat "
                "Completions response (a dict with choices[0].message)",
                1,
            )
        return reply, latency

    def cancel(self) -> None:
        """Nothing to cancel: a call in progress is the application's own."""

    def close(self) -> None:
        """The application owns whatever the target holds."""


class ChatClient:
    """Sends Chat Completions requests to one endpoint, retrying what is worth retrying."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 20.0,
    ) -> None:
        import openai

        self.endpoint = endpoint
        self.retries = retries
        # Set when the run stops: backoff waits end at once instead of sleeping on.
        self._cancelled = threading.Event()
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        headers = None
        if endpoint.credentials is not None:
            from incident_evals.secrets import basic_auth

            # What HTTP clients do with user-info in a URL, without the URL carrying it.
            headers = {"Authorization": basic_auth(*endpoint.credentials)}
        self._sdk = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=os.environ.get(endpoint.api_key_env) or PLACEHOLDER_API_KEY,
            timeout=timeout_s,
            max_retries=0,
            default_headers=headers,
        )

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """The reply as plain JSON data, and the latency of the attempt that succeeded."""
        from tenacity import (
            Retrying,
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

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait,
            retry=retry_if_exception(_is_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    if self._cancelled.is_set():
                        raise EndpointError("the run was stopped before this request", 0)
                    attempts += 1
                    started = time.perf_counter()
                    # The raw body, not the SDK's pydantic model: the transcript wants plain
                    # JSON anyway, and building then dumping the model costs more than the call.
                    raw = self._sdk.chat.completions.with_raw_response.create(**request)
                    body = raw.text
                    latency = time.perf_counter() - started
        except Exception as exc:
            import openai

            if isinstance(exc, openai.OpenAIError):
                raise EndpointError(describe_error(exc), attempts) from exc
            raise
        try:
            reply = json.loads(body)
        except ValueError:
            raise EndpointError(
                f"the endpoint's answer is not JSON: {_preview(body)}", attempts
            ) from None
        if not isinstance(reply, dict):
            raise EndpointError(
                f"the endpoint's answer is not a JSON object: {_preview(body)}", attempts
            )
        return reply, latency

    def _sleep(self, seconds: float) -> None:
        if self._cancelled.wait(seconds):
            raise EndpointError("the run was stopped while waiting to retry", 0)

    def cancel(self) -> None:
        """Stop retrying: waits end now, and no new attempt starts."""
        self._cancelled.set()

    def close(self) -> None:
        self.cancel()
        self._sdk.close()


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
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(text)
                os.replace(temporary, self.directory / f"{key}.json")
            except OSError:
                Path(temporary).unlink(missing_ok=True)
                raise
