"""A ``pytest`` run in its own process, for tests that must act on it while it runs (Ctrl-C,
SIGKILL): its output is read as it comes, and every wait on it is bounded.

Tests wait for something observable (a line of output, a request the scripted server received,
a file the run's conftest wrote) before they act, never for a fixed time: a loaded machine is
slow, and a sleep long enough there is a race somewhere else.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

#: Bounds every wait: a slow machine is slow, a stuck run fails the test instead of the suite.
WAIT_S = 120.0


class PytestProcess:
    def __init__(self, cwd: Path, *args: str) -> None:
        self._lock = threading.Lock()
        self._output: list[str] = []
        # -u: a pipe would otherwise hold pytest's lines in its buffer.
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pytest", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self._output.append(line)

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self._output)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Return once ``condition()`` holds; fail the test if the run ends or WAIT_S passes."""
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if self.process.poll() is not None and not condition():
                self.kill()
                pytest.fail(f"pytest ended before {what}:\n{self.output}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"no {what} within {WAIT_S:g} s:\n{self.output}")
            time.sleep(0.05)

    def wait_for_output(self, pattern: str) -> re.Match[str]:
        """The first match of ``pattern`` (a regex, multi-line) in the output, once it is there."""
        regex = re.compile(pattern, re.MULTILINE)
        self.wait_until(lambda: regex.search(self.output) is not None, f"output {pattern!r}")
        found = regex.search(self.output)
        assert found is not None
        return found

    def interrupt(self) -> str:
        """Ctrl-C; the whole output once the run has ended (within WAIT_S)."""
        self.process.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self) -> str:
        try:
            self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"pytest did not end within {WAIT_S:g} s:\n{self.output}")
        self._reader.join(timeout=WAIT_S)
        return self.output

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
