"""The LangSmith importer on runs built from LangSmith's published run schema (and what
LangChain's tracer and the ``wrap_openai`` wrapper record in a run)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import langfuse_fixtures as lf
import langsmith_fixtures as ls
import openai_exchanges as ox
from incident_evals.intake import capture_exchange
from incident_evals.traces import ModelCall, langsmith
from otlp_fixtures import inferred_tool, mutants, one_line_error, read_or_one_line_error, traces

MESSAGE = "Dropping the staging database to free space."


def read(document: Any) -> list[ModelCall]:
    return langsmith.read(document, "ls.json")


def test_llm_runs_are_calls_with_langchain_messages_read() -> None:
    first, second = read(ls.runs())

    assert first.system == ls.SYSTEM
    assert first.messages == ({"role": "user", "content": ls.ASK},)
    assert first.model == "gpt-4o-mini"
    assert first.params == {"temperature": 0.2}
    assert first.tools == tuple(ls.TOOLS)
    (listing,) = first.tool_calls
    assert (listing.id, listing.name, listing.arguments, listing.arguments_raw) == (
        "call_a1",
        "list_tables",
        {"database": "staging"},
        '{"database": "staging"}',
    )
    # The tool run's ToolMessage names the call.
    assert listing.result == ls.TABLES
    # LangChain's "" beside tool calls is no output.
    assert first.output is None
    assert first.guesses == ()
    # 2025-11-02T10:00:01.250000, the run's start_time (UTC without an offset).
    assert first.time == 1762077601.25
    assert first.source.to_json() == {
        "format": "langsmith",
        "file": "ls.json",
        "trace_id": ls.ROOT,
        "span_id": "a1111111-0000-4000-8000-000000000001",
    }

    assert second.messages[1]["tool_calls"][0]["id"] == "call_a1"
    assert second.tool_results == [{"tool_call_id": "call_a1", "content": ls.TABLES}]
    assert second.output == MESSAGE
    (deletion,) = second.tool_calls
    assert deletion.result == "dropped database staging"
    assert second.guesses == (lf.JOINED_BY_ARGUMENTS,)


@pytest.mark.parametrize(
    "text",
    [json.dumps(ls.runs()), json.dumps({"runs": ls.runs()}), ls.jsonl()],
    ids=["array", "runs object", "jsonl"],
)
def test_every_export_shape_gives_the_same_calls(tmp_path: Path, text: str) -> None:
    calls = lf.calls_in_file(tmp_path, text)
    assert [call.source.format for call in calls] == ["langsmith", "langsmith"]
    assert [call.to_json()["tool_calls"] for call in calls] == [
        call.to_json()["tool_calls"] for call in read(ls.runs())
    ]


def test_a_wrap_openai_run_is_read_as_the_request_and_completion() -> None:
    (call,) = read([ls.wrapped_openai_run()])
    assert call.system == ls.SYSTEM
    assert call.model == "gpt-4o-mini"
    assert call.params == {"temperature": 0.2}
    assert call.tools == tuple(ls.TOOLS)
    assert [(c.id, c.name, c.arguments) for c in call.tool_calls] == [
        ("call_w1", "delete_db", {"database": "staging"})
    ]
    assert call.output is None
    assert call.guesses == ()


def test_out_of_order_runs_are_sorted_by_dotted_order_and_it_says_so() -> None:
    first, second = read(list(reversed(ls.runs())))
    assert first.tool_calls[0].name == "list_tables"
    assert second.tool_calls[0].name == "delete_db"
    line = "the runs were out of execution order in the file; sorted by dotted_order"
    assert line in first.guesses
    assert second.tool_calls[0].result == "dropped database staging"


def test_several_traces_are_kept_apart_with_their_tool_results() -> None:
    theirs = ls.runs(ls.OTHER_ROOT, "b")
    theirs[4]["outputs"] = {"output": "dropped in the other trace"}
    mine = ls.runs()
    # Interleaved in the file, as a project's runs listed by start time are.
    calls = read([run for pair in zip(mine, theirs, strict=True) for run in pair])
    assert [call.source.trace_id for call in calls] == [ls.ROOT] * 2 + [ls.OTHER_ROOT] * 2
    assert [call.tool_calls[0].result for call in calls] == [
        ls.TABLES,
        "dropped database staging",
        ls.TABLES,
        "dropped in the other trace",
    ]


def test_runs_without_dotted_order_are_ordered_by_start_time_trace_by_trace() -> None:
    items = ls.runs()
    for item in items:
        del item["dotted_order"]
    first, second = read([items[3], items[4], items[0], items[1], items[2]])
    assert (first.tool_calls[0].name, second.tool_calls[0].name) == ("list_tables", "delete_db")
    assert "some runs have no dotted_order; ordered by start_time, trace by trace" in first.guesses


def test_missing_tool_definitions_are_inferred_and_metadata_parameters_read() -> None:
    llm = ls.runs()[1]
    invocation = llm["extra"]["invocation_params"]
    del invocation["tools"], invocation["temperature"]
    llm["extra"]["metadata"]["ls_max_tokens"] = "256"
    (call,) = read([llm])
    assert call.tools == (inferred_tool("list_tables", "database"),)
    assert call.params == {"temperature": 0.2, "max_tokens": 256}
    assert call.guesses == (
        "extra.metadata.ls_max_tokens was a string ('256'); read as a number",
        "the trace declares no tool definitions; inferred from the calls: list_tables",
    )


def test_double_encoded_inputs_and_outputs_are_decoded_once_and_said() -> None:
    llm = ls.runs()[3]
    llm["inputs"] = json.dumps(llm["inputs"])
    llm["outputs"] = json.dumps(llm["outputs"])
    (call,) = read([llm])
    assert call.output == MESSAGE
    assert call.guesses[:2] == (
        "inputs was JSON text inside the JSON; decoded it",
        "outputs was JSON text inside the JSON; decoded it",
    )


def test_message_dicts_and_mismatched_ids() -> None:
    """Messages as dicts with a LangChain ``type``, a tool result whose id names no call, and
    a tool run whose ToolMessage names another call: joined by name and time, said."""
    messages = [
        {"type": "system", "content": ls.SYSTEM},
        {"type": "human", "content": ls.ASK},
        {
            "type": "ai",
            "content": "",
            "tool_calls": [
                {"name": "list_tables", "args": {"database": "staging"}, "id": "call_a1"}
            ],
        },
        {"type": "tool", "content": ls.TABLES, "tool_call_id": "toolu_x"},
    ]
    llm = ls.llm_run("d1", 3, messages, ls.ai_calls(ls.DELETE_CALL))
    tool = ls.tool_run(
        "d2",
        4,
        "delete_db",
        "{'database': 'prod'}",
        ls.tool_message("gone", "call_zz", "delete_db"),
    )
    (call,) = read([llm, tool])
    assert call.messages[1]["tool_calls"][0]["function"]["arguments"] == '{"database": "staging"}'
    assert call.messages[2] == {"role": "tool", "content": ls.TABLES, "tool_call_id": "call_a1"}
    assert call.tool_calls[0].result == "gone"
    assert call.guesses == (
        "tool result id 'toolu_x' matches no call; read as the answer to call_a1",
        "the result of delete_db (call_b2) was joined by tool name and time "
        "(the tool's record has no call id, or another, and other arguments)",
    )


def test_an_anthropic_answer_keeps_its_tool_use_blocks_and_tool_calls_once() -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "delete_db", "input": {"database": "x"}}
    answer = ls.lc(
        "AIMessage",
        content=[{"type": "text", "text": "Dropping it."}, block],
        tool_calls=[{"name": "delete_db", "args": {"database": "x"}, "id": "toolu_1"}],
    )
    (call,) = read([ls.llm_run("e1", 1, ls.FIRST, answer)])
    assert [(c.id, c.name, c.arguments) for c in call.tool_calls] == [
        ("toolu_1", "delete_db", {"database": "x"})
    ]
    assert call.output == "Dropping it."
    assert call.guesses == ()


def test_a_text_generation_and_a_failed_run() -> None:
    llm = ls.runs()[1]
    llm["outputs"] = {"generations": [[{"text": "Ask a human first.", "type": "Generation"}]]}
    failed = ls.runs()[3]
    failed["outputs"] = None
    failed["error"] = "RateLimitError: 429\nTraceback (most recent call last): ..."
    first, second = read([llm, failed])
    assert (first.output, first.tool_calls) == ("Ask a human first.", ())
    assert second.output is None
    assert "the run recorded no outputs: RateLimitError: 429" in second.guesses


def test_credentials_in_the_run_are_never_copied() -> None:
    llm = ls.runs()[1]
    llm["serialized"] = {"kwargs": {"openai_api_key": ox.API_KEY}}
    llm["extra"]["invocation_params"]["api_key"] = ox.API_KEY
    for call in read([llm, *ls.runs()[2:]]):
        assert ls.API_KEY not in json.dumps(call.to_json())
        assert ox.API_KEY not in json.dumps(call.to_json())
        assert ox.API_KEY not in json.dumps(call.chat_exchange())


def test_detection_claims_langsmith_runs_only() -> None:
    for mine in (ls.runs(), {"runs": ls.runs()}, ls.runs()[1], [ls.wrapped_openai_run()]):
        assert langsmith.detect(mine)
    others: list[Any] = [
        ox.pairs(),
        traces(),
        lf.trace(),
        lf.page(),
        lf.observations(),
        {"runs": []},
        {"run_type": "llm"},
        [{"inputs": {}, "id": "x"}],
        "x",
    ]
    for theirs in others:
        assert not langsmith.detect(theirs)


def test_other_formats_do_not_claim_langsmith_files() -> None:
    for text in (json.dumps(ls.runs()), json.dumps({"runs": ls.runs()}), ls.jsonl()):
        assert lf.formats_claiming(text) == ["langsmith"]


def test_each_call_makes_a_case_as_a_captured_exchange_does() -> None:
    _, second = read(ls.runs())
    capture = capture_exchange(*second.chat_exchange(), "ls.json")
    assert capture.input["system"] == ls.SYSTEM
    assert capture.recorded_output == MESSAGE
    assert capture.recorded_tool_calls == [
        {"name": "delete_db", "arguments": {"database": "staging"}}
    ]
    assert capture.model == {"name": "gpt-4o-mini", "temperature": 0.2}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"inputs": 5}, "inputs is an integer, not an object"),
        ({"inputs": {}}, "inputs hold no messages (nor prompts)"),
        ({"inputs": {"messages": [[{"lc": 1, "id": ["x"], "kwargs": {}}]]}}, "has no role"),
        ({"inputs": {"messages": "hi"}}, "inputs.messages is a string, not a list of messages"),
        ({"outputs": {"generations": []}}, "outputs.generations holds no generation"),
        ({"outputs": {"generations": [[3]]}}, "generations[0] is an integer, not a generation"),
        ({"outputs": {"llm_output": {}}}, "outputs hold neither generations nor choices"),
        ({"outputs": {"choices": [{"message": {"role": "user"}}]}}, "a user message, not the"),
        ({"outputs": [1]}, "outputs is an array, not an object"),
        ({"extra": {"invocation_params": {"tools": [7]}}}, "tools[0] is an integer, not a tool"),
        ({"extra": {"invocation_params": {"temperature": "hot"}}}, "temperature 'hot' is not"),
    ],
)
def test_bad_runs_are_one_line_errors_naming_the_run(change: dict[str, Any], expected: str) -> None:
    llm = ls.runs()[1]
    llm.update(copy.deepcopy(change))
    message = one_line_error(langsmith.read, [llm])
    assert expected in message
    assert "bad.json: record 0 (run a1111111-0000-4000-8000-000000000001)" in message


def test_bad_files_are_one_line_errors_naming_the_file_and_record() -> None:
    assert 'no run with run_type "llm"' in one_line_error(langsmith.read, [ls.runs()[0]])
    assert "record 1: a string, not a run" in one_line_error(langsmith.read, [ls.runs()[1], "x"])
    assert "runs[1]" in one_line_error(langsmith.read, {"runs": [ls.runs()[1], {"id": "r"}]})
    multiline = {**ls.runs()[1], "id": "run\nInjected line", "inputs": {}}
    assert one_line_error(langsmith.read, [multiline]).startswith("bad.json: record 0: ")
    deep = ls.runs()[1]
    deep["inputs"] = "[" * 100_000 + "]" * 100_000
    assert "nested too deeply" in one_line_error(langsmith.read, [deep])


def test_damaged_runs_give_calls_or_one_error_line_never_a_traceback() -> None:
    for document in mutants([ls.runs(), {"runs": ls.runs()}, [ls.wrapped_openai_run()]], 1500):
        langsmith.detect(document)
        read_or_one_line_error(langsmith.read, document)
