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

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incident_evals.case_types import assistant_turns
from incident_evals.constraints import text, tools
from incident_evals.replay import parse_arguments
from incident_evals.transcript import ToolCall, Transcript

if TYPE_CHECKING:
    from collections.abc import Iterable

    from incident_evals.case import LoadedCase
    from incident_evals.case_types import IncidentCase
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
    return (
        case.recorded_output is not None
        or bool(case.recorded_tool_calls)
        or bool(_earlier_turns(case))
    )


def _earlier_turns(case: IncidentCase) -> list[tuple[int, int]]:
    """The assistant turns of ``input.messages`` that are the incident's own generated turns:
    those of a case whose conversation is regenerated."""
    return assistant_turns(case.input.messages) if case.input.regenerate == "all" else []


def _recorded_call(index: str, name: Any, arguments: Any, output: Any = None) -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    parsed, error = parse_arguments(raw)
    return ToolCall(
        id=f"recorded_{index}",
        name=str(name or ""),
        arguments_raw=raw,
        arguments=parsed,
        arguments_error=error,
        output=output,
    )


def _recorded_turn(case: IncidentCase, number: int, start: int, end: int) -> Transcript:
    """Recorded assistant turn ``number``: the text of its last assistant message, and the
    tool calls its assistant messages made, answered by its tool messages."""
    messages = case.input.messages[start:end]
    outputs = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
    text = ""
    calls: list[ToolCall] = []
    for message in messages:
        if message.get("role") != "assistant":
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        for index, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                continue
            output = outputs.get(call.get("id"))
            where = f"t{number}_{len(calls)}_{index}"
            calls.append(
                _recorded_call(where, function.get("name"), function.get("arguments", {}), output)
            )
    return Transcript(final_text=text, tool_calls=calls)


def recorded_transcript(loaded: LoadedCase) -> Transcript:
    """The incident's behaviour as a transcript: its final text and its tool calls.

    Under ``regenerate: all`` it has turns too: the assistant turns of ``input.messages`` (what
    the model said at the time), then the final reply as recorded.
    """
    case = loaded.case
    calls = [
        _recorded_call(str(index), recorded.get("name"), recorded.get("arguments", {}))
        for index, recorded in enumerate(case.recorded_tool_calls)
    ]
    transcript = Transcript(final_text=case.recorded_output or "", tool_calls=calls)
    earlier = _earlier_turns(case)
    if case.input.regenerate == "all":
        transcript.turns = [
            _recorded_turn(case, number, start, end)
            for number, (start, end) in enumerate(earlier, 1)
        ]
        transcript.turns.append(Transcript(final_text=transcript.final_text, tool_calls=calls))
    return transcript


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
    """The constraints that can judge the recording, and those left out.

    The rules above are about the final reply. A constraint on an earlier turn of a
    regenerated conversation (``turn: N``) reads that turn as ``input.messages`` holds it,
    always recorded; ``any_turn`` reads the earlier turns, and the final one when it reads what
    was recorded of it.
    """
    case = loaded.case
    unrecorded: set[str] = set()
    if case.recorded_output is None:
        unrecorded |= TEXT_ONLY
    if not case.recorded_tool_calls:
        unrecorded |= TOOLS_ONLY
    earlier = len(_earlier_turns(case))
    judged = []
    skipped = []
    for constraint in loaded.constraints:
        reads_recorded = (
            constraint.name not in unrecorded
            or (constraint.turn is not None and constraint.turn <= earlier)
            or (constraint.any_turn and earlier > 0)
        )
        if constraint.name not in NOT_JUDGED and reads_recorded:
            judged.append(constraint)
        else:
            skipped.append(constraint)
    return judged, skipped


def _unrecorded_final(loaded: LoadedCase, constraint: BoundConstraint) -> bool:
    """An ``any_turn`` constraint reading what the final reply's recording lacks."""
    case = loaded.case
    return constraint.any_turn and (
        (case.recorded_output is None and constraint.name in TEXT_ONLY)
        or (not case.recorded_tool_calls and constraint.name in TOOLS_ONLY)
    )


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
    # Without the final turn: an empty text or no tool calls would fake a catch.
    earlier = dataclasses.replace(transcript, turns=transcript.turns[:-1])
    judged, skipped = _split(loaded)
    verdicts = tuple(
        (c, c.judge(earlier if _unrecorded_final(loaded, c) else transcript, loaded.case))
        for c in judged
    )
    return SelfCheck(verdicts, tuple(skipped))
