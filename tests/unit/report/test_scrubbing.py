"""Every renderer scrubs the document it is given: a results file written by another tool, an
older version or by hand cannot leak credentials through a report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from incident_evals.report.html import html
from incident_evals.report.markdown import markdown
from incident_evals.report.terminal import summary_lines
from incident_evals.secrets import Scrubber
from results_fixtures import failure, item, results

KEY = "sk-live-7c1d9e2f4a6b8c0d2e4f"
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "terminal": lambda document: "\n".join(summary_lines(document)),
    "markdown": markdown,
    "html": html,
}


def leaky_document() -> dict[str, Any]:
    document = results(
        [
            item(
                "INC-2025-031-refund-policy-superseded",
                outcome="failed",
                failures=[failure("contains", f"output: {KEY} and more", "contains 30 days")],
                output=f"the key is {KEY}",
            ),
            item(
                "INC-2025-052-hr-payroll-leak",
                outcome="error",
                error="HTTP 401 from the endpoint: bad header Authorization: Bearer tok3n-abcdef",
            ),
        ]
    )
    document["run"]["base_url"] = "https://alice:wonder-land-42@gateway.example/v1"
    return document


@pytest.mark.parametrize("render", RENDERERS.values(), ids=RENDERERS.keys())
def test_the_environments_key_and_anyones_credentials_are_scrubbed(
    render: Callable[[dict[str, Any]], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    shown = render(leaky_document())

    assert KEY[:10] not in shown
    assert "tok3n-abcdef" not in shown
    assert "wonder-land" not in shown
    assert "redacted: api key" in shown
    assert "redacted: credentials" in shown


@pytest.mark.parametrize("render", ["terminal", "markdown", "html"])
def test_the_runs_scrubber_is_used_when_given(render: str) -> None:
    scrubber = Scrubber([("wonder-land-42", "credentials"), (KEY, "api key")])
    renderers: dict[str, Callable[[dict[str, Any]], str]] = {
        "terminal": lambda document: "\n".join(summary_lines(document, scrubber)),
        "markdown": lambda document: markdown(document, scrubber),
        "html": lambda document: html(document, scrubber),
    }

    shown = renderers[render](leaky_document())

    assert KEY[:10] not in shown
    assert "redacted: api key" in shown
