"""pytest_incident_evals_target(config): the application itself instead of a raw endpoint."""

from __future__ import annotations

import json

import pytest

from case_files import case_data, write_case

TARGET_CONFTEST = """\
import json
import threading

calls = []
lock = threading.Lock()


def support_bot(request):
    with lock:
        calls.append(request)
    question = request["messages"][-1]["content"]
    if question == "question for INC-CRASH":
        raise ConnectionError("the vector store is down")
    if question == "question for INC-JUNK":
        return "60 days"
    if request.get("tools") and request["messages"][-1]["role"] != "tool":
        arguments = json.dumps({"topic": "refunds"})
        call = {"id": "c1", "type": "function",
                "function": {"name": "lookup_policy", "arguments": arguments}}
        return {"model": "acme-bot", "choices": [{"message": {"role": "assistant", "content": "",
                                                              "tool_calls": [call]}}]}
    if request["messages"][-1]["role"] == "tool":
        window = json.loads(request["messages"][-1]["content"])["window"]
        text = f"Refunds are possible within {window}."
    else:
        text = "You have 60 days." if "INC-BAD" in question else "You have 30 days."
    return {"model": "acme-bot", "choices": [{"message": {"role": "assistant", "content": text}}]}


def pytest_incident_evals_target(config):
    return support_bot


def pytest_sessionfinish(session):
    with open("target-calls.json", "w") as stream:
        json.dump(calls, stream)
"""

LOOKUP_TOOL = {
    "name": "lookup_policy",
    "description": "Look up a policy.",
    "parameters": {"type": "object", "properties": {"topic": {"type": "string"}}},
    "responses": [{"when": {"topic": "refunds"}, "output": {"window": "30 days"}}],
}


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(TARGET_CONFTEST)
    write_case(
        pytester.path,
        "incident_cases/bot.yaml",
        case_data("INC-GOOD"),
        case_data("INC-BAD"),
        case_data("INC-TOOLS", input={"tools": [LOOKUP_TOOL]}, expect=[{"contains": "30 days"}]),
    )


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_the_target_answers_instead_of_an_endpoint(pytester: pytest.Pytester, workers: str) -> None:
    result = pytester.runpytest("--incident-evals", "-p", "no:cacheprovider", workers)

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["INC-BAD: 1 of 1 constraint(s) failed (model acme-bot)"])
    if workers == "-n0":
        result.stdout.fnmatch_lines(
            ["incident-evals: target support_bot (pytest_incident_evals_target), model target"]
        )
        calls = json.loads((pytester.path / "target-calls.json").read_text())
        # The tool loop ran through the application: the recorded answer went back to it.
        tool_turn = [c for c in calls if c["messages"][-1]["role"] == "tool"]
        assert [json.loads(c["messages"][-1]["content"]) for c in tool_turn] == [
            {"window": "30 days"}
        ]
        assert {c["model"] for c in calls} == {"target"}


@pytest.mark.usefixtures("catalogue")
def test_a_target_that_raises_or_returns_junk_makes_that_item_an_error(
    pytester: pytest.Pytester,
) -> None:
    write_case(
        pytester.path, "incident_cases/broken.yaml", case_data("INC-CRASH"), case_data("INC-JUNK")
    )

    result = pytester.runpytest("--incident-evals", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=2, failed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "INC-CRASH: endpoint error: the target support_bot raised ConnectionError: the vector "
            "store is down (after 1 attempt)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "INC-JUNK: endpoint error: the target support_bot returned str, not a response "
            "(a dict: a Chat Completions completion, or a Responses API response under "
            "--incident-api responses) (after 1 attempt)",
        ]
    )


@pytest.mark.usefixtures("catalogue")
def test_a_targets_exchanges_record_and_replay_offline(pytester: pytest.Pytester) -> None:
    pytester.runpytest(
        "--incident-evals", "--incident-record=recordings", "-p", "no:cacheprovider"
    ).assert_outcomes(passed=2, failed=1)
    pytester.makeconftest("")

    replayed = pytester.runpytest(
        "--incident-evals", "--incident-replay=recordings", "-p", "no:cacheprovider"
    )

    replayed.assert_outcomes(passed=2, failed=1)


def test_a_hook_that_returns_no_callable_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("def pytest_incident_evals_target(config):\n    return 'acme-bot'\n")
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))

    result = pytester.runpytest("--incident-evals", "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*pytest_incident_evals_target returned str, not a callable taking a Chat Completions "
            "request and returning its response"
        ]
    )
