"""The placeholder texts of the case skeleton ``incident-evals new`` writes without a capture.

A case that still holds one cannot catch its incident: it would replay a sentence about the
trigger, not the trigger, and a run of it proves nothing. The loader refuses such a case, so
``incident-evals validate`` (with or without ``--check-recorded``) and ``pytest`` report it as an
error naming the file, the line and the field, as they do the skeleton's empty ``expect``.

Only these exact texts count (surrounding whitespace aside): a case may legitimately quote a
"TODO" note of the incident, and a guess at what a placeholder looks like would refuse it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OUTPUT", "PLACEHOLDERS", "SYSTEM", "TRIGGER", "find_placeholder"]

#: The skeleton's user message: the trigger only the engineer has.
TRIGGER = "TODO: the user message that triggered the incident, word for word"
#: Values of the skeleton's commented examples, which an engineer may uncomment as they are.
SYSTEM = "the system prompt, word for word"
OUTPUT = "the bad answer, word for word"
PLACEHOLDERS = frozenset({TRIGGER, SYSTEM, OUTPUT})


def find_placeholder(data: Any) -> tuple[tuple[str | int, ...], str] | None:
    """``(where, text)`` of the first string value of ``data`` (in file order) that is still a
    placeholder, else ``None``."""
    # An explicit stack: the walk must not depend on Python's recursion limit.
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if value.strip() in PLACEHOLDERS:
                return where, value.strip()
        elif isinstance(value, dict):
            stack.extend(((*where, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            items = list(enumerate(value))
            stack.extend(((*where, index), item) for index, item in reversed(items))
    return None
