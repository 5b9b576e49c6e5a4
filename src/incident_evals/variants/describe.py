"""What a variant changed, as text a reviewer can read: a unified diff of the two inputs."""

from __future__ import annotations

import difflib
import json
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from incident_evals.case_types import CaseInput

__all__ = ["input_diff", "input_lines"]

WIDTH = 96


def _text(value: Any) -> str:
    return (
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    )


def _wrapped(prefix: str, text: str) -> list[str]:
    """``text`` under a heading, wrapped so a one-word change shows as a short line of diff."""
    lines = [prefix]
    for paragraph in text.splitlines() or [""]:
        # Invisible characters are what some variants add: show them.
        visible = (
            paragraph.encode("unicode_escape").decode("ascii")
            if not paragraph.isprintable()
            else paragraph
        )
        lines.extend("    " + line for line in textwrap.wrap(visible, WIDTH) or [""])
    return lines


def input_lines(case_input: CaseInput) -> list[str]:
    lines: list[str] = []
    if case_input.system is not None:
        flag = " (sensitive)" if case_input.system_sensitive else ""
        lines.extend(_wrapped(f"system{flag}:", case_input.system))
    for index, message in enumerate(case_input.messages):
        lines.extend(
            _wrapped(f"messages[{index}] ({message.get('role')}):", _text(message.get("content")))
        )
    for document in case_input.documents:
        flag = ", sensitive" if document.sensitive else ""
        lines.extend(
            _wrapped(f"document {document.id} ({document.title!r}{flag}):", document.content)
        )
    for tool in case_input.tools:
        for index, response in enumerate(tool.responses):
            when = f" when {_text(response.when)}" if response.when is not None else ""
            lines.extend(
                _wrapped(f"tool {tool.name} response {index}{when}:", _text(response.output))
            )
    return lines


def input_diff(original: CaseInput, changed: CaseInput, name: str) -> list[str]:
    return list(
        difflib.unified_diff(
            input_lines(original), input_lines(changed), "original", name, n=1, lineterm=""
        )
    )
