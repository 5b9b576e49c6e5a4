"""Retries and error causes (``incident_evals.client``), against the scripted server."""

from __future__ import annotations

import fnmatch
import gzip
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chat_server import ChatServer, Reply
from incident_evals.client import (
    MAX_ANSWER_BYTES,
    ChatClient,
    Endpoint,
    EndpointError,
    MalformedAnswer,
    TargetClient,
    is_connection_failure,
)

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


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
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


def test_a_server_that_closes_without_answering_is_a_connection_failure_and_retried(
    chat_server: ChatServer,
) -> None:
    dropped = Reply(drop_connection=True)
    chat_server.set_script([dropped, dropped])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=1).complete(REQUEST)

    assert fnmatch.fnmatch(str(error.value), "cannot connect to the endpoint: * (after 2 attempts)")
    assert "timed out" not in str(error.value)
    assert is_connection_failure(error.value)
    assert len(chat_server.requests) == 2


def test_a_refused_connection_is_a_connection_failure_and_a_timeout_is_not(
    chat_server: ChatServer,
) -> None:
    refused = ChatClient(Endpoint("http://127.0.0.1:9/v1", "m", "test"), retries=0)
    with pytest.raises(EndpointError) as error:
        refused.complete(REQUEST)
    assert fnmatch.fnmatch(str(error.value), "cannot connect to the endpoint: *Connection refused*")
    assert is_connection_failure(error.value)

    chat_server.set_script([Reply(content="late", delay_s=1.0)])
    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=0, timeout_s=0.2).complete(REQUEST)
    assert str(error.value) == "the request timed out (after 1 attempt)"
    assert not is_connection_failure(error.value)


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
        ("<html>gateway</html>", "the body is not JSON: '<html>gateway</html>'"),
        ("[1, 2]", "the body is an array, expected an object: '[1, 2]'"),
        ('"choices"', "the body is a string, expected an object: '\"choices\"'"),
        ("", "the body is empty"),
        (
            '{"usage": {"total_tokens": NaN}}',
            'the body is not JSON: \'{"usage": {"total_tokens": NaN}}\'',
        ),
        ("[" * 50_000, "the body is nested deeper than 100 levels"),
        ('{"a": ' * 101 + "1" + "}" * 101, "the body is nested deeper than 100 levels"),
    ],
    ids=["html", "array", "string", "empty", "nan", "deep-unparsable", "deep"],
)
def test_an_answer_that_is_not_a_json_object_is_malformed_and_not_retried(
    chat_server: ChatServer, body: str, message: str
) -> None:
    chat_server.set_script([Reply(raw_body=body), Reply(content="ok")])

    with pytest.raises(MalformedAnswer) as error:
        client_for(chat_server, retries=3).complete(REQUEST)

    assert str(error.value) == f"malformed answer from the endpoint: {message}"
    assert len(chat_server.requests) == 1


def test_a_long_body_is_quoted_clipped_with_its_size(chat_server: ChatServer) -> None:
    chat_server.set_script([Reply(raw_body="<html>" + "x" * 5000)])

    with pytest.raises(MalformedAnswer) as error:
        client_for(chat_server, retries=0).complete(REQUEST)

    assert str(error.value) == (
        f"malformed answer from the endpoint: the body is not JSON: '<html>{'x' * 74}'… "
        "(5,006 characters)"
    )


# --- retries: what is retried, how often, and what the error says -----------------------------


@pytest.mark.parametrize("status", [408, 409])
def test_request_timeout_and_conflict_are_retried_as_the_sdk_does(
    chat_server: ChatServer, status: int
) -> None:
    chat_server.set_script([Reply(status=status), Reply(content="ok")])

    response, _ = client_for(chat_server, retries=1).complete(REQUEST)

    assert response["choices"][0]["message"]["content"] == "ok"
    assert len(chat_server.requests) == 2


def test_a_forbidden_request_is_not_retried(chat_server: ChatServer) -> None:
    chat_server.set_script([Reply(status=403, error_message="not allowed"), Reply(content="ok")])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=3).complete(REQUEST)

    assert str(error.value) == (
        "HTTP 403 from the endpoint: not allowed [request id req_1] (after 1 attempt)"
    )
    assert len(chat_server.requests) == 1


@pytest.mark.parametrize(
    ("status", "header", "requests"),
    [(400, "true", 2), (503, "false", 1)],
    ids=["retry-a-400", "do-not-retry-a-503"],
)
def test_the_servers_x_should_retry_wins(
    chat_server: ChatServer, status: int, header: str, requests: int
) -> None:
    reply = Reply(status=status, headers={"x-should-retry": header})
    chat_server.set_script([reply, reply])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=1).complete(REQUEST)

    assert error.value.attempts == requests
    assert len(chat_server.requests) == requests


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(status=500, raw_body='{"error": "database is down"}'),
            "HTTP 500 from the endpoint: 'database is down'",
        ),
        (
            Reply(
                status=502,
                raw_body="<html>" + "bad gateway " * 100,
                headers={"Content-Type": "text/html"},
            ),
            "HTTP 502 from the endpoint: '<html>bad gateway bad gateway bad gateway bad gateway "
            "bad gateway bad gateway ba'… (1,205 characters)",
        ),
        (
            Reply(status=500, error_message="line one\n\n   line two"),
            "HTTP 500 from the endpoint: line one line two [request id req_1]",
        ),
        (
            Reply(status=500, raw_body='{"error": {"message": 7}}'),
            "HTTP 500 from the endpoint: Error code: 500",
        ),
    ],
    ids=["error-string", "html-page", "multi-line-message", "message-not-text"],
)
def test_an_error_answer_is_named_in_one_clipped_line(
    chat_server: ChatServer, reply: Reply, message: str
) -> None:
    chat_server.set_script([reply])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=0).complete(REQUEST)

    assert str(error.value) == f"{message} (after 1 attempt)"


# --- bounds: size and time of one answer ------------------------------------------------------

BIG = b"x" * (MAX_ANSWER_BYTES + 1)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw_body=BIG),
        Reply(raw_body=BIG, chunk_size=256 * 1024),
        Reply(
            raw_body=gzip.compress(b" " * (2 * MAX_ANSWER_BYTES)),
            headers={"Content-Encoding": "gzip"},
        ),
    ],
    ids=["content-length", "chunked", "gzip-bomb"],
)
def test_an_answer_over_the_size_limit_is_refused_and_not_retried(
    chat_server: ChatServer, reply: Reply
) -> None:
    chat_server.set_script([reply, reply])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=1).complete(REQUEST)

    assert str(error.value) == (
        "the endpoint's answer is larger than 8 MiB, the most one answer may hold (after 1 attempt)"
    )
    assert len(chat_server.requests) == 1


def test_a_compressed_error_body_is_not_inflated(chat_server: ChatServer) -> None:
    bomb = gzip.compress(b'{"error": {"message": "' + b" " * (2 * MAX_ANSWER_BYTES))
    chat_server.set_script([Reply(status=500, raw_body=bomb, headers={"Content-Encoding": "gzip"})])

    client = client_for(chat_server, retries=0)
    tracemalloc.start()
    try:
        with pytest.raises(EndpointError) as error:
            client.complete(REQUEST)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert str(error.value).startswith("HTTP 500 from the endpoint: ")
    assert peak < MAX_ANSWER_BYTES // 2


def test_answers_are_asked_for_uncompressed(chat_server: ChatServer) -> None:
    client_for(chat_server).complete(REQUEST)

    assert chat_server.requests[0].headers["accept-encoding"] == "identity"


def test_the_request_arrives_as_json_whatever_its_characters(chat_server: ChatServer) -> None:
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": 'Rückerstattung \u2014 días? \U0001f600 "q"'}],
        "temperature": 0.5,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"a": [1, None]}}}],
    }

    client_for(chat_server).complete(request)

    received = chat_server.requests[0]
    assert received.body == request
    assert received.headers["content-type"] == "application/json"


def test_a_body_that_trickles_past_the_timeout_is_a_timeout_and_retried(
    chat_server: ChatServer,
) -> None:
    # Each piece arrives well within the timeout; the whole answer does not.
    slow = Reply(raw_body='{"choices": []}' * 10, chunk_size=4, chunk_delay_s=0.1)
    chat_server.set_script([slow, slow])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=1, timeout_s=0.5).complete(REQUEST)

    assert str(error.value) == "the request timed out (after 2 attempts)"
    assert len(chat_server.requests) == 2


def test_the_timeout_counts_from_sending_not_from_queueing(chat_server: ChatServer) -> None:
    # More requests at once than the SDK's default pool keeps alive: none waits for a
    # connection, so each just-under-the-timeout answer arrives in time.
    concurrency = 24
    chat_server.set_script(lambda body: Reply(content="ok", delay_s=0.6))
    client = client_for(chat_server, retries=0, timeout_s=1.0, concurrency=concurrency)
    barrier = threading.Barrier(concurrency)

    def send() -> str:
        barrier.wait()
        response, _ = client.complete(REQUEST)
        return str(response["choices"][0]["message"]["content"])

    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda _: send(), range(concurrency)))

    assert answers == ["ok"] * concurrency
    assert chat_server.max_in_flight == concurrency
    assert len(chat_server.requests) == concurrency


# --- the target -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            {"choices": [{"message": {"content": object()}}]},
            "the response is not JSON data (Object of type object is not JSON serializable)",
        ),
        (
            {"choices": [], "usage": {"total_tokens": float("nan")}},
            "the response is not JSON data (Out of range float values are not JSON compliant*",
        ),
    ],
    ids=["object", "nan"],
)
def test_a_target_answer_that_is_not_json_data_is_malformed(
    reply: dict[str, object], message: str
) -> None:
    def target(request: dict[str, object]) -> dict[str, object]:
        return reply

    with pytest.raises(MalformedAnswer) as error:
        TargetClient(target, "m").complete(REQUEST)

    assert fnmatch.fnmatchcase(
        str(error.value), f"malformed answer from the target {target.__qualname__}: {message}"
    )


def test_a_targets_answer_is_a_copy(chat_server: ChatServer) -> None:
    reply = {"choices": [{"message": {"content": "hi"}}]}

    answer, _ = TargetClient(lambda request: reply, "m").complete(REQUEST)
    reply["choices"][0]["message"]["content"] = "changed later"

    assert answer == {"choices": [{"message": {"content": "hi"}}]}


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


@pytest.mark.parametrize(
    ("raised", "shown"),
    [
        (SystemExit(3), "SystemExit: 3"),
        (RecursionError("maximum recursion depth exceeded"), "RecursionError: maximum recursion"),
    ],
    ids=["system-exit", "recursion-error"],
)
def test_a_target_raising_a_base_exception_is_the_items_error(
    raised: BaseException, shown: str
) -> None:
    def support_bot(request: dict[str, Any]) -> dict[str, Any]:
        raise raised

    with pytest.raises(EndpointError) as error:
        TargetClient(support_bot, "m").complete(REQUEST)

    assert str(error.value).startswith(f"the target {support_bot.__qualname__} raised {shown}")


def test_a_target_interrupted_by_ctrl_c_stops_the_run() -> None:
    def support_bot(request: dict[str, Any]) -> dict[str, Any]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        TargetClient(support_bot, "m").complete(REQUEST)


def test_an_answer_compressed_anyway_is_inflated_within_the_limit(chat_server: ChatServer) -> None:
    answer = b'{"choices": [{"message": {"role": "assistant", "content": "ok"}}]}'
    chat_server.set_script(
        [Reply(raw_body=gzip.compress(answer), headers={"Content-Encoding": "gzip"})]
    )

    response, _ = client_for(chat_server, retries=0).complete(REQUEST)

    assert response["choices"][0]["message"]["content"] == "ok"


def test_an_answer_compressed_in_an_unread_form_is_an_error_not_retried(
    chat_server: ChatServer,
) -> None:
    reply = Reply(raw_body=b"\x8b\x00 not json", headers={"Content-Encoding": "br"})
    chat_server.set_script([reply, reply])

    with pytest.raises(EndpointError) as error:
        client_for(chat_server, retries=1).complete(REQUEST)

    assert str(error.value) == (
        "the endpoint compressed its answer ('br') though asked not to, in a form that cannot "
        "be read (only gzip and deflate are) (after 1 attempt)"
    )
    assert len(chat_server.requests) == 1


def test_a_client_never_closed_leaves_nothing_on_the_terminal_at_exit(
    chat_server: ChatServer,
) -> None:
    import subprocess
    import sys

    chat_server.set_script([Reply(content="hello")])
    script = (
        "from incident_evals.client import ChatClient, Endpoint\n"
        f"client = ChatClient(Endpoint({chat_server.base_url!r}, 'm', 'test'))\n"
        f"print(client.complete({REQUEST!r})[0]['choices'][0]['message']['content'])\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")
