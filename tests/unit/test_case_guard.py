"""A case's ``guard:`` block: read into a GuardSpec, and each bad block one line naming file,
line and field; then what each form does to the guard built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from incident_evals import Catalogue
from incident_evals.case import CaseError, GuardCondition, GuardSpec, load_file
from incident_evals.constraints import builtin_registry

EMAIL_TOOL = {
    "name": "send_email",
    "parameters": {
        "type": "object",
        "properties": {"to": {"type": "string"}},
        "required": ["to"],
    },
}
NO_LOOKALIKES = {
    "tool_args": {
        "tool": "send_email",
        "schema": {"properties": {"to": {"pattern": "@acme\\.example$"}}},
    }
}


def refund_case(guard: Any = None, **fields: Any) -> dict[str, Any]:
    data = case_data(
        "refund",
        expect=[{"contains_any": ["30 days"]}, {"not_contains": "60 days"}],
        input={"messages": [{"role": "user", "content": "Can I get a refund after 45 days?"}]},
        **fields,
    )
    if guard is not None:
        data["guard"] = guard
    return data


def email_case(guard: Any = None) -> dict[str, Any]:
    data = case_data(
        "email",
        severity="critical",
        expect=[NO_LOOKALIKES, {"contains": "sent"}],
        input={
            "messages": [{"role": "user", "content": "Email Bob the report"}],
            "tools": [EMAIL_TOOL],
        },
    )
    if guard is not None:
        data["guard"] = guard
    return data


def load_one(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = write_case(tmp_path, "case.yaml", data)
    [result] = load_file(path, tmp_path, builtin_registry())
    return result


def error_line(tmp_path: Path, data: dict[str, Any]) -> str:
    result = load_one(tmp_path, data)
    assert isinstance(result, CaseError), result
    return result.render(tmp_path)


# --- reading ------------------------------------------------------------------------------------


def test_no_block_is_the_default_spec(tmp_path: Path) -> None:
    assert load_one(tmp_path, refund_case()).case.guard == GuardSpec()


def test_a_block_is_read_into_a_guard_spec(tmp_path: Path) -> None:
    guard = {
        "when": {"user_matches": "refund", "tool_called": "send_email"},
        "exclude": ["contains"],
    }
    data = email_case(guard)

    spec = load_one(tmp_path, data).case.guard

    assert spec.applies == "matching"
    assert spec.exclude == ("contains",)
    assert spec.when == (
        GuardCondition(user_matches="refund", tool_called=("send_email",), line=spec.when[0].line),
    )
    assert spec.when[0].line > spec.line > 0


def test_a_list_of_conditions_is_read_in_order(tmp_path: Path) -> None:
    data = email_case(
        {"applies": "only_when", "when": [{"user_matches": "a"}, {"tool_called": ["send_email"]}]}
    )

    spec = load_one(tmp_path, data).case.guard

    assert spec.applies == "only_when"
    assert [(c.user_matches, c.tool_called) for c in spec.when] == [
        ("a", ()),
        (None, ("send_email",)),
    ]


# --- bad blocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guard", "at", "field", "message"),
    [
        (
            {"when": {"user_matches": "(refund"}},
            "user_matches:",
            "guard.when.user_matches",
            "invalid regular expression /(refund/: missing ), unterminated subpattern at "
            "position 0",
        ),
        (
            {"when": [{"user_matches": "ok"}, {"user_matches": "(?:a{1000}){1000}"}]},
            "{1000}",
            "guard.when[1].user_matches",
            "invalid regular expression /(?:a{1000}){1000}/: ",
        ),
        (
            {"whenn": {"user_matches": "x"}},
            "whenn:",
            "guard.whenn",
            "unknown field (known: applies, exclude, when)",
        ),
        ({"when": {"user": "x"}}, "user:", "guard.when.user", "unknown field"),
        (
            {"exclude": ["cites"]},
            "- cites",
            "guard.exclude[0]",
            "'cites' is not a constraint of this case (its constraints: contains_any, "
            "not_contains)",
        ),
        (
            {"when": {"tool_called": "send_email"}},
            "tool_called:",
            "guard.when.tool_called",
            "'send_email' is not a tool of this case (its tools: none)",
        ),
        (
            {"applies": "only_when"},
            "applies:",
            "guard.applies",
            "applies: only_when needs a when: condition (user_matches, tool_called)",
        ),
        (
            {"applies": "always", "when": {"user_matches": "x"}},
            "when:",
            "guard.when",
            "when: has no effect with applies: always; remove one of them",
        ),
        ({"applies": "sometimes"}, "applies:", "guard.applies", "'sometimes' is not one of"),
        (
            {"when": {"constraints": ["not_contains"]}},
            "when:",
            "guard.when",
            "a condition needs user_matches or tool_called",
        ),
        (
            {"when": [{"user_matches": "x", "constraints": ["contains"]}]},
            "- contains",
            "guard.when[0].constraints[0]",
            "'contains' is not a constraint of this case",
        ),
        (
            {
                "when": {"user_matches": "x", "constraints": ["not_contains"]},
                "exclude": ["not_contains"],
            },
            "- not_contains",
            "guard.when.constraints[0]",
            "'not_contains' is in guard.exclude: the guard never runs it",
        ),
    ],
)
def test_a_bad_block_is_one_line_naming_file_line_and_field(
    tmp_path: Path, guard: dict[str, Any], at: str, field: str, message: str
) -> None:
    rendered = error_line(tmp_path, refund_case(guard))

    lines = (tmp_path / "case.yaml").read_text("utf-8").splitlines()
    block = lines.index("guard:")
    line = next(i for i in range(block, len(lines)) if at in lines[i]) + 1
    assert rendered.startswith(f"case.yaml:{line}: {field}: {message}"), rendered
    assert "\n" not in rendered


def test_the_other_cases_of_a_file_still_load(tmp_path: Path) -> None:
    good = refund_case()
    bad = email_case({"exclude": ["nothing_here"]})
    path = write_case(tmp_path, "two.yaml", bad, good)

    results = load_file(path, tmp_path, builtin_registry())

    assert isinstance(results[0], CaseError)
    assert not isinstance(results[1], CaseError)


# --- what each form does --------------------------------------------------------------------------


def guard_of(tmp_path: Path, *cases: dict[str, Any]) -> Any:
    for data in cases:
        write_case(tmp_path, f"{data['id']}.yaml", data)
    catalogue = Catalogue.load(tmp_path)
    assert not catalogue.errors, [e.render() for e in catalogue.errors]
    return catalogue.guard(otel=False)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def found(result: Any) -> list[tuple[str, str]]:
    return [(f.case_id, f.constraint) for f in result.findings]


def test_user_matches_widens_the_case_to_every_refund_question(tmp_path: Path) -> None:
    guard = guard_of(tmp_path, refund_case({"when": {"user_matches": r"\brefund"}}))

    other_refund = guard.check_output(
        "Sure, 60 days.", messages=user("Is a REFUND possible for my shoes?")
    )
    unrelated = guard.check_output("Sure, 60 days.", messages=user("How long is shipping?"))
    good = guard.check_output("Refunds are within 30 days.", messages=user("Refund for my shoes?"))

    assert found(other_refund) == [("refund", "contains_any"), ("refund", "not_contains")]
    assert unrelated.allowed
    assert good.allowed


def test_user_matches_reads_the_normalised_message(tmp_path: Path) -> None:
    guard = guard_of(tmp_path, refund_case({"when": {"user_matches": "refund"}}))

    # A Cyrillic ie (U+0435) and a zero-width space: folded before the pattern is searched.
    result = guard.check_output("60 days.", messages=user("r\u0435f\u200bund please"))

    assert not result.allowed


def test_tool_called_widens_the_case_to_every_call_of_the_tool(tmp_path: Path) -> None:
    guard = guard_of(
        tmp_path, email_case({"when": {"tool_called": "send_email"}, "exclude": ["contains"]})
    )
    messages = user("Forward the invoice to accounts")

    lookalike = guard.check_tool_call(
        "send_email", {"to": "accounts@acme-example.com"}, messages=messages
    )
    fine = guard.check_tool_call("send_email", {"to": "accounts@acme.example"}, messages=messages)
    text_only = guard.check_output("No email needed.", messages=messages)

    assert found(lookalike) == [("email", "tool_args")]
    assert lookalike.findings[0].span == "accounts@acme-example.com"
    assert fine.allowed
    assert text_only.allowed


def test_a_condition_can_name_the_constraints_that_apply_where_it_holds(tmp_path: Path) -> None:
    when = {"user_matches": "refund", "constraints": ["not_contains"]}
    guard = guard_of(tmp_path, refund_case({"when": when}))

    widened = guard.check_output("Sure, 60 days.", messages=user("Refund for my shoes?"))
    own = guard.check_output("Sure, 60 days.", messages=user("Can I get a refund after 45 days?"))

    assert found(widened) == [("refund", "not_contains")]
    # Its own conversation also meets the condition: each constraint is judged once.
    assert found(own) == [("refund", "contains_any"), ("refund", "not_contains")]


def test_exclude_keeps_a_constraint_out_of_the_guard(tmp_path: Path) -> None:
    guard = guard_of(tmp_path, refund_case({"exclude": ["contains_any"]}))

    result = guard.check_output(
        "We do not do that.", messages=user("Can I get a refund after 45 days?")
    )

    assert result.allowed


def test_applies_never_leaves_the_case_out(tmp_path: Path) -> None:
    guard = guard_of(tmp_path, refund_case({"applies": "never"}))

    assert guard.check_output("60 days", messages=user("Can I get a refund after 45 days?")).allowed
    assert guard.notes == ["refund: left out (guard.applies: never)"]


def test_applies_always_judges_every_conversation(tmp_path: Path) -> None:
    guard = guard_of(tmp_path, refund_case({"applies": "always", "exclude": ["contains_any"]}))

    assert found(guard.check_output("60 days", messages=user("anything"))) == [
        ("refund", "not_contains")
    ]
    assert found(guard.check_output("60 days", messages=[])) == [("refund", "not_contains")]


def test_only_when_drops_the_cases_own_conversation(tmp_path: Path) -> None:
    guard = guard_of(
        tmp_path, refund_case({"applies": "only_when", "when": {"user_matches": "shoes"}})
    )

    own = guard.check_output("60 days", messages=user("Can I get a refund after 45 days?"))
    shoes = guard.check_output("60 days", messages=user("Refund for shoes?"))

    assert own.allowed
    assert not shoes.allowed


def test_findings_come_in_catalogue_order(tmp_path: Path) -> None:
    first = refund_case({"applies": "always"})
    second = case_data("second", expect=[{"not_contains": "60"}])
    second["guard"] = {"applies": "always"}
    guard = guard_of(tmp_path, first, second)

    result = guard.check_output("60 days", messages=user("x"))

    assert [f.case_id for f in result.findings] == ["refund", "refund", "second"]
