"""The Langfuse importer on exports built from Langfuse's published schemas (its public API's
trace and observation types, and what its OpenAI and LangChain integrations record)."""

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
from incident_evals.traces import ModelCall, langfuse
from otlp_fixtures import inferred_tool, mutants, one_line_error, read_or_one_line_error, traces


def read(document: Any) -> list[ModelCall]:
    return langfuse.read(document, "lf.json")


def test_a_trace_with_its_observations_is_one_call_per_generation() -> None:
    first, second = read(lf.trace())

    assert first.system == lf.SYSTEM
    assert first.messages == ({"role": "user", "content": lf.ASK},)
    assert first.model == "gpt-4o-mini"
    assert first.params == {"temperature": 0.2, "max_tokens": 512}
    assert first.tools == (lf.LIST_TABLES, lf.DELETE_DB)
    (listing,) = first.tool_calls
    assert (listing.id, listing.name, listing.arguments) == (
        "call_a1",
        "list_tables",
        {"database": "staging"},
    )
    # The next generation's input answers it, by its id.
    assert listing.result == lf.TABLES
    assert first.output is None
    assert first.guesses == ()
    # 2025-11-02T10:00:01.250Z, the generation's startTime.
    assert first.time == 1762077601.25
    assert first.source.to_json() == {
        "format": "langfuse",
        "file": "lf.json",
        "trace_id": lf.TRACE_ID,
        "span_id": "obs-gen-1",
    }

    assert second.tool_results == [{"tool_call_id": "call_a1", "content": lf.TABLES}]
    assert second.output == "Dropping the staging database to free space."
    (deletion,) = second.tool_calls
    # The TOOL observation names no call: joined by the tool's name and its arguments.
    assert deletion.result == "dropped database staging"
    assert second.guesses == (lf.JOINED_BY_ARGUMENTS,)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(lf.trace()),
        json.dumps(lf.page()),
        json.dumps(lf.observations()),
        lf.jsonl(),
    ],
    ids=["trace", "observations page", "array", "jsonl"],
)
def test_every_export_shape_gives_the_same_calls(tmp_path: Path, text: str) -> None:
    calls = lf.calls_in_file(tmp_path, text)
    assert [call.source.format for call in calls] == ["langfuse", "langfuse"]
    assert [call.to_json()["tool_calls"] for call in calls] == [
        call.to_json()["tool_calls"] for call in read(lf.trace())
    ]


def test_double_encoded_fields_and_numbers_as_strings_are_read_and_said() -> None:
    generation = lf.second_generation(
        modelParameters=json.dumps({"temperature": "0.2", "max_tokens": "Infinity"}),
        metadata=json.dumps({"ls_provider": "openai"}),
    )
    generation["input"] = json.dumps(generation["input"])
    generation["output"] = json.dumps(generation["output"])
    (call,) = read(lf.trace([generation]))
    assert call.params == {"temperature": 0.2}
    assert call.output == "Dropping the staging database to free space."
    assert call.tool_results == [{"tool_call_id": "call_a1", "content": lf.TABLES}]
    assert call.guesses == (
        "input was JSON text inside the JSON; decoded it",
        "output was JSON text inside the JSON; decoded it",
        "modelParameters was JSON text inside the JSON; decoded it",
        "modelParameters.temperature was a string ('0.2'); read as a number",
        "modelParameters.max_tokens was infinite (no limit set); left out",
    )


def test_text_that_holds_json_twice_is_decoded_once_only() -> None:
    generation = lf.first_generation()
    inner = json.dumps({"status": "ok"})
    generation["output"] = json.dumps({"role": "assistant", "content": inner})
    (call,) = read(lf.trace([generation]))
    # The answer's own text looks like JSON too: it is the model's text, not decoded again.
    assert call.output == inner


def test_out_of_order_observations_are_sorted_by_start_time_and_it_says_so() -> None:
    first, second = read(lf.trace(list(reversed(lf.observations()))))
    assert (first.source.span_id, second.source.span_id) == ("obs-gen-1", "obs-gen-2")
    line = "the generations were out of time order in the file; sorted by startTime"
    assert line in first.guesses
    assert line in second.guesses
    assert second.tool_calls[0].result == "dropped database staging"


def test_missing_tool_definitions_are_inferred_from_the_calls() -> None:
    generation = lf.first_generation()
    generation["input"] = generation["input"]["messages"]
    (call,) = read(lf.trace([generation]))
    assert call.tools == (inferred_tool("list_tables", "database"),)
    assert call.guesses == (
        "the trace declares no tool definitions; inferred from the calls: list_tables",
    )


def test_mismatched_ids_are_matched_and_said() -> None:
    generation = lf.second_generation()
    generation["input"]["messages"][3]["tool_call_id"] = "toolu_9"
    tool = lf.tool("obs-tool-2", 5, "delete_db", {"database": "prod"}, "dropped database prod")
    (call,) = read(lf.trace([generation, tool]))
    assert call.messages[-1]["tool_call_id"] == "call_a1"
    assert call.tool_calls[0].result == "dropped database prod"
    assert call.guesses == (
        "tool result id 'toolu_9' matches no call; read as the answer to call_a1",
        "the result of delete_db (call_b2) was joined by tool name and time "
        "(the tool's record has no call id, or another, and other arguments)",
    )


def test_a_tool_observation_holding_a_tool_message_is_joined_by_its_call_id() -> None:
    tool = lf.tool(
        "obs-tool-2",
        5,
        "delete_db",
        "{'database': 'staging'}",
        {"content": "dropped", "type": "tool", "tool_call_id": "call_b2", "name": "delete_db"},
    )
    decoy = lf.tool("obs-tool-3", 5, "delete_db", {"database": "staging"}, "decoy")
    (call,) = read(lf.trace([lf.second_generation(), decoy, tool]))
    assert call.tool_calls[0].result == "dropped"
    assert call.guesses == ()


def test_langchain_messages_and_tool_definitions_among_them_are_read() -> None:
    """Langfuse's LangChain handler: message dicts with LangChain's tool calls (and OpenAI's in
    additional_kwargs), the tools appended as tool messages, the answer without content."""
    openai_call = lf.call("call_a1", "list_tables", '{"database":"staging"}')
    langchain_call = {
        "name": "list_tables",
        "args": {"database": "staging"},
        "id": "call_a1",
        "type": "tool_call",
    }
    messages = [
        {"role": "system", "content": lf.SYSTEM},
        {"role": "user", "content": lf.ASK},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [langchain_call],
            "additional_kwargs": {"tool_calls": [openai_call]},
        },
        {"role": "tool", "content": lf.TABLES, "tool_call_id": "call_a1"},
        {"role": "tool", "content": lf.DELETE_DB},
    ]
    answer = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"name": "delete_db", "args": {"database": "staging"}, "id": "call_b2"},
        ],
    }
    generation = lf.generation("obs-gen-2", 4, messages, answer, input=messages)
    (call,) = read(lf.trace([generation]))
    # The arguments as the model wrote them (OpenAI's form), not LangChain's re-encoding.
    assert call.messages[1]["tool_calls"][0]["function"]["arguments"] == '{"database":"staging"}'
    assert call.tools == (lf.DELETE_DB,)
    assert call.output is None
    assert call.tool_calls[0].arguments == {"database": "staging"}
    assert call.guesses == ("tool definitions were given as tool messages; read as definitions",)


def test_tool_calls_and_results_as_content_parts() -> None:
    """Anthropic's tool_use / tool_result blocks (its SDK through Langfuse) and the Vercel AI
    SDK's tool-call / tool-result parts (through Langfuse's OpenTelemetry endpoint)."""
    first, second = read(lf.content_parts_trace())
    assert first.messages == (
        {"role": "user", "content": lf.ASK},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [lf.call("toolu_1", "list_tables", '{"database": "staging"}')],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": lf.TABLES},
        {"role": "user", "content": "Go on."},
    )
    assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [
        ("toolu_2", "delete_db", {"database": "x"})
    ]
    assert first.output is None
    assert "input[2]: tool results were content parts; read as tool messages" in first.guesses
    assert second.messages[1]["tool_calls"][0]["id"] == "v1"
    assert second.messages[2] == {"role": "tool", "tool_call_id": "v1", "content": '["events"]'}
    assert second.output == "Done."


def test_a_text_input_and_a_choices_output() -> None:
    generation = lf.generation(
        "obs-gen-1",
        1,
        [],
        {"choices": [{"message": {"role": "assistant", "content": "Ask a human."}}]},
        input="Free up disk space on staging",
    )
    (call,) = read(lf.trace([generation]))
    assert call.messages == ({"role": "user", "content": "Free up disk space on staging"},)
    assert call.output == "Ask a human."
    assert call.guesses == ("the input is text, not messages: read as one user message",)


def test_several_traces_are_kept_apart_with_their_tool_results() -> None:
    other = "0c1d2e3f-aaaa-4bbb-8ccc-444455556666"
    theirs: list[dict[str, Any]] = [
        {**lf.second_generation(), "id": "obs-gen-9", "traceId": other, "startTime": lf.at(2)},
        lf.tool("obs-tool-9", 3, "delete_db", {"database": "staging"}, "theirs", trace_id=other),
    ]
    mine = [item for item in lf.observations() if item["id"] != "obs-tool-2"]
    calls = read(lf.page(theirs + mine))
    # Trace by trace, though the other trace's generation started between these two.
    assert [call.source.span_id for call in calls] == ["obs-gen-1", "obs-gen-2", "obs-gen-9"]
    assert [call.tool_calls[0].result for call in calls] == [lf.TABLES, None, "theirs"]


def test_credentials_in_metadata_are_never_copied() -> None:
    generation = lf.second_generation(
        metadata={"headers": {"Authorization": f"Bearer {ox.API_KEY}"}, "api_key": ox.API_KEY}
    )
    (call,) = read(lf.trace([generation]))
    assert ox.API_KEY not in json.dumps(call.to_json())
    assert ox.API_KEY not in json.dumps(call.chat_exchange())


def test_detection_claims_langfuse_exports_only() -> None:
    for mine in (lf.trace(), lf.page(), lf.observations(), lf.observations()[1]):
        assert langfuse.detect(mine)
    others: list[Any] = [
        ox.pairs(),
        ox.pairs()[0],
        traces(),
        ls.runs(),
        {"runs": ls.runs()},
        {"data": []},
        {"data": [{"id": "t1", "name": "trace", "observations": ["o1"]}]},
        {"type": "GENERATION"},
        [],
        "x",
    ]
    for theirs in others:
        assert not langfuse.detect(theirs)


def test_other_formats_do_not_claim_langfuse_files() -> None:
    for text in (json.dumps(lf.trace()), json.dumps(lf.page()), lf.jsonl()):
        assert lf.formats_claiming(text) == ["langfuse"]


def test_each_call_makes_a_case_as_a_captured_exchange_does() -> None:
    _, second = read(lf.trace())
    capture = capture_exchange(*second.chat_exchange(), "lf.json")
    assert capture.input["system"] == lf.SYSTEM
    assert capture.recorded_output == "Dropping the staging database to free space."
    assert capture.recorded_tool_calls == [
        {"name": "delete_db", "arguments": {"database": "staging"}}
    ]
    assert capture.model == {"name": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 512}


def _bad(generation: dict[str, Any]) -> str:
    message = one_line_error(langfuse.read, lf.trace([generation]))
    assert "observations[0] (observation obs-gen-1)" in message
    return message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"input": None}, "the generation has no input"),
        ({"input": 7}, "input is an integer, not messages"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0] has no role this tool knows"),
        ({"input": ["hello"]}, "input[0] is a string, not a message"),
        ({"input": {"messages": "hi"}}, "input.messages is a string, not a list of messages"),
        (
            {"input": {"messages": [], "tools": [{"type": "function"}]}},
            "input.tools[0] has no name",
        ),
        ({"output": 3}, "output is an integer, not an answer"),
        ({"output": {"role": "user", "content": "x"}}, "output is a user message, not the model's"),
        (
            {"output": {"role": "assistant", "tool_calls": [{"id": "c"}]}},
            "tool call 0 has no tool name",
        ),
        ({"output": {"choices": []}}, "output has no choices"),
        ({"modelParameters": {"temperature": "warm"}}, "modelParameters.temperature 'warm' is not"),
        ({"modelParameters": {"max_tokens": True}}, "modelParameters.max_tokens is a boolean"),
        ({"modelParameters": [1]}, "modelParameters is an array, not an object"),
        ({"modelParameters": {"seed": 10**400}}, "modelParameters.seed is too large a number"),
    ],
)
def test_bad_generations_are_one_line_errors_naming_the_observation(
    change: dict[str, Any], expected: str
) -> None:
    generation = lf.first_generation()
    generation.update(copy.deepcopy(change))
    assert expected in _bad(generation)


def test_bad_files_are_one_line_errors_naming_the_file_and_record() -> None:
    assert "no GENERATION observation" in one_line_error(
        langfuse.read, lf.trace([lf.observations()[0]])
    )
    assert "record 1: an integer, not an observation" in one_line_error(
        langfuse.read, [lf.first_generation(), 5]
    )
    assert "not a Langfuse export" in one_line_error(langfuse.read, {"something": 1})
    multiline = lf.first_generation(id="obs\nInjected line", input=None)
    assert one_line_error(langfuse.read, [multiline]).startswith("bad.json: record 0: ")
    deep = lf.first_generation()
    deep["output"] = "[" * 100_000 + "]" * 100_000
    assert "nested too deeply" in one_line_error(langfuse.read, lf.trace([deep]))


def test_damaged_exports_give_calls_or_one_error_line_never_a_traceback() -> None:
    seeds = [lf.trace(), lf.page(), lf.observations(), lf.content_parts_trace()]
    for document in mutants(seeds, 2000):
        langfuse.detect(document)
        read_or_one_line_error(langfuse.read, document)
