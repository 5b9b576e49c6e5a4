"""``incident-evals new --redact REGEX``: what else a case made from a capture must not copy."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import openai_exchanges as ox
from incident_evals.cli import main

FLAGS = ["--title", "Bot made up a refund", "--category", "correctness", "--severity", "major"]
FLAGS += ["--date", "2025-12-01", "--id", "INC-redacted"]
CASE = Path("incident_cases/correctness/INC-redacted.yaml")
REDACTED = "[redacted: --redact]"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    (tmp_path / "loop.jsonl").write_text(ox.jsonl(ox.pairs()), encoding="utf-8")
    return tmp_path


def case_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CASE.read_text(encoding="utf-8"))
    return data


def test_every_match_is_replaced_wherever_the_case_copies_it(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "order 42" is in the question; "\$\d+" in the recorded answer; "delivered" in the tool's
    # recorded response: every part of the case is covered.
    args = ["--redact", r"order \d+", "--redact", r"\$\d+", "--redact", "delivered"]
    assert main(["new", "--from-trace", "loop.jsonl", *args, *FLAGS]) == 0
    out = capsys.readouterr().out
    assert f"note: --redact replaced 3 matches with {REDACTED}\n" in out
    text = CASE.read_text(encoding="utf-8")
    for gone in ("order 42", "$120", "delivered"):
        assert gone not in text
    data = case_data()
    assert data["input"]["messages"][0]["content"].startswith(f"Where is my refund for {REDACTED}?")
    assert data["recorded_output"] == f"Your refund of {REDACTED} was approved and sent today."
    [tool] = data["input"]["tools"]
    assert tool["responses"][0]["output"]["status"] == REDACTED
    # Tool-call arguments are texts too: the case's calls and responses stay consistent.
    assert tool["responses"][0]["when"] == {"order_id": "42"}


def test_the_redacted_case_still_catches_its_incident(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "--from-trace", "loop.jsonl", "--redact", "Acme", *FLAGS]) == 0
    assert "Acme" not in CASE.read_text(encoding="utf-8")
    text = CASE.read_text(encoding="utf-8")
    CASE.write_text(text.replace("\nexpect: []\n", "\nexpect:\n  - not_contains: approved\n"))
    capsys.readouterr()
    assert main(["validate", "--check-recorded", str(CASE)]) == 0, capsys.readouterr()


def test_a_captured_exchange_is_redacted_too(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("pair.json").write_text(json.dumps(ox.pairs()[1]), encoding="utf-8")
    assert main(["new", "--from-openai", "pair.json", "--redact", "(?i)refund", *FLAGS]) == 0
    assert "refund" not in CASE.read_text(encoding="utf-8").lower().replace("made up a refund", "")
    assert "note: --redact replaced" in capsys.readouterr().out


def test_no_match_writes_no_note(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "--from-trace", "loop.jsonl", "--redact", "zebra", *FLAGS]) == 0
    assert "--redact" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "(",
            "argument --redact: invalid regular expression /(/: missing ), unterminated subpattern",
        ),
        ("x*", "argument --redact: invalid regular expression /x*/: it matches the empty string"),
    ],
)
def test_an_unusable_pattern_is_one_usage_line(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], pattern: str, message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["new", "--from-trace", "loop.jsonl", "--redact", pattern, *FLAGS])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1]
    assert not CASE.exists()


def test_a_pattern_that_runs_away_on_the_trace_is_one_line_and_writes_nothing(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = ox.pairs()[1]
    pair["request"]["messages"][1]["content"] = "a" * 50_000 + "b"
    Path("t.json").write_text(json.dumps(pair), encoding="utf-8")
    assert main(["new", "--from-trace", "t.json", "--redact", "(a+)+$", *FLAGS]) == 2
    err = capsys.readouterr().err
    assert err.startswith("incident-evals new: t.json")
    assert "--redact /(a+)+$/ timed out after 1 s" in err
    assert err.count("\n") == 1
    assert not CASE.exists()


def test_redact_needs_a_capture(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "--redact", "x", *FLAGS]) == 2
    assert "--redact goes with --from-trace, --from-openai or --from-recording" in (
        capsys.readouterr().err
    )
