"""pytest-incident-evals' ``pytest11`` entry point: the hooks of :mod:`incident_evals.plugin`.

A module of its own, outside the ``incident_evals`` package, because pytest rewrites the asserts
of every module in the package that holds a plugin's entry point. For an editable install it
marks the entry point's top-level package; with this module that is this module alone. The
plugin's own modules hold no tests, and rewriting them bought nothing: with
``PYTHONDONTWRITEBYTECODE=1`` (common in CI and containers) pytest cannot cache what it
rewrote, and parsed, rewrote and compiled all fifty of them on every run, about a third of a
second (docs/performance.md, "Start-up").
"""

from incident_evals.plugin import pytest_addhooks, pytest_addoption, pytest_configure

__all__ = ["pytest_addhooks", "pytest_addoption", "pytest_configure"]
