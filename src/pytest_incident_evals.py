"""pytest-incident-evals' ``pytest11`` entry point: the hooks of :mod:`incident_evals.plugin`.

pytest rewrites the asserts of every module of the top-level packages it finds in a distribution
that has a ``pytest11`` entry point: here ``incident_evals``, for an installed wheel (its file
list names the package) and for an editable install alike (setuptools leaves a
``pytest_incident_evals.egg-info`` beside the package, whose file list names it too). The
plugin's own modules hold no tests, and rewriting them buys nothing: with
``PYTHONDONTWRITEBYTECODE=1`` (common in CI and containers) or a read-only ``site-packages``,
pytest cannot cache what it rewrote, and parses, rewrites and compiles all fifty of them on every
run, about a quarter of a second (docs/performance.md, "Start-up"). So this module, which pytest
imports first, puts :class:`PlainImports` ahead of pytest's import hook before it imports the
package: the package's modules load as Python loads any module, from their bytecode cache.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

PACKAGE = "incident_evals"


class PlainImports(MetaPathFinder):
    """Finds the modules of :data:`PACKAGE` as Python's own path finder does, so that no import
    hook placed after it (pytest's assertion rewriting) loads them; every other name is left to
    the finders after it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] != PACKAGE:
            return None
        # None (an install that maps the package some other way) leaves it to the next finders.
        return PathFinder.find_spec(fullname, path, target)


if not any(isinstance(finder, PlainImports) for finder in sys.meta_path):
    sys.meta_path.insert(0, PlainImports())

from incident_evals.plugin import (  # noqa: E402  (after the finder, for the reason above)
    pytest_addhooks,
    pytest_addoption,
    pytest_configure,
)

__all__ = ["pytest_addhooks", "pytest_addoption", "pytest_configure"]
