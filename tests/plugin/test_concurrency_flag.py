"""``--incident-concurrency``: requests of all selected items go out together, bounded."""

from __future__ import annotations

import json
import os
import signal
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from pytest_process import PytestProcess

# Long enough that every request of the first wave is sent while the first answer is still
# awaited, even on a loaded machine (0.3 s was not, under a parallel suite on 2 cores).
SLOW = 1.0


def catalogue(pytester: pytest.Pytester, count: int) -> list[str]:
    ids = [f"INC-{n:02d}" for n in range(count)]
    write_case(pytester.path, "incident_cases/many.yaml", *(case_data(i) for i in ids))
    return ids


def case_of(body: dict[str, object]) -> str:
    return str(body["messages"]).split("question for ")[1][:6]


def test_requests_overlap_up_to_the_bound(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    ids = catalogue(pytester, 10)
    chat_server.set_script(lambda body: Reply(content="30 days.", delay_s=SLOW))

    result = pytester.runpytest(*endpoint_args, "--incident-concurrency=4", "-v")

    result.assert_outcomes(passed=10)
    assert chat_server.max_in_flight == 4
    # Items still report one by one, in pytest's order.
    result.stdout.fnmatch_lines([f"incident_cases/many.yaml::{i} PASSED*" for i in ids])
    assert sorted(case_of(r.body) for r in chat_server.requests) == ids


def test_default_is_eight(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    catalogue(pytester, 12)
    chat_server.set_script(lambda body: Reply(content="30 days.", delay_s=SLOW))

    pytester.runpytest(*endpoint_args).assert_outcomes(passed=12)

    assert chat_server.max_in_flight == 8


def test_ini_twin(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    catalogue(pytester, 4)
    pytester.makeini("[pytest]\nincident_concurrency = 1\n")
    chat_server.set_script(lambda body: Reply(content="30 days.", delay_s=0.1))

    pytester.runpytest(*endpoint_args).assert_outcomes(passed=4)

    assert chat_server.max_in_flight == 1


def test_bad_value_names_the_flag(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--incident-evals", "--incident-concurrency=0")

    result.stderr.fnmatch_lines(["*--incident-concurrency: expected a whole number >= 1, got '0'"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_deselected_items_send_nothing(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    catalogue(pytester, 5)

    pytester.runpytest(*endpoint_args, "-k", "INC-03").assert_outcomes(passed=1)

    assert [case_of(r.body) for r in chat_server.requests] == ["INC-03"]


def test_exitfirst_stops_the_queue(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    catalogue(pytester, 6)
    chat_server.set_script(lambda body: Reply(content="60 days", delay_s=0.2))

    result = pytester.runpytest(*endpoint_args, "--incident-concurrency=1", "-x")

    result.assert_outcomes(failed=1)
    # The failing first item, and at most the one already on the wire when it failed.
    assert len(chat_server.requests) <= 2


def test_endpoint_down_every_item_is_an_error(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    catalogue(pytester, 5)
    args = [a for a in endpoint_args if not a.startswith("--incident-base-url")]

    result = pytester.runpytest(
        *args, "--incident-base-url=http://127.0.0.1:9/v1", "--incident-retries=2"
    )

    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines(
        ["INC-00: endpoint error: cannot connect to the endpoint* (after 3 attempts)"]
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_faults_are_retried_and_nothing_is_counted_twice(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    """20% 429 (with Retry-After), 10% 500 and 5% timeouts, by a fixed pattern of 20 requests."""
    ids = catalogue(pytester, 40)
    pattern = ["429"] * 4 + ["500"] * 2 + ["timeout"] + ["ok"] * 13
    faults: Counter[str] = Counter()

    def script(body: dict[str, object]) -> Reply:
        # The server calls its script under its own lock, one request at a time.
        kind = pattern[faults.total() * 7 % len(pattern)]
        faults[kind] += 1
        if kind == "429":
            return Reply(status=429, headers={"Retry-After": "0.05"})
        if kind == "500":
            return Reply(status=500)
        if kind == "timeout":
            return Reply(content="30 days.", delay_s=2.0)
        return Reply(content="30 days.")

    chat_server.set_script(script)

    result = pytester.runpytest(
        *endpoint_args,
        "--incident-retries=8",
        "--incident-timeout=0.5",
        "-n",
        workers,
        "--junitxml=junit.xml",
    )

    result.assert_outcomes(passed=40)
    names = Counter(
        case.get("name") for case in ET.parse(pytester.path / "junit.xml").iter("testcase")
    )
    assert names == Counter(ids)
    assert faults["429"]
    assert faults["500"]
    assert faults["timeout"]
    # Every request is a case's first try or a retry of a fault: none is sent twice for nothing.
    assert len(chat_server.requests) == 40 + faults["429"] + faults["500"] + faults["timeout"]
    assert Counter(case_of(r.body) for r in chat_server.requests).keys() == set(ids)


def in_its_own_process(
    pytester: pytest.Pytester, chat_server: ChatServer, *args: str
) -> PytestProcess:
    """``pytest --incident-evals`` against the scripted server, in a process of its own."""
    return PytestProcess(
        pytester.path,
        "--incident-evals",
        "-p",
        "no:cacheprovider",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=m",
        *args,
    )


def test_ctrl_c_with_requests_in_flight_ends_promptly(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    catalogue(pytester, 20)
    # Answers that would take far longer than the run may: only Ctrl-C can end it in time.
    chat_server.set_script(lambda body: Reply(content="30 days.", delay_s=3600))
    # No timeout, so no retry, while the test runs.
    run = in_its_own_process(pytester, chat_server, "--incident-timeout=7200")
    try:
        # The default concurrency: eight requests on the wire before Ctrl-C.
        run.wait_until(lambda: len(chat_server.requests) >= 8, "8 requests at the server")
        output = run.interrupt()  # bounded: it must not wait for the answers
    finally:
        run.kill()

    assert run.process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    # Nothing queued behind the interrupted items was sent, before or after.
    assert len(chat_server.requests) == 8


def test_a_files_requests_go_out_before_a_later_file_is_collected(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-00"))
    write_case(pytester.path, "incident_cases/b.yaml", case_data("INC-01"))
    arrived = pytester.path / "arrived"

    def script(body: dict[str, object]) -> Reply:
        arrived.touch()
        return Reply(content="30 days.")

    chat_server.set_script(script)
    # Collecting b.yaml waits until a request has reached the server (at most 60 s): it does not
    # wait when a.yaml's request went out as soon as a.yaml was collected.
    pytester.makeconftest(
        """
        import time
        from pathlib import Path

        def pytest_collectstart(collector):
            if collector.path is not None and collector.path.name == "b.yaml":
                deadline = time.monotonic() + 60
                while not Path("arrived").exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
                Path("seen-while-collecting-b").write_text(str(Path("arrived").exists()))
        """
    )

    pytester.runpytest(*endpoint_args, "--incident-concurrency=2").assert_outcomes(passed=2)

    assert (pytester.path / "seen-while-collecting-b").read_text() == "True"
    assert [case_of(r.body) for r in chat_server.requests] == ["INC-00", "INC-01"]


def test_a_conftest_collected_later_that_deselects_is_respected(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-00"), case_data("INC-01"))
    write_case(pytester.path, "incident_cases/sub/c.yaml", case_data("INC-02"))
    # Loaded only when pytest reaches sub/, after a.yaml's items exist: none may be sent early.
    (pytester.path / "incident_cases/sub/conftest.py").write_text(
        "def pytest_collection_modifyitems(config, items):\n"
        "    dropped = [item for item in items if item.name == 'INC-00']\n"
        "    config.hook.pytest_deselected(items=dropped)\n"
        "    items[:] = [item for item in items if item.name != 'INC-00']\n"
    )

    result = pytester.runpytest(*endpoint_args)

    result.assert_outcomes(passed=2, deselected=1)
    assert sorted(case_of(r.body) for r in chat_server.requests) == ["INC-01", "INC-02"]


def test_exitfirst_counts_every_item_once_and_none_as_passed(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    ids = catalogue(pytester, 12)
    chat_server.set_script(lambda body: Reply(content="60 days", delay_s=0.1))

    result = pytester.runpytest(
        *endpoint_args, "--incident-concurrency=3", "-x", "--incident-report=results.json"
    )

    result.assert_outcomes(failed=1)
    results = json.loads((pytester.path / "results.json").read_text())
    assert [item["nodeid"] for item in results["items"]] == [f"incident_cases/many.yaml::{ids[0]}"]
    assert results["run"]["complete"] is False
    # The first item's request, and at most the ones in flight when it failed: each sent once.
    sent = [case_of(r.body) for r in chat_server.requests]
    assert len(sent) == len(set(sent)) <= 1 + 3 + 3
    assert chat_server.max_in_flight <= 3


def helper_of(pid: int) -> int | None:
    """The helper process that sends the requests of the pytest process ``pid``, if it runs."""
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next((line for line in status.splitlines() if line.startswith("PPid:")), "")
        if parent.split()[1:] == [str(pid)] and b"incident_evals.request_process" in command:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="finds the helper in /proc")
def test_a_helper_process_that_dies_makes_every_item_it_held_an_error(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: requests are sent in-process")
    catalogue(pytester, 6)
    # The first answer at once; the others only once the helper is dead.
    chat_server.set_script(
        lambda body: Reply(content="30 days.", delay_s=0 if "INC-00" in str(body) else 3600)
    )
    run = in_its_own_process(pytester, chat_server, "--incident-concurrency=2")
    try:
        # INC-00 answered, INC-01 and INC-02 in flight: nothing more goes out until one answers.
        run.wait_until(lambda: len(chat_server.requests) >= 3, "3 requests at the server")
        helper = helper_of(run.process.pid)
        assert helper is not None, "no helper process sends this run's requests"
        os.kill(helper, signal.SIGKILL)
        output = run.finish()
    finally:
        run.kill()

    assert "1 passed, 5 errors" in output, output
    assert "endpoint error: the process that sends requests ended (exit code -9)" in output, output
    # Nothing was sent for the items queued behind the two in flight.
    assert len(chat_server.requests) == 3
