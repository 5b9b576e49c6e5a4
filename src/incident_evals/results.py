"""Items -> results: the results JSON of SPEC §7 (``--incident-report PATH``).

Each item's data is made where the item ran (an xdist worker included) and travels on its test
report (``report.incident_result``, a plain dict that pytest's report serialisation carries), so
the controller merges every worker's items without a channel of its own. The outcome is read
from the reports: an item that errored in setup is ``error``, an open incident's expected
failure is ``xfailed``, and so on.

Redaction (:mod:`incident_evals.secrets`): every text of an item (the error, failure messages and
expectations, the output, tool-call arguments and outputs, the input, the provenance) is scrubbed
of credentials (the API key, URL user-info, ``Authorization``-style values, bearer tokens) and,
unless the run asks otherwise (``--incident-report-sensitive``), of the markers and the spans
``no_leak`` would flag of the case's sensitive documents, replaced by ``[redacted: <document
id>]``; a sensitive document's content in the input is replaced whole. A results file is shared
more widely than the case that holds the secret. The whole document is scrubbed of credentials
once more when written (:func:`write_results`).
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_evals.files import write_atomic
from incident_evals.secrets import Scrubber, placeholder
from incident_evals.vocabulary import OUTCOMES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from incident_evals.case import IncidentCase
    from incident_evals.transcript import Transcript

__all__ = [
    "OUTCOMES",
    "build_results",
    "item_data",
    "outcome_of",
    "redactor",
    "scrub_results",
    "write_results",
]

SCHEMA_VERSION = 1


#: Fields that name an item, a document or a call: kept as they are (the schema limits them to
#: safe characters, and reports and baselines match on them).
IDENTITY_FIELDS = frozenset(
    {
        "nodeid",
        "case_id",
        "variant",
        "category",
        "severity",
        "status",
        "outcome",
        "constraint",
        "id",
    }
)


def redactor(
    case: IncidentCase, enabled: bool, scrubber: Scrubber | None = None
) -> Callable[[str], str]:
    """A function that scrubs a text of credentials and, if ``enabled``, of the case's sensitive
    material (:mod:`incident_evals.secrets`)."""
    scrubber = scrubber if scrubber is not None else Scrubber.from_environment()
    return scrubber.for_case(case if enabled else None)


def _input(case: IncidentCase, redacting: bool) -> dict[str, Any]:
    return {
        "system": case.input.system,
        "messages": [dict(message) for message in case.input.messages],
        "documents": [
            {
                "id": doc.id,
                "title": doc.title,
                "sensitive": doc.sensitive,
                "content": placeholder(doc.id) if doc.sensitive and redacting else doc.content,
            }
            for doc in case.input.documents
        ],
        "tools": [tool.name for tool in case.input.tools],
    }


def item_data(
    *,
    nodeid: str,
    case: IncidentCase,
    variant: str,
    transcripts: Sequence[Transcript],
    samples: int,
    failures: Sequence[tuple[int, str, str, str, int]],
    passed_samples: int,
    error: str | None,
    provenance: Mapping[str, Any] | None,
    redacting: bool,
    baseline: Mapping[str, Any] | None = None,
    scrubber: Scrubber | None = None,
) -> dict[str, Any]:
    """One item's results entry, without its outcome (read from the reports) and regression.

    ``failures`` are ``(sample, constraint, expected, message, line)``; ``baseline`` holds the
    side-by-side baseline model's ``samples``, ``passed_samples`` and ``outcome``. Every text of
    the entry (the error, messages, output, tool calls, input, provenance) is scrubbed with
    ``scrubber`` (:mod:`incident_evals.secrets`; the environment's when ``None``), sensitive
    documents included when ``redacting``.
    """
    scrubber = scrubber if scrubber is not None else Scrubber.from_environment()
    first = transcripts[0] if transcripts else None
    usage: Counter[str] = Counter()
    for transcript in transcripts:
        usage.update(transcript.usage)
    data: dict[str, Any] = {
        "nodeid": nodeid,
        "case_id": case.id,
        "variant": variant,
        "title": case.title,
        "category": case.incident.category,
        "severity": case.incident.severity,
        "status": case.incident.status,
        "outcome": None,
        "samples": samples,
        "passed_samples": passed_samples,
        "pass_rate": round(passed_samples / samples, 6) if samples and error is None else None,
        "failures": [
            {
                "constraint": constraint,
                "message": message,
                "sample": sample,
                "expected": expected,
                "line": line,
            }
            for sample, constraint, expected, message, line in failures
        ],
        "error": error,
        "output": first.final_text if first else "",
        "tool_calls": [call.to_json() for call in first.tool_calls] if first else [],
        "usage": dict(usage),
        "latency_s": round(sum(t.latency_s for t in transcripts) / len(transcripts), 6)
        if transcripts
        else 0.0,
        "model": first.model if first else None,
        "input": _input(case, redacting),
        "provenance": dict(provenance) if provenance is not None else None,
        "regression": None,
    }
    if baseline is not None:
        data["baseline"] = dict(baseline)
    scrubbed: dict[str, Any] = scrubber.deep(
        data, case if redacting else None, keep=IDENTITY_FIELDS
    )
    return scrubbed


def outcome_of(when: str, report_outcome: str, wasxfail: bool, strict_xpass: bool) -> str:
    """The results outcome of an item, from the report that carries its data."""
    if when == "setup":
        return "skipped" if report_outcome == "skipped" else "error"
    if report_outcome == "skipped":
        return "xfailed" if wasxfail else "skipped"
    if report_outcome == "passed":
        return "xpassed" if wasxfail else "passed"
    return "xpassed" if strict_xpass else "failed"


def _summary(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    outcomes = Counter(str(item["outcome"]) for item in items)
    by_severity: dict[str, dict[str, dict[str, int]]] = {}
    for item in items:
        cell = by_severity.setdefault(item["severity"], {}).setdefault(item["category"], {})
        cell[item["outcome"]] = cell.get(item["outcome"], 0) + 1
    regressions = Counter(
        item["regression"]["status"] for item in items if item.get("regression") is not None
    )
    return {
        "total": len(items),
        "outcomes": dict(outcomes),
        "by_severity": by_severity,
        "regressions": dict(regressions),
    }


def build_results(
    items: Iterable[Mapping[str, Any]],
    *,
    run: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole results document; ``summary.line`` is the release-ticket line."""
    listed = [dict(item) for item in items]
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run": dict(run),
        "items": listed,
        "summary": _summary(listed),
    }
    from incident_evals.report.terminal import release_line

    results["summary"]["line"] = release_line(results)
    return results


def started_at() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def scrub_results(results: Mapping[str, Any], scrubber: Scrubber | None = None) -> dict[str, Any]:
    """The results document without credentials (the run's, or the environment's when
    ``scrubber`` is ``None``): applied wherever a results document leaves the process."""
    scrubber = scrubber if scrubber is not None else Scrubber.from_environment()
    # Item by item: one item needing it does not make every other item's texts visited.
    scrubbed: dict[str, Any] = {
        key: [scrubber.deep(item, keep=IDENTITY_FIELDS) for item in value]
        if key == "items" and isinstance(value, list)
        else scrubber.deep(value, keep=IDENTITY_FIELDS)
        for key, value in results.items()
    }
    return scrubbed


def write_results(path: Path, results: Mapping[str, Any], scrubber: Scrubber | None = None) -> None:
    """Written whole and renamed into place (:func:`write_atomic`): a reader never sees half a
    report. Scrubbed of credentials first (:func:`scrub_results`)."""
    results = scrub_results(results, scrubber)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
