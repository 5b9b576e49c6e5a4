"""Pieces of ``incident_evals.evaluation`` that need no run."""

from __future__ import annotations

from pathlib import Path

from incident_evals.case import CaseInput, Incident, IncidentCase, Runs
from incident_evals.evaluation import turn_limit
from incident_evals.transcript import ToolCall, Transcript


def call(arguments: str, answered: bool = True) -> ToolCall:
    return ToolCall(
        id="c", name="send_email", arguments_raw=arguments, arguments=None, answered=answered
    )


def test_turn_limit_passes_a_finished_transcript_and_fails_a_truncated_one() -> None:
    case = IncidentCase(
        id="INC-1",
        incident=Incident(category="autonomy", severity="major"),
        input=CaseInput(messages=({"role": "user", "content": "hi"},)),
        expect=(),
        path=Path("a.yaml"),
        line=3,
        runs=Runs(max_turns=2, max_turns_line=9),
    )
    check = turn_limit(case)

    assert check.line == 9
    assert check.judge(Transcript(tool_calls=[call("{}")]), case).passed
    truncated = Transcript(
        tool_calls=[call("{}"), call('{"to": "x"}', answered=False)], truncated=True
    )
    verdict = check.judge(truncated, case)
    assert not verdict.passed
    assert verdict.message == 'still calling tools after 2 turn(s): send_email({"to": "x"})'
