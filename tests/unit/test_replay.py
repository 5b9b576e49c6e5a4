"""Request building and the tool loop (``incident_evals.replay``), against the scripted server."""

from __future__ import annotations

import fnmatch
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
from incident_evals.client import ChatClient, Endpoint, MalformedAnswer
from incident_evals.replay import (
    NO_RECORDED_RESPONSE,
    Answer,
    AnswerCall,
    build_messages,
    build_request,
    is_subset,
    normalise_request,
    parse_arguments,
    read_answer,
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


# --- answers: read_answer is the one judge of an answer's shape -------------------------------


def completion(message: object = None, **fields: object) -> dict[str, object]:
    if message is None:
        message = {"role": "assistant", "content": "hi"}
    return {"model": "m", "choices": [{"message": message, "finish_reason": "stop"}], **fields}


CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        ([], "the answer is an array, expected an object"),
        (
            {"error": {"message": "overloaded\nretry"}},
            "it holds an error, not a completion: 'overloaded retry'",
        ),
        ({"error": "boom", "choices": []}, "it holds an error, not a completion: 'boom'"),
        (
            {"error": {"code": 500}},
            "it holds an error, not a completion: an object with no message",
        ),
        ({}, "choices is missing"),
        ({"choices": {}}, "choices is an object, expected an array"),
        ({"choices": []}, "choices is empty"),
        ({"choices": [None]}, "choices[0] is null, expected an object"),
        ({"choices": [{}]}, "choices[0].message is missing"),
        (completion("hi"), "choices[0].message is a string, expected an object"),
        (
            completion({"content": 3}),
            "choices[0].message.content is an integer, expected a "
            "string, null or an array of content parts",
        ),
        (
            completion({"content": None}),
            "choices[0].message has no content, tool calls or refusal (finish_reason 'stop')",
        ),
        (
            completion({"role": "assistant"}),
            "choices[0].message has no content, tool calls or refusal (finish_reason 'stop')",
        ),
        (
            completion({"content": ["hi"]}),
            "choices[0].message.content[0] is a string, expected a content part (an object)",
        ),
        (
            completion({"content": [{"text": "hi"}]}),
            "choices[0].message.content[0].type is null, expected a string",
        ),
        (
            completion({"content": [{"type": "text", "text": None}]}),
            "choices[0].message.content[0].text is null, expected a string",
        ),
        (
            completion({"content": [{"type": "image_url"}, {"type": "image_url"}]}),
            "choices[0].message.content has no text part (only 'image_url')",
        ),
        (
            completion({"content": "", "tool_calls": {"0": CALL}}),
            "choices[0].message.tool_calls is an object, expected an array",
        ),
        (
            completion({"tool_calls": [None]}),
            "choices[0].message.tool_calls[0] is null, expected an object",
        ),
        (
            completion({"tool_calls": [{"id": "c1"}]}),
            "choices[0].message.tool_calls[0].function is missing",
        ),
        (
            completion({"tool_calls": [{"function": "lookup"}]}),
            "choices[0].message.tool_calls[0].function is a string, expected an object",
        ),
        (
            completion({"tool_calls": [{"function": {"arguments": "{}"}}]}),
            "choices[0].message.tool_calls[0].function.name is missing",
        ),
        (
            completion({"tool_calls": [{"function": {"name": ""}}]}),
            "choices[0].message.tool_calls[0].function.name is empty",
        ),
        (
            completion({"tool_calls": [{"function": {"name": ["x"]}}]}),
            "choices[0].message.tool_calls[0].function.name is an array, expected a string",
        ),
        (
            completion({"tool_calls": [{**CALL, "id": 7}]}),
            "choices[0].message.tool_calls[0].id is an integer, expected a string",
        ),
        (
            completion({"content": "hi", "refusal": True}),
            "choices[0].message.refusal is a boolean, expected a string or null",
        ),
        ({**completion(), "model": 4}, "model is an integer, expected a string or null"),
        (
            {"choices": [{"message": {"content": "hi"}, "finish_reason": 1}]},
            "choices[0].finish_reason is an integer, expected a string or null",
        ),
        (completion(usage=[1]), "usage is an array, expected an object or null"),
        (
            completion(usage={"prompt_tokens": "12"}),
            "usage.prompt_tokens is a string, expected a whole number of tokens",
        ),
        (
            completion(usage={"total_tokens": 1.5}),
            "usage.total_tokens is a number, expected a whole number of tokens",
        ),
        (
            completion(usage={"completion_tokens": -1}),
            "usage.completion_tokens is -1, expected a whole number of tokens",
        ),
        (
            completion(usage={"total_tokens": True}),
            "usage.total_tokens is a boolean, expected a whole number of tokens",
        ),
    ],
)
def test_a_malformed_answer_names_the_field_at_fault(response: object, problem: str) -> None:
    with pytest.raises(MalformedAnswer) as error:
        read_answer(response, "the target app")

    assert str(error.value) == f"malformed answer from the target app: {problem}"


def test_a_well_formed_answer_is_read() -> None:
    answer = read_answer(
        completion(
            {"content": None, "tool_calls": [CALL], "refusal": None},
            usage={
                "prompt_tokens": 3,
                "completion_tokens": 2,
                "total_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 1},
            },
        )
    )

    assert answer == Answer(
        text="",
        calls=(AnswerCall("c1", "lookup", "{}"),),
        finish_reason="stop",
        model="m",
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )


def test_content_parts_are_read_as_their_text_in_order() -> None:
    parts = [
        {"type": "text", "text": "Refunds within "},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
        {"type": "text", "text": "30 days."},
    ]

    assert read_answer(completion({"content": parts})).text == "Refunds within 30 days."


def test_a_refusal_part_is_text_and_a_refusal_field_is_an_answer() -> None:
    refusal_part = completion({"content": [{"type": "refusal", "refusal": "I can't help."}]})
    refusal_field = completion({"content": None, "refusal": "I can't help."})

    assert read_answer(refusal_part).text == "I can't help."
    assert read_answer(refusal_field).text == ""


def test_arguments_given_as_json_data_are_read_as_their_text() -> None:
    message = {
        "content": "",
        "tool_calls": [
            {"function": {"name": "send", "arguments": {"to": "ä@x"}}},
            {"function": {"name": "send", "arguments": [1]}},
            {"function": {"name": "ping"}},
        ],
    }

    calls = read_answer(completion(message)).calls

    assert [call.arguments_raw for call in calls] == ['{"to": "ä@x"}', "[1]", ""]
    assert [call.id for call in calls] == [None, None, None]


def test_an_empty_text_answer_is_an_answer() -> None:
    assert read_answer(completion({"content": ""})).text == ""


# --- requests: one normalisation for strict servers ------------------------------------------


def test_normalise_request_sends_what_strict_servers_accept() -> None:
    request = {
        "model": "m",
        "messages": [
            {"role": "system", "content": None},
            {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "ann"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"function": {"name": "lookup", "arguments": {"q": "x"}}},
                    {"id": "c2", "type": "function", "function": {"name": "ping"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c2", "content": {"ok": True}},
            {"role": "tool", "tool_call_id": "c3", "content": None},
            {"role": "assistant", "content": "done", "tool_calls": []},
        ],
    }
    original = json.loads(json.dumps(request))

    normal = normalise_request(request)

    assert normal["messages"] == [
        {"role": "system", "content": ""},
        {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "ann"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_m2_0",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "ping", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "content": '{"ok": true}'},
        {"role": "tool", "tool_call_id": "c3", "content": ""},
        {"role": "assistant", "content": "done"},
    ]
    assert request == original  # the case's own messages are left as they were
    assert normalise_request(normal) == normal


def test_every_request_of_the_tool_loop_is_normalised(
    chat_server: ChatServer, client: ChatClient
) -> None:
    case = make_case(
        messages=(
            {"role": "user", "content": "send it"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c0", "function": {"name": "lookup", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c0", "content": "{}"},
        ),
        tools=(Tool(name="lookup", responses=(RecordedResponse({"id": 7}),)),),
    )
    chat_server.set_script(
        [
            Reply(raw_body=json.dumps(completion({"content": None, "tool_calls": [CALL]}))),
            Reply(content="Found 7."),
        ]
    )

    replay(case, client, "m")

    for request in chat_server.requests:
        assistants = [m for m in request.body["messages"] if m["role"] == "assistant"]
        assert [m["content"] for m in assistants] == [""] * len(assistants)
        assert all(c["type"] == "function" for m in assistants for c in m["tool_calls"])
    assert len(chat_server.requests) == 2


def test_arguments_as_an_object_are_answered_and_sent_back_as_text(
    chat_server: ChatServer, client: ChatClient
) -> None:
    case = make_case(
        tools=(Tool(name="send", responses=(RecordedResponse("sent", when={"to": "a"}),)),)
    )
    call = {"id": "c1", "type": "function", "function": {"name": "send", "arguments": {"to": "a"}}}
    chat_server.set_script(
        [
            Reply(raw_body=json.dumps(completion({"content": "", "tool_calls": [call]}))),
            Reply(content="Sent."),
        ]
    )

    transcript = replay(case, client, "m")

    [made] = transcript.tool_calls
    assert (made.arguments_raw, made.arguments, made.output) == ('{"to": "a"}', {"to": "a"}, "sent")
    sent_back = chat_server.requests[1].body["messages"][-2]["tool_calls"][0]["function"]
    assert sent_back["arguments"] == '{"to": "a"}'


def test_a_malformed_answer_stops_the_sample_with_its_source(
    chat_server: ChatServer, client: ChatClient
) -> None:
    chat_server.set_script([Reply(raw_body='{"choices": []}')])

    with pytest.raises(
        MalformedAnswer, match=r"^malformed answer from the endpoint: choices is empty$"
    ):
        replay(make_case(), client, "m")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ('{"a": NaN}', "arguments are not valid JSON (NaN is not a JSON value)"),
        ("[" * 5000, "arguments are nested deeper than 100 levels"),
        ('{"a": ' * 101 + "1" + "}" * 101, "arguments are nested deeper than 100 levels"),
        ('{"n": ' + "9" * 5000 + "}", "arguments are not valid JSON (Exceeds the limit*"),
    ],
    ids=["nan", "deep-unparsable", "deep", "huge-number"],
)
def test_hostile_arguments_are_recorded_as_malformed(raw: str, error: str) -> None:
    parsed, problem = parse_arguments(raw)

    assert parsed is None
    assert problem is not None
    assert fnmatch.fnmatchcase(problem, error)
