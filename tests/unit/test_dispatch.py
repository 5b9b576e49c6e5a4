"""The dispatcher (``incident_evals.dispatch``): one event loop, a bound on jobs in flight."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError

import pytest

from incident_evals.dispatch import Dispatcher, EventLoop

#: Long enough that every place is taken before the first job ends, even on a loaded machine.
HOLD_S = 0.5


class Peak:
    """How many jobs ran at once, counted from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.most = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def test_coroutines_and_blocking_jobs_share_one_bound() -> None:
    dispatcher: Dispatcher[int] = Dispatcher(3, EventLoop())
    peak = Peak()

    async def waits(n: int) -> int:
        peak.enter()
        await asyncio.sleep(HOLD_S)
        peak.leave()
        return n

    def blocks(n: int) -> int:
        peak.enter()
        time.sleep(HOLD_S)
        peak.leave()
        return n

    futures = [
        dispatcher.submit_async(functools.partial(waits, n))
        if n % 2
        else dispatcher.submit(functools.partial(blocks, n))
        for n in range(8)
    ]

    assert [future.result(timeout=60) for future in futures] == list(range(8))
    assert peak.most == 3
    assert dispatcher.counts() == (8, 0, 0)
    dispatcher.close()


def test_stop_cancels_what_has_not_started_and_lets_the_running_job_finish() -> None:
    dispatcher: Dispatcher[str] = Dispatcher(1, EventLoop())
    started, release = threading.Event(), threading.Event()

    async def first() -> str:
        started.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        return "answered"

    async def never() -> str:
        raise AssertionError("a job queued behind the stop ran")

    running = dispatcher.submit_async(first)
    queued = [dispatcher.submit_async(never) for _ in range(3)]
    assert started.wait(30)

    dispatcher.stop()
    late = dispatcher.submit_async(never)
    release.set()

    assert running.result(timeout=30) == "answered"
    for future in [*queued, late]:
        with pytest.raises(CancelledError):
            future.result(timeout=30)
    assert dispatcher.counts() == (1, 0, 0)
    dispatcher.close()


def test_close_ends_a_running_job_as_cancelled_never_as_an_answer() -> None:
    dispatcher: Dispatcher[str] = Dispatcher(2, EventLoop())
    started = threading.Event()

    async def forever() -> str:
        started.set()
        await asyncio.sleep(3600)
        return "never"

    future = dispatcher.submit_async(forever)
    assert started.wait(30)

    dispatcher.close()

    with pytest.raises(CancelledError):
        future.result(timeout=30)


def test_a_blocking_wait_on_the_loops_own_thread_is_refused() -> None:
    loop = EventLoop()

    async def nested() -> None:
        async def inner() -> int:
            return 1

        loop.wait(inner())

    with pytest.raises(RuntimeError, match="on the event loop's own thread"):
        loop.run(nested()).result(timeout=30)


class CountingLoop(EventLoop):
    """An event loop that counts the callbacks other threads hand it (its wake-ups)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def call(self, callback: Callable[..., object], *args: object) -> None:
        self.calls += 1
        super().call(callback, *args)


def test_a_batch_starts_its_jobs_together_in_order_with_one_wake_up() -> None:
    loop = CountingLoop()
    dispatcher: Dispatcher[int] = Dispatcher(2, loop)
    started: list[int] = []

    async def job(n: int) -> int:
        started.append(n)
        return n

    with dispatcher.batch():
        futures = [dispatcher.submit_async(functools.partial(job, n)) for n in range(5)]
        time.sleep(0.2)
        # Nothing has reached the loop yet: the batch is still open.
        assert started == []
        assert dispatcher.counts() == (0, 0, 5)

    assert [future.result(timeout=5) for future in futures] == [0, 1, 2, 3, 4]
    assert started == [0, 1, 2, 3, 4]
    assert loop.calls == 1

    # Outside a batch each job still starts on its own, and a stopped dispatcher takes none.
    assert dispatcher.submit_async(functools.partial(job, 5)).result(timeout=5) == 5
    dispatcher.close()
    with dispatcher.batch():
        late = dispatcher.submit_async(functools.partial(job, 6))
    assert late.cancelled()
    assert started == [0, 1, 2, 3, 4, 5]
