"""The OTLP JSON importer (OpenTelemetry GenAI semantic conventions) on documents built here."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from genai_agent_run import (
    ASK,
    GROUPS,
    SYSTEM,
    T0,
    TOOLS,
    agent_run,
    first_chat,
    lookup_call,
    second_chat,
    tool_span,
)
from incident_evals.intake import capture_exchange
from incident_evals.traces import otlp
from otlp_fixtures import (
    TRACE_ID,
    encoded,
    inferred_tool,
    log_record,
    logs,
    mutants,
    one_line_error,
    read_or_one_line_error,
    span,
    text,
    traces,
)


def test_current_form_one_call_per_chat_span_with_results_from_execute_tool_spans() -> None:
    document = agent_run()
    assert otlp.detect(document)
    first, second = otlp.read(document, "trace.json")

    assert (first.index, second.index) == (0, 1)
    assert first.system == SYSTEM
    assert first.messages == ({"role": "user", "content": ASK},)
    assert first.model == "gpt-4o-mini"
    assert first.params == {"temperature": 0.2, "max_tokens": 512}
    assert [tool["function"]["name"] for tool in first.tools] == ["lookup_group", "send_email"]
    assert first.tools[0]["function"]["parameters"]["properties"] == {"name": {"type": "string"}}
    (lookup,) = first.tool_calls
    assert (lookup.id, lookup.name, lookup.arguments, lookup.result) == (
        "call_1",
        "lookup_group",
        {"name": "finance"},
        GROUPS,
    )
    assert first.source.to_json() == {
        "format": "otlp",
        "file": "trace.json",
        "trace_id": TRACE_ID,
        "span_id": "00f067aa0ba902b7",
    }

    assert second.output == "Sending it now."
    assert second.tool_results == [{"tool_call_id": "call_1", "content": GROUPS}]
    assert second.messages[1]["tool_calls"][0]["function"] == {
        "name": "lookup_group",
        "arguments": '{"name": "finance"}',
    }
    (send,) = second.tool_calls
    assert send.arguments == {"to": "all-staff@acme.example"}
    assert send.result == "sent to 1,243 recipients"
    assert first.guesses == ()
    assert second.guesses == ()


def test_the_call_is_a_chat_completions_exchange() -> None:
    _, second = otlp.read(agent_run(), "trace.json")
    request, response = second.chat_exchange()
    assert [message["role"] for message in request["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]
    assert request["temperature"] == 0.2
    assert response["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "send_email"


def test_structured_values_read_as_json_text_does() -> None:
    structured = traces(
        span(
            "00f067aa0ba902b7",
            first_chat(
                **{
                    "gen_ai.system_instructions": [text(SYSTEM)],
                    "gen_ai.input.messages": [{"role": "user", "parts": [text(ASK)]}],
                    "gen_ai.output.messages": [{"role": "assistant", "parts": [lookup_call()]}],
                    "gen_ai.tool.definitions": TOOLS,
                }
            ),
            start=T0,
        )
    )
    (call,) = otlp.read(structured, "trace.json")
    (expected, _) = otlp.read(agent_run(), "trace.json")
    assert (call.system, call.messages, call.tools) == (
        expected.system,
        expected.messages,
        expected.tools,
    )
    assert call.tool_calls[0].arguments == {"name": "finance"}


def test_spans_out_of_time_order_are_sorted_and_it_says_so() -> None:
    document = agent_run()
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.reverse()
    first, second = otlp.read(document, "trace.json")
    assert (first.source.span_id, second.source.span_id) == ("00f067aa0ba902b7", "00f067aa0ba902b9")
    assert "the spans were out of time order in the file; sorted by start time" in first.guesses
    assert second.tool_calls[0].result == "sent to 1,243 recipients"


def test_missing_tool_definitions_are_inferred_from_the_calls() -> None:
    attrs = second_chat()
    del attrs["gen_ai.tool.definitions"]
    (call,) = otlp.read(traces(span("00f067aa0ba902b9", attrs, start=T0)), "trace.json")
    assert call.tools == (
        inferred_tool("lookup_group", "name"),
        inferred_tool("send_email", "to"),
    )
    assert call.guesses == (
        "the trace declares no tool definitions; inferred from the calls: lookup_group, send_email",
    )


def test_double_encoded_json_is_decoded_twice_and_said() -> None:
    attrs = first_chat(
        **{"gen_ai.input.messages": json.dumps(encoded([{"role": "user", "parts": [text(ASK)]}]))}
    )
    (call,) = otlp.read(traces(span("00f067aa0ba902b7", attrs, start=T0)), "trace.json")
    assert call.messages == ({"role": "user", "content": ASK},)
    assert call.guesses == ("gen_ai.input.messages was JSON text inside JSON text; decoded twice",)


def test_numbers_as_strings_are_read_as_numbers_and_said() -> None:
    attrs = first_chat(**{"gen_ai.request.temperature": "0.2", "gen_ai.request.max_tokens": "512"})
    (call,) = otlp.read(traces(span("00f067aa0ba902b7", attrs, start=T0)), "trace.json")
    assert call.params == {"temperature": 0.2, "max_tokens": 512}
    assert isinstance(call.params["max_tokens"], int)
    assert "gen_ai.request.temperature was a string ('0.2'); read as a number" in call.guesses


def test_arguments_as_objects_are_kept_as_json_text_and_said() -> None:
    output = encoded([{"role": "assistant", "parts": [lookup_call(arguments={"name": "finance"})]}])
    (call,) = otlp.read(
        traces(
            span("00f067aa0ba902b7", first_chat(**{"gen_ai.output.messages": output}), start=T0)
        ),
        "f",
    )
    assert call.tool_calls[0].arguments_raw == '{"name": "finance"}'
    assert call.guesses == (
        "gen_ai.output.messages[0]: tool-call arguments were objects, not JSON text",
    )


def _answered_by(result_message: dict[str, Any]) -> Any:
    """The second call, its conversation ending with the given tool result message."""
    messages = [
        {"role": "user", "parts": [text(ASK)]},
        {"role": "assistant", "parts": [lookup_call()]},
        result_message,
    ]
    attrs = second_chat(**{"gen_ai.input.messages": encoded(messages)})
    (call,) = otlp.read(traces(span("00f067aa0ba902b9", attrs, start=T0)), "f")
    return call


def test_tool_results_in_user_messages_become_tool_messages() -> None:
    part = {"type": "tool_call_response", "id": "call_1", "result": GROUPS}
    call = _answered_by({"role": "user", "parts": [part]})
    assert call.messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": GROUPS}
    assert call.guesses == (
        "gen_ai.input.messages[2]: tool results were in a user message; read as tool messages",
    )


def test_ids_that_do_not_match_are_paired_in_order_and_said() -> None:
    part = {"type": "tool_call_response", "id": "toolu_9", "response": GROUPS}
    call = _answered_by({"role": "tool", "parts": [part]})
    assert call.messages[-1]["tool_call_id"] == "call_1"
    assert call.guesses == (
        "tool result id 'toolu_9' matches no call; read as the answer to call_1",
    )


def test_an_execute_tool_span_with_another_id_is_matched_by_tool_name_and_said() -> None:
    document = traces(
        span("00f067aa0ba902b7", first_chat(), start=T0),
        tool_span("00f067aa0ba902b8", "lookup_group", "run-7", GROUPS, T0 + 10**9),
    )
    (call,) = otlp.read(document, "f")
    assert call.tool_calls[0].result == GROUPS
    assert call.guesses == (
        "the result of lookup_group (call_1) was matched by tool name "
        "(the tool span's call id is missing or differs)",
    )


def _event_records(span_id: str | None, t: int) -> list[dict[str, Any]]:
    return [
        log_record("gen_ai.system.message", {"content": SYSTEM}, span_id=span_id, time=t),
        log_record("gen_ai.user.message", {"content": ASK}, span_id=span_id, time=t + 1),
        log_record(
            "gen_ai.choice",
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "lookup_group",
                                "arguments": '{"name": "finance"}',
                            },
                        }
                    ]
                },
            },
            span_id=span_id,
            time=t + 2,
        ),
    ]


def test_event_form_log_records_joined_to_their_chat_span() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.seed": 7,
    }
    # The collector's file exporter writes one request per line: JSON Lines, read as a list.
    document = [
        traces(span("00f067aa0ba902b7", attrs, start=T0)),
        logs(*_event_records("00f067aa0ba902b7", T0)),
    ]
    assert otlp.detect(document)
    (call,) = otlp.read(document, "trace.jsonl")
    assert call.system == SYSTEM
    assert call.messages == ({"role": "user", "content": ASK},)
    assert call.model == "gpt-4o-mini"
    assert call.params == {"seed": 7}
    assert call.tool_calls[0].arguments == {"name": "finance"}
    assert call.output is None
    assert call.source.span_id == "00f067aa0ba902b7"
    assert call.guesses == (
        "the trace declares no tool definitions; inferred from the calls: lookup_group",
    )


def test_event_form_without_spans_one_call_per_choice() -> None:
    records = [
        *_event_records(None, T0),
        log_record("gen_ai.user.message", {"content": "And to legal?"}, span_id=None, time=T0 + 10),
        log_record(
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "message": {"content": "Which legal group?"}},
            span_id=None,
            time=T0 + 11,
        ),
    ]
    first, second = otlp.read(logs(*records), "logs.json")
    assert first.tool_calls[0].name == "lookup_group"
    assert second.messages == ({"role": "user", "content": "And to legal?"},)
    assert second.output == "Which legal group?"
    assert second.source.span_id is None


def test_event_form_as_span_events() -> None:
    events = [
        {
            "timeUnixNano": str(T0 + 1),
            "name": "gen_ai.user.message",
            "attributes": [{"key": "content", "value": {"stringValue": ASK}}],
        },
        {
            "timeUnixNano": str(T0 + 2),
            "name": "gen_ai.tool.message",
            "attributes": [
                {"key": "id", "value": {"stringValue": "call_0"}},
                {"key": "content", "value": {"stringValue": "{}"}},
            ],
        },
        {
            "timeUnixNano": str(T0 + 3),
            "name": "gen_ai.choice",
            "attributes": [
                {
                    "key": "body",
                    "value": {"stringValue": encoded({"message": {"content": "Done."}})},
                }
            ],
        },
    ]
    document = traces(
        span("00f067aa0ba902b7", {"gen_ai.operation.name": "chat"}, start=T0, events=events)
    )
    (call,) = otlp.read(document, "f")
    assert call.messages == (
        {"role": "user", "content": ASK},
        {"role": "tool", "content": "{}", "tool_call_id": "call_0"},
    )
    assert call.output == "Done."
    assert call.guesses == ("tool result id 'call_0' answers no tool call in the conversation",)


def test_proto_json_spelling_base64_ids_and_snake_case_keys() -> None:
    trace_bytes = bytes.fromhex(TRACE_ID)
    document = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": base64.b64encode(trace_bytes).decode(),
                                "span_id": base64.b64encode(
                                    bytes.fromhex("00f067aa0ba902b7")
                                ).decode(),
                                "start_time_unix_nano": str(T0),
                                "attributes": [
                                    {"key": key, "value": {"string_value": value}}
                                    for key, value in first_chat().items()
                                    if isinstance(value, str)
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    assert otlp.detect(document)
    (call,) = otlp.read(document, "f")
    assert (call.source.trace_id, call.source.span_id) == (TRACE_ID, "00f067aa0ba902b7")
    assert call.tool_calls[0].name == "lookup_group"


def test_detection_tells_otlp_from_openinference_and_from_other_json() -> None:
    assert otlp.detect(agent_run())
    openinference = traces(
        span(
            "aa",
            {"openinference.span.kind": "LLM", "llm.input_messages.0.message.role": "user"},
            start=T0,
        )
    )
    assert not otlp.detect(openinference)
    assert not otlp.detect({"request": {}, "response": {}})
    assert not otlp.detect([1, 2])
    assert not otlp.detect("resourceSpans")


def _one_line_error(document: Any) -> str:
    return one_line_error(otlp.read, document)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"request": {}}, "not OTLP JSON"),
        ({"resourceSpans": {"spans": []}}, "resourceSpans is not a list"),
        ({"resourceSpans": []}, "no GenAI model call"),
        (
            traces(span("00f067aa0ba902b7", {"gen_ai.operation.name": "chat"}, start=T0)),
            "hold no message content",
        ),
    ],
)
def test_bad_documents_are_one_line_errors(document: Any, expected: str) -> None:
    assert expected in _one_line_error(document)


def _with_attribute(key: str, raw_value: Any) -> dict[str, Any]:
    document = agent_run()
    first = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    first["attributes"] = [pair for pair in first["attributes"] if pair["key"] != key]
    first["attributes"].append({"key": key, "value": raw_value})
    return document


@pytest.mark.parametrize(
    ("key", "raw_value", "expected"),
    [
        ("gen_ai.request.max_tokens", {"intValue": "many"}, 'intValue "many" is not an integer'),
        ("gen_ai.request.model", {"stringValue": 5}, "stringValue 5 is not a string"),
        ("gen_ai.request.temperature", {"doubleValue": [1]}, "doubleValue [1] is not a number"),
        ("gen_ai.request.temperature", {"stringValue": "hot"}, "'hot' is not a number"),
        ("gen_ai.request.temperature", {"boolValue": True}, "is a boolean, not a number"),
        ("gen_ai.request.model", "gpt-4o", "not an OTLP AnyValue"),
        ("gen_ai.request.model", {"arrayValue": {"values": "x"}}, "arrayValue is not a list"),
        ("gen_ai.request.model", {"bytesValue": "%%%"}, "bytesValue is not base64"),
        ("gen_ai.request.model", {"mystery": 1}, "unknown AnyValue kind"),
        (
            "gen_ai.input.messages",
            {"stringValue": '[{"role": "user", "parts": [{"ty'},
            "not valid JSON (truncated?)",
        ),
        ("gen_ai.input.messages", {"stringValue": '{"role": "user"}'}, "is not a list of messages"),
        (
            "gen_ai.input.messages",
            {"stringValue": '[{"parts": []}]'},
            "gen_ai.input.messages[0] has no role",
        ),
        (
            "gen_ai.input.messages",
            {"stringValue": '[{"role": "user", "parts": [{}]}]'},
            "a part has no type",
        ),
        (
            "gen_ai.output.messages",
            {"stringValue": '[{"role": "assistant", "parts": [{"type": "tool_call", "id": "c"}]}]'},
            "a tool_call part has no name",
        ),
        ("gen_ai.tool.definitions", {"stringValue": '[{"type": "function"}]'}, "has no name"),
        (
            "gen_ai.input.messages",
            {"stringValue": "[" * 100_000 + "]" * 100_000},
            "nested too deeply",
        ),
    ],
)
def test_bad_attribute_values_are_one_line_errors_naming_the_span(
    key: str, raw_value: Any, expected: str
) -> None:
    message = _one_line_error(_with_attribute(key, raw_value))
    assert expected in message
    if "nested" not in message:
        assert "span 00f067aa0ba902b7 chat gpt-4o-mini" in message


def test_an_attribute_without_a_key_is_an_error_naming_the_span() -> None:
    document = agent_run()
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append({"value": {}})
    assert "attribute #" in _one_line_error(document)


def test_damaged_documents_give_calls_or_one_error_line_never_a_traceback() -> None:
    structured = {
        key: json.loads(item)
        for key, item in second_chat().items()
        if isinstance(item, str) and item[:1] in "[{"
    }
    seeds = [
        agent_run(),
        traces(span("00f067aa0ba902b9", second_chat(**structured), start=T0)),
        [
            traces(span("00f067aa0ba902b7", {"gen_ai.operation.name": "chat"}, start=T0)),
            logs(*_event_records("00f067aa0ba902b7", T0)),
        ],
        logs(*_event_records(None, T0)),
    ]
    for document in mutants(seeds, 2000):
        otlp.detect(document)
        read_or_one_line_error(otlp.read, document)


def test_each_call_makes_a_case_as_a_captured_exchange_does() -> None:
    for call in otlp.read(agent_run(), "trace.json"):
        capture = capture_exchange(*call.chat_exchange(), "trace.json")
        assert capture.input["system"] == SYSTEM
        assert [tool["name"] for tool in capture.input["tools"]] == ["lookup_group", "send_email"]
        assert capture.recorded_tool_calls == [
            {"name": record.name, "arguments": record.arguments} for record in call.tool_calls
        ]
        assert all(note.startswith("no recorded response for") for note in capture.notes)
