"""Exchanges on disk: ``--incident-record DIR`` writes them, ``--incident-replay DIR`` reads them.

One JSON file per exchange, ``<DIR>/<case id>/<key>.json``, where the key hashes the request
(without its model), the sample number and the API it went over (``--incident-api``). Files are
sorted and indented so recordings review and diff well in git. Only the request body and the reply
are stored: never headers, so never the API key. An endpoint may still echo the key or the URL's
credentials in its reply: a store given the run's scrubber
(:meth:`incident_evals.secrets.Scrubber.credentials`) takes them out of every request and reply
before keying and writing them, and keys lookups the same way, so a scrubbed recording still
replays. Nothing else is taken out: a recording must replay what the model said, sensitive content
included, as the case file beside it holds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_evals.client import EndpointError
from incident_evals.files import write_atomic

if TYPE_CHECKING:
    from collections.abc import Callable

    from incident_evals.replay import Completer

__all__ = [
    "RecordingCompleter",
    "RecordingMiss",
    "RecordingStore",
    "request_key",
]

KEY_LENGTH = 20
# The case id schema pattern: what makes a case id safe to use as one folder name.
_CASE_ID = re.compile(r"[A-Za-z0-9._-]+")


# json.dumps would make an encoder like this one on every call (every exchange's key).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: Any) -> str:
    return _CANONICAL.encode(value)


def request_key(request: dict[str, Any], sample: int, api: str = "chat") -> str:
    """Names one exchange: the request without its model, the sample it belongs to, and the
    API it went over.

    The model stays out because a replay run may configure none; it is kept in the file and
    checked there instead. The sample stays in so that repeats replay as the distinct answers
    they were, not as one cached answer. The API stays in so that a Chat recording never
    answers a Responses replay (Chat keys are unchanged, so existing recordings still replay).
    """
    body = {key: value for key, value in request.items() if key != "model"}
    keyed: dict[str, Any] = {"request": body, "sample": sample}
    if api != "chat":
        keyed["api"] = api
    digest = hashlib.sha256(_canonical(keyed).encode("utf-8"))
    return digest.hexdigest()[:KEY_LENGTH]


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _shown(directory: Path) -> str:
    # A trailing separator makes the directory read as one in messages ("recordings/").
    return os.path.join(str(directory), "")


class RecordingStore:
    """The recordings under one directory; safe to share between threads and xdist workers."""

    def __init__(
        self,
        directory: Path,
        subfolder: str = "",
        scrub: Callable[[Any], Any] | None = None,
        *,
        api: str = "chat",
    ) -> None:
        self.directory = Path(directory)
        # Every lookup joins strings onto this: a Path per exchange costs more than the read.
        self._folder = str(self.directory)
        #: The API of the exchanges: part of every key, and written in every record.
        self.api = api
        #: Kept apart inside each case's folder (judge exchanges live in ``<case id>/judge/``).
        self.subfolder = subfolder
        #: Takes the run's credentials out of requests and replies (identity when not given).
        self.scrub: Callable[[Any], Any] = scrub or (lambda value: value)

    def path(self, case_id: str, sample: int, request: dict[str, Any]) -> Path:
        """Where the exchange of ``request`` (as scrubbed: see :attr:`scrub`) is stored."""
        return Path(self._file(case_id, sample, request))

    def _file(self, case_id: str, sample: int, request: dict[str, Any]) -> str:
        """:meth:`path`, as a string."""
        # The id becomes a path component: refuse anything that could leave the directory.
        if not _CASE_ID.fullmatch(case_id) or case_id in {".", ".."}:
            raise ValueError(f"case id {case_id!r} cannot name a recordings folder")
        key = request_key(request, sample, self.api)
        # An empty subfolder adds nothing, as it does to a Path.
        return os.path.join(self._folder, case_id, self.subfolder, f"{key}.json")

    def save(
        self,
        case_id: str,
        sample: int,
        request: dict[str, Any],
        response: dict[str, Any],
        latency_s: float,
    ) -> Path:
        """Write one exchange, scrubbed; readers never see a half-written file."""
        request, response = self.scrub(request), self.scrub(response)
        path = self.path(case_id, sample, request)
        record = {
            "case_id": case_id,
            "sample": sample,
            "model": request.get("model"),
            "request": request,
            "response": response,
            "latency_s": round(latency_s, 3),
        }
        if self.api != "chat":
            # Chat records stay as they were before the Responses API: re-recording changes
            # nothing in a reviewed recordings folder.
            record["api"] = self.api
        text = _dumps(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Concurrent writers (threads, xdist workers) of the same key write the same content.
        write_atomic(path, text)
        return path

    def load(self, case_id: str, sample: int, request: dict[str, Any]) -> dict[str, Any] | None:
        """The stored record, or ``None`` when this exchange was never recorded.

        Raises ``ValueError`` when the file exists but is not a recording (e.g. a bad merge).
        """
        path = self._file(case_id, sample, self.scrub(request))
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except FileNotFoundError:
            return None
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError(f"{path} holds JSON {type(record).__name__}, not a recording")
        return record


class RecordingMiss(EndpointError):
    """Replay found no usable recording: the item errors, as it would on a dead endpoint."""

    def __init__(self, case_id: str, sample: int, directory: Path, reason: str) -> None:
        shown = _shown(directory)
        super().__init__(
            f"no recording for case {case_id} (sample {sample}) in {shown}: {reason}; "
            f"re-record with --incident-record {shown}",
            attempts=1,
        )
        self.case_id = case_id
        self.sample = sample
        self.directory = directory
        self.reason = reason

    def __str__(self) -> str:
        # Nothing was attempted against an endpoint, so "(after 1 attempt)" would mislead.
        return self.cause


NEVER_RECORDED = "the request differs from every recorded one or was never recorded"


def _check(record: dict[str, Any], request: dict[str, Any], api: str = "chat") -> str | None:
    """Why ``record`` cannot answer ``request``, if it cannot (a hand edit, a bad merge)."""
    recorded_api = record.get("api", "chat")
    if recorded_api != api:
        return f"recorded over the {recorded_api} API, not {api} (was the file moved?)"
    stored = record.get("request")
    # Plain equality: the same verdict as comparing canonical dumps, without serialising twice.
    if not isinstance(stored, dict) or {k: v for k, v in stored.items() if k != "model"} != {
        k: v for k, v in request.items() if k != "model"
    }:
        return "the recording's request does not match the request (was the file edited?)"
    if not isinstance(record.get("response"), dict):
        return "the recording has no response object (was the file edited?)"
    latency = record.get("latency_s")
    if isinstance(latency, bool) or not isinstance(latency, int | float):
        return "the recording has no latency_s number (was the file edited?)"
    return None


class RecordingCompleter:
    """A :class:`~incident_evals.replay.Completer` for one sample of one case.

    With ``inner`` it records: every request goes to ``inner`` and the exchange is saved.
    Without it, it replays offline: answers come only from the store and a miss is an error.
    """

    def __init__(
        self,
        store: RecordingStore,
        case_id: str,
        sample: int,
        inner: Completer | None,
        *,
        model: str | None = None,
    ) -> None:
        self.store = store
        self.case_id = case_id
        self.sample = sample
        self.inner = inner
        #: The model configured for the run, if any: a recording of another model is a miss.
        self.model = model

    @property
    def source(self) -> str:
        """Where the answers come from, for the messages about a malformed one."""
        if self.inner is not None:
            return str(getattr(self.inner, "source", "the endpoint"))
        shown = _shown(self.store.directory)
        return f"the recording of case {self.case_id} (sample {self.sample}) in {shown}"

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        if self.inner is not None:
            response, latency = self.inner.complete(request)
            self.store.save(self.case_id, self.sample, request, response, latency)
            return response, latency
        return self._replay(request)

    async def acomplete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """:meth:`complete` on the event loop; recording needs an ``inner`` that has it."""
        if self.inner is None:
            return self._replay(request)
        response, latency = await self.inner.acomplete(request)  # type: ignore[attr-defined]
        self.store.save(self.case_id, self.sample, request, response, latency)
        return response, latency

    def _replay(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        try:
            record = self.store.load(self.case_id, self.sample, request)
        except (OSError, ValueError) as exc:
            path = self.store.path(self.case_id, self.sample, self.store.scrub(request))
            raise self._miss(f"cannot read {path}: {exc}") from exc
        if record is None:
            raise self._miss(NEVER_RECORDED)
        problem = _check(record, self.store.scrub(request), self.store.api)
        if problem is not None:
            raise self._miss(problem)
        recorded_model = record.get("model")
        if self.model is not None and recorded_model != self.model:
            raise self._miss(f"recorded for model {recorded_model}, not {self.model}")
        return record["response"], float(record["latency_s"])

    def _miss(self, reason: str) -> RecordingMiss:
        return RecordingMiss(self.case_id, self.sample, self.store.directory, reason)
