"""Requests sent from the helper process (``incident_evals.request_process``): the same answers,
errors and causes as the in-process client, and a helper that dies is an error, never an answer."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_server import ChatServer, Reply
from incident_evals.client import (
    ChatClient,
    Endpoint,
    EndpointError,
    MalformedAnswer,
    is_connection_failure,
)
from incident_evals.request_process import ProcessChatClient

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def clients() -> Iterator[list[ProcessChatClient]]:
    """Every helper started by a test is ended with it."""
    made: list[ProcessChatClient] = []
    yield made
    for client in made:
        client.close()


def process_client(
    clients: list[ProcessChatClient], base_url: str, **kwargs: float
) -> ProcessChatClient:
    client = ProcessChatClient(
        Endpoint(base_url, "m", "test"),
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        **kwargs,  # type: ignore[arg-type]
    )
    clients.append(client)
    return client


def in_process_client(base_url: str, **kwargs: float) -> ChatClient:
    return ChatClient(
        Endpoint(base_url, "m", "test"),
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        **kwargs,  # type: ignore[arg-type]
    )


def test_an_answer_is_the_endpoints_and_the_request_arrives_as_sent(
    chat_server: ChatServer, clients: list[ProcessChatClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    chat_server.set_script([Reply(content="30 days")])
    request = {"model": "m", "messages": [{"role": "user", "content": 'caf\u00e9 \U0001f600 "q"'}]}

    response, latency = process_client(clients, chat_server.base_url).complete(request)

    assert response["choices"][0]["message"]["content"] == "30 days"
    assert latency > 0
    (arrived,) = chat_server.requests
    assert arrived.body["messages"] == request["messages"]
    assert arrived.headers["authorization"] == "Bearer sk-from-the-environment"
    assert arrived.headers["accept-encoding"] == "identity"


def test_it_sends_from_another_process(
    chat_server: ChatServer, clients: list[ProcessChatClient]
) -> None:
    client = process_client(clients, chat_server.base_url)

    client.complete(REQUEST)

    assert client.process_id is not None
    assert client.process_id != os.getpid()


@pytest.mark.parametrize(
    "script",
    [
        [Reply(status=503, error_message="overloaded")] * 3,
        [Reply(status=400, error_message="bad request")],
        [Reply(content="late", delay_s=1.0)] * 2,
    ],
    ids=["retried-status", "client-error", "timeout"],
)
def test_errors_carry_the_same_cause_and_attempts_as_in_process(
    chat_server: ChatServer, clients: list[ProcessChatClient], script: list[Reply]
) -> None:
    chat_server.set_script(list(script))
    with pytest.raises(EndpointError) as here:
        in_process_client(chat_server.base_url, retries=2, timeout_s=0.3).complete(REQUEST)
    chat_server.set_script(list(script))

    with pytest.raises(EndpointError) as there:
        process_client(clients, chat_server.base_url, retries=2, timeout_s=0.3).complete(REQUEST)

    # The request id the server gives each answer differs; everything else is the same.
    assert str(there.value).split(" [request id")[0] == str(here.value).split(" [request id")[0]
    assert there.value.attempts == here.value.attempts
    assert not is_connection_failure(there.value)


def test_a_refused_connection_is_a_connection_failure(clients: list[ProcessChatClient]) -> None:
    with pytest.raises(EndpointError, match="cannot connect to the endpoint") as error:
        process_client(clients, "http://127.0.0.1:9/v1", retries=0).complete(REQUEST)

    assert is_connection_failure(error.value)


def test_a_malformed_answer_is_refused_here(
    chat_server: ChatServer, clients: list[ProcessChatClient]
) -> None:
    chat_server.set_script([Reply(raw_body="<html>not json</html>")])

    with pytest.raises(MalformedAnswer, match="not JSON"):
        process_client(clients, chat_server.base_url, retries=0).complete(REQUEST)


def sent_in_background(
    client: ProcessChatClient, server: ChatServer
) -> tuple[threading.Thread, list[object]]:
    """``client.complete(REQUEST)`` on a thread, once the request has reached ``server``: the
    thread, and what the call returned or raised once it ends."""
    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(client.complete(REQUEST))
        except BaseException as exc:  # whatever it is, the test asserts on it
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 10
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests, "the request never reached the endpoint"
    return sender, outcome


def test_a_helper_that_dies_fails_what_it_held_and_everything_after(
    chat_server: ChatServer, clients: list[ProcessChatClient]
) -> None:
    chat_server.set_script(lambda body: Reply(content="never read", delay_s=5.0))
    client = process_client(clients, chat_server.base_url)
    sender, outcome = sent_in_background(client, chat_server)
    assert client.process_id is not None

    os.kill(client.process_id, signal.SIGKILL)
    sender.join(timeout=10)

    (died,) = outcome
    assert isinstance(died, EndpointError)
    assert str(died) == "the process that sends requests ended (exit code -9)"
    with pytest.raises(EndpointError, match=r"ended \(exit code -9\)"):
        client.complete(REQUEST)
    assert len(chat_server.requests) == 1


def test_cancel_ends_a_wait_to_retry_at_once(
    chat_server: ChatServer, clients: list[ProcessChatClient]
) -> None:
    chat_server.set_script(lambda body: Reply(status=429, headers={"Retry-After": "30"}))
    client = process_client(clients, chat_server.base_url, retries=3)
    sender, outcome = sent_in_background(client, chat_server)

    started = time.monotonic()
    client.cancel()
    sender.join(timeout=10)

    assert time.monotonic() - started < 5
    (stopped,) = outcome
    assert isinstance(stopped, EndpointError)
    assert "the run was stopped" in str(stopped)
    assert len(chat_server.requests) == 1
    with pytest.raises(EndpointError, match="stopped before this request"):
        client.complete(REQUEST)


def test_close_ends_the_helper(chat_server: ChatServer, clients: list[ProcessChatClient]) -> None:
    client = process_client(clients, chat_server.base_url)
    client.complete(REQUEST)
    pid = client.process_id
    assert pid is not None

    client.close()

    with pytest.raises(ProcessLookupError):
        # Reaped: the process is gone, not a zombie.
        os.kill(pid, 0)


def helps_here_in_a_fresh_process(before: str = "") -> list[str]:
    """What ``helps_here()`` says in a new interpreter, before and after importing the SDK."""
    code = (
        f"import os\n{before}\n"
        "from incident_evals.request_process import helps_here\n"
        "first = helps_here()\n"
        "import openai\n"
        "print(first, helps_here())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="sets the process's CPUs")
def test_a_helper_only_with_a_cpu_to_spare_and_the_sdk_not_loaded_yet() -> None:
    two_or_more = len(os.sched_getaffinity(0)) >= 2

    assert helps_here_in_a_fresh_process() == [str(two_or_more), "False"]
    one_cpu = "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})"
    assert helps_here_in_a_fresh_process(one_cpu) == ["False", "False"]


def test_a_helper_that_cannot_start_names_why(
    clients: list[ProcessChatClient],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    chat_server: ChatServer,
) -> None:
    # An SDK that cannot be imported, first on the path the helper inherits.
    (tmp_path / "openai").mkdir()
    (tmp_path / "openai" / "__init__.py").write_text("raise ImportError('no SDK here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))

    with pytest.raises(EndpointError) as error:
        process_client(clients, chat_server.base_url).complete(REQUEST)

    assert str(error.value) == (
        "the process that sends requests ended (exit code 1): ImportError: no SDK here"
    )
    assert chat_server.requests == []


def test_the_urls_user_info_reaches_the_endpoint_as_basic_auth(
    chat_server: ChatServer, clients: list[ProcessChatClient]
) -> None:
    with_user = chat_server.base_url.replace("http://", "http://ann:s3cret@")

    process_client(clients, with_user).complete(REQUEST)

    (arrived,) = chat_server.requests
    assert arrived.headers["authorization"] == "Basic " + base64.b64encode(b"ann:s3cret").decode()
