"""``--incident-repeats auto`` and ``--incident-max-samples``: both models sampled side by side,
each item topped up a pair at a time until its comparison is decided.

The baseline model ``current`` answers every case well; the candidate breaks INC-A only. Four
items are compared, so a regression needs evidence of 4 / 0.05 = 80: nine drops in a row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer
from gate_endpoint import candidate_breaks
from incident_evals.evidence import pairs_needed

CASES = ("INC-A", "INC-B", "INC-C", "INC-D")
NEEDED = pairs_needed(4 / 0.05)


@pytest.fixture
def catalogue(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        *(case_data(case, expect=[{"not_contains": "60 days"}]) for case in CASES),
    )
    chat_server.set_script(candidate_breaks("INC-A"))


def run_args(server: ChatServer, *more: str) -> list[str]:
    return [
        "--incident-evals",
        f"--incident-base-url={server.base_url}",
        "--incident-model=candidate",
        "--incident-baseline-model=current",
        "--incident-repeats=auto",
        "--incident-retries=0",
        "--incident-report=results.json",
        "-p",
        "no:cacheprovider",
        *more,
    ]


def items(path: Path) -> dict[str, dict[str, Any]]:
    return {item["case_id"]: item for item in json.loads(path.read_text())["items"]}


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_only_the_undecided_item_is_topped_up_until_it_is_a_regression(
    pytester: pytest.Pytester, chat_server: ChatServer, workers: str
) -> None:
    result = pytester.runpytest(*run_args(chat_server), workers)

    found = items(pytester.path / "results.json")
    assert {case: item["samples"] for case, item in found.items()} == {
        "INC-A": NEEDED,
        "INC-B": 3,
        "INC-C": 3,
        "INC-D": 3,
    }
    assert found["INC-A"]["regression"]["status"] == "regressed"
    assert found["INC-A"]["regression"]["test"] == "sequential"
    assert found["INC-A"]["regression"]["p_drop"] <= 0.05 / 4
    assert {found[c]["regression"]["status"] for c in CASES[1:]} == {"unchanged"}
    # Each sample once, on each side: nothing lost, nothing counted twice.
    by_model: dict[str, int] = {}
    for request in chat_server.requests:
        by_model[request.body["model"]] = by_model.get(request.body["model"], 0) + 1
    assert by_model == {"candidate": NEEDED + 9, "current": NEEDED + 9}
    result.stdout.fnmatch_lines(["against the baseline: 1 regressed, 3 unchanged"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.usefixtures("catalogue")
def test_the_most_samples_leave_an_undecided_drop_inconclusive(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    pytester.runpytest(*run_args(chat_server, f"--incident-max-samples={NEEDED - 1}"))

    found = items(pytester.path / "results.json")
    # After three drops even a drop on every sample left could not reach 80: no top-up.
    assert found["INC-A"]["samples"] == 3
    assert found["INC-A"]["passed_samples"] == 0
    assert found["INC-A"]["regression"]["status"] == "inconclusive"
    # Three pairs could never have shown it among four items.
    assert found["INC-A"]["regression"]["smallest_detectable_drop"] is None


@pytest.mark.usefixtures("catalogue")
def test_a_recorded_auto_run_replays_offline_to_the_same_decisions(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    pytester.runpytest(*run_args(chat_server, "--incident-record=rec"))
    recorded = items(pytester.path / "results.json")
    sent = len(chat_server.requests)

    result = pytester.runpytest(*run_args(chat_server, "--incident-replay=rec"))

    replayed = items(pytester.path / "results.json")
    assert len(chat_server.requests) == sent  # offline: nothing more reached the endpoint
    assert {c: (i["samples"], i["regression"]["status"]) for c, i in replayed.items()} == {
        c: (i["samples"], i["regression"]["status"]) for c, i in recorded.items()
    }
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_auto_needs_a_baseline_model(pytester: pytest.Pytester) -> None:
    pytester.mkdir("incident_cases")

    result = pytester.runpytest("--incident-evals", "--incident-repeats=auto")

    result.stderr.fnmatch_lines(
        ["ERROR: --incident-repeats auto needs --incident-baseline-model NAME: *"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--incident-repeats=sometimes", "expected a whole number >= 1 or auto, got 'sometimes'"),
        ("--incident-max-samples=2", "expected a whole number >= 3, got '2'"),
        ("--incident-max-samples=lots", "expected a whole number >= 3, got 'lots'"),
    ],
)
def test_bad_values_name_the_flag_and_the_accepted_forms(
    pytester: pytest.Pytester, flag: str, message: str
) -> None:
    result = pytester.runpytest("--incident-evals", flag)

    result.stderr.fnmatch_lines([f"*{flag.split('=')[0]}: {message}"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.usefixtures("catalogue")
def test_the_ini_twins(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    pytester.makeini(f"[pytest]\nincident_repeats = auto\nincident_max_samples = {NEEDED - 1}\n")
    args = [a for a in run_args(chat_server) if a != "--incident-repeats=auto"]

    pytester.runpytest(*args)

    # Fewer than the nine needed: not worth a top-up (by default, INC-A takes nine).
    found = items(pytester.path / "results.json")["INC-A"]
    assert (found["samples"], found["regression"]["status"]) == (3, "inconclusive")
