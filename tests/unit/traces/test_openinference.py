"""The OpenInference importer on OTLP JSON documents built here (flattened span attributes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_evals.intake import capture_exchange
from incident_evals.traces import openinference, otlp
from openinference_agent_run import (
    ASK,
    GROUPS,
    LOOKUP_SCHEMA,
    SYSTEM,
    T0,
    llm_span,
    messages,
    run,
    second_span,
    tool_call,
    tool_span,
)
from otlp_fixtures import (
    TRACE_ID,
    inferred_tool,
    mutants,
    one_line_error,
    read_or_one_line_error,
    traces,
)


def test_one_call_per_llm_span_with_the_flattened_messages_unflattened() -> None:
    document = run()
    assert openinference.detect(document)
    assert not otlp.detect(document)
    first, second = openinference.read(document, "phoenix.json")

    assert first.system == SYSTEM
    assert first.messages == ({"role": "user", "content": ASK},)
    assert first.model == "gpt-4o-mini"
    assert first.params == {"temperature": 0.2, "max_tokens": 512}
    assert first.tools == (LOOKUP_SCHEMA,)
    (lookup,) = first.tool_calls
    assert (lookup.id, lookup.name, lookup.arguments) == (
        "call_1",
        "lookup_group",
        {"name": "finance"},
    )
    # The next call's conversation holds the result, under the call's id.
    assert lookup.result == GROUPS
    assert first.source.to_json() == {
        "format": "openinference",
        "file": "phoenix.json",
        "trace_id": TRACE_ID,
        "span_id": "00f067aa0ba902b7",
    }
    assert first.guesses == ()

    assert second.messages[1]["tool_calls"][0]["id"] == "call_1"
    assert second.tool_results == [{"tool_call_id": "call_1", "content": GROUPS}]
    assert second.output == "Sending it now."
    assert second.tool_calls[0].arguments == {"to": "all-staff@acme.example"}
    assert second.guesses == ()


def test_a_tool_span_without_a_call_id_gives_its_result_by_tool_name() -> None:
    document = traces(
        llm_span("00f067aa0ba902b7", T0),
        tool_span("00f067aa0ba902b8", "lookup_group", "two groups", T0 + 10**9),
    )
    (call,) = openinference.read(document, "f")
    assert call.tool_calls[0].result == "two groups"
    assert call.guesses == (
        "the result of lookup_group (call_1) was matched by tool name "
        "(the tool span's call id is missing or differs)",
    )


def test_out_of_order_spans_are_sorted_and_it_says_so() -> None:
    document = traces(second_span(T0 + 10**9), llm_span("00f067aa0ba902b7", T0))
    first, second = openinference.read(document, "f")
    assert (first.source.span_id, second.source.span_id) == ("00f067aa0ba902b7", "00f067aa0ba902b9")
    assert "the spans were out of time order in the file; sorted by start time" in second.guesses


def test_missing_tool_definitions_are_inferred_from_the_calls() -> None:
    attrs = llm_span("00f067aa0ba902b7", T0)
    attrs["attributes"] = [
        pair for pair in attrs["attributes"] if not pair["key"].startswith("llm.tools")
    ]
    (call,) = openinference.read(traces(attrs), "f")
    assert call.tools == (inferred_tool("lookup_group", "name"),)
    assert call.guesses == (
        "the trace declares no tool definitions; inferred from the calls: lookup_group",
    )


def test_double_encoded_invocation_parameters_and_numbers_as_strings() -> None:
    parameters = json.dumps(json.dumps({"temperature": "0.2", "max_completion_tokens": 512}))
    (call,) = openinference.read(
        traces(llm_span("00f067aa0ba902b7", T0, **{"llm.invocation_parameters": parameters})), "f"
    )
    assert call.params == {"temperature": 0.2, "max_tokens": 512}
    assert call.guesses == (
        "llm.invocation_parameters was JSON text inside JSON text; decoded twice",
        "llm.invocation_parameters.temperature was a string ('0.2'); read as a number",
    )


def test_structured_arguments_and_tool_results_in_user_messages() -> None:
    extra = messages(
        "llm.input_messages",
        {"role": "user", "content": ASK},
        {"role": "assistant", **tool_call(0, "call_1", "lookup_group", '{"name": "finance"}')},
        {"role": "tool", "tool_call_id": "lookup-1", "content": GROUPS},
    )
    extra["llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments"] = json.dumps(
        '{"to": "all-staff@acme.example"}'
    )
    (call,) = openinference.read(traces(second_span(T0, **extra)), "f")
    assert call.messages[-1] == {"role": "tool", "content": GROUPS, "tool_call_id": "call_1"}
    assert call.tool_calls[0].arguments == {"to": "all-staff@acme.example"}
    assert call.guesses == (
        "llm.output_messages.0: tool-call arguments were JSON text inside JSON text",
        "tool result id 'lookup-1' matches no call; read as the answer to call_1",
    )


def test_unflatten_orders_indices_as_numbers() -> None:
    flat = {f"llm.input_messages.{i}.message.content": str(i) for i in (10, 2, 1)}
    tree = openinference.unflatten(flat, "llm.input_messages")
    assert [item["message"]["content"] for item in tree] == ["1", "2", "10"]


def _one_line_error(document: Any) -> str:
    return one_line_error(openinference.read, document)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"llm.input_messages.0.message.role": 3}, "llm.input_messages.0 has no message.role"),
        ({"llm.invocation_parameters": '{"temperature": 0.'}, "not valid JSON (truncated?)"),
        ({"llm.invocation_parameters": "[1]"}, "llm.invocation_parameters is not a JSON object"),
        ({"llm.tools.0.tool.json_schema": '{"type": "function"}'}, "llm.tools[0] has no name"),
        ({"llm.output_messages.0.message.tool_calls.0.tool_call.function.name": ""}, "has no name"),
        ({"llm.input_messages.x.message.role": "user"}, "llm.input_messages is not a list"),
        ({"llm.output_messages.0.message.contents.0.other": 1}, "has no message_content"),
    ],
)
def test_bad_spans_are_one_line_errors_naming_the_span(
    extra: dict[str, Any], expected: str
) -> None:
    document = traces(llm_span("00f067aa0ba902b7", T0, **extra))
    message = _one_line_error(document)
    assert expected in message
    assert "span 00f067aa0ba902b7 ChatCompletion" in message


def test_a_tool_call_without_an_id_is_given_one_and_said() -> None:
    extra = {"llm.output_messages.0.message.tool_calls.0.tool_call.id": None}
    (call,) = openinference.read(traces(llm_span("00f067aa0ba902b7", T0, **extra)), "f")
    assert call.tool_calls[0].id == "call_00f067aa0ba902b7_lookup_group"
    assert call.guesses[0] == (
        "llm.output_messages.0: a call to lookup_group had no id; "
        "named it call_00f067aa0ba902b7_lookup_group"
    )


def test_a_file_without_llm_spans_or_not_otlp_is_an_error() -> None:
    assert "no OpenInference LLM span" in _one_line_error(traces(tool_span("aa", "x", "y", T0)))
    assert "not OTLP JSON" in _one_line_error({"spans": []})
    assert not openinference.detect({"spans": []})


def test_damaged_documents_give_calls_or_one_error_line_never_a_traceback() -> None:
    for document in mutants([run()], 2000):
        openinference.detect(document)
        read_or_one_line_error(openinference.read, document)


def test_each_call_makes_a_case_as_a_captured_exchange_does() -> None:
    first, second = openinference.read(run(), "phoenix.json")
    capture = capture_exchange(*second.chat_exchange(), "phoenix.json")
    assert capture.input["system"] == SYSTEM
    assert capture.notes == []
    assert capture.recorded_output == "Sending it now."
    assert capture.recorded_tool_calls == [
        {"name": "send_email", "arguments": {"to": "all-staff@acme.example"}}
    ]
    assert capture_exchange(*first.chat_exchange(), "phoenix.json").model == {
        "name": "gpt-4o-mini",
        "temperature": 0.2,
        "max_tokens": 512,
    }
