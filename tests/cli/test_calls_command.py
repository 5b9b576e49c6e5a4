"""``incident-evals calls``: a line per model call of a trace file, or the calls as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import openai_exchanges as ox
from incident_evals.cli import main

JSON_KEYS = {
    "index",
    "format",
    "model",
    "system",
    "messages",
    "tools",
    "tool_calls",
    "tool_results",
    "output",
    "source",
    "guesses",
}


@pytest.fixture
def loop_file(tmp_path: Path) -> Path:
    path = tmp_path / "loop.jsonl"
    path.write_text(ox.jsonl(ox.pairs()), encoding="utf-8")
    return path


def test_a_line_per_call_with_its_tool_calls_and_output(
    loop_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", str(loop_file)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        '0  openai-chat  gpt-4o  user: "Where is my refund for order 42? I …"  '
        'calls: lookup_order({"order_id": "42"})',
        '1  openai-chat  gpt-4o  user: "Where is my refund for order 42? I …"  '
        'output: "Your refund of $120 was approved and sent …"',
    ]


def test_guesses_are_shown_under_their_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "completion.json"
    path.write_text(json.dumps(ox.pairs()[1]["response"]), encoding="utf-8")
    assert main(["calls", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("0  openai-chat  gpt-4o-2024-08-06  user: -  output: ")
    assert lines[1:] == ["    guess: no request in the file: the conversation is unknown"]


def test_json_prints_the_normalised_calls(
    loop_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", str(loop_file), "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)
    assert [set(call) for call in calls] == [JSON_KEYS, JSON_KEYS]
    assert calls[0]["tool_calls"][0]["arguments"] == {"order_id": "42"}
    assert calls[0]["tool_calls"][0]["result"] == ox.ORDER
    assert calls[1]["output"] == ox.ANSWER
    assert calls[1]["source"] == {"format": "openai-chat", "file": str(loop_file)}


def test_the_format_can_be_given(loop_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", str(loop_file), "--format", "openai-chat"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ('{"spans": []}', [], "not a trace format this tool reads (tried: openai-chat, "),
        ('{"request": {"messages": [', [], ":1: not JSON (Expecting value"),
        ("{}", ["--format", "otel"], "unknown trace format 'otel' (known: openai-chat"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    args: list[str],
    message: str,
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    assert main(["calls", str(path), *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("incident-evals calls: ")
    assert message in err
    assert err.count("\n") == 1


def test_the_installed_command_lists_calls(loop_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "incident_evals", "calls", str(loop_file), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2


@pytest.mark.parametrize("as_json", [False, True])
def test_credentials_in_the_trace_are_not_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    pair = ox.pairs()[1]
    pair["request"]["messages"][1]["content"] = f"Authorization: Bearer {ox.API_KEY} fails"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(pair), encoding="utf-8")
    assert main(["calls", str(path), *(["--json"] if as_json else [])]) == 0
    out = capsys.readouterr().out
    assert ox.API_KEY not in out
    assert "[redacted: " in out
