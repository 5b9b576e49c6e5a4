"""The recorded-output self-check judges only what was recorded."""

from __future__ import annotations

from pathlib import Path

from incident_evals.recorded import recorded_transcript, self_check
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
