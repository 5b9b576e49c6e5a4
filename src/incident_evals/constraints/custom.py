"""``python: "module:function"``: a project's own check, written as a plain function.

The function is imported when the case loads (a missing module or function is a load error
naming the line) and called as ``function(transcript, case)`` for each sample. It returns:

* ``True`` / ``False``;
* ``(passed, message)``, the message explaining a failure;
* or a :class:`~incident_evals.constraints.Verdict`.

Anything else is a failure saying what came back. An exception raised by the function fails the
constraint with the exception and the line it came from: a broken check must not pass, and the
other constraints of the item are still judged and shown.

The module is imported with the ordinary ``sys.path``: a package installed in the environment,
or a module under a folder named in pytest's ``pythonpath`` ini option (``incident-evals
validate`` also puts the current directory first, as ``python -m`` does).
"""

from __future__ import annotations

import importlib
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incident_evals.constraints import (
    ConstraintArgumentError,
    ConstraintType,
    Verdict,
    argument_schema,
    quote,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from incident_evals.case import IncidentCase
    from incident_evals.transcript import Transcript

__all__ = ["CONSTRAINTS", "PythonCheck", "resolve_function"]


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
        raise _import_failed(module_name, error) from None
    except Exception as error:
        raise _import_failed(module_name, error) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            message = f"{module_name!r} has no attribute {attribute!r}"
            raise ConstraintArgumentError(message) from None
    if not callable(target):
        raise ConstraintArgumentError(f"{reference} is {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def _import_failed(module_name: str, error: BaseException) -> ConstraintArgumentError:
    return ConstraintArgumentError(
        f"importing {module_name!r} raised {type(error).__name__}: {error}"
    )


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" ({last.filename}:{last.lineno})"


@dataclass(frozen=True)
class PythonCheck:
    reference: str
    function: Callable[..., Any]
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        try:
            result = self.function(transcript, case)
        except Exception as error:
            message = f"{self.reference} raised {type(error).__name__}: {error}{_where(error)}"
            return Verdict(False, self.expected, message)
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
        return Verdict(
            False,
            self.expected,
            f"{self.reference} returned {quote(repr(result), 80)}; expected True/False, "
            "(passed, message) or a Verdict",
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
