"""--incident-judge-base-url / --incident-judge-model: `judge` constraints and their LLM judge."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from incident_evals import options
from judge_script import is_judge_request, judged_reply

RUBRIC = "The reply tells the customer that refunds are only possible within 30 days."


def script(
    answer: str, verdict: Callable[[str], tuple[str, str]] | None = None
) -> Callable[[dict[str, Any]], Reply]:
    """The target answers ``answer``; the judge passes replies that mention 30 days."""

    def default(reply: str) -> tuple[str, str]:
        if "30 days" in reply:
            return "pass", "it says 'within 30 days'"
        return "fail", f"it says {reply!r}, not 30 days"

    decide = verdict or default

    def respond(body: dict[str, Any]) -> Reply:
        if is_judge_request(body):
            outcome, reason = decide(judged_reply(body))
            return Reply(
                content=json.dumps({"verdict": outcome, "reason": reason}), model="judge-v2"
            )
        return Reply(content=answer)

    return respond


def judge_case(
    directory: Path, case_id: str = "INC-JUDGED", argument: Any = RUBRIC, **fields: Any
) -> Path:
    return write_case(
        directory,
        f"incident_cases/{case_id.lower()}.yaml",
        case_data(case_id, expect=[{"judge": argument}], **fields),
    )


def judge_requests(server: ChatServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if is_judge_request(r.body)]


def test_judge_passes_and_fails_items_on_its_verdict(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    judge_case(pytester.path)
    chat_server.set_script(script("Yes, you have 60 days to ask for a refund."))

    result = pytester.runpytest(
        *endpoint_args,
        f"--incident-judge-base-url={chat_server.base_url}",
        "--incident-judge-model=judge-model",
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"incident-evals: judge {chat_server.base_url} (--incident-judge-base-url), "
            "model judge-model",
            "INC-JUDGED: 1 of 1 constraint(s) failed (model test-model)",
            f'  judge (line *): expected judge: "{RUBRIC}"',
            "      judge judge-v2 says it does not hold: it says 'Yes, you have 60 days to ask "
            "for a refund.', not 30 days",
        ]
    )
    [judged] = judge_requests(chat_server)
    assert judged["model"] == "judge-model"
    assert judged["temperature"] == 0
    assert judged["response_format"] == {"type": "json_object"}
    assert f"<rubric>\n{RUBRIC}\n</rubric>" in judged["messages"][1]["content"]
    assert (
        "<conversation>\n[user] question for INC-JUDGED\n</conversation>"
        in (judged["messages"][1]["content"])
    )

    chat_server.set_script(script("Refunds are possible within 30 days of purchase."))
    passed = pytester.runpytest(
        *endpoint_args,
        f"--incident-judge-base-url={chat_server.base_url}",
        "--incident-judge-model=judge-model",
    )
    passed.assert_outcomes(passed=1)


def test_judge_shares_the_endpoint_under_test_when_it_has_no_url_of_its_own(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    judge_case(pytester.path)
    chat_server.set_script(script("Within 30 days."))

    result = pytester.runpytest(*endpoint_args, "--incident-judge-model=judge-model")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"incident-evals: judge {chat_server.base_url} (the endpoint under test), "
            "model judge-model"
        ]
    )
    assert [body["model"] for body in judge_requests(chat_server)] == ["judge-model"]


def test_a_constraint_may_name_its_own_judge_model(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    judge_case(pytester.path, argument={"rubric": RUBRIC, "model": "big-judge"})
    chat_server.set_script(script("Within 30 days."))

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1)
    assert [body["model"] for body in judge_requests(chat_server)] == ["big-judge"]


def test_no_judge_configured_is_an_error_of_that_item_only(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    judge_case(pytester.path)
    write_case(pytester.path, "incident_cases/plain.yaml", case_data("INC-PLAIN"))
    chat_server.set_script(script("Within 30 days."))

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "INC-JUDGED: judge error: the judge constraint (line 11) cannot run: no judge "
            "model is configured: pass --incident-judge-model NAME (ini incident_judge_model), "
            "or name one in the constraint: {rubric: ..., model: NAME}",
        ]
    )
    # The judged case sent nothing: its verdict could never have been made.
    assert [r.body["messages"][-1]["content"] for r in chat_server.requests] == [
        "question for INC-PLAIN"
    ]


def test_without_an_endpoint_under_test_the_judge_needs_its_own_url(
    pytester: pytest.Pytester,
) -> None:
    # No endpoint configured means the embedded local model, which is never a judge.
    config = pytester.parseconfig("--incident-evals", "--incident-judge-model=judge-model")

    settings = options.resolve_judge(config, target=None)

    assert settings.endpoint is None
    assert settings.missing == (
        "no judge endpoint is configured: pass --incident-judge-base-url URL and "
        "--incident-judge-model NAME (or their ini twins incident_judge_base_url, "
        "incident_judge_model)"
    )
    assert settings.model_for("named-in-case") == "named-in-case"


def test_judge_endpoint_errors_make_the_item_an_error_with_the_cause(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    judge_case(pytester.path)

    def respond(body: dict[str, Any]) -> Reply:
        if is_judge_request(body):
            return Reply(status=503, error_message="judge overloaded")
        return Reply(content="Within 30 days.")

    chat_server.set_script(respond)

    result = pytester.runpytest(*endpoint_args, "--incident-judge-model=judge-model")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "INC-JUDGED: judge error: HTTP 503 from the endpoint: judge overloaded "
            "[[]request id req_2] (after 1 attempt)"
        ]
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("I think it passes", 'the judge\'s reply is not a JSON verdict: "I think it passes"'),
        ('{"verdict": "maybe"}', 'the judge\'s verdict is \'maybe\', not "pass" or "fail"'),
    ],
)
def test_a_reply_that_is_not_a_verdict_is_a_judge_error_never_a_pass(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    content: str,
    problem: str,
) -> None:
    judge_case(pytester.path)

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(content=content if is_judge_request(body) else "Within 30 days.")

    chat_server.set_script(respond)

    result = pytester.runpytest(*endpoint_args, "--incident-judge-model=judge-model")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"INC-JUDGED: judge error: {problem}*"])


def test_verdicts_are_cached_across_runs_until_the_cache_is_cleared(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    judge_case(pytester.path)
    chat_server.set_script(script("Within 30 days."))
    args = [
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=test-model",
        "--incident-judge-model=judge-model",
    ]

    pytester.runpytest(*args).assert_outcomes(passed=1)
    pytester.runpytest(*args).assert_outcomes(passed=1)
    assert len(judge_requests(chat_server)) == 1
    assert len(chat_server.requests) == 3  # two target requests, one judge request

    pytester.runpytest(*args, "--cache-clear").assert_outcomes(passed=1)
    assert len(judge_requests(chat_server)) == 2


def test_a_changed_output_is_judged_again(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    judge_case(pytester.path)
    args = [
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=test-model",
        "--incident-judge-model=judge-model",
    ]
    chat_server.set_script(script("Within 30 days."))
    pytester.runpytest(*args).assert_outcomes(passed=1)
    chat_server.set_script(script("Within 60 days."))
    pytester.runpytest(*args).assert_outcomes(failed=1)
    assert len(judge_requests(chat_server)) == 2


def test_judge_exchanges_are_recorded_apart_and_replay_offline(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    judge_case(pytester.path)
    chat_server.set_script(script("Within 60 days."))
    recordings = pytester.path / "recordings"

    recorded = pytester.runpytest(
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=test-model",
        "--incident-judge-model=judge-model",
        f"--incident-record={recordings}",
        "-p",
        "no:cacheprovider",
    )
    recorded.assert_outcomes(failed=1)
    [target] = (recordings / "INC-JUDGED").glob("*.json")
    [judged] = (recordings / "INC-JUDGED" / "judge").glob("*.json")
    assert json.loads(target.read_text())["request"]["model"] == "test-model"
    assert json.loads(judged.read_text())["request"]["model"] == "judge-model"
    chat_server.stop()

    replayed = pytester.runpytest(
        "--incident-evals", f"--incident-replay={recordings}", "-p", "no:cacheprovider"
    )

    replayed.assert_outcomes(failed=1)
    replayed.stdout.fnmatch_lines(["*judge judge-v2 says it does not hold: it says*"])


def test_replay_without_a_judge_recording_is_an_error_naming_it(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    judge_case(pytester.path)
    chat_server.set_script(script("Within 30 days."))
    recordings = pytester.path / "recordings"
    pytester.runpytest(
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=test-model",
        "--incident-judge-model=judge-model",
        f"--incident-record={recordings}",
        "-p",
        "no:cacheprovider",
    ).assert_outcomes(passed=1)
    for path in (recordings / "INC-JUDGED" / "judge").glob("*.json"):
        path.unlink()

    replayed = pytester.runpytest(
        "--incident-evals", f"--incident-replay={recordings}", "-p", "no:cacheprovider"
    )

    replayed.assert_outcomes(errors=1)
    replayed.stdout.fnmatch_lines(
        ["INC-JUDGED: judge error: no recording for case INC-JUDGED (sample 0) in *"]
    )


def test_a_bad_judge_url_is_a_usage_error_naming_the_flag(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    judge_case(pytester.path)

    result = pytester.runpytest(*endpoint_args, "--incident-judge-base-url=judge.example")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--incident-judge-base-url: expected an http:// or https:// URL, got 'judge.example'"]
    )


def test_the_judge_ini_twins_configure_the_judge(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    judge_case(pytester.path)
    pytester.makeini(
        f"""
        [pytest]
        incident_judge_base_url = {chat_server.base_url}
        incident_judge_model = ini-judge
        """
    )
    chat_server.set_script(script("Within 30 days."))

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"incident-evals: judge {chat_server.base_url} (incident_judge_base_url), model ini-judge"]
    )
    assert [body["model"] for body in judge_requests(chat_server)] == ["ini-judge"]
