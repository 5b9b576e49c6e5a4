"""The embedded local model manager, against the real ``llama_cpp.server`` and SmolLM2 weights."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from embedded_model import require_local_model
from incident_evals.local_model import (
    LocalModelError,
    LocalModelServer,
)


@pytest.fixture
def server() -> Iterator[LocalModelServer]:
    require_local_model()
    srv = LocalModelServer(startup_timeout_s=120.0, n_ctx=2048)
    try:
        yield srv
    finally:
        srv.close()


def _port_refuses(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_find_local_model_returns_an_existing_gguf() -> None:
    path = require_local_model()
    assert path.is_absolute()
    assert path.suffix == ".gguf"
    assert path.is_file()
    assert path.stat().st_size > 10_000_000


def test_start_chat_stop_cycle(server: LocalModelServer) -> None:
    server.start()
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    elapsed = server.wait_ready()
    assert elapsed > 0

    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model=LocalModelServer.MODEL_ALIAS,
        messages=[{"role": "user", "content": "Say hello in one short sentence."}],
        max_tokens=32,
        temperature=0,
    )
    content = reply.choices[0].message.content
    assert isinstance(content, str)
    assert content.strip()
    assert reply.model == LocalModelServer.MODEL_ALIAS
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0

    port, pid = server.port, server.pid
    assert pid is not None
    server.stop()
    assert not server.is_running()
    assert _port_refuses(port)
    assert _group_gone(pid)


def test_wait_ready_reports_the_server_log_when_the_model_is_bogus(tmp_path: Path) -> None:
    require_local_model()
    bogus = tmp_path / "no-such-model.gguf"
    srv = LocalModelServer(model_path=bogus, startup_timeout_s=60.0)
    try:
        srv.start()
        with pytest.raises(LocalModelError, match="exited with status") as info:
            srv.wait_ready()
        message = str(info.value)
        assert "last lines of the server log" in message
        assert str(bogus) in message
        assert not srv.is_running()
    finally:
        srv.close()


def test_wait_ready_times_out_with_the_log_and_stops_the_server() -> None:
    require_local_model()
    srv = LocalModelServer(startup_timeout_s=0.01)
    try:
        srv.start()
        pid = srv.pid
        assert pid is not None
        with pytest.raises(LocalModelError, match="not ready after"):
            srv.wait_ready()
        assert not srv.is_running()
        assert _group_gone(pid)
    finally:
        srv.close()


def test_stop_is_idempotent(server: LocalModelServer) -> None:
    server.stop()  # never started: nothing to do
    server.start()
    pid = server.pid
    assert pid is not None
    server.stop()  # while still loading
    server.stop()
    assert not server.is_running()
    assert _group_gone(pid)
    server.close()
    server.close()


def test_context_manager_is_ready_inside_and_stopped_after() -> None:
    require_local_model()
    with LocalModelServer() as srv:
        assert srv.is_running()
        port = srv.port
        log = srv.log_path
    assert not srv.is_running()
    assert _port_refuses(port)
    assert log is not None
    assert not log.exists()
