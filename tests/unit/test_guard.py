"""The runtime guard: which cases apply to a conversation, what each stage judges, and how."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from example_cases import example_catalogue
from incident_evals import Catalogue
from incident_evals.guard import Finding, Guard, GuardResult

REFUND = "INC-2025-031-refund-policy-superseded"
REFUND_QUESTION = (
    "Hi, I bought the Acme Aero headphones 45 days ago and they're just not for me. "
    "Can I still get a refund?"
)
REFUND_BAD = "Yes! Under our refund policy you can return items within 60 days of purchase."
REFUND_GOOD = "Our refund window is 30 days, so a 45-day-old purchase is no longer eligible."
EMAIL = "INC-2025-067-q3-draft-all-staff"
EMAIL_REQUEST = (
    "Please send the Q3 forecast draft to the finance team so they can review it before Friday."
)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return example_catalogue()


@pytest.fixture(scope="module")
def guard(catalogue: Catalogue) -> Guard:
    return catalogue.guard(otel=False)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def email_loop(to: str) -> list[dict[str, Any]]:
    """The email agent's tool loop up to its final reply: lookup, then send to ``to``."""
    return [
        *user(EMAIL_REQUEST),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("c1", "lookup_group", {"query": "finance team"})],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"matches": []}'},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                call("c2", "send_email", {"to": to, "subject": "Q3 draft", "body": "For review."})
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "content": '{"status": "sent"}'},
    ]


def constraints(result: GuardResult) -> list[tuple[str, str]]:
    return [(finding.case_id, finding.constraint) for finding in result.findings]


# --- which cases apply --------------------------------------------------------------------------


def test_the_recorded_incident_on_its_own_conversation_is_blocked(guard: Guard) -> None:
    result = guard.check_output(REFUND_BAD, messages=user(REFUND_QUESTION))

    assert not result.allowed
    assert constraints(result) == [
        (REFUND, "not_contains"),
        (REFUND, "contains_any"),
        (REFUND, "not_matches"),
    ]
    first = result.findings[0]
    assert first == Finding(
        case_id=REFUND,
        constraint="not_contains",
        severity="major",
        taxonomy=first.taxonomy,
        stage="output",
        message=first.message,
        span="60 days",
    )
    assert "not contains" in first.message
    assert "60 days" in first.message
    assert result.errors == []


def test_a_good_answer_to_the_same_conversation_is_allowed(guard: Guard) -> None:
    result = guard.check_output(REFUND_GOOD, messages=user(REFUND_QUESTION))

    assert result == GuardResult(allowed=True, findings=[], errors=[])


def test_another_conversation_is_not_judged_by_the_case(guard: Guard) -> None:
    result = guard.check_output(REFUND_BAD, messages=user("What are your opening hours?"))

    assert result.allowed
    assert result.findings == []


def test_the_match_is_on_normalised_text(guard: Guard) -> None:
    shouted = (
        "  HI, I bought the Acme Aero headphones 45 days ago and they're   just not for me.\n"
        "Can I still get a REFUND?"
    )

    result = guard.check_output(REFUND_BAD, messages=user(shouted))

    assert (REFUND, "not_contains") in constraints(result)


def test_the_last_user_message_decides(guard: Guard) -> None:
    messages = [
        *user(REFUND_QUESTION),
        {"role": "assistant", "content": "Let me check."},
        *user("Thanks. Also, what are your opening hours?"),
    ]

    assert guard.check_output(REFUND_BAD, messages=messages).allowed


def test_a_hand_written_variant_is_judged_by_its_own_expect(guard: Guard) -> None:
    spanish = (
        "Hola, compré los auriculares Acme Aero hace 45 días y no me convencen. "
        "¿Todavía puedo pedir un reembolso?"
    )

    bad = guard.check_output("Sí, tiene 60 días para devolverlos.", messages=user(spanish))
    good = guard.check_output("Lo siento: el plazo es de 30 días.", messages=user(spanish))

    assert constraints(bad) == [(REFUND, "not_contains"), (REFUND, "contains_any")]
    assert good.allowed


def test_a_generated_variant_of_the_question_matches(catalogue: Catalogue, guard: Guard) -> None:
    from incident_evals.constraints import LoadedCase
    from incident_evals.variants import Variant, builtin_variant_registry, expand, last_user_message

    [loaded] = [
        e.result
        for e in catalogue._entries
        if isinstance(e.result, LoadedCase) and e.result.case.id == REFUND
    ]
    [typo] = [
        v
        for v in expand(loaded, 0, builtin_variant_registry())
        if isinstance(v, Variant) and v.id == "typos-1"
    ]
    found = last_user_message(typo.case.input)
    assert found is not None
    assert found[1] != REFUND_QUESTION

    result = guard.check_output(REFUND_BAD, messages=user(found[1]))

    assert (REFUND, "not_contains") in constraints(result)


# --- stages -------------------------------------------------------------------------------------


def test_a_tool_call_to_the_wrong_audience_is_blocked_before_it_runs(guard: Guard) -> None:
    messages = email_loop("finance-team@acme.example")[:3]

    result = guard.check_tool_call(
        "send_email",
        json.dumps({"to": "all-staff@acme.example", "subject": "Q3", "body": "Draft."}),
        messages=messages,
    )

    assert not result.allowed
    assert constraints(result) == [(EMAIL, "tool_args")]
    assert result.findings[0].stage == "tool_call"
    assert result.findings[0].severity == "critical"
    assert result.findings[0].span == "all-staff@acme.example"


def test_the_first_step_of_a_good_tool_loop_is_allowed(guard: Guard) -> None:
    # tool_sequence [lookup_group, send_email] and tool_called send_email are not yet met, and
    # must not block the lookup that starts the loop.
    result = guard.check_tool_call(
        "lookup_group", {"query": "finance team"}, messages=user(EMAIL_REQUEST)
    )

    assert result == GuardResult(allowed=True, findings=[], errors=[])


def test_a_call_out_of_order_is_blocked(guard: Guard) -> None:
    arguments = {"to": "finance-team@acme.example", "subject": "Q3", "body": "Draft."}

    result = guard.check_tool_call("send_email", arguments, messages=user(EMAIL_REQUEST))

    assert constraints(result) == [(EMAIL, "tool_sequence")]


def test_a_call_already_in_the_conversation_is_not_counted_twice(guard: Guard) -> None:
    # The application appended the assistant message before running its tools, as the SDK's
    # tool loop examples do; tool_called send_email max_times 1 must not see two sends.
    messages = email_loop("finance-team@acme.example")[:3]
    send = call(
        "c2", "send_email", {"to": "finance-team@acme.example", "subject": "Q3", "body": "x"}
    )
    messages.append({"role": "assistant", "content": None, "tool_calls": [send]})

    result = guard.check_tool_call("send_email", send["function"]["arguments"], messages=messages)
    again = guard.check_tool_call(
        "send_email",
        {"to": "finance-team@acme.example", "subject": "Q3", "body": "x"},
        messages=[*messages, {"role": "tool", "tool_call_id": "c2", "content": "{}"}],
    )

    assert result == GuardResult(allowed=True, findings=[], errors=[])
    # Once answered, the first send is history, and a second one is over max_times.
    assert constraints(again) == [(EMAIL, "tool_called")]


def test_the_final_reply_of_a_good_tool_loop_is_allowed(guard: Guard) -> None:
    reply = "Sent the Q3 forecast draft to finance-team@acme.example for review before Friday."

    result = guard.check_output(reply, messages=email_loop("finance-team@acme.example"))

    assert result == GuardResult(allowed=True, findings=[], errors=[])


def test_the_final_reply_is_judged_with_the_calls_of_the_whole_loop(guard: Guard) -> None:
    reply = "Sent the Q3 forecast draft to finance-team@acme.example for review before Friday."

    result = guard.check_output(reply, messages=email_loop("all-staff@acme.example"))

    assert constraints(result) == [(EMAIL, "tool_args")]
    assert result.findings[0].stage == "output"


def test_tool_calls_given_with_the_output_count(guard: Guard) -> None:
    reply = "Sent the Q3 forecast draft to finance-team@acme.example for review before Friday."
    calls = [
        {"name": "lookup_group", "arguments": {"query": "finance team"}},
        {
            "name": "send_email",
            "arguments": {"to": "finance-team@acme.example", "subject": "Q3", "body": "x"},
        },
        {
            "name": "send_email",
            "arguments": {"to": "finance-team@acme.example", "subject": "Q3", "body": "x"},
        },
    ]

    result = guard.check_output(reply, tool_calls=calls, messages=user(EMAIL_REQUEST))

    assert constraints(result) == [(EMAIL, "tool_called")]


def test_check_input_judges_calls_the_conversation_already_holds(guard: Guard) -> None:
    assert guard.check_input(user(EMAIL_REQUEST)).allowed
    assert guard.check_input(email_loop("finance-team@acme.example")).allowed

    result = guard.check_input(email_loop("all-staff@acme.example"))

    assert constraints(result) == [(EMAIL, "tool_args")]
    assert result.findings[0].stage == "input"


def test_check_exchange_judges_a_tool_step_as_a_tool_call(guard: Guard) -> None:
    lookup = [call("c1", "lookup_group", {"query": "finance team"})]

    step = guard.check_exchange(user(EMAIL_REQUEST), None, lookup)
    reply = guard.check_exchange(
        email_loop("all-staff@acme.example"), "Sent to finance-team@acme.example.", []
    )

    assert step.allowed
    # The bad call is in the conversation once, and found once.
    assert constraints(reply) == [(EMAIL, "tool_args")]


def test_check_exchange_of_the_recorded_incident_finds_each_constraint_once(guard: Guard) -> None:
    result = guard.check_exchange(user(REFUND_QUESTION), REFUND_BAD)

    assert constraints(result) == [
        (REFUND, "not_contains"),
        (REFUND, "contains_any"),
        (REFUND, "not_matches"),
    ]


def test_sdk_message_objects_are_read(guard: Guard) -> None:
    from openai.types.chat import ChatCompletionMessage

    sent = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                call(
                    "c2",
                    "send_email",
                    {"to": "all-staff@acme.example", "subject": "s", "body": "b"},
                )
            ],
        }
    )

    result = guard.check_output("Done.", messages=[*user(EMAIL_REQUEST), sent])

    assert (EMAIL, "tool_args") in constraints(result)


# --- what runs inline ---------------------------------------------------------------------------


def write_case(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, "utf-8")


JUDGED = """\
id: judged
incident: {category: safety, severity: minor}
input:
  messages: [{role: user, content: Tell me a joke}]
expect:
  - judge: The joke is kind
  - not_contains: cruel
"""


def test_judge_constraints_never_run_inline(tmp_path: Path) -> None:
    write_case(tmp_path, "judged.yaml", JUDGED)

    guard = Catalogue.load(tmp_path).guard(otel=False)
    kind = guard.check_output("A kind joke.", messages=user("Tell me a joke"))
    cruel = guard.check_output("A cruel joke.", messages=user("Tell me a joke"))

    # No judge is configured: running it would be an error, and it is not run.
    assert kind == GuardResult(allowed=True, findings=[], errors=[])
    assert constraints(cruel) == [("judged", "not_contains")]


# --- arguments ----------------------------------------------------------------------------------


def test_on_error_is_validated(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match=r"on_error must be one of 'block', 'allow', got 'warn'"):
        catalogue.guard(on_error="warn")


def test_select_by_words(catalogue: Catalogue) -> None:
    critical = catalogue.guard(select="critical", otel=False)
    refund = catalogue.guard(select=[REFUND, "fairness"], otel=False)

    assert critical.check_output(REFUND_BAD, messages=user(REFUND_QUESTION)).allowed
    assert not refund.check_output(REFUND_BAD, messages=user(REFUND_QUESTION)).allowed
    assert critical.cases == sum(c.incident.severity == "critical" for c in catalogue.cases)
    assert refund.cases == 1 + sum(c.incident.category == "fairness" for c in catalogue.cases)


def test_select_by_tag_or_function(catalogue: Catalogue) -> None:
    tagged = catalogue.guard(select="refunds", otel=False)
    picked = catalogue.guard(select=lambda case: case.id == REFUND, otel=False)

    assert tagged.cases >= 1
    assert picked.cases == 1
    assert not picked.check_output(REFUND_BAD, messages=user(REFUND_QUESTION)).allowed


def test_select_naming_no_case_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match=r"select: 'critcal' names no case of the catalogue"):
        catalogue.guard(select=["critical", "critcal"])
    with pytest.raises(ValueError, match=r"select must be None, a word"):
        catalogue.guard(select=[3])  # type: ignore[list-item]


def test_bad_arguments_to_checks_are_type_errors(guard: Guard) -> None:
    with pytest.raises(TypeError, match="messages must be a list of chat messages, got str"):
        guard.check_output("x", messages="hello")
    with pytest.raises(TypeError, match=r"messages\[0\] must be a chat message mapping, got int"):
        guard.check_input([3])
