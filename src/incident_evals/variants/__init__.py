"""Nearby variants of a case (SPEC §5): seeded generators with provenance.

A generator turns a case into one variant's input. It is a deterministic function of (run seed,
case id, generator name, index): :class:`Draw` is its only source of randomness, seeded from
those four values alone, so the same seed gives the same variants on every machine and Python
version. A variant's id is ``<generator>-<k>`` (k from 1), stable across runs, so baselines
compare variant by variant.

Generators may change the text of messages, documents and recorded tool responses, and add or
reorder documents, but never the ids a constraint refers to (document ids, tool names) unless
that is their purpose (``distractor_documents`` adds documents with new ids).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from incident_evals.errors import describe_exception
from incident_evals.registry import Registry
from incident_evals.schema_files import load_schema

if TYPE_CHECKING:
    from incident_evals.case_types import CaseInput, IncidentCase
    from incident_evals.constraints import BoundConstraint, LoadedCase

__all__ = [
    "Draw",
    "Generated",
    "Provenance",
    "Variant",
    "VariantError",
    "VariantGenerationError",
    "VariantGenerator",
    "VariantRegistry",
    "builtin_variant_registry",
    "expand",
    "last_user_message",
    "options_schema",
    "with_message_content",
]

T = TypeVar("T")

ORIGINAL = "original"


class Draw:
    """The randomness of one variant: a ``random.Random`` seeded by (seed, case, generator, k).

    Only integer draws are used (``randrange`` on a ``Random`` seeded with an integer), and
    shuffling and sampling are written here rather than taken from ``random``, so that the
    sequence cannot change with the Python version.
    """

    def __init__(self, seed: int, case_id: str, generator: str, index: int) -> None:
        #: k, the variant's number: a model-made variant names it so each k asks anew.
        self.index = index
        key = f"{seed}\x1f{case_id}\x1f{generator}\x1f{index}".encode()
        self._random = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:16], "big"))

    def below(self, bound: int) -> int:
        """A whole number in ``[0, bound)``."""
        return self._random.randrange(bound)

    def choice(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def chance(self, probability: float) -> bool:
        return self.below(1_000_000) < round(probability * 1_000_000)

    def shuffled(self, items: Sequence[T]) -> list[T]:
        result = list(items)
        for high in range(len(result) - 1, 0, -1):
            low = self.below(high + 1)
            result[high], result[low] = result[low], result[high]
        return result

    def sample(self, items: Sequence[T], count: int) -> list[T]:
        """``count`` distinct items, in the order drawn."""
        return self.shuffled(items)[:count]


class VariantError(ValueError):
    """Options a generator cannot use with this case (a load error naming the line).

    ``field`` names the option at fault, if any.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Generated:
    """One variant's input, and a short description of what changed (shown to the user)."""

    input: CaseInput
    description: str
    #: The attributes a counterfactual variant swapped, in the order its options name them.
    attributes: tuple[str, ...] = ()


#: Sends chat messages to the configured generator model and returns its reply's text.
Complete = Callable[[list[dict[str, Any]]], str]


@dataclass(frozen=True)
class VariantGenerator:
    name: str
    #: JSON Schema of the generator's options mapping (``count`` is the core's and not in it).
    options_schema: dict[str, Any]
    #: The offline generator; ``None`` for one that needs a generator model (``translation``).
    generate: Callable[[IncidentCase, Mapping[str, Any], Draw], Generated] | None
    description: str = ""
    #: Load-time check of options against the case; raises :class:`VariantError`.
    check: Callable[[IncidentCase, Mapping[str, Any]], None] | None = None
    #: Used instead of ``generate`` when a generator model is configured.
    generate_with_model: (
        Callable[[IncidentCase, Mapping[str, Any], Draw, Complete], Generated] | None
    ) = None
    #: How many variants an entry with these options and ``count`` makes; ``None``: ``count``.
    #: (``counterfactual`` makes ``count`` variants of each combination of attributes.)
    variant_count: Callable[[Mapping[str, Any], int], int] | None = None

    def variants_made(self, options: Mapping[str, Any], count: int) -> int:
        return count if self.variant_count is None else self.variant_count(options, count)


@dataclass(frozen=True)
class Provenance:
    """Where a variant came from: enough to make it again, and to say what it changed."""

    generator: str
    options: Mapping[str, Any]
    seed: int | None
    index: int
    description: str
    #: The attributes a counterfactual variant swapped; empty for other generators.
    attributes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "generator": self.generator,
            "options": dict(self.options),
            "seed": self.seed,
            "index": self.index,
            "description": self.description,
        }
        if self.attributes:
            data["attributes"] = list(self.attributes)
        return data


#: The provenance ``generator`` of hand-written variants (``variants.cases``).
HAND_WRITTEN = "cases"


@dataclass(frozen=True)
class Variant:
    #: ``<generator>-<k>``, or the ``name`` of a hand-written variant.
    id: str
    case: IncidentCase
    provenance: Provenance
    #: Its own constraints when it overrides ``expect``; ``None`` means the case's.
    constraints: tuple[BoundConstraint, ...] | None = None


class VariantGenerationError(Exception):
    """A generator entry that made no variants: it needs a model, or it failed (a bug)."""

    def __init__(self, message: str, line: int, generator: str) -> None:
        super().__init__(message)
        self.line = line
        self.generator = generator


def expand(
    loaded: LoadedCase,
    seed: int,
    registry: VariantRegistry,
    limit: int | None = None,
    complete: Complete | None = None,
) -> list[Variant | VariantGenerationError]:
    """The variants of one case for a run: generated ones, then hand-written ones.

    ``limit`` is ``--incident-variants``: ``None`` runs every declared variant, ``0`` none, and
    ``N`` the first N generated variants of the case (in the order declared); hand-written
    variants run unless ``limit`` is 0, since someone wrote each of them for a reason.
    ``complete`` is the generator model, when one is configured. A generator entry that
    cannot make its variants is a :class:`VariantGenerationError` in their place, so the case's
    other variants still run.
    """
    if limit == 0:
        return []
    case = loaded.case
    variants: list[Variant | VariantGenerationError] = []
    made = 0
    for spec in case.variants.generate:
        generator = registry.get(spec.name)
        if generator is None:  # checked at load; a registry without it is another run's
            variants.append(
                VariantGenerationError(
                    f"unknown variant generator {spec.name!r}", spec.line, spec.name
                )
            )
            continue
        for index in range(1, generator.variants_made(spec.options, spec.count) + 1):
            if limit is not None and made >= limit:
                break
            made += 1
            draw = Draw(seed, case.id, spec.name, index)
            make: Callable[[IncidentCase, Mapping[str, Any], Draw], Generated]
            if complete is not None and generator.generate_with_model is not None:
                with_model = generator.generate_with_model
                make = functools.partial(_with_complete, with_model, complete)
            elif generator.generate is not None:
                make = generator.generate
            else:
                variants.append(
                    VariantGenerationError(
                        f"{spec.name} needs a generator model (--incident-generator-model; "
                        "--generator-model for incident-evals variants), or its variants frozen "
                        "into the case with incident-evals variants --freeze",
                        spec.line,
                        spec.name,
                    )
                )
                break
            try:
                generated = make(case, spec.options, draw)
                if not isinstance(generated, Generated):
                    raise TypeError(f"returned {type(generated).__name__}, not Generated")
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                # A generator may be a project's plugin: whatever it raises (sys.exit included)
                # costs that generator's variants only, in one line.
                variants.append(
                    VariantGenerationError(
                        f"variant generator {spec.name!r} failed on {spec.name}-{index}: "
                        f"{describe_exception(exc)}",
                        spec.line,
                        spec.name,
                    )
                )
                break
            provenance = Provenance(
                spec.name, spec.options, seed, index, generated.description, generated.attributes
            )
            variant_case = dataclasses.replace(case, input=generated.input)
            variants.append(Variant(f"{spec.name}-{index}", variant_case, provenance))
    for written in case.variants.cases:
        fields = ", ".join(_changed_fields(case.input, written.input)) or "nothing"
        description = f"hand-written: replaces {fields}"
        constraints = loaded.variant_constraints.get(written.name)
        if written.expect is not None:
            description += ", with its own expect"
        variant_case = dataclasses.replace(
            case, input=written.input, expect=written.expect or case.expect
        )
        provenance = Provenance(HAND_WRITTEN, {}, None, 0, description)
        variants.append(Variant(written.name, variant_case, provenance, constraints))
    return variants


def _with_complete(
    generate: Callable[[IncidentCase, Mapping[str, Any], Draw, Complete], Generated],
    complete: Complete,
    case: IncidentCase,
    options: Mapping[str, Any],
    draw: Draw,
) -> Generated:
    return generate(case, options, draw, complete)


def _changed_fields(original: CaseInput, changed: CaseInput) -> list[str]:
    return [
        field.name
        for field in dataclasses.fields(original)
        if getattr(original, field.name) != getattr(changed, field.name)
    ]


class VariantRegistry(Registry[VariantGenerator]):
    kind = "variant generator"
    entry_type = VariantGenerator


#: The modules of built-in generators, each with a ``GENERATORS`` tuple.
BUILTIN_MODULES = ("text", "context", "tools", "counterfactual")


def builtin_variant_registry() -> VariantRegistry:
    import importlib

    registry = VariantRegistry()
    for module in BUILTIN_MODULES:
        for generator in importlib.import_module(f"incident_evals.variants.{module}").GENERATORS:
            registry.register(generator)
    return registry


def options_schema(name: str) -> dict[str, Any]:
    """The options schema of built-in generator ``name``, as the shipped case schema defines it."""
    import copy

    schema: dict[str, Any] = copy.deepcopy(load_schema("case")["$defs"]["generators"][name])
    # `count` belongs to the core (the case schema checks it): a generator sees its own options.
    schema.get("properties", {}).pop("count", None)
    return schema


# --- helpers for generators ----------------------------------------------------------------------


def last_user_message(case_input: CaseInput) -> tuple[int, str] | None:
    """The index and text of the last user message with text content: the incident's trigger."""
    for index in range(len(case_input.messages) - 1, -1, -1):
        message = case_input.messages[index]
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return index, message["content"]
    return None


def with_message_content(case_input: CaseInput, index: int, content: str) -> CaseInput:
    messages = list(case_input.messages)
    messages[index] = {**messages[index], "content": content}
    return dataclasses.replace(case_input, messages=tuple(messages))
