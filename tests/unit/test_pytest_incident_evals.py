"""The ``pytest11`` entry point is a top-level module of its own (``pytest_incident_evals``), which
keeps pytest's assertion rewriting off the package's modules."""

from __future__ import annotations

import sys
from importlib.machinery import PathFinder
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


def test_the_package_is_found_as_pythons_own_path_finder_finds_it() -> None:
    finder = pytest_incident_evals.PlainImports()

    package = finder.find_spec("incident_evals", None)
    assert package is not None
    assert package.submodule_search_locations is not None
    module = finder.find_spec("incident_evals.case", package.submodule_search_locations)
    expected = PathFinder.find_spec("incident_evals.case", package.submodule_search_locations)

    assert module is not None
    assert expected is not None
    assert (module.origin, type(module.loader)) == (expected.origin, type(expected.loader))


@pytest.mark.parametrize("name", ["pytest", "incident_evals_extra", "tests.incident_evals", "yaml"])
def test_every_other_name_is_left_to_the_next_finders(name: str) -> None:
    assert pytest_incident_evals.PlainImports().find_spec(name, None) is None


def test_a_name_of_the_package_python_cannot_find_is_left_to_the_next_finders() -> None:
    finder = pytest_incident_evals.PlainImports()
    package = finder.find_spec("incident_evals", None)
    assert package is not None

    assert finder.find_spec("incident_evals.absent", package.submodule_search_locations) is None


def test_the_finder_sits_once_ahead_of_pytests_import_hook() -> None:
    kinds = [type(finder).__name__ for finder in sys.meta_path]

    assert kinds.count("PlainImports") == 1
    assert kinds.index("PlainImports") < kinds.index("AssertionRewritingHook")
