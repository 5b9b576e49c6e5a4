"""The endpoint side of one pytest session: which endpoint, its client, the embedded model."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from incident_evals import options
from incident_evals.client import ChatClient, Endpoint, EndpointError

if TYPE_CHECKING:
    from incident_evals.case import IncidentCase
    from incident_evals.local_model import LocalModelServer
    from incident_evals.transcript import Transcript

LOCAL_MODEL_SOURCE = "embedded local model: llama.cpp server, SmolLM2-135M-Instruct"


class EvalSession:
    """Owns the client and, when nothing is configured, the embedded model's server process.

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
    ) -> None:
        self._configured = endpoint
        self._timeout_s = timeout_s
        self._retries = retries
        self._local_startup_timeout_s = local_startup_timeout_s
        self._local: LocalModelServer | None = None
        self._client: ChatClient | None = None
        self._failure: EndpointError | None = None
        self._lock = threading.Lock()

    @property
    def uses_local_model(self) -> bool:
        return self._configured is None

    def start(self) -> None:
        if self._configured is None and self._local is None:
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

    def replay(self, case: IncidentCase) -> Transcript:
        from incident_evals.replay import replay

        client = self.client()
        return replay(case, client, client.endpoint.model)

    def close(self) -> None:
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


def session_from_config(config: pytest.Config) -> EvalSession:
    """The session's endpoint side; stops the run now if there is no endpoint and no local model."""
    endpoint = options.resolve_endpoint(config)
    if endpoint is None and not config.option.collectonly:
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
    )
