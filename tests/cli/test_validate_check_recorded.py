"""``incident-evals validate --check-recorded`` on what a new user writes: every case is either
checked on its recorded incident or named as "not checked" with the reason, and a skeleton of
``incident-evals new`` left with its placeholders fails, as plain ``validate`` and pytest do."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from incident_evals.cli import main

NEW = ["new", "--title", "Bot quoted the old refund policy", "--category", "correctness"]
NEW += ["--severity", "major", "--date", "2025-11-02"]
SKELETON = "incident_cases/correctness/INC-2025-bot-quoted-the-old-refund-policy.yaml"
TRIGGER = "TODO: the user message that triggered the incident, word for word"
PLACEHOLDER_LINE = (
    "input.messages[0].content: still the placeholder that incident-evals new wrote "
    f"('{TRIGGER}'): replace it with the incident's own text"
)
SIXTY_DAYS = "Yes, you have 60 days to ask for a refund."


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    # As in a script: `new` must not ask for anything.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    return tmp_path


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if text in line)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def skeleton(capsys: pytest.CaptureFixture[str], in_tmp: Path) -> Path:
    assert main(NEW) == 0
    capsys.readouterr()
    return in_tmp / SKELETON


# --- a skeleton left with its placeholders fails --------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["--check-recorded"]], ids=["validate", "check-recorded"])
def test_a_skeleton_fails_on_its_empty_expect_then_on_its_placeholder(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    path = skeleton(capsys, in_tmp)
    summary = "0 case(s) in 1 file(s), 1 error(s)"
    if flags:
        summary += ", 0 checked on their recorded incident"

    assert main(["validate", *flags]) == 1
    captured = capsys.readouterr()
    assert captured.out == (
        f"{SKELETON}:{line_of(path, 'expect: []')}: expect: is empty: add at least one "
        "constraint, what must never happen again (see docs/constraints.md)\n"
    )
    assert captured.err == f"{summary}\n"

    edit(path, "expect: []\n", "expect:\n  - not_contains: 60 days\n")
    assert main(["validate", *flags]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"{SKELETON}:{line_of(path, TRIGGER)}: {PLACEHOLDER_LINE}\n"
    assert captured.err == f"{summary}\n"


def test_uncommented_examples_of_the_skeleton_are_placeholders_too(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = skeleton(capsys, in_tmp)
    edit(path, "expect: []\n", "expect:\n  - not_contains: 60 days\n")
    edit(path, TRIGGER, "Can I get a refund 40 days after purchase?")
    # The engineer uncomments the example recording as it is.
    edit(path, "# recorded_output: |\n#   the bad answer", "recorded_output: |\n  the bad answer")

    assert main(["validate", "--check-recorded"]) == 1

    assert capsys.readouterr().out == (
        f"{SKELETON}:{line_of(path, 'recorded_output: |')}: recorded_output: still the "
        "placeholder that incident-evals new wrote ('the bad answer, word for word'): replace it "
        "with the incident's own text\n"
    )


def test_a_filled_in_skeleton_without_a_recording_is_valid_and_named_not_checked(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = skeleton(capsys, in_tmp)
    edit(path, "expect: []\n", "expect:\n  - not_contains: 60 days\n")
    edit(path, TRIGGER, "Can I get a refund 40 days after purchase?")

    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"

    assert main(["validate", "--check-recorded"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{SKELETON}:2: INC-2025-bot-quoted-the-old-refund-policy: not checked: no recording "
        "(neither recorded_output nor recorded_tool_calls)",
        "1 case(s) in 1 file(s), 0 error(s), 0 checked on their recorded incident, 1 not checked",
    ]

    edit(path, "expect:\n", f"recorded_output: '{SIXTY_DAYS}'\nexpect:\n")
    assert main(["validate", "--check-recorded"]) == 0
    assert capsys.readouterr().out == (
        "1 case(s) in 1 file(s), 0 error(s), 1 checked on their recorded incident\n"
    )


def test_pytest_refuses_the_skeleton_as_validate_does_and_runs_the_other_cases(
    pytester: pytest.Pytester, endpoint_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(NEW) == 0
    path = pytester.path / SKELETON
    edit(path, "expect: []\n", "expect:\n  - not_contains: 60 days\n")
    write_case(pytester.path, "incident_cases/other.yaml", case_data("INC-OTHER"))

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"{SKELETON}:{line_of(path, TRIGGER)}: {PLACEHOLDER_LINE}"])


# --- per case: checked, or not checked with the reason --------------------------------------------

SEND_EMAIL = {"name": "send_email", "parameters": {"type": "object"}}
NEEDS_A_JUDGE = (
    "needs a judge to be calibrated: no judge is configured: pass --judge-model NAME (and "
    "--judge-base-url URL), or replay recorded verdicts with --judge-replay DIR"
)
ALL_STAFF = [{"name": "send_email", "arguments": {"to": "all-staff@acme.example"}}]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param(
            {"expect": [{"not_contains": "60 days"}]},
            "no recording (neither recorded_output nor recorded_tool_calls)",
            id="no-recording",
        ),
        pytest.param(
            {"recorded_output": SIXTY_DAYS, "expect": [{"judge": "It says 30 days."}]},
            "judge-only: judge (line {judge}) " + NEEDS_A_JUDGE,
            id="judge-only",
        ),
        pytest.param(
            {
                "input": {"tools": [SEND_EMAIL]},
                "recorded_tool_calls": ALL_STAFF,
                "expect": [{"judge": "It asks first."}, {"contains": "finance"}],
            },
            "judge-only: judge (line {judge}) "
            + NEEDS_A_JUDGE
            + "; contains (line {contains}) reads only "
            "the final text: no recorded_output",
            id="judge-and-text-without-output",
        ),
        pytest.param(
            {
                "input": {"tools": [SEND_EMAIL]},
                "recorded_output": SIXTY_DAYS,
                "expect": [{"tool_not_called": "send_email"}],
            },
            "no constraint reads what was recorded: tool_not_called (line {tool_not_called}) "
            "reads only tool calls: no recorded_tool_calls",
            id="tools-without-calls",
        ),
    ],
)
def test_a_case_that_cannot_be_checked_is_named_with_its_reason_and_is_not_an_error(
    in_tmp: Path,
    capsys: pytest.CaptureFixture[str],
    fields: dict[str, Any],
    reason: str,
) -> None:
    path = write_case(in_tmp, "incident_cases/a.yaml", case_data("INC-A", **fields))
    lines = {
        name: line_of(path, f"- {name}:")
        for name in ("judge", "contains", "tool_not_called")
        if f"- {name}:" in path.read_text(encoding="utf-8")
    }

    assert main(["validate", "--check-recorded"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"incident_cases/a.yaml:1: INC-A: not checked: {reason.format(**lines)}",
        "1 case(s) in 1 file(s), 0 error(s), 0 checked on their recorded incident, 1 not checked",
    ]


def test_each_case_of_a_catalogue_gets_its_line_and_a_miss_fails_the_run(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(
        in_tmp,
        "incident_cases/a.yaml",
        case_data("INC-CAUGHT", recorded_output=SIXTY_DAYS),
        case_data("INC-PLAIN"),
        case_data("INC-MISSED", recorded_output=SIXTY_DAYS, expect=[{"contains": "refund"}]),
    )

    assert main(["validate", "--check-recorded", "-v"]) == 1

    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"incident_cases/a.yaml:{line_of(path, 'id: INC-CAUGHT')}: INC-CAUGHT: catches its "
        f"recorded incident: not_contains (line {line_of(path, 'not_contains: 60 days')}) fails "
        "on it",
        f"incident_cases/a.yaml:{line_of(path, 'id: INC-PLAIN')}: INC-PLAIN: not checked: no "
        "recording (neither recorded_output nor recorded_tool_calls)",
        f"incident_cases/a.yaml:{line_of(path, 'id: INC-MISSED')}: INC-MISSED: would not have "
        "caught its own incident: every constraint holds on the recorded behaviour (contains "
        f"(line {line_of(path, 'contains: refund')})); add a constraint that fails on it",
    ]
    assert captured.err == (
        "3 case(s) in 1 file(s), 1 error(s), 2 checked on their recorded incident, 1 not checked\n"
    )


# --- a new project --------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["--check-recorded"]], ids=["validate", "check-recorded"])
def test_with_no_catalogue_yet_validate_says_how_to_start_one(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    assert main(["validate", *flags]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "incident-evals validate: incident_cases: no such file or directory (the default "
        "catalogue: pass case files or folders, or write a first case with incident-evals new)\n"
    )
