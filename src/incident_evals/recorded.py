"""The recorded-output self-check: would this case have caught its own incident?

A case's ``recorded_output`` and ``recorded_tool_calls`` are what the model did at the time. Built
into a transcript (no request is made), they must FAIL the case's constraints: a case whose
constraints hold on the very behaviour of its incident would not catch it again. This is the
``<case id>[recorded]`` item and ``incident-evals validate --check-recorded``.

The implicit turn limit needs a run and is left out; so is ``judge`` when no judge is at hand
(see below). So are constraints about what was not recorded: with no
``recorded_output``, those that read only the final text (an empty text would "fail" them and
fake a catch); with no ``recorded_tool_calls``, those that read only the tool calls. The case is
caught when at least one of the other constraints fails. A case with no recording, or with none
of the other constraints, is "not checked", with the reason, never reported as a pass.

A case may also list ``accepted_outputs``: known-good answers, written after the fix. Each must
pass the constraints that can read it (a plain string has no tool calls, so constraints that read
only tool calls leave it alone); one that fails is a load error of the case
(:func:`accepted_failure`), since a case that fails its own good answer would fail the fix.

``judge`` constraints are calibrated when a judge is at hand: each must fail the recorded output
and pass every accepted output (:func:`calibrate`). A judge that passes the incident, or fails a
good answer, makes the self-check fail however the other constraints do. Without a judge, a case
whose only reader of the recording is a judge is "not checked", and a case with other readers says
its judges were not calibrated.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incident_evals.case_types import assistant_turns
from incident_evals.constraints import text, tools
from incident_evals.constraints.judge import JudgeCheck
from incident_evals.replay import parse_arguments
from incident_evals.tool_world import ToolError, ToolWorld
from incident_evals.transcript import ToolCall, Transcript

if TYPE_CHECKING:
    from collections.abc import Iterable

    from incident_evals.case import LoadedCase
    from incident_evals.case_types import AcceptedOutput, IncidentCase
    from incident_evals.constraints import BoundConstraint, Verdict
    from incident_evals.transcript import Judgement

__all__ = [
    "RECORDED",
    "Calibration",
    "SelfCheck",
    "accepted_failure",
    "accepted_transcript",
    "calibrate",
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

    Each recorded call of the final reply is answered as the replay would answer it, in order,
    from the case's recorded responses (so ``tool_sequence``'s ``not_after_failed`` can see which
    failed). A ``python`` handler is project code and is not run here: its calls get no answer
    (``None``), and neither do a call whose ``match`` regex ran out of time and the calls after
    it. The earlier turns' calls keep the answers their tool messages recorded.
    """
    case = loaded.case
    calls = [
        _recorded_call(str(index), recorded.get("name"), recorded.get("arguments", {}))
        for index, recorded in enumerate(case.recorded_tool_calls)
    ]
    world = ToolWorld(case.input.tools, run_handlers=False)
    for call in calls:
        try:
            call.output = world.answer(call)
        except ToolError:
            # One regex timeout is enough: the calls after it are left unanswered rather than
            # each spending the timeout again.
            break
    transcript = Transcript(final_text=case.recorded_output or "", tool_calls=calls)
    earlier = _earlier_turns(case)
    if case.input.regenerate == "all":
        transcript.turns = [
            _recorded_turn(case, number, start, end)
            for number, (start, end) in enumerate(earlier, 1)
        ]
        transcript.turns.append(Transcript(final_text=transcript.final_text, tool_calls=calls))
    return transcript


def accepted_transcript(accepted: AcceptedOutput, index: int) -> Transcript:
    """A known-good answer as a transcript, as the recorded incident is one."""
    calls = [
        _recorded_call(f"accepted_{index}_{n}", written.get("name"), written.get("arguments", {}))
        for n, written in enumerate(accepted.tool_calls)
    ]
    return Transcript(final_text=accepted.output, tool_calls=calls)


#: Asks the judge about one transcript: ``(check, transcript, index)``, the index 0 for the
#: recording and ``n + 1`` for ``accepted_outputs[n]`` (they are told apart in recordings).
Judge = Callable[[JudgeCheck, Transcript, int], "Judgement"]
#: Why judges go uncalibrated when the caller names no reason.
NO_JUDGE = "no judge is configured"


def _said(judgement: Judgement) -> str:
    model = judgement.model or judgement.requested_model
    agreement = (
        f", {judgement.agreeing}/{judgement.samples} samples agree" if judgement.samples > 1 else ""
    )
    return f"judge {model}: {judgement.reason}{agreement}"


@dataclass(frozen=True)
class Calibration:
    """A ``judge`` constraint asked about the recorded incident and every accepted output."""

    constraint: BoundConstraint
    recorded: Judgement
    accepted: tuple[tuple[AcceptedOutput, Judgement], ...] = ()

    def problems(self) -> list[str]:
        """What the judge got wrong: it must fail the incident and pass every good answer."""
        found = []
        if self.recorded.holds:
            found.append(f"it passes the recorded output ({_said(self.recorded)})")
        for index, (accepted, judgement) in enumerate(self.accepted):
            if not judgement.holds:
                found.append(
                    f"it fails accepted_outputs[{index}] (line {accepted.line}) "
                    f"({_said(judgement)})"
                )
        return found


@dataclass(frozen=True)
class SelfCheck:
    #: The constraints that judged the recording, each with its verdict.
    verdicts: tuple[tuple[BoundConstraint, Verdict], ...]
    #: Constraints left out: they need a run, or read what was not recorded.
    skipped: tuple[BoundConstraint, ...]
    #: The case has a recording (``recorded_output`` or ``recorded_tool_calls``).
    recorded: bool = True
    #: The judge constraints, calibrated against the recording and the accepted outputs.
    calibrations: tuple[Calibration, ...] = ()
    #: Why the judge constraints (in ``skipped``) were not calibrated.
    uncalibrated: str = NO_JUDGE

    @property
    def checkable(self) -> bool:
        return bool(self.verdicts) or bool(self.calibrations)

    @property
    def caught(self) -> bool:
        """At least one constraint fails on the recorded behaviour."""
        return any(not verdict.passed for _, verdict in self.verdicts) or any(
            not calibration.recorded.holds for calibration in self.calibrations
        )

    @property
    def sound(self) -> bool:
        """The incident is caught and every judge is calibrated: the self-check passes."""
        return self.caught and not self.miscalibrated()

    def miscalibrated(self) -> list[Calibration]:
        return [c for c in self.calibrations if c.problems()]

    def uncalibrated_judges(self) -> list[BoundConstraint]:
        """The judge constraints left out: no judge was at hand to calibrate them."""
        return [c for c in self.skipped if c.name in NOT_JUDGED]

    def failing(self) -> list[tuple[BoundConstraint, Verdict]]:
        return [(c, v) for c, v in self.verdicts if not v.passed]

    def describe(self) -> str:
        """One line: what caught the incident, why the case would not catch it, which judge is
        not calibrated, or why it was not checked."""
        if not self.checkable:
            return f"not checked: {self.reason()}"
        wrong = self.miscalibrated()
        if wrong:
            return "; ".join(
                f"{_names([c.constraint])} is not calibrated: {'; '.join(c.problems())}"
                for c in wrong
            )
        if self.caught:
            failing = [c for c, _ in self.failing()]
            failing += [c.constraint for c in self.calibrations if not c.recorded.holds]
            verb = "fails" if len(failing) == 1 else "fail"
            line = f"catches its recorded incident: {_names(failing)} {verb} on it"
            if self.calibrations:
                accepted = len(self.calibrations[0].accepted)
                judges = [c.constraint for c in self.calibrations]
                line += (
                    f"; {_names(judges)} calibrated: {_verb(judges, 'passes', 'pass')} "
                    f"{accepted} accepted output(s)"
                )
            uncalibrated = self.uncalibrated_judges()
            if uncalibrated:
                line += f"; {_names(uncalibrated)} not calibrated: {self.uncalibrated}"
            return line
        judged = [c for c, _ in self.verdicts] + [c.constraint for c in self.calibrations]
        return (
            "would not have caught its own incident: every constraint holds on the recorded "
            f"behaviour ({_names(judged)}); add a constraint that fails on it"
        )

    def reason(self) -> str:
        """Why no constraint judged the recording (for a case that is not checkable)."""
        if not self.recorded:
            return "no recording (neither recorded_output nor recorded_tool_calls)"
        judges = [c for c in self.skipped if c.name in NOT_JUDGED]
        parts = []
        if judges:
            verb = _verb(judges, "needs", "need")
            parts.append(f"{_names(judges)} {verb} a judge to be calibrated: {self.uncalibrated}")
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


def _split(
    loaded: LoadedCase, judging: bool = False
) -> tuple[list[BoundConstraint], list[BoundConstraint], list[BoundConstraint]]:
    """The constraints that can judge the recording, the judges to calibrate (when
    ``judging``: a judge reads the whole transcript), and those left out.

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
    judged: list[BoundConstraint] = []
    judges: list[BoundConstraint] = []
    skipped: list[BoundConstraint] = []
    for constraint in loaded.constraints:
        if constraint.name in NOT_JUDGED:
            (judges if judging else skipped).append(constraint)
            continue
        reads_recorded = (
            constraint.name not in unrecorded
            or (constraint.turn is not None and constraint.turn <= earlier)
            or (constraint.any_turn and earlier > 0)
        )
        (judged if reads_recorded else skipped).append(constraint)
    return judged, judges, skipped


def _unrecorded_final(loaded: LoadedCase, constraint: BoundConstraint) -> bool:
    """An ``any_turn`` constraint reading what the final reply's recording lacks."""
    case = loaded.case
    return constraint.any_turn and (
        (case.recorded_output is None and constraint.name in TEXT_ONLY)
        or (not case.recorded_tool_calls and constraint.name in TOOLS_ONLY)
    )


def unjudged_check(loaded: LoadedCase, uncalibrated: str | None = NO_JUDGE) -> SelfCheck | None:
    """The self-check of a case nothing of whose recording can be judged (no recording, or no
    constraint that reads it), without judging anything; ``None`` when something can
    (collection uses it: judging is the item's work). ``uncalibrated`` is why no judge can be
    asked, ``None`` when one can."""
    if not has_recording(loaded):
        return SelfCheck((), loaded.constraints, recorded=False)
    judged, judges, skipped = _split(loaded, uncalibrated is None)
    if judged or judges:
        return None
    return SelfCheck((), tuple(skipped), uncalibrated=uncalibrated or NO_JUDGE)


def self_check(
    loaded: LoadedCase, judge: Judge | None = None, uncalibrated: str = NO_JUDGE
) -> SelfCheck:
    """The self-check; ``judge`` asks the judge (its errors are the caller's), ``uncalibrated``
    says why there is none."""
    unjudged = unjudged_check(loaded, None if judge is not None else uncalibrated)
    if unjudged is not None:
        # Nothing to judge: with no recording, a `python:` check would judge an empty
        # transcript and could fake a catch.
        return unjudged
    transcript = recorded_transcript(loaded)
    # Without the final turn: an empty text or no tool calls would fake a catch.
    earlier = dataclasses.replace(transcript, turns=transcript.turns[:-1])
    judged, judges, skipped = _split(loaded, judge is not None)
    verdicts = tuple(
        (c, c.judge(earlier if _unrecorded_final(loaded, c) else transcript, loaded.case))
        for c in judged
    )
    calibrations = tuple(calibrate(loaded, c, judge) for c in judges if judge is not None)
    return SelfCheck(verdicts, tuple(skipped), calibrations=calibrations, uncalibrated=uncalibrated)


def calibrate(loaded: LoadedCase, constraint: BoundConstraint, judge: Judge) -> Calibration:
    """The judge's verdicts on the recording and on every accepted output."""
    check = constraint.check
    assert isinstance(check, JudgeCheck)
    recorded = judge(check, recorded_transcript(loaded), 0)
    accepted = tuple(
        (entry, judge(check, accepted_transcript(entry, index), index + 1))
        for index, entry in enumerate(loaded.case.accepted_outputs)
    )
    return Calibration(constraint, recorded, accepted)


def accepted_failure(
    loaded: LoadedCase,
) -> tuple[int, BoundConstraint, Verdict] | None:
    """The first accepted output a constraint fails, with that constraint and its verdict.

    Judges are left out (they are calibrated by the self-check), and so, for an entry that does
    not write its tool calls, are the constraints that read only tool calls. A constraint that
    reaches no verdict raises :class:`~incident_evals.constraints.UndecidedError`.
    """
    for index, entry in enumerate(loaded.case.accepted_outputs):
        left_out = NOT_JUDGED if entry.tool_calls_given else NOT_JUDGED | TOOLS_ONLY
        transcript = accepted_transcript(entry, index)
        for constraint in loaded.constraints:
            # An accepted output is a final reply: a constraint on an earlier turn has no turn
            # to read in it.
            if constraint.name in left_out or constraint.turn is not None:
                continue
            verdict = constraint.judge(transcript, loaded.case)
            if not verdict.passed:
                return index, constraint, verdict
    return None
