"""One registry type for constraint types and variant generators: the same names refused with
the same message, the same refusals of duplicates and of other types, the same copies."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from incident_evals.constraints import ConstraintRegistry, ConstraintType, Verdict
from incident_evals.registry import Registry
from incident_evals.variants import Generated, VariantGenerator, VariantRegistry


def constraint(name: str) -> ConstraintType:
    return ConstraintType(name, {}, lambda argument, case: lambda t, c: Verdict(True))


def generator(name: str) -> VariantGenerator:
    return VariantGenerator(name, {}, lambda case, options, draw: Generated(case.input, ""))


@dataclass(frozen=True)
class Kind:
    registry: type[Registry[Any]]
    #: Makes an entry of this registry with the given name.
    make: Callable[[str], Any]
    #: What its messages call an entry.
    word: str
    type_name: str
    #: Makes an entry of the other registry.
    other: Callable[[str], Any]


@pytest.fixture(
    params=[
        Kind(ConstraintRegistry, constraint, "constraint", "ConstraintType", generator),
        Kind(VariantRegistry, generator, "variant generator", "VariantGenerator", constraint),
    ],
    ids=["constraints", "generators"],
)
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen


@pytest.mark.parametrize(
    "name", ["max-words", "1st_reply", "", "max words", "max_wörds", "max.words", "max_words\n"]
)
def test_a_name_a_case_cannot_write_is_refused(kind: Kind, name: str) -> None:
    entries = kind.registry()

    message = f"{kind.word} name {name!r} must be letters, digits and _ (not starting with a digit)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        entries.register(kind.make(name))

    assert entries.names() == []
    assert name not in entries


def test_a_name_is_registered_once_and_never_replaced(kind: Kind) -> None:
    entries = kind.registry()
    first = kind.make("sign_off")
    entries.register(first)

    with pytest.raises(ValueError, match=f"^{kind.word} 'sign_off' is already registered$"):
        entries.register(kind.make("sign_off"))

    assert entries.get("sign_off") is first
    assert list(entries) == [first]


@pytest.mark.parametrize(
    ("value", "got"), [({"name": "x"}, "dict"), ("x", "str"), (None, "NoneType")]
)
def test_only_its_own_type_is_registered(kind: Kind, value: Any, got: str) -> None:
    entries = kind.registry()
    # A constraint type is not a generator, nor the other way round.
    other = kind.other("x")

    with pytest.raises(TypeError, match=f"^expected a {kind.type_name}, got {got}$"):
        entries.register(value)
    with pytest.raises(
        TypeError, match=f"^expected a {kind.type_name}, got {type(other).__name__}$"
    ):
        entries.register(other)

    assert entries.names() == []


def test_copies_are_independent_and_keep_their_type(kind: Kind) -> None:
    original = kind.registry()
    shared = kind.make("shared")
    original.register(shared)

    copy = original.copy()
    copy.register(kind.make("project"))
    original.register(kind.make("later"))

    assert type(copy) is kind.registry
    assert copy.names() == ["project", "shared"]
    assert original.names() == ["later", "shared"]
    assert copy.get("shared") is shared
    assert "later" not in copy
    assert copy.get("later") is None
