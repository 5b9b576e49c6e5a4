"""The fixed words of cases and results are the shipped schemas' enums, in the schemas' order."""

from __future__ import annotations

from typing import Any

import pytest

from incident_evals.case import load_schema
from incident_evals.vocabulary import (
    APIS,
    CATEGORIES,
    OUTCOMES,
    REGENERATE,
    REGRESSION_STATUSES,
    SEVERITIES,
    SEVERITIES_ASCENDING,
    STABILITY_CLASSES,
    STATUSES,
)


def enum(schema: str, *path: str | int) -> list[Any]:
    node: Any = load_schema(schema)
    for key in path:
        node = node[key]
    return list(node["enum"])


INCIDENT = ("properties", "incident", "properties")
ITEM = ("$defs", "item", "properties")


@pytest.mark.parametrize(
    ("words", "schema", "path"),
    [
        (APIS, "case", ("properties", "model", "properties", "api")),
        (CATEGORIES, "case", (*INCIDENT, "category")),
        (REGENERATE, "case", ("$defs", "input", "properties", "regenerate")),
        (SEVERITIES_ASCENDING, "case", (*INCIDENT, "severity")),
        (STATUSES, "case", (*INCIDENT, "status")),
        (CATEGORIES, "results", (*ITEM, "category")),
        (SEVERITIES_ASCENDING, "results", (*ITEM, "severity")),
        (STATUSES, "results", (*ITEM, "status")),
        (OUTCOMES, "results", (*ITEM, "outcome")),
        (REGRESSION_STATUSES, "results", (*ITEM, "regression", "oneOf", 1, "properties", "status")),
        # The results schema adds null: an item without samples has no class.
        ((*STABILITY_CLASSES, None), "results", (*ITEM, "stability")),
    ],
)
def test_each_list_is_the_schema_enum(
    words: tuple[str | None, ...], schema: str, path: tuple[str | int, ...]
) -> None:
    assert list(words) == enum(schema, *path)


def test_severities_run_from_the_most_severe() -> None:
    assert SEVERITIES == ("critical", "major", "minor")
    assert tuple(reversed(SEVERITIES)) == SEVERITIES_ASCENDING
