"""The published taxonomy lists and the check of ``incident.taxonomy`` (``taxonomy.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from case_files import case_data, write_case
from incident_evals.case import CaseError, LoadedCase, load_file
from incident_evals.constraints import builtin_registry
from incident_evals.taxonomy import entry, marker_names, problem, published_lists


def test_each_list_is_complete_and_its_ids_have_its_pattern() -> None:
    lists = {listed.key: listed for listed in published_lists()}
    assert set(lists) == {"owasp-llm", "owasp-agentic", "mitre-atlas", "avid"}
    assert [e.id for e in lists["owasp-llm"].entries] == [f"LLM{n:02}" for n in range(1, 11)]
    assert [e.id for e in lists["owasp-agentic"].entries] == [f"ASI{n:02}" for n in range(1, 11)]
    for listed in lists.values():
        ids = [item.id for item in listed.entries]
        assert len(ids) == len(set(ids)), listed.key
        for item in listed.entries:
            assert re.fullmatch(listed.pattern, item.id), item.id
            assert item.title, item.id
            assert item.title.strip() == item.title, item.id
        assert listed.version
        assert listed.source.startswith("https://")


def test_every_atlas_sub_technique_has_its_technique_listed() -> None:
    atlas = next(listed for listed in published_lists() if listed.key == "mitre-atlas")
    ids = {item.id for item in atlas.entries}
    subs = [i for i in ids if i.count(".") == 2]
    assert subs, "the ATLAS list has sub-techniques"
    assert all(sub.rsplit(".", 1)[0] in ids for sub in subs)


@pytest.mark.parametrize(
    ("taxonomy_id", "title"),
    [
        ("LLM01", "Prompt Injection"),
        ("LLM07", "System Prompt Leakage"),
        ("ASI01", "Agent Goal Hijack"),
        ("ASI09", "Human-Agent Trust Exploitation"),
        ("AML.T0051", "LLM Prompt Injection"),
        ("AML.T0051.001", "Indirect"),
        ("AML.T0057", "LLM Data Leakage"),
        ("S0301", "Information Leak"),
        ("E0101", "Group fairness"),
        ("P0204", "Accuracy"),
    ],
)
def test_published_ids_have_their_titles(taxonomy_id: str, title: str) -> None:
    found = entry(taxonomy_id)
    assert found is not None
    assert found.title == title
    assert problem(taxonomy_id) is None


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "LLM11",
            "'LLM11' is not an id of OWASP Top 10 for LLM Applications 2025; did you mean "
            "'LLM10', 'LLM01' or 'LLM09'?",
        ),
        ("llm01", "'llm01' is not an id of a published list (OWASP LLM01-LLM10, "),
        ("LLM01:2025", "did you mean 'LLM01'?"),
        ("ASI11", "'ASI11' is not an id of OWASP Top 10 for Agentic Applications 2026"),
        ("AML.T9999", "'AML.T9999' is not an id of MITRE ATLAS techniques 2026.08"),
        ("AML.T0051.009", "did you mean 'AML.T0051.002', 'AML.T0051.001' or 'AML.T0051.000'?"),
        ("S9999", "'S9999' is not an id of AVID taxonomy SEP view (security, ethics, performance)"),
        ("prompt-injection", "is not an id of a published list"),
    ],
)
def test_unknown_ids_name_the_list_and_the_closest_ids(written: str, message: str) -> None:
    found = problem(written)
    assert found is not None
    assert message in found, found


def test_wrong_case_suggests_the_exact_id() -> None:
    assert problem("llm01") == (
        "'llm01' is not an id of a published list (OWASP LLM01-LLM10, OWASP agentic "
        "ASI01-ASI10, MITRE ATLAS AML.T0000 or AML.T0000.000, AVID SEP codes such as S0301, "
        "E0101, P0204); did you mean 'LLM01'?"
    )
    assert "did you mean 'AML.T0051'" in (problem("aml.t0051") or "")


def test_a_sub_technique_is_also_marked_with_its_technique() -> None:
    assert marker_names("AML.T0051.000") == ("AML.T0051.000", "AML.T0051")
    assert marker_names("AML.T0051") == ("AML.T0051",)
    assert marker_names("LLM01") == ("LLM01",)


def test_a_case_with_published_ids_loads(tmp_path: Path) -> None:
    ids = ["LLM01", "ASI02", "AML.T0051.001", "E0101"]
    data = case_data(incident={"category": "security", "severity": "major", "taxonomy": ids})
    [loaded] = load_file(write_case(tmp_path, "c.yaml", data), tmp_path, builtin_registry())
    assert isinstance(loaded, LoadedCase), loaded
    assert loaded.case.incident.taxonomy == tuple(ids)


def test_an_unknown_id_is_one_line_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """\
id: INC-1
incident:
  category: security
  severity: major
  taxonomy:
    - LLM01
    - AML.T0051
    - LLM11
input: {messages: [{role: user, content: hi}]}
expect: [{not_contains: x}]
""",
        encoding="utf-8",
    )
    [error] = load_file(path, tmp_path, builtin_registry())
    assert isinstance(error, CaseError)
    assert error.render(tmp_path) == (
        "c.yaml:8: incident.taxonomy[2]: 'LLM11' is not an id of OWASP Top 10 for LLM "
        "Applications 2025; did you mean 'LLM10', 'LLM01' or 'LLM09'?"
    )


def test_the_other_cases_of_a_file_still_load(tmp_path: Path) -> None:
    incident = {"category": "safety", "severity": "minor", "taxonomy": ["X1"]}
    bad = case_data("INC-BAD", incident=incident)
    good = case_data("INC-GOOD", incident={"category": "safety", "severity": "minor"})
    results = load_file(write_case(tmp_path, "c.yaml", bad, good), tmp_path, builtin_registry())
    assert isinstance(results[0], CaseError)
    assert "incident.taxonomy[0]" in str(results[0])
    assert isinstance(results[1], LoadedCase)
    assert results[1].case.id == "INC-GOOD"


def test_repeated_ids_are_a_schema_error(tmp_path: Path) -> None:
    data = case_data(
        incident={"category": "safety", "severity": "minor", "taxonomy": ["LLM01", "LLM01"]}
    )
    [error] = load_file(write_case(tmp_path, "c.yaml", data), tmp_path, builtin_registry())
    assert isinstance(error, CaseError)
    assert error.field.startswith("incident.taxonomy")


@pytest.mark.parametrize(
    ("taxonomy", "message"),
    [
        ([1], "c.yaml:7: incident.taxonomy[0]: expected string, got integer 1"),
        ("LLM01", "c.yaml:6: incident.taxonomy: expected list, got string 'LLM01'"),
        (
            ["L" * 33],
            "c.yaml:7: incident.taxonomy[0]: is 33 characters long, more than the limit of 32",
        ),
        (
            [f"LLM{n:02}" for n in range(51)],
            "c.yaml:6: incident.taxonomy: has 51 entries, more than the limit of 50",
        ),
    ],
)
def test_taxonomy_of_the_wrong_shape_is_a_schema_error(
    tmp_path: Path, taxonomy: object, message: str
) -> None:
    data = case_data(incident={"category": "safety", "severity": "minor", "taxonomy": taxonomy})
    [error] = load_file(write_case(tmp_path, "c.yaml", data), tmp_path, builtin_registry())
    assert isinstance(error, CaseError)
    assert error.render(tmp_path) == message
