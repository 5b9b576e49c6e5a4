"""The summary of a results JSON as GitHub Markdown (``GITHUB_STEP_SUMMARY``, ``--markdown F``).

:func:`markdown` says what :func:`incident_evals.report.terminal.summary_lines` says, laid out
for a rendered page:

- ``## incident-evals: VERDICT``, then the run line (items, cases, model, seed, baseline).
- The severity by category table (``passed/items`` cells, ``-`` where empty), then the outcome
  counts and, with a baseline, the regression statuses.
- ``###`` sections in the terminal's order: Regressions, New failures (or Failures without a
  baseline), Known failures, Expected failures, Fixed, XPassed, Errors, Removed. An item is a
  bullet with its label in code and its severity and category (and taxonomy ids); nested
  bullets give the first
  failing constraint and message (clipped to 120 characters), the other failing constraints, and
  the comparison with the baseline (``passed → failed, pass rate 100% → 20% (1 of 5 samples),
  p = 0.0238``).
- Last, the release-ticket line in bold.

Everything taken from the results (messages, labels, names) is escaped: ``&``, ``<`` and ``>``
become entities and Markdown's inline punctuation (including ``$``, which GitHub reads as
math) is backslash-escaped; labels and constraint names are code spans.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from incident_evals.report import (
    LOAD_ERRORS_SHOWN,
    Item,
    Reading,
    Section,
    clip,
    comparison,
    error_text,
    label,
    plural,
    read,
    reason,
    release_line,
    sections,
    shown_first,
    taxonomy_line,
)
from incident_evals.report.terminal import (
    LOAD_ERROR_WIDTH,
    SHOWN_LABELS,
    heading,
    outcome_line,
    stability_line,
    status_line,
    suite_line,
    table,
    where,
)
from incident_evals.results import scrub_results

if TYPE_CHECKING:
    from incident_evals.secrets import Scrubber

__all__ = ["code", "escape", "markdown"]

_INLINE = re.compile(r"([\\`*_\[\]|~$])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """``text`` shown literally inside a Markdown paragraph, list item or table cell."""
    text = "".join(_ENTITIES.get(ch, ch) for ch in text)
    return _INLINE.sub(r"\\\1", text)


def code(text: str) -> str:
    """``text`` as a code span, fenced with more backticks than it holds in a row."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _arrows(text: str) -> str:
    # Our own comparison text only: "->" in a message is the model's or the constraint's.
    return escape(text.replace(" -> ", " → "))


def _item(item: Item, alpha: float | None) -> list[str]:
    lines = [f"- {code(label(item))} ({escape(where(item))})"]
    why, others = reason(item)
    if why:
        name, _, message = why.partition(": ")
        lines.append(f"  - {code(name)}: {escape(message)}")
    if others:
        lines.append(f"  - also failed: {', '.join(code(name) for name in others)}")
    compared = comparison(item, alpha)
    if compared:
        lines.append(f"  - {_arrows(compared)}")
    return lines


def _labels(items: Sequence[Item]) -> str:
    shown = ", ".join(code(label(item)) for item in items[:SHOWN_LABELS])
    if len(items) > SHOWN_LABELS:
        shown += f" and {len(items) - SHOWN_LABELS} more"
    return shown


def _table(reading: Reading) -> list[str]:
    rows = table(reading)
    header, body = rows[0], rows[1:]
    lines = [
        "| " + " | ".join(escape(cell) for cell in header) + " |",
        "| :-- |" + " --: |" * (len(header) - 1),
    ]
    for row in body:
        cells = [f"**{escape(row[0])}**", *(escape(cell) for cell in row[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _section_body(section: Section) -> list[str]:
    items = section.items
    if section.kind == "load_errors":
        lines = [f"- {code(clip(str(error['message']), LOAD_ERROR_WIDTH))}" for error in items]
        return shown_first(lines, LOAD_ERRORS_SHOWN, "- and {} more")
    if section.kind == "details":
        return [line for item in items for line in _item(item, section.alpha)]
    if section.kind == "labels":
        return [_labels(items)]
    if section.kind == "fixed":
        lines = []
        for item in items:
            compared = comparison(item)
            shown = f"({escape(where(item))})"
            lines.append(
                f"- {code(label(item))} {shown}" + (f": {_arrows(compared)}" if compared else "")
            )
        return lines
    first = items[0]
    error = clip(error_text(first) or "no error message recorded")
    lines = [f"- {code(label(first))} ({escape(where(first))}): {escape(error)}"]
    if len(items) > 1:
        lines.append(f"- and {plural(len(items) - 1, 'more error')}")
    return lines


def markdown(results: Mapping[str, Any], scrubber: Scrubber | None = None) -> str:
    """The Markdown summary (layout in the module docstring), ending with a newline, of the
    document scrubbed with ``scrubber`` (the environment's when ``None``)."""
    results = scrub_results(results, scrubber)
    reading = read(results)
    lines = [f"## incident-evals: {reading.verdict}", "", escape(heading(reading)) + ".", ""]
    lines.extend(_table(reading))
    counts = escape(outcome_line(reading)).capitalize() + "."
    tagged = taxonomy_line(reading)
    if tagged is not None:
        counts += " " + escape(tagged[0].upper() + tagged[1:]) + "."
    stable = stability_line(reading)
    if stable is not None:
        counts += " " + escape(stable).capitalize() + "."
    if reading.has_baseline and reading.status_counts():
        counts += " " + escape(status_line(reading)).capitalize() + "."
    overall = suite_line(results)
    if overall is not None:
        counts += " " + escape(overall).capitalize() + "."
    difference = (results.get("run", {}).get("baseline") or {}).get("api_difference")
    if isinstance(difference, str):
        counts += " " + escape(difference) + "."
    lines.extend(["", counts])
    for section in sections(reading):
        lines.extend(["", f"### {section.title()}", "", *_section_body(section)])
    lines.extend(["", f"**{escape(release_line(results))}**"])
    return "\n".join(lines) + "\n"
