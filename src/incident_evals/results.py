"""Verdicts -> the results document: the one writer of what ``--incident-report PATH`` and
:meth:`incident_evals.Catalogue.run` produce (its JSON Schema ships as ``results.schema.json``).

The document's shape is typed here (:class:`ResultsJson` and the dicts it holds), and every
part of it is made by a function of this module: an item that ran (:func:`item_data`), a
baseline item this run no longer has (:func:`removed_item`), a case file that failed to load
(:func:`load_error_data`), the run (:func:`run_data`) and the whole document with its summary
(:func:`build_results`). A pytest run makes each item's data where the item ran (an xdist worker
included) and carries it on the test report, a plain dict that pytest's report serialisation
carries, so the controller merges every worker's items without a channel of its own.

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

import copy
import dataclasses
import datetime
import functools
import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from incident_evals.case_types import SYSTEM_PROMPT_SOURCE
from incident_evals.evidence import stability
from incident_evals.files import write_atomic
from incident_evals.secrets import Scrubber, placeholder
from incident_evals.verdict import Reading, read, release_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from typing_extensions import NotRequired

    from incident_evals.baseline import Regression
    from incident_evals.case import CaseError, IncidentCase
    from incident_evals.transcript import Transcript

__all__ = [
    "ItemJson",
    "LoadErrorJson",
    "Results",
    "ResultsJson",
    "RunJson",
    "build_results",
    "content_hash",
    "item_data",
    "load_error_data",
    "outcome_of",
    "redactor",
    "removed_item",
    "run_data",
    "scrub_results",
    "write_results",
]

SCHEMA_VERSION = 1


class FailureJson(TypedDict):
    constraint: str
    message: str
    sample: int
    expected: str
    line: int


class RegressionJson(TypedDict):
    baseline_outcome: str | None
    baseline_pass_rate: float | None
    status: str
    p_value: float | None
    #: Present when a test compared the two sides (repeats on either side).
    test: NotRequired[str]
    p_drop: NotRequired[float]
    p_rise: NotRequired[float]
    q_value: NotRequired[float | None]
    pass_rate_interval: NotRequired[list[float]]
    baseline_pass_rate_interval: NotRequired[list[float]]
    smallest_detectable_drop: NotRequired[float | None]


class ItemJson(TypedDict):
    """One item of a run (or a removed baseline item): ``results.schema.json#/$defs/item``."""

    nodeid: str
    case_id: str
    variant: str
    title: NotRequired[str]
    category: str
    severity: str
    status: str
    #: The case's ``incident.taxonomy`` ids (OWASP, MITRE ATLAS, AVID), as written.
    taxonomy: NotRequired[list[str]]
    outcome: str
    samples: int
    passed_samples: int
    pass_rate: float | None
    failures: list[FailureJson]
    error: NotRequired[str | None]
    output: str
    tool_calls: list[dict[str, Any]]
    usage: dict[str, int]
    latency_s: float
    model: NotRequired[str | None]
    #: The API the samples were replayed over (``chat`` or ``responses``); ``None`` when
    #: nothing was replayed (a recorded item).
    api: NotRequired[str | None]
    #: ``stable_pass``, ``flaky`` or ``stable_fail`` from the samples; ``None`` without any.
    stability: NotRequired[str | None]
    #: What the item tests (:func:`content_hash`).
    content_hash: NotRequired[str]
    input: NotRequired[dict[str, Any] | None]
    provenance: NotRequired[dict[str, Any] | None]
    regression: RegressionJson | None
    baseline: NotRequired[dict[str, Any]]
    #: Under ``input.regenerate: all``: sample 0's generated turns, in order.
    turns: NotRequired[list[dict[str, Any]]]
    #: The judge's verdicts on sample 0 (on the recording and accepted outputs, for a recorded
    #: item), each with its samples and how many agree; absent when no judge was asked.
    judgements: NotRequired[list[dict[str, Any]]]
    #: A consistency item's rates of changed decisions, per attribute and per combination.
    consistency: NotRequired[dict[str, Any]]


class LoadErrorJson(TypedDict):
    """A case file (or one document of it) that failed to load: its one-line error."""

    nodeid: str
    path: str
    line: int
    field: str
    message: str


class RunJson(TypedDict):
    model: str | None
    base_url: str | None
    seed: int
    started_at: str
    duration_s: float
    plugin_version: str
    complete: bool
    fail_on: NotRequired[str]
    alpha: NotRequired[float]
    baseline: NotRequired[dict[str, Any] | None]
    redacted: NotRequired[bool]
    allow_inconclusive: NotRequired[bool]


class SummaryJson(TypedDict):
    total: int
    outcomes: dict[str, int]
    by_severity: dict[str, dict[str, dict[str, int]]]
    regressions: dict[str, int]
    load_errors: int
    line: str
    #: The run against its baseline as a whole (``baseline.SuiteComparison``), when compared.
    suite: NotRequired[dict[str, Any]]


class ResultsJson(TypedDict):
    schema_version: int
    run: RunJson
    items: list[ItemJson]
    load_errors: list[LoadErrorJson]
    summary: SummaryJson


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
        "system": (
            placeholder(SYSTEM_PROMPT_SOURCE)
            if case.input.system_sensitive and redacting
            else case.input.system
        ),
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


#: What a field holds when it was not written.
_NO_DEFAULT: Any = dataclasses.MISSING


@functools.cache
def _hashed_fields(kind: type) -> tuple[tuple[str, Any], ...]:
    """The fields of a dataclass that say what a case tests, each with its default value:
    worked out once per class, not once per item (it is on every item's way to its report)."""
    hashed = []
    for spec in dataclasses.fields(kind):
        if spec.name in ("path", "line") or spec.name.endswith("_line"):
            continue  # where the case sits in its file is not what it tests
        if spec.default is not dataclasses.MISSING:
            default = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            # The factories of these dataclasses make plain values, equal every time.
            default = spec.default_factory()
        else:
            default = _NO_DEFAULT
        hashed.append((spec.name, default))
    return tuple(hashed)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _canonical(value: Any) -> Any:
    """``value`` as plain JSON data; a dataclass keeps only the fields that differ from their
    default, so that a field a later version adds leaves every existing case's hash alone."""
    # The common exact types first, for the same result: every item's hash walks its case.
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(key): _canonical(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_canonical(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if dataclasses.is_dataclass(kind):
        kept: dict[str, Any] = {}
        for name, default in _hashed_fields(kind):
            found = getattr(value, name)
            if default is not _NO_DEFAULT and found == default:
                continue
            kept[name] = _canonical(found)
        return kept
    return value


def content_hash(case: IncidentCase, *parts: Any) -> str:
    """What an item tests, as 16 hex digits of SHA-256: the case's input, constraints, model
    settings and runs, and ``parts`` (a variant's provenance). Its incident record, title, file
    and lines are left out: they do not change what is sent or judged. A baseline item with
    another hash tested something else, so it is ``changed``, not compared."""
    tested = {
        "input": _canonical(case.input),
        "expect": [[spec.name, _canonical(spec.argument)] for spec in case.expect],
        "model": _canonical(case.model),
        "runs": _canonical(case.runs),
        "parts": _canonical(list(parts)),
    }
    text = _HASHED_JSON.encode(tested)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# What json.dumps would make on every call (every item's hash).
_HASHED_JSON = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr
)


def item_data(
    *,
    nodeid: str,
    case: IncidentCase,
    variant: str,
    outcome: str,
    transcripts: Sequence[Transcript],
    samples: int,
    failures: Sequence[tuple[int, str, str, str, int]],
    passed_samples: int,
    error: str | None,
    provenance: Mapping[str, Any] | None,
    redacting: bool,
    baseline: Mapping[str, Any] | None = None,
    regression: Regression | None = None,
    scrubber: Scrubber | None = None,
    api: str | None = None,
    content: str | None = None,
) -> ItemJson:
    """One item's results entry.

    ``failures`` are ``(sample, constraint, expected, message, line)``; ``baseline`` holds the
    side-by-side baseline model's ``samples``, ``passed_samples`` and ``outcome``; ``regression``
    is the comparison with the baseline decided with the item's verdict. Every text of
    the entry (the error, messages, output, tool calls, input, provenance) is scrubbed with
    ``scrubber`` (:mod:`incident_evals.secrets`; the environment's when ``None``), sensitive
    documents included when ``redacting``.
    """
    scrubber = scrubber if scrubber is not None else Scrubber.from_environment()
    first = transcripts[0] if transcripts else None
    usage: Counter[str] = Counter()
    for transcript in transcripts:
        usage.update(transcript.usage)
    data: ItemJson = {
        "nodeid": nodeid,
        "case_id": case.id,
        "variant": variant,
        "title": case.title,
        "category": case.incident.category,
        "severity": case.incident.severity,
        "status": case.incident.status,
        "taxonomy": list(case.incident.taxonomy),
        "outcome": outcome,
        "samples": samples,
        "passed_samples": passed_samples,
        "pass_rate": round(passed_samples / samples, 6) if samples and error is None else None,
        "stability": stability(passed_samples, samples) if error is None else None,
        "content_hash": content if content is not None else content_hash(case, provenance),
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
        "api": api,
        "input": _input(case, redacting),
        "provenance": dict(provenance) if provenance is not None else None,
        "regression": _regression_json(regression),
    }
    if first is not None and first.turns:
        # A regenerated conversation: sample 0's reply at every turn (output is the last).
        data["turns"] = first.turns_json()
    if baseline is not None:
        data["baseline"] = dict(baseline)
    if first is not None and first.judgements:
        data["judgements"] = [judgement.to_json() for judgement in first.judgements]
    scrubbed: ItemJson = scrubber.deep(data, case if redacting else None, keep=IDENTITY_FIELDS)
    return scrubbed


def _regression_json(regression: Regression | None) -> RegressionJson | None:
    if regression is None:
        return None
    data: RegressionJson = regression.to_json()  # type: ignore[assignment]
    return data


#: The item fields a run produces; a removed item did not run, so the baseline's are not shown.
_DROPPED_FROM_REMOVED = ("error", "model", "api", "input", "stability")


def removed_item(baseline: Mapping[str, Any], regression: Regression) -> ItemJson:
    """A baseline item this run no longer has, as an item of its own: copied from the baseline
    with what this run did not produce emptied (outcome ``skipped``, no samples, no failures, no
    output) and without the baseline's error, model and input."""
    kept = {k: copy.deepcopy(v) for k, v in baseline.items() if k not in _DROPPED_FROM_REMOVED}
    item: ItemJson = {
        **kept,  # type: ignore[typeddict-item]
        "outcome": "skipped",
        "samples": 0,
        "passed_samples": 0,
        "pass_rate": None,
        "failures": [],
        "output": "",
        "tool_calls": [],
        "usage": {},
        "latency_s": 0.0,
        "regression": _regression_json(regression),
    }
    return item


def load_error_data(nodeid: str, error: CaseError, base: Path, scrubber: Scrubber) -> LoadErrorJson:
    """A case file that failed to load (or one document of it), with its one-line message:
    the path relative to ``base`` (the rootdir) where it can be, scrubbed of credentials."""
    return {
        "nodeid": nodeid,
        "path": _shown(error.path, base),
        "line": error.line,
        "field": error.field,
        "message": scrubber.text(error.render(base)),
    }


def _shown(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def outcome_of(when: str, report_outcome: str, wasxfail: bool, strict_xpass: bool) -> str:
    """The results outcome of an item, from the report that carries its data."""
    if when == "setup":
        return "skipped" if report_outcome == "skipped" else "error"
    if report_outcome == "skipped":
        return "xfailed" if wasxfail else "skipped"
    if report_outcome == "passed":
        return "xpassed" if wasxfail else "passed"
    return "xpassed" if strict_xpass else "failed"


def _summary(items: Sequence[ItemJson], load_errors: Sequence[LoadErrorJson]) -> SummaryJson:
    outcomes = Counter(str(item["outcome"]) for item in items)
    # A case file that failed to load counts in every total, as the error pytest reports.
    if load_errors:
        outcomes["error"] += len(load_errors)
    by_severity: dict[str, dict[str, dict[str, int]]] = {}
    for item in items:
        cell = by_severity.setdefault(item["severity"], {}).setdefault(item["category"], {})
        cell[item["outcome"]] = cell.get(item["outcome"], 0) + 1
    regressions = Counter(
        regression["status"] for item in items if (regression := item.get("regression"))
    )
    return {
        "total": len(items) + len(load_errors),
        "outcomes": dict(outcomes),
        "by_severity": by_severity,
        "regressions": dict(regressions),
        "load_errors": len(load_errors),
        "line": "",
    }


def build_results(
    items: Iterable[Mapping[str, Any]],
    *,
    run: Mapping[str, Any],
    load_errors: Iterable[LoadErrorJson] = (),
    suite: Mapping[str, Any] | None = None,
) -> ResultsJson:
    """The whole results document; ``summary.line`` is the release-ticket line."""
    listed: list[ItemJson] = [dict(item) for item in items]  # type: ignore[misc]
    errors = list(load_errors)
    results: ResultsJson = {
        "schema_version": SCHEMA_VERSION,
        "run": dict(run),  # type: ignore[typeddict-item]
        "items": listed,
        "load_errors": errors,
        "summary": _summary(listed, errors),
    }
    if suite is not None:
        results["summary"]["suite"] = dict(suite)
    results["summary"]["line"] = release_line(results)
    return results


def run_data(
    *,
    model: str | None,
    base_url: str | None,
    seed: int,
    started: str,
    duration_s: float,
    complete: bool,
    fail_on: str,
    alpha: float,
    baseline: dict[str, Any] | None,
    redacted: bool,
    allow_inconclusive: bool = False,
) -> RunJson:
    """The ``run`` of a results document."""
    from incident_evals._version import __version__

    data: RunJson = {
        "model": model,
        "base_url": base_url,
        "seed": seed,
        "started_at": started,
        "duration_s": round(duration_s, 3),
        "plugin_version": __version__,
        "complete": complete,
        "fail_on": fail_on,
        "alpha": alpha,
        "baseline": baseline,
        "redacted": redacted,
    }
    if allow_inconclusive:
        # Only when asked: a run that did not ask writes what it always wrote.
        data["allow_inconclusive"] = True
    return data


class Results:
    """A run's results: the document (:meth:`to_json`) and its verdict, read the one way every
    report reads it (:mod:`incident_evals.verdict`)."""

    def __init__(self, document: ResultsJson) -> None:
        self._document = document

    def to_json(self) -> ResultsJson:
        """The results document, as ``pytest --incident-evals --incident-report`` writes it."""
        return copy.deepcopy(self._document)

    @property
    def items(self) -> list[ItemJson]:
        return self.to_json()["items"]

    @property
    def load_errors(self) -> list[LoadErrorJson]:
        return self.to_json()["load_errors"]

    @property
    def reading(self) -> Reading:
        return read(self._document)

    @property
    def verdict(self) -> str:
        """``PASS``, ``BLOCK`` or ``INCOMPLETE``."""
        return self.reading.verdict

    @property
    def line(self) -> str:
        """The release-ticket line."""
        return self._document["summary"]["line"]

    def write(self, path: Path, scrubber: Scrubber | None = None) -> None:
        """Write the document to ``path`` (:func:`write_results`)."""
        write_results(path, self._document, scrubber)

    def __repr__(self) -> str:
        return f"<Results {self.line!r}>"


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
