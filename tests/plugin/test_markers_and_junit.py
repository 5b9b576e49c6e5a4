"""Markers select by severity and category; ``-k`` by case id; JUnit carries case properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from case_files import case_data, write_case


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> None:
    write_case(
        pytester.path,
        "incident_cases/cases.yaml",
        case_data("INC-SEC-CRIT", category="security", severity="critical"),
        case_data("INC-SEC-MINOR", category="security", severity="minor"),
        case_data("INC-FAIR-MAJOR", category="fairness", severity="major"),
    )


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("critical", ["INC-SEC-CRIT"]),
        ("security and not minor", ["INC-SEC-CRIT"]),
        ("fairness or minor", ["INC-SEC-MINOR", "INC-FAIR-MAJOR"]),
    ],
)
def test_markers_select(
    pytester: pytest.Pytester, endpoint_args: list[str], expression: str, selected: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "--strict-markers", "-m", expression, "-v")

    result.stdout.fnmatch_lines(
        [f"incident_cases/cases.yaml::{case} PASSED*" for case in selected], consecutive=True
    )
    result.assert_outcomes(passed=len(selected))


@pytest.mark.usefixtures("catalogue")
def test_keyword_selects_by_case_id(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    result = pytester.runpytest(*endpoint_args, "-k", "FAIR", "-v")

    result.stdout.fnmatch_lines(["incident_cases/cases.yaml::INC-FAIR-MAJOR PASSED*"])
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("catalogue")
def test_markers_are_registered(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    result = pytester.runpytest(*endpoint_args, "--markers")

    result.stdout.fnmatch_lines(
        ["@pytest.mark.critical: incident severity critical (incident-evals)"]
    )
    result.stdout.fnmatch_lines(
        ["@pytest.mark.fairness: incident category fairness (incident-evals)"]
    )


@pytest.mark.usefixtures("catalogue")
def test_junit_properties(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    pytester.runpytest(*endpoint_args, "--junitxml=junit.xml", "-k", "CRIT")

    testcase = ET.parse(pytester.path / "junit.xml").find(".//testcase")
    assert testcase is not None
    assert testcase.get("name") == "INC-SEC-CRIT"
    properties = {p.get("name"): p.get("value") for p in testcase.iter("property")}
    assert properties == {
        "case_id": "INC-SEC-CRIT",
        "variant": "original",
        "severity": "critical",
        "category": "security",
        "pass_rate": "1",
    }
