"""Hostile corpus: an embedded model server that crashes, never starts, or hangs.

The plugin launches a real process for the embedded model; here that process is
``tests/fake_llama_server.py`` (a small HTTP server, through ``conftest_text``), which misbehaves
on cue, so the behaviours are exact and need no model. Each run is a pytest subprocess with a
hard timeout. Whatever the server does, every item that needed it ends as an ERROR naming the
cause in one line (never ``Connection refused (after 4 attempts)``), the terminal says what
happened once, with the tail of the server's log, and the log is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from case_files import case_data, write_case
from fake_llama_server import LAST_WORDS, SENTINEL, conftest_text

#: Each run is bounded: a hang would fail the test, not stall the suite.
RUN_TIMEOUT_S = 120
LOG = r"/\S+/incident-evals-llama-\w+\.log"
IDS = ("INC-A", "INC-B", "INC-C")


@dataclass(frozen=True)
class Crash:
    behaviour: str
    #: How the plugin names the end: "signal SIGSEGV", "exit status 3".
    described: str
    #: Items that got their answer before the crash.
    answered: int = 0


CRASHES = {
    "segfault-on-first-request": Crash("die-on-request:1:SIGSEGV", "signal SIGSEGV"),
    "illegal-instruction-on-first-request": Crash("die-on-request:1:SIGILL", "signal SIGILL"),
    "bus-error-on-first-request": Crash("die-on-request:1:SIGBUS", "signal SIGBUS"),
    "abort-on-first-request": Crash("die-on-request:1:SIGABRT", "signal SIGABRT"),
    "killed-on-first-request": Crash("die-on-request:1:SIGKILL", "signal SIGKILL"),
    "terminated-on-first-request": Crash("die-on-request:1:SIGTERM", "signal SIGTERM"),
    "exit-status-on-first-request": Crash("die-on-request:1:exit-3", "exit status 3"),
    "segfault-mid-run": Crash("die-on-request:2:SIGSEGV", "signal SIGSEGV", answered=1),
    "killed-on-last-request": Crash("die-on-request:3:SIGKILL", "signal SIGKILL", answered=2),
}


def run(
    pytester: pytest.Pytester, behaviour: str, *args: str, build_problem: str | None = None
) -> pytest.RunResult:
    write_case(pytester.path, "incident_cases/a.yaml", *(case_data(i) for i in IDS))
    pytester.makeconftest(conftest_text(behaviour, build_problem))
    # One slot, so the requests reach the server in the items' order, one at a time: which
    # items got their answer before the crash is then exact.
    return pytester.runpytest_subprocess(
        "--incident-evals",
        "-p",
        "no:cacheprovider",
        "-o",
        "incident_local_slots=1",
        *args,
        timeout=RUN_TIMEOUT_S,
    )


def kept_log(result: pytest.RunResult) -> Path:
    """The log the run kept (it says where); removed by the test once read."""
    found = re.search(
        rf"^incident-evals: the embedded model server's log is kept: ({LOG})$",
        result.stdout.str(),
        re.MULTILINE,
    )
    assert found, result.stdout.str()
    return Path(found.group(1))


def assert_no_connection_errors(result: pytest.RunResult) -> None:
    output = result.stdout.str()
    assert "Connection refused" not in output
    assert "cannot connect" not in output
    assert "attempts)" not in output
    assert "Traceback" not in output


@pytest.mark.parametrize("crash", CRASHES.values(), ids=CRASHES.keys())
def test_a_crashed_server_makes_the_rest_errors_with_its_cause(
    pytester: pytest.Pytester, crash: Crash
) -> None:
    result = run(pytester, crash.behaviour, "--incident-retries=3", "-v")

    died = f"the embedded model server died ({crash.described})"
    answered, rest = IDS[: crash.answered], IDS[crash.answered :]
    result.stdout.fnmatch_lines(
        [f"*::{case_id} PASSED*" for case_id in answered]
        + [f"{case_id}: endpoint error: {died}; its log: /*.log" for case_id in rest]
    )
    # Said once, with the log's last lines, before the first error.
    notice = (
        f"incident-evals: {died}; the items that need it are errors. Last lines of its log (*):"
    )
    result.stdout.fnmatch_lines([notice, f"    {LAST_WORDS}"])
    assert result.stdout.str().count("the items that need it are errors") == 1
    result.assert_outcomes(passed=crash.answered, errors=len(rest))
    assert_no_connection_errors(result)
    log = kept_log(result)
    assert LAST_WORDS in log.read_text(encoding="utf-8")
    log.unlink()


@dataclass(frozen=True)
class NoStart:
    behaviour: str
    args: tuple[str, ...]
    #: The items' cause, after "the embedded local model did not start: ".
    cause: str
    log_line: str | None = LAST_WORDS
    build_problem: str | None = None


NO_STARTS = {
    "segfault-while-loading": NoStart(
        "die-at-start:SIGSEGV",
        (),
        "the local model server ended (signal SIGSEGV) before it was ready",
    ),
    "exit-while-loading": NoStart(
        "die-at-start:exit-1",
        (),
        "the local model server ended (exit status 1) before it was ready",
    ),
    "never-ready": NoStart(
        "never-ready",
        ("-o", "incident_local_startup_timeout=1"),
        "the local model server was not ready after 1 s",
        log_line="fake llama server: loading the model (never-ready)",
    ),
}


@pytest.mark.parametrize("case", NO_STARTS.values(), ids=NO_STARTS.keys())
def test_a_server_that_does_not_start_is_every_items_error(
    pytester: pytest.Pytester, case: NoStart
) -> None:
    result = run(pytester, case.behaviour, *case.args)

    cause = f"the embedded local model did not start: {case.cause}"
    result.stdout.fnmatch_lines(
        [f"{case_id}: endpoint error: {cause}; its log: /*.log" for case_id in IDS]
    )
    result.stdout.fnmatch_lines(
        [f"incident-evals: {cause}; the items that need it are errors. Last lines of its log (*):"]
    )
    assert f"    {case.log_line}" in result.stdout.lines
    assert result.stdout.str().count("the items that need it are errors") == 1
    result.assert_outcomes(errors=3)
    assert_no_connection_errors(result)
    kept_log(result).unlink()


def test_a_build_that_would_crash_is_not_started(pytester: pytest.Pytester) -> None:
    problem = "the installed llama.cpp (libggml-cpu.so) was compiled with AMX instructions (test)"
    result = run(pytester, "ok", build_problem=problem)

    cause = f"the embedded local model did not start: {problem}"
    result.stdout.fnmatch_lines([f"{case_id}: endpoint error: {cause}" for case_id in IDS])
    result.stdout.fnmatch_lines([f"incident-evals: {cause}; the items that need it are errors"])
    assert result.stdout.str().count("the items that need it are errors") == 1
    result.assert_outcomes(errors=3)
    assert not (pytester.path / SENTINEL).exists()
    assert "log is kept" not in result.stdout.str()


def test_a_hung_server_times_out_each_request_and_is_not_called_dead(
    pytester: pytest.Pytester,
) -> None:
    result = run(pytester, "hang", "--incident-timeout=1", "--incident-retries=0")

    result.stdout.fnmatch_lines(
        [f"{case_id}: endpoint error: the request timed out (after 1 attempt)" for case_id in IDS]
    )
    result.assert_outcomes(errors=3)
    assert "died" not in result.stdout.str()
    # Items ended in errors: the log stays for a look.
    kept_log(result).unlink()
