"""--incident-allow-inconclusive: a critical item the gate cannot decide blocks unless allowed.

Four critical cases; the candidate fails INC-A on all three samples where the baseline model
passed all three: p = 0.05 on its own, but four items are compared, so it is inconclusive.
INC-A compares pass rates (``runs.gate: pass_rate``); under the default for critical cases one
failing sample would be enough.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from gate_endpoint import candidate_breaks

CASES = ("INC-A", "INC-B", "INC-C", "INC-D")


@pytest.fixture
def catalogue(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        *(
            case_data(
                case,
                severity="critical",
                expect=[{"not_contains": "60 days"}],
                runs={"gate": "pass_rate"} if case == "INC-A" else {},
            )
            for case in CASES
        ),
    )
    chat_server.set_script(candidate_breaks("INC-A"))


def run(pytester: pytest.Pytester, server: ChatServer, *more: str) -> pytest.RunResult:
    return pytester.runpytest(
        "--incident-evals",
        f"--incident-base-url={server.base_url}",
        "--incident-model=candidate",
        "--incident-baseline-model=current",
        "--incident-fail-on=regressions",
        "--incident-repeats=3",
        "--incident-retries=0",
        "--incident-report=results.json",
        "-p",
        "no:cacheprovider",
        *more,
    )


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_an_inconclusive_critical_item_blocks(
    pytester: pytest.Pytester, chat_server: ChatServer, workers: str
) -> None:
    result = run(pytester, chat_server, workers)

    [first, *_] = json.loads((pytester.path / "results.json").read_text())["items"]
    assert (first["case_id"], first["regression"]["status"]) == ("INC-A", "inconclusive")
    assert first["regression"]["p_value"] == 0.05
    result.stdout.fnmatch_lines(
        [
            "incident-evals: BLOCK — 0 regressions in 4 items against baseline current; "
            "1 critical inconclusive (INC-A); *"
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.usefixtures("catalogue")
def test_allowed_an_inconclusive_critical_item_is_reported_without_blocking(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = run(pytester, chat_server, "--incident-allow-inconclusive", "-rx")

    result.stdout.fnmatch_lines(
        [
            "incident-evals: PASS — 0 regressions in 4 items against baseline current; *",
            "XFAIL *::INC-A - INC-A: failing, but not a regression (inconclusive)*",
        ]
    )
    document = json.loads((pytester.path / "results.json").read_text())
    assert document["run"]["allow_inconclusive"] is True
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.usefixtures("catalogue")
def test_the_ini_twin_allows_it_too(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    pytester.makeini("[pytest]\nincident_allow_inconclusive = true\n")

    result = run(pytester, chat_server)

    result.stdout.fnmatch_lines(["incident-evals: PASS — *"])


@pytest.mark.usefixtures("catalogue")
def test_by_default_one_failing_sample_of_a_critical_case_is_a_regression(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    # INC-B now fails only its first candidate sample, under the critical default: any_failure.
    asked: list[str] = []

    def flaky(body: dict[str, Any]) -> Reply:
        case = str(body["messages"][-1]["content"]).removeprefix("question for ")
        if body["model"] == "candidate" and case == "INC-B":
            asked.append(case)
            if len(asked) == 1:
                return Reply(content="You have 60 days.")
        return Reply(content="You have 30 days.")

    chat_server.set_script(flaky)

    result = run(pytester, chat_server, "-k", "INC-B")

    [item] = json.loads((pytester.path / "results.json").read_text())["items"]
    assert (item["passed_samples"], item["regression"]["status"]) == (2, "regressed")
    assert item["regression"]["test"] == "any_failure"
    assert result.ret == pytest.ExitCode.TESTS_FAILED
