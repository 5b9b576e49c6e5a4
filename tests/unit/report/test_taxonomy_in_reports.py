"""Each report shows the items' ``taxonomy`` ids: counts per id, and ids beside each item."""

from __future__ import annotations

from typing import Any

from incident_evals.report.html import html
from incident_evals.report.markdown import markdown
from incident_evals.report.terminal import summary_lines
from results_fixtures import failure, item, results

REFUND = "INC-2025-031-refund-policy-superseded"
PAYROLL = "INC-2025-052-hr-payroll-leak"


def tagged_results() -> dict[str, Any]:
    failing = item(
        REFUND, outcome="failed", failures=[failure("cites", "no citation", "cites refund-2024")]
    )
    failing["taxonomy"] = ["LLM09", "AML.T0048.003"]
    passing = item(PAYROLL)
    passing["taxonomy"] = ["LLM02", "<img src=x onerror=alert(1)>"]
    return results([failing, passing])


def test_terminal_counts_per_id_and_tags_each_listed_item() -> None:
    lines = summary_lines(tagged_results())
    assert (
        "taxonomy (passed/items): <img src=x onerror=alert(1)> 1/1, AML.T0048.003 0/1, "
        "LLM02 1/1, LLM09 0/1"
    ) in lines
    assert any(line.endswith("(major, correctness; LLM09, AML.T0048.003)") for line in lines)


def test_markdown_escapes_the_ids() -> None:
    text = markdown(tagged_results())
    assert "Taxonomy (passed/items): &lt;img src=x onerror=alert(1)&gt; 1/1, AML.T0048.003" in text
    assert "(major, correctness; LLM09, AML.T0048.003)" in text
    assert "<img" not in text


def test_html_shows_each_id_with_its_published_title_and_escapes_the_rest() -> None:
    page = html(tagged_results())
    assert (
        "<dt>taxonomy</dt><dd><code>LLM09</code> Misinformation, <code>AML.T0048.003</code> "
        in page
    )
    assert "User Harm</dd>" in page
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code></dd>" in page
    assert "<img src=x" not in page.split('id="incident-evals-results"')[0]


def test_a_document_without_taxonomy_has_no_taxonomy_line() -> None:
    lines = summary_lines(results([item(REFUND)]))
    assert not any(line.startswith("taxonomy") for line in lines)
