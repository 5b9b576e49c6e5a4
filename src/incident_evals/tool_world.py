"""The tool world of one sample: which recorded response answers each tool call.

Nothing is executed (except a tool's own ``python`` handler, which is project code). A tool's
``responses`` are tried in file order; a response answers a call when all its conditions hold:

* ``when``: a recursive subset of the parsed arguments (:func:`is_subset`), taken literally;
* ``match``: per argument, ``{regex: ...}`` (searched in the argument's string value with the
  bounded engine of :mod:`incident_evals.patterns`) or ``{schema: ...}`` (the argument's value is
  valid under the JSON Schema; nothing is fetched); a missing argument matches neither;
* ``when_state``: each named state variable holds the value given;
* ``times: N``: the response has answered fewer than N calls in this sample.

A response with none of these conditions is a fallback; the first fallback answers a call no
conditional response takes, else :data:`NO_RECORDED_RESPONSE`. A response's ``set`` assigns
state variables once it has answered.

The world lives for one sample: each repeat, and each item, starts with no state and no counts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from incident_evals.case_types import ArgumentMatch, RecordedResponse, Tool
from incident_evals.client import EndpointError
from incident_evals.errors import (
    ConstraintArgumentError,
    describe_exception,
    raised_at,
    safe_text,
)
from incident_evals.patterns import PatternError, PatternTimeout, compile_pattern

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from incident_evals.transcript import ToolCall

__all__ = [
    "NO_RECORDED_RESPONSE",
    "MatchError",
    "ToolError",
    "ToolWorld",
    "argument_validator",
    "arguments_match",
    "call_failed",
    "compile_matches",
    "is_subset",
]

NO_RECORDED_RESPONSE = {"error": "no recorded response for this call"}
#: The operators a ``match`` entry may use, exactly one per argument.
MATCH_OPERATORS = ("regex", "schema")


class ToolError(EndpointError):
    """A tool call the world could not answer: a ``match`` regex that ran out of time, or a
    ``python`` handler that raised or returned something that is not JSON. Never a verdict:
    the item becomes an error ("tool error: ...")."""

    kind = "tool"

    def __init__(self, cause: str) -> None:
        super().__init__(cause, 0)


class MatchError(ConstraintArgumentError):
    """A ``match`` entry that cannot be used; ``at`` is its path under the ``match`` mapping."""

    def __init__(self, message: str, at: tuple[str | int, ...], field: str = "match") -> None:
        super().__init__(message, field)
        self.at = at


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def argument_validator(schema: dict[str, Any], field: str | None = "schema") -> Validator:
    """A validator for ``schema`` as a case writes it (``tool_args``, ``match``): any draft named
    by ``$schema`` (2020-12 otherwise), ``format`` asserted, no reference fetched.

    Raises :class:`ConstraintArgumentError` for an invalid schema or a reference outside it.
    """
    import jsonschema
    from jsonschema.exceptions import SchemaError

    from incident_evals.schema_refs import check_schema_once, no_fetch_registry, reference_error

    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    try:
        check_schema_once(validator_class, schema)
    except SchemaError as error:
        raise ConstraintArgumentError(
            f"invalid JSON Schema at {error.json_path}: {_clip(error.message)}", field=field
        ) from error
    # A case file may not make the run fetch anything: references stay inside the schema.
    refused = reference_error(schema, field)
    if refused is not None:
        raise refused
    validator: Validator = validator_class(
        schema, format_checker=validator_class.FORMAT_CHECKER, registry=no_fetch_registry()
    )
    return validator


@functools.lru_cache(maxsize=512)
def _cached_validator(text: str) -> Validator:
    return argument_validator(json.loads(text))


def compile_matches(raw: Mapping[str, Any]) -> tuple[ArgumentMatch, ...]:
    """``match`` as written (``{argument: {regex: ...} | {schema: ...}}``), checked.

    Raises :class:`MatchError` naming the entry at fault: a bad regex, a bad schema, or an
    entry without exactly one operator.
    """
    matches = []
    for argument, operators in raw.items():
        if not isinstance(operators, Mapping) or len(operators) != 1:
            raise MatchError(
                f"{argument}: expected exactly one of {{regex: ...}} or {{schema: ...}}",
                (argument,),
            )
        [(operator, value)] = operators.items()
        if operator == "regex":
            if not isinstance(value, str):
                raise MatchError(f"{argument}.regex must be a string", (argument, operator))
            try:
                compile_pattern(value)
            except PatternError as error:
                raise MatchError(error.describe(value), (argument, operator)) from None
            matches.append(ArgumentMatch(argument, regex=value))
        elif operator == "schema":
            if not isinstance(value, Mapping):
                raise MatchError(f"{argument}.schema must be a JSON Schema object", (argument,))
            try:
                argument_validator(dict(value), None)
            except ConstraintArgumentError as error:
                inside = getattr(error, "at", None) or ()
                raise MatchError(str(error), (argument, operator, *inside)) from None
            matches.append(ArgumentMatch(argument, schema=dict(value)))
        else:
            raise MatchError(
                f"{argument}: unknown operator {operator!r} (use regex or schema)", (argument,)
            )
    return tuple(matches)


def is_subset(expected: Any, actual: Any) -> bool:
    """``expected`` matches ``actual`` when every key it names (recursively) has an equal value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def _holds(match: ArgumentMatch, arguments: Mapping[str, Any]) -> bool:
    if match.argument not in arguments:
        return False
    value = arguments[match.argument]
    if match.regex is not None:
        # Only text is searched: a number is not its digits to a pattern.
        return isinstance(value, str) and compile_pattern(match.regex).search(value) is not None
    assert match.schema is not None
    validator = _cached_validator(json.dumps(match.schema, sort_keys=True))
    return bool(validator.is_valid(value))


def arguments_match(
    when: Mapping[str, Any] | None,
    match: Sequence[ArgumentMatch],
    arguments: Mapping[str, Any] | None,
) -> bool:
    """``when`` and every ``match`` hold of ``arguments`` (``None``: they did not parse).

    Raises :class:`~incident_evals.patterns.PatternTimeout` when a regex runs out of time.
    """
    if arguments is None:
        return False
    if when is not None and not is_subset(dict(when), dict(arguments)):
        return False
    return all(_holds(m, arguments) for m in match)


def call_failed(call: ToolCall) -> bool:
    """A call failed when its arguments did not parse, or the answer it got is a JSON object
    with an ``error`` key whose value is neither null nor false. Unanswered calls did not fail.
    """
    if not call.answered:
        return False
    if call.arguments_error is not None:
        return True
    output = call.output
    return isinstance(output, dict) and output.get("error") not in (None, False)


def _conditional(response: RecordedResponse) -> bool:
    return (
        response.when is not None
        or bool(response.match)
        or response.when_state is not None
        or response.times is not None
    )


@dataclass
class ToolWorld:
    """The state of one sample's tools: each response's count, and the declared state."""

    tools: Sequence[Tool]
    #: Whether a ``python`` handler may run (the recorded self-check runs no project code).
    run_handlers: bool = True
    state: dict[str, str] = field(default_factory=dict)
    used: dict[tuple[str, int], int] = field(default_factory=dict)
    calls: list[ToolCall] = field(default_factory=list)

    def answer(self, call: ToolCall) -> Any:
        """The output for ``call``, remembered for later calls (``None`` if its arguments did not
        parse: the replay answers those with the parse error).

        Raises :class:`ToolError` when it cannot be answered.
        """
        tool = next((t for t in self.tools if t.name == call.name), None)
        try:
            # A call whose arguments did not parse is answered with that error by the replay:
            # it counts as a call so far, and changes no count or state.
            output = None if call.arguments_error else self._answer(tool, call)
        finally:
            self.calls.append(call)
        return output

    def _answer(self, tool: Tool | None, call: ToolCall) -> Any:
        if tool is None:
            return NO_RECORDED_RESPONSE
        if tool.python is not None:
            if not self.run_handlers:
                return None
            return self._handle(tool.python, call)
        chosen = None
        for index, response in enumerate(tool.responses):
            if _conditional(response) and self._takes(tool.name, index, response, call):
                chosen = index
                break
        if chosen is None:
            chosen = next((i for i, r in enumerate(tool.responses) if not _conditional(r)), None)
        if chosen is None:
            return NO_RECORDED_RESPONSE
        response = tool.responses[chosen]
        self.used[tool.name, chosen] = self.used.get((tool.name, chosen), 0) + 1
        if response.set_state is not None:
            self.state.update(response.set_state)
        return response.output

    def _takes(self, name: str, index: int, response: RecordedResponse, call: ToolCall) -> bool:
        if response.times is not None and self.used.get((name, index), 0) >= response.times:
            return False
        if response.when_state is not None and any(
            self.state.get(key) != value for key, value in response.when_state.items()
        ):
            return False
        try:
            return arguments_match(response.when, response.match, call.arguments)
        except PatternTimeout as error:
            where = f"{name} call {len(self.calls) + 1}: responses[{index}].match"
            raise ToolError(f"{where}: {error}") from None

    def _handle(self, reference: str, call: ToolCall) -> Any:
        from incident_evals.constraints.custom import resolve_function

        where = f"{call.name} call {len(self.calls) + 1}: handler {reference}"
        try:
            function = resolve_function(reference)
        except ConstraintArgumentError as error:
            raise ToolError(f"{where}: {error}") from None
        try:
            output = function(call.name, dict(call.arguments or {}), tuple(self.calls))
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            # Project code: whatever it raises is this item's error, never a verdict.
            at = raised_at(error)
            suffix = f" ({at})" if at else ""
            raise ToolError(f"{where} raised {describe_exception(error)}{suffix}") from None
        try:
            json.dumps(output, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            shown = _clip(safe_text(repr, output), 80)
            raise ToolError(
                f"{where} returned {shown}, which is not JSON (return a string, number, "
                "boolean, null, list or dict)"
            ) from None
        return output
