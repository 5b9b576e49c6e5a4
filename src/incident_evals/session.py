"""The endpoint side of one pytest session: endpoint, client, embedded model, recordings, and
the dispatcher that runs every sample's replay concurrently."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from incident_evals import options
from incident_evals.client import ChatClient, Endpoint, EndpointError
from incident_evals.dispatch import Dispatcher

if TYPE_CHECKING:
    from incident_evals.case import IncidentCase
    from incident_evals.local_model import LocalModelServer
    from incident_evals.recording import RecordingStore
    from incident_evals.replay import Completer
    from incident_evals.transcript import Transcript

LOCAL_MODEL_SOURCE = "embedded local model: llama.cpp server, SmolLM2-135M-Instruct"
#: The model named in requests answered from recordings when none is configured; the recording
#: lookup ignores it, and the transcript keeps the model the recorded response names.
RECORDED_MODEL = "recorded"


@dataclass(frozen=True)
class Recordings:
    directory: Path
    #: ``record`` writes every exchange; ``replay`` answers only from them, offline.
    mode: str


class EvalSession:
    """Owns the client, the embedded model's server process and the dispatcher.

    The server starts early (``start``) so that it loads while pytest collects; the first
    request waits for it to answer. A start-up failure is remembered and becomes every item's
    error, rather than a wait per item.
    """

    def __init__(
        self,
        endpoint: Endpoint | None,
        *,
        timeout_s: float,
        retries: int,
        local_startup_timeout_s: float,
        concurrency: int = options.DEFAULT_CONCURRENCY,
        recordings: Recordings | None = None,
    ) -> None:
        self._configured = endpoint
        self._timeout_s = timeout_s
        self._retries = retries
        self._local_startup_timeout_s = local_startup_timeout_s
        self._recordings = recordings
        self._store: RecordingStore | None = None
        self._local: LocalModelServer | None = None
        self._client: ChatClient | None = None
        self._failure: EndpointError | None = None
        self._lock = threading.Lock()
        # Recorded answers have no latency to overlap: read them in pytest's own thread.
        self.dispatcher: Dispatcher[Transcript] = Dispatcher(0 if self.offline else concurrency)

    @property
    def offline(self) -> bool:
        """Answering from recordings only: no endpoint, no embedded model."""
        return self._recordings is not None and self._recordings.mode == "replay"

    @property
    def recordings(self) -> Recordings | None:
        return self._recordings

    @property
    def uses_local_model(self) -> bool:
        return self._configured is None and not self.offline

    def start(self) -> None:
        if self.offline:
            return
        # The SDK takes ~0.5 s to import: do it while pytest collects, not on the first request.
        threading.Thread(target=_import_sdk, name="incident-evals-import", daemon=True).start()
        if self.uses_local_model and self._local is None:
            from incident_evals.local_model import LocalModelServer

            self._local = LocalModelServer(startup_timeout_s=self._local_startup_timeout_s)
            self._local.start()

    @property
    def endpoint(self) -> Endpoint:
        if self._configured is not None:
            return self._configured
        if self._local is None:
            raise RuntimeError("the embedded local model has not been started")
        return Endpoint(
            base_url=self._local.base_url, model=self._local.model, source=LOCAL_MODEL_SOURCE
        )

    def client(self) -> ChatClient:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._client is None:
                if self._local is not None:
                    from incident_evals.local_model import LocalModelError

                    try:
                        self._local.wait_ready()
                    except LocalModelError as exc:
                        self._failure = EndpointError(
                            f"the embedded local model did not start: {exc}", 1
                        )
                        raise self._failure from exc
                self._client = ChatClient(
                    self.endpoint, timeout_s=self._timeout_s, retries=self._retries
                )
            return self._client

    def _store_for_run(self) -> RecordingStore | None:
        if self._recordings is None:
            return None
        with self._lock:
            if self._store is None:
                from incident_evals.recording import RecordingStore

                self._store = RecordingStore(self._recordings.directory)
            return self._store

    def replay(self, case: IncidentCase, sample: int = 0) -> Transcript:
        """One sample of one case, from the endpoint, through or from recordings."""
        from incident_evals.replay import replay

        store = self._store_for_run()
        completer: Completer
        if self.offline:
            from incident_evals.recording import RecordingCompleter

            assert store is not None
            configured = self._configured.model if self._configured else None
            completer = RecordingCompleter(store, case.id, sample, None, model=configured)
            return replay(case, completer, configured or RECORDED_MODEL)
        client = self.client()
        completer = client
        if store is not None:
            from incident_evals.recording import RecordingCompleter

            completer = RecordingCompleter(store, case.id, sample, client)
        return replay(case, completer, client.endpoint.model)

    def submit(self, case: IncidentCase, sample: int) -> Future[Transcript]:
        return self.dispatcher.submit(lambda: self.replay(case, sample))

    def close(self) -> None:
        self.dispatcher.stop()
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._local is not None:
                # A failed start keeps its log: the error message points at it.
                if self._failure is None:
                    self._local.close()
                else:
                    self._local.stop()


def _import_sdk() -> None:
    import openai  # noqa: F401
    import tenacity  # noqa: F401


def session_from_config(config: pytest.Config) -> EvalSession:
    """The session's endpoint side; stops the run now if there is no endpoint and no local model."""
    record, replay_from = options.value(config, "record"), options.value(config, "replay")
    if record and replay_from:
        raise pytest.UsageError(
            "--incident-record and --incident-replay exclude each other: record a run once, "
            "then replay it"
        )
    recordings = None
    if record:
        recordings = Recordings(options.invocation_path(config, record), "record")
    elif replay_from:
        directory = options.invocation_path(config, replay_from)
        if not directory.is_dir():
            raise pytest.UsageError(
                f"--incident-replay: {directory} is not a directory of recordings; "
                "make one with --incident-record DIR"
            )
        recordings = Recordings(directory, "replay")
    offline = recordings is not None and recordings.mode == "replay"
    endpoint = options.resolve_endpoint(config, offline=offline)
    if endpoint is None and not offline and not config.option.collectonly:
        from incident_evals.local_model import LocalModelUnavailable, find_local_model

        try:
            find_local_model()
        except LocalModelUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None
    return EvalSession(
        endpoint,
        timeout_s=options.value(config, "timeout"),
        retries=options.value(config, "retries"),
        local_startup_timeout_s=options.value(config, "local_startup_timeout"),
        concurrency=options.value(config, "concurrency"),
        recordings=recordings,
    )
