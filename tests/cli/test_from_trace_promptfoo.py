"""Round trips of promptfoo results files (built from promptfoo's published result types; the
Node.js tool is not installed): a failed result becomes a case that catches its incident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import promptfoo_fixtures as pf
from chat_server import ChatServer
from incident_evals.cli import main
from trace_round_trip import CASE, FLAGS, round_trip


def _write(pytester: pytest.Pytester, name: str) -> Path:
    rows = [*pf.refund_rows(), pf.promised_refund_row()]
    text = json.dumps(pf.results_file(rows)) if name.endswith(".json") else pf.jsonl(rows)
    (pytester.path / name).write_text(text, encoding="utf-8")
    return Path(name)


@pytest.mark.parametrize("name", ["results.json", "results.jsonl"])
def test_a_failed_answer_after_a_tool_loop_in_the_prompt(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], name: str
) -> None:
    trip = round_trip(
        pytester,
        chat_server,
        endpoint_args,
        _write(pytester, name),
        format="promptfoo",
        call=2,
        expect="  - not_contains: refunded\n",
    )
    assert trip.calls[2]["guesses"][-1] == (
        'promptfoo failed this result (score 0): Expected output to not contain "refunded"'
    )
    assert trip.case["recorded_output"] == pf.PROMISE
    assert trip.case["input"]["system"] == pf.SYSTEM
    assert trip.case["incident"]["source"]["span_id"] == "res-2-0"
    # The lookup and its result, from the chat prompt, are the conversation replayed.
    assert [m["role"] for m in trip.sent[0]] == ["system", "user", "assistant", "tool"]
    assert trip.sent[0][-1]["content"] == pf.LOOKED_UP


def test_a_failed_tool_call_becomes_a_case_without_the_tools_result(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    # promptfoo runs one turn: what a tool the model called would have returned is not in
    # the results, so the case records the call and leaves its response to be written.
    file = str(_write(pytester, "results.json"))
    assert main(["new", "--from-trace", file, "--call", "0", *FLAGS]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {CASE}\n")
    case = yaml.safe_load((pytester.path / CASE).read_text(encoding="utf-8"))
    assert case["recorded_tool_calls"] == [
        {"name": "refund_order", "arguments": {"order_id": "A1", "amount": 120}}
    ]
    assert [tool["name"] for tool in case["input"]["tools"]] == ["lookup_order", "refund_order"]
    assert not any(tool.get("responses") for tool in case["input"]["tools"])
    assert case["incident"]["source"] == {
        "format": "promptfoo",
        "file": file,
        "trace_id": pf.EVAL_ID,
        "span_id": "res-0-0",
    }
