"""The OTLP importers on files the real instrumentations wrote around the real openai SDK.

Each file comes from running the SDK against the scripted test server under
``opentelemetry-instrumentation-openai-v2`` (content in span attributes, in an operation-details
log record, or in its older one-record-per-message form) or ``openinference-instrumentation-
openai``, exported as the collector's file exporter writes OTLP/JSON (``tests/otel_producers.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chat_server import ChatServer
from incident_evals.traces import ModelCall, TraceError, openinference, otlp
from incident_evals.traces.formats import read_calls
from otel_producers import (
    ANSWER,
    ASK,
    GROUPS,
    MODES,
    SYSTEM,
    TOOLS,
    Mode,
    Produced,
    Scenario,
    content_parts,
    failed_call,
    parallel_tools,
    plain_answer,
    produce,
    spans_of,
    streamed_tool_loop,
    tool_loop,
)
from otlp_fixtures import mutants, read_or_one_line_error

#: The format each producer's files are detected as.
OPENINFERENCE = [mode for mode in MODES if mode.startswith("openinference")]
OPENAI_V2 = [mode for mode in MODES if mode not in OPENINFERENCE]
FORMAT = {mode: "openinference" if mode in OPENINFERENCE else "otlp" for mode in MODES}
LOOKUP = {
    "id": "call_lookup_1",
    "type": "function",
    "function": {"name": "lookup_group", "arguments": '{"name": "finance"}'},
}


def calls_of(produced: Produced, path: Path) -> list[ModelCall]:
    return read_calls(produced.write(path))


def run(mode: Mode, scenario: Scenario, server: ChatServer, path: Path) -> list[ModelCall]:
    """The calls read from what ``scenario`` emitted under ``mode``."""
    return calls_of(produce(mode, scenario, server), path)


@pytest.mark.parametrize("scenario", [tool_loop, streamed_tool_loop], ids=["plain", "streamed"])
@pytest.mark.parametrize("mode", MODES)
def test_a_tool_loop_reads_as_two_calls_with_the_tool_call_and_its_result(
    mode: Mode, scenario: Scenario, chat_server: ChatServer, tmp_path: Path
) -> None:
    produced = produce(mode, scenario, chat_server)
    first, second = calls_of(produced, tmp_path / "trace.jsonl")

    for call in (first, second):
        assert call.source.format == FORMAT[mode]
        assert call.model == "gpt-4o-mini"
        assert call.system == SYSTEM
        assert call.params == {"temperature": 0.2}
    assert first.messages == ({"role": "user", "content": ASK},)
    assert first.output is None
    [record] = first.tool_calls
    assert (record.id, record.name, record.arguments) == (
        "call_lookup_1",
        "lookup_group",
        {"name": "finance"},
    )
    assert json.loads(record.arguments_raw) == {"name": "finance"}
    # The result comes from the second call, which was sent it.
    assert record.result == GROUPS

    assert [message["role"] for message in second.messages] == ["user", "assistant", "tool"]
    assert second.messages[1]["tool_calls"] == [LOOKUP]
    assert second.messages[2]["tool_call_id"] == "call_lookup_1"
    assert second.messages[2]["content"] == GROUPS
    assert second.tool_calls == ()
    assert second.output == ANSWER


@pytest.mark.parametrize("mode", MODES)
def test_the_calls_point_at_the_spans_they_came_from(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    produced = produce(mode, tool_loop, chat_server)
    calls = calls_of(produced, tmp_path / "trace.jsonl")

    chat_spans = [
        (span["traceId"], span["spanId"])
        for span in spans_of(produced)
        if span["name"] in ("chat gpt-4o-mini", "ChatCompletion")
    ]
    assert [(call.source.trace_id, call.source.span_id) for call in calls] == chat_spans


@pytest.mark.parametrize("mode", OPENINFERENCE)
def test_openinference_keeps_the_declared_tools(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    for call in run(mode, tool_loop, chat_server, tmp_path / "trace.jsonl"):
        assert list(call.tools) == TOOLS
        assert call.guesses == ()


@pytest.mark.parametrize("mode", OPENAI_V2)
def test_openai_v2_declares_no_tools_so_they_are_inferred_and_said(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    for call in run(mode, tool_loop, chat_server, tmp_path / "trace.jsonl"):
        assert [tool["function"]["name"] for tool in call.tools] == ["lookup_group"]
        assert (
            "the trace declares no tool definitions; inferred from the calls: lookup_group"
            in call.guesses
        )


@pytest.mark.parametrize("mode", MODES)
def test_parallel_tool_calls_each_get_their_own_result(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    first, second = run(mode, parallel_tools, chat_server, tmp_path / "trace.jsonl")

    assert [(r.id, r.arguments, r.result) for r in first.tool_calls] == [
        ("call_a", {"name": "finance"}, "members of call_a"),
        ("call_b", {"name": "legal"}, "members of call_b"),
    ]
    assert [m.get("tool_call_id") for m in second.messages] == [None, None, "call_a", "call_b"]
    assert second.output == ANSWER


@pytest.mark.parametrize("mode", MODES)
def test_a_plain_answer_keeps_the_request_parameters(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    [call] = run(mode, plain_answer, chat_server, tmp_path / "trace.jsonl")

    assert call.model == "gpt-4o-mini"
    assert call.system == SYSTEM
    assert call.messages == ({"role": "user", "content": ASK},)
    assert call.output == ANSWER
    assert call.tool_calls == ()
    assert call.tools == ()
    assert call.params == {
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 200,
        "seed": 7,
        "stop": ["END"],
    }
    assert call.guesses == ()
    request, _ = call.chat_exchange()
    assert request["messages"][0] == {"role": "system", "content": SYSTEM}


@pytest.mark.parametrize("mode", ["otel-event", "otel-legacy"])
def test_in_the_event_forms_the_content_is_only_in_the_log_records(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    produced = produce(mode, tool_loop, chat_server)
    assert produced.logs is not None
    spans_only = Produced(traces=produced.traces, logs=None)

    with pytest.raises(TraceError, match="hold no message content"):
        calls_of(spans_only, tmp_path / "spans.jsonl")
    # One document holding both (not JSON Lines) reads the same as the collector's lines.
    both = tmp_path / "both.json"
    both.write_text(json.dumps({**produced.traces, **produced.logs}), encoding="utf-8")
    assert [call.output for call in read_calls(both)] == [None, ANSWER]


def test_legacy_event_names_in_attributes_are_read_as_in_the_record(
    chat_server: ChatServer, tmp_path: Path
) -> None:
    """SDKs before the log record's own ``eventName`` field wrote it as ``event.name``."""
    produced = produce("otel-legacy", tool_loop, chat_server)
    assert produced.logs is not None
    for resource in produced.logs["resourceLogs"]:
        for scope in resource["scopeLogs"]:
            for record in scope["logRecords"]:
                name = record.pop("eventName")
                record["attributes"].append({"key": "event.name", "value": {"stringValue": name}})

    first, second = calls_of(produced, tmp_path / "trace.jsonl")
    assert first.tool_calls[0].result == GROUPS
    assert second.output == ANSWER


def test_span_and_event_content_is_read_once(chat_server: ChatServer, tmp_path: Path) -> None:
    produced = produce("otel-span-and-event", tool_loop, chat_server)
    assert produced.logs is not None

    first, second = calls_of(produced, tmp_path / "trace.jsonl")
    assert len(second.messages) == 3
    assert len(first.tool_calls) == 1


def test_the_files_are_otlp_json_as_the_specification_spells_it(
    chat_server: ChatServer,
) -> None:
    produced = produce("otel-legacy", tool_loop, chat_server)
    assert produced.logs is not None

    span = spans_of(produced)[0]
    assert re.fullmatch("[0-9a-f]{32}", span["traceId"])
    assert re.fullmatch("[0-9a-f]{16}", span["spanId"])
    assert span["kind"] == 3  # SPAN_KIND_CLIENT, as an integer
    assert re.fullmatch("[0-9]+", span["startTimeUnixNano"])
    tokens = _attribute(span["attributes"], "gen_ai.usage.input_tokens")
    assert isinstance(tokens["intValue"], str)
    record = produced.logs["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert record["spanId"] == span["spanId"]
    assert record["eventName"] == "gen_ai.system.message"


def test_no_credential_of_the_client_reaches_the_calls(
    chat_server: ChatServer, tmp_path: Path
) -> None:
    for mode in ("otel-span", "openinference"):
        produced = produce(mode, tool_loop, chat_server)
        calls = calls_of(produced, tmp_path / f"{mode}.jsonl")
        assert "sk-test-unused" not in json.dumps([call.to_json() for call in calls])


@pytest.mark.parametrize("mode", OPENAI_V2)
def test_content_given_as_parts_keeps_its_text_or_says_it_was_lost(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    [call] = run(mode, content_parts, chat_server, tmp_path / "trace.jsonl")

    assert call.output == ANSWER
    if mode == "otel-legacy":
        assert (call.system, call.messages) == (SYSTEM, ({"role": "user", "content": ASK},))
        assert call.guesses == (
            "dropped a image_url part of event gen_ai.user.message: only text is replayed",
        )
    else:
        # The current form records such messages with no parts at all.
        assert (call.system, call.messages) == (None, ())
        assert call.guesses == (
            "gen_ai.input.messages[0]: a system message without parts (its content was not "
            "recorded)",
            "gen_ai.input.messages[1]: a user message without parts (its content was not recorded)",
        )


@pytest.mark.parametrize("mode", OPENINFERENCE)
def test_openinference_keeps_the_text_of_content_parts(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    [call] = run(mode, content_parts, chat_server, tmp_path / "trace.jsonl")

    assert (call.system, call.messages) == (SYSTEM, ({"role": "user", "content": ASK},))
    assert call.guesses == ("dropped a image part of llm.input_messages.1: only text is replayed",)


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_call_is_read_and_said_to_have_no_answer(
    mode: Mode, chat_server: ChatServer, tmp_path: Path
) -> None:
    [call] = run(mode, failed_call, chat_server, tmp_path / "trace.jsonl")

    assert call.messages == ({"role": "user", "content": ASK},)
    assert (call.output, call.tool_calls) == (None, ())
    assert call.guesses == (
        "the call failed (the span's status is an error): the trace has no answer from the model",
    )
    assert "upstream failed" not in json.dumps(call.to_json())


def test_damaged_real_files_give_calls_or_one_error_line_never_a_traceback(
    chat_server: ChatServer,
) -> None:
    seeds: list[Any] = []
    for mode in ("otel-span", "otel-event", "otel-legacy", "openinference"):
        produced = produce(mode, tool_loop, chat_server)
        seeds.append([produced.traces, produced.logs] if produced.logs else produced.traces)
    for document in mutants(seeds, 1500):
        for importer in (otlp, openinference):
            importer.detect(document)
            read_or_one_line_error(importer.read, document)


def _attribute(attributes: list[dict[str, Any]], key: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [pair["value"] for pair in attributes if pair["key"] == key]
    assert len(found) == 1
    return found[0]
