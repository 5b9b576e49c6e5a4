"""Stability classes: every item is ``stable_pass``, ``flaky`` or ``stable_fail`` from its samples,
shown in the summary and the results, and ``-m`` selects by the class the baseline file or the
last run gave it.

The scripted endpoint answers INC-P well every time, INC-X badly every time, and INC-F well only
the first time it is asked.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

CASES = ("INC-P", "INC-F", "INC-X")


def answer() -> Any:
    asked: dict[str, int] = {}

    def respond(body: dict[str, Any]) -> Reply:
        case = str(body["messages"][-1]["content"]).removeprefix("question for ")
        asked[case] = asked.get(case, 0) + 1
        good = case == "INC-P" or (case == "INC-F" and asked[case] == 1)
        return Reply(content="You have 30 days." if good else "You have 60 days.")

    return respond


@pytest.fixture
def catalogue(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    write_case(
        pytester.path,
        "incident_cases/refunds.yaml",
        *(case_data(case, expect=[{"not_contains": "60 days"}]) for case in CASES),
    )
    chat_server.set_script(answer())


def run_args(server: ChatServer, *more: str) -> list[str]:
    return [
        "--incident-evals",
        f"--incident-base-url={server.base_url}",
        "--incident-model=candidate",
        "--incident-retries=0",
        *more,
    ]


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_each_item_gets_the_class_of_its_samples(
    pytester: pytest.Pytester, chat_server: ChatServer, workers: str
) -> None:
    result = pytester.runpytest(
        *run_args(chat_server, "--incident-repeats=3", "--incident-report=results.json"),
        "-p",
        "no:cacheprovider",
        workers,
    )

    items = json.loads((pytester.path / "results.json").read_text())["items"]
    assert {item["case_id"]: item["stability"] for item in items} == {
        "INC-P": "stable_pass",
        "INC-F": "flaky",
        "INC-X": "stable_fail",
    }
    result.stdout.fnmatch_lines(
        ["outcomes: 1 passed, 2 failed", "stability: 1 stable_pass, 1 flaky, 1 stable_fail"]
    )


@pytest.mark.usefixtures("catalogue")
def test_one_sample_an_item_says_nothing_of_stability(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = pytester.runpytest(*run_args(chat_server), "-p", "no:cacheprovider")

    # INC-F passes: it is asked once.
    result.stdout.fnmatch_lines(["outcomes: 2 passed, 1 failed"])
    result.stdout.no_fnmatch_line("stability:*")


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("workers", ["-n0", "-n2"])
def test_m_flaky_selects_what_the_last_run_found_flaky(
    pytester: pytest.Pytester, chat_server: ChatServer, workers: str
) -> None:
    pytester.runpytest(*run_args(chat_server, "--incident-repeats=3"), workers)

    result = pytester.runpytest(*run_args(chat_server), "-m", "flaky", "--collect-only", "-q")

    result.stdout.fnmatch_lines(["*::INC-F", "1/3 tests collected (2 deselected)*"])
    # Markers are keywords too.
    by_keyword = pytester.runpytest(*run_args(chat_server), "-k", "flaky", "--co", "-q")
    by_keyword.stdout.fnmatch_lines(["*::INC-F", "1/3 tests collected (2 deselected)*"])


@pytest.mark.usefixtures("catalogue")
def test_m_selects_by_the_baseline_files_class_before_the_last_runs(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    pytester.runpytest(*run_args(chat_server, "--incident-repeats=3", "--incident-report=b.json"))
    document = json.loads((pytester.path / "b.json").read_text())
    # The baseline says otherwise than the cache: INC-P was the one that failed then.
    for item in document["items"]:
        item["stability"] = "stable_fail" if item["case_id"] == "INC-P" else "stable_pass"
    (pytester.path / "b.json").write_text(json.dumps(document))

    result = pytester.runpytest(
        *run_args(chat_server, "--incident-baseline=b.json"), "-m", "stable_fail", "--co", "-q"
    )

    result.stdout.fnmatch_lines(["*::INC-P", "1/3 tests collected (2 deselected)*"])


@pytest.mark.usefixtures("catalogue")
def test_a_baseline_without_classes_gets_them_from_its_counts(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    pytester.runpytest(
        *run_args(chat_server, "--incident-repeats=3", "--incident-report=b.json"),
        "-p",
        "no:cacheprovider",
    )
    document = json.loads((pytester.path / "b.json").read_text())
    for item in document["items"]:
        del item["stability"]  # as a file written before items carried one
    (pytester.path / "b.json").write_text(json.dumps(document))

    result = pytester.runpytest(
        *run_args(chat_server, "--incident-baseline=b.json"),
        "-p",
        "no:cacheprovider",
        "-m",
        "flaky",
        "--co",
        "-q",
    )

    result.stdout.fnmatch_lines(["*::INC-F", "1/3 tests collected (2 deselected)*"])


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    "kept", ["[1, 2]", '{"INC-F::original": "wobbly", "::": "flaky", "INC-X": 3}', "not json"]
)
def test_a_damaged_cache_entry_selects_nothing_and_breaks_nothing(
    pytester: pytest.Pytester, chat_server: ChatServer, kept: str
) -> None:
    entry = pytester.path / ".pytest_cache" / "v" / "incident_evals" / "stability"
    entry.parent.mkdir(parents=True)
    entry.write_text(kept)

    result = pytester.runpytest(*run_args(chat_server), "-m", "flaky or stable_fail", "--co", "-q")

    result.stdout.fnmatch_lines(["no tests collected (3 deselected)*"])
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_the_classes_are_registered_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--incident-evals", "--markers", "--incident-cases=.")

    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.stable_pass: every sample passed in the baseline file, else in the last "
            "run (incident-evals)",
            "@pytest.mark.flaky: *",
            "@pytest.mark.stable_fail: *",
        ]
    )
