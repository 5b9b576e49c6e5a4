"""Format ``openai-responses``: Responses API pairs, streams, stored responses and cassettes.

The test server speaks Chat Completions only, so the Responses bodies and events are written
here as the API sends them; each is checked against the openai SDK's own types first.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

import openai_exchanges as ox
from incident_evals.intake import capture_exchange
from incident_evals.traces import ModelCall, TraceError
from incident_evals.traces.formats import read_calls

REFUND_ARGS = '{"amount": 120}'
TOOL = {
    "type": "function",
    "name": "lookup_order",
    "description": "Look an order up by its id",
    "parameters": ox.TOOLS[0]["function"]["parameters"],
    "strict": False,
}
REQUEST: dict[str, Any] = {
    "model": "gpt-4.1",
    "instructions": ox.SYSTEM,
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": ox.QUESTION}]},
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_lookup_1",
            "name": "lookup_order",
            "arguments": '{"order_id": "42"}',
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "call_lookup_1", "output": ox.ORDER},
    ],
    "tools": [TOOL, {"type": "web_search"}],
    "temperature": 0.2,
    "max_output_tokens": 400,
}
MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": ox.ANSWER, "annotations": []}],
}
CALL = {
    "type": "function_call",
    "id": "fc_2",
    "call_id": "call_refund_1",
    "name": "refund",
    "arguments": REFUND_ARGS,
    "status": "completed",
}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": []}


def response(output: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1764720000,
        "status": status,
        "model": "gpt-4.1-2025-04-14",
        "instructions": ox.SYSTEM,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [TOOL],
        "temperature": 0.2,
        "top_p": 1.0,
        "max_output_tokens": 400,
        "error": None,
        "incomplete_details": None,
        "metadata": {},
    }


RESPONSE = response([REASONING, MESSAGE, CALL])


def events(final: str | None = "response.completed") -> list[dict[str, Any]]:
    """The stream of :data:`RESPONSE`, as the API sends it (fewer deltas)."""
    started = response([], "in_progress")
    items: list[dict[str, Any]] = [REASONING, MESSAGE, CALL]
    found: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for n, item in enumerate(items):
        found.append({"type": "response.output_item.added", "output_index": n, "item": item})
        if item is MESSAGE:
            found.append(
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_1",
                    "output_index": n,
                    "content_index": 0,
                    "delta": ox.ANSWER,
                    "logprobs": [],
                }
            )
        if item is CALL:
            found.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": "fc_2",
                    "output_index": n,
                    "delta": REFUND_ARGS,
                }
            )
        found.append({"type": "response.output_item.done", "output_index": n, "item": item})
    if final is not None:
        status = final.removeprefix("response.")
        found.append({"type": final, "response": response(items, status)})
    return [{**event, "sequence_number": n} for n, event in enumerate(found)]


def sse(items: list[dict[str, Any]]) -> str:
    return "".join(f"event: {item['type']}\ndata: {json.dumps(item)}\n\n" for item in items)


def write(tmp_path: Path, text: str, name: str = "trace") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def only(calls: list[ModelCall]) -> ModelCall:
    assert len(calls) == 1
    return calls[0]


def test_the_fixtures_are_what_the_sdk_reads() -> None:
    Response.model_validate(RESPONSE)
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    kinds = [type(adapter.validate_python(event)).__name__ for event in events()]
    assert kinds[0] == "ResponseCreatedEvent"
    assert kinds[-1] == "ResponseCompletedEvent"
    assert "ResponseFunctionCallArgumentsDeltaEvent" in kinds


def test_a_pair_is_mapped_into_chat_shapes(tmp_path: Path) -> None:
    record = {"request": REQUEST, "response": RESPONSE}
    call = only(read_calls(write(tmp_path, json.dumps(record))))
    assert call.source.format == "openai-responses"
    assert call.model == "gpt-4.1"
    assert call.system == ox.SYSTEM
    assert call.messages == (
        {"role": "user", "content": ox.QUESTION},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_lookup_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"order_id": "42"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_lookup_1", "content": ox.ORDER},
    )
    assert call.tools == (
        {
            "type": "function",
            "function": {k: TOOL[k] for k in ("name", "description", "parameters", "strict")},
        },
    )
    assert call.params == {"temperature": 0.2, "max_tokens": 400}
    assert call.output == ox.ANSWER
    assert [(t.id, t.name, t.arguments) for t in call.tool_calls] == [
        ("call_refund_1", "refund", {"amount": 120})
    ]
    assert call.guesses == (
        "tools that are not functions are dropped: web_search",
        "output items dropped (no Chat equivalent): reasoning",
    )


def test_a_call_gives_back_a_chat_exchange_a_case_is_built_from(tmp_path: Path) -> None:
    call = only(read_calls(write(tmp_path, json.dumps({"request": REQUEST, "response": RESPONSE}))))
    capture = capture_exchange(*call.chat_exchange(), "trace")
    assert capture.input["system"] == ox.SYSTEM
    assert capture.input["tools"][0]["name"] == "lookup_order"
    assert capture.input["tools"][0]["responses"]
    assert capture.recorded_tool_calls[0]["name"] == "refund"
    assert capture.model == {"name": "gpt-4.1", "temperature": 0.2, "max_tokens": 400}


def test_jsonl_of_pairs_links_a_call_to_its_result_by_call_id(tmp_path: Path) -> None:
    first_request = {**REQUEST, "input": REQUEST["input"][:1]}
    first_response = response([{**CALL, "call_id": "call_lookup_1", "name": "lookup_order"}])
    records = [
        {"request": first_request, "response": first_response},
        {"request": REQUEST, "response": RESPONSE},
    ]
    calls = read_calls(write(tmp_path, ox.jsonl(records)))
    assert [c.index for c in calls] == [0, 1]
    assert calls[0].tool_calls[0].result == ox.ORDER


def test_a_stream_reads_as_its_completed_response(tmp_path: Path) -> None:
    streamed = only(read_calls(write(tmp_path, sse(events()))))
    assert streamed.output == ox.ANSWER
    assert streamed.tool_calls[0].name == "refund"
    # The response echoes its instructions and tools; the input is not in a stream.
    assert streamed.system == ox.SYSTEM
    assert streamed.tools[0]["function"]["name"] == "lookup_order"
    assert streamed.messages == ()
    assert "no request in the file: the input is unknown" in streamed.guesses
    # Events as a list, the response of a pair, read the same.
    listed = {"request": REQUEST, "response": events()}
    pair = only(read_calls(write(tmp_path, json.dumps(listed), "l")))
    assert (pair.output, pair.tool_calls) == (streamed.output, streamed.tool_calls)


def test_a_stream_cut_short_is_read_from_its_done_items(tmp_path: Path) -> None:
    call = only(read_calls(write(tmp_path, sse(events(final=None)))))
    assert call.output == ox.ANSWER
    assert [t.name for t in call.tool_calls] == ["refund"]
    assert (
        "the stream has no response.completed: the answer may have been cut short" in call.guesses
    )


def test_an_incomplete_stream_says_so(tmp_path: Path) -> None:
    call = only(read_calls(write(tmp_path, sse(events(final="response.incomplete")))))
    assert "the stream ends with response.incomplete: the answer is not complete" in call.guesses


def test_a_broken_event_names_its_line(tmp_path: Path) -> None:
    text = sse(events()).replace('"delta": "Your', '"delta": Your', 1)
    path = write(tmp_path, text)
    line = text[: text.index('"delta": Your')].count("\n") + 1
    with pytest.raises(TraceError, match=rf"^{path}:{line}: not JSON \(Expecting value"):
        read_calls(path)


def test_an_error_event_is_the_error(tmp_path: Path) -> None:
    error = {"type": "error", "code": "server_error", "message": "try again", "sequence_number": 2}
    path = write(tmp_path, sse([*events()[:2], error]))
    with pytest.raises(TraceError, match=rf"^{path}:8: the stream reports an error: try again"):
        read_calls(path)


def test_a_stored_response_alone(tmp_path: Path) -> None:
    call = only(read_calls(write(tmp_path, json.dumps(RESPONSE))))
    assert call.system == ox.SYSTEM
    assert call.params == {"temperature": 0.2, "top_p": 1.0, "max_tokens": 400}
    assert call.model == "gpt-4.1-2025-04-14"
    assert call.messages == ()


def test_a_cassette_of_responses_never_keeps_its_credentials(tmp_path: Path) -> None:
    streamed_request = {**REQUEST, "stream": True}
    text = ox.cassette(
        [(REQUEST, json.dumps(RESPONSE)), (streamed_request, sse(events()))], path="/v1/responses"
    )
    calls = read_calls(write(tmp_path, text, "cassette.yaml"))
    assert [c.output for c in calls] == [ox.ANSWER, ox.ANSWER]
    assert calls[1].messages == calls[0].messages
    assert ox.API_KEY in text
    assert ox.API_KEY not in json.dumps([c.to_json() for c in calls])


def test_a_cassette_body_that_is_not_json_names_its_interaction(tmp_path: Path) -> None:
    path = write(tmp_path, ox.cassette([(REQUEST, "upstream timeout")], path="/v1/responses"))
    with pytest.raises(TraceError, match=rf"^{path}: interaction 0: response body: not JSON"):
        read_calls(path)


def test_what_real_producers_write_differently_is_read_and_said(tmp_path: Path) -> None:
    request = {
        "model": "gpt-4.1",
        "previous_response_id": "resp_0",
        "input": [
            {"role": "developer", "content": "Answer in French."},
            {"type": "message", "role": "user", "content": "Bonjour?"},
            {"type": "item_reference", "id": "msg_0"},
        ],
    }
    refused = response(
        [{**MESSAGE, "content": [{"type": "refusal", "refusal": "Je ne peux pas."}]}]
    )
    call = only(read_calls(write(tmp_path, json.dumps({"request": request, "response": refused}))))
    assert call.system == "Answer in French."
    assert call.messages == ({"role": "user", "content": "Bonjour?"},)
    assert call.output == "Je ne peux pas."
    assert set(call.guesses) == {
        "previous_response_id resp_0: the turns before are held by OpenAI, not in this call",
        "the developer message is taken as the system prompt",
        "input items dropped (no Chat equivalent): item_reference",
        "the model refused: its refusal is taken as the output",
    }


def test_input_as_one_string_is_the_user_message(tmp_path: Path) -> None:
    record = {"request": {"model": "m", "input": "Hi"}, "response": response([MESSAGE])}
    assert only(read_calls(write(tmp_path, json.dumps(record)))).messages == (
        {"role": "user", "content": "Hi"},
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"input": 3}, '"input" is an integer'),
        ({"input": [{"type": "function_call", "arguments": "{}"}]}, "(function_call) has no name"),
        ({"tools": "all"}, '"tools" is a string'),
    ],
)
def test_a_request_of_the_wrong_shape_is_one_line(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    record = {"request": {**copy.deepcopy(REQUEST), **change}, "response": RESPONSE}
    path = write(tmp_path, json.dumps([record]))
    with pytest.raises(TraceError) as caught:
        read_calls(path)
    assert str(caught.value).startswith(f"{path}: record 0: ")
    assert problem in str(caught.value)


def test_a_response_without_output_is_one_line(tmp_path: Path) -> None:
    record = {"request": REQUEST, "response": {"object": "response", "id": "resp_1"}}
    path = write(tmp_path, json.dumps(record))
    with pytest.raises(TraceError, match=rf'^{path}: the response has no "output" list$'):
        read_calls(path)


def test_chat_and_responses_pairs_are_told_apart(tmp_path: Path) -> None:
    chat = read_calls(write(tmp_path, json.dumps(ox.pairs()[0]), "chat"))
    responses = read_calls(write(tmp_path, json.dumps({"request": REQUEST, "response": RESPONSE})))
    assert (chat[0].source.format, responses[0].source.format) == (
        "openai-chat",
        "openai-responses",
    )
