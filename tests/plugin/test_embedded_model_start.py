"""The embedded model starts on the first request that needs it, and is sent as many requests at
once as it has slots.

A run whose selected items send nothing needs no endpoint and starts nothing: ``-k recorded``,
``--collect-only``, a full ``--incident-replay``, everything deselected. The server process
here is ``tests/fake_llama_server.py`` (see ``conftest_text``), which leaves a file behind when
it is launched.
"""

from __future__ import annotations

import json
import re

import pytest

from case_files import case_data, write_case
from fake_llama_server import BODIES_LOG, IN_FLIGHT_LOG, SENTINEL, conftest_text
from incident_evals.local_model import DEFAULT_MAX_TOKENS

RUN_TIMEOUT_S = 120
HEADER = (
    "incident-evals: endpoint: the embedded local model (llama.cpp server, "
    "SmolLM2-135M-Instruct), model smollm2-135m-instruct, starts on the first request"
)
STARTING = re.compile(
    r"^incident-evals: starting the embedded local model at http://127\.0\.0\.1:\d+/v1 "
    r"\((\d+ parallel slots|1 slot: one request at a time)\)$",
    re.MULTILINE,
)


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two cases that send requests, and one whose [recorded] item is judged from the file."""
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data("INC-A"),
        case_data("INC-B"),
        case_data("INC-REC", recorded_output="Yes, you have 60 days to ask for a refund."),
    )
    pytester.makeconftest(conftest_text("ok"))
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--incident-evals", "-p", "no:cacheprovider", *args, timeout=RUN_TIMEOUT_S
    )


def test_a_run_that_sends_starts_it_after_collection(catalogue: pytest.Pytester) -> None:
    result = run(catalogue)

    result.stdout.fnmatch_lines([HEADER, "collected 4 items"])
    assert STARTING.search(result.stdout.str()), result.stdout.str()
    result.assert_outcomes(passed=4)
    assert (catalogue.path / SENTINEL).exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("-k", "recorded"), id="only-recorded-items"),
        pytest.param(("--collect-only",), id="collect-only"),
        pytest.param(("-k", "no-such-case"), id="everything-deselected"),
        pytest.param(("-m", "critical"), id="no-item-marked"),
    ],
)
def test_a_run_that_sends_nothing_starts_nothing(
    catalogue: pytest.Pytester, args: tuple[str, ...]
) -> None:
    result = run(catalogue, *args)

    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout
    assert not STARTING.search(result.stdout.str())
    assert not (catalogue.path / SENTINEL).exists()


def test_a_full_replay_starts_nothing(catalogue: pytest.Pytester) -> None:
    run(catalogue, "--incident-record", "recordings").assert_outcomes(passed=4)
    (catalogue.path / SENTINEL).unlink()

    result = run(catalogue, "--incident-replay", "recordings")

    result.assert_outcomes(passed=4)
    assert not STARTING.search(result.stdout.str())
    assert not (catalogue.path / SENTINEL).exists()


@pytest.mark.parametrize("slots", [1, 3])
def test_requests_go_as_many_at_a_time_as_it_has_slots(
    catalogue: pytest.Pytester, slots: int
) -> None:
    write_case(catalogue.path, "incident_cases/b.yaml", *(case_data(f"INC-{n}") for n in range(6)))

    result = run(catalogue, "-o", f"incident_local_slots={slots}")

    result.assert_outcomes(passed=10)
    shown = "1 slot: one request at a time" if slots == 1 else f"{slots} parallel slots"
    result.stdout.fnmatch_lines(
        [f"incident-evals: starting the embedded local model at * ({shown})"]
    )
    # The server holds each request a while: requests sent together overlap there.
    held = [int(count) for count in (catalogue.path / IN_FLIGHT_LOG).read_text().split()]
    assert len(held) == 9  # one request per case
    assert max(held) == slots


def test_an_explicit_concurrency_wins_over_the_slots(catalogue: pytest.Pytester) -> None:
    write_case(catalogue.path, "incident_cases/b.yaml", *(case_data(f"INC-{n}") for n in range(6)))

    result = run(catalogue, "-o", "incident_local_slots=1", "--incident-concurrency=4")

    result.assert_outcomes(passed=10)
    held = [int(count) for count in (catalogue.path / IN_FLIGHT_LOG).read_text().split()]
    assert max(held) == 4


def test_a_case_without_max_tokens_asks_for_the_default_cap(catalogue: pytest.Pytester) -> None:
    write_case(
        catalogue.path,
        "incident_cases/b.yaml",
        case_data("INC-CAPPED", model={"temperature": 0}),
        case_data("INC-OWN", model={"temperature": 0, "max_tokens": 7}),
    )

    run(catalogue, "-k", "CAPPED or OWN").assert_outcomes(passed=2)

    sent = {
        body["messages"][-1]["content"]: body.get("max_tokens")
        for body in map(json.loads, (catalogue.path / BODIES_LOG).read_text().splitlines())
    }
    assert sorted(sent.values()) == [7, DEFAULT_MAX_TOKENS]


def test_xdist_workers_share_the_one_server_the_controller_starts(
    catalogue: pytest.Pytester,
) -> None:
    write_case(catalogue.path, "incident_cases/b.yaml", *(case_data(f"INC-{n}") for n in range(6)))

    result = run(catalogue, "-n", "2", "-o", "incident_local_slots=2")

    result.assert_outcomes(passed=10)
    output = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "incident-evals: starting the embedded local model at http://127.0.0.1:*/v1 "
            "(2 parallel slots), shared by the xdist workers"
        ]
    )
    assert output.count("starting the embedded local model") == 1
    launched = (catalogue.path / SENTINEL).read_text().split()
    assert len(launched) == 1, launched
    # Two workers, one request each at a time: the server's two slots.
    held = [int(count) for count in (catalogue.path / IN_FLIGHT_LOG).read_text().split()]
    assert len(held) == 9
    assert max(held) <= 2


@pytest.mark.parametrize("given", ["0", "many", "-2"])
def test_bad_slots_stop_the_run_before_anything_starts(
    catalogue: pytest.Pytester, given: str
) -> None:
    result = run(catalogue, "-o", f"incident_local_slots={given}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: ini option incident_local_slots: expected a whole number*"]
    )
    assert not (catalogue.path / SENTINEL).exists()
