"""Request building and the tool loop (``incident_evals.replay``), against the scripted server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_server import ChatServer, Reply
from incident_evals.case import (
    CaseInput,
    Document,
    Incident,
    IncidentCase,
    RecordedResponse,
    Runs,
    Tool,
)
from incident_evals.client import ChatClient, Endpoint
from incident_evals.replay import (
    NO_RECORDED_RESPONSE,
    build_messages,
    build_request,
    is_subset,
    parse_arguments,
    recorded_response,
    replay,
)


def make_case(**input_fields: object) -> IncidentCase:
    fields: dict[str, object] = {"messages": ({"role": "user", "content": "hi"},), **input_fields}
    return IncidentCase(
        id="INC-1",
        incident=Incident(category="autonomy", severity="major"),
        input=CaseInput(**fields),  # type: ignore[arg-type]
        expect=(),
        path=Path("case.yaml"),
        line=1,
        model={"name": "recorded-only", "temperature": 0.2, "max_tokens": 64},
        runs=Runs(max_turns=3),
    )


@pytest.fixture
def client(chat_server: ChatServer) -> ChatClient:
    return ChatClient(Endpoint(chat_server.base_url, "m", "test"), retries=0)


def test_documents_render_into_the_system_message() -> None:
    case_input = CaseInput(
        messages=({"role": "user", "content": "q"},),
        system="Be exact.",
        documents=(Document("a", "Alpha."), Document("b", "Beta.", title="B")),
    )

    assert build_messages(case_input)[0] == {
        "role": "system",
        "content": 'Be exact.\n\n<document id="a" title="">Alpha.</document>\n'
        '<document id="b" title="B">Beta.</document>',
    }


def test_custom_template_and_no_system_prompt() -> None:
    case_input = CaseInput(
        messages=({"role": "user", "content": "q"},),
        documents=(Document("a", "Alpha."),),
        document_template="[{id}] {content}",
    )

    assert build_messages(case_input) == [
        {"role": "system", "content": "[a] Alpha."},
        {"role": "user", "content": "q"},
    ]


def test_no_system_and_no_documents_sends_only_the_conversation() -> None:
    assert build_messages(CaseInput(messages=({"role": "user", "content": "q"},))) == [
        {"role": "user", "content": "q"}
    ]


def test_request_uses_case_params_under_overrides_and_never_the_recorded_name() -> None:
    request = build_request(make_case(), "run-model", {"temperature": 1.0})

    assert request["model"] == "run-model"
    assert request["temperature"] == 1.0
    assert request["max_tokens"] == 64
    assert "tools" not in request


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ({"to": "a"}, {"to": "a", "cc": "b"}, True),
        ({"to": "a"}, {"to": "b"}, False),
        ({"to": "a"}, {}, False),
        ({"opts": {"urgent": True}}, {"opts": {"urgent": True, "x": 1}}, True),
        ({"opts": {"urgent": True}}, {"opts": "urgent"}, False),
        ({"to": ["a", "b"]}, {"to": ["a", "b"]}, True),
        ({"to": ["a"]}, {"to": ["a", "b"]}, False),
        ({}, {"anything": 1}, True),
    ],
)
def test_when_is_a_recursive_subset(expected: object, actual: object, matches: bool) -> None:
    assert is_subset(expected, actual) is matches


def test_recorded_response_first_match_then_fallback_then_error() -> None:
    tool = Tool(
        name="send",
        responses=(
            RecordedResponse({"status": "fallback"}),
            RecordedResponse({"status": "first"}, when={"to": "a"}),
            RecordedResponse({"status": "second"}, when={"to": "a"}),
        ),
    )

    assert recorded_response(tool, {"to": "a"}) == {"status": "first"}
    assert recorded_response(tool, {"to": "z"}) == {"status": "fallback"}
    assert recorded_response(Tool(name="x"), {}) == NO_RECORDED_RESPONSE
    # A recorded null is an answer, not a missing one.
    assert recorded_response(Tool(name="x", responses=(RecordedResponse(None),)), {}) is None
    assert recorded_response(None, {}) == NO_RECORDED_RESPONSE


@pytest.mark.parametrize(
    ("raw", "parsed", "error"),
    [
        ('{"to": "a"}', {"to": "a"}, None),
        ("", {}, None),
        ("[1, 2]", None, "arguments are JSON list, not an object"),
        (
            "{to: a}",
            None,
            "arguments are not valid JSON (Expecting property name enclosed "
            "in double quotes, char 1)",
        ),
    ],
)
def test_parse_arguments(raw: str, parsed: object, error: str | None) -> None:
    assert parse_arguments(raw) == (parsed, error)


def test_transcript_records_every_exchange_usage_and_returned_model(
    chat_server: ChatServer, client: ChatClient
) -> None:
    case = make_case(tools=(Tool(name="lookup", responses=(RecordedResponse({"id": 7}),)),))
    chat_server.set_script(
        [
            Reply(tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}], model="served-1"),
            Reply(content="Found 7.", model="served-2"),
        ]
    )

    transcript = replay(case, client, "m")

    assert transcript.exchanges[0].request["tool_choice"] == "auto"
    assert transcript.final_text == "Found 7."
    assert transcript.model == "served-2"
    assert transcript.finish_reason == "stop"
    assert len(transcript.exchanges) == 2
    assert transcript.exchanges[1].request["messages"][-1]["role"] == "tool"
    [call] = transcript.tool_calls
    assert (call.name, call.arguments, call.output) == ("lookup", {"q": "x"}, {"id": 7})
    assert transcript.usage["total_tokens"] == sum(
        ex.response["usage"]["total_tokens"] for ex in transcript.exchanges
    )
    assert transcript.latency_s == pytest.approx(sum(ex.latency_s for ex in transcript.exchanges))
    assert not transcript.truncated


def test_max_turns_truncates(chat_server: ChatServer, client: ChatClient) -> None:
    case = make_case(tools=(Tool(name="lookup"),))
    chat_server.set_script(
        lambda body: Reply(
            tool_calls=[{"name": "lookup", "arguments": "{}"}], content="still going"
        )
    )

    transcript = replay(case, client, "m")

    assert transcript.truncated
    assert len(chat_server.requests) == 4  # the first call and three answered turns
    # The fourth round of calls is recorded for the constraints, but left unanswered.
    assert [call.answered for call in transcript.tool_calls] == [True, True, True, False]
    assert transcript.final_text == "still going"
    answers = [m for m in chat_server.requests[-1].body["messages"] if m["role"] == "tool"]
    assert [json.loads(m["content"]) for m in answers] == [NO_RECORDED_RESPONSE] * 3
