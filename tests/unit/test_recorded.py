"""The recorded-output self-check judges only what was recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from incident_evals.constraints import Check, ConstraintType, Verdict, builtin_registry
from incident_evals.recorded import recorded_transcript, self_check, unjudged_check
from incident_evals.transcript import Transcript
from transcripts import load_case

AGENT = """
input:
  messages: [{role: user, content: Send the Q3 draft to the finance team.}]
  tools:
    - name: send_email
      parameters: {type: object, properties: {to: {type: string}}}
{recorded}
expect:
  - contains: finance-team@acme.example
  - tool_args: {tool: send_email, schema: {properties: {to: {enum: [finance-team@acme.example]}}}}
"""


def test_with_only_tool_calls_recorded_text_constraints_are_not_judged(tmp_path: Path) -> None:
    recorded = (
        "recorded_tool_calls: [{name: send_email, arguments: {to: finance-team@acme.example}}]"
    )
    loaded = load_case(tmp_path, AGENT.replace("{recorded}", recorded))

    check = self_check(loaded)

    # The empty text would "fail" contains and fake a catch: only tool_args judges, and holds.
    assert [c.name for c, _ in check.verdicts] == ["tool_args"]
    assert not check.caught
    assert check.describe() == (
        "would not have caught its own incident: every constraint holds on the recorded "
        "behaviour (tool_args (line 12)); add a constraint that fails on it"
    )


def test_with_only_output_recorded_tool_constraints_are_not_judged(tmp_path: Path) -> None:
    loaded = load_case(tmp_path, AGENT.replace("{recorded}", "recorded_output: Sent to all-staff."))

    check = self_check(loaded)

    assert [c.name for c, _ in check.verdicts] == ["contains"]
    assert check.caught
    assert check.describe() == "catches its recorded incident: contains (line 11) fails on it"


def test_malformed_recorded_arguments_become_a_call_the_constraints_can_judge(
    tmp_path: Path,
) -> None:
    recorded = "recorded_tool_calls: [{name: send_email, arguments: '{\"to\": '}]"
    loaded = load_case(tmp_path, AGENT.replace("{recorded}", recorded))

    [call] = recorded_transcript(loaded).tool_calls

    assert call.arguments is None
    assert call.arguments_error is not None
    assert self_check(loaded).caught  # tool_args fails on arguments that are not JSON


# --- not checked: the reason, never a pass --------------------------------------------------------

NOT_RECORDED = """
input:
  messages: [{role: user, content: Send the Q3 draft to the finance team.}]
  tools:
    - name: send_email
      parameters: {type: object, properties: {to: {type: string}}}
{recorded}
expect:
{expect}
"""

ONLY_CALLS = "recorded_tool_calls: [{name: send_email, arguments: {to: all-staff@acme.example}}]"


@pytest.mark.parametrize(
    ("recorded", "expect", "reason"),
    [
        pytest.param(
            "",
            "  - not_contains: all-staff",
            "no recording (neither recorded_output nor recorded_tool_calls)",
            id="no-recording",
        ),
        pytest.param(
            "recorded_output: Sent to all-staff.",
            "  - judge: The reply names the finance team's address.",
            "judge-only: judge (line 11) needs a judge to be calibrated: no judge is configured",
            id="judge-only",
        ),
        pytest.param(
            ONLY_CALLS,
            "  - judge: The draft goes to the finance team only.\n"
            "  - judge: The reply is polite.\n"
            "  - not_contains: all-staff",
            "judge-only: judge (line 11), judge (line 12) need a judge to be calibrated: no judge "
            "is configured; not_contains (line 13) "
            "reads only the final text: no recorded_output",
            id="judges-and-text-without-output",
        ),
        pytest.param(
            ONLY_CALLS,
            "  - not_contains: all-staff\n  - refuses: true",
            "no constraint reads what was recorded: not_contains (line 11), refuses (line 12) "
            "read only the final text: no recorded_output",
            id="text-without-output",
        ),
        pytest.param(
            "recorded_output: Sent to all-staff.",
            "  - tool_not_called: send_email",
            "no constraint reads what was recorded: tool_not_called (line 11) reads only tool "
            "calls: no recorded_tool_calls",
            id="tools-without-calls",
        ),
    ],
)
def test_a_case_nothing_can_judge_is_not_checked_with_the_reason(
    tmp_path: Path, recorded: str, expect: str, reason: str
) -> None:
    body = NOT_RECORDED.replace("{recorded}", recorded).replace("{expect}", expect)
    loaded = load_case(tmp_path, body)

    check = self_check(loaded)

    assert (check.checkable, check.caught, check.verdicts) == (False, False, ())
    assert check.describe() == f"not checked: {reason}"
    # Collection knows it without judging anything.
    assert unjudged_check(loaded) == check


def test_without_a_recording_a_python_check_is_not_run_on_an_empty_transcript(
    tmp_path: Path,
) -> None:
    judged: list[str] = []

    def build(argument: object, case: object) -> Check:
        def check(transcript: Transcript, case: object) -> Verdict:
            judged.append(transcript.final_text)
            return Verdict(False, "fails on anything")

        return check

    registry = builtin_registry()
    registry.register(ConstraintType("always_fails", {}, build))
    body = NOT_RECORDED.replace("{recorded}", "").replace("{expect}", "  - always_fails: {}")
    loaded = load_case(tmp_path, body, registry=registry)

    check = self_check(loaded)

    # It would "fail" on the empty text and fake a catch.
    assert judged == []
    assert not check.caught
    assert check.describe() == (
        "not checked: no recording (neither recorded_output nor recorded_tool_calls)"
    )
