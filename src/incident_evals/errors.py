"""Errors more than one layer raises or reports, and one line for whatever project code raised.

Project code (a conftest hook, a constraint's ``build`` or check, a variant generator) may raise
anything, ``SystemExit`` included: :func:`describe_exception` and :func:`raised_at` make it one
line (``KeyError: 'to'``, ``conftest.py:5``) wherever it is caught.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "MESSAGE_LIMIT",
    "ConstraintArgumentError",
    "describe_exception",
    "raised_at",
    "safe_text",
    "shown_path",
]

#: Characters of an exception's message kept in a one-line error.
MESSAGE_LIMIT = 200


class ConstraintArgumentError(ValueError):
    """An argument the schema accepted but the constraint cannot use.

    ``field`` names the part of the argument at fault (e.g. ``"pattern"``), if any.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def describe_exception(error: BaseException) -> str:
    """``SystemExit(3)``, ``KeyError: 'to'``: one line, however long its message or odd its
    ``__str__``."""
    name = type(error).__name__
    if isinstance(error, SystemExit):
        return f"{name}({_one_line(safe_text(repr, error.code))})"
    text = _one_line(safe_text(str, error))
    return f"{name}: {text}" if text else name


def safe_text(render: Callable[[Any], str], value: Any) -> str:
    """``render(value)``, or ``<unprintable>`` when that raises."""
    try:
        return str(render(value))
    except KeyboardInterrupt:
        raise
    except BaseException:
        # Its __str__ or __repr__ raised in turn.
        return "<unprintable>"


def _one_line(text: str) -> str:
    lines = text.strip().splitlines() or [""]
    first = lines[0]
    clipped = first[:MESSAGE_LIMIT]
    return clipped + ("…" if len(lines) > 1 or len(first) > MESSAGE_LIMIT else "")


#: This package's own folder: its frames are never the project code's.
_PACKAGE = str(Path(__file__).resolve().parent) + os.sep
_LIBRARY = tuple(
    path
    for path in {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
    if path and "site-packages" not in path
)


def raised_at(error: BaseException, base: Path | None = None) -> str:
    """``file:line`` of the project code ``error`` came from, or ``""``.

    The innermost frame that is not Python's own library, this package, pytest or pluggy: for
    ``os.environ["KEY"]`` that is the line reading the key, not ``os.py``. The path is shown
    relative to ``base`` (default: the current directory) when it is under it.
    """
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not _outside_project(frame.filename)
    ]
    if not frames:
        return ""
    return f"{shown_path(Path(frames[-1].filename), base)}:{frames[-1].lineno}"


def _outside_project(filename: str) -> bool:
    if filename.startswith("<") or filename.startswith(_PACKAGE):
        return True
    if filename.startswith(_LIBRARY) and "site-packages" not in filename:
        return True
    parts = Path(filename).parts
    return "pluggy" in parts or "_pytest" in parts


def shown_path(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the current directory) when it is under it."""
    base = base if base is not None else Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except (ValueError, OSError):
        return str(path)
