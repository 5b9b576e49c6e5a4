"""Guard and scan findings as OpenTelemetry ``gen_ai.evaluation.result`` events.

Filled in below; the guard calls :func:`emit_findings` only when a check has findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incident_evals.guard import Finding

__all__ = ["emit_findings"]


def emit_findings(findings: Sequence[Finding], *, source: str) -> int:
    """Emit one event per finding on the current span; how many were emitted."""
    return 0
