"""While pytest waits for answers, a terminal shows how many are answered, in flight, queued.

The runs here are real pytest processes writing to a pseudo-terminal (what a user's terminal
is), or to a pipe (CI logs), with a scripted endpoint slow enough for the line to appear.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

#: Each request takes this long: long enough for the line (shown after 0.5 s of waiting).
SLOW_S = 1.5
RUN_TIMEOUT_S = 120
#: While pytest waits for the first of three items, one request at a time.
FIRST_WAIT = re.compile(r"incident-evals: 0 answered, 1 in flight, 2 queued \(waiting \d+ s\)")
CLEAR = "\x1b7\x1bD\r\x1b[2K\x1b8"


def run_in_terminal(pytester: pytest.Pytester, *args: str) -> tuple[int, str]:
    """Run pytest with its output on a pseudo-terminal; its exit code and everything it wrote."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    # pytester turns colour off for the runs it makes; a user's terminal has it.
    for variable in ("NO_COLOR", "PY_COLORS"):
        env.pop(variable, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=pytester.path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal closed: pytest ended
                    break
                if not data:
                    break
                output += data
            elif process.poll() is not None:
                break
        else:
            pytest.fail(f"pytest did not end in {RUN_TIMEOUT_S} s:\n{output.decode()}")
        code = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, output.decode("utf-8", "replace")


@pytest.fixture
def slow_catalogue(pytester: pytest.Pytester, chat_server: ChatServer) -> list[str]:
    write_case(pytester.path, "incident_cases/a.yaml", *(case_data(i) for i in ("A", "B", "C")))
    chat_server.set_script(lambda body: Reply(content="30 days.", delay_s=SLOW_S))
    return [
        "--incident-evals",
        "-p",
        "no:cacheprovider",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=m",
        "--incident-concurrency=1",
    ]


def test_a_terminal_shows_the_status_line_and_it_is_cleared(
    pytester: pytest.Pytester, slow_catalogue: list[str]
) -> None:
    code, output = run_in_terminal(pytester, *slow_catalogue, "-v")

    assert code == pytest.ExitCode.OK, output
    shown = FIRST_WAIT.search(output)
    assert shown, output
    # Drawn on the line below pytest's (saved cursor, one line down, cleared, restored), and
    # cleared again before pytest writes the item's outcome.
    assert output[: shown.start()].endswith("\x1b7\x1bD\r\x1b[2K")
    assert output[shown.end() :].startswith("\x1b8")
    passed = output.index("PASSED", shown.end())
    assert CLEAR in output[shown.end() : passed]
    assert output.count("incident-evals: ") >= 4  # header lines, and the status


@pytest.mark.parametrize("quiet", ["-q", "-qq"])
def test_quiet_runs_show_none(
    pytester: pytest.Pytester, slow_catalogue: list[str], quiet: str
) -> None:
    code, output = run_in_terminal(pytester, *slow_catalogue, quiet)

    assert code == pytest.ExitCode.OK, output
    assert "in flight" not in output
    assert "\x1b7" not in output


def test_output_that_is_not_a_terminal_shows_none(
    pytester: pytest.Pytester, slow_catalogue: list[str]
) -> None:
    result = pytester.runpytest_subprocess(*slow_catalogue, timeout=RUN_TIMEOUT_S)

    result.assert_outcomes(passed=3)
    assert "in flight" not in result.stdout.str()
    assert "\x1b7" not in result.stdout.str()
