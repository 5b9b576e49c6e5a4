"""The published id lists an incident's ``taxonomy`` is checked against.

OWASP Top 10 for LLM Applications (``LLM01``), OWASP Top 10 for Agentic Applications
(``ASI01``), MITRE ATLAS techniques and sub-techniques (``AML.T0051``, ``AML.T0051.000``) and the
AVID taxonomy's SEP view (``S0301``) ship as one data file, ``data/taxonomy.json``, read on first
use: a catalogue without taxonomy tags never reads it. docs/catalogue.md names the version of
each list and how to update it.

Ids are matched exactly, as the lists write them: ``llm01`` is an error that suggests
``LLM01``, so that every report, marker and catalogue index spells an id one way.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

__all__ = [
    "TaxonomyEntry",
    "TaxonomyList",
    "entry",
    "marker_names",
    "problem",
    "published_lists",
]


@dataclass(frozen=True)
class TaxonomyEntry:
    id: str
    title: str
    #: The key of its list (``owasp-llm``, ``owasp-agentic``, ``mitre-atlas``, ``avid``).
    list_key: str


@dataclass(frozen=True)
class TaxonomyList:
    key: str
    name: str
    version: str
    source: str
    pattern: str
    entries: tuple[TaxonomyEntry, ...]
    published: str | None = None

    @property
    def label(self) -> str:
        """How messages and pages name it: ``OWASP Top 10 for LLM Applications 2025``."""
        return f"{self.name} {self.version}"


@functools.cache
def published_lists() -> tuple[TaxonomyList, ...]:
    """Every shipped list, in the data file's order."""
    import json
    from importlib.resources import files

    data = json.loads(files("incident_evals").joinpath("data/taxonomy.json").read_text("utf-8"))
    return tuple(
        TaxonomyList(
            key=raw["key"],
            name=raw["name"],
            version=raw["version"],
            source=raw["source"],
            pattern=raw["pattern"],
            published=raw.get("published"),
            entries=tuple(
                TaxonomyEntry(item["id"], item["title"], raw["key"]) for item in raw["entries"]
            ),
        )
        for raw in data["lists"]
    )


@functools.cache
def _by_id() -> dict[str, TaxonomyEntry]:
    return {item.id: item for listed in published_lists() for item in listed.entries}


def entry(taxonomy_id: str) -> TaxonomyEntry | None:
    """The published entry of an id, or None."""
    return _by_id().get(taxonomy_id)


def list_of(taxonomy_id: str) -> TaxonomyList | None:
    """The list whose id pattern the id has (known in it or not)."""
    return next(
        (listed for listed in published_lists() if re.fullmatch(listed.pattern, taxonomy_id)),
        None,
    )


def marker_names(taxonomy_id: str) -> tuple[str, ...]:
    """The markers an item tagged with this id carries: the id, and for an ATLAS sub-technique
    its technique too, so that ``-m AML.T0051`` selects ``AML.T0051.000``."""
    parent = parent_technique(taxonomy_id)
    return (taxonomy_id, parent) if parent is not None else (taxonomy_id,)


def parent_technique(taxonomy_id: str) -> str | None:
    """``AML.T0051`` for ``AML.T0051.000``; None for any other id."""
    match = re.fullmatch(r"(AML\.T[0-9]{4})\.[0-9]{3}", taxonomy_id)
    return match.group(1) if match else None


def problem(taxonomy_id: str) -> str | None:
    """Why an id is not a published one (with the closest ids), or None when it is."""
    if entry(taxonomy_id) is not None:
        return None
    closest = _closest(taxonomy_id)
    quoted = [repr(c) for c in closest]
    hint = f"; did you mean {_alternatives(quoted)}?" if closest else ""
    listed = list_of(taxonomy_id)
    if listed is not None:
        return f"{taxonomy_id!r} is not an id of {listed.label}{hint}"
    known = ", ".join(_id_forms())
    return f"{taxonomy_id!r} is not an id of a published list ({known}){hint}"


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _id_forms() -> list[str]:
    forms = {
        "owasp-llm": "OWASP LLM01-LLM10",
        "owasp-agentic": "OWASP agentic ASI01-ASI10",
        "mitre-atlas": "MITRE ATLAS AML.T0000 or AML.T0000.000",
        "avid": "AVID SEP codes such as S0301, E0101, P0204",
    }
    return [forms.get(listed.key, listed.label) for listed in published_lists()]


def _closest(written: str) -> list[str]:
    """Up to three known ids close to what was written: the same id in another case or
    without the list's year (``LLM01:2025``) first, then the nearest spellings."""
    ids = _by_id()
    bare = re.sub(r"\s*:\s*20[0-9]{2}$", "", written.strip())
    for candidate in (bare, bare.upper()):
        if candidate in ids:
            return [candidate]
    listed = list_of(bare.upper())
    pool = [item.id for item in listed.entries] if listed is not None else list(ids)
    return difflib.get_close_matches(bare.upper(), pool, n=3, cutoff=0.6)
