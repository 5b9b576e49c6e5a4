"""Round trips of streamed and recorded OpenAI calls: a captured SSE stream with its request, the
openai SDK's chunks logged with their request, Responses API pairs (the stored ``response``
objects with the requests that made them) and cassettes. The streams are the real SDK's, made
against the test server's stream; each call becomes a case that catches its incident and
replays the tool calls the trace shows, answered from the results the trace holds."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai.types.responses import Response

import openai_exchanges as ox
import sdk_streams as st
from chat_server import ChatServer
from incident_evals.cli import main
from trace_round_trip import CASE, RoundTrip, round_trip

#: The incident: the bot refunded without a manager's approval.
NO_REFUND = "  - tool_not_called: refund\n"


@pytest.fixture(scope="module")
def loop() -> list[st.StreamedCall]:
    return st.streamed_loop()


def write(pytester: pytest.Pytester, name: str, text: str) -> Path:
    (pytester.path / name).write_text(text, encoding="utf-8")
    return Path(name)


def check_refund_case(case: dict[str, Any]) -> None:
    assert case["recorded_output"] == st.SAYING
    assert case["recorded_tool_calls"] == [
        {"name": "lookup_order", "arguments": st.LOOKUP},
        {"name": "refund", "arguments": st.REFUND},
    ]
    tools = {tool["name"]: tool for tool in case["input"]["tools"]}
    assert tools["refund"]["responses"] == [
        {"when": st.REFUND, "output": json.loads(st.RESULTS["call_refund_1"])}
    ]
    assert case["input"]["system"] == ox.SYSTEM


def refund_trip(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    trace: Path,
    format: str = "openai-chat",
) -> RoundTrip:
    """The round trip of the loop's first call, whose refund is the incident."""
    trip = round_trip(
        pytester, chat_server, endpoint_args, trace, format=format, call=0, expect=NO_REFUND
    )
    check_refund_case(trip.case)
    return trip


def test_a_captured_stream_paired_with_its_request(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    loop: list[st.StreamedCall],
) -> None:
    assert all(call.pair_with_sse().count("data: [DONE]") == 1 for call in loop)
    trace = write(pytester, "captured.jsonl", "".join(c.pair_with_sse() + "\n" for c in loop))
    trip = refund_trip(pytester, chat_server, endpoint_args, trace)
    assert [c["guesses"] for c in trip.calls] == [[], []]


def test_the_sdks_chunks_logged_with_their_request(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    loop: list[st.StreamedCall],
) -> None:
    trace = write(pytester, "calls.jsonl", "".join(c.pair_with_chunks() + "\n" for c in loop))
    trip = refund_trip(pytester, chat_server, endpoint_args, trace)
    # The replay sent the tools' results the trace holds, not errors.
    results = [m["content"] for m in trip.sent[1] if m["role"] == "tool"]
    assert "delivered" in results[0]
    assert json.loads(results[1]) == json.loads(st.RESULTS["call_refund_1"])


def test_a_cassette_of_the_streamed_loop_gzip_too(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    loop: list[st.StreamedCall],
) -> None:
    document = yaml.safe_load(ox.cassette([(c.request, c.sse.decode()) for c in loop]))
    for interaction in document["interactions"]:
        response = interaction["response"]
        response["body"]["string"] = gzip.compress(response["body"]["string"].encode())
        response["headers"]["Content-Encoding"] = ["gzip"]
    trace = write(pytester, "cassette.yaml", yaml.safe_dump(document, sort_keys=False))
    assert "!!binary" in (pytester.path / trace).read_text(encoding="utf-8")
    refund_trip(pytester, chat_server, endpoint_args, trace)
    assert ox.API_KEY not in (pytester.path / CASE).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# The Responses API: stored response objects, each with the request that made it
# --------------------------------------------------------------------------------------------


def stored(output: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """A ``response`` as ``GET /v1/responses/{id}`` returns it."""
    usage = {
        "input_tokens": 90,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 130,
    }
    tools = [flat(tool) for tool in st.TOOLS]
    return ox.stored_response(
        output, n, tools, instructions=ox.SYSTEM, temperature=0.2, store=True, usage=usage
    )


def flat(tool: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", **tool["function"], "strict": False}


def responses_loop() -> str:
    calls = [
        {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": call_id,
            "name": name,
            "arguments": json.dumps(arguments),
            "status": "completed",
        }
        for n, (call_id, name, arguments) in enumerate(
            [("call_lookup_1", "lookup_order", st.LOOKUP), ("call_refund_1", "refund", st.REFUND)]
        )
    ]
    saying = ox.output_message(st.SAYING, 1)
    answer = ox.output_message(ox.ANSWER, 2)
    first: dict[str, Any] = {
        "model": "gpt-4.1",
        "instructions": ox.SYSTEM,
        "input": [{"role": "user", "content": ox.QUESTION}],
        "tools": [flat(tool) for tool in st.TOOLS],
        "temperature": 0.2,
        "store": True,
    }
    outputs = [
        {"type": "function_call_output", "call_id": call_id, "output": result}
        for call_id, result in st.RESULTS.items()
    ]
    second = {**first, "input": [*first["input"], saying, *calls, *outputs]}
    pairs = [
        {"request": first, "response": stored([saying, *calls], 1)},
        {"request": second, "response": stored([answer], 2)},
    ]
    for pair in pairs:
        Response.model_validate(pair["response"])
    return ox.jsonl(pairs)


def test_responses_stored_objects_paired_with_their_requests(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    trace = write(pytester, "responses.jsonl", responses_loop())
    trip = refund_trip(pytester, chat_server, endpoint_args, trace, "openai-responses")
    assert trip.case["model"] == {"name": "gpt-4.1", "temperature": 0.2}


# --------------------------------------------------------------------------------------------
# A cassette of both APIs
# --------------------------------------------------------------------------------------------


def cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    code = main(args)
    return code, out.getvalue()


def test_a_cassette_of_both_apis_lists_and_makes_cases_of_either(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, loop: list[st.StreamedCall]
) -> None:
    responses = [json.loads(line) for line in responses_loop().splitlines()]
    chat = yaml.safe_load(ox.cassette([(c.request, c.sse.decode()) for c in loop]))
    answers = yaml.safe_load(
        ox.cassette([(p["request"], json.dumps(p["response"])) for p in responses], "/v1/responses")
    )
    # The agent's run: Responses for its turns, then a streamed Chat loop (a sub-agent).
    document = {"interactions": answers["interactions"] + chat["interactions"], "version": 1}
    write(pytester, "agent.yaml", yaml.safe_dump(document, sort_keys=False))

    code, out = cli(["calls", "agent.yaml"], monkeypatch)
    assert code == 0
    lines = [line for line in out.splitlines() if not line.startswith("    guess:")]
    assert [line.split()[:2] for line in lines] == [
        ["0", "openai-responses"],
        ["1", "openai-responses"],
        ["2", "openai-chat"],
        ["3", "openai-chat"],
    ]
    code, out = cli(["calls", "agent.yaml", "--format", "openai-chat", "--json"], monkeypatch)
    assert [call["output"] for call in json.loads(out)] == [st.SAYING, ox.ANSWER]

    for number, format in [("0", "openai-responses"), ("2", "openai-chat")]:
        flags = ["--title", f"Refund {number}", "--category", "correctness", "--severity", "major"]
        code, out = cli(
            ["new", "--from-trace", "agent.yaml", "--call", number, *flags], monkeypatch
        )
        assert code == 0
        written = pytester.path / out.split()[1]
        case = yaml.safe_load(written.read_text(encoding="utf-8"))
        assert case["incident"]["source"] == {"format": format, "file": "agent.yaml"}
        check_refund_case(case)
