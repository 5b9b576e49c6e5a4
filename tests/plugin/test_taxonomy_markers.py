"""``incident.taxonomy`` ids are markers (``-m LLM01``, ``-m AML.T0051`` for its sub-techniques),
JUnit properties, and part of the terminal summary and the results JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from case_files import case_data, write_case


def tagged(case_id: str, *ids: str, **fields: Any) -> dict[str, Any]:
    incident = {"category": "security", "severity": "critical", "taxonomy": list(ids)}
    return case_data(case_id, incident=incident, **fields)


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> None:
    write_case(
        pytester.path,
        "incident_cases/cases.yaml",
        tagged("INC-DIRECT", "LLM01", "AML.T0051.000"),
        tagged("INC-INDIRECT", "AML.T0051.001", "ASI01", expect=[{"contains": "never said"}]),
        tagged("INC-BIAS", "E0101"),
        case_data("INC-UNTAGGED", category="security", severity="critical"),
    )


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("LLM01", ["INC-DIRECT"]),
        ("AML.T0051", ["INC-DIRECT", "INC-INDIRECT"]),
        ("AML.T0051.001", ["INC-INDIRECT"]),
        ("AML.T0051 and not LLM01", ["INC-INDIRECT"]),
        ("E0101 or ASI01", ["INC-INDIRECT", "INC-BIAS"]),
        ("critical and not (LLM01 or AML.T0051 or E0101)", ["INC-UNTAGGED"]),
    ],
)
def test_taxonomy_ids_select_with_m(
    pytester: pytest.Pytester, endpoint_args: list[str], expression: str, selected: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "--strict-markers", "-m", expression, "-v")

    result.stdout.fnmatch_lines(
        [f"incident_cases/cases.yaml::{case} *" for case in selected], consecutive=True
    )
    result.stdout.no_fnmatch_line("*PytestUnknownMarkWarning*")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(selected)


@pytest.mark.usefixtures("catalogue")
def test_the_summary_counts_items_per_taxonomy_id(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "--strict-markers")

    result.stdout.fnmatch_lines(
        [
            "outcomes: 3 passed, 1 failed",
            "taxonomy (passed/items): AML.T0051.000 1/1, AML.T0051.001 0/1, ASI01 0/1, "
            "E0101 1/1, LLM01 1/1",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        ["FAILURES (1)", "  INC-INDIRECT (critical, security; AML.T0051.001, ASI01)"],
        consecutive=True,
    )
    result.assert_outcomes(passed=3, failed=1)


@pytest.mark.usefixtures("catalogue")
def test_junit_and_results_carry_the_ids(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    pytester.runpytest(
        *endpoint_args, "--junitxml=junit.xml", "--incident-report=results.json", "-k", "DIRECT"
    )

    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(pytester.path / "junit.xml").iter("testcase")
    }
    assert properties["INC-DIRECT"]["taxonomy"] == "LLM01 AML.T0051.000"
    assert properties["INC-INDIRECT"]["taxonomy"] == "AML.T0051.001 ASI01"
    items = json.loads((pytester.path / "results.json").read_text("utf-8"))["items"]
    assert {item["case_id"]: item["taxonomy"] for item in items} == {
        "INC-DIRECT": ["LLM01", "AML.T0051.000"],
        "INC-INDIRECT": ["AML.T0051.001", "ASI01"],
    }


def test_an_unknown_id_is_a_load_error_and_the_other_cases_run(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/bad.yaml",
        tagged("INC-TYPO", "LLM1"),
        tagged("INC-FINE", "LLM02"),
    )

    result = pytester.runpytest(*endpoint_args, "--strict-markers", "-v")

    result.stdout.fnmatch_lines(
        [
            "incident_cases/bad.yaml:7: incident.taxonomy[0]: 'LLM1' is not an id of a "
            "published list (OWASP LLM01-LLM10, OWASP agentic ASI01-ASI10, MITRE ATLAS AML.T0000 "
            "or AML.T0000.000, AVID SEP codes such as S0301, E0101, P0204); did you mean 'LLM10', "
            "'LLM01' or 'LLM09'?",
            "*",
            "outcomes: 1 passed, 1 error",
            "taxonomy (passed/items): LLM02 1/1",
        ]
    )
    result.assert_outcomes(passed=1, errors=1)
