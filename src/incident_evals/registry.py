"""One kind of registry for the named things a project adds to the built-ins.

:class:`~incident_evals.constraints.ConstraintRegistry` (constraint types) and
:class:`~incident_evals.variants.VariantRegistry` (variant generators) are both a
:class:`Registry`: the same rules for a name, the same refusals, the same copies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, Generic, Protocol, TypeVar

__all__ = ["NAME", "Named", "Registry", "check_name"]

#: The names a case file can write as a key (``expect`` entries, ``variants.generate`` entries):
#: the case schema's ``propertyNames`` pattern for both.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)
R = TypeVar("R", bound="Registry[Any]")


def check_name(kind: str, name: object) -> None:
    """Refuse a name no case file could write as a key."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(
            f"{kind} name {name!r} must be letters, digits and _ (not starting with a digit)"
        )


class Registry(Generic[T]):
    """Entries by name, in the order registered; a name is registered once and never replaced.

    A subclass names what it holds: ``kind`` for messages, ``entry_type`` for the one type of
    entry it accepts.
    """

    kind: ClassVar[str]
    entry_type: ClassVar[type]

    def __init__(self) -> None:
        self._entries: dict[str, T] = {}

    def register(self, entry: T) -> None:
        if not isinstance(entry, self.entry_type):
            raise TypeError(f"expected a {self.entry_type.__name__}, got {type(entry).__name__}")
        check_name(self.kind, entry.name)
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered")
        self._entries[entry.name] = entry

    def copy(self: R) -> R:
        """A registry with the same entries, to which a project adds its own: registering into
        either leaves the other as it was."""
        copied = type(self)()
        copied._entries = dict(self._entries)
        return copied

    def get(self, name: str) -> T | None:
        return self._entries.get(name)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries
