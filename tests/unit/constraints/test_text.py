"""The built-in text constraints: contains, contains_any, not_contains, matches, not_matches,
equals, max_length, min_length, json_schema."""

# The look-alike characters in these tests are their subject, not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from incident_evals.case import CaseInput, ConstraintSpec, Incident, IncidentCase
from incident_evals.constraints import (
    ConstraintArgumentError,
    ConstraintType,
    UndecidedError,
    Verdict,
    builtin_registry,
)
from incident_evals.constraints.text import CONSTRAINTS, argument_schema
from incident_evals.transcript import Transcript

NAMES = (
    "contains",
    "contains_any",
    "not_contains",
    "matches",
    "not_matches",
    "equals",
    "max_length",
    "min_length",
    "json_schema",
)


def make_case(*expect: ConstraintSpec) -> IncidentCase:
    return IncidentCase(
        id="INC-test",
        incident=Incident(category="correctness", severity="major"),
        input=CaseInput(messages=({"role": "user", "content": "What is the refund window?"},)),
        expect=expect or (ConstraintSpec("contains", "30 days", 1),),
        path=Path("incident_cases/inc-test.yaml"),
        line=1,
    )


def constraint(name: str) -> ConstraintType:
    found = builtin_registry().get(name)
    assert found is not None, name
    return found


def judge(name: str, argument: Any, output: str) -> Verdict:
    """Validate ``argument`` as the loader would, build the check, and judge ``output``."""
    ctype = constraint(name)
    jsonschema.validate(argument, ctype.argument_schema)
    case = make_case(ConstraintSpec(name, argument, 1))
    check = ctype.build(argument, case)
    return check(Transcript(final_text=output), case)


def build_error(name: str, argument: Any) -> ConstraintArgumentError:
    ctype = constraint(name)
    jsonschema.validate(argument, ctype.argument_schema)
    with pytest.raises(ConstraintArgumentError) as info:
        ctype.build(argument, make_case())
    return info.value


# --- registry and argument schemas ---------------------------------------------------------------


def test_registry_holds_the_nine_text_constraints() -> None:
    registry = builtin_registry()
    assert set(NAMES) <= set(registry.names())
    assert sorted(c.name for c in CONSTRAINTS) == sorted(NAMES)
    assert all(c.description for c in CONSTRAINTS)


def test_argument_schemas_come_from_the_shipped_case_schema() -> None:
    resource = resources.files("incident_evals") / "schemas" / "case.schema.json"
    shipped = json.loads(resource.read_text(encoding="utf-8"))["$defs"]["constraints"]
    for ctype in CONSTRAINTS:
        assert ctype.argument_schema == shipped[ctype.name], ctype.name
        jsonschema.Draft202012Validator.check_schema(ctype.argument_schema)


def test_argument_schema_hands_out_copies_of_the_shipped_schema() -> None:
    schema = argument_schema("contains")
    schema["mutated"] = True
    assert "mutated" not in argument_schema("contains")


VALID_ARGUMENTS = [
    ("contains", "60 days"),
    ("contains", ["60 days", "receipt"]),
    ("contains", {"value": "60 days"}),
    ("contains", {"value": ["a", "b"], "exact": True}),
    ("contains_any", ["a", "b"]),
    ("contains_any", {"value": ["a"], "exact": False}),
    ("not_contains", "60 days"),
    ("not_contains", ["a", "b"]),
    ("not_contains", {"value": "a", "exact": True}),
    ("matches", r"\d+ days"),
    ("matches", {"pattern": r"\d+", "exact": True}),
    ("not_matches", "x"),
    ("not_matches", {"pattern": "x"}),
    ("equals", "exact answer"),
    ("equals", ""),
    ("equals", {"value": "Answer", "exact": True}),
    ("max_length", 400),
    ("max_length", {"value": 0, "exact": True}),
    ("min_length", 10),
    ("min_length", {"value": 10}),
    ("json_schema", {"type": "object"}),
    ("json_schema", {}),
]

INVALID_ARGUMENTS = [
    ("contains", ""),
    ("contains", []),
    ("contains", [1]),
    ("contains", 5),
    ("contains", {"value": "a", "exact": "yes"}),
    ("contains", {"exact": True}),
    ("contains", {"value": "a", "other": 1}),
    ("contains_any", "a"),
    ("contains_any", []),
    ("contains_any", {"value": "a"}),
    ("not_contains", None),
    ("not_contains", {"value": [""]}),
    ("matches", ""),
    ("matches", ["a"]),
    ("matches", {"value": "a"}),
    ("not_matches", {"pattern": 3}),
    ("equals", 3),
    ("equals", ["a"]),
    ("equals", {"value": "a", "exact": 1}),
    ("max_length", -1),
    ("max_length", "400"),
    ("max_length", 4.5),
    ("max_length", {"value": -1}),
    ("min_length", {"exact": True}),
    ("min_length", None),
    ("json_schema", "object"),
    ("json_schema", True),
    ("json_schema", ["type", "object"]),
]


@pytest.mark.parametrize(("name", "argument"), VALID_ARGUMENTS)
def test_argument_schema_accepts_short_and_long_forms(name: str, argument: Any) -> None:
    jsonschema.validate(argument, constraint(name).argument_schema)
    constraint(name).build(argument, make_case())


@pytest.mark.parametrize(("name", "argument"), INVALID_ARGUMENTS)
def test_argument_schema_rejects_wrong_shapes(name: str, argument: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(argument, constraint(name).argument_schema)


def test_every_constraint_has_valid_and_invalid_examples() -> None:
    assert {name for name, _ in VALID_ARGUMENTS} == set(NAMES)
    assert {name for name, _ in INVALID_ARGUMENTS} == set(NAMES)


# --- contains ------------------------------------------------------------------------------------


def test_contains_passes_when_every_string_appears() -> None:
    verdict = judge("contains", ["30 days", "receipt"], "Bring the receipt within 30 days.")
    assert verdict == Verdict(True, 'contains all of ["30 days", "receipt"]')


def test_contains_fails_quoting_the_start_of_the_output() -> None:
    verdict = judge("contains", "30 days", "Refunds are accepted within 60 days of purchase.")
    assert not verdict.passed
    assert verdict.expected == 'contains "30 days"'
    assert verdict.message == (
        '"30 days" not found; output: "Refunds are accepted within 60 days of purchase."'
    )
    assert verdict.span is None


def test_contains_lists_every_missing_string_and_clips_long_output() -> None:
    output = "x" * 200
    verdict = judge("contains", ["a", "b", "x"], output)
    assert not verdict.passed
    assert verdict.message.startswith('not found: "a", "b"; output: "xxx')
    assert verdict.message.endswith('x…"')
    assert len(verdict.message) < 160


def test_contains_on_empty_output() -> None:
    verdict = judge("contains", "30 days", "  \n")
    assert verdict.message == '"30 days" not found; the output is empty'


@pytest.mark.parametrize(
    "output",
    [
        pytest.param("within THIRTY DAYS", id="case"),
        pytest.param("within\n  thirty \t days", id="whitespace"),
        pytest.param("within thirty\u200b days", id="zero-width"),
        pytest.param("within thіrty dаys", id="homoglyphs"),
    ],
)
def test_contains_normalises_the_output(output: str) -> None:
    assert judge("contains", "Thirty days", output).passed


def test_contains_normalises_the_strings_too() -> None:
    assert judge("contains", "６０  DAYS", "within 60 days").passed


def test_contains_exact_compares_raw_text() -> None:
    assert judge("contains", {"value": "60 Days", "exact": True}, "within 60 Days").passed
    verdict = judge("contains", {"value": "60 Days", "exact": True}, "within 60 days")
    assert not verdict.passed
    assert verdict.expected == 'contains "60 Days" (exact)'


def test_string_empty_after_normalisation_is_a_load_error() -> None:
    error = build_error("contains", "\u200b ")
    assert error.field == "value"
    assert "exact: true" in str(error)
    assert judge("contains", {"value": "\u200b", "exact": True}, "a\u200bb").passed


# --- contains_any --------------------------------------------------------------------------------


def test_contains_any_passes_when_one_appears() -> None:
    assert judge("contains_any", ["30 days", "thirty days"], "Within Thirty Days.").passed


def test_contains_any_fails_when_none_appears() -> None:
    verdict = judge("contains_any", ["30 days", "thirty days"], "Within 60 days.")
    assert verdict == Verdict(
        False,
        'contains any of ["30 days", "thirty days"]',
        'none of ["30 days", "thirty days"] found; output: "Within 60 days."',
    )


def test_contains_any_exact() -> None:
    assert not judge("contains_any", {"value": ["DAYS"], "exact": True}, "days").passed


# --- not_contains --------------------------------------------------------------------------------


def test_not_contains_passes_when_absent() -> None:
    verdict = judge("not_contains", "60 days", "Refunds are accepted within 30 days.")
    assert verdict == Verdict(True, 'not contains "60 days"')


def test_not_contains_fails_quoting_the_span_as_written() -> None:
    verdict = judge("not_contains", "60 days", "Accepted 60 Days after purchase.")
    assert not verdict.passed
    assert verdict.expected == 'not contains "60 days"'
    assert verdict.message == 'found "60 Days" at char 9 (matching "60 days")'
    assert verdict.span == "60 Days"


@pytest.mark.parametrize(
    ("output", "span"),
    [
        pytest.param("Within 6О dаys.", "6О dаys", id="cyrillic-homoglyphs"),
        pytest.param("Within 60\u200b days.", "60\u200b days", id="zero-width-split"),
        pytest.param("Within 60 DAYS.", "60 DAYS", id="case"),
        pytest.param("Within ６０ days.", "６０ days", id="full-width-digits"),
        pytest.param("Within 60\n\n   days.", "60\n\n   days", id="whitespace"),
        pytest.param("Within 60\u00a0days.", "60\u00a0days", id="nbsp"),
        pytest.param("Within 𝟔𝟎 days.", "𝟔𝟎 days", id="math-digits"),
    ],
)
def test_not_contains_catches_evasions(output: str, span: str) -> None:
    verdict = judge("not_contains", "60 days", output)
    assert not verdict.passed
    assert verdict.span == span
    assert "at char 7" in verdict.message


def test_not_contains_message_keeps_homoglyphs_and_escapes_invisibles() -> None:
    homoglyph = judge("not_contains", "60 days", "Within 6О dаys.")
    assert 'found "6О dаys" at char 7' in homoglyph.message
    assert "\u041e" in homoglyph.message  # Cyrillic capital O, not Latin and not a digit
    assert "\u0430" in homoglyph.message  # Cyrillic small a
    zero_width = judge("not_contains", "60 days", "Within 60\u200b days.")
    assert 'found "60\\u200b days" at char 7' in zero_width.message


@pytest.mark.parametrize(
    "output",
    ["Within 6О dаys.", "Within 60\u200b days.", "Within 60 DAYS.", "Within ６０ days."],
)
def test_not_contains_exact_disables_normalisation(output: str) -> None:
    assert judge("not_contains", {"value": "60 days", "exact": True}, output).passed


def test_not_contains_exact_still_catches_the_raw_string() -> None:
    verdict = judge("not_contains", {"value": "60 days", "exact": True}, "a 60 days b")
    assert not verdict.passed
    assert verdict.message == 'found "60 days" at char 2'
    assert verdict.expected == 'not contains "60 days" (exact)'


def test_not_contains_reports_every_string_found_and_repeats() -> None:
    verdict = judge(
        "not_contains", ["60 days", "store credit", "absent"], "60 days; 60 days; Store credit"
    )
    assert not verdict.passed
    assert verdict.expected == 'not contains any of ["60 days", "store credit", "absent"]'
    assert verdict.message == (
        'found "60 days" at char 0, and 1 more time; '
        'found "Store credit" at char 18 (matching "store credit")'
    )
    assert verdict.span == "60 days"


# --- matches / not_matches -----------------------------------------------------------------------


def test_matches_passes_and_ignores_case_by_default() -> None:
    assert judge("matches", r"Refund.*\d+ Days", "refund in 30 DAYS").passed


def test_matches_searches_the_normalised_text() -> None:
    assert judge("matches", r"\b60 days\b", "Within 6О\u200b  dаys").passed
    assert judge("matches", "don’t", "I don't know").passed
    assert judge("matches", "^refund$", "  Refund\n").passed


def test_matches_fails_quoting_the_output() -> None:
    verdict = judge("matches", r"\d+ days", "No refunds.")
    assert verdict == Verdict(
        False, r"matches /\d+ days/", r'/\d+ days/ not found; output: "No refunds."'
    )


def test_matches_exact_uses_raw_text_and_no_flags() -> None:
    argument = {"pattern": "Days", "exact": True}
    assert judge("matches", argument, "60 Days").passed
    verdict = judge("matches", argument, "60 days")
    assert not verdict.passed
    assert verdict.expected == "matches /Days/ (exact)"
    assert judge("matches", {"pattern": "(?m)^b$", "exact": True}, "a\nb\n").passed


def test_not_matches_passes_when_absent() -> None:
    assert judge("not_matches", r"\d+ days", "within a month").passed


def test_not_matches_fails_quoting_the_match_as_written() -> None:
    verdict = judge("not_matches", r"\d+ days", "Refunds: ６０  Dаys!")
    assert not verdict.passed
    assert verdict.expected == r"not matches /\d+ days/"
    assert verdict.message == 'found "６０  Dаys" at char 9'
    assert verdict.span == "６０  Dаys"


def test_not_matches_exact() -> None:
    assert judge("not_matches", {"pattern": r"60 days", "exact": True}, "60 Days").passed


def test_not_matches_empty_match() -> None:
    verdict = judge("not_matches", "x*", "abc")
    assert not verdict.passed
    assert verdict.message == "/x*/ matched the empty string at char 0"
    assert verdict.span == ""


@pytest.mark.parametrize("name", ["matches", "not_matches"])
@pytest.mark.parametrize("exact", [False, True])
def test_bad_regex_is_a_load_error_naming_the_pattern(name: str, exact: bool) -> None:
    error = build_error(name, {"pattern": "refund (\\d+", "exact": exact})
    assert error.field == "pattern"
    assert "missing ), unterminated subpattern at position 7" in str(error)
    assert "/refund (\\d+/" in str(error)


def test_bad_regex_in_short_form() -> None:
    error = build_error("matches", "[a-")
    assert error.field == "pattern"
    assert "position 0" in str(error)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param(
            "x" * 1_001,
            "invalid regular expression /" + "x" * 80 + "…/: the pattern is 1,001 characters "
            "long; at most 1,000 are allowed",
            id="too-long",
        ),
        pytest.param(
            "(?:ab{100}){100}",
            "invalid regular expression /(?:ab{100}){100}/: its counted repeats ({m,n}) unroll "
            "to more than 10,000 items; use smaller counts, or + and *",
            id="unrolls-too-far",
        ),
        pytest.param(
            r"\p{L}+",
            r"invalid regular expression /\p{L}+/: bad escape \p at position 0",
            id="not-python-re-syntax",
        ),
    ],
)
@pytest.mark.parametrize("name", ["matches", "not_matches"])
def test_a_pattern_beyond_the_bounds_is_a_load_error(name: str, pattern: str, message: str) -> None:
    error = build_error(name, pattern)

    assert str(error) == message
    assert error.field == "pattern"


@pytest.mark.parametrize(
    ("name", "argument"),
    [
        ("not_matches", "(a+)+$"),
        ("matches", "(a|aa)+$"),
        ("not_matches", {"pattern": "(a+)+$", "exact": True}),
    ],
)
def test_a_search_that_times_out_reaches_no_verdict(name: str, argument: Any) -> None:
    ctype = constraint(name)
    check = ctype.build(argument, make_case())

    # Neither a pass (the output could not be shown to be clean) nor a failure.
    with pytest.raises(UndecidedError) as raised:
        check(Transcript(final_text="a" * 100_000 + "!"), make_case())

    pattern = argument if isinstance(argument, str) else argument["pattern"]
    assert str(raised.value) == (
        f"/{pattern}/ timed out after 1 s on a text of 100,001 characters, so it neither "
        "matched nor failed to match; rewrite the pattern without nested quantifiers such as "
        "(a+)+"
    )


def test_python_re_semantics_are_kept_on_ordinary_patterns() -> None:
    # Look-behind, back-references, named groups and inline flags: all of Python's re.
    assert judge("matches", r"(?<=refund )(\w+) \1", "a refund twice twice").passed
    assert judge("not_matches", r"(?P<n>\d+) days?, not (?P=n)", "30 days, not 60").passed
    assert judge("matches", {"pattern": "(?i)(?m)^yes$", "exact": True}, "No\nYES\n").passed
    # `$` also matches before a final newline, as in re.
    assert judge("matches", {"pattern": "days$", "exact": True}, "30 days\n").passed


# --- equals --------------------------------------------------------------------------------------


def test_equals_passes_after_normalisation() -> None:
    verdict = judge("equals", "Refund within 30 days.", "  REFUND within\n30 days. ")
    assert verdict == Verdict(True, 'equals "Refund within 30 days."')


def test_equals_quotes_the_first_differing_region() -> None:
    verdict = judge("equals", "Refund within 30 days.", "Refund within 60 days.")
    assert not verdict.passed
    assert verdict.message == 'output differs at char 14: got "60" where "30" was expected'
    assert verdict.span == "60"


def test_equals_differing_region_is_quoted_as_written() -> None:
    verdict = judge("equals", "Refund within 30 days.", "Refund  within 6О Dаys.")
    assert verdict.message == 'output differs at char 15: got "6О" where "30" was expected'


def test_equals_missing_and_unexpected_text() -> None:
    missing = judge("equals", "within 30 business days", "within 30 days")
    assert missing.message == 'output differs at char 10: missing "business "'
    assert missing.span is None
    extra = judge("equals", "within 30 days", "within 30 days, no receipt")
    assert extra.message == 'output differs at char 14: unexpected ", no receipt"'
    assert extra.span == ", no receipt"


def test_equals_exact_counts_case_but_ignores_outer_whitespace() -> None:
    argument = {"value": "Refund\n", "exact": True}
    assert judge("equals", argument, "  Refund  \n").passed
    verdict = judge("equals", argument, "\nrefund")
    assert not verdict.passed
    assert verdict.expected == 'equals "Refund\\n" (exact)'
    assert verdict.message == 'output differs at char 1: got "refund" where "Refund" was expected'
    assert not judge("equals", {"value": "a b", "exact": True}, "a  b").passed


def test_equals_empty_string() -> None:
    assert judge("equals", "", " \u200b ").passed
    assert judge("equals", {"value": "", "exact": True}, "  ").passed
    assert not judge("equals", {"value": "", "exact": True}, "\u200b").passed


# --- max_length / min_length ---------------------------------------------------------------------


def test_max_length_counts_normalised_characters() -> None:
    assert judge("max_length", 5, "  Hello \u200b\n").passed
    assert judge("max_length", {"value": 5}, "hello").passed


def test_max_length_fails_quoting_the_overflow_as_written() -> None:
    verdict = judge("max_length", 10, "Hello   there, General")
    assert not verdict.passed
    assert verdict.expected == "length <= 10"
    assert verdict.message == 'length 20 > 10; the overflow begins at char 12: "e, General"'
    assert verdict.span == "e, General"


def test_max_length_exact_counts_raw_characters() -> None:
    verdict = judge("max_length", {"value": 5, "exact": True}, "  Hello \u200b\n")
    assert not verdict.passed
    assert verdict.expected == "length <= 5 (exact)"
    assert verdict.message.startswith("length 10 > 5; the overflow begins at char 5:")
    assert verdict.span == "lo \u200b\n"


def test_min_length() -> None:
    assert judge("min_length", 5, "Hello world").passed
    verdict = judge("min_length", 5, "  Hi \u200b ")
    assert verdict == Verdict(False, "length >= 5", 'length 2 < 5; output: "  Hi \\u200b "')
    assert judge("min_length", {"value": 7, "exact": True}, "  Hi \u200b ").passed


# --- json_schema ---------------------------------------------------------------------------------

REFUND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["decision", "days"],
    "properties": {
        "decision": {"enum": ["approve", "deny"]},
        "days": {"type": "integer", "maximum": 30},
        "items": {"type": "array", "items": {"type": "string"}},
    },
}


def test_json_schema_passes_on_bare_json() -> None:
    assert judge("json_schema", REFUND_SCHEMA, ' {"decision": "approve", "days": 14}\n').passed


@pytest.mark.parametrize(
    "output",
    [
        pytest.param('Here:\n```json\n{"decision": "deny", "days": 3}\n```\nDone.', id="json"),
        pytest.param('Here:\n```JSON\n{"decision": "deny", "days": 3}\n```', id="upper"),
        pytest.param('Here:\n```\n{"decision": "deny", "days": 3}\n```', id="plain"),
        pytest.param('~~~json\n{"decision": "deny", "days": 3}\n~~~', id="tildes"),
        pytest.param(
            '```python\nprint(1)\n```\n```json\n{"decision": "deny", "days": 3}\n```',
            id="skips-other-languages",
        ),
        pytest.param(
            '```\nnot json\n```\n```json\n{"decision": "deny", "days": 3}\n```',
            id="json-tag-preferred",
        ),
    ],
)
def test_json_schema_uses_the_fenced_block(output: str) -> None:
    assert judge("json_schema", REFUND_SCHEMA, output).passed


def test_json_schema_invalid_json_without_fence() -> None:
    verdict = judge("json_schema", REFUND_SCHEMA, "I approve the refund.")
    assert not verdict.passed
    assert verdict.message == (
        "output is not JSON (Expecting value at line 1 column 1) and has no fenced json "
        'block; output: "I approve the refund."'
    )


def test_json_schema_invalid_json_in_the_fence_quotes_the_line() -> None:
    output = 'Sure!\n```json\n{\n  "decision": "deny",\n  "days": 3,\n}\n```'
    verdict = judge("json_schema", REFUND_SCHEMA, output)
    assert not verdict.passed
    assert verdict.message.startswith("fenced block at line 3 is not valid JSON: ")
    assert verdict.message == (
        "fenced block at line 3 is not valid JSON: Expecting property name enclosed in double "
        'quotes at line 6 column 1: "}"'
    )
    assert verdict.span == "}"


def test_json_schema_rejects_nan() -> None:
    verdict = judge("json_schema", {"type": "number"}, "NaN")
    assert not verdict.passed
    assert "NaN is not valid JSON" in verdict.message


def test_json_schema_violation_names_the_json_path() -> None:
    output = '```json\n{"decision": "approve", "days": 60, "items": ["a", 2]}\n```'
    verdict = judge("json_schema", REFUND_SCHEMA, output)
    assert not verdict.passed
    assert verdict.message in {
        "$.days: 60 is greater than the maximum of 30 (in the fenced block at line 2); "
        "1 more error",
        "$.items[1]: 2 is not of type 'string' (in the fenced block at line 2); 1 more error",
    }
    assert verdict.expected.startswith('JSON valid under {"type": "object"')


def test_json_schema_missing_property() -> None:
    verdict = judge("json_schema", REFUND_SCHEMA, '{"decision": "approve"}')
    assert verdict.message == "$: 'days' is a required property (in the output)"


def test_json_schema_expected_uses_the_title() -> None:
    verdict = judge("json_schema", {"title": "Refund decision", "type": "object"}, "[]")
    assert verdict.expected == 'JSON valid under "Refund decision"'
    assert verdict.message == "$: [] is not of type 'object' (in the output)"


def test_json_schema_asserts_formats() -> None:
    schema = {"type": "string", "format": "date"}
    assert judge("json_schema", schema, '"2025-11-02"').passed
    assert not judge("json_schema", schema, '"next tuesday"').passed


def test_json_schema_honours_the_declared_draft() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "maximum": 5,
        "exclusiveMaximum": True,
    }
    assert not judge("json_schema", schema, "5").passed
    assert judge("json_schema", schema, "4").passed


def test_invalid_json_schema_is_a_load_error() -> None:
    error = build_error("json_schema", {"type": "object", "properties": {"a": {"type": "nope"}}})
    assert error.field == "$.properties.a.type"
    assert str(error).startswith("invalid JSON Schema at $.properties.a.type: 'nope'")


# --- purity --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "argument"), VALID_ARGUMENTS)
def test_checks_are_pure_functions_of_transcript_and_case(name: str, argument: Any) -> None:
    check = constraint(name).build(argument, make_case())
    transcript = Transcript(final_text='Refund within 6О days: {"a": 1}')
    first = check(transcript, make_case())
    assert check(transcript, make_case()) == first
    assert transcript.final_text == 'Refund within 6О days: {"a": 1}'
