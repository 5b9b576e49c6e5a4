"""Format ``openai-chat``: pairs, JSONL, streams, stored completions and cassettes.

Pairs and cassette bodies are made by the real openai SDK against the scripted test server. The
server does not stream, so the streamed answers are written here, chunk by chunk as the API sends
them, and each chunk is checked against the SDK's own ``ChatCompletionChunk`` type, and the
whole stream against the SDK's own accumulator.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import openai_exchanges as ox
from incident_evals.intake import capture_exchange
from incident_evals.traces import ModelCall, TraceError
from incident_evals.traces.formats import read_calls


def write(tmp_path: Path, text: str, name: str = "trace") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream-1",
        "object": "chat.completion.chunk",
        "created": 1764720000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def streamed_tool_calls() -> list[dict[str, Any]]:
    """A streamed answer with text and two tool calls, their arguments in fragments."""
    return [
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Let me "}),
        chunk({"content": "check."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"order'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '_id": "42"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "refund", "arguments": '{"amount"'},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": ": 120}"}}]}),
        chunk({}, "tool_calls"),
        # stream_options={"include_usage": true}: a last chunk with no choices.
        {
            **chunk({}),
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29},
        },
    ]


def sse(chunks: list[dict[str, Any]], done: bool = True) -> str:
    lines = [f"data: {json.dumps(item)}\n\n" for item in chunks]
    return "".join(lines) + ("data: [DONE]\n\n" if done else "")


def test_the_stream_fixture_is_what_the_sdk_reads() -> None:
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for item in streamed_tool_calls():
        state.handle_chunk(ChatCompletionChunk.model_validate(item))
    message = state.get_final_completion().choices[0].message
    assert message.content == "Let me check."
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []] == [
        ("call_a", "lookup_order", '{"order_id": "42"}'),
        ("call_b", "refund", '{"amount": 120}'),
    ]


def only(calls: list[ModelCall]) -> ModelCall:
    assert len(calls) == 1
    return calls[0]


def test_a_pair_made_by_the_sdk_is_read_whole(tmp_path: Path) -> None:
    call = only(read_calls(write(tmp_path, json.dumps(ox.pairs()[0]))))
    assert call.source.format == "openai-chat"
    assert call.model == "gpt-4o"
    assert call.system == ox.SYSTEM
    assert call.messages == ({"role": "user", "content": ox.QUESTION},)
    assert call.tools == tuple(ox.TOOLS)
    assert [(t.id, t.name, t.arguments) for t in call.tool_calls] == [
        ("call_lookup_1", "lookup_order", {"order_id": "42"})
    ]
    assert call.output is None
    assert call.params == {"temperature": 0.2, "seed": 7}
    assert call.guesses == ()


def test_a_json_array_and_jsonl_of_pairs_read_alike(tmp_path: Path) -> None:
    pairs = ox.pairs()
    array = read_calls(write(tmp_path, json.dumps(pairs), "a"))
    lines = read_calls(write(tmp_path, ox.jsonl(pairs), "b"))
    assert [c.to_json() | {"source": None} for c in array] == [
        c.to_json() | {"source": None} for c in lines
    ]
    last = lines[1]
    assert last.output == ox.ANSWER
    assert last.tool_results == [{"tool_call_id": "call_lookup_1", "content": ox.ORDER}]
    assert [m["role"] for m in last.messages] == ["user", "assistant", "tool"]


def test_a_call_gives_back_the_exchange_a_case_is_built_from(tmp_path: Path) -> None:
    pair = ox.pairs()[1]
    call = read_calls(write(tmp_path, json.dumps(pair)))[0]
    request, response = call.chat_exchange()
    from_trace = capture_exchange(request, response, "trace")
    from_pair = capture_exchange(pair["request"], pair["response"], "pair")
    assert from_trace.input == from_pair.input
    assert from_trace.recorded_output == from_pair.recorded_output == ox.ANSWER


def test_a_streamed_answer_joins_its_text_and_tool_call_fragments(tmp_path: Path) -> None:
    call = only(read_calls(write(tmp_path, sse(streamed_tool_calls()))))
    assert call.output == "Let me check."
    assert [(t.id, t.name, t.arguments) for t in call.tool_calls] == [
        ("call_a", "lookup_order", {"order_id": "42"}),
        ("call_b", "refund", {"amount": 120}),
    ]
    assert call.model is None or call.model == "gpt-4o-2024-08-06"
    assert call.guesses == ("no request in the file: the conversation is unknown",)


def test_a_pair_whose_response_is_the_stream_keeps_the_request(tmp_path: Path) -> None:
    request = ox.pairs()[0]["request"] | {"stream": True}
    record = {"request": request, "response": sse(streamed_tool_calls())}
    call = only(read_calls(write(tmp_path, json.dumps(record))))
    assert call.system == ox.SYSTEM
    assert [t.name for t in call.tool_calls] == ["lookup_order", "refund"]
    assert call.guesses == ()
    # The chunks as a list (some loggers keep them so) read the same.
    listed = {"request": request, "response": streamed_tool_calls()}
    assert only(read_calls(write(tmp_path, json.dumps(listed), "l"))).tool_calls == call.tool_calls


def test_a_stream_cut_short_says_so(tmp_path: Path) -> None:
    call = only(read_calls(write(tmp_path, sse(streamed_tool_calls()[:5], done=False))))
    assert call.tool_calls[0].arguments is None
    assert call.tool_calls[0].arguments_raw == '{"order'
    assert "the stream has no [DONE]: the answer may have been cut short" in call.guesses
    assert "tool call 0 (lookup_order): its arguments are not a JSON object" in call.guesses


def test_a_broken_chunk_names_its_line(tmp_path: Path) -> None:
    text = sse(streamed_tool_calls()[:3]).replace('"content": "check."}', '"content": "che')
    path = write(tmp_path, text)
    with pytest.raises(TraceError, match=rf"^{path}:5: not JSON \(Expecting ',' delimiter"):
        read_calls(path)


def test_an_error_in_the_stream_is_the_error(tmp_path: Path) -> None:
    text = (
        sse(streamed_tool_calls()[:2], done=False)
        + 'data: {"error": {"message": "overloaded"}}\n\n'
    )
    path = write(tmp_path, text)
    with pytest.raises(TraceError, match=rf"^{path}:5: the stream reports an error: overloaded"):
        read_calls(path)


def test_a_stored_completion_with_and_without_its_messages(tmp_path: Path) -> None:
    completion = ox.pairs()[1]["response"]
    ChatCompletion.model_validate(completion)
    alone = only(read_calls(write(tmp_path, json.dumps(completion), "a")))
    assert alone.output == ox.ANSWER
    assert alone.model == "gpt-4o-2024-08-06"
    assert alone.guesses == ("no request in the file: the conversation is unknown",)
    # As GET /chat/completions/{id}/messages pages them, added to the completion.
    page = {
        "object": "list",
        "data": [
            {"id": "m0", "role": "system", "content": ox.SYSTEM},
            {"id": "m1", "role": "user", "content": ox.QUESTION},
        ],
    }
    stored = only(read_calls(write(tmp_path, json.dumps(completion | {"messages": page}), "b")))
    assert stored.system == ox.SYSTEM
    assert stored.messages == ({"role": "user", "content": ox.QUESTION},)
    assert stored.guesses == ()


def test_a_cassette_reads_its_chat_interactions_and_never_its_credentials(
    tmp_path: Path,
) -> None:
    listing = {
        "request": {
            "body": None,
            "headers": {"Authorization": [f"Bearer {ox.API_KEY}"]},
            "method": "GET",
            "uri": "https://api.openai.com/v1/models",
        },
        "response": {
            "body": {"string": '{"data": []}'},
            "headers": {},
            "status": {"code": 200, "message": "OK"},
        },
    }
    text = ox.cassette(ox.tool_loop(), extra=[listing])
    assert ox.API_KEY in text
    calls = read_calls(write(tmp_path, text, "cassette.yaml"))
    assert [c.output for c in calls] == [None, ox.ANSWER]
    assert calls[0].tool_calls[0].result == ox.ORDER
    assert ox.API_KEY not in json.dumps([c.to_json() for c in calls])
    assert ox.API_KEY not in json.dumps([c.chat_exchange() for c in calls])


def test_a_cassette_with_a_streamed_and_a_gzipped_body(tmp_path: Path) -> None:
    body = ox.pairs()[0]["request"] | {"stream": True}
    document = yaml.safe_load(ox.cassette([(body, sse(streamed_tool_calls()))]))
    first = only(read_calls(write(tmp_path, yaml.safe_dump(document), "s.yaml")))
    assert [t.id for t in first.tool_calls] == ["call_a", "call_b"]
    response = document["interactions"][0]["response"]
    response["body"]["string"] = gzip.compress(response["body"]["string"].encode())
    response["headers"]["Content-Encoding"] = ["gzip"]
    zipped = only(read_calls(write(tmp_path, yaml.safe_dump(document), "z.yaml")))
    assert zipped.tool_calls == first.tool_calls


def test_a_cassette_with_a_body_that_is_not_json_names_the_interaction(tmp_path: Path) -> None:
    exchanges = ox.tool_loop()
    exchanges[1] = (exchanges[1][0], "<html>502 Bad Gateway</html>")
    path = write(tmp_path, ox.cassette(exchanges))
    with pytest.raises(TraceError, match=rf"^{path}: interaction 1: response body: not JSON"):
        read_calls(path)


def test_a_failed_interaction_is_no_model_call(tmp_path: Path) -> None:
    document = yaml.safe_load(ox.cassette(ox.tool_loop()))
    document["interactions"][0]["response"]["status"] = {"code": 429, "message": "Too Many"}
    document["interactions"][0]["response"]["body"]["string"] = '{"error": {}}'
    calls = read_calls(write(tmp_path, yaml.safe_dump(document)))
    assert [c.output for c in calls] == [ox.ANSWER]


def test_what_real_producers_write_differently_is_read_and_said(tmp_path: Path) -> None:
    request: dict[str, Any] = {
        "model": "o3",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is on this receipt?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
        ],
        "functions": [{"name": "total", "parameters": {"type": "object"}}],
        "max_completion_tokens": 300,
    }
    response = {
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": None, "refusal": "I can't."}},
            {"index": 1, "message": {"role": "assistant", "content": "Total: $3"}},
        ],
    }
    call = only(read_calls(write(tmp_path, json.dumps({"request": request, "response": response}))))
    assert call.system == "Be brief."
    assert call.messages == ({"role": "user", "content": "What is on this receipt?"},)
    assert call.tools == ({"type": "function", "function": request["functions"][0]},)
    assert call.output == "I can't."
    assert call.params == {"max_tokens": 300}
    assert set(call.guesses) == {
        "the developer message is taken as the system prompt",
        "message 1: its image_url parts are dropped",
        "legacy functions are taken as tool definitions",
        "2 choices: the first is kept",
        "the model refused: its refusal is taken as the output",
        "max_completion_tokens is taken as max_tokens",
    }


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"request": {"messages": []}, "response": {"choices": []}}, "the response has no choices"),
        ({"request": {"messages": "hi"}, "response": {}}, '"messages" is a string'),
        ({"request": {"messages": []}, "response": 3}, '"response" is an integer, not an object'),
        (
            {
                "request": {"messages": []},
                "response": {"choices": [{"message": {"tool_calls": [{"function": {}}]}}]},
            },
            "tool call 0 of the answer has no function name",
        ),
    ],
)
def test_a_pair_of_the_wrong_shape_is_one_line(
    tmp_path: Path, record: dict[str, Any], problem: str
) -> None:
    path = write(tmp_path, json.dumps(record) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(TraceError) as caught:
        read_calls(path)
    assert str(caught.value).startswith(f"{path}:1: ")
    assert problem in str(caught.value)


def test_other_endpoints_of_a_cassette_are_not_read(tmp_path: Path) -> None:
    upload = {
        "request": {
            "body": "--boundary\r\nContent-Disposition: form-data; name=file\r\n\r\nPK\r\n",
            "method": "POST",
            "uri": "https://api.openai.com/v1/files",
        },
        "response": {
            "body": {"string": b"\xff\xfe not text"},
            "headers": {},
            "status": {"code": 200, "message": "OK"},
        },
    }
    text = ox.cassette(ox.tool_loop(), extra=[upload])
    calls = read_calls(write(tmp_path, text, "cassette.yaml"))
    assert [c.output for c in calls] == [None, ox.ANSWER]
