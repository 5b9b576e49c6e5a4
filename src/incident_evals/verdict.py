"""The verdict of a results document: who is in which list, and PASS, BLOCK or INCOMPLETE.

Every report (terminal, Markdown, HTML, ``incident-evals report``'s exit status) and the
document's own ``summary.line`` read a results document the one way defined here, so they never
disagree.

**Items.** An item is labelled ``case_id`` when its variant is ``original``, else
``case_id[variant]`` (``INC-2025-031-refund-policy-superseded[typos-1]``). Items whose regression
status is ``removed`` (baseline items this run no longer has) are listed as removed and counted
nowhere else: they did not run. Lists are ordered by severity (critical, major, minor), then as in
the file.

**Case files that failed to load** (``load_errors``) are not items: what they would have tested
is unknown. Each counts as an error in the totals, and any one of them blocks.

**Baseline.** The run has one when ``run.baseline`` is not null or any item has a ``regression``.
Its name is ``run.baseline.model``, else ``run.baseline.path``, else "the baseline".

**Failing** means outcome ``failed`` or ``xfailed`` (an open incident, or a known failure under
``fail_on regressions``, still failed its constraints). With a baseline, a failing item that did
not regress is a *known failure* when its baseline outcome was failing too, else a *new failure*
(a case or variant the baseline lacks, or a drop the Fisher test did not find significant).
Without a baseline, *failures* are the items with outcome ``failed``.

**Verdict**, the first that applies:

1. ``BLOCK``: a case file failed to load (under either ``fail_on``: a case that cannot load
   cannot show it still holds); any item regressed; under ``fail_on regressions``, a baseline
   case of which no item ran (every item of it ``removed``); a critical item whose comparison is
   ``inconclusive``, unless ``run.allow_inconclusive``; a significant drop of the whole run
   (``summary.suite.significant_drop``); or ``run.fail_on`` is ``failures``
   (the default when absent) and any item's outcome is ``failed``. Under ``fail_on regressions``
   known and new failures are reported and do not block (the upgrade gate).
2. ``INCOMPLETE``: ``run.complete`` is false, any item is an ``error``, or no item ran. A run
   that could not judge everything cannot pass, but a regression it did find still blocks.
3. ``PASS``.

An ``xpassed`` item (an open incident whose fix now works) never blocks: the model did better, and
the case file wants ``status: resolved``. pytest itself fails a strict xpass, so on that one
point the verdict is kinder than pytest's exit status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from incident_evals.vocabulary import (
    CATEGORIES,
    OUTCOMES,
    REGRESSION_STATUSES,
    SEVERITIES,
    STABILITY_CLASSES,
)

__all__ = [
    "BLOCK",
    "FAILING",
    "INCOMPLETE",
    "PASS",
    "Item",
    "Reading",
    "label",
    "labels",
    "plural",
    "read",
    "release_line",
    "status",
]

FAILING = frozenset({"failed", "xfailed"})
PASS, BLOCK, INCOMPLETE = "PASS", "BLOCK", "INCOMPLETE"

Item = Mapping[str, Any]


def label(item: Item) -> str:
    """``case_id``, or ``case_id[variant]`` for anything but the original."""
    variant = item.get("variant", "original")
    return str(item["case_id"]) if variant == "original" else f"{item['case_id']}[{variant}]"


def status(item: Item) -> str | None:
    """The regression status, None without a baseline."""
    regression = item.get("regression")
    return str(regression["status"]) if isinstance(regression, Mapping) else None


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count} {noun if count == 1 else many or noun + 's'}"


@dataclass(frozen=True)
class Reading:
    """One results document, read: who is in which list, and the verdict."""

    results: Mapping[str, Any]
    #: Items that ran (everything but the removed), in the file's order.
    items: list[Item]
    removed: list[Item]
    #: Under ``fail_on regressions``, the removed items' cases of which nothing ran: they block.
    missing_cases: list[str]
    #: Critical items whose comparison is inconclusive: they block unless the run allows them.
    inconclusive_critical: list[Item]
    #: The run's ``summary.suite`` when it shows a significant overall drop: it blocks.
    overall_drop: Mapping[str, Any] | None
    #: Case files that failed to load: ``{"nodeid", "path", "line", "field", "message"}``.
    load_errors: list[Item]
    has_baseline: bool
    baseline_name: str
    fail_on: str
    alpha: float | None
    model: str | None
    complete: bool
    regressions: list[Item] = field(default_factory=list)
    #: Without a baseline: every ``failed`` item. With one: failing, not regressed, not known.
    new_failures: list[Item] = field(default_factory=list)
    known_failures: list[Item] = field(default_factory=list)
    fixed: list[Item] = field(default_factory=list)
    errors: list[Item] = field(default_factory=list)
    #: Without a baseline, ``xfailed`` items (open incidents, expected to fail).
    expected_failures: list[Item] = field(default_factory=list)
    xpassed: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)
    #: Failures that block because ``fail_on`` is ``failures`` (regressions excluded).
    blocking_failures: list[Item] = field(default_factory=list)
    verdict: str = PASS

    def outcome_counts(self) -> dict[str, int]:
        """Outcomes of the items that ran; a case file that failed to load is an error."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for item in self.items:
            counts[str(item["outcome"])] = counts.get(str(item["outcome"]), 0) + 1
        counts["error"] += len(self.load_errors)
        return {outcome: count for outcome, count in counts.items() if count}

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(REGRESSION_STATUSES, 0)
        for item in [*self.items, *self.removed]:
            state = status(item)
            if state is not None:
                counts[state] = counts.get(state, 0) + 1
        return {state: count for state, count in counts.items() if count}

    def stability_counts(self) -> dict[str, int]:
        """Items by stability class, when any item took more than one sample (with one sample
        each, every item is trivially stable and the count says nothing)."""
        if not any(item.get("samples", 0) > 1 for item in self.items):
            return {}
        counts = dict.fromkeys(STABILITY_CLASSES, 0)
        for item in self.items:
            found = item.get("stability")
            if found in counts:
                counts[found] += 1
        return {name: count for name, count in counts.items() if count}

    def cases(self) -> int:
        return len({item["case_id"] for item in self.items})

    def severities(self) -> list[str]:
        present = {item["severity"] for item in self.items}
        return [s for s in SEVERITIES if s in present] + sorted(present - set(SEVERITIES))

    def categories(self) -> list[str]:
        present = {item["category"] for item in self.items}
        return [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))

    def cell(self, severity: str | None, category: str | None) -> tuple[int, int]:
        """(passed, items) for one severity and category; None is "all"."""
        chosen = [
            item
            for item in self.items
            if severity in (None, item["severity"]) and category in (None, item["category"])
        ]
        return sum(item["outcome"] == "passed" for item in chosen), len(chosen)


def _by_severity(items: Sequence[Item]) -> list[Item]:
    rank = {severity: number for number, severity in enumerate(SEVERITIES)}
    return sorted(items, key=lambda item: rank.get(item.get("severity", ""), len(rank)))


def read(results: Mapping[str, Any]) -> Reading:
    """The reading every report shares (see the module docstring for the rules)."""
    run: Mapping[str, Any] = results.get("run") or {}
    every: list[Item] = list(results.get("items") or [])
    items = [item for item in every if status(item) != "removed"]
    removed = [item for item in every if status(item) == "removed"]
    baseline = run.get("baseline")
    has_baseline = baseline is not None or any(status(item) is not None for item in every)
    name = "the baseline"
    if isinstance(baseline, Mapping):
        name = str(baseline.get("model") or baseline.get("path") or name)
    fail_on = str(run.get("fail_on") or "failures")
    alpha = run.get("alpha")
    model = run.get("model")
    if model is None:
        # A run through the target hook names no model; the endpoint may still have said one.
        model = next((item["model"] for item in items if item.get("model")), None)
    complete = run.get("complete", True) is not False
    ordered = _by_severity(items)
    regressions = [item for item in ordered if status(item) == "regressed"]
    failing = [
        item for item in ordered if item["outcome"] in FAILING and status(item) != "regressed"
    ]
    if has_baseline:
        known = [
            item
            for item in failing
            if (item.get("regression") or {}).get("baseline_outcome") in FAILING
        ]
        new = [item for item in failing if item not in known]
        expected: list[Item] = []
    else:
        known = []
        new = [item for item in failing if item["outcome"] == "failed"]
        expected = [item for item in failing if item["outcome"] == "xfailed"]
    blocking = (
        [item for item in failing if item["outcome"] == "failed"] if fail_on == "failures" else []
    )
    errors = [item for item in ordered if item["outcome"] == "error"]
    load_errors: list[Item] = list(results.get("load_errors") or [])
    ran = {item["case_id"] for item in items}
    # Under the upgrade gate a case the candidate did not run at all cannot show it still holds.
    missing = (
        [item for item in removed if item["case_id"] not in ran] if fail_on == "regressions" else []
    )
    undecided = (
        []
        if run.get("allow_inconclusive") is True
        else [
            item
            for item in ordered
            if status(item) == "inconclusive" and item.get("severity") == "critical"
        ]
    )
    suite = (results.get("summary") or {}).get("suite")
    overall_drop = isinstance(suite, Mapping) and suite.get("significant_drop") is True
    if load_errors or regressions or blocking or missing or undecided or overall_drop:
        verdict = BLOCK
    elif not complete or errors or not items:
        verdict = INCOMPLETE
    else:
        verdict = PASS
    return Reading(
        results=results,
        items=items,
        removed=_by_severity(removed),
        missing_cases=list(dict.fromkeys(str(item["case_id"]) for item in _by_severity(missing))),
        inconclusive_critical=undecided,
        overall_drop=suite if overall_drop else None,
        load_errors=load_errors,
        has_baseline=has_baseline,
        baseline_name=name,
        fail_on=fail_on,
        alpha=float(alpha) if isinstance(alpha, int | float) else None,
        model=str(model) if model is not None else None,
        complete=complete,
        regressions=regressions,
        new_failures=new,
        known_failures=known,
        fixed=[item for item in ordered if status(item) == "fixed"],
        errors=errors,
        expected_failures=expected,
        xpassed=[item for item in ordered if item["outcome"] == "xpassed"],
        skipped=[item for item in ordered if item["outcome"] == "skipped"],
        blocking_failures=blocking,
        verdict=verdict,
    )


def labels(items: Sequence[Item], shown: int = 3) -> str:
    """Up to ``shown`` labels, then ``and N more``."""
    names = [label(item) for item in items[:shown]]
    if len(items) > shown:
        names.append(f"and {len(items) - shown} more")
    return ", ".join(names)


def release_line(results: Mapping[str, Any]) -> str:
    """The one line a human pastes into a release ticket (its grammar is described in
    :mod:`incident_evals.report.terminal`)."""
    reading = read(results)
    count = len(reading.items)
    if reading.has_baseline:
        blocking = reading.regressions
        head = plural(len(blocking), "regression")
        where = f"against baseline {reading.baseline_name}"
    else:
        blocking = reading.new_failures
        head = plural(len(blocking), "failure")
        where = "no baseline"
    if blocking:
        head += f" ({labels(blocking)})"
    main = f"{head} in {plural(count, 'item')}"
    main += f" {where}" if reading.has_baseline else f", {where}"
    parts = [main]
    if reading.load_errors:
        # What blocks first: the cases in those files were not run at all.
        paths = list(dict.fromkeys(str(error["path"]) for error in reading.load_errors))
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        failed = "case file failed" if len(paths) == 1 else "case files failed"
        parts.insert(0, f"{len(paths)} {failed} to load ({shown})")
    if reading.overall_drop is not None:
        drop = reading.overall_drop
        parts.append(
            f"overall pass rate {drop['difference']:+.2f} per incident over "
            f"{drop['incidents']} incidents (p = {drop['p_value']:.3g})"
        )
    if reading.inconclusive_critical:
        undecided = reading.inconclusive_critical
        parts.append(f"{len(undecided)} critical inconclusive ({labels(undecided)})")
    if reading.has_baseline:
        if reading.new_failures:
            parts.append(plural(len(reading.new_failures), "new failure"))
        if reading.known_failures:
            parts.append(plural(len(reading.known_failures), "known failure"))
        if reading.blocking_failures:
            parts.append("failures block under fail_on failures")
        if reading.fixed:
            parts.append(f"{len(reading.fixed)} fixed")
    elif reading.expected_failures:
        parts.append(plural(len(reading.expected_failures), "expected failure") + " (xfailed)")
    if reading.xpassed:
        parts.append(f"{len(reading.xpassed)} xpassed")
    if reading.errors:
        parts.append(plural(len(reading.errors), "error"))
    if reading.skipped:
        parts.append(f"{len(reading.skipped)} skipped")
    if reading.removed:
        removed = f"{len(reading.removed)} removed"
        if reading.missing_cases:
            missing = reading.missing_cases
            more = [f"and {len(missing) - 3} more"] if len(missing) > 3 else []
            removed += f" (not run: {', '.join(missing[:3] + more)})"
        parts.append(removed)
    if not reading.complete:
        parts.append("run stopped early")
    if reading.model:
        parts.append(f"model {reading.model}")
    return f"incident-evals: {reading.verdict} — " + "; ".join(parts)
