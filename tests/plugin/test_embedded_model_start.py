"""The embedded model starts on the first request that needs it, and serves one at a time.

A run whose selected items send nothing needs no endpoint and starts nothing: ``-k recorded``,
``--collect-only``, a full ``--incident-replay``, everything deselected. The server process
here is ``tests/fake_llama_server.py`` (see ``conftest_text``), which leaves a file behind when
it is launched.
"""

from __future__ import annotations

import re

import pytest

from case_files import case_data, write_case
from fake_llama_server import IN_FLIGHT_LOG, SENTINEL, conftest_text

RUN_TIMEOUT_S = 120
HEADER = (
    "incident-evals: endpoint: the embedded local model (llama.cpp server, "
    "SmolLM2-135M-Instruct), model smollm2-135m-instruct, starts on the first request"
)
STARTING = re.compile(
    r"^incident-evals: starting the embedded local model at http://127\.0\.0\.1:\d+/v1 "
    r"\(one request at a time\)$",
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


def test_requests_go_one_at_a_time_whatever_the_concurrency(catalogue: pytest.Pytester) -> None:
    write_case(catalogue.path, "incident_cases/b.yaml", *(case_data(f"INC-{n}") for n in range(6)))

    run(catalogue, "--incident-concurrency=8").assert_outcomes(passed=10)

    # The server holds each request a while: two sent together would overlap there.
    held = (catalogue.path / IN_FLIGHT_LOG).read_text().split()
    assert held == ["1"] * 9  # one request per case
