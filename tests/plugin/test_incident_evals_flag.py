"""``--incident-evals``: cases become items, replayed against the endpoint; off, nothing happens."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply


@pytest.mark.parametrize("workers", ["0", "2"])
def test_cases_pass_and_fail_against_the_endpoint(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    write_case(pytester.path, "incident_cases/bad.yaml", case_data("INC-BAD"))
    chat_server.set_script(
        lambda body: Reply(
            content="You have 60 days." if "INC-BAD" in str(body["messages"]) else "30 days."
        )
    )

    result = pytester.runpytest(*endpoint_args, "-n", workers)

    result.stdout.fnmatch_lines(
        [f"incident-evals: endpoint {chat_server.base_url} (--incident-base-url), model test-model"]
    )
    result.stdout.fnmatch_lines(["FAILED incident_cases/bad.yaml::INC-BAD - *"])
    result.stdout.fnmatch_lines(
        [
            "*INC-BAD: 1 of 1 constraint(s) failed (model test-model)",
            '  not_contains (line *): expected not contains "60 days"',
            '*"60 days"*',
            "  output:",
            "    | You have 60 days.",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.assert_outcomes(passed=1, failed=1)
    assert len(chat_server.requests) == 2


def test_request_carries_system_documents_and_case_params(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    write_case(
        pytester.path,
        "incident_cases/rag.yaml",
        case_data(
            "INC-RAG",
            model={"name": "gpt-old", "temperature": 0, "max_tokens": 50},
            input={
                "system": "Answer only from the documents.",
                "documents": [
                    {"id": "policy-2024", "title": "Refund policy", "content": "30 days."}
                ],
            },
        ),
    )

    pytester.runpytest(*endpoint_args).assert_outcomes(passed=1)

    body = chat_server.requests[0].body
    assert body["model"] == "test-model"
    assert body["temperature"] == 0
    assert body["max_tokens"] == 50
    assert body["messages"][0] == {
        "role": "system",
        "content": "Answer only from the documents.\n\n"
        '<document id="policy-2024" title="Refund policy">30 days.</document>',
    }
    assert body["messages"][1] == {"role": "user", "content": "question for INC-RAG"}


def test_without_the_flag_nothing_is_collected(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")

    result = pytester.runpytest(
        f"--incident-base-url={chat_server.base_url}", "incident_cases", "."
    )

    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*incident-evals: endpoint*")
    assert chat_server.requests == []


def test_without_the_flag_nothing_heavy_is_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_modules="""
        import sys

        def test_modules():
            heavy = {"openai", "yaml", "jsonschema", "tenacity", "incident_evals.case"}
            assert sorted(heavy & set(sys.modules)) == []
        """
    )
    # A fresh interpreter: this test process has already imported everything.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_modules.py"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


LOADERS_PROBE = """
import sys
from pathlib import Path

def pytest_sessionfinish(session):
    loaders = {
        name: type(module.__loader__).__name__
        for name, module in sorted(sys.modules.items())
        if name.partition(".")[0] == "incident_evals"
    }
    Path("loaders.txt").write_text("\\n".join(f"{n} {l}" for n, l in loaders.items()))
"""


def test_pytest_does_not_rewrite_the_plugins_modules(
    pytester: pytest.Pytester, endpoint_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    pytester.makeconftest(LOADERS_PROBE)
    # As on CI machines: a module pytest rewrites is parsed, rewritten and compiled every run.
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")

    # A fresh interpreter: in this one, the package is long imported.
    result = pytester.runpytest_subprocess(*endpoint_args)

    result.assert_outcomes(passed=1)
    loaders = dict(
        line.split(" ") for line in (pytester.path / "loaders.txt").read_text().splitlines()
    )
    assert {"incident_evals.collect", "incident_evals.case", "incident_evals.plugin"} <= set(
        loaders
    )
    assert {name for name, loader in loaders.items() if loader != "SourceFileLoader"} == set()


def test_a_second_session_in_the_process_does_not_warn_it_cannot_rewrite_the_package(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    import incident_evals.collect

    assert type(incident_evals.collect.__loader__).__name__ == "SourceFileLoader"
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))

    result = pytester.runpytest(*endpoint_args, "-W", "error::pytest.PytestAssertRewriteWarning")

    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*PytestAssertRewriteWarning*")


def test_a_bare_run_collects_the_catalogue_not_the_test_suite(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    pytester.makepyfile(test_plain="def test_plain():\n    raise AssertionError\n")

    result = pytester.runpytest(*endpoint_args, "-v")

    result.stdout.fnmatch_lines(["incident_cases/good.yaml::INC-GOOD PASSED*"])
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_broken_test_module_beside_the_cases_behaves_as_it_does_without_the_plugin(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    pytester.makepyfile(
        test_broken="def test_broken(:\n    pass\n", test_fine="def test_fine():\n    pass\n"
    )
    paths = ["test_broken.py", "test_fine.py", "incident_cases", "-n", workers, "-rA"]

    without = pytester.runpytest(*paths)
    with_plugin = pytester.runpytest(*endpoint_args, *paths)

    assert with_plugin.ret == without.ret
    for result in (without, with_plugin):
        result.stdout.fnmatch_lines(["*ERROR collecting test_broken.py*"])
    if workers == "0":
        # pytest's own rule: a module that cannot be collected interrupts the session before
        # anything runs, so nothing is sent either.
        assert without.ret == pytest.ExitCode.INTERRUPTED
        for result in (without, with_plugin):
            result.stdout.fnmatch_lines(["*Interrupted: 1 error during collection*"])
        assert chat_server.requests == []
    else:
        # xdist's own rule: the other tests still run (the case too, with the plugin).
        assert without.ret == pytest.ExitCode.TESTS_FAILED
        for result in (without, with_plugin):
            result.stdout.fnmatch_lines(["PASSED test_fine.py::test_fine"])
        with_plugin.stdout.fnmatch_lines(["PASSED incident_cases/good.yaml::INC-GOOD"])


def test_the_plugin_leaves_nothing_behind_after_its_run(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))

    result = pytester.inline_run(*endpoint_args)

    result.assertoutcome(passed=1)
    [config] = [call.config for call in result.getcalls("pytest_unconfigure")]
    from incident_evals.collect import COLLECT_STATE, EVAL_SESSION, GATE
    from incident_evals.plugin import IncidentEvalsPlugin

    assert config.pluginmanager.get_plugin(IncidentEvalsPlugin.NAME) is None
    for key in (COLLECT_STATE, EVAL_SESSION, GATE):
        assert key not in config.stash
    # What collection built was frozen out of the garbage collector's passes while items ran.
    assert gc.get_freeze_count() == 0


FREEZE_PROBE = """
import gc
from pathlib import Path

def pytest_runtest_logreport(report):
    if report.when == "call":
        Path("frozen.txt").write_text(str(gc.get_freeze_count()))
"""


def test_what_collection_built_is_frozen_while_items_run(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    pytester.makeconftest(FREEZE_PROBE)

    pytester.inline_run(*endpoint_args).assertoutcome(passed=1)

    assert int((pytester.path / "frozen.txt").read_text()) > 0
    assert gc.get_freeze_count() == 0


COLLECTOR_PROBE = """
import gc
from pathlib import Path
import pytest

def pytest_collectstart(collector):
    if collector.name.endswith(".yaml"):
        with open("collecting.txt", "a") as seen:
            seen.write(f"{gc.isenabled()}\\n")

@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    try:
        return (yield)
    finally:
        # The last to write is the process that ran the loop of the session.
        Path("loop.txt").write_text(str(gc.isenabled()))

def pytest_runtest_call(item):
    Path("running.txt").write_text(str(gc.isenabled()))
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_garbage_collector_is_paused_while_cases_are_collected_only(
    pytester: pytest.Pytester, endpoint_args: list[str], workers: str
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    write_case(pytester.path, "incident_cases/b.yaml", case_data("INC-B"))
    pytester.makeconftest(COLLECTOR_PROBE)

    result = pytester.runpytest_subprocess(*endpoint_args, "-p", "xdist", "-n", workers)

    result.assert_outcomes(passed=2)
    assert set((pytester.path / "collecting.txt").read_text().split()) == {"False"}
    assert (pytester.path / "running.txt").read_text() == "True"
    # The controller of -n 2 collects nothing: it resumes as its loop starts.
    assert (pytester.path / "loop.txt").read_text() == "True"


def test_a_paused_garbage_collector_is_resumed_after_a_usage_error(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))

    result = pytester.inline_run(*endpoint_args, "--incident-fail-on=regressions")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert gc.isenabled()


def test_a_garbage_collector_paused_before_the_run_stays_paused(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    gc.disable()
    try:
        pytester.inline_run(*endpoint_args).assertoutcome(passed=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


EXIT_PROBE = """
import atexit, gc, sys
import pytest
# Registered first, so it runs last: after what the plugin registered.
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
sys.exit(pytest.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("enabled", [True, False])
def test_at_exit_the_session_is_left_to_the_operating_system(
    pytester: pytest.Pytester, endpoint_args: list[str], enabled: bool
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    args = endpoint_args if enabled else ["-p", "no:cacheprovider", "incident_cases"]

    # A fresh interpreter: its exit is what is observed.
    result = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, "-q", *args],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == (0 if enabled else pytest.ExitCode.NO_TESTS_COLLECTED)
    # Frozen, the interpreter's last collection skips what the run left; without the flag the
    # plugin changes nothing.
    assert f"frozen at exit: {enabled}" in result.stdout


def test_objects_frozen_before_the_run_stay_frozen_after_it(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    gc.freeze()
    try:
        pytester.inline_run(*endpoint_args).assertoutcome(passed=1)
        # Unfreezing is global: the run leaves frozen what it did not freeze.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
