"""--incident-baseline / --incident-baseline-model / --incident-fail-on: the upgrade gate.

The scripted endpoint answers by model: ``current`` (the model in production) answers every case
well except INC-C, which it already fails; ``candidate`` (the upgrade) also breaks INC-A and
INC-B. The gate must name exactly INC-A and INC-B as regressions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

CASES = ("INC-A", "INC-B", "INC-C", "INC-D")


def answer(broken_by_candidate: tuple[str, ...]) -> Any:
    def respond(body: dict[str, Any]) -> Reply:
        question = str(body["messages"][-1]["content"])
        case = question.removeprefix("question for ")
        bad = case == "INC-C" or (body["model"] == "candidate" and case in broken_by_candidate)
        return Reply(content="You have 60 days." if bad else "You have 30 days.")

    return respond


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> None:
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        *(case_data(case, expect=[{"not_contains": "60 days"}]) for case in CASES),
    )


def run_args(server: ChatServer, model: str) -> list[str]:
    return [
        "--incident-evals",
        f"--incident-base-url={server.base_url}",
        f"--incident-model={model}",
        "--incident-retries=0",
        "-p",
        "no:cacheprovider",
    ]


def regressions(report: Path) -> dict[str, str | None]:
    items = json.loads(report.read_text())["items"]
    return {
        item["case_id"]: item["regression"]["status"] if item["regression"] else None
        for item in items
    }


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_a_model_side_by_side_names_exactly_the_regressions(
    pytester: pytest.Pytester, chat_server: ChatServer, workers: str
) -> None:
    chat_server.set_script(answer(("INC-A", "INC-B")))

    result = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline-model=current",
        "--incident-report=results.json",
        workers,
    )

    result.assert_outcomes(passed=1, failed=3)
    assert regressions(pytester.path / "results.json") == {
        "INC-A": "regressed",
        "INC-B": "regressed",
        "INC-C": "unchanged",
        "INC-D": "unchanged",
    }
    # Same requests for both models, each sent once.
    models = sorted(r.body["model"] for r in chat_server.requests)
    assert models == ["candidate"] * 4 + ["current"] * 4


@pytest.mark.usefixtures("catalogue")
def test_fail_on_regressions_fails_only_the_regressions(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.set_script(answer(("INC-A", "INC-B")))

    result = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline-model=current",
        "--incident-fail-on=regressions",
        "-rx",
    )

    result.assert_outcomes(passed=1, failed=2, xfailed=1)
    result.stdout.fnmatch_lines(
        ["XFAIL *::INC-C - INC-C: failing, but not a regression (unchanged); *"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.usefixtures("catalogue")
def test_fail_on_regressions_passes_when_only_known_failures_fail(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.set_script(answer(()))

    result = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline-model=current",
        "--incident-fail-on=regressions",
    )

    result.assert_outcomes(passed=3, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.usefixtures("catalogue")
def test_a_stored_baseline_gates_the_same_way(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.set_script(answer(("INC-A", "INC-B")))
    pytester.runpytest(
        *run_args(chat_server, "current"), "--incident-report=current.json"
    ).assert_outcomes(passed=3, failed=1)

    gated = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline=current.json",
        "--incident-fail-on=regressions",
        "--incident-report=candidate.json",
    )

    gated.assert_outcomes(passed=1, failed=2, xfailed=1)
    assert regressions(pytester.path / "candidate.json") == {
        "INC-A": "regressed",
        "INC-B": "regressed",
        "INC-C": "unchanged",
        "INC-D": "unchanged",
    }
    run = json.loads((pytester.path / "candidate.json").read_text())["run"]
    assert run["baseline"] == {"kind": "file", "path": "current.json"}
    assert run["fail_on"] == "regressions"


@pytest.mark.usefixtures("catalogue")
def test_new_and_removed_items_against_a_stored_baseline(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.set_script(answer(()))
    pytester.runpytest(*run_args(chat_server, "current"), "--incident-report=before.json")
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        *(case_data(case, expect=[{"not_contains": "60 days"}]) for case in ("INC-A", "INC-E")),
    )

    pytester.runpytest(
        *run_args(chat_server, "current"),
        "--incident-baseline=before.json",
        "--incident-report=after.json",
    )

    items = json.loads((pytester.path / "after.json").read_text())["items"]
    assert {(i["case_id"], i["outcome"], i["regression"]["status"]) for i in items} == {
        ("INC-A", "passed", "unchanged"),
        ("INC-E", "passed", "new"),
        ("INC-B", "skipped", "removed"),
        ("INC-C", "skipped", "removed"),
        ("INC-D", "skipped", "removed"),
    }


@pytest.mark.usefixtures("catalogue")
def test_fail_on_regressions_without_a_baseline_is_a_usage_error(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "--incident-fail-on=regressions")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--incident-fail-on regressions needs a baseline: --incident-baseline RESULTS or "
            "--incident-baseline-model NAME"
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--incident-fail-on=blockers"],
            "*--incident-fail-on: expected failures or regressions, got 'blockers'",
        ),
        (
            ["--incident-alpha=1.5"],
            "*--incident-alpha: expected a significance level between 0 and 1 (e.g. 0.05), "
            "got '1.5'",
        ),
        (
            ["--incident-baseline=b.json", "--incident-baseline-model=m"],
            "*--incident-baseline and --incident-baseline-model exclude each other*",
        ),
        (["--incident-baseline=missing.json"], "*--incident-baseline: *missing.json*"),
    ],
)
@pytest.mark.usefixtures("catalogue")
def test_bad_gate_options_are_usage_errors(
    pytester: pytest.Pytester, endpoint_args: list[str], args: list[str], message: str
) -> None:
    pytester.path.joinpath("b.json").write_text("{}")

    result = pytester.runpytest(*endpoint_args, *args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("alpha", "status"), [("0.05", "regressed"), ("0.04", "unchanged")])
def test_with_repeats_the_fisher_test_decides_at_alpha(
    pytester: pytest.Pytester, chat_server: ChatServer, alpha: str, status: str
) -> None:
    chat_server.set_script(answer(("INC-A",)))

    pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline-model=current",
        "--incident-repeats=3",
        f"--incident-alpha={alpha}",
        "--incident-report=results.json",
        "-k",
        "INC-A",
    )

    [item] = json.loads((pytester.path / "results.json").read_text())["items"]
    # 3/3 passing samples for the baseline, 0/3 for the candidate: p = 1/20 exactly.
    assert item["regression"] == {
        "baseline_outcome": "passed",
        "baseline_pass_rate": 1.0,
        "status": status,
        "p_value": 0.05,
        "test": "fisher",
        "p_drop": 0.05,
        "p_rise": 1.0,
        # One item compared: nothing to adjust for.
        "q_value": 0.05,
        "pass_rate_interval": [0.0, pytest.approx(0.5615, abs=1e-4)],
        "baseline_pass_rate_interval": [pytest.approx(0.4385, abs=1e-4), 1.0],
        # 0/3 against 3/3 is the most a drop can show with three samples.
        "smallest_detectable_drop": 1.0 if status == "regressed" else None,
    }
    assert (item["samples"], item["passed_samples"]) == (3, 0)


@pytest.mark.parametrize("workers", ["-n0", "-n2"])
@pytest.mark.parametrize("fail_on", ["failures", "regressions"])
def test_a_case_file_that_fails_to_load_blocks_the_gate_in_both_modes(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    fail_on: str,
    workers: str,
) -> None:
    from incident_evals.cli import main

    chat_server.set_script(answer(()))
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        *(case_data(case, expect=[{"not_contains": "60 days"}]) for case in ("INC-A", "INC-B")),
    )
    pytester.path.joinpath("incident_cases/broken.yaml").write_text(
        "id: INC-BROKEN\nincident: {category: safety, severity: critical}\ninput: [\n",
        encoding="utf-8",
    )
    pytester.runpytest(*run_args(chat_server, "current"), "--incident-report=current.json")

    result = pytester.runpytest(
        *run_args(chat_server, "current"),
        "--incident-baseline=current.json",
        f"--incident-fail-on={fail_on}",
        "--incident-report=results.json",
        # Selecting cases does not hide a file whose cases are unknown.
        "-k",
        "INC-A",
        workers,
    )

    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "CASE FILES THAT FAILED TO LOAD (1)",
            "  incident_cases/broken.yaml:4: invalid YAML: *",
            "incident-evals: BLOCK — 1 case file failed to load (incident_cases/broken.yaml); "
            "0 regressions in 1 item against baseline current.json*",
        ]
    )
    document = json.loads((pytester.path / "results.json").read_text())
    assert document["run"]["complete"] is True
    assert [error["nodeid"] for error in document["load_errors"]] == [
        "incident_cases/broken.yaml::line-4"
    ]
    assert document["summary"]["total"] == 1 + 1 + 1  # INC-A, INC-B removed by -k, the file
    assert document["summary"]["outcomes"] == {"passed": 1, "error": 1, "skipped": 1}
    assert document["summary"]["line"].startswith("incident-evals: BLOCK — 1 case file failed")

    capsys.readouterr()
    assert main(["report", str(pytester.path / "results.json")]) == 1
    assert "CASE FILES THAT FAILED TO LOAD (1)" in capsys.readouterr().out


@pytest.mark.usefixtures("catalogue")
def test_an_edited_case_is_changed_not_compared(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.set_script(answer(()))
    pytester.runpytest(*run_args(chat_server, "current"), "--incident-report=baseline.json")
    # INC-A now forbids what the model says; INC-B's record gains a summary, which tests nothing.
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        case_data("INC-A", expect=[{"not_contains": "30 days"}]),
        case_data(
            "INC-B",
            expect=[{"not_contains": "60 days"}],
            incident={"category": "correctness", "severity": "major", "summary": "explained"},
        ),
        *(case_data(case, expect=[{"not_contains": "60 days"}]) for case in ("INC-C", "INC-D")),
    )

    result = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline=baseline.json",
        "--incident-fail-on=regressions",
        "--incident-report=results.json",
        "-rx",
    )

    assert regressions(pytester.path / "results.json") == {
        "INC-A": "changed",
        "INC-B": "unchanged",
        "INC-C": "unchanged",
        "INC-D": "unchanged",
    }
    result.stdout.fnmatch_lines(
        ["XFAIL *::INC-A - INC-A: failing, but not a regression (changed)*"]
    )
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_a_baseline_case_that_did_not_run_blocks_the_upgrade_gate(
    pytester: pytest.Pytester, chat_server: ChatServer, workers: str
) -> None:
    chat_server.set_script(answer(()))
    pytester.runpytest(*run_args(chat_server, "current"), "--incident-report=baseline.json")

    result = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline=baseline.json",
        "--incident-fail-on=regressions",
        "-k",
        "not INC-D",
        workers,
    )

    result.assert_outcomes(passed=2, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "incident-evals: BLOCK — 0 regressions in 3 items against baseline *; 1 removed "
            "(not run: INC-D); model candidate"
        ]
    )
    # No item failed, yet the step fails: the verdict is the product.
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.usefixtures("catalogue")
def test_a_case_that_did_not_run_is_only_reported_when_failures_fail(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.set_script(answer(()))
    pytester.runpytest(*run_args(chat_server, "current"), "--incident-report=baseline.json")

    result = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline=baseline.json",
        "-k",
        "not INC-C and not INC-D",
    )

    result.stdout.fnmatch_lines(["incident-evals: PASS — *; 2 removed; model candidate"])
    assert result.ret == pytest.ExitCode.OK


def test_a_drop_of_the_whole_run_blocks_when_no_single_item_shows_it(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    cases = [f"INC-{n:02d}" for n in range(12)]
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        *(case_data(case, expect=[{"not_contains": "60 days"}]) for case in cases),
    )
    asked: dict[str, int] = {}

    def first_candidate_sample_fails(body: dict[str, Any]) -> Reply:
        case = str(body["messages"][-1]["content"]).removeprefix("question for ")
        if body["model"] != "candidate":
            return Reply(content="You have 30 days.")
        asked[case] = asked.get(case, 0) + 1
        return Reply(content="You have 60 days." if asked[case] == 1 else "You have 30 days.")

    chat_server.set_script(first_candidate_sample_fails)

    result = pytester.runpytest(
        *run_args(chat_server, "candidate"),
        "--incident-baseline-model=current",
        "--incident-repeats=2",
        "--incident-fail-on=regressions",
        "--incident-report=results.json",
        "--incident-concurrency=1",
    )

    document = json.loads((pytester.path / "results.json").read_text())
    # 1/2 against 2/2 says nothing of one item (p = 0.5); twelve incidents all half as good do.
    assert {item["regression"]["status"] for item in document["items"]} == {"unchanged"}
    suite = document["summary"]["suite"]
    assert (suite["incidents"], suite["difference"]) == (12, -0.5)
    assert suite["p_value"] == 1 / 4096
    assert suite["significant_drop"] is True
    result.stdout.fnmatch_lines(
        [
            "overall: -0.50 pass rate per incident (95 % interval -0.50 to -0.50) over 12 "
            "incidents, p = 0.000244: a significant drop",
            "incident-evals: BLOCK — 0 regressions in 12 items against baseline current; "
            "overall pass rate -0.50 per incident over 12 incidents (p = 0.000244); *",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
