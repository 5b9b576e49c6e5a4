"""Shared by the bench scripts: case catalogues, the scripted endpoint, timed pytest runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# The scripted OpenAI-compatible server the tests use.
sys.path.insert(0, str(REPO / "tests"))

from chat_server import ChatServer as ChatServer  # noqa: E402  (re-exported)


def write_catalogue(directory: Path, count: int, per_file: int = 100) -> None:
    """``count`` cases, ``per_file`` documents to a file (a catalogue of realistic shape)."""
    directory.mkdir(parents=True, exist_ok=True)
    for start in range(0, count, per_file):
        documents = [
            {
                "id": f"INC-{n:05d}",
                "incident": {"category": "correctness", "severity": "major"},
                "input": {
                    "system": "Answer only from the documents.",
                    "messages": [{"role": "user", "content": f"Refund question {n}?"}],
                    "documents": [{"id": "policy", "content": "Refunds within 30 days."}],
                },
                "expect": [{"not_contains": "60 days"}, {"contains": "30 days"}],
            }
            for n in range(start, min(start + per_file, count))
        ]
        path = directory / f"cases-{start:05d}.yaml"
        path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents))


def echo_30_days(server: ChatServer) -> None:
    from chat_server import Reply

    server.set_script(lambda body: Reply(content="Refunds are possible within 30 days."))


@dataclass
class Run:
    wall_s: float
    exit_code: int
    #: ``time.monotonic()`` at spawn, to line up with the scripted server's request times.
    started_at: float
    #: Peak resident set size of the pytest process, in MiB.
    peak_rss_mib: float
    tail: str


def run_pytest(cwd: Path, *args: str) -> Run:
    """One pytest process, timed from spawn to exit, with its own peak RSS (from wait4)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "INCIDENT_EVALS_"))}
    started_at = time.monotonic()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    # ru_maxrss is in KiB on Linux.
    return Run(wall, process.returncode, started_at, usage.ru_maxrss / 1024, tail)
