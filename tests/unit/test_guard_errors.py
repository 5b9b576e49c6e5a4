"""The guard's error modes: a check that raises follows on_error, a pathological pattern is cut
off, a huge text is refused rather than read, and spans never carry a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from example_cases import CATALOGUE
from incident_evals import Catalogue
from incident_evals.guard import SPAN_LIMIT, Guard

CHECKS = """\
def explode(transcript, case):
    if "boom" in transcript.final_text:
        raise RuntimeError("the checker's backend is down")
    return True
"""


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def guard_of(tmp_path: Path, *cases: dict[str, Any], on_error: str = "block") -> Guard:
    for data in cases:
        write_case(tmp_path, f"{data['id']}.yaml", data)
    catalogue = Catalogue.load(tmp_path)
    assert not catalogue.errors, [e.render() for e in catalogue.errors]
    return catalogue.guard(on_error=on_error, otel=False)


@pytest.fixture
def raising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    (tmp_path / "guard_error_checks.py").write_text(CHECKS, "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = case_data(
        "raising",
        expect=[{"python": "guard_error_checks:explode"}, {"not_contains": "forbidden"}],
    )
    data["guard"] = {"applies": "always"}
    return data


def test_a_check_that_raises_blocks_under_on_error_block(
    tmp_path: Path, raising: dict[str, Any]
) -> None:
    guard = guard_of(tmp_path / "cases", raising)

    result = guard.check_output("boom", messages=user("hi"))

    assert not result.allowed
    assert result.findings == []
    [error] = result.errors
    assert error.startswith("raising: python (line ")
    assert "RuntimeError: the checker's backend is down" in error
    # The other constraints still judged the output.
    assert guard.check_output("boom, forbidden", messages=user("hi")).findings[0].constraint == (
        "not_contains"
    )


def test_a_check_that_raises_is_reported_but_allowed_under_on_error_allow(
    tmp_path: Path, raising: dict[str, Any]
) -> None:
    guard = guard_of(tmp_path / "cases", raising, on_error="allow")

    result = guard.check_output("boom", messages=user("hi"))
    quiet = guard.check_output("calm", messages=user("hi"))

    assert result.allowed
    assert len(result.errors) == 1
    assert "RuntimeError" in result.errors[0]
    assert quiet.errors == []


def test_a_finding_blocks_under_on_error_allow_too(tmp_path: Path, raising: dict[str, Any]) -> None:
    guard = guard_of(tmp_path / "cases", raising, on_error="allow")

    assert not guard.check_output("forbidden", messages=user("hi")).allowed


def test_a_pathological_pattern_is_cut_off_not_hung(tmp_path: Path) -> None:
    data = case_data("redos", expect=[{"not_matches": "(a+)+$"}])
    data["guard"] = {"applies": "always"}
    guard = guard_of(tmp_path, data)

    result = guard.check_output("a" * 50_000 + "!", messages=user("hi"))

    assert not result.allowed
    [error] = result.errors
    assert error.startswith("redos: not_matches (line ")
    assert "timed out after 1 s on a text of 50,001 characters" in error


def test_a_pathological_when_pattern_is_cut_off_not_hung(tmp_path: Path) -> None:
    data = case_data("redos-when", expect=[{"not_contains": "x"}])
    data["guard"] = {"when": {"user_matches": "(b+)+$"}}
    guard = guard_of(tmp_path, data, on_error="allow")

    result = guard.check_output("fine", messages=user("b" * 50_000 + "!"))

    assert result.allowed
    [error] = result.errors
    assert error.startswith("redos-when: guard.when (line ")
    assert "timed out" in error


@pytest.mark.parametrize("on_error", ["block", "allow"])
def test_a_huge_output_is_refused_without_being_read(tmp_path: Path, on_error: str) -> None:
    data = case_data("huge", expect=[{"not_contains": "needle"}])
    data["guard"] = {"applies": "always"}
    guard = guard_of(tmp_path, data, on_error=on_error)
    huge = "hay " * 1_000_000 + "needle"

    result = guard.check_output(huge, messages=user("hi"))

    assert result.allowed is (on_error == "allow")
    assert result.findings == []
    assert result.errors == [
        "the output is 4000006 characters, over the guard's limit of 200000 (max_chars): "
        "not checked"
    ]


def test_huge_messages_and_arguments_are_refused_too(tmp_path: Path) -> None:
    data = case_data("huge", expect=[{"not_contains": "needle"}])
    data["guard"] = {"applies": "always"}
    guard = guard_of(tmp_path, data)

    long_message = guard.check_input(user("x" * 300_000))
    long_arguments = guard.check_tool_call("send", {"body": "x" * 300_000})

    assert not long_message.allowed
    assert long_message.errors[0].startswith("messages[0] is 300000 characters")
    assert not long_arguments.allowed
    assert long_arguments.errors[0].startswith("the arguments of 'send' are")


def test_max_chars_is_a_setting(tmp_path: Path) -> None:
    data = case_data("small", expect=[{"not_contains": "needle"}])
    data["guard"] = {"applies": "always"}
    write_case(tmp_path, "small.yaml", data)
    catalogue = Catalogue.load(tmp_path)

    guard = catalogue.guard(max_chars=10, otel=False)

    assert guard.check_output("0123456789", messages=[]).allowed
    assert not guard.check_output("0123456789a", messages=[]).allowed
    with pytest.raises(ValueError, match="max_chars must be a positive number of characters"):
        catalogue.guard(max_chars=0)


def test_a_leaked_document_is_redacted_in_the_span() -> None:
    guard = Catalogue.load(CATALOGUE).guard(otel=False)

    result = guard.check_output(
        "Priya Natarajan earns £84,500 (PAYROLL-CONFIDENTIAL).", messages=user("Hello")
    )

    leak = next(f for f in result.findings if f.constraint == "no_leak")
    assert "PAYROLL-CONFIDENTIAL" not in leak.span + leak.message
    assert "[redacted: payroll-extract-2025-06]" in leak.span


def test_credentials_are_redacted_in_spans_and_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-live-0123456789abcdefghij"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    data = case_data("keys", expect=[{"not_matches": r"sk-[\w-]+|bearer \S+"}])
    data["guard"] = {"applies": "always"}
    guard = guard_of(tmp_path, data)

    mine = guard.check_output(f"Use {key} to log in.", messages=user("hi"))
    anyone = guard.check_output("Send Authorization: Bearer abc.def.ghi123", messages=[])

    assert key not in mine.findings[0].span + mine.findings[0].message
    assert "[redacted: api key]" in mine.findings[0].span
    assert "abc.def.ghi123" not in anyone.findings[0].span + anyone.findings[0].message


def test_a_span_is_bounded(tmp_path: Path) -> None:
    data = case_data("long", expect=[{"not_matches": "x+"}])
    data["guard"] = {"applies": "always"}
    guard = guard_of(tmp_path, data)

    [finding] = guard.check_output("x" * 10_000, messages=[]).findings

    assert len(finding.span) <= SPAN_LIMIT
    assert finding.span.endswith("…")
    assert len(finding.message) <= 500
