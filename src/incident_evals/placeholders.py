"""The placeholder texts of the case skeleton ``incident-evals new`` writes without a capture.

A case that still holds one cannot catch its incident: it would replay a sentence about the
trigger, not the trigger, and a run of it proves nothing. The loader refuses such a case, so
``incident-evals validate`` (with or without ``--check-recorded``) and ``pytest`` report it as an
error naming the file, the line and the field, as they do the skeleton's empty ``expect``.

Only these exact texts count (surrounding whitespace aside), and only where the skeleton puts
them: a case may legitimately quote a "TODO" note of the incident, and a guess at what a
placeholder looks like would refuse it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["OUTPUT", "PLACEHOLDERS", "SYSTEM", "TRIGGER", "find_placeholder"]

#: The skeleton's user message: the trigger only the engineer has.
TRIGGER = "TODO: the user message that triggered the incident, word for word"
#: Values of the skeleton's commented examples, which an engineer may uncomment as they are.
SYSTEM = "the system prompt, word for word"
OUTPUT = "the bad answer, word for word"
PLACEHOLDERS = frozenset({TRIGGER, SYSTEM, OUTPUT})


def find_placeholder(data: dict[str, Any]) -> tuple[tuple[str | int, ...], str] | None:
    """``(where, text)`` of a placeholder still in a case, else ``None``: the first of the system
    prompt, the messages, ``recorded_output``, then the hand-written variants.

    Only where the skeleton puts them: every case loaded pays for this, so it reads those few
    values rather than walking the whole document.
    """
    for where, value in _fields(data):
        if isinstance(value, str) and value.strip() in PLACEHOLDERS:
            return where, value.strip()
    return None


def _fields(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield from _input_fields(("input",), data.get("input"))
    yield ("recorded_output",), data.get("recorded_output")
    variants = data.get("variants")
    cases = variants.get("cases") if isinstance(variants, dict) else None
    for index, variant in enumerate(cases if isinstance(cases, list) else []):
        yield from _input_fields(("variants", "cases", index), variant)


def _input_fields(
    at: tuple[str | int, ...], given: Any
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if not isinstance(given, dict):
        return
    yield (*at, "system"), given.get("system")
    messages = given.get("messages")
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        if isinstance(message, dict):
            yield (*at, "messages", index, "content"), message.get("content")
