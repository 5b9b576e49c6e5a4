"""Round trips of OTLP files the real instrumentations wrote around the openai SDK. The tool
loop's first call becomes a case whose recorded tool call and tool response come from the trace;
its second, a case whose conversation holds the loop. A replay against the test server does
each call again, answered from the case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_server import ChatServer
from otel_producers import (
    ANSWER,
    GROUPS,
    MODES,
    SYSTEM,
    Mode,
    Scenario,
    produce,
    streamed_tool_loop,
    tool_loop,
)
from trace_round_trip import RoundTrip, round_trip


@pytest.mark.parametrize("scenario", [tool_loop, streamed_tool_loop], ids=["plain", "streamed"])
@pytest.mark.parametrize("mode", MODES)
def test_the_tool_loops_first_call_replays_with_the_result_the_trace_recorded(
    mode: Mode,
    scenario: Scenario,
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
) -> None:
    trip = _round_trip(
        mode,
        scenario,
        pytester,
        chat_server,
        endpoint_args,
        0,
        "  - tool_not_called: lookup_group\n",
    )

    assert trip.case["recorded_tool_calls"] == [
        {"name": "lookup_group", "arguments": {"name": "finance"}}
    ]
    lookup = next(tool for tool in trip.case["input"]["tools"] if tool["name"] == "lookup_group")
    assert lookup["responses"] == [{"when": {"name": "finance"}, "output": json.loads(GROUPS)}]
    # The replay sent the trace's tool result back to the model.
    assert trip.sent[1][-1]["role"] == "tool"
    assert json.loads(trip.sent[1][-1]["content"]) == json.loads(GROUPS)
    if mode.startswith("openinference"):
        # OpenInference records the tools the application declared.
        assert {tool["name"] for tool in trip.case["input"]["tools"]} == {
            "lookup_group",
            "send_email",
        }
        assert lookup["parameters"]["required"] == ["name"]


@pytest.mark.parametrize("mode", MODES)
def test_the_answer_after_the_tool_loop_replays_with_the_loop_in_its_conversation(
    mode: Mode, pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    trip = _round_trip(
        mode,
        tool_loop,
        pytester,
        chat_server,
        endpoint_args,
        1,
        "  - not_contains: finance@acme.example\n",
    )

    assert trip.case["recorded_output"] == ANSWER
    assert trip.case["input"]["system"] == SYSTEM
    assert [m["role"] for m in trip.sent[0]] == ["system", "user", "assistant", "tool"]
    assert trip.sent[0][2]["tool_calls"][0]["function"]["name"] == "lookup_group"
    assert json.loads(trip.sent[0][3]["content"]) == json.loads(GROUPS)


def _round_trip(
    mode: Mode,
    scenario: Scenario,
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    call: int,
    expect: str,
) -> RoundTrip:
    """What ``scenario`` wrote under ``mode``, its call ``call`` made a case and replayed."""
    produce(mode, scenario, chat_server).write(pytester.path / "trace.jsonl")
    return round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("trace.jsonl"),
        format="openinference" if mode.startswith("openinference") else "otlp",
        call=call,
        expect=expect,
    )
