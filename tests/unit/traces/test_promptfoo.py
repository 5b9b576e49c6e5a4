"""The promptfoo importer on results files built from promptfoo's published result types
(``tests/promptfoo_fixtures.py``; promptfoo itself, a Node.js tool, is not installed)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import inspect_logs as il
import langfuse_fixtures as lf
import langsmith_fixtures as ls
import openai_exchanges as ox
import promptfoo_fixtures as pf
from incident_evals.traces import ModelCall, TraceError, formats, promptfoo
from incident_evals.traces.formats import Document, load_format, read_calls
from otlp_fixtures import mutants, read_or_one_line_error, span, traces


def _write(tmp_path: Path, value: Any, name: str = "results.json") -> Path:
    path = tmp_path / name
    text = value if isinstance(value, str) else json.dumps(value, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def _read(value: Any) -> list[ModelCall]:
    return promptfoo.read(Document("json", value), "results.json")


def test_a_results_file_gives_one_call_per_result(tmp_path: Path) -> None:
    refunded, answered = read_calls(_write(tmp_path, pf.results_file(pf.refund_rows())))
    assert refunded.source.format == "promptfoo"
    assert (refunded.source.trace_id, refunded.source.span_id) == (pf.EVAL_ID, "res-0-0")
    assert refunded.model == "gpt-4o-mini"
    assert refunded.system == pf.SYSTEM
    assert refunded.messages == ({"role": "user", "content": pf.ASK},)
    assert [tool["function"]["name"] for tool in refunded.tools] == ["lookup_order", "refund_order"]
    [call] = refunded.tool_calls
    assert (call.id, call.name, call.arguments) == (
        "call_r1",
        "refund_order",
        {"order_id": "A1", "amount": 120},
    )
    assert refunded.output is None
    assert refunded.params == {"temperature": 0, "max_tokens": 256, "tool_choice": "auto"}
    # The failed result says so, with the grader's reason on one line.
    assert refunded.guesses == (
        "promptfoo failed this result (score 0): Custom function returned false !output.some(...)",
    )
    # A plain prompt is one user message; a passed result says nothing.
    assert answered.messages == ({"role": "user", "content": "What are your opening hours?"},)
    assert answered.output == "We are open 9 to 5."
    assert answered.guesses == ()


def test_the_provider_options_key_and_headers_are_never_copied(tmp_path: Path) -> None:
    calls = read_calls(_write(tmp_path, pf.results_file(pf.refund_rows())))
    text = json.dumps([call.to_json() for call in calls] + [call.chat_exchange() for call in calls])
    assert pf.API_KEY not in text
    assert "openai-organization" not in text


def test_jsonl_results_are_one_result_a_line(tmp_path: Path) -> None:
    path = _write(tmp_path, pf.jsonl(pf.refund_rows()), "results.jsonl")
    refunded, answered = read_calls(path)
    assert refunded.tool_calls[0].name == "refund_order"
    assert answered.output == "We are open 9 to 5."
    assert refunded.tools == ()
    assert "the file holds no config: the provider's tools and parameters are unknown" in (
        refunded.guesses
    )


def test_windows_line_endings_in_jsonl(tmp_path: Path) -> None:
    path = _write(tmp_path, pf.jsonl(pf.refund_rows()).replace("\n", "\r\n"), "results.jsonl")
    assert len(read_calls(path)) == 2


def test_the_bare_summary_of_the_node_api() -> None:
    summary = pf.results_file(pf.refund_rows())["results"]
    calls = _read(summary)
    assert [call.source.trace_id for call in calls] == [None, None]
    assert calls[0].tool_calls[0].name == "refund_order"


@pytest.mark.parametrize(
    ("output", "content", "names"),
    [
        # The assistant message, when it has both text and tool calls.
        (
            {"role": "assistant", "content": "Refunding.", "tool_calls": [pf.REFUND_CALL]},
            "Refunding.",
            ["refund_order"],
        ),
        # The JSON text of the tool calls.
        (json.dumps([pf.REFUND_CALL]), None, ["refund_order"]),
        # The legacy function call.
        ({"name": "refund_order", "arguments": '{"order_id": "A1"}'}, None, ["refund_order"]),
        # Plain text that happens to be JSON is kept as text.
        ('{"verdict": "refund"}', '{"verdict": "refund"}', []),
    ],
)
def test_the_shapes_of_an_answer(output: Any, content: str | None, names: list[str]) -> None:
    row = pf.result(pf.chat_prompt({"role": "user", "content": pf.ASK}), output)
    [call] = _read(pf.results_file([row]))
    assert call.output == content
    assert [record.name for record in call.tool_calls] == names


def test_a_structured_output_is_kept_as_its_json_text() -> None:
    row = pf.result("Rate it", {"score": 3})
    [call] = _read(pf.results_file([row]))
    assert call.output == '{"score": 3}'
    assert "the output is an object: kept as its JSON text" in call.guesses


def test_a_chat_prompt_with_a_tool_loop() -> None:
    raw = pf.chat_prompt(
        {"role": "system", "content": pf.SYSTEM},
        {"role": "user", "content": pf.ASK},
        {"role": "assistant", "content": None, "tool_calls": [pf.REFUND_CALL]},
        {"role": "tool", "tool_call_id": "call_r1", "content": "refunded 120"},
    )
    [call] = _read(pf.results_file([pf.result(raw, "Done, 120 refunded.")]))
    assert [message["role"] for message in call.messages] == ["user", "assistant", "tool"]
    assert call.tool_results == [{"tool_call_id": "call_r1", "content": "refunded 120"}]
    assert call.output == "Done, 120 refunded."


def test_a_failed_provider_call_says_why_without_its_key() -> None:
    row = pf.result(
        "hi",
        None,
        success=False,
        score=0,
        error=f"API error: 401 Unauthorized Incorrect API key provided: {pf.API_KEY}",
    )
    [call] = _read(pf.results_file([row]))
    assert call.output is None
    assert call.guesses[0].startswith("the provider call failed: API error: 401 Unauthorized")
    assert call.guesses[1].startswith("promptfoo failed this result (score 0): API error: 401")
    assert pf.API_KEY not in json.dumps(call.to_json())


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai:gpt-4o-mini", "gpt-4o-mini"),
        ("openai:chat:gpt-4o", "gpt-4o"),
        ("anthropic:messages:claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022"),
        ("ollama:chat:llama3.1:8b", "llama3.1:8b"),
        ("file://provider.py", None),
        ("https://bot:hunter2-pass@llm.internal/v1/chat", None),
    ],
)
def test_the_model_is_named_by_the_provider_id(provider: str, model: str | None) -> None:
    [call] = _read(pf.results_file([pf.result("hi", "hello", provider=provider)], config_={}))
    assert call.model == model
    assert "hunter2" not in json.dumps(call.to_json())


def test_prompt_config_overrides_the_provider_options() -> None:
    row = pf.result("hi", "hello")
    row["prompt"]["config"] = {"temperature": 0.7, "tools": "file://tools.yaml"}
    [call] = _read(pf.results_file([row]))
    assert call.params["temperature"] == 0.7
    assert call.tools == ()
    assert "the tools are in file://tools.yaml, which the results do not hold" in call.guesses


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def test_the_format_is_found_from_the_content(tmp_path: Path) -> None:
    for path in (
        _write(tmp_path, pf.results_file(pf.refund_rows()), "named.yaml"),
        _write(tmp_path, pf.jsonl(pf.refund_rows()), "named.json"),
    ):
        assert {call.source.format for call in read_calls(path)} == {"promptfoo"}


def test_no_other_format_claims_promptfoo_results() -> None:
    documents = [
        Document("json", pf.results_file(pf.refund_rows())),
        Document("jsonl", pf.refund_rows(), (1, 2)),
        Document("json", pf.results_file(pf.refund_rows())["results"]),
    ]
    for module in formats.FORMATS:
        found = load_format(module)
        if found.NAME != "promptfoo":
            assert not any(found.detect(document) for document in documents), found.NAME


def test_promptfoo_claims_no_other_formats_file() -> None:
    others = [
        Document("json", ox.pairs()[0]),
        Document("jsonl", ox.pairs(), (1, 2)),
        Document("json", traces(span("a" * 16, {"gen_ai.operation.name": "chat"}, start=1))),
        Document("json", lf.trace()),
        Document("json", lf.page()),
        Document("jsonl", lf.observations(), tuple(range(1, len(lf.observations()) + 1))),
        Document("json", ls.runs()),
        Document("jsonl", ls.runs(), tuple(range(1, len(ls.runs()) + 1))),
        Document("json", il.eval_log([il.tool_loop_sample()])),
        Document("json", {"results": {"results": []}}),
        Document("zip", {"results.json": b"{}"}),
    ]
    assert not any(promptfoo.detect(document) for document in others)


# --------------------------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------------------------


def _with(change: Any) -> dict[str, Any]:
    rows = pf.refund_rows()
    change(rows[0])
    return pf.results_file(rows)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (pf.results_file([7]), r"result 0: an integer, not a result object"),
        (_with(lambda row: row["prompt"].update(raw=None)), r'result 0: no "prompt.raw" text'),
        (_with(lambda row: row.update(response="x")), r'result 0: "response" is a string'),
        (
            _with(lambda row: row["response"].update(output=[{"function": {"arguments": "{}"}}])),
            r"result 0: response.output: tool call 0 of the answer has no function name",
        ),
        (
            _with(lambda row: row["prompt"].update(raw='[{"role": "user"}, 3]')),
            r"prompt: message 1 is an integer",
        ),
    ],
)
def test_a_bad_result_is_one_line_naming_it(tmp_path: Path, value: Any, problem: str) -> None:
    path = _write(tmp_path, value)
    with pytest.raises(TraceError) as caught:
        read_calls(path, "promptfoo")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert re.search(problem, message), message


def test_a_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, pf.jsonl(pf.refund_rows()) + '{"prompt": \n', "results.jsonl")
    with pytest.raises(TraceError, match=r"results\.jsonl:3: not JSON"):
        read_calls(path)


def test_a_file_that_is_not_results_is_refused_when_asked_for(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r'not promptfoo results \(no "results" list\)$'):
        read_calls(_write(tmp_path, {"evalId": "x"}), "promptfoo")


def test_damaged_results_give_calls_or_one_line() -> None:
    seeds = [pf.results_file(pf.refund_rows())]
    for damaged in mutants(seeds, 300):
        read_or_one_line_error(
            lambda value, file: promptfoo.read(Document("json", value), file), damaged
        )
