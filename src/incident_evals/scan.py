"""``incident-evals scan``: the catalogue's incidents, looked for in production logs.

Every model call of the logs (read by the importers of ``incident-evals calls``, a call at a time:
:func:`~incident_evals.traces.formats.iter_calls`) is checked whole by the runtime guard
(:meth:`~incident_evals.guard.Guard.check_exchange`): the same cases, the same matching of a
conversation to the cases it belongs to, the same deterministic constraints. With a judge, a
seeded sample of the calls that match a case with ``judge`` constraints is also judged. What is
kept per incident is bounded (counts, first and last time, a few example calls), so a scan's
memory does not grow with the size of the logs.

A call counts once per incident it breaks, however many of the incident's constraints it
breaks (those are counted per constraint). Calls before ``--since`` are skipped; calls whose log
gives no time are scanned (a recurrence of unknown date is still a recurrence) and counted
apart, so the report says how many ``--since`` could not place.

Nothing that cannot be read is passed over in silence: an unreadable record or file, or a check
that decided nothing, is one line naming it, and the scan goes on; the exit status says so
(:meth:`ScanReport.exit_status`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_evals.secrets import Scrubber
from incident_evals.vocabulary import SEVERITIES, SEVERITIES_ASCENDING

if TYPE_CHECKING:
    from incident_evals.case_types import IncidentCase
    from incident_evals.constraints import LoadedCase
    from incident_evals.constraints.judge import JudgeCheck
    from incident_evals.guard import Finding, Guard
    from incident_evals.traces import ModelCall, Source
    from incident_evals.traces.formats import Logged
    from incident_evals.transcript import Judgement, Transcript

__all__ = [
    "DEFAULT_EXAMPLES",
    "SCAN_SCHEMA_VERSION",
    "Example",
    "Recurrence",
    "ScanReport",
    "Scanner",
    "parse_since",
    "sampled",
]

SCAN_SCHEMA_VERSION = 1
#: Lines kept (and shown) of each kind of problem; the rest are counted. A log of garbage must
#: not grow the report without bound.
LISTED = 100
#: Example calls kept per incident.
DEFAULT_EXAMPLES = 3
EXIT_OK = 0
EXIT_FOUND = 1
EXIT_INPUT = 2

#: ``(check, transcript, case) -> Judgement``: the judge endpoint, as the CLI configures it.
JudgeFn = Callable[["JudgeCheck", "Transcript", "IncidentCase"], "Judgement"]
#: Called with each call that broke at least one incident, and its findings.
HitFn = Callable[["Logged", "Sequence[Finding]"], None]


# --------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------

_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: an ISO date (``2025-11-02``, midnight UTC), an ISO date and time (UTC when it
    names no offset), or a time ago (``90m``, ``24h``, ``7d``, ``2w``), as seconds since the
    epoch. :class:`ValueError` with the reason otherwise."""
    stripped = text.strip()
    relative = _RELATIVE.fullmatch(stripped)
    if relative is not None:
        current = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
        return current - int(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        if len(stripped) == 10:
            day = dt.date.fromisoformat(stripped)
            moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        else:
            # Python 3.10's fromisoformat does not read a "Z" suffix.
            moment = dt.datetime.fromisoformat(
                stripped.replace("Z", "+00:00").replace("z", "+00:00")
            )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give an ISO date (2025-11-02), date and time "
            "(2025-11-02T09:30:00Z) or a time ago (90m, 24h, 7d, 2w)"
        ) from None
    return moment.timestamp()


def iso(seconds: float | None) -> str | None:
    """A call's time as reports show it: ISO 8601 in UTC, to the second."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sampled(seed: int, where: str, rate: float) -> bool:
    """Whether the call at ``where`` is in the judge's sample: a hash of the seed and the call's
    place, so the same scan samples the same calls, in any order and on any machine."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{seed}\0{where}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


# --------------------------------------------------------------------------------------------
# What a scan finds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One call in which an incident recurred, and what it broke there."""

    #: ``file:LINE`` (a record of a streamed log) or ``file: call N`` (a file read whole).
    where: str
    file: str
    #: The call's number in its file (from 0), as ``incident-evals calls`` numbers it.
    call: int
    format: str
    trace_id: str | None
    span_id: str | None
    time: float | None
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "file": self.file,
            "call": self.call,
            "format": self.format,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "time": iso(self.time),
            "findings": [
                {
                    "constraint": finding.constraint,
                    "stage": finding.stage,
                    "message": finding.message,
                    "span": finding.span,
                }
                for finding in self.findings
            ],
        }


@dataclass
class Recurrence:
    """One incident of the catalogue, as often as the logs show it again."""

    case: IncidentCase
    #: Calls in which it recurred.
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    #: Of those, calls whose log gives no time.
    without_time: int = 0
    #: Findings per constraint name.
    constraints: dict[str, int] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return self.case.incident.severity

    def add(self, example: Example, keep: int) -> None:
        self.count += 1
        seconds = example.time
        if seconds is None:
            self.without_time += 1
        else:
            if self.first_seen is None or seconds < self.first_seen:
                self.first_seen = seconds
            if self.last_seen is None or seconds > self.last_seen:
                self.last_seen = seconds
        for finding in example.findings:
            self.constraints[finding.constraint] = self.constraints.get(finding.constraint, 0) + 1
        if len(self.examples) < keep:
            self.examples.append(example)

    def to_json(self) -> dict[str, Any]:
        incident = self.case.incident
        return {
            "case_id": self.case.id,
            "title": self.case.title,
            "severity": incident.severity,
            "category": incident.category,
            "taxonomy": list(incident.taxonomy),
            "recurrences": self.count,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "without_time": self.without_time,
            "constraints": dict(sorted(self.constraints.items())),
            "examples": [example.to_json() for example in self.examples],
        }


@dataclass
class ScanReport:
    """What a scan found, and what it could not read."""

    files: list[str] = field(default_factory=list)
    #: Calls read from the logs.
    calls: int = 0
    #: Of those, calls before ``--since`` (not checked).
    before_since: int = 0
    #: Of those checked, calls whose log gives no time.
    without_time: int = 0
    #: Case files of the catalogue that could not be loaded (their incidents are not looked
    #: for), one line each.
    case_errors: list[str] = field(default_factory=list)
    #: Records and files that could not be read, one line each (the first :data:`LISTED`).
    unreadable: list[str] = field(default_factory=list)
    unreadable_count: int = 0
    #: Checks that decided nothing (a constraint that raised, a text over the guard's limit,
    #: a judge that failed), one line each, naming the call (the first :data:`LISTED`).
    undecided: list[str] = field(default_factory=list)
    undecided_count: int = 0
    #: Calls in the judge's sample, and judge verdicts asked.
    judge_sampled: int = 0
    judge_verdicts: int = 0
    recurrences: dict[str, Recurrence] = field(default_factory=dict)
    since: float | None = None
    sample_rate: float | None = None
    seed: int = 0
    fail_severity: str = "minor"

    @property
    def checked(self) -> int:
        return self.calls - self.before_since

    def failing(self) -> list[Recurrence]:
        """The incidents that recurred at ``fail_severity`` or above."""
        floor = SEVERITIES_ASCENDING.index(self.fail_severity)
        return [
            found for found in self.ordered() if SEVERITIES_ASCENDING.index(found.severity) >= floor
        ]

    def ordered(self) -> list[Recurrence]:
        """Most severe first, then most frequent, then by case id."""
        return sorted(
            self.recurrences.values(),
            key=lambda found: (SEVERITIES.index(found.severity), -found.count, found.case.id),
        )

    def exit_status(self) -> int:
        """1 when an incident recurred at ``fail_severity`` or above (whatever else went
        wrong: the recurrence is certain); else 2 when a case, a record, a file or a check could
        not be loaded, read or decided (the scan is incomplete, which is never a pass); else 0."""
        if self.failing():
            return EXIT_FOUND
        if self.incomplete():
            return EXIT_INPUT
        return EXIT_OK

    def incomplete(self) -> int:
        """How many cases, records, files and checks the scan could not load, read or decide."""
        return len(self.case_errors) + self.unreadable_count + self.undecided_count

    def add_unreadable(self, line: str) -> None:
        self.unreadable_count += 1
        if len(self.unreadable) < LISTED:
            self.unreadable.append(line)

    def add_undecided(self, line: str) -> None:
        self.undecided_count += 1
        if len(self.undecided) < LISTED:
            self.undecided.append(line)

    def to_json(self) -> dict[str, Any]:
        failing = self.failing()
        return {
            "schema_version": SCAN_SCHEMA_VERSION,
            "files": list(self.files),
            "since": iso(self.since),
            "calls": self.calls,
            "checked": self.checked,
            "before_since": self.before_since,
            "without_time": self.without_time,
            "case_errors": list(self.case_errors),
            "unreadable": list(self.unreadable),
            "unreadable_count": self.unreadable_count,
            "undecided": list(self.undecided),
            "undecided_count": self.undecided_count,
            "judge": None
            if self.sample_rate is None
            else {
                "sample": self.sample_rate,
                "seed": self.seed,
                "sampled": self.judge_sampled,
                "verdicts": self.judge_verdicts,
            },
            "incidents": [found.to_json() for found in self.ordered()],
            "summary": {
                "incidents": len(self.recurrences),
                "recurrences": sum(found.count for found in self.recurrences.values()),
                "fail_severity": self.fail_severity,
                "failing": [found.case.id for found in failing],
                "exit_status": self.exit_status(),
            },
        }


# --------------------------------------------------------------------------------------------
# The scan
# --------------------------------------------------------------------------------------------


@dataclass
class _Judging:
    judge: JudgeFn
    rate: float
    seed: int
    #: Each case's judge constraints, by case id.
    checks: dict[str, tuple[JudgeCheck, ...]]


class Scanner:
    """Checks logged calls one at a time and keeps what :class:`ScanReport` says."""

    def __init__(
        self,
        guard: Guard,
        loaded: Iterable[LoadedCase] = (),
        *,
        since: float | None = None,
        examples: int = DEFAULT_EXAMPLES,
        fail_severity: str = "minor",
        judge: JudgeFn | None = None,
        sample: float = 1.0,
        seed: int = 0,
        on_hit: HitFn | None = None,
        tracer: Any = "global",
    ) -> None:
        self.guard = guard
        #: Where hits go as OpenTelemetry spans: the global tracer provider's tracer (a no-op
        #: unless the process configures one), a tracer given, or ``None`` for none.
        self._tracer = _global_tracer() if tracer == "global" else tracer
        self.examples = examples
        self.on_hit = on_hit
        self.report = ScanReport(since=since, seed=seed, fail_severity=fail_severity)
        loaded = list(loaded)
        self._cases = {entry.case.id: entry.case for entry in loaded}
        self._scrubber = Scrubber.from_environment()
        self._judging: _Judging | None = None
        if judge is not None:
            from incident_evals.constraints.judge import judge_checks

            self.report.sample_rate = sample
            checks = {entry.case.id: judge_checks(entry.constraints) for entry in loaded}
            self._judging = _Judging(
                judge, sample, seed, {key: found for key, found in checks.items() if found}
            )

    def scan(self, paths: Sequence[Path], format: str | None = None) -> ScanReport:
        """Every call of every file in ``paths``; the report."""
        from incident_evals.traces import TraceError
        from incident_evals.traces.formats import iter_calls

        scope = (
            contextlib.nullcontext()
            if self._tracer is None
            else self._tracer.start_as_current_span("incident-evals scan")
        )
        with scope:
            for path in paths:
                self.report.files.append(str(path))
                for item in iter_calls(path, format):
                    if isinstance(item, TraceError):
                        self.report.add_unreadable(str(item))
                    else:
                        self.check(item)
        return self.report

    def check(self, logged: Logged) -> list[Finding]:
        """One logged call: its findings (the guard's, and the judge's when it is sampled)."""
        report = self.report
        call = logged.call
        report.calls += 1
        if report.since is not None and call.time is not None and call.time < report.since:
            report.before_since += 1
            return []
        if call.time is None:
            report.without_time += 1
        messages = list(call.messages)
        calls = [
            {"name": record.name, "arguments": record.arguments_raw} for record in call.tool_calls
        ]
        result = self.guard.check_exchange(messages, call.output, calls)
        for error in result.errors:
            report.add_undecided(f"{logged.where}: {error}")
        findings = list(result.findings)
        if self._judging is not None and call.output:
            findings.extend(self._judged(logged, messages, self._judging))
        if findings:
            self._record(logged, findings)
        return findings

    def _judged(
        self, logged: Logged, messages: list[dict[str, Any]], judging: _Judging
    ) -> list[Finding]:
        from incident_evals.client import JudgeError

        cases = [
            self._cases[case_id]
            for case_id in self.guard.matching(messages)
            if case_id in judging.checks and case_id in self._cases
        ]
        if not cases or not sampled(judging.seed, logged.where, judging.rate):
            return []
        self.report.judge_sampled += 1
        transcript = _transcript(logged.call)
        findings: list[Finding] = []
        for case in cases:
            for check in judging.checks[case.id]:
                try:
                    judgement = judging.judge(check, transcript, self._cases[case.id])
                except JudgeError as exc:
                    self.report.add_undecided(f"{logged.where}: {case.id}: judge: {exc}")
                    continue
                self.report.judge_verdicts += 1
                if not judgement.holds:
                    findings.append(self._judge_finding(case, check, judgement))
        return findings

    def _judge_finding(
        self, case: IncidentCase, check: JudgeCheck, judgement: Judgement
    ) -> Finding:
        from incident_evals.guard import MESSAGE_LIMIT, Finding
        from incident_evals.secrets import clip

        model = judgement.model or judgement.requested_model
        message = f"{check.expected}; judge {model} says it does not hold: {judgement.reason}"
        return Finding(
            case_id=case.id,
            constraint="judge",
            severity=case.incident.severity,
            taxonomy=case.incident.taxonomy,
            stage="output",
            message=clip(self._scrubber.text(message, case), MESSAGE_LIMIT),
            span="",
        )

    def _record(self, logged: Logged, findings: list[Finding]) -> None:
        call = logged.call
        by_case: dict[str, list[Finding]] = {}
        for finding in findings:
            by_case.setdefault(finding.case_id, []).append(finding)
        for case_id, found in by_case.items():
            recurrence = self.report.recurrences.get(case_id)
            if recurrence is None:
                recurrence = self.report.recurrences[case_id] = Recurrence(self._cases[case_id])
            example = Example(
                where=logged.where,
                file=call.source.file,
                call=call.index,
                format=call.source.format,
                trace_id=call.source.trace_id,
                span_id=call.source.span_id,
                time=call.time,
                findings=tuple(found),
            )
            recurrence.add(example, self.examples)
        if self._tracer is not None:
            self._emit(logged, findings)
        if self.on_hit is not None:
            self.on_hit(logged, findings)

    def _emit(self, logged: Logged, findings: list[Finding]) -> None:
        """A span for the hit, linked to the logged call's own span when the log names it,
        holding one ``gen_ai.evaluation.result`` event per finding."""
        from incident_evals import otel

        source = logged.call.source
        attributes: dict[str, Any] = {
            "incident_evals.scan.where": logged.where,
            "incident_evals.scan.format": source.format,
            "incident_evals.case_ids": sorted({finding.case_id for finding in findings}),
        }
        for key, value in (("trace_id", source.trace_id), ("span_id", source.span_id)):
            if value:
                attributes[f"incident_evals.scan.{key}"] = value
        with self._tracer.start_as_current_span(
            "incident-evals scan hit", links=_links(source), attributes=attributes
        ):
            otel.emit_findings(findings, source="scan")


def _global_tracer() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("incident_evals.scan")


def _links(source: Source) -> list[Any]:
    """A link to the logged call's span, when the log gives its trace and span ids (hex)."""
    from opentelemetry.trace import Link, SpanContext, TraceFlags

    try:
        trace_id = int(source.trace_id or "", 16)
        span_id = int(source.span_id or "", 16)
    except ValueError:
        return []
    if not (0 < trace_id < 2**128 and 0 < span_id < 2**64):
        return []
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1))
    return [Link(context)]


def _transcript(call: ModelCall) -> Transcript:
    """The logged call as a finished transcript whose one turn holds the logged request, so the
    judge is shown the conversation as it was logged, not the case's."""
    from incident_evals.transcript import Exchange, ToolCall, Transcript

    request, response = call.chat_exchange()
    tool_calls = [
        ToolCall(
            id=record.id,
            name=record.name,
            arguments_raw=record.arguments_raw,
            arguments=record.arguments,
        )
        for record in call.tool_calls
    ]
    turn = Transcript(
        exchanges=[Exchange(request, response, 0.0)],
        tool_calls=tool_calls,
        final_text=call.output or "",
        model=call.model,
    )
    return Transcript(
        exchanges=list(turn.exchanges),
        tool_calls=tool_calls,
        final_text=turn.final_text,
        model=call.model,
        turns=[turn],
    )


# --------------------------------------------------------------------------------------------
# The terminal report
# --------------------------------------------------------------------------------------------

_HEADER = ("severity", "incident", "recurrences", "first seen", "last seen", "constraints")


def render(report: ScanReport) -> list[str]:
    """The report as the terminal shows it: the counts, a table of the incidents that recurred
    (most severe first), their example calls, what could not be read, and the verdict."""
    lines = [_counts(report)]
    ordered = report.ordered()
    if ordered:
        rows = [
            (
                found.severity,
                found.case.id,
                str(found.count),
                iso(found.first_seen) or "-",
                iso(found.last_seen) or "-",
                ", ".join(f"{name} ({count})" for name, count in sorted(found.constraints.items())),
            )
            for found in ordered
        ]
        widths = [max(len(row[n]) for row in [_HEADER, *rows]) for n in range(len(_HEADER) - 1)]
        lines.append("")
        for row in [_HEADER, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        for found in ordered:
            lines.append("")
            lines.append(f"{found.case.id} ({found.severity}): {found.case.title}")
            for example in found.examples:
                ids = [
                    f"{label} {value}"
                    for label, value in (("trace", example.trace_id), ("span", example.span_id))
                    if value
                ]
                when = iso(example.time)
                lines.append("  " + "  ".join([example.where, *ids, *([when] if when else [])]))
                for finding in example.findings:
                    span = f' span: "{finding.span}"' if finding.span else ""
                    lines.append(f"    {finding.constraint}: {finding.message}{span}")
            if found.count > len(found.examples):
                lines.append(f"  ... and {found.count - len(found.examples)} more call(s)")
    for title, problems, count in (
        (
            "case files not loaded (their incidents were not looked for)",
            report.case_errors,
            len(report.case_errors),
        ),
        ("unreadable", report.unreadable, report.unreadable_count),
        ("undecided", report.undecided, report.undecided_count),
    ):
        if count:
            lines.append("")
            lines.append(f"{title} ({count}):")
            lines.extend(f"  {problem}" for problem in problems)
            if count > len(problems):
                lines.append(f"  ... and {count - len(problems)} more")
    lines.append("")
    lines.append(_verdict(report))
    return lines


def _counts(report: ScanReport) -> str:
    files = "1 file" if len(report.files) == 1 else f"{len(report.files)} files"
    parts = [f"{report.checked} checked"]
    if report.since is not None:
        parts.append(f"{report.before_since} before --since {iso(report.since)}")
    if report.without_time:
        parts.append(f"{report.without_time} without a time")
    line = f"incident-evals scan: {files}, {report.calls} call(s) ({'; '.join(parts)})"
    if report.sample_rate is not None:
        line += (
            f"; judge: {report.judge_sampled} call(s) sampled at {report.sample_rate:g} "
            f"(seed {report.seed}), {report.judge_verdicts} verdict(s)"
        )
    return line


def _verdict(report: ScanReport) -> str:
    failing = report.failing()
    incomplete = report.incomplete()
    tail = (
        f"; {incomplete} case(s), record(s) or check(s) not loaded, read or decided"
        if incomplete
        else ""
    )
    if failing:
        calls = sum(found.count for found in failing)
        return (
            f"incident-evals scan: FOUND {len(failing)} incident(s) recurring at "
            f"{report.fail_severity} or above, in {calls} call(s){tail}"
        )
    below = sum(found.count for found in report.recurrences.values())
    said = f" ({below} recurrence(s) below {report.fail_severity})" if below else ""
    if incomplete:
        return f"incident-evals scan: INCOMPLETE: no recurrence found{said}{tail}"
    return f"incident-evals scan: CLEAN: no recurrence in {report.checked} call(s){said}"
