"""A pytest plugin for the benches: the CPU time of each phase of one pytest process.

Loaded with ``-p phase_clock`` (``bench/`` on ``PYTHONPATH``), it appends one JSON line to the
file named by ``BENCH_PHASES_FILE``: CPU seconds (``time.process_time``) of start-up (until
``pytest_configure``), collection, running the items and finishing (results, summary), and the
seconds spent in garbage collection while items ran.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

import pytest

_marks: dict[str, float] = {}
_collecting = {"seconds": 0.0, "since": 0.0}


def _clock_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _collecting["since"] = time.process_time()
    else:
        _collecting["seconds"] += time.process_time() - _collecting["since"]


def pytest_configure(config: pytest.Config) -> None:
    _marks["configured"] = time.process_time()
    gc.callbacks.append(_clock_gc)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    _marks["collected"] = time.process_time()
    _marks["gc_collected"] = _collecting["seconds"]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _marks["ran"] = time.process_time()
    _marks["gc_ran"] = _collecting["seconds"]


def pytest_unconfigure(config: pytest.Config) -> None:
    ended = time.process_time()
    path = os.environ.get("BENCH_PHASES_FILE")
    if not path or "ran" not in _marks:
        return
    phases = {
        "start-up": _marks["configured"],
        "collection": _marks["collected"] - _marks["configured"],
        "items": _marks["ran"] - _marks["collected"],
        "finish": ended - _marks["ran"],
        "gc while items ran": _marks["gc_ran"] - _marks["gc_collected"],
    }
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(phases) + "\n")
