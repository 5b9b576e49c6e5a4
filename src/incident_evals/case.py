"""Case files -> ``IncidentCase``: safe, line-numbered YAML checked against the shipped schema."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

# What a case file becomes is defined below the constraints and variants that use it, and
# imported from here as well.
from incident_evals.case_types import DEFAULT_DOCUMENT_TEMPLATE as DEFAULT_DOCUMENT_TEMPLATE
from incident_evals.case_types import DEFAULT_MAX_TURNS as DEFAULT_MAX_TURNS
from incident_evals.case_types import AcceptedOutput as AcceptedOutput
from incident_evals.case_types import Action as Action
from incident_evals.case_types import CaseInput as CaseInput
from incident_evals.case_types import ConstraintSpec as ConstraintSpec
from incident_evals.case_types import Document as Document
from incident_evals.case_types import GeneratorSpec as GeneratorSpec
from incident_evals.case_types import GuardCondition as GuardCondition
from incident_evals.case_types import GuardSpec as GuardSpec
from incident_evals.case_types import HandWrittenVariant as HandWrittenVariant
from incident_evals.case_types import Incident as Incident
from incident_evals.case_types import IncidentCase as IncidentCase
from incident_evals.case_types import RecordedResponse as RecordedResponse
from incident_evals.case_types import Runs as Runs
from incident_evals.case_types import Tool as Tool
from incident_evals.case_types import VariantsSpec as VariantsSpec
from incident_evals.case_types import generated_turns
from incident_evals.constraints import BoundConstraint, ConstraintArgumentError, ConstraintRegistry
from incident_evals.constraints import LoadedCase as LoadedCase
from incident_evals.errors import describe_exception
from incident_evals.schema_errors import case_error, most_specific
from incident_evals.schema_files import load_schema as load_schema
from incident_evals.traces import Source
from incident_evals.vocabulary import REGENERATE

if TYPE_CHECKING:
    from incident_evals.variants import VariantRegistry

# Limits that keep every later step of a run safe from what a case file says (docs/case-format.md,
# "Limits"). The case schema carries the same numbers where it can express them.

#: The largest case file, in bytes: checked before the file is read.
MAX_FILE_BYTES = 8 * 1024 * 1024
#: YAML nodes in one file, an alias counting as the nodes it repeats: checked while parsing.
MAX_NODES = 100_000
#: Mappings and lists nested in one another, aliases expanded: checked while parsing.
MAX_DEPTH = 64
#: The longest text (a system prompt, message, document or recorded output), in characters.
MAX_TEXT = 4 * 1024 * 1024
#: All the text of a case's input together (system, messages, documents), in characters.
MAX_INPUT_TEXT = 4 * 1024 * 1024
#: All the sensitive documents of a case together, in characters: no_leak indexes every span.
MAX_SENSITIVE_TEXT = 256 * 1024
#: Samples a case declares: (the case and its variants) x runs.repeats.
MAX_SAMPLES = 10_000
_TEMPLATE_FIELDS = frozenset({"id", "title", "content"})
#: Placeholders in a document_template; {content} appears exactly once (the schema's pattern
#: asks for it: a template without it never sends the documents, so nothing could leak).
MAX_TEMPLATE_FIELDS = 8


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


class EmptyCaseFileWarning(UserWarning):
    """A case file with no case in it: empty, or only comments. Not an error, not silence."""

    def __init__(self, path: Path) -> None:
        super().__init__("no case in this file (it is empty, or only comments)")
        self.path = path

    def line(self, base: Path | None = None) -> str:
        """The warning as ``incident-evals validate`` prints it."""
        return f"{_relative(self.path, base)}: warning: no case in this file"


def _relative(path: Path, base: Path | None) -> Path | str:
    if base is not None:
        try:
            return path.resolve().relative_to(base.resolve())
        except ValueError:
            pass
    return path


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


class _TooBig(Exception):
    """A limit of the whole file is reached: the file is not read any further."""

    def __init__(self, error: CaseError) -> None:
        super().__init__(error.message)
        self.error = error


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
#: Scalars built by PyYAML's safe constructor; strings and timestamps stay as written.
_BUILT_SCALAR_TAGS = frozenset(
    {
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }
)
_SCALAR_TAGS = _BUILT_SCALAR_TAGS | {_STR_TAG}
#: Longer numbers are not numbers a case needs, and some (``1:1:1:...``, base 60) cost
#: quadratic time to build.
_MAX_NUMBER_TEXT = 100


class _Reader:
    """Plain data from the YAML events of one file, with every limit checked as it reads.

    The data is built straight from the parser's events (libyaml's when PyYAML has it), so
    nothing of a document is held beyond what it becomes, and the node count, the nesting depth
    and the nodes an alias repeats are known before anything is added: reading stops at the
    first limit (:data:`MAX_NODES`, :data:`MAX_DEPTH`) and the documents before it stand.
    Aliases share the data of their anchor, as PyYAML's own constructor does.

    Only the tags of the YAML core schema are accepted (no ``!!python/*``, no custom tags).
    Timestamps stay strings so that ``date: 2025-11-02`` means what it says. Numbers must be
    finite: JSON has no NaN or infinity, and no request parameter takes one.
    """

    def __init__(self, source: str, path: Path) -> None:
        import yaml

        self.path = path
        cparser = getattr(getattr(yaml, "cyaml", None), "CParser", None)
        # libyaml's parser when PyYAML has it (its wheels do): the events come from C.
        self.parser: Any = cparser(source) if cparser is not None else yaml.SafeLoader(source)
        self.get_event = self.parser.get_event
        self.check_event = self.parser.check_event
        resolver = yaml.resolver.Resolver()
        self.resolve: Callable[[Any, str, tuple[bool, bool]], str] = resolver.resolve
        # The resolver tries only the patterns listed under a plain scalar's first character
        # (and those listed under None, for any character): a text starting with none of those
        # characters is a string without trying any.
        implicit = resolver.yaml_implicit_resolvers
        self.initials: frozenset[str] | None = (
            None if None in implicit else frozenset(key for key in implicit if key)
        )
        self.constructor = yaml.constructor.SafeConstructor()
        self.events = yaml.events
        self.scalar_node = yaml.ScalarNode
        #: The tag of each plain scalar's text read so far: a file repeats its keys and many
        #: values, and the resolver tries its patterns on each (the tag depends on the text only).
        self.plain_tags: dict[str, str] = {}
        #: Nodes read so far in the file, aliases counted as the nodes they repeat.
        self.nodes = 0
        #: The deepest nesting reached so far, to measure what an anchor holds.
        self.deepest = 0
        #: Each anchor's data, nodes and nesting; None while its node is being read.
        self.anchors: dict[str, tuple[Any, int, int] | None] = {}

    def documents(self) -> Iterator[tuple[Any, _Lines] | CaseError]:
        """Each document's data and lines, or its error; a file limit ends the iteration."""
        try:
            self.get_event()  # the stream's start
            while not self.check_event(self.events.StreamEndEvent):
                self.get_event()  # the document's start
                lines = _Lines(self.parser.peek_event().start_mark.line + 1)
                self.anchors = {}
                try:
                    data = self.value((), lines, 1)
                except CaseError as error:
                    yield error
                    self.skip_document()
                    continue
                self.get_event()  # the document's end
                yield data, lines
        except _TooBig as refused:
            yield refused.error
        finally:
            dispose = getattr(self.parser, "dispose", None)
            if dispose is not None:
                dispose()

    def skip_document(self) -> None:
        """Read past the rest of a document that has an error, still counting its nodes."""
        events = self.events
        while True:
            event = self.get_event()
            if isinstance(event, events.DocumentEndEvent):
                return
            if isinstance(event, events.NodeEvent):
                self.count(1, event.start_mark.line + 1)

    def count(self, nodes: int, line: int, alias: str | None = None) -> None:
        self.nodes += nodes
        if self.nodes <= MAX_NODES:
            return
        if alias is not None:
            message = (
                f"alias *{alias} takes the file over {MAX_NODES:,} YAML nodes (an alias counts "
                "as the nodes it repeats: an alias bomb?)"
            )
        else:
            message = f"more than {MAX_NODES:,} YAML nodes in this file; split it into several"
        raise _TooBig(CaseError(self.path, line, message))

    def deep(self, line: int, where: tuple[str | int, ...]) -> _TooBig:
        # The field is where the nesting starts: its full path would be the whole depth long.
        return _TooBig(
            CaseError(
                self.path,
                line,
                f"nested more than {MAX_DEPTH} levels deep (aliases expanded)",
                format_field(where[:1]),
            )
        )

    def value(self, where: tuple[str | int, ...], lines: _Lines, depth: int) -> Any:
        """The data of the next node, ``depth`` levels down if it is a mapping or a list."""
        return self.node(self.get_event(), where, lines, depth)

    def tag_of(self, event: Any) -> str:
        """The tag of a scalar written without one, as PyYAML's composer resolves it."""
        text = event.value
        if not event.implicit[0]:
            return self.resolve(self.scalar_node, text, event.implicit)
        if text and self.initials is not None and text[0] not in self.initials:
            return _STR_TAG
        tag = self.plain_tags.get(text)
        if tag is None:
            tag = self.plain_tags[text] = self.resolve(self.scalar_node, text, event.implicit)
        return tag

    def node(self, event: Any, where: tuple[str | int, ...], lines: _Lines, depth: int) -> Any:
        """The data of the node that ``event`` starts."""
        events = self.events
        line = event.start_mark.line + 1
        lines.by_path.setdefault(where, line)
        kind = type(event)
        if kind is events.ScalarEvent:
            self.nodes += 1
            if self.nodes > MAX_NODES:
                self.count(0, line)
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.tag_of(event)
            data = event.value if tag == _STR_TAG else self.scalar(event, tag, where, line)
            if event.anchor is not None:
                self.anchors[event.anchor] = (data, 1, 0)
            return data
        if kind is events.AliasEvent:
            return self.alias(event, where, line, depth)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.count(0, line)
        if depth > MAX_DEPTH:
            raise self.deep(line, where)
        anchor = event.anchor
        if anchor is not None:
            # Being read: an alias to it from inside would repeat it without end.
            self.anchors[anchor] = None
            nodes_before, deepest_before = self.nodes, self.deepest
            self.deepest = depth
        elif depth > self.deepest:
            self.deepest = depth
        tag = event.tag
        if kind is events.SequenceStartEvent:
            if tag is not None and tag != "!" and tag != _SEQ_TAG:
                raise CaseError(self.path, line, f"unsupported YAML tag {tag}", format_field(where))
            data = self.sequence(where, lines, depth)
        else:
            if tag is not None and tag != "!" and tag != _MAP_TAG:
                raise CaseError(self.path, line, f"unsupported YAML tag {tag}", format_field(where))
            data = self.mapping(where, lines, depth)
        if anchor is not None:
            self.anchors[anchor] = (data, self.nodes - nodes_before + 1, self.deepest - depth + 1)
            self.deepest = max(self.deepest, deepest_before)
        return data

    def alias(self, event: Any, where: tuple[str | int, ...], line: int, depth: int) -> Any:
        if event.anchor not in self.anchors:
            raise CaseError(
                self.path,
                line,
                f"invalid YAML: alias *{event.anchor} has no anchor &{event.anchor} before it",
                format_field(where),
            )
        held = self.anchors[event.anchor]
        if held is None:
            raise _TooBig(
                CaseError(
                    self.path,
                    line,
                    f"alias *{event.anchor} is inside the node it repeats (a recursive alias)",
                    format_field(where),
                )
            )
        data, nodes, height = held
        self.count(nodes, line, event.anchor)
        reach = depth - 1 + height
        if reach > MAX_DEPTH:
            raise self.deep(line, where)
        if reach > self.deepest:
            self.deepest = reach
        return data

    def scalar(self, event: Any, tag: str, where: tuple[str | int, ...], line: int) -> Any:
        if tag == "tag:yaml.org,2002:timestamp":
            return event.value
        if tag not in _BUILT_SCALAR_TAGS:
            raise CaseError(self.path, line, f"unsupported YAML tag {tag}", format_field(where))
        text: str = event.value
        if len(text) > _MAX_NUMBER_TEXT:
            raise CaseError(
                self.path,
                line,
                f"a number of {len(text):,} characters; write at most {_MAX_NUMBER_TEXT}",
                format_field(where),
            )
        node = self.scalar_node(tag, text, event.start_mark, event.end_mark)
        try:
            data = self.constructor.yaml_constructors[tag](self.constructor, node)
        except (ValueError, OverflowError) as exc:
            raise CaseError(
                self.path, line, f"{text!r} cannot be read as a number: {exc}", format_field(where)
            ) from None
        if isinstance(data, float) and not math.isfinite(data):
            raise CaseError(
                self.path,
                line,
                f"{text} is not a finite number (JSON and the endpoint have no NaN or infinity)",
                format_field(where),
            )
        return data

    def sequence(self, where: tuple[str | int, ...], lines: _Lines, depth: int) -> list[Any]:
        # Each event is fetched once and handed on: peeking at it first costs a call per node.
        end = self.events.SequenceEndEvent
        get_event, node = self.get_event, self.node
        items: list[Any] = []
        while type(event := get_event()) is not end:
            items.append(node(event, (*where, len(items)), lines, depth + 1))
        return items

    def mapping(self, where: tuple[str | int, ...], lines: _Lines, depth: int) -> dict[str, Any]:
        events = self.events
        end, scalar_event = events.MappingEndEvent, events.ScalarEvent
        get_event, value, node = self.get_event, self.value, self.node
        by_path = lines.by_path
        written: dict[str, Any] = {}
        #: Mappings merged in with ``<<``, from the lowest precedence to the highest.
        merged: list[dict[str, Any]] = []
        while type(event := get_event()) is not end:  # the key
            line = event.start_mark.line + 1
            key: Any = None
            if type(event) is scalar_event:
                self.nodes += 1
                tag = event.tag
                if tag is None or tag == "!":
                    tag = self.tag_of(event)
                if tag == _STR_TAG:
                    key = event.value
                elif tag == _MERGE_TAG:
                    merged.extend(
                        self.merge_sources(value((*where, "<<"), lines, depth + 1), line, where)
                    )
                    continue
                elif tag in _SCALAR_TAGS:
                    raise CaseError(
                        self.path,
                        line,
                        f"mapping key {event.value!r} is not a string",
                        format_field(where),
                    )
            elif type(event) is events.AliasEvent:
                key = self.alias(event, where, line, depth + 1)
            if not isinstance(key, str):
                raise CaseError(
                    self.path, line, "a mapping key must be a string", format_field(where)
                )
            if key in written:
                raise CaseError(
                    self.path, line, f"duplicate key {key!r}", format_field((*where, key))
                )
            at = (*where, key)
            # A field's line is its key's line, also when its value starts below it.
            by_path.setdefault(at, line)
            written[key] = node(get_event(), at, lines, depth + 1)
        if not merged:
            return written
        result: dict[str, Any] = {}
        for source in merged:
            result.update(source)
        for key, data in written.items():
            result.pop(key, None)
            result[key] = data
        merge_line = by_path.get((*where, "<<"), lines.of(where))
        for key in result:
            # Merged fields are reported at the line of the merge.
            by_path.setdefault((*where, key), merge_line)
        return result

    def merge_sources(
        self, value: Any, line: int, where: tuple[str | int, ...]
    ) -> list[dict[str, Any]]:
        """The mappings a ``<<`` merges, lowest precedence first (the first listed wins)."""
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            raise CaseError(
                self.path,
                line,
                "invalid YAML: << merges a mapping or a list of mappings",
                format_field(where),
            )
        return list(reversed(sources))


@functools.cache
def _schema_constraint_names() -> frozenset[str]:
    return frozenset(load_schema("case")["$defs"]["constraints"])


@functools.cache
def _schema_generator_names() -> frozenset[str]:
    return frozenset(load_schema("case")["$defs"]["generators"])


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    from incident_evals.schema_refs import no_fetch_registry

    # The case schema has no recursive references: inlined, validation skips jsonschema's
    # reference resolution, which is most of its cost per case.
    return Draft202012Validator(_inlined_schema(), registry=no_fetch_registry())


@functools.cache
def _inlined_schema() -> dict[str, Any]:
    schema = load_schema("case")
    inlined: dict[str, Any] = _inline_refs(schema, schema)
    return inlined


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


#: ``$defs`` groups the compiled case check leaves out, to check each entry as it is used.
_PARTS = ("constraints", "generators")


@functools.cache
def _fast_check() -> Callable[[Any], bool]:
    """The compiled case check, without the built-in constraint and generator argument schemas.

    Those are most of the schema, and a catalogue uses a few of them: compiling them all costs
    more than checking a thousand cases, so each is compiled on first use (:func:`_fast_part`).
    """
    schema = load_schema("case")
    defs = schema["$defs"]
    blank: dict[str, Any] = {group: {name: {} for name in defs[group]} for group in _PARTS}
    return _compile_verdict({**schema, "$defs": {**defs, **blank}})


@functools.cache
def _fast_part(group: str, name: str) -> Callable[[Any], bool]:
    return _compile_verdict(load_schema("case")["$defs"][group][name])


#: Where fastjsonschema's generated code names the value it checks, for its error message.
_NAME_FORMAT = ".format(**locals())"


def _compile_verdict(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """fastjsonschema's check of ``schema`` as a verdict: True when it accepts a value.

    The loader asks fastjsonschema only for its verdict (jsonschema words the error), so the
    check is compiled without what only its messages use, which is most of its cost: detailed
    exceptions carry their schema part as a literal built at every raise (and a valid case
    raises inside ``anyOf``/``not`` branches), and each call of a ``$ref`` function formats the
    value's name with ``locals()`` first (a case's every list entry). Without them the compiled
    source is a third of the size, and a case is checked in half the time. ``const`` is
    written as the one-value ``enum`` it equals (fastjsonschema builds both with one matcher),
    since fastjsonschema cannot word a ``const`` error without details.
    """
    import fastjsonschema

    code = fastjsonschema.compile_to_code(
        _const_as_enum(schema),
        handlers=_no_fetch_handlers(),
        # A check must not write the schema's defaults into the case it judges.
        use_default=False,
        detailed_exceptions=False,
    )
    # A name left unformatted only makes a message (never read) show its placeholder.
    namespace: dict[str, Any] = {}
    exec(compile(code.replace(_NAME_FORMAT, ""), "<case schema check>", "exec"), namespace)
    entry = re.search(r"^def (\w+)\(", code, re.M)
    assert entry is not None, "fastjsonschema generated no function"
    check = namespace[entry.group(1)]
    # The class the generated code raises, whichever fastjsonschema module object it imported
    # (pytester unloads and re-imports modules).
    refused = namespace["JsonSchemaValueException"]

    def verdict(value: Any) -> bool:
        try:
            check(value)
        except refused:
            return False
        return True

    return verdict


def _const_as_enum(schema: Any) -> Any:
    """A copy of ``schema`` with each ``const: x`` written ``enum: [x]``."""
    if isinstance(schema, list):
        return [_const_as_enum(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copied: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            # Names to schemas: a property may itself be called `const`.
            copied[key] = {name: _const_as_enum(part) for name, part in value.items()}
        elif key in _VALUES:
            copied[key] = value
        elif key == "const" and "enum" not in schema:
            copied["enum"] = [value]
        else:
            copied[key] = _const_as_enum(value)
    return copied


#: Keywords holding schemas by name, and keywords holding values rather than schemas.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_VALUES = frozenset({"enum", "default", "examples", "required"})


def _no_fetch_handlers() -> Any:
    # fastjsonschema fetches a reference it has no handler for with urllib: these refuse all.
    from incident_evals.schema_refs import NO_FETCH_HANDLERS

    return NO_FETCH_HANDLERS


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
    if _fast_valid(data):
        return None
    return most_specific(_validator().iter_errors(data))


def _fast_valid(data: Any) -> bool:
    """fastjsonschema's verdict on a case: equal to jsonschema's on the shipped schema.

    tests/unit/test_schema_differential.py holds the two to that on thousands of cases.
    """
    if not _fast_check()(data):
        return False
    return all(_fast_part(group, name)(value) for group, name, value in _parts(data))


def _object_parts(schema: Any) -> list[dict[str, Any]]:
    """The parts of a schema that describe a mapping: itself and its branches."""
    parts: list[dict[str, Any]] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if "properties" in node:
            parts.append(node)
        for keyword in ("anyOf", "oneOf", "allOf"):
            stack.extend(node.get(keyword, ()))
    return parts


def _known_keys(schema: Any) -> set[str]:
    return {key for part in _object_parts(schema) for key in part["properties"]}


def _child_schema(schema: Any, key: str) -> Any:
    for part in _object_parts(schema):
        if key in part["properties"]:
            return part["properties"][key]
    return None


def _item_schema(schema: Any) -> Any:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("items"), dict):
                return node["items"]
            for keyword in ("anyOf", "oneOf", "allOf"):
                stack.extend(node.get(keyword, ()))
    return None


_Parent = tuple[dict[str, Any], Any, tuple[str | int, ...]]


def _misplaced_key(data: Any) -> tuple[tuple[str | int, ...], str, str] | None:
    """A key written one level off: ``(where it is, the key, the message)``, or None.

    A key unknown where it is written, but known in a mapping below it (``schema`` beside
    ``tool_args`` instead of under it), beside it (``repeats`` under ``model``, not ``runs``)
    or above it (``title`` under ``incident``), is named with the place it belongs. Asked only
    of a case the schema refuses, so that the message names the cause, not its consequence.
    """

    def holders(
        key: str, mapping: dict[str, Any], schema: Any, skip: str | int | None = None
    ) -> list[str]:
        """The fields of ``mapping`` whose mappings know ``key``: those written, else any."""
        written: list[str] = []
        others: list[str] = []
        names = [name for part in _object_parts(schema) for name in part["properties"]]
        for name in dict.fromkeys(names):
            value = mapping.get(name)
            if name == skip or (isinstance(value, dict) and key in value):
                continue
            if key in _known_keys(_child_schema(schema, name)):
                # `contains: a` beside `exact: true` meant `contains: {value: a, exact: true}`.
                (written if name in mapping else others).append(name)
        return written or others

    def home(
        key: str,
        mapping: dict[str, Any],
        schema: Any,
        at: tuple[str | int, ...],
        parent: _Parent | None,
    ) -> list[str]:
        places = holders(key, mapping, schema)
        if parent is not None:
            above, above_schema, above_at = parent
            places += holders(key, above, above_schema, at[-1])
            if key in _known_keys(above_schema) and key not in above:
                places.append(format_field(above_at) or "the top level")
        return list(dict.fromkeys(places))

    def visit(
        value: Any, schema: Any, at: tuple[str | int, ...], parent: _Parent | None
    ) -> tuple[tuple[str | int, ...], str, str] | None:
        if isinstance(value, dict):
            known = _known_keys(schema)
            for key in value:
                if known and key not in known:
                    places = home(key, value, schema, at, parent)
                    if places:
                        where = " or ".join(
                            "at the top level" if p == "the top level" else f"under {p}"
                            for p in places
                        )
                        return at, key, f'"{key}" found here, expected {where}'
            for key, item in value.items():
                child = _child_schema(schema, key)
                if child is not None:
                    found = visit(item, child, (*at, key), (value, schema, at))
                    if found is not None:
                        return found
        elif isinstance(value, list):
            items = _item_schema(schema)
            if items is not None:
                for index, item in enumerate(value):
                    found = visit(item, items, (*at, index), None)
                    if found is not None:
                        return found
        return None

    return visit(data, _inlined_schema(), (), None)


def _read_content_file(
    relative: str,
    case_path: Path,
    root: Path,
    lines: _Lines,
    where: tuple[str | int, ...],
    limit: int = MAX_TEXT,
) -> str:
    """The text of a ``content_file``: inside the catalogue, a regular file, at most ``limit``."""
    import stat

    target = (case_path.parent / relative).resolve()
    field = format_field((*where, "content_file"))
    line = lines.of((*where, "content_file"))
    if not target.is_relative_to(root.resolve()):
        raise CaseError(
            case_path, line, f"{relative!r} leaves the case catalogue root {root}", field
        )
    try:
        status = target.stat()
        if not stat.S_ISREG(status.st_mode):
            # A FIFO would block the read, a device never end it.
            raise CaseError(case_path, line, f"{relative!r} is not a regular file", field)
        # UTF-8 takes at most 4 bytes a character: a larger file holds too many characters.
        if status.st_size > 4 * limit:
            raise CaseError(
                case_path, line, _too_long(relative, f"{status.st_size:,} bytes", limit), field
            )
        with target.open("rb") as stream:
            text = stream.read(4 * limit + 1).decode("utf-8")
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
    if len(text) > limit:
        raise CaseError(
            case_path, line, _too_long(relative, f"{len(text):,} characters", limit), field
        )
    return text


def _too_long(relative: str, size: str, limit: int) -> str:
    why = " for a sensitive document" if limit == MAX_SENSITIVE_TEXT else ""
    return f"{relative!r} is {size}, more than the limit of {limit:,} characters{why}"


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

    def text(value: Any, at: tuple[str | int, ...], limit: int = MAX_TEXT) -> Any:
        if isinstance(value, dict) and "content_file" in value:
            return _read_content_file(value["content_file"], case_path, root, lines, at, limit)
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
        limit = MAX_SENSITIVE_TEXT if doc.get("sensitive", False) else MAX_TEXT
        content = (
            doc["content"]
            if "content" in doc
            else text({"content_file": doc["content_file"]}, at, limit)
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
                    _recorded_response(response, case_path, lines, (*at, "responses", i))
                    for i, response in enumerate(tool.get("responses", ()))
                ),
                python=_tool_handler(tool, case_path, lines, at),
            )
        )

    regenerate = raw.get("regenerate", REGENERATE[0])
    if regenerate == "all" and messages and messages[-1].get("role") in ("assistant", "tool"):
        at = (*base("messages"), "messages", len(messages) - 1, "role")
        raise CaseError(
            case_path,
            lines.of(at),
            "with regenerate: all the last message is the user turn the final reply answers; "
            "put the incident's final reply in recorded_output",
            format_field(at),
        )
    system = raw.get("system")
    system_at = (*base("system"), "system")
    system_sensitive = False
    system_markers: tuple[str, ...] = ()
    if isinstance(system, dict) and ("content" in system or "sensitive" in system):
        # {content | content_file, sensitive, markers}: the prompt may itself be a secret.
        system_sensitive = _sensitive_flag(system, case_path, lines, system_at)
        system_markers = tuple(system.get("markers", ()))
        limit = MAX_SENSITIVE_TEXT if system_sensitive else MAX_TEXT
        system = (
            system["content"]
            if "content" in system
            else text({"content_file": system["content_file"]}, system_at, limit)
        )
    elif system is not None:
        system = text(system, system_at)
    built = CaseInput(
        messages=tuple(messages),
        system=system,
        documents=tuple(documents),
        document_template=template,
        tools=tuple(tools),
        regenerate=regenerate,
        system_sensitive=system_sensitive,
        system_markers=system_markers,
    )
    _check_input_size(built, case_path, lines, where, base)
    return built


def _sensitive_flag(
    raw: dict[str, Any], case_path: Path, lines: _Lines, at: tuple[str | int, ...]
) -> bool:
    """``raw["sensitive"]``; markers without it would never be searched, a load error."""
    sensitive = bool(raw.get("sensitive", False))
    if raw.get("markers") and not sensitive:
        raise CaseError(
            case_path,
            lines.of((*at, "markers")),
            "markers are only searched for in sensitive content: add sensitive: true, "
            "or remove the markers",
            format_field((*at, "markers")),
        )
    return sensitive


def _recorded_response(
    raw: dict[str, Any], case_path: Path, lines: _Lines, at: tuple[str | int, ...]
) -> RecordedResponse:
    """One entry of a tool's ``responses``, its ``match`` regexes and schemas checked."""
    from incident_evals.tool_world import MatchError, compile_matches

    try:
        match = compile_matches(raw.get("match", {}))
    except MatchError as error:
        where = (*at, "match", *error.at)
        raise CaseError(case_path, lines.of(where), str(error), format_field(where)) from None
    return RecordedResponse(
        output=raw["output"],
        when=raw.get("when"),
        match=match,
        times=raw.get("times"),
        when_state=raw.get("when_state"),
        set_state=raw.get("set"),
        sensitive=_sensitive_flag(raw, case_path, lines, at),
        markers=tuple(raw.get("markers", ())),
    )


def _tool_handler(
    tool: dict[str, Any], case_path: Path, lines: _Lines, at: tuple[str | int, ...]
) -> str | None:
    """A tool's ``python`` handler, imported now so that a missing one is a load error."""
    reference = tool.get("python")
    if reference is None:
        return None
    field = (*at, "python")
    if "responses" in tool:
        raise CaseError(
            case_path,
            lines.of(field),
            "a tool answered by a python handler has no responses: remove one of the two",
            format_field(field),
        )
    from incident_evals.constraints.custom import resolve_function

    try:
        resolve_function(reference)
    except ConstraintArgumentError as error:
        raise CaseError(case_path, lines.of(field), str(error), format_field(field)) from None
    return str(reference)


def _check_input_size(
    built: CaseInput,
    case_path: Path,
    lines: _Lines,
    where: tuple[str | int, ...],
    base: Callable[[str], tuple[str | int, ...]],
) -> None:
    """Texts are bounded one by one; these bound them together (``content_file`` adds up)."""
    sensitive = sum(len(doc.content) for doc in built.documents if doc.sensitive)
    if sensitive > MAX_SENSITIVE_TEXT:
        at = (*base("documents"), "documents")
        raise CaseError(
            case_path,
            lines.of(at),
            f"the sensitive documents hold {sensitive:,} characters in all, more than the limit "
            f"of {MAX_SENSITIVE_TEXT:,} (no_leak indexes every span of them)",
            format_field(at),
        )
    secret = sum(len(source.content) for source in built.sensitive_sources())
    if secret > MAX_SENSITIVE_TEXT:
        raise CaseError(
            case_path,
            lines.of(where),
            f"the sensitive system prompt, documents and tool responses hold {secret:,} "
            f"characters in all, more than the limit of {MAX_SENSITIVE_TEXT:,} (no_leak indexes "
            "every span of them)",
            format_field(where),
        )
    total = len(built.system or "") + sum(len(doc.content) for doc in built.documents)
    total += sum(
        len(message["content"])
        for message in built.messages
        if isinstance(message.get("content"), str)
    )
    if total > MAX_INPUT_TEXT:
        raise CaseError(
            case_path,
            lines.of(where),
            f"the input holds {total:,} characters of text in all (system, messages, "
            f"documents), more than the limit of {MAX_INPUT_TEXT:,}",
            format_field(where),
        )


def _check_template(
    template: str, case_path: Path, lines: _Lines, where: tuple[str | int, ...]
) -> None:
    """Only ``{id}``, ``{title}`` and ``{content}``, each as written: rendering stays cheap.

    ``str.format`` would otherwise do what a placeholder asks: ``{content:>99999999999999}``
    pads to that width, ``{content!r}`` quotes, and ``{content}`` a thousand times repeats.
    """
    import string

    line, field = lines.of(where), format_field(where)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise CaseError(case_path, line, f"bad template: {exc}", field) from None
    names: list[str] = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            written = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise CaseError(
                case_path,
                line,
                f"placeholder {_clip_text(written)} has a conversion or format; write "
                f"{{{name}}} alone ({{id}}, {{title}} and {{content}} take none)",
                field,
            )
        names.append(name)
    unknown = sorted(set(names) - _TEMPLATE_FIELDS)
    if unknown:
        raise CaseError(
            case_path,
            line,
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            "use {id}, {title}, {content}",
            field,
        )
    if names.count("content") > 1 or len(names) > MAX_TEMPLATE_FIELDS:
        raise CaseError(
            case_path,
            line,
            f"{len(names)} placeholders, {names.count('content')} of them {{content}}; a template "
            f"takes {{content}} once and at most {MAX_TEMPLATE_FIELDS} placeholders in all",
            field,
        )


def _clip_text(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _source(source: dict[str, Any] | None) -> Source | None:
    if source is None:
        return None
    return Source(source["format"], source["file"], source.get("trace_id"), source.get("span_id"))


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
            taxonomy=tuple(incident.get("taxonomy", ())),
            source=_source(incident.get("source")),
            detected=incident.get("detected"),
            mitigated=incident.get("mitigated"),
            resolved=incident.get("resolved"),
            impact=incident.get("impact"),
            actions=_actions(incident.get("actions", ()), lines),
        ),
        model=dict(data.get("model", {})),
        input=_build_input(data["input"], case_path, root, lines, ("input",)),
        expect=_constraint_specs(data["expect"], lines, ("expect",)),
        path=case_path,
        line=lines.of(("id",)),
        recorded_output=data.get("recorded_output"),
        recorded_tool_calls=tuple(data.get("recorded_tool_calls", ())),
        accepted_outputs=_accepted_outputs(data.get("accepted_outputs", ()), lines),
        variants=_build_variants(data, case_path, root, lines),
        runs=Runs(
            repeats=runs.get("repeats", 1),
            min_pass_rate=runs.get("min_pass_rate", 1.0),
            max_turns=runs.get("max_turns", DEFAULT_MAX_TURNS),
            max_turns_line=lines.by_path.get(("runs", "max_turns")),
            gate=runs.get("gate"),
        ),
        guard=_guard_spec(data.get("guard"), lines),
    )


def _guard_spec(data: dict[str, Any] | None, lines: _Lines) -> GuardSpec:
    """The ``guard:`` block as written (checked against the case by :func:`_check_guard`)."""
    if data is None:
        return GuardSpec()
    written = data.get("when")
    conditions: list[GuardCondition] = []
    if written is not None:
        entries = written if isinstance(written, list) else [written]
        for index, entry in enumerate(entries):
            at = ("guard", "when", index) if isinstance(written, list) else ("guard", "when")
            tools = entry.get("tool_called", ())
            conditions.append(
                GuardCondition(
                    user_matches=entry.get("user_matches"),
                    tool_called=(tools,) if isinstance(tools, str) else tuple(tools),
                    constraints=tuple(entry.get("constraints", ())),
                    line=lines.of(at),
                )
            )
    return GuardSpec(
        applies=data.get("applies", "matching"),
        when=tuple(conditions),
        exclude=tuple(data.get("exclude", ())),
        line=lines.of(("guard",)),
    )


def _check_guard(case: IncidentCase, data: dict[str, Any], lines: _Lines) -> None:
    """What the schema cannot say about a ``guard:`` block: its patterns compile (within the
    bounds every case pattern keeps), its tools are the case's, what it excludes is there, and
    ``applies`` and ``when`` agree."""
    from incident_evals.patterns import PatternError, compile_pattern

    spec = case.guard
    if spec.applies == "only_when" and not spec.when:
        raise CaseError(
            case.path,
            lines.of(("guard", "applies")),
            "applies: only_when needs a when: condition (user_matches, tool_called)",
            "guard.applies",
        )
    if spec.when and spec.applies in ("always", "never"):
        raise CaseError(
            case.path,
            lines.of(("guard", "when")),
            f"when: has no effect with applies: {spec.applies}; remove one of them",
            "guard.when",
        )
    listed = isinstance((data.get("guard") or {}).get("when"), list)
    for index, condition in enumerate(spec.when):
        at: tuple[str | int, ...] = ("guard", "when", index) if listed else ("guard", "when")
        if condition.user_matches is not None:
            try:
                compile_pattern(condition.user_matches)
            except PatternError as error:
                where = (*at, "user_matches")
                raise CaseError(
                    case.path,
                    lines.of(where),
                    error.describe(condition.user_matches),
                    format_field(where),
                ) from None
        declared = [tool.name for tool in case.input.tools]
        for name in condition.tool_called:
            if name not in declared:
                where = (*at, "tool_called")
                known = ", ".join(declared) if declared else "none"
                raise CaseError(
                    case.path,
                    lines.of(where),
                    f"{name!r} is not a tool of this case (its tools: {known})",
                    format_field(where),
                )
    names = {spec.name for spec in case.expect}
    for variant in case.variants.cases:
        names.update(spec.name for spec in variant.expect or ())
    named = [(("guard", "exclude", i), name) for i, name in enumerate(spec.exclude)]
    for index, condition in enumerate(spec.when):
        at = ("guard", "when", index) if listed else ("guard", "when")
        if condition.user_matches is None and not condition.tool_called:
            raise CaseError(
                case.path,
                condition.line,
                "a condition needs user_matches or tool_called (constraints only says which "
                "constraints apply where it holds)",
                format_field(at),
            )
        named.extend(
            ((*at, "constraints", i), name) for i, name in enumerate(condition.constraints)
        )
    for where, name in named:
        if name not in names:
            raise CaseError(
                case.path,
                lines.of(where),
                f"{name!r} is not a constraint of this case (its constraints: "
                f"{', '.join(sorted(names))})",
                format_field(where),
            )
        if where[1] == "when" and name in spec.exclude:
            raise CaseError(
                case.path,
                lines.of(where),
                f"{name!r} is in guard.exclude: the guard never runs it",
                format_field(where),
            )


def _actions(entries: list[dict[str, Any]], lines: _Lines) -> tuple[Action, ...]:
    return tuple(
        Action(
            description=entry["description"],
            owner=entry.get("owner"),
            due=entry.get("due"),
            status=entry.get("status", "open"),
            ticket=entry.get("ticket"),
            line=lines.of(("incident", "actions", index)),
        )
        for index, entry in enumerate(entries)
    )


#: The record's dates in the order they must run (``date`` is when the incident happened).
RECORD_DATES = ("date", "detected", "mitigated", "resolved")


def _check_record(case: IncidentCase, lines: _Lines) -> None:
    """The record's dates are real calendar days and run in order; so are the actions' due
    dates. Days are compared, not times: a record often has a time for some dates only."""
    incident = case.incident
    written = {name: getattr(incident, name) for name in RECORD_DATES}
    days: dict[str, datetime.date] = {}
    for name, value in written.items():
        if value is None:
            continue
        day = _calendar_day(value)
        at: tuple[str | int, ...] = ("incident", name)
        if day is None:
            if name == "date":
                continue  # free-form since schema version 1: kept as written, not ordered
            raise CaseError(case.path, lines.of(at), _not_a_day(value), format_field(at))
        days[name] = day
    ordered = [name for name in RECORD_DATES if name in days]
    for earlier, later in itertools.pairwise(ordered):
        if days[later] < days[earlier]:
            at = ("incident", later)
            raise CaseError(
                case.path,
                lines.of(at),
                f"{written[later]} is before incident.{earlier} ({written[earlier]}): the "
                "record runs date <= detected <= mitigated <= resolved",
                format_field(at),
            )
    for index, action in enumerate(incident.actions):
        if action.due is not None and _calendar_day(action.due) is None:
            due = ("incident", "actions", index, "due")
            raise CaseError(case.path, lines.of(due), _not_a_day(action.due), format_field(due))


def _not_a_day(value: str) -> str:
    return f"{value!r} is not a calendar date (YYYY-MM-DD)"


def _calendar_day(value: str) -> datetime.date | None:
    """The calendar day of an ISO date or date-time, or None when it is not a real one."""
    try:
        return datetime.date.fromisoformat(value[:10]) if len(value) >= 10 else None
    except ValueError:
        return None


def _accepted_outputs(entries: list[Any], lines: _Lines) -> tuple[AcceptedOutput, ...]:
    built = []
    for index, entry in enumerate(entries):
        line = lines.of(("accepted_outputs", index))
        if isinstance(entry, str):
            built.append(AcceptedOutput(entry, line=line))
        else:
            calls = entry.get("tool_calls")
            given = calls is not None
            built.append(AcceptedOutput(entry["output"], tuple(calls or ()), given, line))
    return tuple(built)


def _check_accepted(loaded: LoadedCase) -> None:
    """A known-good answer that fails a constraint is the case's error: the case would fail
    the fix it was written for."""
    from incident_evals.constraints import UndecidedError
    from incident_evals.recorded import accepted_failure

    case = loaded.case
    try:
        failed = accepted_failure(loaded)
    except UndecidedError as exc:
        constraint = exc.constraint
        line = constraint.line if constraint is not None else case.line
        where = f"{constraint.name} (line {line})" if constraint is not None else "a constraint"
        raise CaseError(
            case.path,
            line,
            f"{where} reached no verdict on an accepted output: {exc.message}",
            "accepted_outputs",
        ) from None
    if failed is None:
        return
    index, constraint, verdict = failed
    message = _one_line(verdict.message) if verdict.message else "it does not hold"
    raise CaseError(
        case.path,
        case.accepted_outputs[index].line,
        f"this known-good answer fails {constraint.name} (line {constraint.line}), expected "
        f"{_one_line(verdict.expected)}: {_clip_text(message, 200)}",
        format_field(("accepted_outputs", index)),
    )


def _constraint_specs(
    entries: list[dict[str, Any]], lines: _Lines, at: tuple[str | int, ...]
) -> tuple[ConstraintSpec, ...]:
    return tuple(
        ConstraintSpec(
            name=name,
            argument=argument,
            line=lines.of((*at, index)),
            turn=entry.get("turn"),
            any_turn=entry.get("any_turn", False),
        )
        for index, entry in enumerate(entries)
        for name, argument in entry.items()
        if name not in TURN_KEYS
    )


#: The keys an ``expect`` entry may hold beside its constraint: which turns it judges.
TURN_KEYS = ("turn", "any_turn")


def _check_turns(
    specs: tuple[ConstraintSpec, ...],
    case_input: CaseInput,
    path: Path,
    lines: _Lines,
    at: tuple[str | int, ...],
    of: str = "",
) -> None:
    """``turn`` and ``any_turn`` name turns the conversation of ``case_input`` generates.

    ``of`` names a hand-written variant whose conversation is checked against the case's own
    ``expect``."""
    turns = generated_turns(case_input)
    for index, spec in enumerate(specs):
        key = "turn" if spec.turn is not None else "any_turn" if spec.any_turn else None
        if key is None:
            continue
        where = (*at, index, key)
        if case_input.regenerate != "all":
            message = (
                f"{key} needs input.regenerate: all; without it only the final reply is "
                "generated, and the constraint already judges it"
            )
        elif spec.name == "judge":
            message = f"judge judges the final reply only: remove {key}"
        elif spec.turn is not None and spec.turn > turns:
            recorded = turns - 1
            message = (
                f"turn {spec.turn}, but the conversation{of} generates {turns} assistant "
                f"turn(s): {recorded} in input.messages and the final reply"
            )
        else:
            continue
        raise CaseError(path, lines.of(where), message, format_field(where))


#: The most variants one generator entry may ask for (the case schema's limit too).
MAX_VARIANT_COUNT = 50
#: Item names a hand-written variant may not take.
RESERVED_VARIANT_NAMES = frozenset({"original", "recorded", "consistency"})


def _project_code_error(
    path: Path, line: int, doing: str, error: BaseException, where: tuple[str | int, ...]
) -> CaseError:
    """What project code (a constraint's build, a generator's check) raised while a case
    loaded, as that case's one line rather than a traceback."""
    return CaseError(path, line, f"{doing} raised {describe_exception(error)}", format_field(where))


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
                error = most_specific(validator.iter_errors(spec.argument))
            if error is not None:
                sub, message = case_error(error, MAX_SENSITIVE_TEXT)
                raise CaseError(
                    case.path, lines.of((*where, *sub)), message, format_field((*where, *sub))
                )
            check = constraint.build(spec.argument, case)
        except ConstraintArgumentError as exc:
            # A short-form argument is the field itself (`matches: "(x"` has no `pattern` key).
            named = isinstance(spec.argument, dict) and exc.field in spec.argument
            at = (*where, exc.field) if exc.field is not None and named else where
            # A reference deep in a schema is shown at its own line, under the schema's field.
            inside = getattr(exc, "at", None)
            line = lines.of((*where, *inside) if isinstance(inside, tuple) else at)
            raise CaseError(case.path, line, str(exc), format_field(at)) from None
        except (CaseError, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # A project's build function may even call sys.exit().
            raise _project_code_error(
                case.path, spec.line, "building the constraint", exc, where
            ) from None
        bound.append(
            BoundConstraint(
                spec.name,
                spec.argument,
                spec.line,
                check,
                spec.turn,
                spec.any_turn,
                constraint.deterministic,
            )
        )
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
    with _cycle_collection_paused():
        return _load_file(path, root, registry, variants)


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while one file loads, and restored after.

    Loading makes many small objects (the YAML's data, the case, its constraints) and almost
    none in cycles: what is not kept is freed by reference counting at once. The collector's
    passes during a load find next to nothing to free, yet each scans the young objects, and
    now and then one scans every object of the process (tens of milliseconds in a pytest
    session: bench/loading.py). The file's limits (:data:`MAX_FILE_BYTES`, :data:`MAX_NODES`)
    bound what a load can make while the collector waits; its next pass sees all of it.
    """
    import gc

    if not gc.isenabled():
        # Paused by someone else: theirs to restore.
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _load_file(
    path: Path,
    root: Path,
    registry: ConstraintRegistry,
    variants: VariantRegistry | Callable[[], VariantRegistry] | None,
) -> list[LoadedCase | CaseError]:
    import yaml

    try:
        raw = _read_bounded(path)
    except CaseError as error:
        return [error]
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [CaseError(path, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)")]
    del raw

    results: list[LoadedCase | CaseError] = []
    seen_ids: dict[str, int] = {}
    try:
        for document in _Reader(source, path).documents():
            if isinstance(document, CaseError):
                results.append(document)
                continue
            data, lines = document
            if data is None:
                continue  # an empty document, e.g. after a trailing `---`
            try:
                results.append(
                    _load_document(data, path, root, registry, variants, lines, seen_ids)
                )
            except CaseError as error:
                results.append(error)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        results.append(CaseError(path, line, f"invalid YAML: {_one_line(problem)}"))
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (a control character): no mark, a position.
        line = source.count("\n", 0, max(exc.position, 0)) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        results.append(
            CaseError(path, line, f"invalid YAML: the character U+{code:04X} is not allowed")
        )
    except yaml.YAMLError as exc:
        results.append(CaseError(path, 1, f"invalid YAML: {_one_line(str(exc))}"))
    return results


def written_ids(path: Path) -> list[tuple[str, int]]:
    """The ``id`` of each document of a case file, with its line, read within the same limits.

    Only the YAML is read, not the schema, so a case with an error elsewhere still holds its
    id; so do the documents before one that cannot be read.
    """
    import yaml

    ids: list[tuple[str, int]] = []
    try:
        source = _read_bounded(path).decode("utf-8")
        for document in _Reader(source, path).documents():
            if isinstance(document, CaseError):
                continue
            data, lines = document
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                ids.append((data["id"], lines.of(("id",))))
    except (CaseError, UnicodeDecodeError, yaml.YAMLError):
        pass
    return ids


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read_bounded(path: Path) -> bytes:
    """The bytes of a case file, refused unread when it is larger than :data:`MAX_FILE_BYTES`."""
    import stat

    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            # A FIFO or device would block the read or never end.
            raise CaseError(path, 1, "is not a regular file")
        if status.st_size > MAX_FILE_BYTES:
            raise CaseError(path, 1, _too_large(status.st_size))
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CaseError(path, 1, f"cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:  # it grew since it was measured
        raise CaseError(path, 1, _too_large(len(raw)))
    return raw


def _too_large(size: int) -> str:
    return (
        f"the file is {size:,} bytes, more than the limit of {MAX_FILE_BYTES:,} "
        f"({MAX_FILE_BYTES // 2**20} MiB) for a case file; it was not read"
    )


def _load_document(
    data: Any,
    path: Path,
    root: Path,
    registry: ConstraintRegistry,
    variants: VariantRegistry | Callable[[], VariantRegistry] | None,
    lines: _Lines,
    seen_ids: dict[str, int],
) -> LoadedCase:
    if not isinstance(data, dict):
        raise CaseError(
            path, lines.document_line, "a case must be a mapping (id, incident, input, expect)"
        )
    error = _first_schema_error(data)
    if error is not None:
        misplaced = _misplaced_key(data)
        if misplaced is not None:
            at, key, message = misplaced
            raise CaseError(path, lines.of((*at, key)), message, format_field(at))
        where, message = case_error(error, MAX_SENSITIVE_TEXT)
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
    _check_taxonomy(case, lines)
    _check_record(case, lines)
    constraints = _bind_constraints(case, registry, lines)
    _check_guard(case, data, lines)
    _check_turns(case.expect, case.input, path, lines, ("expect",))
    for index, variant in enumerate(case.variants.cases):
        if variant.expect is None:
            of = f" of variant {variant.name!r}"
            _check_turns(case.expect, variant.input, path, lines, ("expect",), of)
        else:
            at = ("variants", "cases", index, "expect")
            _check_turns(variant.expect, variant.input, path, lines, at)
    generators = None
    if case.variants.generate:
        # Built lazily: the generators' modules cost an import a catalogue without variants
        # need not pay.
        generators = variants() if callable(variants) else variants or _builtin_variants()
        _check_generators(case, generators)
    _check_samples(case, lines, generators)
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
    if case.accepted_outputs:
        _check_accepted(LoadedCase(case, constraints))
    return LoadedCase(case, constraints, variant_constraints)


def _check_taxonomy(case: IncidentCase, lines: _Lines) -> None:
    """Each ``incident.taxonomy`` id must be an id of its published list."""
    if not case.incident.taxonomy:
        return
    from incident_evals.taxonomy import problem

    for index, taxonomy_id in enumerate(case.incident.taxonomy):
        message = problem(taxonomy_id)
        if message is not None:
            at = ("incident", "taxonomy", index)
            raise CaseError(case.path, lines.of(at), message, format_field(at))


def _check_samples(
    case: IncidentCase, lines: _Lines, generators: VariantRegistry | None = None
) -> None:
    """A case may not ask for more samples than a run can hold: variants x repeats."""
    made = 0
    for spec in case.variants.generate:
        generator = generators.get(spec.name) if generators is not None else None
        made += generator.variants_made(spec.options, spec.count) if generator else spec.count
    items = 1 + made + len(case.variants.cases)
    samples = items * case.runs.repeats
    if samples > MAX_SAMPLES:
        raise CaseError(
            case.path,
            lines.of(("runs", "repeats")),
            f"{case.runs.repeats:,} repeats of {items:,} items (the case and its {items - 1:,} "
            f"variants) are {samples:,} samples, more than the limit of {MAX_SAMPLES:,} for a case",
            "runs.repeats",
        )


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

            from incident_evals.schema_refs import no_fetch_registry

            # `count` is the core's: a project schema describes only its own options.
            validator = Draft202012Validator(generator.options_schema, registry=no_fetch_registry())
            error = most_specific(validator.iter_errors(spec.options))
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
                sub, message = case_error(error, MAX_SENSITIVE_TEXT)
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
                raise _project_code_error(
                    case.path, spec.line, "checking the generator's options", exc, where
                ) from None
        # `count` variants of each combination (counterfactual): the product is bounded too.
        made = generator.variants_made(spec.options, spec.count)
        if made > MAX_VARIANT_COUNT:
            raise CaseError(
                case.path,
                spec.line,
                f"count {spec.count} makes {made} variants ({spec.count} for each of "
                f"{made // spec.count} combinations), more than the limit of {MAX_VARIANT_COUNT}",
                format_field((*where, "count")),
            )
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


class IdClaims:
    """Which file keeps each case id: the file that wrote it first, by modification time.

    Case ids are unique across the catalogue. When two files use one id, the one modified later
    repeated it and its case is the duplicate; when they were modified at the same moment,
    neither is known to be the original and both are duplicates. So that the answer does not
    depend on the order files are collected in (or on which ones are), a case's catalogue (see
    :func:`catalogue_root`) is scanned once, on its first claim, for the ``id:`` lines that start
    a case; an id the scan cannot see (a document in flow style) is kept by the first file to
    claim it.
    """

    #: A top-level ``id:`` line, as case files write it.
    _ID_LINE = re.compile(rb"""^id:[ \t]*['"]?([A-Za-z0-9._-]+)['"]?[ \t]*(?:#.*)?\r?$""", re.M)

    def __init__(self, roots: Iterable[Path] = ()) -> None:
        self.roots = [Path(root) for root in roots]
        #: Per catalogue root: each id written there, with the files and first line writing it.
        self._scans: dict[Path, dict[str, dict[Path, int]]] = {}
        #: The loaded case that kept each id.
        self._kept: dict[str, tuple[Path, int]] = {}
        self._mtimes: dict[Path, int] = {}
        #: Each case file's resolved path and catalogue root, found once per file, not once per
        #: case: resolving a path is a system call per component (SPEC §10 overhead).
        self._resolved: dict[Path, Path] = {}
        self._root_of: dict[Path, Path] = {}

    def _written(self, case_path: Path) -> dict[str, dict[Path, int]]:
        """The ids written in the catalogue of ``case_path`` (none without roots)."""
        if not self.roots:
            return {}
        root = self._root_of.get(case_path)
        if root is None:
            root = self._root_of[case_path] = catalogue_root(case_path, self.roots)
        if root not in self._scans:
            written: dict[str, dict[Path, int]] = {}
            for path in case_files(root) if root.is_dir() else []:
                try:
                    if path.stat().st_size > MAX_FILE_BYTES:
                        continue
                    raw = path.read_bytes()
                except OSError:
                    continue
                resolved = self._resolve(path)
                # Lines counted on from the previous id: a file of many cases is read once.
                line, counted = 1, 0
                for match in self._ID_LINE.finditer(raw):
                    case_id = match.group(1).decode("ascii")
                    line += raw.count(b"\n", counted, match.start())
                    counted = match.start()
                    written.setdefault(case_id, {}).setdefault(resolved, line)
            self._scans[root] = written
        return self._scans[root]

    def _resolve(self, path: Path) -> Path:
        resolved = self._resolved.get(path)
        if resolved is None:
            resolved = self._resolved[path] = path.resolve()
        return resolved

    def _mtime(self, path: Path) -> int:
        if path not in self._mtimes:
            try:
                self._mtimes[path] = path.stat().st_mtime_ns
            except OSError:
                self._mtimes[path] = 0
        return self._mtimes[path]

    def claim(self, case: IncidentCase) -> tuple[Path, int, str] | None:
        """None if ``case`` keeps its id; else another place writing it and how they relate."""
        path = self._resolve(case.path)
        holders = dict(self._written(path).get(case.id, {}))
        kept = self._kept.get(case.id)
        if kept is not None:
            holders.setdefault(*kept)
        holders[path] = min(holders.get(path, case.line), case.line)
        others = sorted((where, line) for where, line in holders.items() if where != path)
        if others:
            mine = self._mtime(path)
            if mine > min(self._mtime(where) for where, _ in others):
                where, line = min(others, key=lambda other: (self._mtime(other[0]), other))
                return where, line, "first defined at"
            tied = [other for other in others if self._mtime(other[0]) == mine]
            if tied:
                return tied[0][0], tied[0][1], "also defined at"
            if kept is not None and kept[0] != path:
                # The scan missed this file, and a newer one already kept the id.
                return kept[0], kept[1], "first defined at"
        self._kept.setdefault(case.id, (path, case.line))
        return None


def claim_id(
    result: LoadedCase | CaseError, claims: IdClaims, base: Path
) -> LoadedCase | CaseError:
    """Case ids are unique across the catalogue: a repeated id is an error (see IdClaims)."""
    if isinstance(result, CaseError):
        return result
    case = result.case
    other = claims.claim(case)
    if other is None:
        return result
    where, line, relation = other
    try:
        shown: Path | str = where.relative_to(base.resolve())
    except ValueError:
        shown = where
    same_time = ", modified at the same time" if relation == "also defined at" else ""
    return CaseError(
        case.path,
        case.line,
        f"duplicate case id {case.id!r} ({relation} {shown}:{line}{same_time})",
        "id",
    )


class FolderError(Exception):
    """Project code that every case file of a folder depends on failed (a conftest hook that
    registers constraints or generators): one line, the error of each file it stops."""


def load_claimed(
    path: Path,
    roots: list[Path],
    registry: ConstraintRegistry,
    variants: VariantRegistry | Callable[[], VariantRegistry] | None,
    claims: IdClaims,
    base: Path,
) -> list[LoadedCase | CaseError]:
    """One case file as every front-end loads it (the pytest plugin, the command line and the
    Python API): its cases in order, each bad document or repeated id a :class:`CaseError` in
    its place. Whatever project code raises while the file loads (a custom constraint's or
    generator's check, ``sys.exit()`` included) is the file's one error; only KeyboardInterrupt
    goes through."""
    from incident_evals.constraints.custom import describe_exception

    try:
        results = load_file(path, catalogue_root(path, roots), registry, variants)
    except KeyboardInterrupt:
        raise
    except FolderError as exc:
        return [CaseError(path, 1, str(exc))]
    except BaseException as exc:
        return [CaseError(path, 1, f"cannot be loaded: {describe_exception(exc)}")]
    return [claim_id(result, claims, base) for result in results]


def case_files(path: Path) -> list[Path]:
    """The case files at ``path``: the file itself, or every .yaml/.yml below it, sorted."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
