"""JSON Schemas from case files, and the shipped ones, resolve references inside themselves only.

jsonschema fetches a ``$ref`` to an ``http(s)://`` or ``file:`` URL with ``urllib`` unless told
otherwise, and fastjsonschema does the same through its ``handlers``. A case file comes from a pull
request: what such a fetch reaches (an internal service, a local file) would land in failure text
and reports, and the fetch itself happens even under ``--incident-replay``. So:

* :func:`nonlocal_reference` finds a reference that is not a fragment (``#...``) of the same
  document, and :func:`dangling_reference` one whose fragment points nowhere: the constraint
  builders refuse both at load time, with the path of the reference;
* :data:`NO_FETCH_REGISTRY` and :data:`NO_FETCH_HANDLERS` make any reference that slipped past
  that check fail to resolve instead of being fetched.

:func:`check_schema_once` checks such a schema against its metaschema, once per schema.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from incident_evals.errors import ConstraintArgumentError

__all__ = [
    "NO_FETCH_HANDLERS",
    "SchemaReferenceError",
    "check_schema_once",
    "dangling_reference",
    "no_fetch_registry",
    "nonlocal_reference",
    "reference_error",
]

#: Keywords whose string value is a reference to another schema.
REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
#: Keywords whose value is data, not a schema: a ``$ref`` key in there is not a reference.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})

Path = tuple[str | int, ...]


class SchemaReferenceError(ConstraintArgumentError):
    """A reference the schema may not use; ``at`` is where it is, inside the argument."""

    def __init__(self, message: str, field: str | None, at: Path) -> None:
        super().__init__(message, field)
        self.at = at


def _references(schema: Any, at: Path = ()) -> Iterator[tuple[Path, str, Path]]:
    """``(path of the keyword, reference, path of the resource it resolves in)`` of each one.

    The resource is the nearest enclosing schema with an ``$id`` (or the root): a fragment is
    resolved inside it.
    """
    stack: list[tuple[Any, Path, Path]] = [(schema, at, at)]
    while stack:
        node, where, resource = stack.pop()
        if isinstance(node, dict):
            if where != at and isinstance(node.get("$id"), str):
                resource = where
            for keyword in REFERENCE_KEYWORDS:
                value = node.get(keyword)
                if isinstance(value, str):
                    yield (*where, keyword), value, resource
            for key, value in reversed(node.items()):
                if key not in _DATA_KEYWORDS and isinstance(value, dict | list):
                    stack.append((value, (*where, key), resource))
        elif isinstance(node, list):
            for index in reversed(range(len(node))):
                if isinstance(node[index], dict | list):
                    stack.append((node[index], (*where, index), resource))


def nonlocal_reference(schema: Any) -> tuple[Path, str] | None:
    """The first reference that is not a fragment (``#...``) of the schema itself."""
    for where, reference, _ in _references(schema):
        if not reference.startswith("#"):
            return where, reference
    return None


def _anchors(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for keyword in ("$anchor", "$dynamicAnchor"):
                if isinstance(current.get(keyword), str):
                    yield current[keyword]
            stack.extend(v for k, v in current.items() if k not in _DATA_KEYWORDS)
        elif isinstance(current, list):
            stack.extend(current)


def _resolves(schema: Any, resource: Path, fragment: str) -> bool:
    target: Any = schema
    for part in resource:
        target = target[part]
    if fragment == "" or not fragment.startswith("/"):
        # "#" is the resource itself; "#name" a plain-name anchor somewhere in the schema.
        return fragment == "" or fragment in set(_anchors(schema))
    for raw in fragment[1:].split("/"):
        token = urllib.parse.unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            return False
    return True


def dangling_reference(schema: Any) -> tuple[Path, str] | None:
    """The first local reference (``#...``) that points at nothing in the schema."""
    for where, reference, resource in _references(schema):
        if reference.startswith("#") and not _resolves(schema, resource, reference[1:]):
            return where, reference
    return None


def reference_error(schema: Any, field: str | None = None) -> SchemaReferenceError | None:
    """Why ``schema`` (a constraint's JSON Schema) cannot be used as written, if it cannot.

    ``field`` is the name of the argument key holding the schema (``schema`` of ``tool_args``),
    or None when the argument is the schema itself.
    """
    prefix: Path = (field,) if field is not None else ()
    found = nonlocal_reference(schema)
    if found is not None:
        where, reference = found
        return SchemaReferenceError(
            f'{where[-1]} "{_clip(reference)}" is not local; only "#/..." references inside the '
            "schema are allowed",
            field,
            (*prefix, *where),
        )
    found = dangling_reference(schema)
    if found is not None:
        where, reference = found
        return SchemaReferenceError(
            f'{where[-1]} "{_clip(reference)}" points at nothing inside the schema',
            field,
            (*prefix, *where),
        )
    return None


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _refuse(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    # referencing's classes are attrs classes that mypy does not see through.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def no_fetch_registry() -> Any:
    """A ``referencing.Registry`` for jsonschema validators that never retrieves anything.

    Given to a validator, it replaces jsonschema's default, which fetches unknown URLs.
    """
    from referencing import Registry

    return Registry(retrieve=_refuse)  # type: ignore[call-arg]


class _NoFetchHandlers(Mapping[str, Callable[[str], Any]]):
    """fastjsonschema ``handlers`` claiming every URL scheme, each refusing to fetch.

    fastjsonschema falls back to ``urllib`` for a scheme it has no handler for, so an empty
    mapping would not do.
    """

    def __contains__(self, scheme: object) -> bool:
        return True

    def __getitem__(self, scheme: str) -> Callable[[str], Any]:
        return _refuse_fast

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _refuse_fast(uri: str) -> Any:
    from fastjsonschema import JsonSchemaDefinitionException

    raise JsonSchemaDefinitionException(f"{uri} is not fetched: only local references resolve")


NO_FETCH_HANDLERS: Mapping[str, Callable[[str], Any]] = _NoFetchHandlers()


#: Schemas found valid so far, by validator class and JSON text (keys sorted): a catalogue
#: repeats its schemas (a tool's in every case that calls it, one output format in many cases),
#: and a check costs about half a millisecond, most of it resolving the metaschema's
#: ``$dynamicRef``s. Bounded: a catalogue of unique schemas checks each as before.
_VALID_SCHEMAS: set[tuple[Any, str]] = set()
_MAX_VALID_SCHEMAS = 4096


def check_schema_once(validator_class: Any, schema: Mapping[str, Any]) -> None:
    """``validator_class.check_schema(schema)`` (jsonschema's ``SchemaError`` for a schema that
    is not one), skipped for a schema equal, as JSON, to one it already passed.

    ``schema`` is data read from a case file: JSON's types, so its JSON text is the schema. An
    invalid schema is checked each time, on the schema as written, so its error is the same.
    """
    import json

    try:
        key = (validator_class, json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError):
        # Not JSON's types after all: checked, not remembered.
        validator_class.check_schema(schema)
        return
    if key in _VALID_SCHEMAS:
        return
    validator_class.check_schema(schema)
    if len(_VALID_SCHEMAS) < _MAX_VALID_SCHEMAS:
        _VALID_SCHEMAS.add(key)
