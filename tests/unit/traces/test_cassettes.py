"""Cassettes of an agent that used both OpenAI APIs: every call of both, in the cassette's order,
each read by its own API's importer (its ``source.format`` saying which); ``--format`` keeps one.

The cassettes are written here as vcrpy (pytest-recording) writes them: YAML, request bodies as
JSON text, response bodies under ``string``, gzip bodies as ``!!binary`` with their
``Content-Encoding``, credentials in the request headers. Each body is first checked against the
openai SDK's own types.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

import openai_exchanges as ox
from incident_evals.traces import ModelCall, TraceError
from incident_evals.traces.formats import read_calls

INSTRUCTIONS = "You are the support agent of Acme. Refunds need a manager's approval."
QUESTION = "Where is my refund for order 42?"
LOOKUP = {
    "type": "function",
    "name": "lookup_order",
    "description": "Look an order up by its id",
    "parameters": ox.TOOLS[0]["function"]["parameters"],
}


#: 1. The agent asks the Responses API, which looks the order up.
FIRST_REQUEST = {
    "model": "gpt-4.1",
    "instructions": INSTRUCTIONS,
    "input": [{"role": "user", "content": QUESTION}],
    "tools": [LOOKUP],
}
FIRST_RESPONSE = ox.stored_response(
    [
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_lookup_1",
            "name": "lookup_order",
            "arguments": '{"order_id": "42"}',
            "status": "completed",
        }
    ],
    1,
    [LOOKUP],
)
#: 2. A cheaper Chat Completions model classifies the conversation (streamed).
CLASSIFY_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Label the customer's mood: calm, upset or angry."},
        {"role": "user", "content": QUESTION},
    ],
    "stream": True,
}
CLASSIFY_CHUNKS = [
    {
        "id": "chatcmpl-7",
        "object": "chat.completion.chunk",
        "created": 1764720002,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            for delta, finish in [entry]
        ],
    }
    for entry in [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"content": "ups"}, None),
        ({"content": "et"}, None),
        ({}, "stop"),
    ]
]
CLASSIFY_STREAM = (
    "".join(f"data: {json.dumps(c)}\n\n" for c in CLASSIFY_CHUNKS) + "data: [DONE]\n\n"
)
#: 3. The agent sends the lookup's result back to the Responses API, which answers.
LAST_REQUEST = {
    **FIRST_REQUEST,
    "input": [
        *FIRST_REQUEST["input"],
        FIRST_RESPONSE["output"][0],
        {"type": "function_call_output", "call_id": "call_lookup_1", "output": ox.ORDER},
    ],
}
LAST_RESPONSE = ox.stored_response([ox.output_message(ox.ANSWER, 3)], 3, [LOOKUP])
#: 4. A Chat Completions call that checks the answer (a plain JSON body).
CHECK_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": f"Does this promise a refund? {ox.ANSWER}"}],
}
CHECK_RESPONSE = {
    "id": "chatcmpl-8",
    "object": "chat.completion",
    "created": 1764720004,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "yes", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
}


def interaction(
    path: str,
    request: dict[str, Any] | None,
    response: str,
    *,
    zipped: bool = False,
    status: int = 200,
    stream: bool = False,
) -> dict[str, Any]:
    headers: dict[str, list[str]] = {
        "Content-Type": ["text/event-stream; charset=utf-8" if stream else "application/json"]
    }
    body: str | bytes = response
    if zipped:
        body = gzip.compress(response.encode("utf-8"))
        headers["Content-Encoding"] = ["gzip"]
    return {
        "request": {
            "body": None if request is None else json.dumps(request),
            "headers": {
                "Authorization": [f"Bearer {ox.API_KEY}"],
                "Content-Type": ["application/json"],
                "User-Agent": ["OpenAI/Python 2.8.1"],
            },
            "method": "GET" if request is None else "POST",
            "uri": f"https://api.openai.com/v1{path}",
        },
        "response": {
            "body": {"string": body},
            "headers": headers,
            "status": {"code": status, "message": "OK" if status == 200 else "Error"},
        },
    }


def agent_cassette(zipped: bool = False) -> list[dict[str, Any]]:
    """The agent's run, as recorded: a model listing, a rate-limited try, then four calls."""
    return [
        interaction("/models", None, '{"object": "list", "data": []}'),
        interaction(
            "/responses",
            FIRST_REQUEST,
            '{"error": {"message": "Rate limit reached", "type": "requests"}}',
            status=429,
        ),
        interaction("/responses", FIRST_REQUEST, json.dumps(FIRST_RESPONSE), zipped=zipped),
        interaction(
            "/chat/completions", CLASSIFY_REQUEST, CLASSIFY_STREAM, zipped=zipped, stream=True
        ),
        interaction("/responses", LAST_REQUEST, json.dumps(LAST_RESPONSE), zipped=zipped),
        interaction("/chat/completions", CHECK_REQUEST, json.dumps(CHECK_RESPONSE)),
    ]


def write(tmp_path: Path, interactions: list[dict[str, Any]], name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    document = {"interactions": interactions, "version": 1}
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=1000), encoding="utf-8")
    return path


def summary(calls: list[ModelCall]) -> list[tuple[Any, ...]]:
    return [
        (c.index, c.source.format, c.model, c.output, [t.name for t in c.tool_calls]) for c in calls
    ]


def test_the_fixtures_are_what_the_sdk_reads() -> None:
    for body in (FIRST_RESPONSE, LAST_RESPONSE):
        Response.model_validate(body)
    for item in CLASSIFY_CHUNKS:
        ChatCompletionChunk.model_validate(item)
    ChatCompletion.model_validate(CHECK_RESPONSE)


@pytest.mark.parametrize("zipped", [False, True], ids=["text", "gzip"])
def test_a_mixed_cassette_gives_every_call_of_both_apis_in_its_order(
    tmp_path: Path, zipped: bool
) -> None:
    path = write(tmp_path, agent_cassette(zipped))
    if zipped:
        assert "!!binary" in path.read_text(encoding="utf-8")

    calls = read_calls(path)

    assert summary(calls) == [
        (0, "openai-responses", "gpt-4.1", None, ["lookup_order"]),
        (1, "openai-chat", "gpt-4o-mini", "upset", []),
        (2, "openai-responses", "gpt-4.1", ox.ANSWER, []),
        (3, "openai-chat", "gpt-4o-mini", "yes", []),
    ]
    assert {c.source.file for c in calls} == {str(path)}
    # The lookup's result, sent back in a later call, is linked to the call that asked for it.
    assert calls[0].tool_calls[0].result == ox.ORDER
    assert calls[0].tool_calls[0].arguments == {"order_id": "42"}
    assert calls[1].system == "Label the customer's mood: calm, upset or angry."
    assert calls[2].system == INSTRUCTIONS
    assert calls[2].tool_results == [{"tool_call_id": "call_lookup_1", "content": ox.ORDER}]
    assert all(c.guesses == () for c in calls)
    assert ox.API_KEY not in json.dumps([c.to_json() for c in calls])


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        ("openai-chat", [("openai-chat", "upset"), ("openai-chat", "yes")]),
        ("openai-responses", [("openai-responses", None), ("openai-responses", ox.ANSWER)]),
    ],
)
def test_a_format_given_reads_only_that_apis_calls(
    tmp_path: Path, format: str, expected: list[tuple[str, str | None]]
) -> None:
    calls = read_calls(write(tmp_path, agent_cassette(zipped=True)), format)
    assert [(c.source.format, c.output) for c in calls] == expected
    assert [c.index for c in calls] == list(range(len(expected)))


def test_the_order_is_the_cassettes_whichever_api_comes_first(tmp_path: Path) -> None:
    chat_first = [agent_cassette()[5], *agent_cassette()[2:5]]
    calls = read_calls(write(tmp_path, chat_first))
    assert [c.source.format for c in calls] == [
        "openai-chat",
        "openai-responses",
        "openai-chat",
        "openai-responses",
    ]
    assert calls[1].tool_calls[0].result == ox.ORDER


def test_a_tool_call_is_linked_to_its_result_across_the_two_apis(tmp_path: Path) -> None:
    asked = {
        **CHECK_RESPONSE,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_lookup_1",
                            "type": "function",
                            "function": {"name": "lookup_order", "arguments": '{"order_id": "42"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    ChatCompletion.model_validate(asked)
    chat_then_responses = [
        interaction("/chat/completions", CHECK_REQUEST, json.dumps(asked)),
        agent_cassette()[4],
    ]
    calls = read_calls(write(tmp_path, chat_then_responses))
    assert [c.source.format for c in calls] == ["openai-chat", "openai-responses"]
    assert calls[0].tool_calls[0].result == ox.ORDER


def test_a_cassette_of_one_api_reads_as_before(tmp_path: Path) -> None:
    only_chat = [agent_cassette()[0], agent_cassette()[3], agent_cassette()[5]]
    calls = read_calls(write(tmp_path, only_chat))
    assert [(c.source.format, c.output) for c in calls] == [
        ("openai-chat", "upset"),
        ("openai-chat", "yes"),
    ]


@pytest.mark.parametrize(
    ("n", "change", "problem"),
    [
        (4, {"response": {"body": {"string": "<html>502</html>"}}}, "response body: not JSON"),
        (3, {"request": {"body": "[1]"}}, "the request body is not a JSON object"),
        (
            4,
            {"response": {"body": {"string": b"\x1f\x8b not gzip"}}},
            "the gzip body cannot be decompressed",
        ),
        (2, {"response": {"body": {"string": '{"object": "response"}'}}}, 'no "output" list'),
    ],
)
def test_a_bad_interaction_of_either_api_is_one_line_naming_it(
    tmp_path: Path, n: int, change: dict[str, Any], problem: str
) -> None:
    interactions = agent_cassette()
    for side, value in change.items():
        interactions[n][side] = {**interactions[n][side], **value}
    path = write(tmp_path, interactions)
    with pytest.raises(TraceError) as caught:
        read_calls(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: interaction {n}: ")
    assert problem in message
    assert "\n" not in message
