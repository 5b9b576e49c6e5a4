"""Items -> requests, concurrently: every selected sample is queued as soon as it is known.

One asyncio event loop, on a daemon thread (:class:`EventLoop`), carries every request of the
process: the endpoint's clients speak the SDK's ``AsyncOpenAI`` on it, so a request in flight
costs a coroutine, not a thread, and the cost of a request does not grow with concurrency. The
:class:`Dispatcher` runs samples on that loop, at most ``concurrency`` at a time (one
``asyncio.Semaphore``, whose waiters are served in the order they came), in the order the items
will run: the first item's result is usually ready when pytest reaches it, and wall time
approaches requests x latency / concurrency. Each item then waits for its own futures, so items
still run and report one by one, in pytest's order.

A sample is a coroutine when everything it talks to is (:meth:`Dispatcher.submit_async`); a
sample that must block (an application target, the embedded model's client) runs on one of
``concurrency`` threads, within the same bound (:meth:`Dispatcher.submit`), and its requests
still go through the loop. Stopping (``-x``, ``--maxfail``, Ctrl-C, the end of the session)
cancels what has not started; the loop's thread is a daemon and never holds the interpreter open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")
R = TypeVar("R")


class EventLoop:
    """An asyncio event loop running forever on its own daemon thread."""

    def __init__(self, name: str = "incident-evals-loop") -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def run(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """``coroutine`` scheduled on the loop, from any thread; its result on a future."""
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, callback: Callable[..., object], *args: object) -> None:
        """``callback(*args)`` on the loop's thread, soon; from any thread."""
        self.loop.call_soon_threadsafe(callback, *args)

    def wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Block this thread (never the loop's: that would wait for itself) until ``coroutine``
        has run on the loop; an interrupt while waiting cancels it."""
        if self.in_loop_thread():
            coroutine.close()
            raise RuntimeError("a blocking call was made on the event loop's own thread")
        future = self.run(coroutine)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


_shared: EventLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> EventLoop:
    """The process's one event loop, started when first asked for."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EventLoop()
        return _shared


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
    """At most ``concurrency`` jobs at once on the event loop; 0 runs each job when its result
    is first asked for.

    0 suits jobs with nothing to wait on (answers from recordings): the loop's thread would only
    contend for the GIL with pytest's own thread.
    """

    def __init__(self, concurrency: int, loop: EventLoop | None = None) -> None:
        self.concurrency = concurrency
        self._loop = loop
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        #: Jobs submitted and not started: cancelled by :meth:`stop`.
        self._waiting: set[Future[T]] = set()
        #: The loop's tasks of this dispatcher's jobs, cancelled by :meth:`close`.
        self._tasks: set[asyncio.Task[None]] = set()
        #: Jobs submitted whose tasks the loop has not made yet, in order (see _enqueue).
        self._arrived: list[
            tuple[Future[T], Callable[[], T] | None, Callable[[], Awaitable[T]] | None]
        ] = []
        #: Open :meth:`batch` blocks, and whether a call of :meth:`_start` is on its way.
        self._holding = 0
        self._start_scheduled = False
        self._gate: asyncio.Semaphore | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Jobs submitted, started, finished, and cancelled before starting.
        self._submitted = self._started = self._finished = self._cancelled = 0

    @property
    def loop(self) -> EventLoop:
        """The loop the jobs run on (the process's, unless one was given)."""
        if self._loop is None:
            self._loop = shared_loop()
        return self._loop

    def submit(self, job: Callable[[], T]) -> Future[T]:
        """A job that blocks: run on one of ``concurrency`` threads, within the bound."""
        if self.concurrency == 0:
            deferred = _Deferred(job)
            if self._stopped.is_set():
                deferred.cancel()
            return deferred
        return self._enqueue(job, None)

    def submit_async(self, job: Callable[[], Awaitable[T]]) -> Future[T]:
        """A coroutine function, run on the loop within the bound."""
        if self.concurrency == 0:
            loop = self.loop
            return self.submit(lambda: loop.wait(_awaited(job)))
        return self._enqueue(None, job)

    def _enqueue(
        self, blocking: Callable[[], T] | None, job: Callable[[], Awaitable[T]] | None
    ) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._stopped.is_set():
                future.cancel()
                return future
            self._submitted += 1
            self._waiting.add(future)
            self._arrived.append((future, blocking, job))
            wake = self._wake()
        future.add_done_callback(self._count_done)
        if wake:
            self.loop.call(self._start)
        return future

    def _wake(self) -> bool:
        """Under the lock: whether to wake the loop for the jobs that arrived (once per batch)."""
        if self._holding or self._start_scheduled or not self._arrived:
            return False
        self._start_scheduled = True
        return True

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Jobs submitted within start together, with one wake-up of the loop as it ends.

        Each wake-up writes to the loop's self-pipe, a system call that lets the loop's thread
        take the interpreter from pytest's for up to a switch interval; a case file's items are
        submitted together as it is collected.
        """
        with self._lock:
            self._holding += 1
        try:
            yield
        finally:
            with self._lock:
                self._holding -= 1
                wake = self._wake()
            if wake:
                self.loop.call(self._start)

    def _start(self) -> None:
        """On the loop: a task for each job that arrived, in order; each waits for a place."""
        with self._lock:
            arrived, self._arrived = self._arrived, []
            self._start_scheduled = False
        for future, blocking, job in arrived:
            task = self.loop.loop.create_task(self._run(future, blocking, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        future: Future[T],
        blocking: Callable[[], T] | None,
        job: Callable[[], Awaitable[T]] | None,
    ) -> None:
        import asyncio

        if self._gate is None:
            # Made on the loop, where it is used.
            self._gate = asyncio.Semaphore(self.concurrency)
        async with self._gate:
            with self._lock:
                self._waiting.discard(future)
            if not future.set_running_or_notify_cancel():
                return
            with self._lock:
                self._started += 1
            try:
                if blocking is not None:
                    result = await self.loop.loop.run_in_executor(self._threads(), blocking)
                else:
                    assert job is not None
                    result = await job()
            except asyncio.CancelledError:
                # Closed while it ran: nobody waits for it, and it never counts as an answer.
                future.set_exception(CancelledError())
                raise
            except BaseException as exc:  # the item that waits on it reports it
                future.set_exception(exc)
            else:
                future.set_result(result)

    async def blocking(self, function: Callable[..., R], *args: Any) -> R:
        """``function(*args)`` from a job on the loop, run on one of the dispatcher's threads."""
        import functools

        return await self.loop.loop.run_in_executor(
            self._threads(), functools.partial(function, *args)
        )

    def _threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.concurrency, "incident-evals")
        return self._executor

    def _count_done(self, future: Future[T]) -> None:
        with self._lock:
            if future.cancelled():
                self._cancelled += 1
            else:
                self._finished += 1

    def counts(self) -> tuple[int, int, int]:
        """Jobs ``(finished, running, queued)``: for a progress line."""
        with self._lock:
            return (
                self._finished,
                self._started - self._finished,
                self._submitted - self._started - self._cancelled,
            )

    def stop(self) -> None:
        """Cancel every job that has not started; running ones finish (until :meth:`close`)."""
        with self._lock:
            self._stopped.set()
            waiting, self._waiting = self._waiting, set()
        # Outside the lock: cancelling runs the futures' callbacks, which count under it.
        for future in waiting:
            future.cancel()

    def close(self) -> None:
        """Stop, and end the jobs still running: nobody waits for them any more."""
        self.stop()
        if self._loop is not None and self._tasks:
            tasks = self._tasks
            self._loop.call(lambda: [task.cancel() for task in list(tasks)])
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()


async def _awaited(job: Callable[[], Awaitable[T]]) -> T:
    return await job()
