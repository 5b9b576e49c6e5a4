"""The OTLP importer on OpenLLMetry's (Traceloop's) indexed attributes, in files built here as
its OpenAI instrumentation writes a chat span: ``gen_ai.prompt.N.*``, ``gen_ai.completion.N.*``
and ``llm.request.functions.N.*``, with no ``gen_ai.operation.name``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_evals.traces import otlp
from otlp_fixtures import (
    TRACE_ID,
    mutants,
    one_line_error,
    read_or_one_line_error,
    span,
    traces,
)

T0 = 1_760_000_000_000_000_000
SYSTEM = "You are MailPilot. Resolve group names with lookup_group before sending."
ASK = "Send the Q3 forecast to the finance team"
GROUPS = '[{"address": "finance@acme.example"}]'
LOOKUP_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}
SECRET = "sk-live-0123456789abcdefghijklmnop"


def request_attributes() -> dict[str, Any]:
    """What the instrumentation sets on every chat span before the call."""
    return {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 300,
        "llm.frequency_penalty": 0.5,
        # The request's extra headers, as Python's str() of them: never to be copied.
        "llm.headers": f"{{'Authorization': 'Bearer {SECRET}'}}",
        "llm.is_streaming": False,
        "gen_ai.openai.api_base": "https://api.openai.com/v1/",
        "llm.request.functions.0.name": "lookup_group",
        "llm.request.functions.0.description": "Find mail groups by name",
        "llm.request.functions.0.parameters": json.dumps(LOOKUP_SCHEMA),
        # A tool declared without parameters: json.dumps(None).
        "llm.request.functions.1.name": "send_email",
        "llm.request.functions.1.parameters": "null",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": SYSTEM,
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": ASK,
    }


def response_attributes(response_id: str) -> dict[str, Any]:
    return {
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": response_id,
        "llm.usage.total_tokens": 120,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
    }


def asks_lookup(prefix: str) -> dict[str, Any]:
    """An assistant message asking for ``lookup_group``, under ``prefix`` (``gen_ai.prompt.2``)."""
    return {
        f"{prefix}.role": "assistant",
        f"{prefix}.tool_calls.0.id": "call_1",
        f"{prefix}.tool_calls.0.name": "lookup_group",
        f"{prefix}.tool_calls.0.arguments": '{"name": "finance"}',
    }


def first_chat(**overrides: Any) -> dict[str, Any]:
    attrs = {
        **request_attributes(),
        **response_attributes("chatcmpl-1"),
        "gen_ai.completion.0.finish_reason": "tool_calls",
        **asks_lookup("gen_ai.completion.0"),
    }
    attrs.update(overrides)
    return attrs


def second_chat(**overrides: Any) -> dict[str, Any]:
    attrs = {
        **request_attributes(),
        **asks_lookup("gen_ai.prompt.2"),
        "gen_ai.prompt.3.role": "tool",
        "gen_ai.prompt.3.content": GROUPS,
        "gen_ai.prompt.3.tool_call_id": "call_1",
        **response_attributes("chatcmpl-2"),
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Sent to finance@acme.example.",
    }
    attrs.update(overrides)
    return attrs


def tool_loop(**overrides: Any) -> dict[str, Any]:
    return traces(
        span("00f067aa0ba902b7", first_chat(**overrides), start=T0, name="openai.chat"),
        span("00f067aa0ba902b8", second_chat(), start=T0 + 10**9, name="openai.chat"),
        scope="opentelemetry.instrumentation.openai.v1",
    )


def one_chat(attrs: dict[str, Any]) -> dict[str, Any]:
    return traces(span("00f067aa0ba902b7", attrs, start=T0, name="openai.chat"))


def test_a_tool_loop_reads_as_two_calls() -> None:
    document = tool_loop()
    assert otlp.detect(document)
    first, second = otlp.read(document, "trace.json")

    for call in (first, second):
        assert call.model == "gpt-4o-mini"
        assert call.system == SYSTEM
        assert call.params == {"temperature": 0.2, "max_tokens": 300, "frequency_penalty": 0.5}
        assert call.tools == (
            {
                "type": "function",
                "function": {
                    "name": "lookup_group",
                    "description": "Find mail groups by name",
                    "parameters": LOOKUP_SCHEMA,
                },
            },
            {
                "type": "function",
                "function": {"name": "send_email", "parameters": {"type": "object"}},
            },
        )
        assert call.guesses == ()
    assert (first.source.trace_id, first.source.span_id) == (TRACE_ID, "00f067aa0ba902b7")
    assert first.messages == ({"role": "user", "content": ASK},)
    assert first.output is None
    [record] = first.tool_calls
    assert (record.id, record.name, record.arguments) == (
        "call_1",
        "lookup_group",
        {"name": "finance"},
    )
    assert record.arguments_raw == '{"name": "finance"}'
    assert record.result == GROUPS

    assert second.messages == (
        {"role": "user", "content": ASK},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_group", "arguments": '{"name": "finance"}'},
                }
            ],
        },
        {"role": "tool", "content": GROUPS, "tool_call_id": "call_1"},
    )
    assert second.tool_calls == ()
    assert second.output == "Sent to finance@acme.example."


def test_the_request_headers_are_never_copied() -> None:
    for call in otlp.read(tool_loop(), "trace.json"):
        assert SECRET not in json.dumps(call.to_json())
        assert SECRET not in json.dumps(call.chat_exchange())


def test_content_parts_written_as_json_text_are_read_as_parts_and_said() -> None:
    parts = [
        {"type": "text", "text": ASK},
        {"type": "image_url", "image_url": {"url": "https://img.example/q3.png"}},
    ]
    [call] = otlp.read(one_chat(first_chat(**{"gen_ai.prompt.1.content": json.dumps(parts)})), "f")

    assert call.messages == ({"role": "user", "content": ASK},)
    assert call.guesses == (
        "gen_ai.prompt.1.content was JSON text of content parts; read as the parts",
        "dropped a image_url part of gen_ai.prompt.1: only text is replayed",
    )


def test_json_text_that_is_not_parts_stays_text() -> None:
    [call] = otlp.read(one_chat(first_chat(**{"gen_ai.prompt.1.content": GROUPS})), "f")
    assert call.messages == ({"role": "user", "content": GROUPS},)
    assert call.guesses == ()


def test_several_completions_keep_the_first_and_say_so() -> None:
    attrs = second_chat(
        **{
            "gen_ai.completion.1.finish_reason": "stop",
            "gen_ai.completion.1.role": "assistant",
            "gen_ai.completion.1.content": "Another answer",
        }
    )
    [call] = otlp.read(one_chat(attrs), "f")
    assert call.output == "Sent to finance@acme.example."
    assert call.guesses == ("2 completions (choices); kept the first",)


def test_a_refusal_is_the_answer_and_said() -> None:
    attrs = second_chat(**{"gen_ai.completion.0.refusal": "I can't send that."})
    del attrs["gen_ai.completion.0.content"]
    [call] = otlp.read(one_chat(attrs), "f")
    assert call.output == "I can't send that."
    assert call.guesses == ("gen_ai.completion.0 is a refusal; read its text as the answer",)


def test_a_filtered_answer_is_kept_as_written_and_said() -> None:
    attrs = second_chat(
        **{
            "gen_ai.completion.0.finish_reason": "content_filter",
            "gen_ai.completion.0.content": "FILTERED",
        }
    )
    [call] = otlp.read(one_chat(attrs), "f")
    assert call.output == "FILTERED"
    assert call.guesses == (
        "gen_ai.completion.0 was filtered (finish_reason content_filter); kept as written",
    )


def test_named_entries_beside_the_numbered_ones_are_not_messages() -> None:
    attrs = first_chat(
        **{
            "gen_ai.prompt.prompt_filter_results": '[{"prompt_index": 0}]',
            "gen_ai.prompt": "a value of its own",
        }
    )
    [call] = otlp.read(one_chat(attrs), "f")
    assert call.messages == ({"role": "user", "content": ASK},)


def test_without_tools_declared_they_are_inferred_and_said() -> None:
    attrs = {
        key: v for key, v in first_chat().items() if not key.startswith("llm.request.functions")
    }
    [call] = otlp.read(one_chat(attrs), "f")
    assert [tool["function"]["name"] for tool in call.tools] == ["lookup_group"]
    assert call.guesses == (
        "the trace declares no tool definitions; inferred from the calls: lookup_group",
    )


def test_a_span_without_the_request_type_is_read_as_a_chat_call_and_said() -> None:
    attrs = first_chat()
    del attrs["llm.request.type"]
    [call] = otlp.read(one_chat(attrs), "f")
    assert call.guesses == ("the span names no gen_ai.operation.name; read as a chat call",)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"gen_ai.prompt.1.role": None}, "gen_ai.prompt.1 has no role"),
        ({"gen_ai.prompt.1": "hello"}, "gen_ai.prompt.1 is not a message"),
        (
            {"gen_ai.completion.0.tool_calls": "lookup_group"},
            "gen_ai.completion.0.tool_calls is not numbered",
        ),
        (
            {"gen_ai.completion.0.tool_calls.0.name": None},
            "a tool_call part has no name",
        ),
        ({"llm.request.functions.0.parameters": '{"type": '}, "not valid JSON (truncated?)"),
        ({"llm.request.functions.0.name": None}, "llm.request.functions[0] has no name"),
    ],
)
def test_bad_attributes_are_one_line_errors_naming_the_span(
    change: dict[str, Any], expected: str
) -> None:
    attrs = first_chat()
    for key, value in change.items():
        if value is None:
            del attrs[key]
        else:
            # A key set both as a value and as a branch: keep only the value.
            attrs = {k: v for k, v in attrs.items() if not k.startswith(key + ".")}
            attrs[key] = value
    message = one_line_error(otlp.read, one_chat(attrs))
    assert expected in message
    assert "span 00f067aa0ba902b7 openai.chat" in message


def test_damaged_documents_give_calls_or_one_error_line_never_a_traceback() -> None:
    for document in mutants([tool_loop(), one_chat(second_chat())], 1500):
        otlp.detect(document)
        read_or_one_line_error(otlp.read, document)
