"""The example catalogue in incident_cases/, and generators run as the core runs them, for the
variant tests."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from incident_evals.case import CaseError, IncidentCase, load_file
from incident_evals.catalogue import Catalogue
from incident_evals.constraints import builtin_registry
from incident_evals.variants import Draw, Generated, VariantGenerator, VariantRegistry

CATALOGUE = Path(__file__).resolve().parents[1] / "incident_cases"


@functools.cache
def example_catalogue() -> Catalogue:
    """The example catalogue through the Python API, loaded once per process: loading builds
    every case's variants, and the guard and scan tests only read it."""
    loaded = Catalogue.load(CATALOGUE)
    assert not loaded.errors, loaded.errors
    return loaded


def without_variants(text: str) -> str:
    """An example case file without its own ``variants`` block (a test declares its own)."""
    return re.sub(r"^variants:\n(?:(?: .*)?\n)*", "", text, flags=re.MULTILINE)


def example(relative: str) -> IncidentCase:
    """An example case, loaded with every built-in generator (it may declare any of them)."""
    [loaded] = load_file(CATALOGUE / relative, CATALOGUE, builtin_registry())
    assert not isinstance(loaded, CaseError), loaded
    return loaded.case


def catalogue_text(relative: str) -> str:
    """An example case file as text, from its ``id:`` line (as ``load_case`` wants it)."""
    text = without_variants((CATALOGUE / relative).read_text("utf-8"))
    return text[text.index("\nid:") + 1 :]


def registry_of(generators: Iterable[VariantGenerator]) -> VariantRegistry:
    """Only these generators, so a module's tests do not depend on the other modules."""
    registry = VariantRegistry()
    for generator in generators:
        registry.register(generator)
    return registry


def generate(
    registry: VariantRegistry, case: IncidentCase, name: str, seed: int, index: int, **options: Any
) -> Generated:
    """Variant ``name-index`` of ``case`` for ``seed``, with its own draw, as the core makes it."""
    generator = registry.get(name)
    assert generator is not None
    assert generator.generate is not None
    return generator.generate(case, options, Draw(seed, case.id, name, index))
