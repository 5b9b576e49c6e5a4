"""Case files -> ``IncidentCase``: safe, line-numbered YAML checked against the shipped schema."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_evals.constraints import (
    BoundConstraint,
    ConstraintArgumentError,
    ConstraintRegistry,
)

if TYPE_CHECKING:
    from incident_evals.variants import VariantRegistry

CATEGORIES = ("correctness", "safety", "security", "autonomy", "fairness")
SEVERITIES = ("minor", "major", "critical")
STATUSES = ("open", "mitigated", "resolved")
DEFAULT_DOCUMENT_TEMPLATE = '<document id="{id}" title="{title}">{content}</document>'
DEFAULT_MAX_TURNS = 8


@dataclass(frozen=True)
class Document:
    id: str
    content: str
    title: str = ""
    sensitive: bool = False
    markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordedResponse:
    output: Any
    #: Subset of the parsed arguments that selects this response; ``None`` is the fallback.
    when: dict[str, Any] | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    responses: tuple[RecordedResponse, ...] = ()


@dataclass(frozen=True)
class CaseInput:
    messages: tuple[dict[str, Any], ...]
    system: str | None = None
    documents: tuple[Document, ...] = ()
    document_template: str | None = None
    tools: tuple[Tool, ...] = ()


@dataclass(frozen=True)
class Incident:
    category: str
    severity: str
    status: str = "resolved"
    date: str | None = None
    owner: str | None = None
    postmortem: str | None = None
    summary: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConstraintSpec:
    """One entry of ``expect`` as written: ``{name: argument}``, with where it was written."""

    name: str
    argument: Any
    line: int


@dataclass(frozen=True)
class GeneratorSpec:
    """One entry of ``variants.generate``: ``{name: options}``, ``count`` taken out."""

    name: str
    options: dict[str, Any]
    count: int
    line: int


@dataclass(frozen=True)
class HandWrittenVariant:
    """One entry of ``variants.cases``: the case's input with the given fields replaced."""

    name: str
    input: CaseInput
    #: Its own constraints, when it overrides the case's ``expect``.
    expect: tuple[ConstraintSpec, ...] | None
    line: int


@dataclass(frozen=True)
class VariantsSpec:
    generate: tuple[GeneratorSpec, ...] = ()
    cases: tuple[HandWrittenVariant, ...] = ()


@dataclass(frozen=True)
class Runs:
    repeats: int = 1
    min_pass_rate: float = 1.0
    max_turns: int = DEFAULT_MAX_TURNS
    #: Where ``runs.max_turns`` is written, if it is.
    max_turns_line: int | None = None


@dataclass(frozen=True)
class IncidentCase:
    id: str
    incident: Incident
    input: CaseInput
    expect: tuple[ConstraintSpec, ...]
    path: Path
    line: int
    title: str = ""
    #: Model params recorded with the incident (``name`` is the record only, never sent).
    model: dict[str, Any] = field(default_factory=dict)
    recorded_output: str | None = None
    recorded_tool_calls: tuple[dict[str, Any], ...] = ()
    variants: VariantsSpec = field(default_factory=VariantsSpec)
    runs: Runs = field(default_factory=Runs)

    def document(self, doc_id: str) -> Document | None:
        return next((doc for doc in self.input.documents if doc.id == doc_id), None)

    def tool(self, name: str) -> Tool | None:
        return next((tool for tool in self.input.tools if tool.name == name), None)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

#: Upper bound on YAML nodes after alias expansion; a "billion laughs" file trips it quickly.
MAX_EXPANDED_NODES = 100_000
_TEMPLATE_FIELDS = frozenset({"id", "title", "content"})


class CaseError(Exception):
    """A problem with a case file, reported as one line: ``file:line: field: message``."""

    def __init__(self, path: Path, line: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.field = field
        self.message = message

    def render(self, base: Path | None = None) -> str:
        shown: Path | str = self.path
        if base is not None:
            try:
                shown = self.path.resolve().relative_to(base.resolve())
            except ValueError:
                shown = self.path
        location = f"{shown}:{self.line}"
        return (
            f"{location}: {self.field}: {self.message}"
            if self.field
            else f"{location}: {self.message}"
        )

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class LoadedCase:
    case: IncidentCase
    constraints: tuple[BoundConstraint, ...]
    #: The constraints of hand-written variants that override ``expect``, by variant name.
    variant_constraints: dict[str, tuple[BoundConstraint, ...]] = field(default_factory=dict)


def format_field(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class _Lines:
    """Line numbers (1-based) of every value in a document, by JSON path."""

    def __init__(self, document_line: int) -> None:
        self.by_path: dict[tuple[str | int, ...], int] = {}
        self.document_line = document_line

    def of(self, path: tuple[str | int, ...]) -> int:
        # An error on a missing key is reported on the mapping that lacks it.
        while path:
            if path in self.by_path:
                return self.by_path[path]
            path = path[:-1]
        return self.by_path.get((), self.document_line)


def _plain_data(node: Any, lines: _Lines, path: Path) -> Any:
    """Build plain Python data from a composed YAML node, recording lines as it goes.

    Only the tags of the YAML core schema are accepted (no ``!!python/*``, no custom tags).
    Timestamps stay strings so that ``date: 2025-11-02`` means what it says.
    """
    import yaml

    constructor = yaml.constructor.SafeConstructor()
    budget = [MAX_EXPANDED_NODES]
    scalar_tags = {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }

    def walk(current: Any, where: tuple[str | int, ...]) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise CaseError(
                path,
                current.start_mark.line + 1,
                f"document expands to more than {MAX_EXPANDED_NODES} YAML nodes "
                "(recursive or exponential aliases?)",
            )
        lines.by_path.setdefault(where, current.start_mark.line + 1)
        line = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            if current.tag != "tag:yaml.org,2002:map":
                raise CaseError(
                    path, line, f"unsupported YAML tag {current.tag}", format_field(where)
                )
            constructor.flatten_mapping(current)
            result: dict[str, Any] = {}
            for key_node, value_node in current.value:
                key = (
                    key_node.value
                    if isinstance(key_node, yaml.ScalarNode) and key_node.tag in scalar_tags
                    else None
                )
                if not isinstance(key, str) or key_node.tag != "tag:yaml.org,2002:str":
                    raise CaseError(
                        path,
                        key_node.start_mark.line + 1,
                        f"mapping key {key!r} is not a string",
                        format_field(where),
                    )
                if key in result:
                    raise CaseError(
                        path,
                        key_node.start_mark.line + 1,
                        f"duplicate key {key!r}",
                        format_field((*where, key)),
                    )
                # A field's line is its key's line, also when its value starts below it.
                lines.by_path.setdefault((*where, key), key_node.start_mark.line + 1)
                result[key] = walk(value_node, (*where, key))
            return result
        if isinstance(current, yaml.SequenceNode):
            if current.tag != "tag:yaml.org,2002:seq":
                raise CaseError(
                    path, line, f"unsupported YAML tag {current.tag}", format_field(where)
                )
            return [walk(item, (*where, index)) for index, item in enumerate(current.value)]
        if current.tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:str"):
            return current.value  # most scalars are strings: no constructor needed
        if current.tag not in scalar_tags:
            raise CaseError(path, line, f"unsupported YAML tag {current.tag}", format_field(where))
        return constructor.construct_object(current, deep=True)

    return walk(node, ())


@functools.cache
def _schema_constraint_names() -> frozenset[str]:
    return frozenset(load_schema("case")["$defs"]["constraints"])


@functools.cache
def _schema_generator_names() -> frozenset[str]:
    return frozenset(load_schema("case")["$defs"]["generators"])


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    # The case schema has no recursive references: inlined, validation skips jsonschema's
    # reference resolution, which is most of its cost per case.
    schema = load_schema("case")
    return Draft202012Validator(_inline_refs(schema, schema))


def _inline_refs(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node and str(node["$ref"]).startswith("#/"):
            target: Any = root
            for part in str(node["$ref"])[2:].split("/"):
                target = target[part]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline_refs(target, root), **_inline_refs(siblings, root)}
        return {k: _inline_refs(v, root) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, root) for item in node]
    return node


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema shipped in the package (``case``); shared, so never edit the result."""
    import json
    from importlib.resources import files

    text = files("incident_evals").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "list",
    dict: "mapping",
    type(None): "null",
}


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _expected_types(errors: list[Any]) -> str:
    names = {"array": "list", "object": "mapping"}
    wanted: dict[str, None] = {}
    for error in errors:
        value = error.validator_value
        for json_type in value if isinstance(value, list) else [value]:
            wanted[names.get(json_type) or json_type] = None
    return " or ".join(wanted)


def _schema_error_text(error: Any) -> tuple[tuple[str | int, ...], str]:
    """Where an error is (a JSON path, to the offending key where there is one) and what to say."""
    if error.validator == "oneOf" and not error.context:
        # Valid under several branches: e.g. both `content` and `content_file`.
        names = [n for branch in error.validator_value for n in branch.get("required", ())]
        if names:
            return tuple(error.absolute_path), f"give only one of: {', '.join(names)}"
    while error.validator in ("oneOf", "anyOf") and error.context:
        level = error.absolute_path
        branches = list(error.context)
        # A type mismatch at this level only says the user meant another branch.
        others = [e for e in branches if not (e.validator == "type" and e.absolute_path == level)]
        if not others:
            return tuple(level), _wrong_type(error.instance, _expected_types(branches))
        if all(e.validator == "required" and e.absolute_path == level for e in others):
            names = [n for e in others for n in e.validator_value if n not in error.instance]
            return tuple(level), f"needs one of: {', '.join(dict.fromkeys(names))}"
        error = _most_specific(others)
    where = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        unknown = sorted(key for key in error.instance if key not in known)
        return (*where, unknown[0]), f"unknown field (known: {', '.join(sorted(known))})"
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return (*where, missing), "required field is missing"
    if error.validator == "type":
        return where, _wrong_type(error.instance, _expected_types([error]))
    if error.validator == "minItems" and where == ("expect",):
        # What `incident-evals new` leaves for the engineer to write.
        return where, (
            "is empty: add at least one constraint, what must never happen again "
            "(see docs/constraints.md)"
        )
    return where, error.message


def _wrong_type(instance: Any, expected: str) -> str:
    hint = ""
    if isinstance(instance, bool):
        # YAML 1.1 reads unquoted yes/no/on/off/true/false as booleans.
        hint = " (quote it if you meant the word)"
    if instance is None:
        # An empty value in YAML (`no_pii:` with nothing after it) reads as null.
        return f"expected {expected}, got nothing (null)"
    return f"expected {expected}, got {_type_name(instance)} {instance!r}{hint}"


#: ``$defs`` groups the compiled case check leaves out, to check each entry as it is used.
_PARTS = ("constraints", "generators")


@functools.cache
def _fastjsonschema() -> Any:
    # One import for the case check and every part check: a host that unloads and re-imports
    # modules (pytest's own ``pytester`` does) would otherwise pair a cached check with a newer,
    # different exception class.
    import fastjsonschema

    return fastjsonschema


@functools.cache
def _fast_check() -> Any:
    """The compiled case check, without the built-in constraint and generator argument schemas.

    Those are most of the schema, and a catalogue uses a few of them: compiling them all costs
    more than checking a thousand cases, so each is compiled on first use (:func:`_fast_part`).
    """
    import copy

    schema = copy.deepcopy(load_schema("case"))
    for group in _PARTS:
        schema["$defs"][group] = {name: {} for name in schema["$defs"][group]}
    return _fastjsonschema().compile(schema)


@functools.cache
def _fast_part(group: str, name: str) -> Any:
    import copy

    return _fastjsonschema().compile(copy.deepcopy(load_schema("case")["$defs"][group][name]))


def _parts(data: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """The constraint arguments and generator options of a case, as ``(group, name, value)``."""
    defs = load_schema("case")["$defs"]
    variants = data.get("variants") or {}
    entries = [*data.get("expect", ())]
    for written in variants.get("cases", ()):
        entries.extend(written.get("expect", ()))
    for entry in entries:
        for name, argument in entry.items():
            if name in defs["constraints"]:
                yield "constraints", name, argument
    for entry in variants.get("generate", ()):
        for name, options in entry.items():
            if name in defs["generators"]:
                yield "generators", name, options


def _first_schema_error(data: Any) -> Any:
    """The error to report, or None. jsonschema explains; fastjsonschema finds valid cases fast.

    A catalogue is almost all valid cases, and jsonschema spends ~0.2 ms on each: the compiled
    check clears those in a tenth of that (SPEC §10 overhead), and jsonschema, still the judge,
    only runs on a case that check rejects.
    """
    rejected = _fastjsonschema().JsonSchemaException
    try:
        _fast_check()(data)
        for group, name, value in _parts(data):
            _fast_part(group, name)(value)
    except rejected:
        return _most_specific(_validator().iter_errors(data))
    return None


def _most_specific(errors: Any) -> Any:
    """The error that tells the user most: the deepest one."""
    return min(errors, key=lambda error: -len(error.absolute_path), default=None)


def _read_content_file(
    relative: str, case_path: Path, root: Path, lines: _Lines, where: tuple[str | int, ...]
) -> str:
    target = (case_path.parent / relative).resolve()
    field = format_field((*where, "content_file"))
    line = lines.of((*where, "content_file"))
    if not target.is_relative_to(root.resolve()):
        raise CaseError(
            case_path, line, f"{relative!r} leaves the case catalogue root {root}", field
        )
    try:
        return target.read_text("utf-8")
    except FileNotFoundError:
        raise CaseError(case_path, line, f"{relative!r} does not exist", field) from None
    except UnicodeDecodeError as exc:
        raise CaseError(
            case_path, line, f"{relative!r} is not UTF-8 ({exc.reason})", field
        ) from None
    except OSError as exc:
        raise CaseError(
            case_path, line, f"{relative!r} cannot be read: {exc.strerror}", field
        ) from None


def _build_input(
    raw: dict[str, Any],
    case_path: Path,
    root: Path,
    lines: _Lines,
    where: tuple[str | int, ...],
    overridden: frozenset[str] = frozenset(),
    override_at: tuple[str | int, ...] = (),
) -> CaseInput:
    """``raw`` as a CaseInput; the fields in ``overridden`` were written at ``override_at``."""

    def base(key: str) -> tuple[str | int, ...]:
        # A hand-written variant's own fields are reported at its lines, the rest at the case's.
        return override_at if key in overridden else where

    def text(value: Any, at: tuple[str | int, ...]) -> Any:
        if isinstance(value, dict) and "content_file" in value:
            return _read_content_file(value["content_file"], case_path, root, lines, at)
        return value

    messages = []
    for index, message in enumerate(raw.get("messages", ())):
        message = dict(message)
        if "content" in message:
            message["content"] = text(
                message["content"], (*base("messages"), "messages", index, "content")
            )
        messages.append(message)

    documents: list[Document] = []
    seen_documents: set[str] = set()
    for index, doc in enumerate(raw.get("documents", ())):
        at = (*base("documents"), "documents", index)
        if doc["id"] in seen_documents:
            raise CaseError(
                case_path,
                lines.of((*at, "id")),
                f"duplicate document id {doc['id']!r}",
                format_field((*at, "id")),
            )
        seen_documents.add(doc["id"])
        if doc.get("markers") and not doc.get("sensitive", False):
            # no_leak searches only sensitive documents' markers: these would never be searched.
            raise CaseError(
                case_path,
                lines.of((*at, "markers")),
                "markers are only searched for in sensitive documents: add sensitive: true, "
                "or remove the markers",
                format_field((*at, "markers")),
            )
        content = (
            doc["content"] if "content" in doc else text({"content_file": doc["content_file"]}, at)
        )
        documents.append(
            Document(
                id=doc["id"],
                content=content,
                title=doc.get("title", ""),
                sensitive=doc.get("sensitive", False),
                markers=tuple(doc.get("markers", ())),
            )
        )

    template = raw.get("document_template")
    if template is not None:
        _check_template(
            template, case_path, lines, (*base("document_template"), "document_template")
        )

    tools: list[Tool] = []
    seen_tools: set[str] = set()
    for index, tool in enumerate(raw.get("tools", ())):
        at = (*base("tools"), "tools", index)
        if tool["name"] in seen_tools:
            raise CaseError(
                case_path,
                lines.of((*at, "name")),
                f"duplicate tool name {tool['name']!r}",
                format_field((*at, "name")),
            )
        seen_tools.add(tool["name"])
        tools.append(
            Tool(
                name=tool["name"],
                description=tool.get("description", ""),
                parameters=tool.get("parameters", {"type": "object", "properties": {}}),
                responses=tuple(
                    RecordedResponse(output=response["output"], when=response.get("when"))
                    for response in tool.get("responses", ())
                ),
            )
        )

    system = raw.get("system")
    return CaseInput(
        messages=tuple(messages),
        system=text(system, (*base("system"), "system")) if system is not None else None,
        documents=tuple(documents),
        document_template=template,
        tools=tuple(tools),
    )


def _check_template(
    template: str, case_path: Path, lines: _Lines, where: tuple[str | int, ...]
) -> None:
    import string

    line, field = lines.of(where), format_field(where)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise CaseError(case_path, line, f"bad template: {exc}", field) from None
    unknown = sorted(names - _TEMPLATE_FIELDS)
    if unknown:
        raise CaseError(
            case_path,
            line,
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            "use {id}, {title}, {content}",
            field,
        )


def _build_case(data: dict[str, Any], case_path: Path, root: Path, lines: _Lines) -> IncidentCase:
    incident = data["incident"]
    runs = data.get("runs", {})
    return IncidentCase(
        id=data["id"],
        title=data.get("title", ""),
        incident=Incident(
            category=incident["category"],
            severity=incident["severity"],
            status=incident.get("status", "resolved"),
            date=incident.get("date"),
            owner=incident.get("owner"),
            postmortem=incident.get("postmortem"),
            summary=incident.get("summary"),
            tags=tuple(incident.get("tags", ())),
        ),
        model=dict(data.get("model", {})),
        input=_build_input(data["input"], case_path, root, lines, ("input",)),
        expect=_constraint_specs(data["expect"], lines, ("expect",)),
        path=case_path,
        line=lines.of(("id",)),
        recorded_output=data.get("recorded_output"),
        recorded_tool_calls=tuple(data.get("recorded_tool_calls", ())),
        variants=_build_variants(data, case_path, root, lines),
        runs=Runs(
            repeats=runs.get("repeats", 1),
            min_pass_rate=runs.get("min_pass_rate", 1.0),
            max_turns=runs.get("max_turns", DEFAULT_MAX_TURNS),
            max_turns_line=lines.by_path.get(("runs", "max_turns")),
        ),
    )


def _constraint_specs(
    entries: list[dict[str, Any]], lines: _Lines, at: tuple[str | int, ...]
) -> tuple[ConstraintSpec, ...]:
    return tuple(
        ConstraintSpec(name=name, argument=argument, line=lines.of((*at, index)))
        for index, entry in enumerate(entries)
        for name, argument in entry.items()
    )


#: The most variants one generator entry may ask for (the case schema's limit too).
MAX_VARIANT_COUNT = 50
#: Item names a hand-written variant may not take.
RESERVED_VARIANT_NAMES = frozenset({"original", "recorded", "consistency"})


def _build_variants(
    data: dict[str, Any], case_path: Path, root: Path, lines: _Lines
) -> VariantsSpec:
    raw = data.get("variants") or {}
    generate: list[GeneratorSpec] = []
    for index, entry in enumerate(raw.get("generate", ())):
        ((name, options),) = entry.items()
        options = dict(options or {})
        count = options.pop("count", 1)
        line = lines.of(("variants", "generate", index))
        first = next((spec for spec in generate if spec.name == name), None)
        if first is not None:
            # Both would number their variants from 1: two items with one id.
            raise CaseError(
                case_path,
                line,
                f"generator {name!r} is declared twice (first at line {first.line}); declare it "
                "once, with count for more variants",
                format_field(("variants", "generate", index, name)),
            )
        generate.append(GeneratorSpec(name, options, count, line))
    cases = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw.get("cases", ())):
        at: tuple[str | int, ...] = ("variants", "cases", index)
        name = entry["name"]
        line = lines.of((*at, "name"))
        if name in RESERVED_VARIANT_NAMES:
            raise CaseError(
                case_path,
                line,
                f"{name!r} is reserved for the plugin's own items",
                format_field((*at, "name")),
            )
        if name in seen:
            raise CaseError(
                case_path,
                line,
                f"duplicate variant name {name!r} (first at line {seen[name]})",
                format_field((*at, "name")),
            )
        seen[name] = line
        overrides = {key: value for key, value in entry.items() if key not in ("name", "expect")}
        merged = {**data["input"], **overrides}
        # Fields it overrides are read at its own lines; the rest are the case's.
        built = _build_input(merged, case_path, root, lines, ("input",), frozenset(overrides), at)
        expect = (
            _constraint_specs(entry["expect"], lines, (*at, "expect"))
            if "expect" in entry
            else None
        )
        cases.append(HandWrittenVariant(name, built, expect, lines.of(at)))
    return VariantsSpec(tuple(generate), tuple(cases))


def _bind_constraints(
    case: IncidentCase,
    registry: ConstraintRegistry,
    lines: _Lines,
    at: tuple[str | int, ...] = ("expect",),
) -> tuple[BoundConstraint, ...]:
    bound = []
    for index, spec in enumerate(case.expect):
        where: tuple[str | int, ...] = (*at, index, spec.name)
        constraint = registry.get(spec.name)
        if constraint is None:
            raise CaseError(
                case.path,
                spec.line,
                f"unknown constraint {spec.name!r} (known: {', '.join(registry.names())})",
                format_field(where),
            )
        try:
            # Built-in arguments were checked with the case schema; projects bring their schema.
            error = None
            if spec.name not in _schema_constraint_names():
                validator = registry.argument_validator(spec.name)
                error = _most_specific(validator.iter_errors(spec.argument))
            if error is not None:
                sub, message = _schema_error_text(error)
                raise CaseError(
                    case.path, lines.of((*where, *sub)), message, format_field((*where, *sub))
                )
            check = constraint.build(spec.argument, case)
        except ConstraintArgumentError as exc:
            # A short-form argument is the field itself (`matches: "(x"` has no `pattern` key).
            named = isinstance(spec.argument, dict) and exc.field in spec.argument
            at = (*where, exc.field) if exc.field is not None and named else where
            raise CaseError(case.path, lines.of(at), str(exc), format_field(at)) from None
        except (CaseError, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # A project's build function is code we do not control (it may even call
            # sys.exit()): one line, not a traceback.
            from incident_evals.constraints.custom import describe_exception

            raise CaseError(
                case.path,
                spec.line,
                f"building the constraint raised {describe_exception(exc)}",
                format_field(where),
            ) from None
        bound.append(BoundConstraint(spec.name, spec.argument, spec.line, check))
    return tuple(bound)


def load_file(
    path: Path,
    root: Path,
    registry: ConstraintRegistry,
    variants: VariantRegistry | Callable[[], VariantRegistry] | None = None,
) -> list[LoadedCase | CaseError]:
    """Every case of one file, in order; a bad document becomes a ``CaseError`` in its place.

    ``root`` is the case catalogue root that ``content_file`` paths may not leave. A problem
    that stops the YAML parser ends the list with its error; the documents before it stand.
    ``variants`` (or a function making it, called only for a case that declares generators)
    defaults to the built-in generators.
    """
    import yaml

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [CaseError(path, 1, f"cannot be read: {exc.strerror}")]
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [CaseError(path, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)")]

    results: list[LoadedCase | CaseError] = []
    seen_ids: dict[str, int] = {}
    try:
        # libyaml's composer when PyYAML has it (its wheels do): 20x faster, same nodes.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        for node in yaml.compose_all(source, Loader=loader):
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
                continue  # an empty document, e.g. after a trailing `---`
            lines = _Lines(node.start_mark.line + 1)
            try:
                results.append(
                    _load_document(node, path, root, registry, variants, lines, seen_ids)
                )
            except CaseError as error:
                results.append(error)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        results.append(CaseError(path, line, f"invalid YAML: {problem}"))
    except yaml.YAMLError as exc:
        results.append(CaseError(path, 1, f"invalid YAML: {exc}"))
    return results


def _load_document(
    node: Any,
    path: Path,
    root: Path,
    registry: ConstraintRegistry,
    variants: VariantRegistry | Callable[[], VariantRegistry] | None,
    lines: _Lines,
    seen_ids: dict[str, int],
) -> LoadedCase:
    data = _plain_data(node, lines, path)
    if not isinstance(data, dict):
        raise CaseError(
            path, lines.document_line, "a case must be a mapping (id, incident, input, expect)"
        )
    error = _first_schema_error(data)
    if error is not None:
        where, message = _schema_error_text(error)
        raise CaseError(path, lines.of(where), message, format_field(where))
    case_id = data["id"]
    if case_id in seen_ids:
        raise CaseError(
            path,
            lines.of(("id",)),
            f"duplicate case id {case_id!r} (first at line {seen_ids[case_id]})",
            "id",
        )
    seen_ids[case_id] = lines.of(("id",))
    case = _build_case(data, path, root, lines)
    constraints = _bind_constraints(case, registry, lines)
    if case.variants.generate:
        # Built lazily: the generators' modules cost an import a catalogue without variants
        # need not pay.
        _check_generators(
            case, variants() if callable(variants) else variants or _builtin_variants()
        )
    variant_constraints = {}
    for index, variant in enumerate(case.variants.cases):
        if variant.expect is not None:
            as_written = dataclasses.replace(case, input=variant.input, expect=variant.expect)
            at = ("variants", "cases", index, "expect")
            variant_constraints[variant.name] = _bind_constraints(as_written, registry, lines, at)
    # Last: a skeleton's first problem is its empty `expect`, then what it still has to say.
    from incident_evals.placeholders import find_placeholder

    left = find_placeholder(data)
    if left is not None:
        where, text = left
        message = (
            f"still the placeholder that incident-evals new wrote ({text!r}): replace it with "
            "the incident's own text"
        )
        raise CaseError(path, lines.of(where), message, format_field(where))
    return LoadedCase(case, constraints, variant_constraints)


@functools.cache
def _builtin_variants() -> VariantRegistry:
    from incident_evals.variants import builtin_variant_registry

    return builtin_variant_registry()


def _check_generators(case: IncidentCase, registry: VariantRegistry) -> None:
    """Unknown generators, bad options, and generators that cannot apply to this case."""
    from incident_evals.variants import VariantError

    declared = {spec.name for spec in case.variants.generate}
    for index, spec in enumerate(case.variants.generate):
        where: tuple[str | int, ...] = ("variants", "generate", index, spec.name)
        generator = registry.get(spec.name)
        if generator is None:
            raise CaseError(
                case.path,
                spec.line,
                f"unknown variant generator {spec.name!r} (known: {', '.join(registry.names())})",
                format_field(where),
            )
        if spec.name not in _schema_generator_names():
            from jsonschema import Draft202012Validator

            # `count` is the core's: a project schema describes only its own options.
            error = _most_specific(
                Draft202012Validator(generator.options_schema).iter_errors(spec.options)
            )
            if error is None and not (
                isinstance(spec.count, int)
                and not isinstance(spec.count, bool)
                and 1 <= spec.count <= MAX_VARIANT_COUNT
            ):
                raise CaseError(
                    case.path,
                    spec.line,
                    f"expected a whole number from 1 to {MAX_VARIANT_COUNT}, got {spec.count!r}",
                    format_field((*where, "count")),
                )
            if error is not None:
                sub, message = _schema_error_text(error)
                raise CaseError(case.path, spec.line, message, format_field((*where, *sub)))
        if generator.check is not None:
            try:
                generator.check(case, spec.options)
            except VariantError as exc:
                at = (*where, exc.field) if exc.field is not None else where
                raise CaseError(case.path, spec.line, str(exc), format_field(at)) from None
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                # A project generator's check: whatever it raises is this case's one line.
                from incident_evals.constraints.custom import describe_exception

                raise CaseError(
                    case.path,
                    spec.line,
                    f"checking the generator's options raised {describe_exception(exc)}",
                    format_field(where),
                ) from None
    for index, variant in enumerate(case.variants.cases):
        taken = variant.name.rpartition("-")
        if taken[0] in declared and taken[2].isdigit():
            raise CaseError(
                case.path,
                variant.line,
                f"variant name {variant.name!r} is the id of a generated variant; choose another",
                format_field(("variants", "cases", index, "name")),
            )


def catalogue_root(path: Path, roots: list[Path]) -> Path:
    """The case catalogue ``path`` belongs to: the outermost root folder holding it.

    A root that names a file stands for its folder, and a file outside every root is in a
    catalogue of its own folder. ``content_file`` paths may not leave this root.
    """
    resolved = path.resolve()
    folders = [root.resolve() if root.is_dir() else root.resolve().parent for root in roots]
    holding = [folder for folder in folders if resolved.is_relative_to(folder)]
    if holding:
        return min(holding, key=lambda folder: len(folder.parts))
    return resolved.parent


def claim_id(
    result: LoadedCase | CaseError, seen: dict[str, tuple[Path, int]], base: Path
) -> LoadedCase | CaseError:
    """Case ids are unique across the catalogue: the first file to claim one keeps it."""
    if isinstance(result, CaseError):
        return result
    case = result.case
    first = seen.setdefault(case.id, (case.path, case.line))
    if first == (case.path, case.line):
        return result
    try:
        shown: Path | str = first[0].resolve().relative_to(base.resolve())
    except ValueError:
        shown = first[0]
    return CaseError(
        case.path,
        case.line,
        f"duplicate case id {case.id!r} (first defined at {shown}:{first[1]})",
        "id",
    )


def case_files(path: Path) -> list[Path]:
    """The case files at ``path``: the file itself, or every .yaml/.yml below it, sorted."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
