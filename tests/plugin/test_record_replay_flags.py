"""``--incident-record DIR`` and ``--incident-replay DIR``: every exchange kept; replays offline."""

from __future__ import annotations

import json

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

QUIET = ["-p", "no:cacheprovider"]


@pytest.fixture
def two_cases(pytester: pytest.Pytester) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-GOOD"), case_data("INC-BAD"))


@pytest.mark.usefixtures("two_cases")
def test_record_then_replay_offline_gives_the_same_outcomes(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-on-disk")
    chat_server.set_script(
        lambda body: Reply(content="60 days." if "INC-BAD" in str(body) else "30 days.")
    )

    recorded = pytester.runpytest(*endpoint_args, "--incident-record=recordings", "-v")
    recorded.assert_outcomes(passed=1, failed=1)
    recorded.stdout.fnmatch_lines(["incident-evals: recording every exchange to */recordings"])
    files = sorted((pytester.path / "recordings").rglob("*.json"))
    assert [f.parent.name for f in files] == ["INC-BAD", "INC-GOOD"]
    for file in files:
        text = file.read_text()
        assert "sk-never-on-disk" not in text
        assert json.loads(text)["response"]["choices"][0]["message"]["content"]
    chat_server.stop()
    sent = len(chat_server.requests)

    replayed = pytester.runpytest("--incident-evals", "--incident-replay=recordings", *QUIET, "-v")

    replayed.stdout.fnmatch_lines(
        ["incident-evals: replaying recordings from */recordings (offline)"]
    )
    replayed.stdout.fnmatch_lines(
        ["incident_cases/a.yaml::INC-GOOD PASSED*", "incident_cases/a.yaml::INC-BAD FAILED*"]
    )
    replayed.stdout.fnmatch_lines(["INC-BAD: 1 of 1 constraint(s) failed (model test-model)"])
    assert len(chat_server.requests) == sent


@pytest.mark.usefixtures("two_cases")
def test_repeats_are_recorded_per_sample(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    pytester.runpytest(
        *endpoint_args, "--incident-record=rec", "--incident-repeats=2"
    ).assert_outcomes(passed=2)

    assert len(list((pytester.path / "rec/INC-GOOD").glob("*.json"))) == 2

    replayed = pytester.runpytest(
        "--incident-evals", "--incident-replay=rec", "--incident-repeats=3", *QUIET
    )
    replayed.assert_outcomes(errors=2)
    replayed.stdout.fnmatch_lines(
        [
            "INC-BAD: endpoint error: sample 2: no recording for case INC-BAD (sample 2) in */rec*"
            "re-record with --incident-record *"
        ]
    )


@pytest.mark.usefixtures("two_cases")
def test_a_changed_case_is_a_miss_naming_the_case(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    pytester.runpytest(*endpoint_args, "--incident-record=rec")
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        case_data("INC-GOOD", input={"system": "A new system prompt."}),
        case_data("INC-BAD"),
    )

    result = pytester.runpytest("--incident-evals", "--incident-replay=rec", *QUIET)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["INC-GOOD: endpoint error: no recording for case INC-GOOD*"])


@pytest.mark.usefixtures("two_cases")
def test_record_and_replay_exclude_each_other(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--incident-evals", "--incident-record=a", "--incident-replay=b", *QUIET
    )

    result.stderr.fnmatch_lines(
        ["ERROR: --incident-record and --incident-replay exclude each other*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.usefixtures("two_cases")
def test_replay_from_a_missing_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--incident-evals", "--incident-replay=nowhere", *QUIET)

    result.stderr.fnmatch_lines(
        ["ERROR: --incident-replay: */nowhere is not a directory of recordings*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.usefixtures("two_cases")
def test_ini_twins(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    pytester.makeini("[pytest]\nincident_record = rec\n")
    pytester.runpytest(*endpoint_args)
    assert (pytester.path / "rec/INC-GOOD").is_dir()

    pytester.makeini("[pytest]\nincident_replay = rec\n")
    chat_server.stop()
    pytester.runpytest("--incident-evals", *QUIET).assert_outcomes(passed=2)


@pytest.mark.usefixtures("two_cases")
@pytest.mark.parametrize("workers", ["0", "2"])
def test_record_under_xdist(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    pytester.runpytest(*endpoint_args, "--incident-record=rec", "-n", workers)

    files = list((pytester.path / "rec").rglob("*.json"))
    assert len(files) == 2
    assert not list((pytester.path / "rec").rglob(".tmp-*"))
    assert len(chat_server.requests) == 2
