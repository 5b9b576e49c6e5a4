"""The plain-text summary of a results JSON: pytest's terminal summary, ``incident-evals report``.

:func:`summary_lines` returns these lines, without colour, in this order (sections with nothing to
say are left out; every list is ordered by severity, then as in the file):

1. A heading: ``incident-evals results: 24 items from 7 cases, model M, seed 0, baseline B
   (alpha 0.05)`` (or ``no baseline``; ``run stopped early`` when ``complete`` is false).
2. A table of severity (rows) by category (columns, only those present, plus ``all``); each
   cell is ``passed/items``, ``-`` where there is no item. Then a line of outcome counts, when
   cases carry ``incident.taxonomy`` ids a line ``taxonomy (passed/items): LLM01 2/4, ...``, and,
   with a baseline, one of regression statuses, and the baseline's ``api_difference`` when
   items were replayed over another API than in the baseline.
3. ``CASE FILES THAT FAILED TO LOAD (n)``: each file's one-line error (``file:line: field:
   message``), at most 10, then ``and N more``. Any one of them blocks.
4. ``REGRESSIONS (n)``: each item's label with its severity and category (and taxonomy ids,
   ``(critical, security; LLM01, AML.T0051.001)``); under it the first
   failing constraint and its message (clipped to 120 characters), the other failing
   constraints, and the comparison: ``passed -> failed, pass rate 100% -> 20% (1 of 5 samples),
   p = 0.0238``.
5. ``NEW FAILURES (n)`` with a baseline (failing items not failing in the baseline: new cases
   and variants, and drops too small to be significant), ``FAILURES (n)`` without one; each
   laid out as a regression.
6. ``KNOWN FAILURES (n)``: failing in the baseline too, labels only (at most 5).
7. ``EXPECTED FAILURES (n)`` without a baseline: ``xfailed`` items (open incidents).
8. ``FIXED (n)``: one line each, with the comparison.
9. ``XPASSED (n)``: open incidents that now pass; the case wants ``status: resolved``.
10. ``ERRORS (n)``: the first error item and its message; ``and N more`` for the rest.
11. ``REMOVED (n)``: baseline items this run does not have, labels only (at most 5).
12. The release-ticket line (:func:`release_line`).

The release line's grammar: ``incident-evals: VERDICT — [LOAD; ]HEAD; PART; ...; model M`` where
LOAD is ``N case file(s) failed to load (PATHS)`` when any did, and VERDICT
is PASS, BLOCK or INCOMPLETE (rules in :mod:`incident_evals.verdict`); HEAD is ``N regressions
(LABELS) in M items against baseline B`` with a baseline, ``N failures (LABELS) in M items, no
baseline`` without (at most 3 labels, then ``and K more``; none when N is 0); and the parts,
each only when not zero, are: new failures, known failures, ``failures block under fail_on
failures`` (a baseline run whose failures fail items), fixed, expected failures (xfailed),
xpassed, errors, skipped, removed, ``run stopped early``, then the model (when known).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from incident_evals import report
from incident_evals.report import (
    Item,
    Reading,
    clip,
    comparison,
    error_text,
    label,
    plural,
    read,
    reason,
)
from incident_evals.results import scrub_results

if TYPE_CHECKING:
    from incident_evals.secrets import Scrubber

__all__ = ["release_line", "summary_lines"]

#: Labels listed in a section that shows labels only.
SHOWN_LABELS = 5
#: A case file's load error names its file, line and field before the message.
LOAD_ERROR_WIDTH = 300


def release_line(results: Mapping[str, Any]) -> str:
    """The one line a human pastes into a release ticket (grammar in the module docstring)."""
    return report.release_line(results)


def heading(reading: Reading) -> str:
    """``24 items from 7 cases, model M, seed 0, baseline B (alpha 0.05)``, without a prefix."""
    run: Mapping[str, Any] = reading.results.get("run") or {}
    parts = [f"{plural(len(reading.items), 'item')} from {plural(reading.cases(), 'case')}"]
    if reading.model:
        parts.append(f"model {reading.model}")
    if run.get("seed") is not None:
        parts.append(f"seed {run['seed']}")
    if reading.has_baseline:
        alpha = f" (alpha {reading.alpha:g})" if reading.alpha is not None else ""
        parts.append(f"baseline {reading.baseline_name}{alpha}")
    else:
        parts.append("no baseline")
    if not reading.complete:
        parts.append("run stopped early")
    return ", ".join(parts)


def table(reading: Reading) -> list[list[str]]:
    """Rows of cells: a header row, then one row per severity; ``passed/items`` or ``-``."""
    categories = reading.categories()
    rows = [["passed/items", *categories, "all"]]
    for severity in reading.severities():
        row = [severity]
        for category in [*categories, None]:
            passed, count = reading.cell(severity, category)
            row.append(f"{passed}/{count}" if count else "-")
        rows.append(row)
    return rows


def outcome_line(reading: Reading) -> str:
    counts = reading.outcome_counts()
    return "outcomes: " + (", ".join(outcome_count(o, n) for o, n in counts.items()) or "none")


def outcome_count(outcome: str, count: int) -> str:
    """``3 passed``, ``2 errors``: the outcomes are adjectives but for error, a noun."""
    return plural(count, outcome) if outcome == "error" else f"{count} {outcome}"


def stability_line(reading: Reading) -> str | None:
    """``stability: 12 stable_pass, 3 flaky``, when the items took repeated samples."""
    counts = reading.stability_counts()
    if not counts:
        return None
    return "stability: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def suite_line(results: Mapping[str, Any]) -> str | None:
    """``overall: -0.12 pass rate per incident (95 % interval ...) over 12 incidents, p = ...``"""
    suite = (results.get("summary") or {}).get("suite")
    if not isinstance(suite, Mapping):
        return None
    low, high = suite["interval"]
    verdict = "a significant drop" if suite["significant_drop"] else "no significant drop"
    return (
        f"overall: {suite['difference']:+.2f} pass rate per incident "
        f"(95 % interval {low:+.2f} to {high:+.2f}) over {suite['incidents']} incidents, "
        f"p = {suite['p_value']:.3g}: {verdict}"
    )


def status_line(reading: Reading) -> str:
    counts = reading.status_counts()
    return "against the baseline: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def where(item: Item) -> str:
    """``critical, security`` and, when the case has any, ``; LLM01, AML.T0051.001``."""
    ids = report.taxonomy_ids(item)
    tagged = f"; {', '.join(ids)}" if ids else ""
    return f"{item['severity']}, {item['category']}{tagged}"


def item_block(item: Item, alpha: float | None) -> list[str]:
    """A listed item: label line, then the reason, other constraints and comparison, indented."""
    lines = [f"  {label(item)} ({where(item)})"]
    why, others = reason(item)
    if why:
        lines.append(f"    {why}")
    if others:
        lines.append(f"    also failed: {', '.join(others)}")
    compared = comparison(item, alpha)
    if compared:
        lines.append(f"    {compared}")
    return lines


def label_list(items: Sequence[Item]) -> str:
    return report.labels(items, SHOWN_LABELS)


def _section_body(section: report.Section) -> list[str]:
    items = section.items
    if section.kind == "load_errors":
        lines = [f"  {clip(str(error['message']), LOAD_ERROR_WIDTH)}" for error in items]
        return report.shown_first(lines, report.LOAD_ERRORS_SHOWN, "  and {} more")
    if section.kind == "details":
        return [line for item in items for line in item_block(item, section.alpha)]
    if section.kind == "labels":
        return [f"  {label_list(items)}"]
    if section.kind == "fixed":
        lines = []
        for item in items:
            compared = comparison(item)
            lines.append(f"  {label(item)} ({where(item)})" + (f": {compared}" if compared else ""))
        return lines
    first = items[0]
    error = clip(error_text(first) or "no error message recorded")
    lines = [f"  {label(first)} ({where(first)}): {error}"]
    if len(items) > 1:
        lines.append(f"  and {plural(len(items) - 1, 'more error')}")
    return lines


def summary_lines(results: Mapping[str, Any], scrubber: Scrubber | None = None) -> list[str]:
    """The summary, one string per line, plain text (layout in the module docstring), of the
    document scrubbed with ``scrubber`` (the environment's when ``None``)."""
    results = scrub_results(results, scrubber)
    reading = read(results)
    lines = [f"incident-evals results: {heading(reading)}", ""]
    rows = table(reading)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        lines.append(
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
    lines.append(outcome_line(reading))
    tagged = report.taxonomy_line(reading)
    if tagged is not None:
        lines.append(tagged)
    stable = stability_line(reading)
    if stable is not None:
        lines.append(stable)
    if reading.has_baseline and reading.status_counts():
        lines.append(status_line(reading))
    overall = suite_line(results)
    if overall is not None:
        lines.append(overall)
    difference = (results.get("run", {}).get("baseline") or {}).get("api_difference")
    if isinstance(difference, str):
        lines.append(difference)
    for section in report.sections(reading):
        lines.extend(["", section.title(capitals=True), *_section_body(section)])
    lines.extend(["", release_line(results)])
    return lines
