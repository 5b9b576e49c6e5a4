"""The ``pytest11`` entry point is a top-level module of its own (``pytest_incident_evals``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import incident_evals.plugin
import pytest_incident_evals

tomllib = pytest.importorskip("tomllib")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_entry_point_is_a_top_level_module_outside_the_package() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))

    entry_point = project["project"]["entry-points"]["pytest11"]["incident_evals"]

    # pytest rewrites the asserts of the entry point's top-level package: a dotted name would
    # put the whole incident_evals package under rewriting again.
    assert entry_point == "pytest_incident_evals"
    assert "." not in entry_point
    assert entry_point in project["tool"]["setuptools"]["py-modules"]


def test_the_entry_point_carries_the_plugins_module_hooks() -> None:
    hooks = {name for name in dir(pytest_incident_evals) if name.startswith("pytest_")}

    assert hooks == {"pytest_addhooks", "pytest_addoption", "pytest_configure"}
    for name in hooks:
        assert getattr(pytest_incident_evals, name) is getattr(incident_evals.plugin, name)
