"""Round trips of OpenAI Chat Completions traces: the trace's call becomes a case that catches
its incident and replays, against the test server, the tool calls the trace shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import openai_exchanges as ox
from chat_server import ChatServer
from trace_round_trip import round_trip


@pytest.fixture
def loop(pytester: pytest.Pytester) -> Path:
    (pytester.path / "loop.jsonl").write_text(ox.jsonl(ox.pairs()), encoding="utf-8")
    return Path("loop.jsonl")


def test_the_answer_after_the_tool_loop(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], loop: Path
) -> None:
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        loop,
        format="openai-chat",
        expect="  - not_contains: approved\n",
    )
    assert trip.case["recorded_output"] == ox.ANSWER
    # The loop's tool answer is part of the conversation the replay sends.
    assert [m["role"] for m in trip.sent[0]] == ["system", "user", "assistant", "tool"]


def test_the_tool_call_is_answered_with_the_result_a_later_call_was_sent(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], loop: Path
) -> None:
    # Call 0 only asks for the tool: what the tool returned is in call 1's conversation.
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        loop,
        format="openai-chat",
        call=0,
        expect="  - tool_not_called: lookup_order\n",
    )
    [tool] = trip.case["input"]["tools"]
    assert tool["responses"] == [{"when": {"order_id": "42"}, "output": json.loads(ox.ORDER)}]
    assert trip.sent[1][-1]["role"] == "tool"
    assert "delivered" in trip.sent[1][-1]["content"]


def test_tools_the_trace_does_not_declare_are_inferred_from_the_calls(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    pairs = ox.pairs()
    for pair in pairs:
        del pair["request"]["tools"]
    (pytester.path / "bare.jsonl").write_text(ox.jsonl(pairs), encoding="utf-8")
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("bare.jsonl"),
        format="openai-chat",
        call=0,
        expect="  - tool_not_called: lookup_order\n",
    )
    [tool] = trip.case["input"]["tools"]
    assert tool["name"] == "lookup_order"
    assert tool["parameters"] == {"type": "object", "properties": {"order_id": {}}}
    assert tool["responses"] == [{"when": {"order_id": "42"}, "output": json.loads(ox.ORDER)}]
    text = (pytester.path / "incident_cases/correctness/INC-trace-round-trip.yaml").read_text()
    assert "\n# The trace declares no tool definitions; inferred from the calls: lookup_" in text
    assert "add their types and descriptions" in text
