"""The recorded-output self-check: would this case have caught its own incident?

A case's ``recorded_output`` and ``recorded_tool_calls`` are what the model did at the time. Built
into a transcript (no request is made), they must FAIL the case's constraints: a case whose
constraints hold on the very behaviour of its incident would not catch it again. This is the
``<case id>[recorded]`` item and ``incident-evals validate --check-recorded``.

Constraints that need a run cannot judge a recording: ``judge`` (no verdict was asked for) and
the implicit turn limit are left out. So are constraints about what was not recorded: with no
``recorded_output``, those that read only the final text (an empty text would "fail" them and
fake a catch); with no ``recorded_tool_calls``, those that read only the tool calls. The case is
caught when at least one of the other constraints fails. A case with no recording, or with none
of the other constraints, is "not checked", with the reason, never reported as a pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from incident_evals.constraints import text, tools
from incident_evals.replay import parse_arguments
from incident_evals.tool_world import ToolError, ToolWorld
from incident_evals.transcript import ToolCall, Transcript

if TYPE_CHECKING:
    from collections.abc import Iterable

    from incident_evals.case import LoadedCase
    from incident_evals.constraints import BoundConstraint, Verdict

__all__ = [
    "RECORDED",
    "SelfCheck",
    "has_recording",
    "recorded_transcript",
    "self_check",
    "unjudged_check",
]

RECORDED = "recorded"
#: Constraints that judge something a recording does not have.
NOT_JUDGED = frozenset({"judge"})
#: Built-ins that read only the final text: left out when the case records no output.
TEXT_ONLY = frozenset(
    {constraint.name for constraint in text.CONSTRAINTS} | {"refuses", "cites", "not_cites"}
)
#: Built-ins that read only the tool calls: left out when the case records none.
TOOLS_ONLY = frozenset(constraint.name for constraint in tools.CONSTRAINTS)


def has_recording(loaded: LoadedCase) -> bool:
    case = loaded.case
    return case.recorded_output is not None or bool(case.recorded_tool_calls)


def recorded_transcript(loaded: LoadedCase) -> Transcript:
    """The incident's behaviour as a transcript: its final text and its tool calls.

    Each recorded call is answered as the replay would answer it, in order, from the case's
    recorded responses (so ``tool_sequence``'s ``not_after_failed`` can see which failed). A
    ``python`` handler is project code and is not run here: its calls get no answer (``None``),
    and neither do a call whose ``match`` regex ran out of time and the calls after it.
    """
    calls = []
    world: ToolWorld | None = ToolWorld(loaded.case.input.tools, run_handlers=False)
    for index, recorded in enumerate(loaded.case.recorded_tool_calls):
        arguments = recorded.get("arguments", {})
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        parsed, error = parse_arguments(raw)
        call = ToolCall(
            id=f"recorded_{index}",
            name=str(recorded.get("name", "")),
            arguments_raw=raw,
            arguments=parsed,
            arguments_error=error,
        )
        if world is not None:
            try:
                call.output = world.answer(call)
            except ToolError:
                # One regex timeout is enough: the calls after it are left unanswered rather
                # than each spending the timeout again.
                world = None
        calls.append(call)
    return Transcript(final_text=loaded.case.recorded_output or "", tool_calls=calls)


@dataclass(frozen=True)
class SelfCheck:
    #: The constraints that judged the recording, each with its verdict.
    verdicts: tuple[tuple[BoundConstraint, Verdict], ...]
    #: Constraints left out: they need a run, or read what was not recorded.
    skipped: tuple[BoundConstraint, ...]
    #: The case has a recording (``recorded_output`` or ``recorded_tool_calls``).
    recorded: bool = True

    @property
    def checkable(self) -> bool:
        return bool(self.verdicts)

    @property
    def caught(self) -> bool:
        """At least one constraint fails on the recorded behaviour."""
        return any(not verdict.passed for _, verdict in self.verdicts)

    def failing(self) -> list[tuple[BoundConstraint, Verdict]]:
        return [(c, v) for c, v in self.verdicts if not v.passed]

    def describe(self) -> str:
        """One line: what caught the incident, why the case would not catch it, or why it was
        not checked."""
        if not self.checkable:
            return f"not checked: {self.reason()}"
        if self.caught:
            failing = self.failing()
            verb = "fails" if len(failing) == 1 else "fail"
            return f"catches its recorded incident: {_names(c for c, _ in failing)} {verb} on it"
        return (
            "would not have caught its own incident: every constraint holds on the recorded "
            f"behaviour ({_names(c for c, _ in self.verdicts)}); add a constraint that fails on it"
        )

    def reason(self) -> str:
        """Why no constraint judged the recording (for a case that is not checkable)."""
        if not self.recorded:
            return "no recording (neither recorded_output nor recorded_tool_calls)"
        judges = [c for c in self.skipped if c.name in NOT_JUDGED]
        parts = []
        if judges:
            parts.append(f"{_names(judges)} {_verb(judges, 'needs', 'need')} a run")
        text_only = [c for c in self.skipped if c.name in TEXT_ONLY]
        if text_only:
            verb = _verb(text_only, "reads", "read")
            parts.append(f"{_names(text_only)} {verb} only the final text: no recorded_output")
        tools_only = [c for c in self.skipped if c.name in TOOLS_ONLY]
        if tools_only:
            verb = _verb(tools_only, "reads", "read")
            parts.append(f"{_names(tools_only)} {verb} only tool calls: no recorded_tool_calls")
        # Judges are what could have read the recording; without one, nothing reads it.
        lead = "judge-only" if judges else "no constraint reads what was recorded"
        return f"{lead}: {'; '.join(parts)}"


def _names(constraints: Iterable[BoundConstraint]) -> str:
    return ", ".join(f"{c.name} (line {c.line})" for c in constraints)


def _verb(constraints: list[BoundConstraint], one: str, several: str) -> str:
    return one if len(constraints) == 1 else several


def _split(loaded: LoadedCase) -> tuple[list[BoundConstraint], list[BoundConstraint]]:
    """The constraints that can judge the recording, and those left out."""
    case = loaded.case
    unjudged = set(NOT_JUDGED)
    if case.recorded_output is None:
        unjudged |= TEXT_ONLY
    if not case.recorded_tool_calls:
        unjudged |= TOOLS_ONLY
    judged = [c for c in loaded.constraints if c.name not in unjudged]
    skipped = [c for c in loaded.constraints if c.name in unjudged]
    return judged, skipped


def unjudged_check(loaded: LoadedCase) -> SelfCheck | None:
    """The self-check of a case nothing of whose recording can be judged (no recording, or no
    constraint that reads it), without judging anything; ``None`` when something can
    (collection uses it: judging is the item's work)."""
    if not has_recording(loaded):
        return SelfCheck((), loaded.constraints, recorded=False)
    judged, skipped = _split(loaded)
    return None if judged else SelfCheck((), tuple(skipped))


def self_check(loaded: LoadedCase) -> SelfCheck:
    unjudged = unjudged_check(loaded)
    if unjudged is not None:
        # Nothing to judge: with no recording, a `python:` check would judge an empty
        # transcript and could fake a catch.
        return unjudged
    transcript = recorded_transcript(loaded)
    judged, skipped = _split(loaded)
    verdicts = tuple((c, c.judge(transcript, loaded.case)) for c in judged)
    return SelfCheck(verdicts, tuple(skipped))
