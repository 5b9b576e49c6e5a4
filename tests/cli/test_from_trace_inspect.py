"""Round trips of Inspect AI eval logs that Inspect itself wrote: a one-sample task run against
the test server (a tool call, then the answer) becomes a case that catches its incident and
replays the tool call the log shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import inspect_logs as il
from chat_server import ChatServer
from trace_round_trip import round_trip


def _log(pytester: pytest.Pytester, chat_server: ChatServer, log_format: str) -> Path:
    logs = il.run_inspect(chat_server, pytester.path / "inspect-run")
    # The round trip reads the log from the working directory.
    shutil.copy(logs[log_format], pytester.path / f"task.{log_format}")
    return Path(f"task.{log_format}")


@pytest.mark.parametrize("log_format", ["eval", "json"])
def test_the_answer_after_the_tool_call(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], log_format: str
) -> None:
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        _log(pytester, chat_server, log_format),
        format="inspect",
        expect="  - not_contains: shipped\n",
    )
    assert [call["index"] for call in trip.calls] == [0, 1]
    assert trip.case["recorded_output"] == il.ANSWER
    assert trip.case["input"]["system"] == il.SYSTEM
    # What the tool returned (an attachment in the log) is in the conversation replayed.
    assert [m["role"] for m in trip.sent[0]] == ["system", "user", "assistant", "tool"]
    assert trip.sent[0][-1]["content"] == il.RESULT


def test_the_tool_call_is_answered_with_what_the_tool_returned(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        _log(pytester, chat_server, "eval"),
        format="inspect",
        call=0,
        expect="  - tool_not_called: lookup_order\n",
    )
    assert trip.case["recorded_tool_calls"] == [{"name": "lookup_order", "arguments": il.ARGUMENTS}]
    [tool] = trip.case["input"]["tools"]
    assert tool["responses"] == [{"when": il.ARGUMENTS, "output": il.RESULT}]
    assert trip.sent[1][-1] == {
        "role": "tool",
        "tool_call_id": trip.sent[1][-2]["tool_calls"][0]["id"],
        "content": il.RESULT,
    }
