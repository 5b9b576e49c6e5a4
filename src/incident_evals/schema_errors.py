"""The wording of schema errors, for case files and for results files read as a baseline.

jsonschema finds what is wrong; this module chooses the one error to tell and words it. Both
kinds of file share the choosing: inside ``oneOf``/``anyOf`` the branch the file meant is
followed (a branch that refused the value by its type only says another branch was meant), and a
value every branch refused by its type is told as ``expected <types>, got <type>``. The wording
then differs with the reader:

* a case file (:func:`case_error`) is YAML written by a person: the message names the field at
  fault (the missing or unknown key itself), uses YAML's words for mappings and lists, quotes the
  offending value, and explains a limit, a missing field or a value YAML read as a boolean;
* a results file (:func:`results_error`) is JSON written by a program: JSON Schema's words,
  jsonschema's own message, and the JSON path of the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from incident_evals.json_types import json_type, yaml_word

__all__ = ["case_error", "most_specific", "results_error"]

Where = tuple[str | int, ...]


def most_specific(errors: Iterable[Any]) -> Any:
    """The error that tells a case's author most: the deepest one (None when there is none)."""
    return min(errors, key=lambda error: -len(error.absolute_path), default=None)


def _best_match(errors: Iterable[Any]) -> Any:
    from jsonschema.exceptions import best_match

    return best_match(errors)


@dataclass(frozen=True)
class _Audience:
    """Who reads the message, and so how it is worded."""

    #: A JSON Schema type name in the reader's words.
    word: Callable[[str], str]
    #: The error to follow among several inside a branch.
    choose: Callable[[Iterable[Any]], Any]
    #: Whether the message quotes the offending value after its type.
    quotes_value: bool
    #: Whether missing fields at one level, across branches, read ``needs one of: a, b``.
    alternatives: bool


_AUTHOR = _Audience(yaml_word, most_specific, quotes_value=True, alternatives=True)
_PROGRAM = _Audience(str, _best_match, quotes_value=False, alternatives=False)


def case_error(error: Any, sensitive_limit: int) -> tuple[Where, str]:
    """Where an error in a case file is (a JSON path, to the offending key where there is one)
    and what to say. ``sensitive_limit`` is the length limit of a sensitive document's content,
    whose reason the message gives."""
    error, told = _meant(error, _AUTHOR)
    where = tuple(error.absolute_path)
    if told is not None:
        return where, told
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        unknown = sorted(key for key in error.instance if key not in known)
        return (*where, unknown[0]), f"unknown field (known: {', '.join(sorted(known))})"
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return (*where, missing), "required field is missing"
    if error.validator == "type":
        return where, _wrong_type(error.instance, _expected_types([error], _AUTHOR), _AUTHOR)
    if error.validator == "minItems" and where == ("expect",):
        # What `incident-evals new` leaves for the engineer to write.
        return where, (
            "is empty: add at least one constraint, what must never happen again "
            "(see docs/constraints.md)"
        )
    if error.validator == "maxLength":
        why = ""
        if error.validator_value == sensitive_limit and where[-1:] == ("content",):
            why = " for a sensitive document (no_leak indexes every span of it)"
        return where, (
            f"is {len(error.instance):,} characters long, more than the limit of "
            f"{error.validator_value:,}{why}"
        )
    if error.validator == "maxItems":
        return where, (
            f"has {len(error.instance):,} entries, more than the limit of {error.validator_value:,}"
        )
    if error.validator != "pattern" and "errorMessage" in error.schema:
        # The schema's own words for a rule that jsonschema would state as the rule itself.
        return where, str(error.schema["errorMessage"])
    if error.validator == "pattern" and "patternErrorMessage" in error.schema:
        return where, f"{_shown(error.instance)} {error.schema['patternErrorMessage']}"
    # jsonschema quotes the whole value: one long string would make the line as long.
    message = str(error.message).replace(repr(error.instance), _shown(error.instance))
    return where, message if len(message) <= 300 else message[:300] + "…"


def results_error(errors: Iterable[Any]) -> str | None:
    """``<JSON path>: <message>`` for the error to tell of a results file, or None for none."""
    error = _best_match(errors)
    if error is None:
        return None
    error, told = _meant(error, _PROGRAM)
    if told is None and error.validator == "type":
        # jsonschema quotes the whole offending value, which for an object is the rest of the file.
        told = _wrong_type(error.instance, _expected_types([error], _PROGRAM), _PROGRAM)
    return f"{error.json_path}: {told if told is not None else error.message}"


def _meant(error: Any, reader: _Audience) -> tuple[Any, str | None]:
    """The error of the branch the file meant, and the message when no one branch is meant."""
    if error.validator == "oneOf" and not error.context:
        # Valid under several branches: e.g. both `content` and `content_file`.
        names = [n for branch in error.validator_value for n in branch.get("required", ())]
        if names:
            return error, f"give only one of: {', '.join(names)}"
    while error.validator in ("oneOf", "anyOf") and error.context:
        level = error.absolute_path
        branches = list(error.context)
        # A type mismatch at this level only says the file meant another branch.
        others = [e for e in branches if not (e.validator == "type" and e.absolute_path == level)]
        if not others:
            return error, _wrong_type(error.instance, _expected_types(branches, reader), reader)
        if reader.alternatives and all(
            e.validator == "required" and e.absolute_path == level for e in others
        ):
            names = [n for e in others for n in e.validator_value if n not in error.instance]
            return error, f"needs one of: {', '.join(dict.fromkeys(names))}"
        error = reader.choose(others)
    return error, None


def _expected_types(errors: list[Any], reader: _Audience) -> str:
    wanted: dict[str, None] = {}
    for error in errors:
        value = error.validator_value
        for name in value if isinstance(value, list) else [value]:
            wanted[reader.word(name)] = None
    return " or ".join(wanted)


def _wrong_type(instance: Any, expected: str, reader: _Audience) -> str:
    got = reader.word(json_type(instance))
    if not reader.quotes_value:
        return f"expected {expected}, got {got}"
    if instance is None:
        # An empty value in YAML (`no_pii:` with nothing after it) reads as null.
        return f"expected {expected}, got nothing (null)"
    # YAML 1.1 reads unquoted yes/no/on/off/true/false as booleans.
    hint = " (quote it if you meant the word)" if isinstance(instance, bool) else ""
    return f"expected {expected}, got {got} {_shown(instance)}{hint}"


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
