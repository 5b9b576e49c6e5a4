"""``--incident-timeout`` and ``--incident-retries`` (and their ini twins) shape every request."""

from __future__ import annotations

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply


@pytest.fixture
def base_args(pytester: pytest.Pytester, chat_server: ChatServer) -> list[str]:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    return [
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=m",
        "-p",
        "no:cacheprovider",
    ]


def test_timeout_then_retries_exhausted_is_an_error(
    pytester: pytest.Pytester, chat_server: ChatServer, base_args: list[str]
) -> None:
    chat_server.set_script(lambda body: Reply(content="late", delay_s=3))

    result = pytester.runpytest(*base_args, "--incident-timeout=0.3", "--incident-retries=1")

    result.stdout.fnmatch_lines(["INC-A: endpoint error: the request timed out (after 2 attempts)"])
    result.assert_outcomes(errors=1)
    assert len(chat_server.requests) == 2


def test_retries_recover_and_are_not_counted_twice(
    pytester: pytest.Pytester, chat_server: ChatServer, base_args: list[str]
) -> None:
    chat_server.set_script(
        [
            Reply(status=429, headers={"Retry-After": "0"}),
            Reply(status=503),
            Reply(content="30 days."),
        ]
    )

    result = pytester.runpytest(*base_args, "--incident-retries=2")

    result.assert_outcomes(passed=1)
    assert len(chat_server.requests) == 3


def test_ini_twins(
    pytester: pytest.Pytester, chat_server: ChatServer, base_args: list[str]
) -> None:
    pytester.makeini("[pytest]\nincident_timeout = 0.3\nincident_retries = 0\n")
    chat_server.set_script(lambda body: Reply(content="late", delay_s=3))

    result = pytester.runpytest(*base_args)

    result.stdout.fnmatch_lines(["INC-A: endpoint error: the request timed out (after 1 attempt)"])
    assert len(chat_server.requests) == 1


def test_flag_wins_over_ini(
    pytester: pytest.Pytester, chat_server: ChatServer, base_args: list[str]
) -> None:
    pytester.makeini("[pytest]\nincident_retries = 0\n")
    chat_server.set_script([Reply(status=500), Reply(content="30 days.")])

    result = pytester.runpytest(*base_args, "--incident-retries=1")

    result.assert_outcomes(passed=1)
