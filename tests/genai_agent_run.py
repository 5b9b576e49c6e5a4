"""An agent's run as OpenTelemetry GenAI spans (the current, span-attribute form), built here:
MailPilot looks a mail group up, then sends the draft to all staff."""

from __future__ import annotations

from typing import Any

from otlp_fixtures import encoded, span, text, traces

T0 = 1_760_000_000_000_000_000
SYSTEM = "You are MailPilot. Resolve group names with lookup_group before sending."
ASK = "Send the Q3 forecast draft to the finance team"
TOOLS = [
    {
        "type": "function",
        "name": "lookup_group",
        "description": "Find mail groups by name",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
    {
        "type": "function",
        "name": "send_email",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
    },
]
GROUPS = '[{"address": "all-staff@acme.example"}, {"address": "finance@acme.example"}]'


def lookup_call(arguments: Any = '{"name": "finance"}', call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": "lookup_group", "arguments": arguments}


def first_chat(**overrides: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.system_instructions": encoded([text(SYSTEM)]),
        "gen_ai.input.messages": encoded([{"role": "user", "parts": [text(ASK)]}]),
        "gen_ai.output.messages": encoded(
            [{"role": "assistant", "parts": [lookup_call()], "finish_reason": "tool_call"}]
        ),
        "gen_ai.tool.definitions": encoded(TOOLS),
    }
    attrs.update(overrides)
    return attrs


def second_chat(**overrides: Any) -> dict[str, Any]:
    attrs = first_chat(
        **{
            "gen_ai.input.messages": encoded(
                [
                    {"role": "user", "parts": [text(ASK)]},
                    {"role": "assistant", "parts": [lookup_call()]},
                    {
                        "role": "tool",
                        "parts": [
                            {"type": "tool_call_response", "id": "call_1", "response": GROUPS}
                        ],
                    },
                ]
            ),
            "gen_ai.output.messages": encoded(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            text("Sending it now."),
                            {
                                "type": "tool_call",
                                "id": "call_2",
                                "name": "send_email",
                                "arguments": '{"to": "all-staff@acme.example"}',
                            },
                        ],
                        "finish_reason": "tool_call",
                    }
                ]
            ),
        }
    )
    attrs.update(overrides)
    return attrs


def tool_span(span_id: str, name: str, call_id: str, result: str, start: int) -> dict[str, Any]:
    return span(
        span_id,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.call.result": result,
        },
        name=f"execute_tool {name}",
        start=start,
    )


def agent_run(**second: Any) -> dict[str, Any]:
    return traces(
        span("00f067aa0ba902b7", first_chat(), start=T0),
        tool_span("00f067aa0ba902b8", "lookup_group", "call_1", GROUPS, T0 + 10**9),
        span("00f067aa0ba902b9", second_chat(**second), start=T0 + 2 * 10**9),
        tool_span(
            "00f067aa0ba902ba", "send_email", "call_2", "sent to 1,243 recipients", T0 + 3 * 10**9
        ),
    )
