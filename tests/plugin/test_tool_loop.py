"""The tool loop (SPEC §3): recorded responses answer the model's calls; nothing runs for real."""

from __future__ import annotations

import json
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

EMAIL_TOOLS = [
    {
        "name": "lookup_group",
        "description": "Find a mailing list.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        "responses": [
            {"when": {"query": "finance"}, "output": {"address": "finance@acme.example"}},
            {"output": {"address": "all-staff@acme.example"}},
        ],
    },
    {
        "name": "send_email",
        "description": "Send an email.",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
        "responses": [{"when": {"to": "finance@acme.example"}, "output": {"status": "sent"}}],
    },
]


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def test_recorded_responses_answer_tool_calls(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/agent.yaml",
        case_data(
            "INC-AGENT",
            category="autonomy",
            input={"tools": EMAIL_TOOLS},
            expect=[{"contains": "sent to finance"}],
        ),
    )
    chat_server.set_script(
        [
            Reply(tool_calls=[{"name": "lookup_group", "arguments": {"query": "finance"}}]),
            Reply(
                tool_calls=[
                    {"name": "send_email", "arguments": {"to": "finance@acme.example"}},
                    {"name": "send_email", "arguments": {"to": "ceo@acme.example"}},
                    {"name": "delete_all", "arguments": "{}"},
                ]
            ),
            Reply(content="Draft sent to finance."),
        ]
    )

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1)
    requests = [r.body for r in chat_server.requests]
    assert len(requests) == 3
    assert [t["function"]["name"] for t in requests[0]["tools"]] == ["lookup_group", "send_email"]
    assert [json.loads(m["content"]) for m in tool_messages(requests[1])] == [
        {"address": "finance@acme.example"}
    ]
    assert [json.loads(m["content"]) for m in tool_messages(requests[2])] == [
        {"address": "finance@acme.example"},
        {"status": "sent"},
        {"error": "no recorded response for this call"},
        {"error": "no recorded response for this call"},
    ]
    assistant = [m for m in requests[2]["messages"] if m["role"] == "assistant"]
    assert [c["function"]["name"] for c in assistant[1]["tool_calls"]] == [
        "send_email",
        "send_email",
        "delete_all",
    ]


def test_malformed_arguments_are_answered_and_shown_not_crashed(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/agent.yaml",
        case_data("INC-AGENT", input={"tools": EMAIL_TOOLS}, expect=[{"contains": "done"}]),
    )
    chat_server.set_script(
        [
            Reply(tool_calls=[{"name": "send_email", "arguments": '{"to": "fin'}]),
            Reply(content="I could not send it."),
        ]
    )

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['  tool call: send_email({"to": "fin)'])
    result.stdout.no_fnmatch_line("*Traceback*")
    [answer] = tool_messages(chat_server.requests[1].body)
    assert json.loads(answer["content"]) == {
        "error": "arguments are not valid JSON (Unterminated string starting at, char 7)"
    }


def test_loop_stops_at_max_turns(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/agent.yaml",
        case_data(
            "INC-LOOP",
            input={"tools": EMAIL_TOOLS},
            runs={"max_turns": 2},
            expect=[{"max_length": 100}],
        ),
    )
    chat_server.set_script(
        lambda body: Reply(tool_calls=[{"name": "lookup_group", "arguments": {"query": "x"}}])
    )

    result = pytester.runpytest(*endpoint_args)

    # The first call plus two answered turns; the third round of calls is left unanswered,
    # and an agent that has not finished fails even though its text breaks no constraint.
    assert len(chat_server.requests) == 3
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "INC-LOOP: 1 of 2 constraint(s) failed (model test-model)",
            "  max_turns (line 40): expected the model stops calling tools within 2 turn(s)",
            '      still calling tools after 2 turn(s): lookup_group({"query": "x"})',
        ]
    )
    result.stdout.fnmatch_lines(
        ['  tool call: lookup_group({"query": "x"})  (unanswered: past max_turns)']
    )
