"""``<case id>[recorded]``: a case's constraints must fail on its own recorded incident.

The item is judged offline from ``recorded_output`` / ``recorded_tool_calls``: it never sends a
request, so it needs no endpoint answer and no recording under ``--incident-replay``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from incident_evals.case import load_schema

QUIET = ["-p", "no:cacheprovider"]

SEND_EMAIL = {
    "name": "send_email",
    "description": "Send an email.",
    "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
    "responses": [{"output": {"status": "sent"}}],
}
ALL_STAFF_CALL = {"name": "send_email", "arguments": {"to": "all-staff@acme.example"}}
FINANCE_ONLY = {"tool": "send_email", "schema": {"properties": {"to": {"enum": ["finance@acme"]}}}}

MISSED_REPLY = "Refunds are possible within 60 days.\nAnything else?\n"


def literal(text: str) -> str:
    """``text`` with fnmatch's ``[`` taken literally."""
    return text.replace("[", "[[]")


def line_of(path: Path, entry: str) -> int:
    """The line of the first ``- <entry>`` list item (1-based), as the case loader counts."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith(f"- {entry}"))


def caught_case() -> dict[str, Any]:
    """Its recording says 60 days, which ``not_contains`` forbids (``contains`` holds on it)."""
    return case_data(
        "INC-CAUGHT",
        recorded_output="Yes, you have 60 days to ask for a refund.",
        expect=[{"contains": "refund"}, {"not_contains": "60 days"}],
    )


def missed_case() -> dict[str, Any]:
    """Its constraints hold on its own recording: it would not catch the incident again."""
    return case_data(
        "INC-MISSED",
        category="autonomy",
        input={"tools": [SEND_EMAIL]},
        recorded_output=MISSED_REPLY,
        recorded_tool_calls=[ALL_STAFF_CALL],
        expect=[{"not_contains": "30 days"}, {"tool_called": "send_email"}],
    )


def answer_30_days(server: ChatServer) -> None:
    server.set_script(lambda body: Reply(content="You can ask for a refund within 30 days."))


def test_a_recording_its_constraints_catch_passes_without_a_request(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", caught_case())
    answer_30_days(chat_server)

    result = pytester.runpytest(*endpoint_args, "-v")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "incident_cases/a.yaml::INC-CAUGHT PASSED*",
            "incident_cases/a.yaml::INC-CAUGHT[[]recorded] PASSED*",
        ]
    )
    # The case's own request only: the recorded item is judged from the file.
    assert len(chat_server.requests) == 1


@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_a_recording_its_constraints_hold_on_fails_showing_the_recording(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    path = write_case(pytester.path, "incident_cases/a.yaml", caught_case(), missed_case())
    answer_30_days(chat_server)
    not_contains = line_of(path, "not_contains: 30 days")
    tool_called = line_of(path, "tool_called: send_email")

    result = pytester.runpytest(*endpoint_args, workers, "-v")

    # INC-MISSED's own item fails too: the scripted reply says "30 days".
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            literal(
                "INC-MISSED[recorded]: would not have caught its own incident: every constraint "
                f"holds on the recorded behaviour (not_contains (line {not_contains}), "
                f"tool_called (line {tool_called})); add a constraint that fails on it"
            ),
            "  recorded output:",
            "    | Refunds are possible within 60 days.",
            "    | Anything else?",
            '  recorded tool call: send_email({"to": "all-staff@acme.example"})',
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["FAILED incident_cases/a.yaml::INC-MISSED[[]recorded]*"])
    assert len(chat_server.requests) == 2


def test_recorded_tool_calls_alone_are_caught_by_the_tool_constraints(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    tools: dict[str, Any] = {
        "input": {"tools": [SEND_EMAIL]},
        "recorded_tool_calls": [ALL_STAFF_CALL],
    }
    write_case(
        pytester.path,
        "incident_cases/agent.yaml",
        case_data("INC-ARGS", category="autonomy", expect=[{"tool_args": FINANCE_ONLY}], **tools),
        case_data(
            "INC-NOT-CALLED",
            category="autonomy",
            expect=[{"tool_not_called": "send_email"}],
            **tools,
        ),
    )

    result = pytester.runpytest(*endpoint_args, "-v", "-k", "recorded")

    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "incident_cases/agent.yaml::INC-ARGS[[]recorded] PASSED*",
            "incident_cases/agent.yaml::INC-NOT-CALLED[[]recorded] PASSED*",
        ]
    )
    assert chat_server.requests == []


def test_recorded_tool_calls_the_constraints_allow_fail_without_an_output_section(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    finance_call = {"name": "send_email", "arguments": {"to": "finance@acme"}}
    path = write_case(
        pytester.path,
        "incident_cases/agent.yaml",
        case_data(
            "INC-ARGS",
            category="autonomy",
            input={"tools": [SEND_EMAIL]},
            recorded_tool_calls=[finance_call],
            expect=[{"tool_args": FINANCE_ONLY}],
        ),
    )

    result = pytester.runpytest(*endpoint_args, "-k", "recorded")

    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                "INC-ARGS[recorded]: would not have caught its own incident: every constraint "
                f"holds on the recorded behaviour (tool_args (line {line_of(path, 'tool_args')})); "
                "add a constraint that fails on it"
            ),
            '  recorded tool call: send_email({"to": "finance@acme"})',
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*recorded output:*")
    assert chat_server.requests == []


def test_a_case_with_only_judge_constraints_is_skipped_with_the_reason(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    path = write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data(
            "INC-JUDGE",
            recorded_output="You have 60 days.",
            expect=[{"judge": "The reply says refunds are only possible within 30 days."}],
        ),
    )

    result = pytester.runpytest(*endpoint_args, "-rs", "-k", "recorded")

    result.assert_outcomes(skipped=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            literal(
                "SKIPPED [1] incident_cases/a.yaml: INC-JUDGE[recorded]: not checked: "
                f"judge-only: judge (line {line_of(path, 'judge')}) needs a judge to be "
                "calibrated: no judge model is configured: pass --incident-judge-model NAME (ini "
                "incident_judge_model), or name one in the constraint: {rubric: ..., model: NAME}"
            )
        ]
    )
    assert chat_server.requests == []


def test_a_case_without_a_recording_has_no_recorded_item(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data("INC-PLAIN"),
        caught_case(),
        case_data("INC-EMPTY", recorded_tool_calls=[]),
    )

    result = pytester.runpytest(*endpoint_args, "--collect-only", "-q")

    assert result.outlines[:4] == [
        "incident_cases/a.yaml::INC-PLAIN",
        "incident_cases/a.yaml::INC-CAUGHT",
        "incident_cases/a.yaml::INC-CAUGHT[recorded]",
        "incident_cases/a.yaml::INC-EMPTY",
    ]
    result.stdout.fnmatch_lines(["4 tests collected in *"])


def test_under_replay_it_needs_no_recording_of_its_own(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", caught_case(), missed_case())
    answer_30_days(chat_server)
    pytester.runpytest(*endpoint_args, "--incident-record=rec")
    chat_server.stop()
    # One recording per case, for its own item: none for the recorded items.
    recordings = sorted(p.parent.name for p in (pytester.path / "rec").rglob("*.json"))
    assert recordings == ["INC-CAUGHT", "INC-MISSED"]

    result = pytester.runpytest("--incident-evals", "--incident-replay=rec", *QUIET, "-v")

    result.stdout.fnmatch_lines(
        [
            "incident_cases/a.yaml::INC-CAUGHT PASSED*",
            "incident_cases/a.yaml::INC-CAUGHT[[]recorded] PASSED*",
            "incident_cases/a.yaml::INC-MISSED FAILED*",
            "incident_cases/a.yaml::INC-MISSED[[]recorded] FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(["INC-MISSED[[]recorded]: would not have caught its own incident*"])
    result.stdout.no_fnmatch_line("*no recording for case*")
    result.assert_outcomes(passed=2, failed=2)


def read_results(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(results, load_schema("results"))
    return {(item["case_id"], item["variant"]): item for item in results["items"]}


@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_the_report_holds_the_recorded_items(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    path = write_case(pytester.path, "incident_cases/a.yaml", caught_case(), missed_case())
    answer_30_days(chat_server)

    pytester.runpytest(*endpoint_args, workers, "--incident-report=results.json")

    items = read_results(pytester.path / "results.json")
    assert sorted(items) == [
        ("INC-CAUGHT", "original"),
        ("INC-CAUGHT", "recorded"),
        ("INC-MISSED", "original"),
        ("INC-MISSED", "recorded"),
    ]
    caught = items["INC-CAUGHT", "recorded"]
    assert caught["nodeid"] == "incident_cases/a.yaml::INC-CAUGHT[recorded]"
    assert (caught["outcome"], caught["samples"], caught["passed_samples"]) == ("passed", 1, 1)
    assert caught["failures"] == []
    assert caught["output"] == "Yes, you have 60 days to ask for a refund."
    missed = items["INC-MISSED", "recorded"]
    assert (missed["outcome"], missed["samples"], missed["passed_samples"]) == ("failed", 1, 0)
    assert missed["category"] == "autonomy"
    assert missed["output"] == MISSED_REPLY
    assert [(c["name"], c["arguments"]) for c in missed["tool_calls"]] == [
        ("send_email", {"to": "all-staff@acme.example"})
    ]
    missed_at = path.read_text(encoding="utf-8").splitlines().index("id: INC-MISSED") + 1
    assert missed["failures"] == [
        {
            "constraint": "recorded",
            "message": "would not have caught its own incident: every constraint holds on the "
            f"recorded behaviour (not_contains (line {line_of(path, 'not_contains: 30')}), "
            f"tool_called (line {line_of(path, 'tool_called')})); add a constraint that fails "
            "on it",
            "sample": 0,
            "expected": "the constraints fail on the recorded incident",
            "line": missed_at,
        }
    ]
