"""--incident-seed: the seed of generated variants, printed in the header."""

from __future__ import annotations

from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

SHUFFLE_CONFTEST = """\
from incident_evals.variants import (
    Generated,
    VariantGenerator,
    last_user_message,
    with_message_content,
)


def _shuffle_words(case, options, draw):
    index, text = last_user_message(case.input)
    words = " ".join(draw.shuffled(text.split()))
    return Generated(with_message_content(case.input, index, words), "words shuffled")


def pytest_incident_evals_register_variants(registry):
    registry.register(
        VariantGenerator("shuffle_words", {"type": ["object", "null"]}, _shuffle_words)
    )
"""

QUESTION = "can I get a refund forty days after buying these headphones please"


@pytest.fixture
def catalogue(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    pytester.makeconftest(SHUFFLE_CONFTEST)
    write_case(
        pytester.path,
        "incident_cases/refund.yaml",
        case_data(
            "INC-1",
            input={"messages": [{"role": "user", "content": QUESTION}]},
            variants={"generate": [{"shuffle_words": {"count": 3}}]},
        ),
    )
    chat_server.set_script(lambda body: Reply(content="30 days"))


def asked(server: ChatServer) -> list[str]:
    questions = [str(r.body["messages"][-1]["content"]) for r in server.requests]
    return sorted(q for q in questions if q != QUESTION)


def run(pytester: pytest.Pytester, args: list[str], *extra: str) -> Any:
    return pytester.runpytest(*args, *extra)


@pytest.mark.usefixtures("catalogue")
def test_the_same_seed_sends_the_same_variants_and_another_seed_others(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    run(pytester, endpoint_args, "--incident-seed=5").assert_outcomes(passed=4)
    first = asked(chat_server)
    run(pytester, endpoint_args, "--incident-seed=5", "-n2").assert_outcomes(passed=4)
    both = asked(chat_server)
    run(pytester, endpoint_args, "--incident-seed=6").assert_outcomes(passed=4)
    other = sorted(set(asked(chat_server)) - set(both))

    assert len(first) == 3
    assert all(sorted(q.split()) == sorted(QUESTION.split()) for q in first)
    # Same seed, under xdist too: the same three questions again.
    assert both == sorted(first * 2)
    assert len(other) == 3


@pytest.mark.usefixtures("catalogue")
def test_the_seed_is_printed_in_the_header(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    result = run(pytester, endpoint_args, "--incident-seed=42", "--co")

    result.stdout.fnmatch_lines(["incident-evals: cases incident_cases, variants all, seed 42"])


@pytest.mark.usefixtures("catalogue")
def test_the_ini_twin_sets_the_seed(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    pytester.makeini("[pytest]\nincident_seed = 9\n")

    result = run(pytester, endpoint_args, "--co")

    result.stdout.fnmatch_lines(["incident-evals: cases incident_cases, variants all, seed 9"])


@pytest.mark.parametrize("value", ["-1", "one", "1.5"])
def test_a_bad_seed_is_a_usage_error_naming_the_flag(
    pytester: pytest.Pytester, endpoint_args: list[str], value: str
) -> None:
    result = pytester.runpytest(*endpoint_args, f"--incident-seed={value}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--incident-seed: expected a whole number >= 0, got '{value}'"])
