"""Guard and scan findings as OpenTelemetry ``gen_ai.evaluation.result`` events.

With the ``otel`` extra (``opentelemetry-api``) installed, each finding becomes one event named
``gen_ai.evaluation.result`` on the span current where the check ran (the application's own span
around its model call, so the finding sits on the operation it judges), with the attributes the
OpenTelemetry GenAI semantic conventions define for it:

* ``gen_ai.evaluation.name``: the incident case's id (the evaluator is the case);
* ``gen_ai.evaluation.score.label``: ``fail`` (only failures are findings);
* ``gen_ai.evaluation.explanation``: the finding's message, as a test failure says it (it may
  quote the output, redacted of credentials and sensitive documents, clipped);
* ``gen_ai.response.id``: the evaluated response's id, when the caller knows it (the scan does);

and the project's own, under ``incident_evals.``: ``constraint``, ``severity``, ``taxonomy``,
``stage`` and ``source`` (``guard`` or ``scan``). The finding's ``span`` is not sent as an
attribute of its own: telemetry is often kept longer, and seen by more people, than the
application's own logs.

Without the package, or with no recording span, nothing is done and nothing is imported twice:
the guard pays one cached lookup per check that has findings.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incident_evals.guard import Finding

__all__ = [
    "EVALUATION_EVENT",
    "EVALUATION_EXPLANATION",
    "EVALUATION_NAME",
    "EVALUATION_SCORE_LABEL",
    "RESPONSE_ID",
    "emit_findings",
]

EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
RESPONSE_ID = "gen_ai.response.id"
#: The label of every finding: a constraint that does not hold.
FAIL = "fail"


@functools.cache
def _trace() -> ModuleType | None:
    """``opentelemetry.trace``, or ``None`` without the ``otel`` extra (looked up once)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def emit_findings(
    findings: Sequence[Finding], *, source: str, response_id: str | None = None
) -> int:
    """One ``gen_ai.evaluation.result`` event per finding on the current span; how many were
    emitted (0 without OpenTelemetry or without a recording span). ``source`` says who found
    them (``guard`` or ``scan``)."""
    if not findings:
        return 0
    trace = _trace()
    if trace is None:
        return 0
    span = trace.get_current_span()
    if not span.is_recording():
        return 0
    for finding in findings:
        attributes: dict[str, str | Sequence[str]] = {
            EVALUATION_NAME: finding.case_id,
            EVALUATION_SCORE_LABEL: FAIL,
            EVALUATION_EXPLANATION: finding.message,
            "incident_evals.constraint": finding.constraint,
            "incident_evals.severity": finding.severity,
            "incident_evals.stage": finding.stage,
            "incident_evals.source": source,
        }
        if finding.taxonomy:
            attributes["incident_evals.taxonomy"] = list(finding.taxonomy)
        if response_id is not None:
            attributes[RESPONSE_ID] = response_id
        span.add_event(EVALUATION_EVENT, attributes)
    return len(findings)
