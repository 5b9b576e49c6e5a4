"""Round trips of LangSmith runs (files built from LangSmith's published run schema: it is a
hosted service no test can run): an llm run becomes a case that catches its incident and
replays, against the test server, the tool calls the runs show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import langsmith_fixtures as ls
from chat_server import ChatServer
from trace_round_trip import round_trip


def test_a_langchain_agents_runs(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    (pytester.path / "runs.jsonl").write_text(ls.jsonl(), encoding="utf-8")
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("runs.jsonl"),
        format="langsmith",
        expect="  - tool_not_called: delete_db\n",
    )
    source = trip.case["incident"]["source"]
    assert (source["trace_id"], source["span_id"]) == (
        ls.ROOT,
        "a3333333-0000-4000-8000-000000000003",
    )
    tools = {tool["name"]: tool for tool in trip.case["input"]["tools"]}
    assert tools["list_tables"]["responses"] == [
        {"when": {"database": "staging"}, "output": json.loads(ls.TABLES)}
    ]
    assert tools["delete_db"]["responses"] == [
        {"when": {"database": "staging"}, "output": "dropped database staging"}
    ]
    assert (
        ls.API_KEY
        not in (pytester.path / "incident_cases")
        .joinpath("correctness/INC-trace-round-trip.yaml")
        .read_text()
    )


def test_the_other_traces_call_in_a_file_of_two_traces(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    theirs = ls.runs(ls.OTHER_ROOT, "b")
    theirs[4]["outputs"] = {"output": "dropped in the other trace"}
    mine = ls.runs()
    runs = [run for pair in zip(mine, theirs, strict=True) for run in pair]
    (pytester.path / "project.json").write_text(json.dumps({"runs": runs}), encoding="utf-8")
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("project.json"),
        format="langsmith",
        call=3,
        expect="  - tool_not_called: delete_db\n",
    )
    assert [call["source"]["trace_id"] for call in trip.calls] == [ls.ROOT] * 2 + [
        ls.OTHER_ROOT
    ] * 2
    assert trip.case["incident"]["source"]["trace_id"] == ls.OTHER_ROOT
    tools = {tool["name"]: tool for tool in trip.case["input"]["tools"]}
    assert tools["delete_db"]["responses"] == [
        {"when": {"database": "staging"}, "output": "dropped in the other trace"}
    ]


def test_a_wrap_openai_run(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    # A @traceable tool function: its run's inputs are its arguments, its output the result.
    tool = ls.run(
        "c6666666-0000-4000-8000-000000000006",
        "tool",
        2,
        "delete_db",
        {"database": "staging"},
        {"output": "dropped database staging"},
    )
    (pytester.path / "wrapped.json").write_text(
        json.dumps([ls.wrapped_openai_run(), tool]), encoding="utf-8"
    )
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("wrapped.json"),
        format="langsmith",
        expect="  - tool_not_called: delete_db\n",
    )
    assert trip.case["model"] == {"name": "gpt-4o-mini", "temperature": 0.2}
    assert trip.case["recorded_tool_calls"] == [
        {"name": "delete_db", "arguments": {"database": "staging"}}
    ]
    tools = {tool["name"]: tool for tool in trip.case["input"]["tools"]}
    assert tools["delete_db"]["responses"] == [
        {"when": {"database": "staging"}, "output": "dropped database staging"}
    ]
