"""Round trips of OpenAI Chat Completions traces: the trace's call becomes a case that catches
its incident and replays, against the test server, the tool calls the trace shows."""

from __future__ import annotations

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
