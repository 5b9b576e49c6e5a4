"""The round trip every trace format must make: trace -> ``calls --json`` -> ``new --from-trace``
-> ``validate --check-recorded`` -> the ``[recorded]`` item passes -> a replay against the test
server reproduces the recorded tool calls, answered from the case's recorded responses.

Used by one test per format (``tests/cli/test_from_trace_*.py``).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_server import ChatServer, Reply, ToolCallSpec
from incident_evals.cli import main

ID = "INC-trace-round-trip"
FLAGS = ["--title", "Bot did what the trace shows", "--category", "correctness"]
FLAGS += ["--severity", "major", "--date", "2025-12-01", "--id", ID]
CASE = f"incident_cases/correctness/{ID}.yaml"


@dataclass(frozen=True)
class RoundTrip:
    #: What ``calls --json`` printed.
    calls: list[dict[str, Any]]
    #: The case file's data, as ``new --from-trace`` wrote it (before ``expect`` was added).
    case: dict[str, Any]
    #: What the replay sent: each request's messages.
    sent: list[list[dict[str, Any]]]


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        sys.stdin = stdin
    return code, out.getvalue(), err.getvalue()


def _with_expect(path: Path, expect: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert "\nexpect: []\n" in text, text
    path.write_text(text.replace("\nexpect: []\n", f"\nexpect:\n{expect}"), encoding="utf-8")


def _scripted(case: dict[str, Any]) -> Reply:
    """The model's recorded behaviour, as the test server's answer."""
    calls: list[ToolCallSpec] = [
        {
            "name": str(call["name"]),
            "arguments": call["arguments"]
            if isinstance(call["arguments"], dict | str)
            else json.dumps(call["arguments"]),
        }
        for call in case.get("recorded_tool_calls") or ()
    ]
    return Reply(content=case.get("recorded_output"), tool_calls=calls or None)


def round_trip(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    trace: Path,
    *,
    format: str,
    expect: str,
    call: int | None = None,
) -> RoundTrip:
    """Make ``trace`` (a file in ``pytester.path``, the working directory) a case and run it.

    ``expect``: the YAML lines of the case's ``expect`` list, which the recorded behaviour must
    break (``"  - tool_not_called: delete_db\\n"``).
    """
    assert Path.cwd() == pytester.path, "pytester's folder must be the working directory"
    file = str(trace)

    code, out, err = _cli(["calls", file, "--json"])
    assert code == 0, err
    calls: list[dict[str, Any]] = json.loads(out)
    assert calls, f"{file}: no calls"
    assert {found["format"] for found in calls} == {format}, calls

    chosen = [] if call is None else ["--call", str(call)]
    code, out, err = _cli(["new", "--from-trace", file, *chosen, *FLAGS])
    assert code == 0, err
    assert out.startswith(f"wrote {CASE}\n"), out
    path = pytester.path / CASE
    case: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = case["incident"]["source"]
    assert (source["format"], source["file"]) == (format, file), source
    assert case.get("recorded_tool_calls") or case.get("recorded_output") is not None, case

    _with_expect(path, expect)
    code, out, err = _cli(["validate", "--check-recorded", CASE])
    assert code == 0, out + err

    # The model does again what the trace shows: its tool calls first (answered by the replay
    # from the case's recorded responses), then its text.
    behaviour = _scripted(case)
    first_turn = len(case["input"]["messages"]) + (1 if "system" in case["input"] else 0)

    def answer(body: dict[str, Any]) -> Reply:
        if behaviour.tool_calls and len(body["messages"]) <= first_turn:
            return behaviour
        return Reply(content=case.get("recorded_output") or "done")

    chat_server.set_script(answer)
    before = len(chat_server.requests)
    result = pytester.runpytest(*endpoint_args, "--incident-variants=none", "-v")
    # The incident is caught, and the case catches it again when the model repeats it.
    result.stdout.fnmatch_lines([f"*::{ID}?recorded? PASSED*"])
    result.stdout.fnmatch_lines([f"*::{ID} FAILED*"])
    result.assert_outcomes(passed=1, failed=1)

    sent = [request.body["messages"] for request in chat_server.requests[before:]]
    assert sent, "the replay sent nothing"
    answered = [
        message
        for messages in sent
        for message in messages[first_turn:]
        if message.get("role") == "tool"
    ]
    assert len(answered) >= len(behaviour.tool_calls or ()), sent
    for message in answered:
        # The replay answers a call with no recorded response with an error object.
        assert "no recorded response" not in str(message.get("content")), message
    return RoundTrip(calls=calls, case=case, sent=sent)
