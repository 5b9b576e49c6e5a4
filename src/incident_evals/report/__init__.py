"""Reading a results document for people: what the terminal, Markdown and HTML reports say.

The three renderers (:mod:`~incident_evals.report.terminal`, :mod:`~incident_evals.report.markdown`,
:mod:`~incident_evals.report.html`) take the results document as loaded (a dict valid under
``results.schema.json``) and share its one reading (:mod:`incident_evals.verdict`: the lists and
the verdict) and the helpers defined here, so they never disagree.

**Secrets.** Each renderer first scrubs the document it is given of credentials
(:func:`incident_evals.results.scrub_results`: the run's scrubber inside pytest, else the
environment's API key and URL user-info, and anyone's ``Authorization``-style values), so a
results file written by another tool or an older version cannot leak them through a report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from incident_evals.verdict import (
    BLOCK,
    FAILING,
    INCOMPLETE,
    PASS,
    Item,
    Reading,
    label,
    labels,
    plural,
    read,
    release_line,
    status,
)
from incident_evals.vocabulary import CATEGORIES, OUTCOMES, REGRESSION_STATUSES, SEVERITIES

__all__ = [
    "BLOCK",
    "CATEGORIES",
    "FAILING",
    "INCOMPLETE",
    "OUTCOMES",
    "PASS",
    "REGRESSION_STATUSES",
    "SEVERITIES",
    "Item",
    "Reading",
    "Section",
    "clip",
    "comparison",
    "error_text",
    "label",
    "labels",
    "percent",
    "plural",
    "read",
    "reason",
    "release_line",
    "sections",
    "status",
    "taxonomy_ids",
    "taxonomy_line",
]

#: Width a failure message or error is clipped to on one line.
MESSAGE_WIDTH = 120
#: Case files that failed to load, listed one line each before ``and N more``.
LOAD_ERRORS_SHOWN = 10


def clip(text: str, width: int = MESSAGE_WIDTH) -> str:
    """``text`` on one line, at most ``width`` characters: its lines joined with ``"; "`` (a
    message's lines are separate statements), whitespace runs made one space. A redaction
    placeholder is kept whole or left out, never cut (the text is scrubbed before)."""
    from incident_evals.secrets import clip as clip_scrubbed

    flat = "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    return clip_scrubbed(flat, width)


def percent(rate: float | None) -> str:
    """A pass rate as a whole percentage; never 0% or 100% for a rate strictly between."""
    if rate is None or not math.isfinite(rate):
        return "?"
    shown = round(rate * 100)
    if shown == 100 and rate < 1:
        shown = 99
    elif shown == 0 and rate > 0:
        shown = 1
    return f"{shown}%"


def p_value(p: float) -> str:
    return f"p = {p:.3g}"


def reason(item: Item) -> tuple[str | None, list[str]]:
    """Why the item is what it is, for one line: ``"constraint: message"`` of its first failure
    (or ``"error: ..."``), clipped, and the other constraints that failed, each named once."""
    failures = item.get("failures") or []
    if failures:
        first = failures[0]
        names = list(dict.fromkeys(str(f["constraint"]) for f in failures))
        return clip(f"{first['constraint']}: {first['message']}"), names[1:]
    error = error_text(item)
    if error:
        return clip(f"error: {error}"), []
    return None, []


def error_text(item: Item) -> str | None:
    """The item's error without the ``<label>: `` it starts with (the report names the item)."""
    error = item.get("error")
    if not error:
        return None
    return str(error).removeprefix(f"{label(item)}: ")


def samples_text(item: Item) -> str:
    """``" (1 of 5 samples)"`` when the item ran more than one sample, else ``""``."""
    samples = int(item.get("samples") or 0)
    if samples <= 1:
        return ""
    return f" ({item.get('passed_samples', 0)} of {samples} samples)"


def comparison(item: Item, alpha: float | None = None) -> str | None:
    """The item against its baseline (or its pass rate alone), in words; None if nothing to say.

    - regressed/fixed: ``passed -> failed, pass rate 100% -> 20% (1 of 5 samples), p = 0.0238``;
      one sample each side: ``passed -> failed``.
    - new: ``not in the baseline``.
    - unchanged while failing after a passing baseline (a drop within sampling noise):
      ``baseline passed, pass rate 100% -> 80% (4 of 5 samples), p = 0.5, not significant at
      alpha 0.05``.
    - no baseline: ``pass rate 20% (1 of 5 samples)`` when it ran repeats.
    """
    regression = item.get("regression")
    samples = samples_text(item)
    if not isinstance(regression, Mapping):
        if samples:
            return f"pass rate {percent(item.get('pass_rate'))}{samples}"
        return None
    state = regression["status"]
    if state == "new":
        return "not in the baseline"
    before, now = regression.get("baseline_outcome"), item.get("outcome")
    p = regression.get("p_value")
    rates = f"pass rate {percent(regression.get('baseline_pass_rate'))} -> "
    rates += f"{percent(item.get('pass_rate'))}{samples}"
    if state in ("regressed", "fixed"):
        text = f"{before} -> {now}"
        if samples or p is not None:
            text += f", {rates}"
        if p is not None:
            text += f", {p_value(p)}"
        return text
    if state == "unchanged" and now in FAILING and before not in FAILING and before is not None:
        text = f"baseline {before}, {rates}"
        if p is not None:
            text += f", {p_value(p)}"
            if alpha is not None:
                text += f", not significant at alpha {alpha:g}"
        return text
    return None


@dataclass(frozen=True)
class Section:
    """One section of a summary: which items, in order of attention, and how to show them."""

    #: ``details`` (each item with its failure), ``labels``, ``fixed``, ``errors`` or
    #: ``load_errors`` (case files, each its one-line message).
    kind: str
    #: Title in sentence case ("New failures"); the plain-text summary writes it in capitals.
    name: str
    items: list[Item]
    #: Said after the count: ", failing in the baseline too".
    note: str = ""
    #: For ``details``: the alpha to judge a non-significant drop against, if any.
    alpha: float | None = None

    def title(self, capitals: bool = False) -> str:
        name = self.name.upper() if capitals else self.name
        return f"{name} ({len(self.items)}){self.note}"


def sections(reading: Reading) -> list[Section]:
    """The summary's sections that have items, in the order every renderer shows them."""
    every = [
        # First: the cases of a file that failed to load were not run at all.
        Section("load_errors", "Case files that failed to load", reading.load_errors),
        Section("details", "Regressions", reading.regressions),
        Section(
            "details",
            "New failures" if reading.has_baseline else "Failures",
            reading.new_failures,
            alpha=reading.alpha,
        ),
        Section(
            "labels", "Known failures", reading.known_failures, ", failing in the baseline too"
        ),
        Section(
            "labels",
            "Expected failures",
            reading.expected_failures,
            ", open incidents (xfailed)",
        ),
        Section("fixed", "Fixed", reading.fixed),
        Section(
            "labels",
            "XPassed",
            reading.xpassed,
            ", open incidents that now pass: set their status to resolved",
        ),
        Section("errors", "Errors", reading.errors),
        Section("labels", "Removed", reading.removed, ", in the baseline but not in this run"),
    ]
    return [section for section in every if section.items]


def taxonomy_ids(item: Item) -> list[str]:
    """The item's ``taxonomy`` ids (none in a document written before they were reported)."""
    written = item.get("taxonomy")
    if not isinstance(written, list):
        return []
    return [str(value) for value in written if isinstance(value, str)]


def taxonomy_line(reading: Reading) -> str | None:
    """``taxonomy (passed/items): AML.T0051 1/3, LLM01 2/4``, when any item has an id."""
    counts: dict[str, list[int]] = {}
    for item in reading.items:
        for taxonomy_id in taxonomy_ids(item):
            cell = counts.setdefault(taxonomy_id, [0, 0])
            cell[0] += item.get("outcome") == "passed"
            cell[1] += 1
    if not counts:
        return None
    shown = ", ".join(f"{key} {counts[key][0]}/{counts[key][1]}" for key in sorted(counts))
    return f"taxonomy (passed/items): {shown}"


def shown_first(lines: list[str], count: int, more: str) -> list[str]:
    """The first ``count`` of ``lines``, then ``more`` formatted with how many were left out."""
    if len(lines) <= count:
        return lines
    return [*lines[:count], more.format(len(lines) - count)]
