"""The catalogue view and its renderings (``incident_evals.report.catalogue``)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from incident_evals.case import IncidentCase, LoadedCase, load_file
from incident_evals.constraints import builtin_registry
from incident_evals.report.catalogue import catalogue_html, catalogue_markdown, catalogue_view

TODAY = datetime.date(2026, 1, 15)


def load(tmp_path: Path, *documents: dict[str, Any]) -> list[IncidentCase]:
    path = write_case(tmp_path, "cases.yaml", *documents)
    loaded = load_file(path, tmp_path, builtin_registry())
    assert all(isinstance(result, LoadedCase) for result in loaded), loaded
    return [result.case for result in loaded if isinstance(result, LoadedCase)]


def incident(category: str, severity: str, **fields: Any) -> dict[str, Any]:
    return {"category": category, "severity": severity, **fields}


def test_incidents_are_grouped_by_category_then_most_severe_first(tmp_path: Path) -> None:
    cases = load(
        tmp_path,
        case_data("B-MINOR", incident=incident("safety", "minor")),
        case_data("A-CRIT", incident=incident("fairness", "critical")),
        case_data("C-CRIT", incident=incident("safety", "critical")),
        case_data("A-MAJOR", incident=incident("correctness", "major")),
    )
    view = catalogue_view(cases, [], source="cases", today=TODAY)

    assert [(c, [case.id for case in cs]) for c, cs in view.by_category()] == [
        ("correctness", ["A-MAJOR"]),
        ("safety", ["C-CRIT", "B-MINOR"]),
        ("fairness", ["A-CRIT"]),
    ]
    assert view.counts() == [
        ["incidents", "correctness", "safety", "fairness", "all"],
        ["critical", "-", "1", "1", "2"],
        ["major", "1", "-", "-", "1"],
        ["minor", "-", "1", "-", "1"],
    ]


def test_only_open_actions_past_their_due_day_are_overdue(tmp_path: Path) -> None:
    actions = [
        {"description": "late", "due": "2026-01-14"},
        {"description": "due today", "due": "2026-01-15"},
        {"description": "done late", "due": "2025-01-01", "status": "done"},
        {"description": "dropped", "due": "2025-01-01", "status": "dropped"},
        {"description": "no date"},
    ]
    [case] = load(tmp_path, case_data(incident=incident("safety", "major", actions=actions)))
    view = catalogue_view([case], [], source="cases", today=TODAY)

    assert [view.overdue(a) for a in case.incident.actions] == [True, False, False, False, False]
    assert view.totals() == (
        "1 incident in cases: 0 open, 0 mitigated, 1 resolved; 3 open actions, 1 overdue"
    )
    lines = catalogue_markdown(view).splitlines()
    assert "  - [ ] late (due 2026-01-14, open) **overdue**" in lines
    assert "  - [ ] due today (due 2026-01-15, open)" in lines
    assert "  - [x] done late (due 2025-01-01, done)" in lines


def test_last_results_count_each_incidents_items(tmp_path: Path) -> None:
    cases = load(
        tmp_path,
        case_data("INC-1", incident=incident("safety", "major")),
        case_data("INC-2", incident=incident("safety", "major")),
    )

    def item(case_id: str, variant: str, outcome: str, status: str | None = None) -> Any:
        return {
            "case_id": case_id,
            "variant": variant,
            "outcome": outcome,
            "regression": {"status": status} if status else None,
        }

    results = {
        "run": {"model": "m-2", "started_at": "2026-01-10T09:00:00Z"},
        "items": [
            item("INC-1", "original", "failed"),
            item("INC-1", "typos-1", "passed"),
            item("INC-1", "typos-2", "passed"),
            item("INC-1", "gone-1", "failed", "removed"),
        ],
    }
    view = catalogue_view(cases, [], source="cases", results=results, today=TODAY)

    text = catalogue_markdown(view)
    assert "- Last result: failed (2 of 3 items passed)" in text
    assert "- Last result: not in the results file" in text
    assert "; last results: m-2, 2026-01-10T09:00:00Z." in text


def test_a_credential_in_a_case_file_is_scrubbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-live-0123456789abcdefghij"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fields = {"summary": f"The bot printed {secret}.", "impact": f"key {secret} rotated"}
    [case] = load(tmp_path, case_data(incident=incident("security", "critical", **fields)))

    view = catalogue_view([case], [f"cases.yaml:3: {secret}"], source="cases", today=TODAY)

    for page in (catalogue_markdown(view), catalogue_html(view)):
        assert secret not in page
        assert "The bot printed" in page


def test_the_html_page_escapes_ids_and_links_the_index_to_each_incident(tmp_path: Path) -> None:
    data = case_data("INC-1", incident=incident("security", "critical", taxonomy=["AML.T0057"]))
    data["title"] = "</h3><script>alert(1)</script>"
    [case] = load(tmp_path, data)

    page = catalogue_html(catalogue_view([case], [], source="cases", today=TODAY))

    assert "<script>" not in page
    assert "&lt;/h3&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<article class="incident" id="incident-INC-1">' in page
    assert (
        "<tr><td><code>AML.T0057</code></td><td>LLM Data Leakage</td>"
        '<td><a href="#incident-INC-1">INC-1</a></td></tr>'
    ) in page
