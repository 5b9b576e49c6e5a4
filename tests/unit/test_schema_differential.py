"""The case loader's schema verdict is jsonschema's verdict on the shipped case schema.

The loader checks a case with fastjsonschema, compiled and fast, and asks jsonschema (Draft
2020-12) only to explain a case that check refused. fastjsonschema follows draft-07 where the
drafts differ: a keyword beside ``$ref`` is ignored there and holds in 2020-12, and it reads
``$`` in a pattern as the end of the text, where Python's ``re`` (jsonschema's) also matches
before a final newline. A schema leaning on a difference makes the loader pass a case the shipped
schema refuses, or refuse one it accepts.

So both judge thousands of cases here: generated from the schema, and mutated from every example
case and from fixture cases (keys deleted at any depth, values of another type, unknown keys,
empty lists and mappings, wrong enum values, boundary numbers and lengths, values moved from
elsewhere in the case). A seeded random makes every run judge the same cases.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from case_files import case_data
from incident_evals.case import (
    _const_as_enum,
    _fast_valid,
    _first_schema_error,
    _Reader,
    load_schema,
)
from incident_evals.schema_refs import no_fetch_registry

ROOT = Path(__file__).resolve().parents[2]
SEED = 20251102
#: Cases generated from the schema, and mutants made of each starting case.
GENERATED = 400
MUTANTS_PER_START = 60

Path_ = tuple[str | int, ...]


def _schema() -> dict[str, Any]:
    return load_schema("case")


def _resolve(reference: str) -> Any:
    node: Any = _schema()
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


# --- the starting cases --------------------------------------------------------------------------


def _example_cases() -> list[Any]:
    """Every case of the example catalogue, read as the loader reads YAML."""
    found = []
    for path in sorted((ROOT / "incident_cases").rglob("*.yaml")):
        for document in _Reader(path.read_text("utf-8"), path).documents():
            assert isinstance(document, tuple), document
            found.append(document[0])
    assert found
    return found


def _fixture_cases() -> list[Any]:
    """Cases as tests write them, widened to reach every part of the schema."""
    tools = [
        {
            "name": "send_email",
            "description": "Send an email",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
            "responses": [
                {"when": {"to": "a@b.example"}, "output": {"ok": True}},
                {"output": "x"},
                {
                    "when": {"to": "c@d.example"},
                    "output": "TOK-1",
                    "sensitive": True,
                    "markers": ["TOK-1"],
                },
            ],
        }
    ]
    documents = [
        {"id": "policy", "title": "Policy", "content": "Refunds: 30 days."},
        {"id": "payroll", "content": "PAYROLL", "sensitive": True, "markers": ["PAYROLL"]},
        {"id": "file", "content_file": "docs/a.md"},
    ]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": {"content_file": "q.md"}},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "done", "name": "send_email"},
        {"role": "user", "content": "Refund after 40 days?"},
    ]
    return [
        case_data(),
        case_data("INC-2", category="security", severity="critical", schema_version=1),
        case_data(
            "INC-3",
            input={"system": "You are Acme's assistant.", "documents": documents, "tools": tools},
            expect=[
                {"contains": ["30 days"]},
                {"not_contains": {"value": "60 days", "exact": True}},
                {"matches": {"pattern": "\\d+ days"}},
                {"tool_called": {"name": "send_email", "min_times": 1}},
                {"tool_args": {"tool": "send_email", "schema": {"type": "object"}}},
                {"cites": ["policy"]},
                {"no_leak": {"min_span": 20}},
                {"no_pii": ["email", "phone"]},
                {
                    "links": {
                        "allow_domains": ["acme.example", "*.acme.example"],
                        "block_images": True,
                        "tool_calls": False,
                        "min_span": 16,
                    }
                },
                {"judge": {"rubric": "Polite.", "model": "m"}},
                {"python": "checks.refund:holds"},
            ],
        ),
        case_data(
            "INC-4",
            input={
                "messages": messages,
                "document_template": "<doc>{content}</doc>",
                "system": {"content": "Code ORCHID-1.", "sensitive": True, "markers": ["ORCHID"]},
            },
            model={"name": "gpt-old", "temperature": 0.5, "max_tokens": 400, "stop": ["\n"]},
            runs={"repeats": 3, "min_pass_rate": 0.5, "max_turns": 4},
            recorded_output="Refunds are possible within 30 days.",
            recorded_tool_calls=[{"name": "send_email", "arguments": {"to": "a@b.example"}}],
            variants={
                "generate": [
                    {"typos": {"count": 2, "edits": 3}},
                    {"casing": None},
                    {"counterfactual": {"attribute": "name", "decision": {"pattern": "yes"}}},
                    {"translation": {"language": "es"}},
                    {"project_generator": {"level": 2}},
                ],
                "cases": [
                    {"name": "short", "messages": [{"role": "user", "content": "Refund?"}]},
                    {"name": "strict", "expect": [{"refuses": False}]},
                ],
            },
        ),
        case_data(
            "INC-5",
            incident={
                "category": "fairness",
                "severity": "minor",
                "status": "open",
                "date": "2025-11-02",
                "owner": "team",
                "tags": ["bias"],
                "taxonomy": ["E0101", "AML.T0048.002"],
                "detected": "2025-11-03T09:12Z",
                "mitigated": "2025-11-03",
                "resolved": "2025-11-20",
                "impact": "Loan applicants",
                "actions": [
                    {"description": "Add name swaps", "owner": "ml", "due": "2025-12-01"},
                    {"description": "Audit", "status": "done", "ticket": "ML-1"},
                ],
            },
            expect=[{"max_length": 400}, {"min_length": {"value": 1}}, {"project_check": "x"}],
        ),
    ]


def _generated(rng: random.Random, count: int) -> list[Any]:
    return [_generate(_schema(), rng, 0) for _ in range(count)]


def _strings_matching(pattern: str) -> list[str]:
    candidates = [
        "INC-1", "a", "send_email", "checks.refund:holds", "typos", "x_1", "A.b-c", "{content}",
        "2025-11-02", "2025-11-02T09:12:30+01:00", "2025-11-02\n",
    ]  # fmt: skip
    return [text for text in candidates if re.search(pattern, text)] or ["a"]


def _generate(schema: Any, rng: random.Random, depth: int) -> Any:
    """A value the schema likely accepts (``if``/``then`` and ``oneOf`` are not aimed at)."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        merged = {**_resolve(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _generate(merged, rng, depth)
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if "enum" in schema:
        return rng.choice(schema["enum"])
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            base = {k: v for k, v in schema.items() if k != keyword}
            return _generate({**base, **rng.choice(schema[keyword])}, rng, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind is None:
        kind = "object" if "properties" in schema else rng.choice(["string", "integer"])
    if kind == "object":
        return _generate_object(schema, rng, depth)
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 2), low + (2 if depth < 4 else 0))
        items = [
            _generate(schema.get("items", {}), rng, depth + 1)
            for _ in range(rng.randint(low, high))
        ]
        return (
            list({json.dumps(i): i for i in items}.values()) if schema.get("uniqueItems") else items
        )
    if kind == "string":
        if "pattern" in schema:
            return rng.choice(_strings_matching(schema["pattern"]))
        return "x" * max(schema.get("minLength", 0), rng.randint(1, 12))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -5) + 1)
        high = min(schema.get("maximum", low + 10), low + 10)
        value = rng.randint(int(low), int(high))
        return value if kind == "integer" or rng.random() < 0.5 else float(value) / 2 + 0.25
    if kind == "boolean":
        return rng.random() < 0.5
    return None


def _generate_object(schema: dict[str, Any], rng: random.Random, depth: int) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = list(schema.get("required", ()))
    if schema.get("maxProperties") == 1 and not required:
        # A one-key mapping naming one of its properties: a constraint or a generator.
        names = list(properties) or ["project_thing"]
        required = [rng.choice(names)]
        optional: list[str] = []
    else:
        optional = [name for name in properties if name not in required and depth < 5]
    chosen = required + [name for name in optional if rng.random() < 0.4]
    return {name: _generate(properties.get(name, {}), rng, depth + 1) for name in chosen}


# --- mutations ------------------------------------------------------------------------------------

_OTHER_VALUES: list[Any] = [
    "", "x", "x\n", "INC-1\n", "..", "a b", 0, 1, -1, 1.0, 2.5, True, False, None, [], {},
    ["x"], {"x": 1}, [None], 2**63, -(2**63) - 1, 10**6, 0.5,
]  # fmt: skip
_BOUNDARY_NUMBERS = [
    0,
    1,
    2,
    7,
    8,
    32,
    33,
    50,
    51,
    64,
    65,
    100,
    101,
    128,
    129,
    256,
    257,
    1000,
    1001,
]
_BOUNDARY_LENGTHS = [0, 1, 2, 63, 64, 65, 99, 100, 101, 128, 129, 255, 256, 257, 320, 321, 1001]
#: Lists are kept shorter: each item is judged, and most list limits are at most 256.
_BOUNDARY_COUNTS = [0, 1, 4, 5, 32, 33, 64, 65, 100, 101, 128, 129]


def _schema_words(node: Any, keys: set[str], enums: set[str]) -> None:
    """Every property name and enum string of the schema: valid somewhere, maybe not here."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                keys.update(value)
            if key == "enum":
                enums.update(v for v in value if isinstance(v, str))
            _schema_words(value, keys, enums)
    elif isinstance(node, list):
        for item in node:
            _schema_words(item, keys, enums)


def _places(document: Any) -> list[tuple[Path_, Any]]:
    """Every value of ``document`` with its path, the document itself first."""
    found: list[tuple[Path_, Any]] = []
    stack: list[tuple[Path_, Any]] = [((), document)]
    while stack:
        where, value = stack.pop()
        found.append((where, value))
        if isinstance(value, dict):
            stack.extend(((*where, key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(((*where, index), item) for index, item in enumerate(value))
    return found


def _replace(document: Any, where: Path_, value: Any) -> Any:
    if not where:
        return value
    parent = document
    for part in where[:-1]:
        parent = parent[part]
    parent[where[-1]] = value
    return document


class _Mutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        keys: set[str] = set()
        enums: set[str] = set()
        _schema_words(_schema(), keys, enums)
        self.keys = [*sorted(keys), "surprise", "", "1bad", "contains\n", "x y"]
        self.enums = sorted(enums)
        self.mutations: list[Callable[[Any], Any]] = [
            self.delete_key,
            self.delete_key,
            self.other_type,
            self.other_type,
            self.unknown_key,
            self.empty,
            self.wrong_enum,
            self.boundary_number,
            self.boundary_length,
            self.trailing_newline,
            self.transplant,
            self.duplicate_item,
            self.wrap_or_unwrap,
        ]

    def __call__(self, document: Any) -> Any:
        mutant = copy.deepcopy(document)
        for _ in range(self.rng.choice([1, 1, 1, 2, 2, 3])):
            mutant = self.rng.choice(self.mutations)(mutant)
        return mutant

    def pick(self, document: Any, accept: Callable[[Any], bool]) -> tuple[Path_, Any] | None:
        places = [(where, value) for where, value in _places(document) if accept(value)]
        return self.rng.choice(places) if places else None

    def change(
        self, document: Any, accept: Callable[[Any], bool], make: Callable[[Any], Any]
    ) -> Any:
        """``document`` with one value that ``accept`` picks replaced by ``make(value)``."""
        found = self.pick(document, accept)
        return document if found is None else _replace(document, found[0], make(found[1]))

    def delete_key(self, document: Any) -> Any:
        found = self.pick(document, lambda value: isinstance(value, dict) and bool(value))
        if found is not None:
            del found[1][self.rng.choice(list(found[1]))]
        return document

    def unknown_key(self, document: Any) -> Any:
        found = self.pick(document, lambda value: isinstance(value, dict))
        if found is not None:
            found[1][self.rng.choice(self.keys)] = copy.deepcopy(self.rng.choice(_OTHER_VALUES))
        return document

    def duplicate_item(self, document: Any) -> Any:
        found = self.pick(document, lambda value: isinstance(value, list) and bool(value))
        if found is not None:
            found[1].append(copy.deepcopy(self.rng.choice(found[1])))
        return document

    def other_type(self, document: Any) -> Any:
        return self.change(
            document, _any, lambda value: copy.deepcopy(self.rng.choice(_OTHER_VALUES))
        )

    def empty(self, document: Any) -> Any:
        return self.change(document, _of(dict, list, str), lambda value: type(value)())

    def wrong_enum(self, document: Any) -> Any:
        def wrong(value: str) -> str:
            word = self.rng.choice(self.enums)
            return self.rng.choice([word, word.upper(), word + " ", value + "x"])

        return self.change(document, _of(str), wrong)

    def boundary_number(self, document: Any) -> Any:
        def boundary(value: Any) -> Any:
            number = self.rng.choice(_BOUNDARY_NUMBERS)
            return self.rng.choice([number, -number, float(number), number + 0.5])

        return self.change(document, _of(int, float), boundary)

    def boundary_length(self, document: Any) -> Any:
        def boundary(value: Any) -> Any:
            if isinstance(value, str):
                return (value or "x")[0] * self.rng.choice(_BOUNDARY_LENGTHS)
            return (value[:1] or ["x"]) * self.rng.choice(_BOUNDARY_COUNTS)

        return self.change(document, _of(str, list), boundary)

    def trailing_newline(self, document: Any) -> Any:
        return self.change(document, _of(str), lambda value: value + "\n")

    def wrap_or_unwrap(self, document: Any) -> Any:
        def wrapped(value: Any) -> Any:
            return value[0] if isinstance(value, list) and len(value) == 1 else [value]

        return self.change(document, _any, wrapped)

    def transplant(self, document: Any) -> Any:
        places = _places(document)
        (where, _), (_, value) = self.rng.choice(places), self.rng.choice(places)
        return _replace(document, where, copy.deepcopy(value))


def _any(value: Any) -> bool:
    return True


def _of(*kinds: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kinds)


def _cases() -> Iterator[Any]:
    rng = random.Random(SEED)
    starts = [*_example_cases(), *_fixture_cases(), *_generated(rng, GENERATED)]
    yield from starts
    mutate = _Mutator(rng)
    for start in starts[: len(starts) - GENERATED] + starts[-GENERATED::20]:
        for _ in range(MUTANTS_PER_START):
            yield mutate(start)


# --- the verdicts ---------------------------------------------------------------------------------


def _shipped_validator() -> Draft202012Validator:
    return Draft202012Validator(_schema(), registry=no_fetch_registry())


def _disagreement(case: Any, reference: Draft202012Validator, expected: bool) -> str | None:
    judged = copy.deepcopy(case)
    fast = _fast_valid(judged)
    # The loader judges the case it then builds: a check that filled in defaults would change it.
    assert judged == case, "the fast check wrote into the case it judged"
    loader = _first_schema_error(case) is None
    if fast == expected and loader == expected:
        return None
    error = next(iter(reference.iter_errors(case)), None)
    why = f"{error.json_path}: {error.message}"[:300] if error is not None else "-"
    text = json.dumps(case, ensure_ascii=False)
    return (
        f"jsonschema (shipped schema): {'valid' if expected else 'invalid'} ({why}); "
        f"fastjsonschema: {'valid' if fast else 'invalid'}; "
        f"loader: {'valid' if loader else 'invalid'}\n  "
        + (text if len(text) <= 2000 else text[:2000] + "…")
    )


def test_the_loader_judges_every_case_as_the_shipped_schema_does() -> None:
    reference = _shipped_validator()
    judged = valid = 0
    disagreements: list[str] = []
    for case in _cases():
        judged += 1
        expected = reference.is_valid(case)
        valid += expected
        found = _disagreement(case, reference, expected)
        if found is not None:
            disagreements.append(found)
    shown = "\n".join(disagreements[:20])
    assert not disagreements, f"{len(disagreements)} of {judged} cases judged apart:\n{shown}"
    # Both verdicts are exercised: a generator that made only broken cases would prove nothing.
    assert judged > 2000, judged
    assert valid > judged // 20, (valid, judged)
    assert judged - valid > judged // 2, (valid, judged)


@pytest.mark.parametrize(
    ("input_", "valid"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, True),
        ({}, False),
        ({"documents": []}, False),
        ({"system": "x"}, False),
    ],
)
def test_input_without_messages_is_judged_alike(input_: dict[str, Any], valid: bool) -> None:
    # `required` once stood beside `$ref`, which draft-07 ignores: such a case loaded and passed.
    case = case_data()
    case["input"] = input_
    reference = _shipped_validator()
    assert reference.is_valid(case) is valid
    assert _disagreement(case, reference, valid) is None


@pytest.mark.parametrize(
    ("template", "valid"),
    [
        ("{content}", True),
        ("[{id}] {title}\n{content}", True),
        ("{{{content}}}", True),
        ("{{content}} {content}", True),
        ("{content}{content}", True),
        ("[{id}] {title}", False),
        ("{{content}}", False),
        ("{{{{content}}}}", False),
        ("{content:>9}", False),
        ("", False),
        ("x\n", False),
    ],
)
def test_a_document_template_is_judged_alike(template: str, valid: bool) -> None:
    """The replay sends what the template renders: without a real {content} nothing can leak."""
    case = case_data(input={"messages": [{"role": "user", "content": "hi"}]})
    case["input"]["document_template"] = template
    reference = _shipped_validator()
    assert reference.is_valid(case) is valid
    assert _disagreement(case, reference, valid) is None


@pytest.mark.parametrize(
    ("version", "valid"),
    [(1, True), (2, False), (True, False), (1.0, True), ("1", False), (None, False)],
)
def test_a_const_is_judged_alike(version: Any, valid: bool) -> None:
    """The compiled check writes ``const: x`` as ``enum: [x]``: both match with one rule."""
    case = case_data(schema_version=version)
    reference = _shipped_validator()
    assert reference.is_valid(case) is valid
    assert _disagreement(case, reference, valid) is None


def test_const_as_enum_rewrites_keywords_not_names() -> None:
    schema: dict[str, Any] = {
        "properties": {"const": {"const": 1}, "enum": {"type": "string"}},
        "anyOf": [{"const": "a"}, {"const": None}],
        "enum": [{"const": 2}],
        "default": {"const": 3},
    }
    assert _const_as_enum(schema) == {
        "properties": {"const": {"enum": [1]}, "enum": {"type": "string"}},
        "anyOf": [{"enum": ["a"]}, {"enum": [None]}],
        "enum": [{"const": 2}],
        "default": {"const": 3},
    }
    # Not a copy that shares: the shipped schema is loaded once and shared.
    assert schema["properties"]["const"] == {"const": 1}


# --- why the verdicts can be equal ----------------------------------------------------------------

#: Keywords that fastjsonschema (draft-07 rules, for a schema naming 2020-12) and jsonschema
#: (Draft 2020-12) read alike. Not here: ``prefixItems``, ``unevaluated*``, ``dependent*``,
#: ``$anchor``/``$dynamicRef``, ``minContains``/``maxContains`` (unknown to fastjsonschema, so
#: ignored), ``items`` as a list (a tuple in draft-07, an error in 2020-12), ``format``
#: (asserted by fastjsonschema, an annotation for jsonschema), ``multipleOf`` (fastjsonschema
#: divides floats as decimals, jsonschema as floats).
_READ_ALIKE = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties",
        "minProperties", "maxProperties", "propertyNames", "items", "minItems", "maxItems",
        "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "anyOf", "allOf", "oneOf", "not", "if", "then",
        "else",
    }
)  # fmt: skip
#: Keywords neither validator judges by. ``default`` would be written into the case by
#: fastjsonschema's ``use_default``, which the loader turns off (the differential test checks).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
     "patternErrorMessage", "errorMessage"}
)  # fmt: skip
_ONE_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "propertyNames")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf")
#: An unescaped ``$`` (fastjsonschema rewrites each to ``\Z``) not followed by ``(?!\n)``.
_LOOSE_DOLLAR = re.compile(r"(?<!\\)\$(?!\(\?!\\n\))")


def _problems(root: dict[str, Any]) -> Iterator[str]:
    """What in ``root``, as validation reaches it, the two validators could read apart."""

    def resolve(reference: str) -> Any:
        node: Any = root
        for part in reference.removeprefix("#/").split("/"):
            node = node[part]
        return node

    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("#", root)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, bool) or id(node) in seen:
            continue
        seen.add(id(node))
        if not isinstance(node, dict):
            yield f"{where}: not a schema"
            continue
        if "$ref" in node:
            if len(node) > 1:
                yield f"{where}: {sorted(set(node) - {'$ref'})} beside $ref"
            stack.append((node["$ref"], resolve(node["$ref"])))
            continue
        for key, value in node.items():
            if key not in _READ_ALIKE and key not in _ANNOTATIONS:
                yield f"{where}: {key}"
            elif key == "items" and not isinstance(value, dict | bool):
                yield f"{where}: items as a list"
            elif key == "pattern" and _LOOSE_DOLLAR.search(value):
                yield f"{where}: $ without (?!\\n) in {value!r}"
        for key, value in node.get("properties", {}).items():
            stack.append((f"{where}/properties/{key}", value))
        stack.extend((f"{where}/{key}", node[key]) for key in _ONE_SCHEMA if key in node)
        for key in _SCHEMA_LISTS:
            stack.extend((f"{where}/{key}/{i}", v) for i, v in enumerate(node.get(key, ())))


@pytest.mark.parametrize("name", ["case", "results"])
def test_the_shipped_schemas_use_only_what_both_validators_read_alike(name: str) -> None:
    assert list(_problems(load_schema(name))) == []


def test_the_separately_compiled_parts_stand_alone() -> None:
    # The loader compiles each constraint argument and generator options schema on its own:
    # a reference in one would point into a document that is not there.
    defs = _schema()["$defs"]
    for group in ("constraints", "generators"):
        for name, part in defs[group].items():
            assert "$ref" not in json.dumps(part), (group, name)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/a", "required": ["b"]}}},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^a$"}}},
        {"type": "array", "prefixItems": [{"type": "string"}]},
        {"type": "string", "format": "email"},
    ],
)
def test_each_difference_is_found(schema: dict[str, Any]) -> None:
    assert list(_problems({**schema, "$defs": {"a": {"type": "object"}}})) != []


@pytest.mark.parametrize(
    ("accepted", "valid"),
    [
        (["Never put glue on a pizza."], True),
        ([{"output": "Use less sauce."}], True),
        ([{"output": "Ordered.", "tool_calls": [{"name": "order", "arguments": {"x": 1}}]}], True),
        ([], False),
        ([""], False),
        ([3], False),
        ("Use less sauce.", False),
        ([{"tool_calls": []}], False),
        ([{"output": "x", "note": "y"}], False),
        ([{"output": "x", "tool_calls": [{"arguments": {}}]}], False),
    ],
)
def test_accepted_outputs_are_judged_alike(accepted: Any, valid: bool) -> None:
    case = case_data(expect=[{"not_contains": "glue on"}])
    case["accepted_outputs"] = accepted
    reference = _shipped_validator()
    assert reference.is_valid(case) is valid
    assert _disagreement(case, reference, valid) is None


@pytest.mark.parametrize(
    ("samples", "valid"), [(1, True), (15, True), (0, False), (16, False), ("3", False)]
)
def test_judge_samples_are_judged_alike(samples: Any, valid: bool) -> None:
    case = case_data(expect=[{"judge": {"rubric": "r", "samples": samples}}])
    reference = _shipped_validator()
    assert reference.is_valid(case) is valid
    assert _disagreement(case, reference, valid) is None


@pytest.mark.parametrize(
    ("guard", "valid"),
    [
        ({"applies": "always"}, True),
        ({"when": {"user_matches": "refund", "constraints": ["not_contains"]}}, True),
        ({"when": [{"tool_called": ["send_email"]}, {"user_matches": "x"}]}, True),
        ({"exclude": ["not_contains"]}, True),
        ({}, True),
        ({"when": {}}, False),
        ({"when": []}, False),
        ({"exclude": []}, False),
        ({"exclude": ["a", "a"]}, False),
        ({"exclude": ["not_contains\n"]}, False),
        ({"when": {"constraints": ["bad name"]}}, False),
        ({"applies": "sometimes"}, False),
        ({"when": {"user_matches": ""}}, False),
        ({"when": {"tool_called": []}}, False),
        ({"other": 1}, False),
        ([], False),
    ],
)
def test_guard_blocks_are_judged_alike(guard: Any, valid: bool) -> None:
    case = case_data(expect=[{"not_contains": "60 days"}])
    case["guard"] = guard
    reference = _shipped_validator()
    assert reference.is_valid(case) is valid
    assert _disagreement(case, reference, valid) is None
