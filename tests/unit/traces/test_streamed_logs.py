"""``iter_calls``: the reader a scan uses. JSONL of whole exchanges is read a line at a time (a bad
line is one error, and the lines after it are still read); any other file is read whole, exactly
as ``read_calls`` reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import openai_exchanges as ox
import otlp_fixtures as of
from incident_evals.traces import TraceError
from incident_evals.traces.formats import Logged, iter_calls, read_calls


@pytest.fixture(scope="module")
def pairs() -> list[dict[str, Any]]:
    return ox.pairs()


def read(path: Path, **options: Any) -> tuple[list[Logged], list[str]]:
    found = list(iter_calls(path, **options))
    calls = [item for item in found if isinstance(item, Logged)]
    errors = [str(item) for item in found if isinstance(item, TraceError)]
    assert len(calls) + len(errors) == len(found)
    return calls, errors


def test_jsonl_of_exchanges_is_read_a_line_at_a_time_as_read_calls_reads_it(
    tmp_path: Path, pairs: list[dict[str, Any]]
) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("\n" + ox.jsonl(pairs), encoding="utf-8")
    calls, errors = read(path)
    assert errors == []
    assert [item.where for item in calls] == [f"{path}:2", f"{path}:3"]
    whole = read_calls(path)
    assert [item.call.index for item in calls] == [0, 1]
    assert [item.call.messages for item in calls] == [call.messages for call in whole]
    assert [item.call.output for item in calls] == [call.output for call in whole]
    assert calls[1].call.output == ox.ANSWER
    assert calls[0].call.tool_calls[0].name == "lookup_order"


def test_a_bad_line_is_one_error_naming_it_and_the_lines_after_it_are_read(
    tmp_path: Path, pairs: list[dict[str, Any]]
) -> None:
    good = json.dumps(pairs[1])
    lines = [
        json.dumps(pairs[0]),
        "{not json",
        json.dumps({"request": "text", "response": {}}),
        json.dumps({"object": "chat.completion.chunk", "id": "x", "choices": []}),
        good,
    ]
    path = tmp_path / "log.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe{}\n" + good.encode() + b"\n")
    calls, errors = read(path)
    assert [item.where for item in calls] == [f"{path}:1", f"{path}:5", f"{path}:7"]
    assert [item.call.index for item in calls] == [0, 1, 2]
    assert len(errors) == 4
    assert errors[0].startswith(f"{path}:2: not JSON")
    assert errors[1].startswith(f"{path}:3: ")
    assert errors[2] == f"{path}:4: not a openai-chat exchange like the records before it"
    assert errors[3] == f"{path}:6: not UTF-8 (byte 0xff cannot be decoded)"
    assert all("\n" not in error for error in errors)


def test_a_line_over_the_record_bound_is_skipped_unread(
    tmp_path: Path, pairs: list[dict[str, Any]]
) -> None:
    small = json.dumps(pairs[1])
    huge = json.dumps({**pairs[1], "padding": "x" * 50_000})
    path = tmp_path / "log.jsonl"
    path.write_text(f"{small}\n{huge}\n{small}\n", encoding="utf-8")
    calls, errors = read(path, max_record_bytes=len(small) + 10)
    assert [item.where for item in calls] == [f"{path}:1", f"{path}:3"]
    assert errors == [f"{path}:2: a record larger than {len(small) + 10} bytes: not read"]


def test_other_files_are_read_whole_as_read_calls_reads_them(tmp_path: Path) -> None:
    span = of.span(
        "00f067aa0ba902b7",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [of.text("Where is order 7?")]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [of.text("Shipped.")]}]
            ),
        },
        start=1_760_000_000_000_000_000,
    )
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps(of.traces(span), indent=2), encoding="utf-8")
    calls, errors = read(path)
    assert errors == []
    assert [(item.where, item.call.output) for item in calls] == [(f"{path}: call 0", "Shipped.")]
    assert [item.call for item in calls] == read_calls(path)


def test_a_file_that_cannot_be_read_is_one_error(tmp_path: Path) -> None:
    assert read(tmp_path / "missing.jsonl") == ([], [f"{tmp_path / 'missing.jsonl'}: no such file"])
    assert read(tmp_path) == ([], [f"{tmp_path}: is a folder, not a file"])
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}', encoding="utf-8")
    [error] = read(other)[1]
    assert error.startswith(f"{other}: not a trace format this tool reads")
    with pytest.raises(TraceError, match="unknown trace format 'nope'"):
        list(iter_calls(other, "nope"))
