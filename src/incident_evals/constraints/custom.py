"""``python: "module:function"``: a project's own check, written as a plain function.

The function is imported when the case loads (a missing module or function is a load error
naming the line) and called as ``function(transcript, case)`` for each sample. It returns:

* ``True`` / ``False``;
* ``(passed, message)``, the message explaining a failure;
* or a :class:`~incident_evals.constraints.Verdict`.

A check that returns anything else, or raises, gives no verdict: the item becomes an error naming
the constraint, the exception and the line it came from (:class:`UndecidedError`). A broken check
must neither pass nor be counted as catching its incident.

Project code may raise anything, ``SystemExit`` and other ``BaseException`` subclasses included,
at import or at call: each becomes that one line, and the other cases still run. The one
exception is ``KeyboardInterrupt``, which cannot be told apart from a real Ctrl-C and stops the
run as Ctrl-C does.

The module is imported with the ordinary ``sys.path``: a package installed in the environment,
or a module under a folder named in pytest's ``pythonpath`` ini option (``incident-evals
validate`` also puts the current directory first, as ``python -m`` does).
"""

from __future__ import annotations

import importlib
import os
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_evals.constraints import (
    ConstraintArgumentError,
    ConstraintType,
    UndecidedError,
    Verdict,
    argument_schema,
    quote,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from incident_evals.case import IncidentCase
    from incident_evals.transcript import Transcript

__all__ = [
    "CONSTRAINTS",
    "PythonCheck",
    "describe_exception",
    "raised_at",
    "resolve_function",
]

#: Characters of an exception's message kept in a one-line error.
MESSAGE_LIMIT = 200


def resolve_function(reference: str) -> Callable[..., Any]:
    """The callable named by ``"package.module:function"`` (the function part may be dotted)."""
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name
        # The module itself (or a package above it) is missing, not something it imports.
        if missing is not None and (
            missing == module_name or module_name.startswith(missing + ".")
        ):
            raise ConstraintArgumentError(
                f"cannot import {module_name!r}: no module named {missing!r} (is its folder "
                "on sys.path? pytest's `pythonpath` ini option adds one)"
            ) from None
        raise _import_failed(reference, error) from None
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        # sys.exit() at import, or a RecursionError: one line, never the run's end.
        raise _import_failed(reference, error) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            message = f"{module_name!r} has no attribute {attribute!r}"
            raise ConstraintArgumentError(message) from None
    if not callable(target):
        raise ConstraintArgumentError(f"{reference} is {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def _import_failed(reference: str, error: BaseException) -> ConstraintArgumentError:
    where = raised_at(error)
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        # A syntax error has no frame of its own file: the parser says where.
        where = f"{_shown(Path(error.filename))}:{error.lineno}"
    suffix = f" ({where})" if where else ""
    return ConstraintArgumentError(
        f"{reference} raised {describe_exception(error)} at import{suffix}"
    )


def describe_exception(error: BaseException) -> str:
    """``SystemExit(3)``, ``KeyError: 'to'``: one line, however long its message or odd its
    ``__str__``."""
    name = type(error).__name__
    if isinstance(error, SystemExit):
        return f"{name}({_one_line(_safe(repr, error.code))})"
    text = _one_line(_safe(str, error))
    return f"{name}: {text}" if text else name


def _safe(render: Callable[[Any], str], value: Any) -> str:
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


_PACKAGE = str(Path(__file__).resolve().parent.parent) + os.sep
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
    return f"{_shown(Path(frames[-1].filename), base)}:{frames[-1].lineno}"


def _outside_project(filename: str) -> bool:
    if filename.startswith("<") or filename.startswith(_PACKAGE):
        return True
    if filename.startswith(_LIBRARY) and "site-packages" not in filename:
        return True
    parts = Path(filename).parts
    return "pluggy" in parts or "_pytest" in parts


def _shown(path: Path, base: Path | None = None) -> str:
    base = base if base is not None else Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except (ValueError, OSError):
        return str(path)


@dataclass(frozen=True)
class PythonCheck:
    reference: str
    function: Callable[..., Any]
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        try:
            result = self.function(transcript, case)
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            where = raised_at(error)
            suffix = f" ({where})" if where else ""
            raise UndecidedError(
                f"{self.reference} raised {describe_exception(error)}{suffix}"
            ) from None
        if isinstance(result, Verdict):
            return result
        if isinstance(result, bool):
            message = "" if result else f"{self.reference} returned False"
            return Verdict(result, self.expected, message)
        if (
            isinstance(result, tuple)
            and len(result) == 2
            and isinstance(result[0], bool)
            and isinstance(result[1], str)
        ):
            passed, message = result
            return Verdict(passed, self.expected, message or f"{self.reference} returned False")
        raise UndecidedError(
            f"{self.reference} returned {quote(_safe(repr, result), 80)}; expected True/False, "
            "(passed, message) or a Verdict"
        )


def _build_python(argument: Any, case: IncidentCase) -> PythonCheck:
    reference = str(argument)
    return PythonCheck(reference, resolve_function(reference), f"{reference} holds")


CONSTRAINTS: tuple[ConstraintType, ...] = (
    ConstraintType(
        "python",
        argument_schema("python"),
        _build_python,
        'a project function "module:function" accepts the transcript',
    ),
)
