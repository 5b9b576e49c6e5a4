"""``--incident-repeats`` and ``runs.repeats``/``runs.min_pass_rate``: independent samples."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply


def alternate(chat_server: ChatServer, *contents: str) -> None:
    replies = itertools.cycle(contents)
    chat_server.set_script(lambda body: Reply(content=next(replies)))


def test_flag_sends_one_request_chain_per_sample(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"), case_data("INC-B"))

    pytester.runpytest(*endpoint_args, "--incident-repeats=3").assert_outcomes(passed=2)

    assert len(chat_server.requests) == 6


def test_a_failing_sample_fails_at_zero_tolerance(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    alternate(chat_server, "30 days.", "60 days.", "30 days.")

    result = pytester.runpytest(*endpoint_args, "--incident-repeats=3", "--incident-concurrency=1")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "INC-A: 1 of 3 samples failed; pass rate 0.67, needs 1.00 (model test-model)",
            "  sample 1: 1 of 1 constraint(s) failed",
            '    not_contains (line 11): expected not contains "60 days"',
            '        found "60 days" at char 0',
            "    output:",
            "      | 60 days.",
        ]
    )


@pytest.mark.parametrize(("min_pass_rate", "outcome"), [(0.5, "passed"), (0.75, "failed")])
def test_min_pass_rate_from_the_case(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    min_pass_rate: float,
    outcome: str,
) -> None:
    runs = {"repeats": 4, "min_pass_rate": min_pass_rate}
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A", runs=runs))
    alternate(chat_server, "30 days.", "60 days.")

    result = pytester.runpytest(*endpoint_args, "--incident-concurrency=1", "--junitxml=junit.xml")

    result.assert_outcomes(**{outcome: 1})
    assert len(chat_server.requests) == 4
    testcase = ET.parse(pytester.path / "junit.xml").find(".//testcase")
    assert testcase is not None
    properties = {p.get("name"): p.get("value") for p in testcase.iter("property")}
    assert properties["pass_rate"] == "0.5"


def test_flag_overrides_the_case(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A", runs={"repeats": 5}))

    pytester.runpytest(*endpoint_args, "--incident-repeats=2").assert_outcomes(passed=1)

    assert len(chat_server.requests) == 2


def test_ini_twin_and_bad_value(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    pytester.makeini("[pytest]\nincident_repeats = 2\n")

    pytester.runpytest(*endpoint_args).assert_outcomes(passed=1)
    assert len(chat_server.requests) == 2

    result = pytester.runpytest("--incident-evals", "--incident-repeats=many")
    result.stderr.fnmatch_lines(
        ["*--incident-repeats: expected a whole number >= 1 or auto, got 'many'"]
    )


def test_one_sample_that_cannot_be_answered_makes_the_item_an_error(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    chat_server.set_script([Reply(content="30 days."), Reply(status=400, error_message="bad")])

    result = pytester.runpytest(*endpoint_args, "--incident-repeats=2", "--incident-concurrency=1")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["INC-A: endpoint error: sample 1: HTTP 400 from the endpoint: bad * (after 1 attempt)"]
    )
