"""The variant core: seeded draws, expansion, selection, hand-written variants, load errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from incident_evals.case import IncidentCase, LoadedCase
from incident_evals.variants import (
    Draw,
    Generated,
    Variant,
    VariantGenerationError,
    VariantGenerator,
    VariantRegistry,
    expand,
    last_user_message,
    with_message_content,
)
from transcripts import load_case, load_error

CASE = """\
id: INC-core
incident: {category: correctness, severity: major}
input:
  system: Answer from the documents.
  messages:
    - {role: user, content: Can I get a refund after 40 days?}
expect:
  - not_contains: 60 days
variants:
  generate:
    - shout: {count: 2}
    - suffix: {count: 3, text: please}
  cases:
    - name: spanish
      messages: [{role: user, content: ¿Puedo obtener un reembolso después de 40 días?}]
    - name: strict
      expect:
        - contains: 30 days
"""


def _shout(case: IncidentCase, options: Mapping[str, Any], draw: Draw) -> Generated:
    found = last_user_message(case.input)
    assert found is not None
    index, text = found
    marks = "!" * (1 + draw.below(5))
    return Generated(with_message_content(case.input, index, text.upper() + marks), f"{marks}")


def _suffix(case: IncidentCase, options: Mapping[str, Any], draw: Draw) -> Generated:
    found = last_user_message(case.input)
    assert found is not None
    index, text = found
    return Generated(with_message_content(case.input, index, f"{text} {options['text']}"), "")


def registry() -> VariantRegistry:
    generators = VariantRegistry()
    generators.register(VariantGenerator("shout", {"type": ["object", "null"]}, _shout))
    generators.register(
        VariantGenerator(
            "suffix",
            {
                "type": "object",
                "required": ["text"],
                "additionalProperties": False,
                "properties": {"text": {"type": "string"}},
            },
            _suffix,
        )
    )
    return generators


def made(loaded: LoadedCase, seed: int, limit: int | None = None) -> list[Variant]:
    """The variants of ``loaded``; these generators never fail."""
    outcomes = expand(loaded, seed, registry(), limit)
    variants = [o for o in outcomes if isinstance(o, Variant)]
    assert variants == outcomes
    return variants


def test_draws_depend_only_on_seed_case_generator_and_index() -> None:
    first = [Draw(0, "INC-1", "typos", 1).below(1000) for _ in range(3)]
    assert len(set(first)) == 1
    assert Draw(0, "INC-1", "typos", 1).below(10**9) == Draw(0, "INC-1", "typos", 1).below(10**9)
    others = {
        Draw(1, "INC-1", "typos", 1).below(10**9),
        Draw(0, "INC-2", "typos", 1).below(10**9),
        Draw(0, "INC-1", "casing", 1).below(10**9),
        Draw(0, "INC-1", "typos", 2).below(10**9),
    }
    assert Draw(0, "INC-1", "typos", 1).below(10**9) not in others
    assert len(others) == 4


def test_draws_are_the_same_in_another_process_with_another_hash_seed() -> None:
    script = (
        "from incident_evals.variants import Draw; d = Draw(7, 'INC-1', 'typos', 3); "
        "print(d.below(10**9), d.shuffled(list(range(10))), d.sample('abcdefgh', 3), d.chance(0.5))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "12345")
    }
    draw = Draw(7, "INC-1", "typos", 3)
    values = (draw.below(10**9), draw.shuffled(list(range(10))), draw.sample("abcdefgh", 3))
    here = f"{values[0]} {values[1]} {values[2]} {draw.chance(0.5)}\n"
    assert outputs == {here}


def test_expand_makes_stable_ids_with_provenance(tmp_path: Path) -> None:
    loaded = load_case(tmp_path, CASE, variants=registry())

    variants = made(loaded, 3)

    assert [v.id for v in variants] == [
        "shout-1",
        "shout-2",
        "suffix-1",
        "suffix-2",
        "suffix-3",
        "spanish",
        "strict",
    ]
    shout = variants[0]
    assert shout.case.input.messages[0]["content"].startswith("CAN I GET A REFUND AFTER 40 DAYS?")
    assert shout.provenance.to_json() == {
        "generator": "shout",
        "options": {},
        "seed": 3,
        "index": 1,
        "description": shout.case.input.messages[0]["content"][
            len("CAN I GET A REFUND AFTER 40 DAYS?") :
        ],
    }
    assert (
        variants[2].case.input.messages[0]["content"] == "Can I get a refund after 40 days? please"
    )
    assert variants[2].provenance.options == {"text": "please"}
    # The same seed gives the same variants; the case itself is untouched.
    again = made(load_case(tmp_path, CASE, variants=registry()), 3)
    assert [v.case.input for v in again] == [v.case.input for v in variants]
    assert loaded.case.input.messages[0]["content"] == "Can I get a refund after 40 days?"


def test_hand_written_variants_replace_fields_and_may_bring_their_own_expect(
    tmp_path: Path,
) -> None:
    loaded = load_case(tmp_path, CASE, variants=registry())
    spanish, strict = made(loaded, 0)[-2:]

    assert spanish.case.input.messages[0]["content"].startswith("¿Puedo")
    assert spanish.case.input.system == "Answer from the documents."
    assert spanish.constraints is None
    assert spanish.provenance.description == "hand-written: replaces messages"
    assert spanish.provenance.seed is None
    assert strict.constraints is not None
    assert [c.name for c in strict.constraints] == ["contains"]
    assert strict.provenance.description == "hand-written: replaces nothing, with its own expect"


@pytest.mark.parametrize(
    ("limit", "ids"),
    [
        (None, ["shout-1", "shout-2", "suffix-1", "suffix-2", "suffix-3", "spanish", "strict"]),
        (0, []),
        (1, ["shout-1", "spanish", "strict"]),
        (3, ["shout-1", "shout-2", "suffix-1", "spanish", "strict"]),
    ],
)
def test_the_selection_limits_generated_variants_per_case(
    tmp_path: Path, limit: int | None, ids: list[str]
) -> None:
    loaded = load_case(tmp_path, CASE, variants=registry())
    assert [v.id for v in made(loaded, 0, limit)] == ids


def test_a_generator_that_fails_at_run_time_names_itself(tmp_path: Path) -> None:
    generators = registry()

    def broken(case: IncidentCase, options: Mapping[str, Any], draw: Draw) -> Generated:
        raise KeyError("content")

    generators.register(VariantGenerator("broken", {"type": ["object", "null"]}, broken))
    body = CASE.replace("    - shout: {count: 2}\n", "    - broken:\n")
    loaded = load_case(tmp_path, body, variants=generators)

    outcomes = expand(loaded, 0, generators)

    # The broken entry is an error in its variants' place; the other variants are still made.
    errors = [o for o in outcomes if isinstance(o, VariantGenerationError)]
    assert [(str(e), e.line, e.generator) for e in errors] == [
        ("variant generator 'broken' failed on broken-1: KeyError: 'content'", 11, "broken")
    ]
    assert [o.id for o in outcomes if not isinstance(o, VariantGenerationError)] == [
        "suffix-1",
        "suffix-2",
        "suffix-3",
        "spanish",
        "strict",
    ]


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (
            ("    - shout: {count: 2}\n", "    - whisper: {count: 2}\n"),
            "case.yaml:11: variants.generate[0].whisper: unknown variant generator 'whisper' "
            "(known: shout, suffix)",
        ),
        (
            ("text: please", "text: 3"),
            "case.yaml:12: variants.generate[1].suffix.text: expected string, got integer 3",
        ),
        (
            ("{count: 3, text: please}", "{count: 0, text: please}"),
            "case.yaml:12: variants.generate[1].suffix.count: expected a whole number from 1 "
            "to 50, got 0",
        ),
        (
            ("    - suffix: {count: 3, text: please}\n", "    - shout: {count: 3}\n"),
            "case.yaml:12: variants.generate[1].shout: generator 'shout' is declared twice "
            "(first at line 11); declare it once, with count for more variants",
        ),
        (
            ("name: spanish", "name: shout-2"),
            "case.yaml:14: variants.cases[0].name: variant name 'shout-2' is the id of a "
            "generated variant; choose another",
        ),
        (
            ("name: strict", "name: spanish"),
            "case.yaml:16: variants.cases[1].name: duplicate variant name 'spanish' (first at "
            "line 14)",
        ),
        (
            ("name: strict", "name: consistency"),
            "case.yaml:16: variants.cases[1].name: 'consistency' is reserved for the plugin's "
            "own items",
        ),
        (
            ("        - contains: 30 days", "        - cites: policy-2023"),
            "case.yaml:18: variants.cases[1].expect[0].cites: unknown document 'policy-2023' "
            "(the case has no documents)",
        ),
    ],
)
def test_variant_declarations_are_checked_at_load(
    tmp_path: Path, edit: tuple[str, str], error: str
) -> None:
    body = CASE.replace(*edit)
    assert body != CASE
    assert load_error(tmp_path, body, variants=registry()) == error
