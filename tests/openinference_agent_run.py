"""An agent's run as OpenInference spans (flattened attributes), built here: MailPilot looks a
mail group up, then sends the draft to all staff."""

from __future__ import annotations

import json
from typing import Any

from otlp_fixtures import span, traces

T0 = 1_760_000_000_000_000_000
SYSTEM = "You are MailPilot. Resolve group names with lookup_group before sending."
ASK = "Send the Q3 forecast draft to the finance team"
GROUPS = '[{"address": "all-staff@acme.example"}, {"address": "finance@acme.example"}]'
LOOKUP_SCHEMA = {
    "type": "function",
    "function": {
        "name": "lookup_group",
        "description": "Find mail groups by name",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
}


def messages(prefix: str, *entries: dict[str, Any]) -> dict[str, Any]:
    """Messages flattened as OpenInference writes them."""
    flat: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        for key, item in entry.items():
            flat[f"{prefix}.{i}.message.{key}"] = item
    return flat


def tool_call(k: int, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        f"tool_calls.{k}.tool_call.id": call_id,
        f"tool_calls.{k}.tool_call.function.name": name,
        f"tool_calls.{k}.tool_call.function.arguments": arguments,
    }


def llm_span(span_id: str, start: int, **extra: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.model_name": "gpt-4o-mini",
        "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 512}),
        "llm.tools.0.tool.json_schema": json.dumps(LOOKUP_SCHEMA),
        "input.value": "{...}",
        "input.mime_type": "application/json",
        **messages(
            "llm.input_messages",
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": ASK},
        ),
        **messages(
            "llm.output_messages",
            {"role": "assistant", **tool_call(0, "call_1", "lookup_group", '{"name": "finance"}')},
        ),
    }
    attrs.update(extra)
    return span(span_id, attrs, start=start, name="ChatCompletion")


def second_span(start: int, **extra: Any) -> dict[str, Any]:
    attrs = {
        **messages(
            "llm.input_messages",
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": ASK},
            {"role": "assistant", **tool_call(0, "call_1", "lookup_group", '{"name": "finance"}')},
            {"role": "tool", "tool_call_id": "call_1", "content": GROUPS},
        ),
        **messages(
            "llm.output_messages",
            {
                "role": "assistant",
                "contents.0.message_content.type": "text",
                "contents.0.message_content.text": "Sending it now.",
                **tool_call(0, "call_2", "send_email", '{"to": "all-staff@acme.example"}'),
            },
        ),
        **extra,
    }
    return llm_span("00f067aa0ba902b9", start, **attrs)


def tool_span(span_id: str, name: str, result: str, start: int) -> dict[str, Any]:
    attrs = {
        "openinference.span.kind": "TOOL",
        "tool.name": name,
        "input.value": "{}",
        "output.value": result,
    }
    return span(span_id, attrs, start=start, name=name)


def run() -> dict[str, Any]:
    return traces(
        llm_span("00f067aa0ba902b7", T0),
        tool_span("00f067aa0ba902b8", "lookup_group", GROUPS, T0 + 10**9),
        second_span(T0 + 2 * 10**9),
        scope="openinference.instrumentation.openai",
    )
