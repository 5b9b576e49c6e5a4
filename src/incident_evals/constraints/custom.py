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

# Where the plugin catches what project code raised, it says so with these (once defined here).
from incident_evals.errors import describe_exception, raised_at, safe_text, shown_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from incident_evals.case_types import IncidentCase
    from incident_evals.transcript import Transcript

__all__ = [
    "CONSTRAINTS",
    "PythonCheck",
    "describe_exception",
    "raised_at",
    "resolve_function",
]


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
        where = f"{shown_path(Path(error.filename))}:{error.lineno}"
    suffix = f" ({where})" if where else ""
    return ConstraintArgumentError(
        f"{reference} raised {describe_exception(error)} at import{suffix}"
    )


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
            f"{self.reference} returned {quote(safe_text(repr, result), 80)}; expected True/False, "
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
