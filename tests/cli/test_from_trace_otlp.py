"""Round trips of OpenTelemetry traces built here: an agent's run as GenAI spans (current form,
with ``execute_tool`` spans) and as OpenInference spans. The round trips on files the real
instrumentations wrote are in test_from_trace_otel_producers.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import genai_agent_run as genai
import openinference_agent_run as oi
from chat_server import ChatServer
from trace_round_trip import round_trip

NEVER_MAIL_ALL_STAFF = "  - tool_not_called: send_email\n"


def test_genai_spans(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    (pytester.path / "run.json").write_text(json.dumps(genai.agent_run()), encoding="utf-8")
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("run.json"),
        format="otlp",
        expect=NEVER_MAIL_ALL_STAFF,
    )
    assert trip.case["recorded_tool_calls"] == [
        {"name": "send_email", "arguments": {"to": "all-staff@acme.example"}}
    ]
    tools = {tool["name"]: tool for tool in trip.case["input"]["tools"]}
    # The lookup's answer is in the conversation; the send's comes from its execute_tool span.
    assert tools["lookup_group"]["responses"][0]["output"] == json.loads(genai.GROUPS)
    assert tools["send_email"]["responses"] == [
        {"when": {"to": "all-staff@acme.example"}, "output": "sent to 1,243 recipients"}
    ]
    assert trip.sent[-1][-1] == {
        "role": "tool",
        "tool_call_id": trip.sent[-1][-2]["tool_calls"][0]["id"],
        "content": "sent to 1,243 recipients",
    }


def test_openinference_spans(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    run = oi.run()
    sent = oi.tool_span("00f067aa0ba902ba", "send_email", "sent", oi.T0 + 3 * 10**9)
    run["resourceSpans"][0]["scopeSpans"][0]["spans"].append(sent)
    (pytester.path / "run.json").write_text(json.dumps(run), encoding="utf-8")
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        Path("run.json"),
        format="openinference",
        expect=NEVER_MAIL_ALL_STAFF,
    )
    tools = {tool["name"]: tool for tool in trip.case["input"]["tools"]}
    # The trace declares lookup_group only: send_email, which the model called, is inferred.
    assert tools["lookup_group"]["description"] == "Find mail groups by name"
    assert tools["send_email"]["parameters"] == {"type": "object", "properties": {"to": {}}}
    assert tools["send_email"]["responses"] == [
        {"when": {"to": "all-staff@acme.example"}, "output": "sent"}
    ]
    text = (pytester.path / "incident_cases/correctness/INC-trace-round-trip.yaml").read_text()
    assert "# The trace declares no definition of send_email; inferred from the calls" in text
