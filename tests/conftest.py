"""Shared fixtures for the test suite.

``tests/`` has no ``__init__.py``, so under pytest's default ``prepend`` import mode this
conftest's directory is put on ``sys.path`` and helpers living here (e.g. ``chat_server``)
are importable by plain name from any test module. Add new fixtures below.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import openai
import pytest

from chat_server import ChatServer


@pytest.fixture(autouse=True, scope="session")
def _sdk_imported_before_pytester() -> None:
    """One real request before any test, so the SDK has finished its lazy imports.

    ``pytester`` runs pytest in-process and afterwards drops the modules that run imported.
    Were the HTTP stack under the SDK first imported inside such a run, the next import would
    make new exception classes that the SDK's own ``except`` clauses no longer match.
    """
    with ChatServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        client.close()


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A started :class:`ChatServer` (default echo script); script it via ``set_script``."""
    server = ChatServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


#: Variables that would point a test run at an endpoint other than the one the test sets up.
ENDPOINT_VARIABLES = (
    "INCIDENT_EVALS_BASE_URL",
    "INCIDENT_EVALS_MODEL",
    "INCIDENT_EVALS_API",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
)


@pytest.fixture(autouse=True)
def _no_ambient_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def endpoint_args(chat_server: ChatServer) -> list[str]:
    """Flags pointing a pytester run at the scripted server."""
    return [
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=test-model",
        "--incident-retries=0",
        "-p",
        "no:cacheprovider",
    ]


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask set to the test's parameter (``indirect``), then put back."""
    mask: int = request.param
    before = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(before)
