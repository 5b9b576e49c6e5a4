"""The one vocabulary of JSON type names in messages: JSON Schema's.

Data read from JSON or YAML holds seven kinds of value, and every message that names one uses
JSON Schema's name for it (``expected object, got array``), or the same name with its article in
a sentence (``the body is an array``). Case files are YAML, and the words their authors and the
case format's documentation use for the two containers are YAML's (``mapping``, ``list``):
:func:`yaml_word` turns a name into those.
"""

from __future__ import annotations

from typing import Any

__all__ = ["a_json_type", "json_type", "yaml_word"]

#: Python's type of a decoded value -> JSON Schema's name; bool before int, which it subclasses.
_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)
_YAML_WORDS = {"object": "mapping", "array": "list"}


def json_type(value: Any) -> str:
    """JSON Schema's name for the type of ``value``; any other object's class name."""
    for kind, name in _NAMES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def a_json_type(value: Any) -> str:
    """:func:`json_type` with its article, for a sentence: ``an object``, ``a string``, ``null``."""
    name = json_type(value)
    if name == "null":
        return name
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def yaml_word(name: str) -> str:
    """A JSON Schema type name as a case file (YAML) says it: ``mapping``, ``list``, or as is."""
    return _YAML_WORDS.get(name, name)
