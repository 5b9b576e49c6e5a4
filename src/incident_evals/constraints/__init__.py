"""Constraint verdicts: each ``expect`` entry becomes a pure check of (case, transcript).

Built-in constraints and project constraints share one registry; a constraint type supplies the
JSON Schema of its argument and a ``build`` function that turns a validated argument into a check,
raising :class:`ConstraintArgumentError` for what a schema cannot express (a bad regex, an unknown
document id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

# Defined below this package (schema_refs raises it too); projects import it from here.
from incident_evals.errors import ConstraintArgumentError as ConstraintArgumentError
from incident_evals.errors import describe_exception, raised_at
from incident_evals.registry import Registry
from incident_evals.schema_files import load_schema

if TYPE_CHECKING:
    from incident_evals.case_types import IncidentCase
    from incident_evals.transcript import Transcript


QUOTE_LIMIT = 120


def argument_schema(name: str) -> dict[str, Any]:
    """The argument schema of built-in ``name``, as the shipped case schema defines it."""
    import copy

    # A copy, so that a caller editing its ConstraintType cannot change the shared case schema.
    return copy.deepcopy(load_schema("case")["$defs"]["constraints"][name])


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` in double quotes for a message: clipped, invisible characters escaped."""
    clipped = len(text) > limit
    body = text[:limit] if clipped else text
    if body.isprintable() and '"' not in body and "\\" not in body:
        # Nothing to escape (the space is printable): most texts, at every constraint's build.
        return '"' + body + ("…" if clipped else "") + '"'
    escaped: list[str] = []
    for ch in body:
        if ch in '"\\':
            escaped.append("\\" + ch)
        elif ch == " " or ch.isprintable():
            escaped.append(ch)
        else:
            # Invisible or control characters are exactly what an evasion hides behind.
            escaped.append(ch.encode("unicode_escape").decode("ascii"))
    return '"' + "".join(escaped) + ("…" if clipped else "") + '"'


class UndecidedError(Exception):
    """A check that reached no verdict on this transcript: a pattern that ran out of time, or
    project code that raised or returned something that is not a verdict.

    It is never a pass and never a failure: the item becomes an error naming the constraint,
    and the recorded-output check reports it. :meth:`BoundConstraint.judge` fills in
    ``constraint``.
    """

    def __init__(self, message: str, constraint: BoundConstraint | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.constraint = constraint

    def __str__(self) -> str:
        if self.constraint is None:
            return self.message
        return f"{self.constraint.name} (line {self.constraint.line}): {self.message}"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    #: What was expected, in the user's terms (e.g. ``not contains '60 days'``).
    expected: str = ""
    #: Why it failed; quotes the offending span where there is one.
    message: str = ""
    #: The offending text exactly as it appears in the output, when there is one.
    span: str | None = None


class Check(Protocol):
    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict: ...


@dataclass(frozen=True)
class ConstraintType:
    name: str
    #: JSON Schema of the argument, checked before ``build`` is called.
    argument_schema: dict[str, Any]
    build: Callable[[Any, IncidentCase], Check]
    description: str = ""
    #: False for a constraint whose verdict asks a model (``judge``): it is never run inline
    #: by the runtime guard (:mod:`incident_evals.guard`), only by runs and ``scan --judge``.
    deterministic: bool = True


_Registry = TypeVar("_Registry", bound="ConstraintRegistry")


class ConstraintRegistry(Registry[ConstraintType]):
    kind = "constraint"
    entry_type = ConstraintType

    def __init__(self) -> None:
        super().__init__()
        self._validators: dict[str, Any] = {}

    def copy(self: _Registry) -> _Registry:
        """A registry with the same constraints, to which a project adds its own."""
        copied = super().copy()
        copied._validators = dict(self._validators)
        return copied

    def argument_validator(self, name: str) -> Any:
        """A compiled JSON Schema validator for ``name``'s argument (built once per run)."""
        if name not in self._validators:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            # Imported here: schema_refs builds its errors on this module's.
            from incident_evals.schema_refs import no_fetch_registry, reference_error

            schema = self._entries[name].argument_schema
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as error:
                raise ConstraintArgumentError(
                    f"constraint {name!r} has an invalid argument_schema "
                    f"(at {error.json_path}: {error.message}); fix its registration"
                ) from None
            # A reference outside the schema is refused by name, and would not be fetched.
            refused = reference_error(schema)
            if refused is not None:
                at = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in refused.at)
                raise ConstraintArgumentError(
                    f"constraint {name!r} has an invalid argument_schema (at {at}: {refused}); "
                    "fix its registration"
                )
            self._validators[name] = Draft202012Validator(schema, registry=no_fetch_registry())
        return self._validators[name]


@dataclass(frozen=True)
class BoundConstraint:
    """A constraint of one case, ready to judge transcripts."""

    name: str
    argument: Any
    line: int
    check: Check
    #: The generated turn (1-based) it judges, when a conversation is regenerated; else the
    #: final one.
    turn: int | None = None
    #: It judges every generated turn, and fails when it fails on one.
    any_turn: bool = False
    #: Its type's :attr:`ConstraintType.deterministic`.
    deterministic: bool = True

    def judge(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        """The check's verdict; :class:`UndecidedError` naming this constraint when there is none.

        A transcript of a regenerated conversation (one with ``turns``) is judged on the final
        turn, on turn ``turn``, or on every turn (``any_turn``), and a failure says which.
        A KeyboardInterrupt is let through: it cannot be told apart from a real Ctrl-C.
        """
        turns = transcript.turns
        if not turns:
            return self._judge(transcript, case)
        if self.any_turn:
            for number, turn in enumerate(turns, 1):
                verdict = self._judge(turn, case, number)
                if not verdict.passed:
                    return _at_turn(verdict, number, len(turns))
            return Verdict(passed=True)
        number = self.turn or len(turns)
        if number > len(turns):
            return Verdict(
                passed=False,
                expected=f"turn {number} to be generated",
                message=f"the conversation stopped after turn {len(turns)}, whose reply was "
                "still calling tools at max_turns",
            )
        verdict = self._judge(turns[number - 1], case, number)
        return verdict if verdict.passed else _at_turn(verdict, number, len(turns))

    def _judge(
        self, transcript: Transcript, case: IncidentCase, turn: int | None = None
    ) -> Verdict:
        try:
            return self._verdict(transcript, case)
        except UndecidedError as exc:
            if turn is None:
                raise
            raise UndecidedError(f"turn {turn}: {exc.message}", self) from None

    def _verdict(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        try:
            verdict = self.check(transcript, case)
        except UndecidedError as exc:
            raise UndecidedError(exc.message, self) from None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            # A project's check is code the plugin does not control (it may even call
            # sys.exit): one line, and never a verdict.
            where = raised_at(exc)
            message = f"raised {describe_exception(exc)}{f' ({where})' if where else ''}"
            raise UndecidedError(message, self) from None
        if not isinstance(verdict, Verdict):
            message = f"the check returned {type(verdict).__name__}, not a Verdict"
            raise UndecidedError(message, self)
        return verdict


def partial_check(check: Check) -> Check | None:
    """``check`` as it judges a conversation still under way (a tool call about to run, before
    any final reply), or ``None`` when it can only judge a finished one.

    A check whose failure no later turn could undo (a forbidden call, arguments off the
    allow-list, a leak in arguments) says so with a ``partial()`` method returning itself, or a
    relaxed copy (``tool_sequence`` without its "every tool is called" half). A check without
    one (``contains``, ``refuses``, a project's check) waits for the final reply: judged on a
    half-finished conversation it would block a tool loop that was about to do the right thing.
    """
    partial = getattr(check, "partial", None)
    if not callable(partial):
        return None
    relaxed = partial()
    return relaxed if relaxed is None or callable(relaxed) else None


def _at_turn(verdict: Verdict, turn: int, turns: int) -> Verdict:
    """A failing verdict on one turn of a regenerated conversation, saying which."""
    where = f"at turn {turn} of {turns}"
    message = f"{where}: {verdict.message}" if verdict.message else where
    return Verdict(False, verdict.expected, message, verdict.span)


@dataclass(frozen=True)
class LoadedCase:
    """A case as the loader returns it: with its ``expect`` bound to checks."""

    case: IncidentCase
    constraints: tuple[BoundConstraint, ...]
    #: The constraints of hand-written variants that override ``expect``, by variant name.
    variant_constraints: dict[str, tuple[BoundConstraint, ...]] = field(default_factory=dict)


#: The modules of built-in constraints, each with a ``CONSTRAINTS`` tuple.
BUILTIN_MODULES = (
    "text",
    "tools",
    "documents",
    "data",
    "links",
    "refusal",
    "judge",
    "custom",
)


def builtin_registry() -> ConstraintRegistry:
    import importlib

    registry = ConstraintRegistry()
    for module in BUILTIN_MODULES:
        for constraint in importlib.import_module(
            f"incident_evals.constraints.{module}"
        ).CONSTRAINTS:
            registry.register(constraint)
    return registry
