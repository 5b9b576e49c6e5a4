"""The results JSON as one self-contained HTML page (``incident-evals report --html F``).

The page needs nothing but itself: CSS and JavaScript are inline, it names no external URL, and
a Content-Security-Policy forbids loading anything. It shows the verdict and the release-ticket
line, the run, the severity by category table, and one row per item (label, title and first
failure, severity, category, outcome, pass rate, regression status and p-value) with expandable
details: the comparison with the baseline, the error, the failing constraints (sample,
constraint, expected, message), the output, the tool calls (name, arguments, output), the
input as the model was given it (system, messages, documents with id, title and content, tool
names), and the item's node id, incident status, taxonomy ids with their published titles, model,
latency and usage. Items come in order of attention
(regressed, new failures, errors, known and expected failures, fixed, xpassed, the rest,
removed), by severity within each group. Case files that failed to load are listed above the
items, each with its one-line error.

**Filters.** Checkboxes by severity, category, outcome and regression status (``none`` for an
item without a comparison) hide the rows that do not match (the ``hidden`` attribute on each
item's ``<tbody>``). They are read from and written to the URL fragment, so a filtered view can
be shared:
``#severity=critical,major&outcome=failed`` shows critical and major items that failed. A key
that is absent allows every value; a key lists the values it allows, comma-separated; values the
page does not offer are ignored (so a key naming none of them hides every row). Without JavaScript
every item is shown and the filter controls are not.

**Escaping.** Every text from the results goes through :func:`html.escape`. The whole results
document is also embedded, for tools and for the page's download button, in
``<script type="application/json" id="incident-evals-results">`` with ``<``, ``>`` and ``&``
written as JSON ``\\u`` escapes, so no text in it can close the element.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from incident_evals.report import (
    BLOCK,
    FAILING,
    INCOMPLETE,
    Item,
    Reading,
    comparison,
    error_text,
    label,
    percent,
    read,
    reason,
    release_line,
    status,
    taxonomy_ids,
    taxonomy_line,
)
from incident_evals.report.terminal import (
    heading,
    outcome_line,
    stability_line,
    status_line,
    table,
)
from incident_evals.results import scrub_results
from incident_evals.vocabulary import CATEGORIES, OUTCOMES, REGRESSION_STATUSES, SEVERITIES

if TYPE_CHECKING:
    from incident_evals.secrets import Scrubber

__all__ = ["DIMENSIONS", "html"]

#: The filterable attributes, in the order their controls appear; also the URL fragment's keys.
DIMENSIONS = ("severity", "category", "outcome", "regression")
NO_BASELINE = "none"
DATA_ID = "incident-evals-results"

_CSS = """
:root { color-scheme: light dark; --fg: #1d2433; --muted: #5b6577; --line: #d6dbe4;
  --bg: #ffffff; --panel: #f5f7fa; --block: #b42318; --pass: #067647; --incomplete: #b54708; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e9ef; --muted: #a3acbd; --line: #3a4150; --bg: #161a22; --panel: #1f2430; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 8px; display: flex; gap: 12px; align-items: center; }
h2 { font-size: 16px; margin: 28px 0 8px; }
code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--panel); margin: 4px 0 10px;
  padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; max-height: 24em;
  overflow: auto; }
.verdict { color: #fff; padding: 4px 14px; border-radius: 6px; letter-spacing: .04em; }
.verdict-PASS { background: var(--pass); } .verdict-BLOCK { background: var(--block); }
.verdict-INCOMPLETE { background: var(--incomplete); }
.release { font-weight: 600; margin: 6px 0; }
.note { color: var(--muted); font-size: 14px; font-weight: 400; }
.muted, .run { color: var(--muted); }
table { border-collapse: collapse; }
.matrix td, .matrix th { border: 1px solid var(--line); padding: 4px 12px; text-align: right; }
.matrix th:first-child, .matrix td:first-child { text-align: left; }
#filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; margin: 8px 0; }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px 8px; margin: 0; }
legend { font-weight: 600; padding: 0 4px; }
fieldset label { display: inline-block; margin-right: 10px; white-space: nowrap; }
button { font: inherit; padding: 3px 10px; border-radius: 5px; border: 1px solid var(--line);
  background: var(--panel); color: var(--fg); cursor: pointer; }
#items { width: 100%; margin-top: 8px; }
#items > thead th { text-align: left; border-bottom: 2px solid var(--line); padding: 6px 8px; }
#items > tbody > tr > td { padding: 6px 8px; vertical-align: top; }
#items > tbody.item { border-top: 1px solid var(--line); }
#items .details > td { padding-top: 0; }
#items > tbody > tr:first-child > td:nth-child(n+2) { white-space: nowrap; }
.why { color: var(--muted); font-size: 12.5px; margin-top: 2px; overflow-wrap: anywhere; }
.title { font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  border: 1px solid var(--line); white-space: nowrap; }
.o-passed, .r-fixed { background: #d1fadf; color: #05603a; border-color: #a6f4c5; }
.o-failed, .r-regressed { background: #fee4e2; color: #912018; border-color: #fecdca; }
.o-error { background: #fef0c7; color: #93370d; border-color: #fedf89; }
.o-xfailed, .o-xpassed, .o-skipped, .r-new, .r-removed, .r-unchanged {
  background: var(--panel); color: var(--fg); }
.s-critical { font-weight: 700; color: var(--block); }
details > summary { cursor: pointer; color: var(--muted); }
details[open] > summary { margin-bottom: 6px; }
.details h3 { font-size: 13px; margin: 10px 0 2px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; }
.failures td, .failures th { border: 1px solid var(--line); padding: 3px 8px; text-align: left;
  vertical-align: top; }
"""

_JS = """
(() => {
  "use strict";
  const DIMENSIONS = ["severity", "category", "outcome", "regression"];
  const rows = Array.from(document.querySelectorAll("tbody.item"));
  const boxes = (dimension) =>
    Array.from(document.querySelectorAll('input[data-filter="' + dimension + '"]'));
  const decode = (text) => { try { return decodeURIComponent(text); } catch (e) { return text; } };

  function readHash() {
    const wanted = new Map();
    for (const part of location.hash.replace(/^#/, "").split("&")) {
      const at = part.indexOf("=");
      if (at < 0) continue;
      const key = decode(part.slice(0, at));
      if (!DIMENSIONS.includes(key)) continue;
      const values = decode(part.slice(at + 1)).split(",").filter(Boolean);
      wanted.set(key, (wanted.get(key) || []).concat(values));
    }
    for (const dimension of DIMENSIONS) {
      for (const box of boxes(dimension)) {
        box.checked = !wanted.has(dimension) || wanted.get(dimension).includes(box.value);
      }
    }
  }

  function writeHash() {
    const parts = [];
    for (const dimension of DIMENSIONS) {
      const all = boxes(dimension);
      const on = all.filter((box) => box.checked).map((box) => encodeURIComponent(box.value));
      if (on.length < all.length) parts.push(dimension + "=" + on.join(","));
    }
    const hash = parts.length ? "#" + parts.join("&") : "";
    if (hash === location.hash) return;
    try {
      history.replaceState(null, "", hash || location.pathname + location.search);
    } catch (e) {
      location.hash = hash;  // file: pages may refuse replaceState; a new history entry is fine
    }
  }

  function apply() {
    const allowed = new Map(DIMENSIONS.map((dimension) => [dimension,
      new Set(boxes(dimension).filter((box) => box.checked).map((box) => box.value))]));
    let shown = 0;
    for (const row of rows) {
      const visible = DIMENSIONS.every(
        (dimension) => allowed.get(dimension).has(row.dataset[dimension]));
      row.hidden = !visible;
      if (visible) shown += 1;
    }
    document.getElementById("shown").textContent =
      "Showing " + shown + " of " + rows.length + " items";
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("input[data-filter]")) { writeHash(); apply(); }
  });
  window.addEventListener("hashchange", () => { readHash(); apply(); });
  document.getElementById("reset").addEventListener("click", () => {
    for (const box of document.querySelectorAll("input[data-filter]")) box.checked = true;
    writeHash(); apply();
  });
  document.getElementById("download").addEventListener("click", () => {
    const text = document.getElementById("incident-evals-results").textContent;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.download = "incident-evals-results.json";
    link.click();
    URL.revokeObjectURL(link.href);
  });
  document.getElementById("filters").hidden = false;
  readHash();
  apply();
})();
"""

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def _pre(text: Any) -> str:
    shown = text if isinstance(text, str) else _json(text)
    return f"<pre>{_e(shown)}</pre>"


def _regression_value(item: Item) -> str:
    return status(item) or NO_BASELINE


def _attention(reading: Reading) -> list[Item]:
    """Items in order of attention, by severity within each group (``read`` sorted them)."""
    groups: list[Sequence[Item]] = [
        reading.regressions,
        reading.new_failures,
        reading.errors,
        reading.known_failures,
        reading.expected_failures,
        reading.fixed,
        reading.xpassed,
    ]
    listed = {id(item) for group in groups for item in group}
    rank = {severity: number for number, severity in enumerate(SEVERITIES)}
    rest = sorted(
        (item for item in reading.items if id(item) not in listed),
        key=lambda item: rank.get(item["severity"], len(rank)),
    )
    ordered = [item for group in groups for item in group]
    return [*ordered, *rest, *reading.removed]


def _values(dimension: str, items: Sequence[Item]) -> list[tuple[str, int]]:
    """The values of one filter present among ``items``, in their natural order, with counts."""
    found: dict[str, int] = {}
    for item in items:
        value = _regression_value(item) if dimension == "regression" else str(item[dimension])
        found[value] = found.get(value, 0) + 1
    natural = {
        "severity": SEVERITIES,
        "category": CATEGORIES,
        "outcome": OUTCOMES,
        "regression": (*REGRESSION_STATUSES, NO_BASELINE),
    }[dimension]
    order = [v for v in natural if v in found] + sorted(set(found) - set(natural))
    return [(value, found[value]) for value in order]


def _filters(items: Sequence[Item], has_baseline: bool) -> str:
    names = {"regression": "Regression"}
    parts = ['<section id="filters" hidden>']
    for dimension in DIMENSIONS:
        parts.append(f"<fieldset><legend>{_e(names.get(dimension, dimension.title()))}</legend>")
        for value, count in _values(dimension, items):
            shown = value
            if dimension == "regression" and value == NO_BASELINE:
                # In a compared run, an item the comparison skipped (a consistency item).
                shown = "not compared" if has_baseline else "no baseline"
            parts.append(
                f'<label><input type="checkbox" data-filter="{dimension}" value="{_e(value)}" '
                f"checked> {_e(shown)} <span class=muted>({count})</span></label>"
            )
        parts.append("</fieldset>")
    parts.append(
        '<div><button type="button" id="reset">Show all</button> '
        '<button type="button" id="download">Download results JSON</button>'
        '<p id="shown" class="muted"></p></div></section>'
    )
    return "".join(parts)


def _load_errors(reading: Reading) -> str:
    """Case files that failed to load, each its one-line error: first, since any one blocks."""
    if not reading.load_errors:
        return ""
    listed = "".join(
        f"<li><code>{_e(error['message'])}</code></li>" for error in reading.load_errors
    )
    return (
        f'<h2 id="load-errors">Case files that failed to load ({len(reading.load_errors)})</h2>'
        f'<ul class="load-errors">{listed}</ul>\n'
    )


def _matrix(reading: Reading) -> str:
    rows = table(reading)
    head = "".join(f"<th>{_e(cell)}</th>" for cell in rows[0])
    body = "".join(
        "<tr><th>" + _e(row[0]) + "</th>" + "".join(f"<td>{_e(c)}</td>" for c in row[1:]) + "</tr>"
        for row in rows[1:]
    )
    return f'<table class="matrix"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _facts(pairs: Sequence[tuple[str, str]]) -> str:
    """A definition list; the values are HTML already."""
    return (
        '<dl class="facts">'
        + "".join(f"<dt>{_e(name)}</dt><dd>{value}</dd>" for name, value in pairs)
        + "</dl>"
    )


def _failures(item: Item) -> str:
    failures = item.get("failures") or []
    if not failures:
        return ""
    rows = "".join(
        f"<tr><td>{_e(f.get('sample', 0))}</td><td><code>{_e(f['constraint'])}</code></td>"
        f"<td>{_e(f.get('expected', ''))}</td><td>{_e(f['message'])}</td></tr>"
        for f in failures
    )
    return (
        "<h3>Failing constraints</h3><table class=failures><thead><tr><th>sample</th>"
        "<th>constraint</th><th>expected</th><th>message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _tool_calls(item: Item) -> str:
    calls = item.get("tool_calls") or []
    if not calls:
        return ""
    parts = ["<h3>Tool calls</h3><ol>"]
    for call in calls:
        name = call.get("name", "?")
        parts.append(f"<li><code>{_e(name)}</code>")
        if call.get("answered") is False:
            parts.append(' <span class="muted">(not answered: after max_turns)</span>')
        arguments = call.get("arguments")
        if arguments is None and call.get("arguments_raw") is not None:
            problem = call.get("arguments_error") or "not a JSON object"
            parts.append(f" arguments (unparsed: {_e(problem)}){_pre(call['arguments_raw'])}")
        else:
            parts.append(f" arguments{_pre(arguments if arguments is not None else {})}")
        if "output" in call and call["output"] is not None:
            parts.append(f"returned{_pre(call['output'])}")
        parts.append("</li>")
    parts.append("</ol>")
    return "".join(parts)


def _content(value: Any) -> str:
    return _pre(value if value is not None else "")


def _input(item: Item) -> str:
    given = item.get("input")
    if not isinstance(given, Mapping):
        return ""
    parts = ["<h3>Input</h3>"]
    if given.get("system"):
        parts.append(f"<div><b>system</b>{_content(given['system'])}</div>")
    for message in given.get("messages") or []:
        if isinstance(message, Mapping):
            role = message.get("role", "?")
            parts.append(f"<div><b>{_e(role)}</b>{_content(message.get('content'))}</div>")
            if message.get("tool_calls"):
                parts.append(_pre(message["tool_calls"]))
        else:
            parts.append(_pre(message))
    for document in given.get("documents") or []:
        if not isinstance(document, Mapping):
            continue
        title = f" {_e(document['title'])}" if document.get("title") else ""
        flag = ' <span class="badge o-error">sensitive</span>' if document.get("sensitive") else ""
        parts.append(
            f"<div><b>document</b> <code>{_e(document.get('id', '?'))}</code>{title}{flag}"
            f"{_content(document.get('content'))}</div>"
        )
    tools = given.get("tools") or []
    if tools:
        names = [t.get("name", "?") if isinstance(t, Mapping) else t for t in tools]
        parts.append(
            "<div><b>tools</b> " + ", ".join(f"<code>{_e(n)}</code>" for n in names) + "</div>"
        )
    return "".join(parts)


def _details(item: Item, reading: Reading) -> str:
    facts = [("node id", f"<code>{_e(item.get('nodeid', ''))}</code>")]
    if item.get("title"):
        facts.append(("title", _e(item["title"])))
    facts.append(("incident status", _e(item.get("status", "?"))))
    ids = taxonomy_ids(item)
    if ids:
        facts.append(("taxonomy", taxonomy_html(ids)))
    provenance = item.get("provenance")
    if isinstance(provenance, Mapping) and provenance.get("description"):
        made = f"{provenance.get('generator', '?')}: {provenance['description']}"
        facts.append(("variant", _e(made)))
    compared = comparison(item, reading.alpha)
    if compared:
        facts.append(
            ("against the baseline" if item.get("regression") else "samples", _e(compared))
        )
    if item.get("model"):
        facts.append(("model", _e(item["model"])))
    if item.get("latency_s"):
        facts.append(("latency", _e(f"{item['latency_s']:.2f} s")))
    if item.get("usage"):
        usage = ", ".join(f"{key} {value}" for key, value in item["usage"].items())
        facts.append(("usage", _e(usage)))
    parts = [_facts(facts)]
    error = error_text(item)
    if error:
        parts.append(f"<h3>Error</h3>{_pre(error)}")
    parts.append(_failures(item))
    if status(item) != "removed":
        parts.append(f"<h3>Output</h3>{_pre(item.get('output') or '')}")
    parts.append(_tool_calls(item))
    parts.append(_input(item))
    return "".join(parts)


def taxonomy_html(ids: Sequence[str]) -> str:
    """Each id in code with its published title: ``LLM01 Prompt Injection``."""
    from incident_evals.taxonomy import entry

    shown = []
    for taxonomy_id in ids:
        found = entry(taxonomy_id)
        title = f" {_e(found.title)}" if found is not None else ""
        shown.append(f"<code>{_e(taxonomy_id)}</code>{title}")
    return ", ".join(shown)


def _row(number: int, item: Item, reading: Reading) -> str:
    outcome = str(item["outcome"])
    regression = _regression_value(item)
    why, _ = reason(item)
    title = f'<div class="title">{_e(item["title"])}</div>' if item.get("title") else ""
    shows_why = why and (outcome in FAILING or outcome == "error")
    why_html = f'<div class="why">{_e(why)}</div>' if shows_why else ""
    rate = item.get("pass_rate")
    samples = int(item.get("samples") or 0)
    rate_text = "—" if rate is None else percent(rate)
    if rate is not None and samples > 1:
        rate_text += f" ({item.get('passed_samples', 0)}/{samples})"
    if regression == NO_BASELINE:
        regression_html = '<span class="muted">—</span>'
    else:
        p = (item.get("regression") or {}).get("p_value")
        p_text = f' <span class="muted">p = {p:.3g}</span>' if p is not None else ""
        regression_html = f'<span class="badge r-{_e(regression)}">{_e(regression)}</span>{p_text}'
    attributes = " ".join(
        f'data-{dimension}="{_e(value)}"'
        for dimension, value in (
            ("severity", item["severity"]),
            ("category", item["category"]),
            ("outcome", outcome),
            ("regression", regression),
        )
    )
    return (
        f'<tbody class="item" id="item-{number}" {attributes}>'
        f"<tr><td><code>{_e(label(item))}</code>{title}{why_html}</td>"
        f'<td class="s-{_e(item["severity"])}">{_e(item["severity"])}</td>'
        f"<td>{_e(item['category'])}</td>"
        f'<td><span class="badge o-{_e(outcome)}">{_e(outcome)}</span></td>'
        f"<td>{_e(rate_text)}</td><td>{regression_html}</td></tr>"
        f'<tr class="details"><td colspan="6"><details><summary>details</summary>'
        f"{_details(item, reading)}</details></td></tr></tbody>"
    )


def _embedded(results: Mapping[str, Any]) -> str:
    text = json.dumps(results, ensure_ascii=False)
    # JSON escapes, not HTML ones: the element's text is read as JSON, never as markup.
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def html(results: Mapping[str, Any], scrubber: Scrubber | None = None) -> str:
    """The whole page (layout, filters and escaping in the module docstring), of the document
    scrubbed with ``scrubber`` (the environment's when ``None``)."""
    results = scrub_results(results, scrubber)
    reading = read(results)
    line = release_line(results)
    run: Mapping[str, Any] = results.get("run") or {}
    verdict = reading.verdict
    run_facts = [heading(reading)]
    if run.get("base_url"):
        run_facts.append(f"endpoint {run['base_url']}")
    if run.get("started_at"):
        run_facts.append(f"started {run['started_at']}")
    if run.get("duration_s") is not None:
        run_facts.append(f"took {run['duration_s']:.1f} s")
    if run.get("fail_on"):
        run_facts.append(f"fail_on {run['fail_on']}")
    if run.get("plugin_version"):
        run_facts.append(f"pytest-incident-evals {run['plugin_version']}")
    counts = outcome_line(reading)
    tagged = taxonomy_line(reading)
    if tagged is not None:
        counts += "; " + tagged
    stable = stability_line(reading)
    if stable is not None:
        counts += "; " + stable
    if reading.has_baseline and reading.status_counts():
        counts += "; " + status_line(reading)
    every = [*reading.items, *reading.removed]
    rows = "".join(_row(number, item, reading) for number, item in enumerate(_attention(reading)))
    title = f"incident-evals: {verdict}" + (f" — {reading.model}" if reading.model else "")
    note = {
        BLOCK: "a case file that failed to load, regressions or failures block the release"
        if reading.load_errors
        else "regressions or failures block the release",
        INCOMPLETE: "the run could not judge every item",
    }.get(verdict, "nothing blocks the release")
    return standalone_page(
        title,
        f"""<header>
<h1>incident-evals <span class="verdict verdict-{_e(verdict)}">{_e(verdict)}</span>
<span class="note">{_e(note)}</span></h1>
<p class="release" id="release-line">{_e(line)}</p>
<p class="run">{_e("; ".join(run_facts))}</p>
</header>
{_load_errors(reading)}<h2>By severity and category (passed/items)</h2>
{_matrix(reading)}
<p class="muted">{_e(counts)}</p>
<h2>Items</h2>
<noscript><p>Filters need JavaScript; every item is shown.</p></noscript>
{_filters(every, reading.has_baseline)}
<table id="items">
<thead><tr><th>Item</th><th>Severity</th><th>Category</th><th>Outcome</th><th>Pass rate</th>
<th>Regression</th></tr></thead>
{rows}
</table>
<script type="application/json" id="{DATA_ID}">{_embedded(results)}</script>
<script>{_JS}</script>
""",
    )


def standalone_page(title: str, body: str, extra_css: str = "") -> str:
    """A page that loads nothing: the reports' style, and a content security policy that lets
    only its own inline style and script run (case text inside it is untrusted)."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">
<title>{_e(title)}</title>
<style>{_CSS}{extra_css}</style>
</head>
<body>
{body}</body>
</html>
"""
