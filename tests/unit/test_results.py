"""``incident_evals.results``: what an item tests, as a content hash."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from incident_evals.case import LoadedCase, load_file
from incident_evals.case_types import IncidentCase, Runs
from incident_evals.constraints import builtin_registry
from incident_evals.results import content_hash


def loaded(
    tmp_path: Path, name: str = "a.yaml", *before: dict[str, Any], **fields: Any
) -> IncidentCase:
    path = write_case(tmp_path, name, *before, case_data("INC-1", **fields))
    *_, result = load_file(path, tmp_path, builtin_registry())
    assert isinstance(result, LoadedCase), str(result)
    return result.case


def test_the_hash_is_sixteen_hex_digits_and_the_same_for_the_same_case(tmp_path: Path) -> None:
    first = content_hash(loaded(tmp_path))

    assert len(first) == 16
    assert set(first) <= set("0123456789abcdef")
    assert content_hash(loaded(tmp_path, "b.yaml")) == first


def test_where_the_case_sits_and_its_incident_record_do_not_count(tmp_path: Path) -> None:
    plain = content_hash(loaded(tmp_path))
    # Another case above it moves it down the file; its record and title say more.
    moved = loaded(
        tmp_path,
        "moved.yaml",
        case_data("INC-0"),
        title="a better title",
        incident={"category": "correctness", "severity": "major", "summary": "now explained"},
    )

    assert moved.line != loaded(tmp_path).line
    assert content_hash(moved) == plain


@pytest.mark.parametrize(
    "change",
    [
        {"expect": [{"not_contains": "90 days"}]},
        {"input": {"system": "Answer from the documents."}},
        {"input": {"messages": [{"role": "user", "content": "another question"}]}},
        {"model": {"temperature": 0.7}},
        {"runs": {"min_pass_rate": 0.8, "repeats": 3}},
    ],
)
def test_what_is_sent_or_judged_changes_the_hash(tmp_path: Path, change: dict[str, Any]) -> None:
    assert content_hash(loaded(tmp_path, "changed.yaml", **change)) != content_hash(
        loaded(tmp_path)
    )


def test_a_variants_provenance_is_part_of_what_it_tests(tmp_path: Path) -> None:
    case = loaded(tmp_path)
    typos = {"generator": "typos", "params": {"count": 3}, "seed": 0}

    assert content_hash(case, typos) != content_hash(case)
    assert content_hash(case, typos) != content_hash(case, {**typos, "seed": 1})
    assert content_hash(case, None) == content_hash(case, None)


def test_a_field_left_at_its_default_does_not_count(tmp_path: Path) -> None:
    # A later version adding a field with a default must not make every baseline "changed".
    case = loaded(tmp_path)
    explicit = dataclasses.replace(case, runs=Runs(repeats=1, min_pass_rate=1.0))

    assert content_hash(explicit) == content_hash(case)
