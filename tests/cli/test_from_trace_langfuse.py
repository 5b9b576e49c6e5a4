"""Round trips of Langfuse exports (files built from Langfuse's published schemas: it is a
hosted service no test can run): a generation becomes a case that catches its incident and
replays, against the test server, the tool calls the export shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import langfuse_fixtures as lf
from chat_server import ChatServer
from trace_round_trip import round_trip

DELETED = "dropped database staging"


def test_a_trace_with_its_observations(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    (pytester.path / "trace.json").write_text(json.dumps(lf.trace()), encoding="utf-8")
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("trace.json"),
        format="langfuse",
        expect="  - tool_not_called: delete_db\n",
    )
    assert trip.case["incident"]["source"] == {
        "format": "langfuse",
        "file": "trace.json",
        "trace_id": lf.TRACE_ID,
        "span_id": "obs-gen-2",
    }
    assert trip.case["recorded_tool_calls"] == [
        {"name": "delete_db", "arguments": {"database": "staging"}}
    ]
    tools = {tool["name"]: tool for tool in trip.case["input"]["tools"]}
    # What the TOOL observations recorded answers the replayed calls.
    assert tools["delete_db"]["responses"] == [{"when": {"database": "staging"}, "output": DELETED}]
    assert [m["role"] for m in trip.sent[0]] == ["system", "user", "assistant", "tool"]
    assert (trip.sent[1][-1]["role"], trip.sent[1][-1]["content"]) == ("tool", DELETED)


def test_an_observations_export_with_double_encoded_fields(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    observations = lf.observations()
    for observation in observations:
        if observation["type"] == "GENERATION":
            observation["input"] = json.dumps(observation["input"])
            observation["modelParameters"] = {"temperature": "0.2", "max_tokens": "Infinity"}
    (pytester.path / "observations.jsonl").write_text(lf.jsonl(observations), encoding="utf-8")
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("observations.jsonl"),
        format="langfuse",
        call=0,
        expect="  - tool_not_called: list_tables\n",
    )
    assert trip.case["model"] == {"name": "gpt-4o-mini", "temperature": 0.2}
    tools = {tool["name"]: tool for tool in trip.case["input"]["tools"]}
    assert tools["list_tables"]["responses"] == [
        {"when": {"database": "staging"}, "output": json.loads(lf.TABLES)}
    ]
    assert trip.calls[0]["guesses"][:2] == [
        "input was JSON text inside the JSON; decoded it",
        "modelParameters.temperature was a string ('0.2'); read as a number",
    ]
