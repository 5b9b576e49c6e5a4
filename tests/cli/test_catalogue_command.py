"""``incident-evals catalogue [DIR] --html FILE|--markdown [--results FILE]``.

Exit codes: 0 when every case file loaded, 1 when one did not (the page lists it, and so does
stderr), 2 on bad usage or an unreadable results file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import chromium
from case_files import case_data, write_case
from chat_server import ChatServer
from incident_evals import Catalogue
from incident_evals.cli import main

HOSTILE_TITLE = 'Bot said <script>document.title="pwned"</script> to a customer'
HOSTILE_SUMMARY = "Replied <img src=x onerror=alert(1)> and **[click](javascript:alert(2))**"


def leak_case() -> dict[str, Any]:
    return case_data(
        "INC-LEAK",
        category="security",
        severity="critical",
        incident={
            "category": "security",
            "severity": "critical",
            "status": "mitigated",
            "owner": "hr-ai@acme.example",
            "summary": "The HR bot quoted the payroll spreadsheet to an intern.",
            "taxonomy": ["LLM02", "AML.T0057"],
            "date": "2025-10-01",
            "detected": "2025-10-02T08:00Z",
            "mitigated": "2025-10-02",
            "impact": "Salaries of 12 staff shown to one employee.",
            "actions": [
                {"description": "Drop payroll from the index", "owner": "search", "status": "done"},
                {"description": "Rotate the index ACLs", "owner": "sec", "due": "2020-01-10"},
                {"description": "Add a leak canary", "owner": "hr-ai", "due": "2099-01-01"},
            ],
        },
        variants={
            "generate": [{"typos": {"count": 2}}],
            "cases": [{"name": "spanish", "messages": [{"role": "user", "content": "hola"}]}],
        },
    )


def hostile_case() -> dict[str, Any]:
    data = case_data(
        "INC-BIAS",
        incident={
            "category": "fairness",
            "severity": "major",
            "summary": HOSTILE_SUMMARY,
            "taxonomy": ["E0101"],
        },
    )
    data["title"] = HOSTILE_TITLE
    return data


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_case(tmp_path, "cases/security/leak.yaml", leak_case())
    write_case(tmp_path, "cases/fairness/bias.yaml", hostile_case())
    return tmp_path / "cases"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["catalogue", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("catalogue")
def test_markdown_lists_each_incident_with_its_record_and_the_taxonomy_index(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "cases", "--markdown")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == [
        "# Incident catalogue: what we know can go wrong",
        "",
        "2 incidents in cases: 0 open, 1 mitigated, 1 resolved; 2 open actions, 1 overdue.",
    ]
    leak = lines.index("### `INC-LEAK` test case INC-LEAK")
    assert lines[leak + 1 : leak + 17] == [
        "",
        "**critical** · mitigated · owner hr-ai@acme.example",
        "",
        "Taxonomy: `LLM02` Sensitive Information Disclosure, `AML.T0057` LLM Data Leakage",
        "",
        "The HR bot quoted the payroll spreadsheet to an intern.",
        "",
        "- Record: happened 2025-10-01, detected 2025-10-02T08:00Z, mitigated 2025-10-02",
        "- Impact: Salaries of 12 staff shown to one employee.",
        "- Actions:",
        "  - [x] Drop payroll from the index (owner search, done)",
        "  - [ ] Rotate the index ACLs (owner sec, due 2020-01-10, open) **overdue**",
        "  - [ ] Add a leak canary (owner hr-ai, due 2099-01-01, open)",
        "- Cases: `cases/security/leak.yaml`; variants: typos x2, spanish (hand-written)",
        "",
        "## Fairness (1)",
    ]
    index = lines.index("## Taxonomy index")
    assert lines[index:] == [
        "## Taxonomy index",
        "",
        "### OWASP Top 10 for LLM Applications 2025",
        "",
        "- `LLM02` Sensitive Information Disclosure: `INC-LEAK`",
        "",
        "### MITRE ATLAS techniques 2026.08",
        "",
        "- `AML.T0057` LLM Data Leakage: `INC-LEAK`",
        "",
        "### AVID taxonomy SEP view (security, ethics, performance)",
        "",
        "- `E0101` Group fairness: `INC-BIAS`",
    ]


@pytest.mark.usefixtures("catalogue")
def test_markdown_escapes_what_a_case_file_says(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "cases", "--markdown")

    assert "<script>" not in out
    assert "<img" not in out
    assert "Replied &lt;img src=x onerror=alert(1)&gt; and \\*\\*\\[click\\](javascript:" in out


def test_a_broken_case_file_is_on_the_page_and_the_exit_status_is_1(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = case_data("INC-TYPO", incident={"category": "safety", "severity": "minor"})
    broken["incident"]["taxonomy"] = ["LLM11"]
    write_case(catalogue, "safety/typo.yaml", broken)

    code, out, err = run(capsys, "cases", "--markdown")

    message = (
        "cases/safety/typo.yaml:7: incident.taxonomy[0]: 'LLM11' is not an id of OWASP Top 10 "
        "for LLM Applications 2025; did you mean 'LLM10', 'LLM01' or 'LLM09'?"
    )
    assert code == 1
    assert err == message + "\n"
    assert f"## Case files that failed to load (1)\n\n- `{message}`\n" in out
    assert "2 incidents in cases: " in out


@pytest.fixture
def results_file(catalogue: Path, chat_server: ChatServer) -> Path:
    """A real run of the catalogue against the test server: its echo never says "60 days", so
    every item passes."""
    run_results = Catalogue.load(catalogue).run(
        base_url=chat_server.base_url, model="test-model", api_key="sk-test"
    )
    path = catalogue.parent / "results.json"
    path.write_text(json.dumps(run_results.to_json()), encoding="utf-8")
    return path


def test_the_html_page_in_chromium_shows_incidents_and_escapes_case_text(
    catalogue: Path, results_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, "cases", "--html", "out/catalogue.html", "--results", "results.json"
    )

    assert (code, err) == (0, "")
    assert out.startswith("wrote the catalogue of 2 incidents in cases: ")
    page = catalogue.parent / "out" / "catalogue.html"
    text = page.read_text("utf-8")
    assert "Content-Security-Policy" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "the page loads nothing"

    dom = chromium.dump_dom(page, tmp_path)

    assert "The HR bot quoted the payroll spreadsheet to an intern." in dom
    assert "<code>LLM02</code> Sensitive Information Disclosure" in dom
    assert '<span class="overdue">overdue</span>' in dom
    assert "Rotate the index ACLs (owner sec, due 2020-01-10, open)" in dom
    assert '<dd class="last-result">passed (4 of 4 items passed)</dd>' in dom
    # The hostile title and summary are text: no element was made of them, no script ran.
    assert "<title>Incident catalogue: what we know can go wrong</title>" in dom
    assert '&lt;script&gt;document.title="pwned"&lt;/script&gt;' in dom
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "<img" not in dom
    assert dom.count("<script") == 0


def test_the_page_renders(
    catalogue: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "cases", "--html", "catalogue.html")[0] == 0

    shot = chromium.png(chromium.screenshot(catalogue.parent / "catalogue.html", tmp_path))

    assert len(shot.colours()) > 20, "a flat screenshot: the page did not render"


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["nowhere", "--markdown"],
            "incident-evals catalogue: nowhere: no such file or directory\n",
        ),
        (
            ["cases", "--markdown", "--results", "missing.json"],
            "incident-evals catalogue: --results: missing.json: baseline file not found\n",
        ),
        (
            ["cases", "--html", "cases/security/leak.yaml/x.html"],
            "incident-evals catalogue: --html: cannot write cases/security/leak.yaml/x.html: ",
        ),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)

    assert (code, out) == (2, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_html_or_markdown_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["catalogue", "cases"])
    assert stopped.value.code == 2
    assert "one of the arguments --html --markdown is required" in capsys.readouterr().err
