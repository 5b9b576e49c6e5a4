"""Chat Completions <-> Responses (``incident_evals.responses_api``): requests as the SDK types
them, answers as the SDK parses them, read into what the replay reads; malformed answers are one
line each, never an output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.responses import FunctionToolParam, Response, ResponseInputParam
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
from pydantic import TypeAdapter

from incident_evals.case import CaseInput, Incident, IncidentCase, RecordedResponse, Runs, Tool
from incident_evals.client import MalformedAnswer
from incident_evals.replay import build_request, read_answer, replay
from incident_evals.responses_api import ResponsesCompleter, chat_answer, responses_request

TOOL = Tool(
    name="lookup_order",
    description="Look an order up.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
    responses=(
        RecordedResponse(when={"order_id": "A1"}, output={"status": "shipped"}),
        RecordedResponse(when=None, output={"error": "not found"}),
    ),
)


def make_case(**model: Any) -> IncidentCase:
    return IncidentCase(
        id="INC-R",
        incident=Incident(category="autonomy", severity="major"),
        input=CaseInput(
            messages=({"role": "user", "content": "Where is order A1?"},),
            system="Be exact.",
            tools=(TOOL,),
        ),
        expect=(),
        path=Path("case.yaml"),
        line=1,
        model={"temperature": 0.2, "max_tokens": 64, "seed": 7, "stop": ["END"], **model},
        runs=Runs(max_turns=3),
    )


def response(*output: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A Responses answer as OpenAI sends it (checked against the SDK's own model)."""
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": "gpt-test",
        "status": "completed",
        "output": list(output),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 11,
            "output_tokens": 5,
            "total_tokens": 16,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
        **fields,
    }
    return body


def message(*parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": list(parts),
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "output_text", "text": value, "annotations": []}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def sdk_parses(body: dict[str, Any]) -> Response:
    return Response.model_validate(body)


# --- requests --------------------------------------------------------------------------------


def test_the_first_request_becomes_instructions_input_and_flat_tools() -> None:
    chat = build_request(make_case(), "gpt-test")
    sent = responses_request(chat)
    assert sent == {
        "model": "gpt-test",
        "instructions": "Be exact.",
        "input": [{"role": "user", "content": "Where is order A1?"}],
        "tools": [
            {
                "type": "function",
                "name": "lookup_order",
                "description": "Look an order up.",
                "parameters": TOOL.parameters,
                "strict": False,
            }
        ],
        "tool_choice": "auto",
        "temperature": 0.2,
        "max_output_tokens": 64,
        "store": False,
    }
    # seed and stop have no Responses field: left out, never sent under another name.
    assert "seed" not in sent
    assert "stop" not in sent
    TypeAdapter(ResponseCreateParamsNonStreaming).validate_python(sent)
    TypeAdapter(list[FunctionToolParam]).validate_python(sent["tools"])


def test_a_tool_loop_becomes_function_call_items_keyed_by_call_id() -> None:
    chat = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Rules."},
            {"role": "system", "content": [{"type": "text", "text": "Documents."}]},
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": '{"order_id":"A1"}'},
                    },
                    {"id": "c2", "type": "function", "function": {"name": "x", "arguments": {}}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
            {"role": "tool", "tool_call_id": "c2", "content": '{"error": "not found"}'},
            {"role": "assistant", "content": "Shipped."},
            {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
        ],
        "tool_choice": {"type": "function", "function": {"name": "lookup_order"}},
        "max_completion_tokens": 9,
    }
    sent = responses_request(chat)
    assert sent["instructions"] == "Rules.\n\nDocuments."
    assert sent["input"] == [
        {"role": "user", "content": "q"},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "lookup_order",
            "arguments": '{"order_id":"A1"}',
        },
        {"type": "function_call", "call_id": "c2", "name": "x", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": '{"status": "shipped"}'},
        {"type": "function_call_output", "call_id": "c2", "output": '{"error": "not found"}'},
        {"role": "assistant", "content": "Shipped."},
        {"role": "user", "content": [{"type": "input_text", "text": "thanks"}]},
    ]
    assert sent["tool_choice"] == {"type": "function", "name": "lookup_order"}
    assert sent["max_output_tokens"] == 9
    assert sent["store"] is False
    assert "previous_response_id" not in sent
    TypeAdapter(ResponseInputParam).validate_python(sent["input"])
    TypeAdapter(ResponseCreateParamsNonStreaming).validate_python(sent)


# --- answers ---------------------------------------------------------------------------------


def test_text_parts_join_into_the_content_and_usage_is_renamed() -> None:
    body = response(
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}]},
        message(text("Order A1 "), text("shipped.")),
    )
    sdk_parses(body)
    answer = chat_answer(body)
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Order A1 shipped.",
        "refusal": None,
        "reasoning_content": "hm",
    }
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    assert answer["model"] == "gpt-test"
    read = read_answer(answer)
    # Reasoning is never the output.
    assert read.text == "Order A1 shipped."
    assert read.usage == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}


def test_function_calls_become_tool_calls_with_the_call_id() -> None:
    body = response(call("call_9", "lookup_order", '{"order_id": "A1"}'))
    sdk_parses(body)
    answer = chat_answer(body)
    assert answer["choices"][0]["message"]["tool_calls"] == [
        {
            "id": "call_9",
            "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order_id": "A1"}'},
        }
    ]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    read = read_answer(answer)
    assert [(c.id, c.name, c.arguments_raw) for c in read.calls] == [
        ("call_9", "lookup_order", '{"order_id": "A1"}')
    ]


def test_a_refusal_is_read_as_the_chat_path_reads_one() -> None:
    body = response(message({"type": "refusal", "refusal": "I can't help with that."}))
    sdk_parses(body)
    answer = chat_answer(body)
    assert answer["choices"][0]["message"]["refusal"] == "I can't help with that."
    assert answer["choices"][0]["message"]["content"] is None
    chat_form = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": "I can't help with that.",
                },
                "finish_reason": "stop",
            }
        ]
    }
    assert read_answer(answer).text == read_answer(chat_form).text


@pytest.mark.parametrize(
    ("reason", "finish_reason"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter")],
)
def test_an_incomplete_answer_finishes_as_chat_says_it(reason: str, finish_reason: str) -> None:
    body = response(
        message(text("Order A1 is")),
        status="incomplete",
        incomplete_details={"reason": reason},
    )
    sdk_parses(body)
    assert chat_answer(body)["choices"][0]["finish_reason"] == finish_reason


def test_the_tool_loop_over_responses_answers_from_the_recorded_responses() -> None:
    sent: list[dict[str, Any]] = []
    answers = iter(
        [
            response(call("call_a", "lookup_order", '{"order_id": "A1"}')),
            response(message(text("It shipped."))),
        ]
    )

    class Endpoint:
        source = "the scripted endpoint"

        def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
            sent.append(json.loads(json.dumps(request)))
            return next(answers), 0.01

    transcript = replay(make_case(), ResponsesCompleter(Endpoint()), "gpt-test")
    assert transcript.final_text == "It shipped."
    assert [(c.id, c.output) for c in transcript.tool_calls] == [("call_a", {"status": "shipped"})]
    # The second turn sends the whole conversation again: nothing is kept on the server.
    assert sent[1]["input"] == [
        {"role": "user", "content": "Where is order A1?"},
        {
            "type": "function_call",
            "call_id": "call_a",
            "name": "lookup_order",
            "arguments": '{"order_id": "A1"}',
        },
        {"type": "function_call_output", "call_id": "call_a", "output": '{"status": "shipped"}'},
    ]
    assert all(request["store"] is False for request in sent)
    assert all("previous_response_id" not in request for request in sent)
    for request in sent:
        TypeAdapter(ResponseCreateParamsNonStreaming).validate_python(request)


# --- malformed answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "the answer is an array, expected an object"),
        (
            {"error": {"message": "model overloaded"}},
            "it holds an error, not a response: 'model overloaded'",
        ),
        (
            response(status="failed", error=None),
            "status is 'failed', expected completed or incomplete",
        ),
        ({"status": "completed"}, "output is missing"),
        (response(), "output is empty"),
        (
            response(status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
            "output is empty (status incomplete: 'max_output_tokens')",
        ),
        ({"output": {}}, "output is an object, expected an array"),
        ({"output": ["x"]}, "output[0] is a string, expected an output item (an object)"),
        ({"output": [{"id": "x"}]}, "output[0].type is null, expected a string"),
        (
            {"output": [message(text("a")), {"type": "function_call", "name": "f"}]},
            "output[1].call_id is missing",
        ),
        (
            {"output": [{"type": "function_call", "call_id": "c", "name": 3}]},
            "output[0].name is an integer, expected a string",
        ),
        (
            {"output": [{"type": "web_search_call", "id": "ws"}]},
            "output[0].type is 'web_search_call', expected message, function_call or reasoning",
        ),
        (
            {"output": [message({"type": "output_audio", "data": ""})]},
            "output[0].content[0].type is 'output_audio', expected output_text or refusal",
        ),
        (
            {"output": [message({"type": "output_text"})]},
            "output[0].content[0].text is null, expected a string",
        ),
        ({"output": [{"type": "message"}]}, "output[0].content is missing"),
        (
            {"output": [{"type": "reasoning", "summary": []}]},
            "output has no text, function call or refusal",
        ),
        (
            {"output": [message(text("a"))], "usage": {"input_tokens": -1}},
            "usage.input_tokens is -1, expected a whole number of tokens",
        ),
        (
            {"output": [message(text("a"))], "model": 5},
            "model is an integer, expected a string or null",
        ),
    ],
)
def test_a_malformed_answer_is_one_line_naming_the_field(body: Any, problem: str) -> None:
    with pytest.raises(MalformedAnswer) as caught:
        chat_answer(body, "the endpoint")
    message_text = str(caught.value)
    assert message_text == f"malformed answer from the endpoint: {problem}"
    assert "\n" not in message_text


def test_a_malformed_answer_is_never_a_pass() -> None:
    """Whatever the replay would read from it, a malformed answer is an error, not an output."""

    class Broken:
        source = "the endpoint"

        def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
            return response(), 0.0

    with pytest.raises(MalformedAnswer, match=r"^malformed answer from the endpoint: output is"):
        replay(make_case(), ResponsesCompleter(Broken()), "m")
