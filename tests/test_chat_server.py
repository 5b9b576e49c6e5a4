"""Tests for the scripted Chat Completions and Responses server, through the real ``openai`` SDK."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
)
from openai.types.responses import (
    FunctionToolParam,
    Response,
    ResponseFunctionToolCall,
    ResponseInputItemParam,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseUsage,
)

from chat_server import ChatServer, Reply, ToolCallSpec

USER_MSG: list[Any] = [{"role": "user", "content": "what is the status of incident 42"}]


MALFORMED = "{'incident': 42, "  # not JSON: must be passed through verbatim
TWO_CALLS = Reply(
    tool_calls=[
        {"name": "get_incident", "arguments": {"id": 42, "verbose": True}},
        {"name": "page_oncall", "arguments": MALFORMED, "id": "call_custom"},
    ]
)


def make_client(server: ChatServer, *, timeout: float = 10.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=timeout)


@pytest.fixture
def client(chat_server: ChatServer) -> Iterator[openai.OpenAI]:
    c = make_client(chat_server)
    try:
        yield c
    finally:
        c.close()


def ask(
    client: openai.OpenAI,
    content: str = "hello",
    *,
    tools: list[ChatCompletionFunctionToolParam] | openai.Omit = openai.omit,
) -> ChatCompletion:
    return client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": content}], tools=tools
    )


def test_import_from_tests_dir() -> None:
    import chat_server as mod

    assert mod.ChatServer is ChatServer
    assert mod.__file__ is not None
    assert mod.__file__.endswith("tests/chat_server.py")


def test_base_url_is_loopback_with_os_port(chat_server: ChatServer) -> None:
    assert chat_server.base_url == f"http://127.0.0.1:{chat_server.port}/v1"
    assert chat_server.port > 0


def test_content_reply(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([Reply(content="all systems nominal today")])

    completion = ask(client, "status please now")

    choice = completion.choices[0]
    assert choice.message.content == "all systems nominal today"
    assert choice.message.role == "assistant"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert choice.index == 0
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "test-model"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 3
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == 7
    assert completion._request_id is not None
    assert completion._request_id.startswith("req_")


def test_response_validates_strictly_against_sdk_model(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    # The SDK builds models leniently; validate the raw JSON strictly to catch shape drift.
    chat_server.set_script(
        [
            Reply(content="plain"),
            Reply(tool_calls=[{"name": "lookup", "arguments": {"id": 1}}]),
        ]
    )
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(model="m", messages=USER_MSG)
        assert raw.headers["content-type"] == "application/json"
        assert raw.headers["x-request-id"].startswith("req_")
        data = json.loads(raw.text)
        validated = ChatCompletion.model_validate(data)
        assert validated.choices[0].logprobs is None
        assert set(data) == {"id", "object", "created", "model", "choices", "usage"}
        assert isinstance(data["created"], int)


def test_default_script_echoes_last_user_message(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": "be terse"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second question"},
        ],
    )
    assert completion.choices[0].message.content == "echo: second question"


def test_reply_model_override(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([Reply(content="x", model="gpt-4o-2024-08-06", finish_reason="length")])
    completion = ask(client)
    assert completion.model == "gpt-4o-2024-08-06"
    assert completion.choices[0].finish_reason == "length"


def test_tool_calls_parsed_by_sdk(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([TWO_CALLS])

    completion = ask(client, tools=[_TOOL])

    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    assert len(message.tool_calls) == 2
    first, second = message.tool_calls
    assert isinstance(first, ChatCompletionMessageFunctionToolCall)
    assert isinstance(second, ChatCompletionMessageFunctionToolCall)
    assert first.type == "function"
    assert first.function.name == "get_incident"
    assert json.loads(first.function.arguments) == {"id": 42, "verbose": True}
    assert first.id.startswith("call_")
    assert second.id == "call_custom"
    assert second.function.name == "page_oncall"
    assert second.function.arguments == MALFORMED
    assert first.id != second.id


def test_rate_limit_with_retry_after(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script(
        [
            Reply(
                status=429,
                error_message="slow down",
                headers={"Retry-After": "0.1", "x-request-id": "req_ratelimited"},
            )
        ]
    )

    with pytest.raises(openai.RateLimitError) as excinfo:
        ask(client)

    err = excinfo.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "0.1"
    assert err.request_id == "req_ratelimited"
    assert "slow down" in err.message
    assert err.code == "rate_limit_exceeded"
    assert err.type == "rate_limit_error"
    assert isinstance(err.body, dict)
    assert err.body["message"] == "slow down"


def test_server_error(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([Reply(status=500, error_message="model backend crashed")])

    with pytest.raises(openai.InternalServerError) as excinfo:
        ask(client)

    assert excinfo.value.status_code == 500
    assert "model backend crashed" in excinfo.value.message
    assert excinfo.value.type == "server_error"
    assert excinfo.value.request_id is not None


def test_sdk_retries_on_429_then_succeeds(chat_server: ChatServer) -> None:
    # With retries enabled the SDK honours Retry-After and the next scripted reply wins.
    chat_server.set_script(
        [Reply(status=429, headers={"Retry-After": "0.05"}), Reply(content="after retry")]
    )
    with openai.OpenAI(base_url=chat_server.base_url, api_key="test", max_retries=1) as c:
        completion = ask(c)
    assert completion.choices[0].message.content == "after retry"
    assert len(chat_server.requests) == 2


def test_delay_beyond_client_timeout(chat_server: ChatServer) -> None:
    chat_server.set_script([Reply(content="too late", delay_s=30.0)])
    start = time.monotonic()

    with make_client(chat_server, timeout=0.3) as c, pytest.raises(openai.APITimeoutError):
        ask(c)

    assert time.monotonic() - start < 5.0
    assert len(chat_server.requests) == 1


def test_delay_within_timeout_is_observed(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([Reply(content="slow", delay_s=0.3)])
    start = time.monotonic()
    assert ask(client).choices[0].message.content == "slow"
    assert time.monotonic() - start >= 0.3


def test_latency_applies_to_every_reply() -> None:
    with ChatServer(latency_s=0.2) as server, make_client(server) as c:
        start = time.monotonic()
        assert ask(c, "hi").choices[0].message.content == "echo: hi"
        assert time.monotonic() - start >= 0.2


def test_drop_connection(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([Reply(drop_connection=True), Reply(content="recovered")])

    with pytest.raises(openai.APIConnectionError) as excinfo:
        ask(client)

    assert not isinstance(excinfo.value, openai.APITimeoutError)
    # The server keeps serving after dropping a connection.
    assert ask(client).choices[0].message.content == "recovered"


def test_request_log_records_body_headers_and_path(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    before = time.monotonic()
    client.chat.completions.create(
        model="gpt-test", messages=USER_MSG, tools=[_TOOL], temperature=0.0
    )

    requests = chat_server.requests
    assert len(requests) == 1
    rec = requests[0]
    assert rec.path == "/v1/chat/completions"
    assert rec.body["model"] == "gpt-test"
    assert rec.body["messages"] == USER_MSG
    assert rec.body["tools"] == [_TOOL]
    assert rec.body["temperature"] == 0.0
    assert rec.headers["authorization"] == "Bearer test"
    assert rec.headers["content-type"] == "application/json"
    assert before <= rec.time <= time.monotonic()
    # ``requests`` is a snapshot: mutating it does not affect the server's log.
    requests.clear()
    assert len(chat_server.requests) == 1


def test_concurrent_requests_are_all_recorded() -> None:
    n = 20
    barrier = threading.Barrier(n)

    with ChatServer(latency_s=0.3) as server, make_client(server) as c:

        def worker(i: int) -> str | None:
            barrier.wait()
            return ask(c, f"question {i}").choices[0].message.content

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            answers = list(pool.map(worker, range(n)))
        elapsed = time.monotonic() - start

        # Each thread got the answer to its own request.
        assert answers == [f"echo: question {i}" for i in range(n)]
        recorded = server.requests
        assert len(recorded) == n
        assert sorted(r.body["messages"][0]["content"] for r in recorded) == sorted(
            f"question {i}" for i in range(n)
        )
        # Handled concurrently: serially this would take n * 0.3 = 6 s.
        assert elapsed < 3.0
        assert server.errors == []


def test_concurrent_list_script_hands_out_each_reply_once() -> None:
    n = 20
    script = [Reply(content=f"reply {i}") for i in range(n)]
    with ChatServer(script) as server, make_client(server) as c:
        with ThreadPoolExecutor(max_workers=n) as pool:
            answers = list(pool.map(lambda i: ask(c, f"q{i}").choices[0].message.content, range(n)))
        assert sorted(a or "" for a in answers) == sorted(f"reply {i}" for i in range(n))
        assert len(server.requests) == n
        with pytest.raises(openai.InternalServerError, match="script exhausted"):
            ask(c)
        assert len(server.requests) == n + 1


def test_list_script_exhaustion(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([Reply(content="only one")])
    assert ask(client).choices[0].message.content == "only one"

    with pytest.raises(openai.InternalServerError) as excinfo:
        ask(client)

    assert excinfo.value.status_code == 500
    assert "script exhausted" in excinfo.value.message

    # set_script starts over.
    chat_server.set_script([Reply(content="fresh")])
    assert ask(client).choices[0].message.content == "fresh"


def test_callable_script_sees_request_body(chat_server: ChatServer, client: openai.OpenAI) -> None:
    seen: list[dict[str, Any]] = []

    def script(body: dict[str, Any]) -> Reply:
        seen.append(body)
        last = body["messages"][-1]["content"]
        return Reply(content=f"{body['model']}|{len(body.get('tools', []))}|{last}")

    chat_server.set_script(script)
    completion = client.chat.completions.create(model="gpt-x", messages=USER_MSG, tools=[_TOOL])

    assert completion.choices[0].message.content == f"gpt-x|1|{USER_MSG[0]['content']}"
    assert len(seen) == 1
    assert seen[0]["messages"] == USER_MSG
    assert seen[0] == chat_server.requests[0].body


def test_callable_script_exception_becomes_500(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    def script(body: dict[str, Any]) -> Reply:
        raise ValueError("boom")

    chat_server.set_script(script)
    with pytest.raises(openai.InternalServerError, match="script raised ValueError: boom"):
        ask(client)


STREAMED = Reply(
    content="Let me look incident 42 up.",
    tool_calls=[
        {"name": "get_incident", "arguments": {"id": 42, "fields": ["status", "owner"]}},
        {"name": "page_oncall", "arguments": "{'team': ", "id": "call_custom"},
    ],
)


def stream_chunks(client: openai.OpenAI, **options: Any) -> list[ChatCompletionChunk]:
    stream = client.chat.completions.create(
        model="m", messages=USER_MSG, tools=[_TOOL], stream=True, **options
    )
    return list(stream)


def test_a_streamed_text_comes_in_several_deltas_after_a_role_chunk(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(content="all systems nominal today")])

    chunks = stream_chunks(client)

    deltas = [chunk.choices[0].delta for chunk in chunks]
    assert deltas[0].role == "assistant"
    assert deltas[0].content == ""
    pieces = [delta.content for delta in deltas[1:-1]]
    assert pieces == ["all", " systems", " nominal", " today"]
    assert [chunk.choices[0].finish_reason for chunk in chunks] == [None] * 5 + ["stop"]
    assert deltas[-1].content is None
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)


def test_streamed_tool_calls_come_as_a_head_then_argument_fragments(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([STREAMED])

    chunks = stream_chunks(client)

    fragments = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or ()]
    for index, spec in enumerate(STREAMED.tool_calls or []):
        own = [fragment for fragment in fragments if fragment.index == index]
        head, rest = own[0], own[1:]
        assert head.type == "function"
        assert head.id is not None
        assert head.function is not None
        assert head.function.name == spec["name"]
        assert len(rest) > 1
        assert all(f.id is None and f.type is None for f in rest)
        assert all(f.function is not None and f.function.name is None for f in rest)
        joined = "".join(f.function.arguments or "" for f in own if f.function is not None)
        arguments = spec["arguments"]
        assert joined == (arguments if isinstance(arguments, str) else json.dumps(arguments))
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[0].choices[0].delta.role == "assistant"


def test_the_sdk_accumulates_a_stream_into_the_scripted_reply(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([STREAMED])
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in stream_chunks(client):
        state.handle_chunk(chunk)

    message = state.get_final_completion().choices[0].message

    assert message.content == STREAMED.content
    calls = message.tool_calls or []
    assert all(isinstance(call, ChatCompletionMessageFunctionToolCall) for call in calls)
    assert [(c.id, c.function.name) for c in calls if hasattr(c, "function")] == [
        ("call_1_0", "get_incident"),
        ("call_custom", "page_oncall"),
    ]
    assert [c.function.arguments for c in calls if hasattr(c, "function")] == [
        json.dumps({"id": 42, "fields": ["status", "owner"]}),
        "{'team': ",
    ]


def test_the_stream_helper_ends_with_the_completion_create_gives(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([STREAMED, STREAMED])
    whole = client.chat.completions.create(model="m", messages=USER_MSG, tools=[_TOOL])
    with client.chat.completions.stream(model="m", messages=USER_MSG, tools=[_TOOL]) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()

    assert {"content.delta", "tool_calls.function.arguments.delta", "chunk"} <= kinds
    assert final.choices[0].message.content == whole.choices[0].message.content

    def calls(completion: ChatCompletion) -> list[tuple[str, str, str]]:
        found = completion.choices[0].message.tool_calls or []
        return [
            (call.type, call.function.name, call.function.arguments)
            for call in found
            if isinstance(call, ChatCompletionMessageFunctionToolCall)
        ]

    assert len(calls(final)) == 2
    assert calls(final) == calls(whole)
    assert final.choices[0].finish_reason == whole.choices[0].finish_reason == "tool_calls"
    assert chat_server.requests[1].body["stream"] is True


def test_include_usage_adds_a_last_chunk_with_no_choices(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(content="all systems nominal today")] * 2)
    whole = client.chat.completions.create(model="m", messages=USER_MSG, tools=[_TOOL])

    chunks = stream_chunks(client, stream_options={"include_usage": True})

    assert chunks[-1].choices == []
    assert chunks[-1].usage == whole.usage
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_the_streamed_bytes_are_kept_as_sent(chat_server: ChatServer) -> None:
    chat_server.set_script([STREAMED, Reply(content="not streamed")])
    body = json.dumps({"model": "m", "messages": USER_MSG, "stream": True}).encode()
    request = urllib.request.Request(chat_server.base_url + "/chat/completions", data=body)
    with urllib.request.urlopen(request, timeout=5) as response:
        content_type = response.headers["content-type"]
        sent = response.read()
    with make_client(chat_server) as c:
        ask(c)

    assert content_type == "text/event-stream; charset=utf-8"
    first, second = chat_server.requests
    assert first.streamed == sent
    assert second.streamed is None
    events = sent.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: {") for event in events[:-2])


def test_a_streamed_request_is_answered_with_the_scripted_error(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(status=429, error_message="slow down")])
    with pytest.raises(openai.RateLimitError, match="slow down"):
        stream_chunks(client)
    assert chat_server.requests[0].streamed is None


def test_chunk_delay_paces_the_events_of_a_stream(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(content="one two", chunk_delay_s=0.1)])
    start = time.monotonic()
    chunks = stream_chunks(client)
    # The role chunk, two words, the finish reason and [DONE]: five pauses.
    assert len(chunks) == 4
    assert time.monotonic() - start >= 0.5


def test_models_endpoint() -> None:
    with ChatServer(model="my-local-model") as server, make_client(server) as c:
        models = list(c.models.list())
        assert [m.id for m in models] == ["my-local-model"]
        assert server.requests == []  # only chat completions are recorded


def test_unknown_path_and_head_give_404_json(chat_server: ChatServer) -> None:
    root = chat_server.base_url.removesuffix("/v1")
    for method, path in [("GET", "/v1/nope"), ("POST", "/v1/completions"), ("HEAD", "/v1/models")]:
        req = urllib.request.Request(
            root + path, method=method, data=b"{}" if method == "POST" else None
        )
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(req, timeout=5)
        err = excinfo.value
        assert err.code == 404
        assert err.headers["content-type"] == "application/json"
        payload = err.read()
        if method == "HEAD":
            assert payload == b""
        else:
            assert json.loads(payload)["error"]["type"] == "invalid_request_error"
        err.close()


def test_invalid_json_body_gives_400(chat_server: ChatServer) -> None:
    req = urllib.request.Request(
        chat_server.base_url + "/chat/completions", method="POST", data=b"not json"
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(req, timeout=5)
    assert excinfo.value.code == 400
    excinfo.value.close()


def test_stop_is_prompt_with_request_in_flight() -> None:
    server = ChatServer([Reply(content="never", delay_s=60.0)]).start()
    errors: list[BaseException] = []

    def call() -> None:
        with make_client(server, timeout=30.0) as c:
            try:
                ask(c)
            except BaseException as exc:
                errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests, "request never arrived"

    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2.0
    t.join(timeout=5)
    assert not t.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APIConnectionError)


def test_quiet_and_survives_client_disconnects(
    chat_server: ChatServer, capfd: pytest.CaptureFixture[str]
) -> None:
    chat_server.set_script(
        [Reply(content="late", delay_s=0.4), Reply(drop_connection=True), Reply(content="ok")]
    )
    with make_client(chat_server, timeout=0.1) as c, pytest.raises(openai.APITimeoutError):
        ask(c)
    time.sleep(0.6)  # let the server try to answer the client that already left
    with make_client(chat_server) as c:
        with pytest.raises(openai.APIConnectionError):
            ask(c)
        assert ask(c).choices[0].message.content == "ok"

    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""
    assert chat_server.errors == []


_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_incident",
        "description": "Fetch an incident",
        "parameters": {
            "type": "object",
            "properties": {"id": {"type": "integer"}},
            "required": ["id"],
        },
    },
}


def test_echo_request_appends_headers_and_body(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script(
        [Reply(content="said: ", echo_request=True), Reply(status=500, echo_request=True)]
    )

    content = ask(client).choices[0].message.content or ""
    with pytest.raises(openai.InternalServerError) as error:
        ask(client)

    headers_line, body_line = content.removeprefix("said: ").splitlines()
    assert json.loads(headers_line.removeprefix("request headers: "))["authorization"] == (
        "Bearer test"
    )
    assert json.loads(body_line.removeprefix("request body: "))["messages"] == [
        {"role": "user", "content": "hello"}
    ]
    assert '"authorization": "Bearer test"' in str(error.value)


# -- the Responses API ---------------------------------------------------------------------

#: ``_TOOL`` in the flat form the Responses API takes.
_FLAT_TOOL: FunctionToolParam = {
    "type": "function",
    "name": _TOOL["function"]["name"],
    "description": _TOOL["function"].get("description"),
    "parameters": _TOOL["function"].get("parameters"),
    "strict": False,
}

USER_TEXT = "what is the status of incident 42"
INPUT_ITEMS: list[ResponseInputItemParam] = [
    {"type": "message", "role": "user", "content": USER_TEXT}
]


def respond(
    client: openai.OpenAI,
    items: list[ResponseInputItemParam] | None = None,
    *,
    instructions: str | openai.Omit = openai.omit,
) -> Response:
    return client.responses.create(
        model="gpt-test",
        input=INPUT_ITEMS if items is None else items,
        instructions=instructions,
        tools=[_FLAT_TOOL],
        store=False,
    )


def items_of(response: Response) -> list[str]:
    return [item.type for item in response.output]


def test_responses_text_answer(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([Reply(content="all systems nominal today")])

    response = respond(client, instructions="be terse")

    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.incomplete_details is None
    assert response.model == "test-model"
    assert response._request_id is not None
    assert response._request_id.startswith("req_")
    assert isinstance(response.created_at, float)
    assert response.output_text == "all systems nominal today"
    (message,) = response.output
    assert isinstance(message, ResponseOutputMessage)
    assert message.id.startswith("msg_")
    assert (message.role, message.status) == ("assistant", "completed")
    (part,) = message.content
    assert isinstance(part, ResponseOutputText)
    assert (part.text, part.annotations) == ("all systems nominal today", [])
    assert response.usage is not None
    # "be terse" and the seven words of the user message; the four words of the answer.
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 4)
    assert response.usage.total_tokens == 13
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert response.instructions == "be terse"
    assert response.tool_choice == "auto"
    assert [tool.type for tool in response.tools] == ["function"]


def test_a_response_validates_against_the_sdk_models_field_for_field(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    # The SDK builds models leniently and keeps unknown keys: check the raw JSON against the
    # models, so a misspelt or missing field fails here rather than in the plugin.
    chat_server.set_script(
        [
            Reply(
                content="plain",
                refusal="no",
                reasoning="look it up first",
                tool_calls=[{"name": "get_incident", "arguments": {"id": 1}}],
            )
        ]
    )
    raw = client.responses.with_raw_response.create(model="m", input="x", store=False)
    assert raw.headers["content-type"] == "application/json"
    data = json.loads(raw.text)

    validated = Response.model_validate(data)

    # The API repeats the request's ``store``, which the SDK's model has no field for.
    assert set(data) - {"store"} <= set(Response.model_fields)
    assert set(data["usage"]) == set(ResponseUsage.model_fields) - {"tool_usage"}
    models: dict[str, type[openai.BaseModel]] = {
        "reasoning": ResponseReasoningItem,
        "message": ResponseOutputMessage,
        "function_call": ResponseFunctionToolCall,
    }
    assert [item["type"] for item in data["output"]] == list(models)
    for item, kind in zip(data["output"], models.values(), strict=True):
        assert set(item) <= set(kind.model_fields)
        assert {name for name, f in kind.model_fields.items() if f.is_required()} <= set(item)
    parts = data["output"][1]["content"]
    assert set(parts[0]) == {"type", "text", "annotations"}
    assert set(parts[1]) == set(ResponseOutputRefusal.model_fields)
    assert [type(item) for item in validated.output] == list(models.values())


def test_responses_tool_calls_parsed_by_sdk(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script([TWO_CALLS])

    response = respond(client)

    assert items_of(response) == ["function_call", "function_call"]
    first, second = response.output
    assert isinstance(first, ResponseFunctionToolCall)
    assert isinstance(second, ResponseFunctionToolCall)
    assert first.name == "get_incident"
    assert json.loads(first.arguments) == {"id": 42, "verbose": True}
    assert first.call_id.startswith("call_")
    assert first.id is not None
    assert first.id.startswith("fc_")
    assert first.status == "completed"
    assert (second.call_id, second.name, second.arguments) == (
        "call_custom",
        "page_oncall",
        MALFORMED,
    )
    assert len({first.id, second.id, first.call_id, second.call_id}) == 4
    assert response.status == "completed"
    assert response.output_text == ""


def test_a_responses_tool_loop_sends_the_whole_input_each_turn(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    call: ToolCallSpec = {"name": "get_incident", "arguments": {"id": 42}, "id": "call_a"}
    chat_server.set_script([Reply(tool_calls=[call]), Reply(content="incident 42 is resolved")])

    first = respond(client)
    (fc,) = first.output
    assert isinstance(fc, ResponseFunctionToolCall)
    items: list[ResponseInputItemParam] = [
        *INPUT_ITEMS,
        {
            "type": "function_call",
            "call_id": fc.call_id,
            "name": fc.name,
            "arguments": fc.arguments,
        },
        {"type": "function_call_output", "call_id": fc.call_id, "output": "status resolved"},
    ]
    second = respond(client, items)

    assert second.output_text == "incident 42 is resolved"
    assert second.usage is not None
    # The user's seven words and the tool output's two; the call itself is not counted.
    assert second.usage.input_tokens == 9
    bodies = [request.body for request in chat_server.requests]
    assert [body["input"] for body in bodies] == [INPUT_ITEMS, items]
    assert all(body["store"] is False and body["tools"] == [_FLAT_TOOL] for body in bodies)
    assert "previous_response_id" not in bodies[1]


def test_a_refusal_is_a_part_of_the_message_and_chats_message_refusal(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    refusal = "I cannot help with that."
    chat_server.set_script([Reply(refusal=refusal), Reply(refusal=refusal)])

    response = respond(client)
    completion = ask(client)

    (message,) = response.output
    assert isinstance(message, ResponseOutputMessage)
    (part,) = message.content
    assert isinstance(part, ResponseOutputRefusal)
    assert part.refusal == refusal
    assert response.output_text == ""
    assert completion.choices[0].message.refusal == refusal
    assert completion.choices[0].message.content is None
    # The same words counted over either API.
    assert response.usage is not None
    assert completion.usage is not None
    assert response.usage.output_tokens == completion.usage.completion_tokens == 5


def test_a_streamed_chat_refusal_comes_in_refusal_deltas(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(refusal="I cannot help with that.")])
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in stream_chunks(client):
        state.handle_chunk(chunk)

    message = state.get_final_completion().choices[0].message

    assert message.refusal == "I cannot help with that."
    assert message.content is None


def test_reasoning_is_an_item_before_the_message_and_chat_ignores_it(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script(
        [
            Reply(content="it is resolved", reasoning="check the incident first"),
            Reply(content="it is resolved", reasoning="check the incident first"),
        ]
    )

    response = respond(client)
    completion = ask(client)

    assert items_of(response) == ["reasoning", "message"]
    reasoning = response.output[0]
    assert isinstance(reasoning, ResponseReasoningItem)
    assert reasoning.id.startswith("rs_")
    assert [(s.type, s.text) for s in reasoning.summary] == [
        ("summary_text", "check the incident first")
    ]
    assert response.output_text == "it is resolved"
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 4
    assert response.usage.output_tokens == 3 + 4
    assert completion.choices[0].message.content == "it is resolved"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3


@pytest.mark.parametrize(
    ("finish_reason", "reason"),
    [("length", "max_output_tokens"), ("content_filter", "content_filter")],
)
def test_a_cut_answer_is_an_incomplete_response(
    chat_server: ChatServer, client: openai.OpenAI, finish_reason: str, reason: str
) -> None:
    chat_server.set_script([Reply(content="the incident was", finish_reason=finish_reason)])

    response = respond(client)

    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == reason
    (message,) = response.output
    assert isinstance(message, ResponseOutputMessage)
    assert message.status == "incomplete"
    assert response.output_text == "the incident was"


def test_any_other_finish_reason_leaves_a_response_completed(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(content="x", finish_reason="stop", model="gpt-4o-2024-08-06")])
    response = respond(client)
    assert (response.status, response.incomplete_details) == ("completed", None)
    assert response.model == "gpt-4o-2024-08-06"


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (404, openai.NotFoundError, "not_found"),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
    ],
)
def test_responses_errors_map_to_the_sdks_exceptions(
    chat_server: ChatServer,
    client: openai.OpenAI,
    status: int,
    error: type[openai.APIStatusError],
    code: str | None,
) -> None:
    chat_server.set_script(
        [Reply(status=status, error_message="scripted", headers={"x-request-id": "req_err"})]
    )

    with pytest.raises(error) as excinfo:
        respond(client)

    assert excinfo.value.status_code == status
    assert excinfo.value.code == code
    assert excinfo.value.request_id == "req_err"
    assert isinstance(excinfo.value.body, dict)
    assert excinfo.value.body["message"] == "scripted"


def test_responses_retry_after_429_gets_the_next_reply(chat_server: ChatServer) -> None:
    chat_server.set_script(
        [Reply(status=429, headers={"Retry-After": "0.05"}), Reply(content="after retry")]
    )
    with openai.OpenAI(base_url=chat_server.base_url, api_key="test", max_retries=1) as c:
        assert respond(c).output_text == "after retry"
    assert [request.path for request in chat_server.requests] == ["/v1/responses"] * 2


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_malformed_responses_bodies_reach_the_sdk(
    chat_server: ChatServer, client: openai.OpenAI, chunk_size: int | None
) -> None:
    wrong_shape = '{"id": "resp_x", "object": "response", "output": [{"type": "nonsense"}]}'
    chat_server.set_script(
        [
            Reply(raw_body="not json {", chunk_size=chunk_size),
            Reply(raw_body=wrong_shape, chunk_size=chunk_size),
            Reply(raw_body=wrong_shape.encode(), chunk_size=chunk_size),
        ]
    )
    strict = openai.OpenAI(
        base_url=chat_server.base_url,
        api_key="test",
        max_retries=0,
        _strict_response_validation=True,
    )

    with pytest.raises(json.JSONDecodeError):
        respond(client)
    with strict, pytest.raises(openai.APIResponseValidationError):
        respond(strict)
    lenient = respond(client)  # the SDK's default builds whatever it gets

    assert lenient.id == "resp_x"
    assert lenient.created_at is None


def test_a_streamed_responses_request_is_refused_without_using_the_script(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(content="the only reply")])

    with pytest.raises(openai.BadRequestError, match="streaming is not supported"):
        client.responses.create(model="m", input=INPUT_ITEMS, store=False, stream=True)

    assert respond(client).output_text == "the only reply"
    first, second = chat_server.requests
    assert (first.path, first.body["stream"]) == ("/v1/responses", True)
    assert first.streamed is None
    assert second.path == "/v1/responses"


def test_both_apis_draw_from_one_script_and_are_recorded_with_their_path(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    chat_server.set_script([Reply(content="first"), Reply(content="second"), Reply(content="3")])

    answers = [
        ask(client).choices[0].message.content,
        respond(client).output_text,
        ask(client).choices[0].message.content,
    ]

    assert answers == ["first", "second", "3"]
    recorded = chat_server.requests
    assert [r.path for r in recorded] == [
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/chat/completions",
    ]
    assert recorded[1].body["input"] == INPUT_ITEMS
    assert recorded[1].headers["authorization"] == "Bearer test"
    assert "messages" not in recorded[1].body


def test_a_callable_script_gets_the_responses_body(
    chat_server: ChatServer, client: openai.OpenAI
) -> None:
    def script(body: dict[str, Any]) -> Reply:
        if "input" in body:
            return Reply(content=f"responses {body['input'][0]['content']}")
        return Reply(content="chat")

    chat_server.set_script(script)

    assert respond(client).output_text == f"responses {USER_TEXT}"
    assert ask(client).choices[0].message.content == "chat"


def test_the_default_script_echoes_the_last_user_input(client: openai.OpenAI) -> None:
    plain = client.responses.create(model="m", input="just a string", store=False)
    items = respond(
        client,
        [
            {"role": "user", "content": "first"},
            {"type": "message", "role": "assistant", "content": "ok"},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "second question"}],
            },
        ],
    )
    assert plain.output_text == "echo: just a string"
    assert items.output_text == "echo: second question"


def test_responses_delay_drop_and_echo(chat_server: ChatServer, client: openai.OpenAI) -> None:
    chat_server.set_script(
        [
            Reply(content="too late", delay_s=30.0),
            Reply(drop_connection=True),
            Reply(content="said: ", echo_request=True, headers={"x-extra": "yes"}),
        ]
    )

    with make_client(chat_server, timeout=0.3) as c, pytest.raises(openai.APITimeoutError):
        respond(c)
    with pytest.raises(openai.APIConnectionError) as dropped:
        respond(client)
    raw = client.responses.with_raw_response.create(model="m", input="hi", store=False)

    assert not isinstance(dropped.value, openai.APITimeoutError)
    assert raw.headers["x-extra"] == "yes"
    headers_line, body_line = raw.parse().output_text.removeprefix("said: ").splitlines()
    assert json.loads(headers_line.removeprefix("request headers: "))["authorization"] == (
        "Bearer test"
    )
    assert json.loads(body_line.removeprefix("request body: "))["input"] == "hi"
    assert chat_server.errors == []
