"""The built-in text constraints of SPEC §4, judging ``transcript.final_text``.

By default both the output and the strings of the argument are normalised
(:mod:`incident_evals.constraints.normalize`); ``exact: true`` compares the raw text instead.

* ``contains`` / ``contains_any`` / ``not_contains``: plain substring search (no word
  boundaries; use ``matches`` for those). A string that normalises to nothing (only spaces or
  invisible characters) is a load error unless ``exact: true``.
* ``matches`` / ``not_matches``: a search with Python ``re`` syntax, bounded in size and time
  (:mod:`incident_evals.patterns`; a search that times out is an :class:`UndecidedError`, never a
  verdict). Normalised mode searches the normalised text case-insensitively; look-alike letters,
  typographic quotes and dashes written in the pattern are folded like the text (dashes become
  ``\\-`` so they stay literal inside ``[...]``), nothing else in the pattern is rewritten. Exact
  mode searches the raw text with no flags (inline flags such as ``(?m)`` work).
* ``equals``: the whole output equals the value after normalising both. ``exact: true`` compares the
  raw texts with leading and trailing whitespace ignored, because YAML block scalars end in a
  newline and models often add one; everything else (case, inner spacing) counts.
* ``max_length`` / ``min_length``: characters (code points) of the normalised output, or of the raw
  output, untrimmed, with ``exact: true``.
* ``json_schema``: the argument is the schema (checked at load, any draft named by ``$schema``,
  2020-12 otherwise; ``format`` is asserted). The raw output must parse as JSON; failing that, the
  first fenced block tagged ``json``, or else the first untagged fenced block, is used. ``NaN`` and
  ``Infinity`` are rejected since they are not JSON. Remote ``$ref`` is never fetched.

Failure messages quote the output as the model wrote it: invisible characters appear as escapes
(``\\u200b``), offsets are 0-based characters of the raw output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from incident_evals.constraints import (
    ConstraintArgumentError,
    ConstraintType,
    Verdict,
    argument_schema,
    quote,
)
from incident_evals.constraints.normalize import NormalizedText, fold_pattern, normalize, verbatim
from incident_evals.patterns import BoundedPattern, PatternError, compile_pattern
from incident_evals.schema_refs import check_schema_once, no_fetch_registry, reference_error

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

    from incident_evals.case_types import IncidentCase
    from incident_evals.transcript import Transcript

__all__ = [
    "CONSTRAINTS",
    "EqualsCheck",
    "JsonSchemaCheck",
    "LengthCheck",
    "RegexCheck",
    "SubstringCheck",
    "argument_schema",
]


# --- formatting ----------------------------------------------------------------------------------


def _quote_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote(value, 60) for value in values) + "]"


def _output_excerpt(output: str) -> str:
    return "the output is empty" if not output.strip() else f"output: {quote(output)}"


def _exact_suffix(exact: bool) -> str:
    return " (exact)" if exact else ""


# --- argument parsing ----------------------------------------------------------------------------


def _unpack(argument: Any, key: str) -> tuple[Any, bool]:
    """``(value, exact)`` from the short form or the ``{key: ..., exact: ...}`` form."""
    if not isinstance(argument, dict):
        return argument, False
    if key not in argument:
        raise ConstraintArgumentError(f"missing {key!r}", field=key)
    exact = argument.get("exact", False)
    if not isinstance(exact, bool):
        raise ConstraintArgumentError("'exact' must be true or false", field="exact")
    return argument[key], exact


def _strings(value: Any, *, single: bool) -> tuple[str, ...]:
    if single and isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item for item in value)
    ):
        wanted = "a non-empty string or list of strings" if single else "a list of strings"
        raise ConstraintArgumentError(f"expected {wanted}", field="value")
    return tuple(value)


def _searchable(values: tuple[str, ...], exact: bool) -> tuple[str, ...]:
    if exact:
        return values
    folded = tuple(normalize(value).text for value in values)
    for value, text in zip(values, folded, strict=True):
        if not text:
            raise ConstraintArgumentError(
                f"{quote(value)} is empty after normalisation (only spaces or invisible "
                "characters); use exact: true to search for it as written",
                field="value",
            )
    return folded


def _subject(output: str, exact: bool) -> NormalizedText:
    return verbatim(output) if exact else normalize(output)


# --- contains / contains_any / not_contains ------------------------------------------------------


@dataclass(frozen=True)
class SubstringCheck:
    #: The strings as written in the case.
    values: tuple[str, ...]
    #: What is searched for: ``values`` normalised, or as written with ``exact``.
    searched: tuple[str, ...]
    exact: bool
    #: ``all``: every string appears; ``any``: at least one does; ``none``: none does.
    mode: Literal["all", "any", "none"]
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        subject = _subject(transcript.final_text, self.exact)
        positions = [subject.text.find(searched) for searched in self.searched]
        if self.mode == "all":
            missing = [v for v, at in zip(self.values, positions, strict=True) if at < 0]
            if not missing:
                return Verdict(True, self.expected)
            what = (
                f"{quote(missing[0])} not found"
                if len(missing) == 1
                else f"not found: {', '.join(quote(v, 60) for v in missing)}"
            )
            return self._fail(f"{what}; {_output_excerpt(subject.original)}")
        if self.mode == "any":
            if any(at >= 0 for at in positions):
                return Verdict(True, self.expected)
            message = (
                f"none of {_quote_list(self.values)} found; {_output_excerpt(subject.original)}"
            )
            return self._fail(message)
        hits: list[str] = []
        first_span: str | None = None
        for value, searched, at in zip(self.values, self.searched, positions, strict=True):
            if at < 0:
                continue
            start, end = subject.original_span(at, at + len(searched))
            span = subject.original[start:end]
            if first_span is None:
                first_span = span
            hit = f"found {quote(span)} at char {start}"
            if span != value:
                hit += f" (matching {quote(value, 60)})"
            more = subject.text.count(searched) - 1
            if more:
                hit += f", and {more} more time{'s' if more > 1 else ''}"
            hits.append(hit)
        if not hits:
            return Verdict(True, self.expected)
        return self._fail("; ".join(hits), first_span)

    def _fail(self, message: str, span: str | None = None) -> Verdict:
        return Verdict(False, self.expected, message, span)


def _build_substring(
    argument: Any, mode: Literal["all", "any", "none"], *, single: bool
) -> SubstringCheck:
    value, exact = _unpack(argument, "value")
    values = _strings(value, single=single)
    searched = _searchable(values, exact)
    if mode == "any":
        expected = f"contains any of {_quote_list(values)}"
    elif len(values) == 1:
        expected = f"{'not contains' if mode == 'none' else 'contains'} {quote(values[0], 60)}"
    elif mode == "all":
        expected = f"contains all of {_quote_list(values)}"
    else:
        expected = f"not contains any of {_quote_list(values)}"
    return SubstringCheck(values, searched, exact, mode, expected + _exact_suffix(exact))


def _build_contains(argument: Any, case: IncidentCase) -> SubstringCheck:
    return _build_substring(argument, "all", single=True)


def _build_contains_any(argument: Any, case: IncidentCase) -> SubstringCheck:
    return _build_substring(argument, "any", single=False)


def _build_not_contains(argument: Any, case: IncidentCase) -> SubstringCheck:
    return _build_substring(argument, "none", single=True)


# --- matches / not_matches -----------------------------------------------------------------------


def _compile(pattern: str, *, ignore_case: bool = False) -> BoundedPattern:
    try:
        return compile_pattern(pattern, ignore_case=ignore_case)
    except PatternError as error:
        raise ConstraintArgumentError(
            error.describe(pattern),
            field="pattern",
        ) from None


@dataclass(frozen=True)
class RegexCheck:
    #: The pattern as written in the case.
    source: str
    #: The pattern actually searched (folded and case-insensitive, unless exact).
    regex: BoundedPattern
    exact: bool
    negate: bool
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        subject = _subject(transcript.final_text, self.exact)
        # A timeout raises PatternTimeout: the output could not be shown to match or not.
        match = self.regex.search(subject.text)
        if not self.negate:
            if match:
                return Verdict(True, self.expected)
            message = f"/{self.source}/ not found; {_output_excerpt(subject.original)}"
            return Verdict(False, self.expected, message)
        if match is None:
            return Verdict(True, self.expected)
        start, end = subject.original_span(*match.span())
        span = subject.original[start:end]
        if start == end:
            message = f"/{self.source}/ matched the empty string at char {start}"
        else:
            message = f"found {quote(span)} at char {start}"
        return Verdict(False, self.expected, message, span)


def _build_regex(argument: Any, *, negate: bool) -> RegexCheck:
    pattern, exact = _unpack(argument, "pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ConstraintArgumentError("expected a regular expression string", field="pattern")
    # Compiled as written first, so that error positions refer to what the author wrote.
    regex = _compile(pattern)
    if not exact:
        regex = _compile(fold_pattern(pattern), ignore_case=True)
    expected = f"{'not matches' if negate else 'matches'} /{pattern}/{_exact_suffix(exact)}"
    return RegexCheck(pattern, regex, exact, negate, expected)


def _build_matches(argument: Any, case: IncidentCase) -> RegexCheck:
    return _build_regex(argument, negate=False)


def _build_not_matches(argument: Any, case: IncidentCase) -> RegexCheck:
    return _build_regex(argument, negate=True)


# --- equals --------------------------------------------------------------------------------------


def _splits_word(text: str, index: int) -> bool:
    return 0 < index < len(text) and text[index - 1].isalnum() and text[index].isalnum()


def _differing_region(got: str, want: str) -> tuple[int, int, int]:
    """``(start, got_end, want_end)``: ``got[start:got_end]`` differs from ``want[start:want_end]``.

    The region is what lies between the common prefix and the common suffix, widened to whole words
    so that "60 days" against "30 days" reports "60" and "30" rather than "6" and "3".
    """
    shorter = min(len(got), len(want))
    start = 0
    while start < shorter and got[start] == want[start]:
        start += 1
    suffix = 0
    while suffix < shorter - start and got[-1 - suffix] == want[-1 - suffix]:
        suffix += 1
    while start > 0 and (_splits_word(got, start) or _splits_word(want, start)):
        start -= 1
    while suffix > 0 and (
        _splits_word(got, len(got) - suffix) or _splits_word(want, len(want) - suffix)
    ):
        suffix -= 1
    return start, len(got) - suffix, len(want) - suffix


def _strip_view(text: str) -> NormalizedText:
    stripped = text.strip()
    start = len(text) - len(text.lstrip()) if stripped else 0
    return verbatim(text, start, start + len(stripped))


@dataclass(frozen=True)
class EqualsCheck:
    value: str
    expected_view: NormalizedText
    exact: bool
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        output = transcript.final_text
        subject = _strip_view(output) if self.exact else normalize(output)
        want = self.expected_view
        if subject.text == want.text:
            return Verdict(True, self.expected)
        start, got_end, want_end = _differing_region(subject.text, want.text)
        got_first, got_last = subject.original_span(start, got_end)
        got = output[got_first:got_last]
        wanted = want.original_text(start, want_end)
        if not got:
            detail = f"missing {quote(wanted)}"
        elif not wanted:
            detail = f"unexpected {quote(got)}"
        else:
            detail = f"got {quote(got)} where {quote(wanted)} was expected"
        message = f"output differs at char {got_first}: {detail}"
        return Verdict(False, self.expected, message, got or None)


def _build_equals(argument: Any, case: IncidentCase) -> EqualsCheck:
    value, exact = _unpack(argument, "value")
    if not isinstance(value, str):
        raise ConstraintArgumentError("expected a string", field="value")
    view = _strip_view(value) if exact else normalize(value)
    return EqualsCheck(value, view, exact, f"equals {quote(value)}{_exact_suffix(exact)}")


# --- max_length / min_length ---------------------------------------------------------------------


@dataclass(frozen=True)
class LengthCheck:
    limit: int
    maximum: bool
    exact: bool
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        subject = _subject(transcript.final_text, self.exact)
        length = len(subject.text)
        if self.maximum and length > self.limit:
            start, _ = subject.original_span(self.limit, length)
            overflow = subject.original[start:]
            message = (
                f"length {length} > {self.limit}; the overflow begins at char {start}: "
                f"{quote(overflow)}"
            )
            return Verdict(False, self.expected, message, overflow)
        if not self.maximum and length < self.limit:
            message = f"length {length} < {self.limit}; {_output_excerpt(subject.original)}"
            return Verdict(False, self.expected, message)
        return Verdict(True, self.expected)


def _build_length(argument: Any, *, maximum: bool) -> LengthCheck:
    limit, exact = _unpack(argument, "value")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConstraintArgumentError("expected a non-negative integer", field="value")
    expected = f"length {'<=' if maximum else '>='} {limit}{_exact_suffix(exact)}"
    return LengthCheck(limit, maximum, exact, expected)


def _build_max_length(argument: Any, case: IncidentCase) -> LengthCheck:
    return _build_length(argument, maximum=True)


def _build_min_length(argument: Any, case: IncidentCase) -> LengthCheck:
    return _build_length(argument, maximum=False)


# --- json_schema ---------------------------------------------------------------------------------

_FENCE = re.compile(
    r"^[ \t]{0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\s`]*)[^\n]*\n"
    r"(?P<body>.*?)^[ \t]{0,3}(?P=fence)[`~]*[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def _fenced_block(output: str) -> re.Match[str] | None:
    untagged: re.Match[str] | None = None
    for match in _FENCE.finditer(output):
        info = match["info"].lower()
        if info == "json":
            return match
        if not info and untagged is None:
            untagged = match
    return untagged


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _describe_json_error(error: ValueError, text: str, first_line: int) -> tuple[str, str | None]:
    """The parse error with its line counted in the whole output, and the text of that line."""
    if not isinstance(error, json.JSONDecodeError):
        return str(error), None
    lines = text.splitlines()
    line = lines[error.lineno - 1] if 0 < error.lineno <= len(lines) else None
    where = f"line {first_line + error.lineno - 1} column {error.colno}"
    return f"{error.msg} at {where}", line


@dataclass(frozen=True)
class JsonSchemaCheck:
    schema: dict[str, Any]
    #: Of the draft the schema's ``$schema`` names.
    validator: Validator
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        output = transcript.final_text
        where = "output"
        try:
            document = _parse_json(output)
        except ValueError as whole_error:
            block = _fenced_block(output)
            if block is None:
                problem, _ = _describe_json_error(whole_error, output, 1)
                message = (
                    f"output is not JSON ({problem}) and has no fenced json block; "
                    f"{_output_excerpt(output)}"
                )
                return Verdict(False, self.expected, message)
            body = block["body"]
            first_line = output.count("\n", 0, block.start("body")) + 1
            where = f"fenced block at line {first_line}"
            try:
                document = _parse_json(body)
            except ValueError as block_error:
                problem, line = _describe_json_error(block_error, body, first_line)
                message = f"{where} is not valid JSON: {problem}"
                if line is not None:
                    message += f": {quote(line)}"
                return Verdict(False, self.expected, message, line)
        from jsonschema.exceptions import best_match

        errors: list[ValidationError] = list(self.validator.iter_errors(document))
        if not errors:
            return Verdict(True, self.expected)
        error = best_match(errors)
        assert error is not None  # best_match only returns None for no errors
        more = len(errors) - 1
        message = f"{error.json_path}: {_clip(error.message)} (in the {where})"
        if more:
            message += f"; {more} more error{'s' if more > 1 else ''}"
        return Verdict(False, self.expected, message)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _build_json_schema(argument: Any, case: IncidentCase) -> JsonSchemaCheck:
    # Imported here: a catalogue without json_schema constraints never needs jsonschema.
    import jsonschema
    from jsonschema.exceptions import SchemaError

    if not isinstance(argument, dict):
        raise ConstraintArgumentError("expected a JSON Schema object")
    validator_class = jsonschema.validators.validator_for(
        argument, default=jsonschema.Draft202012Validator
    )
    try:
        check_schema_once(validator_class, argument)
    except SchemaError as error:
        raise ConstraintArgumentError(
            f"invalid JSON Schema at {error.json_path}: {_clip(error.message)}",
            field=error.json_path,
        ) from error
    # A case file may not make the run fetch anything: references stay inside the schema.
    refused = reference_error(argument)
    if refused is not None:
        raise refused
    validator = validator_class(
        argument, format_checker=validator_class.FORMAT_CHECKER, registry=no_fetch_registry()
    )
    title = argument.get("title")
    expected = (
        f"JSON valid under {quote(title, 60)}"
        if isinstance(title, str)
        else f"JSON valid under {_clip(json.dumps(argument, ensure_ascii=False), 100)}"
    )
    return JsonSchemaCheck(argument, validator, expected)


CONSTRAINTS: tuple[ConstraintType, ...] = (
    ConstraintType(
        "contains",
        argument_schema("contains"),
        _build_contains,
        "every string appears in the output",
    ),
    ConstraintType(
        "contains_any",
        argument_schema("contains_any"),
        _build_contains_any,
        "at least one of the strings appears in the output",
    ),
    ConstraintType(
        "not_contains",
        argument_schema("not_contains"),
        _build_not_contains,
        "none of the strings appears in the output",
    ),
    ConstraintType(
        "matches",
        argument_schema("matches"),
        _build_matches,
        "the regular expression is found in the output",
    ),
    ConstraintType(
        "not_matches",
        argument_schema("not_matches"),
        _build_not_matches,
        "the regular expression is not found in the output",
    ),
    ConstraintType(
        "equals",
        argument_schema("equals"),
        _build_equals,
        "the whole output equals the string",
    ),
    ConstraintType(
        "max_length",
        argument_schema("max_length"),
        _build_max_length,
        "the output has at most that many characters",
    ),
    ConstraintType(
        "min_length",
        argument_schema("min_length"),
        _build_min_length,
        "the output has at least that many characters",
    ),
    ConstraintType(
        "json_schema",
        argument_schema("json_schema"),
        _build_json_schema,
        "the output (or its fenced json block) is JSON valid under the schema",
    ),
)
