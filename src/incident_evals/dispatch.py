"""Items -> requests, concurrently: every selected sample is queued as soon as collection ends.

A bounded set of daemon worker threads runs the samples in the order the items will run, so the
first item's result is usually ready when pytest reaches it, and wall time approaches
requests x latency / concurrency. Each item then waits for its own futures, so items still run
and report one by one, in pytest's order. Stopping (``-x``, ``--maxfail``, Ctrl-C, the end of
the session) cancels what has not started; daemon threads never hold the interpreter open.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
_STOP = object()


class _Deferred(Future[T]):
    """A job run in the thread that asks for its result, when it first asks."""

    def __init__(self, job: Callable[[], T]) -> None:
        super().__init__()
        self._job = job

    def result(self, timeout: float | None = None) -> T:
        # Asked again once it ran (a sequential top-up reads its samples twice): the answer.
        if not self.done() and self.set_running_or_notify_cancel():
            try:
                self.set_result(self._job())
            except BaseException as exc:
                self.set_exception(exc)
        return super().result(timeout)


class Dispatcher(Generic[T]):
    """``concurrency`` worker threads; 0 runs each job when its result is first asked for.

    0 suits jobs with nothing to wait on (answers from recordings): worker threads would only
    contend for the GIL with pytest's own thread.
    """

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._queue: queue.SimpleQueue[tuple[Future[T], Callable[[], T]] | object] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        # Jobs given to the threads: submitted, started, finished, and cancelled before starting.
        self._submitted = self._started = self._finished = self._cancelled = 0

    def submit(self, job: Callable[[], T]) -> Future[T]:
        if self.concurrency == 0:
            deferred = _Deferred(job)
            if self._stopped.is_set():
                deferred.cancel()
            return deferred
        future: Future[T] = Future()
        with self._lock:
            if self._stopped.is_set():
                future.cancel()
                return future
            # Threads start with the first job: a run that dispatches nothing costs nothing.
            if len(self._threads) < self.concurrency:
                thread = threading.Thread(
                    target=self._work, name=f"incident-evals-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._submitted += 1
            future.add_done_callback(self._count_done)
            self._queue.put((future, job))
        return future

    def _count_done(self, future: Future[T]) -> None:
        with self._lock:
            if future.cancelled():
                self._cancelled += 1
            else:
                self._finished += 1

    def counts(self) -> tuple[int, int, int]:
        """Jobs ``(finished, running, queued)`` on the worker threads: for a progress line."""
        with self._lock:
            return (
                self._finished,
                self._started - self._finished,
                self._submitted - self._started - self._cancelled,
            )

    def _work(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is _STOP or self._stopped.is_set():
                if isinstance(entry, tuple):
                    entry[0].cancel()
                return
            assert isinstance(entry, tuple)
            future, job = entry
            if not future.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._started += 1
            try:
                result = job()
            except BaseException as exc:  # the item that waits on it reports it
                future.set_exception(exc)
            else:
                future.set_result(result)

    def stop(self) -> None:
        """Cancel every job that has not started; running ones finish on their own threads."""
        drained = []
        with self._lock:
            self._stopped.set()
            while True:
                try:
                    drained.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for _ in self._threads:
                self._queue.put(_STOP)
        # Outside the lock: cancelling runs the futures' callbacks, which count under it.
        for entry in drained:
            if isinstance(entry, tuple):
                entry[0].cancel()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()
