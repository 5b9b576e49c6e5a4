"""Retries and error causes (``incident_evals.client``), against the scripted server."""

from __future__ import annotations

import time

import pytest

from chat_server import ChatServer, Reply
from incident_evals.client import ChatClient, Endpoint, EndpointError

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def client_for(server: ChatServer, **kwargs: float) -> ChatClient:
    return ChatClient(
        Endpoint(server.base_url, "m", "test"),
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retryable_statuses_are_retried(chat_server: ChatServer, status: int) -> None:
    chat_server.set_script([Reply(status=status), Reply(status=status), Reply(content="ok")])

    response, _ = client_for(chat_server, retries=2).complete(REQUEST)

    assert response["choices"][0]["message"]["content"] == "ok"
    assert len(chat_server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(chat_server: ChatServer, status: int) -> None:
    chat_server.set_script([Reply(status=status, error_message="nope"), Reply(content="ok")])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=3).complete(REQUEST)

    assert str(error.value).startswith(f"HTTP {status} from the endpoint: nope")
    assert error.value.attempts == 1
    assert len(chat_server.requests) == 1


def test_exhausted_retries_carry_the_last_cause_and_count(chat_server: ChatServer) -> None:
    chat_server.set_script(lambda body: Reply(status=503, error_message="overloaded"))

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=2).complete(REQUEST)

    assert str(error.value).startswith("HTTP 503 from the endpoint: overloaded [request id req_")
    assert str(error.value).endswith("(after 3 attempts)")
    assert len(chat_server.requests) == 3


def test_retry_after_is_honoured(chat_server: ChatServer) -> None:
    chat_server.set_script([Reply(status=429, headers={"Retry-After": "0.4"}), Reply(content="ok")])

    client_for(chat_server, retries=1).complete(REQUEST)

    first, second = chat_server.requests
    # Jittered backoff alone would wait at most 0.05 s here.
    assert second.time - first.time >= 0.4


def test_negative_retry_after_ms_means_now(chat_server: ChatServer) -> None:
    chat_server.set_script(
        [Reply(status=429, headers={"retry-after-ms": "-5000"}), Reply(content="ok")]
    )

    response, _ = client_for(chat_server, retries=1).complete(REQUEST)

    assert response["choices"][0]["message"]["content"] == "ok"


def test_timeouts_are_retried_then_reported(chat_server: ChatServer) -> None:
    chat_server.set_script(lambda body: Reply(content="late", delay_s=2.0))

    started = time.monotonic()
    with pytest.raises(EndpointError, match=r"the request timed out \(after 2 attempts\)"):
        client_for(chat_server, retries=1, timeout_s=0.2).complete(REQUEST)

    assert time.monotonic() - started < 1.9
    assert len(chat_server.requests) == 2


def test_connection_refused_is_an_endpoint_error() -> None:
    client = ChatClient(
        Endpoint("http://127.0.0.1:9/v1", "m", "test"),
        retries=1,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
    )

    with pytest.raises(
        EndpointError, match=r"cannot connect to the endpoint.*\(after 2 attempts\)"
    ):
        client.complete(REQUEST)


def test_api_key_from_the_named_variable(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-mine")
    client = ChatClient(Endpoint(chat_server.base_url, "m", "test", api_key_env="MY_KEY"))

    client.complete(REQUEST)

    assert chat_server.requests[0].headers["authorization"] == "Bearer sk-mine"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>gateway</html>", "the endpoint's answer is not JSON: '<html>gateway</html>'"),
        ("[1, 2]", "the endpoint's answer is not a JSON object: '[1, 2]'"),
    ],
)
def test_an_answer_that_is_not_a_completion_is_an_endpoint_error(
    chat_server: ChatServer, body: str, message: str
) -> None:
    chat_server.set_script([Reply(raw_body=body)])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=0).complete(REQUEST)

    assert str(error.value) == f"{message} (after 1 attempt)"


def test_url_user_info_is_sent_as_basic_auth_and_never_kept(chat_server: ChatServer) -> None:
    from incident_evals.secrets import basic_auth

    url = chat_server.base_url.replace("http://", "http://al%40ice:s3cret%3Apw@")
    endpoint = Endpoint(url, "m", "test")

    ChatClient(endpoint).complete(REQUEST)

    assert endpoint.base_url == endpoint.shown_url == chat_server.base_url
    assert "s3cret" not in repr(endpoint)
    assert chat_server.requests[0].headers["authorization"] == basic_auth("al@ice", "s3cret:pw")


def test_an_error_echoing_the_sent_key_is_scrubbed_then_clipped(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-echoed-0123456789abcdef")
    echo = "you sent sk-echoed-0123456789abcdef as your key; " + "z" * 400
    chat_server.set_script([Reply(status=400, error_message=echo)])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=0).complete(REQUEST)

    message = str(error.value)
    assert message.startswith(
        "HTTP 400 from the endpoint: you sent [redacted: credentials] as your key; zzz"
    )
    assert message.endswith("z… [request id req_1] (after 1 attempt)")
    assert len(message) < 400
