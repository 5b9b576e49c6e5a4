"""A status line while pytest waits for the model: how many samples are answered, in flight
and queued, so a long run on a slow endpoint never looks frozen.

pytest's main thread blocks inside an item (in its setup) while its requests are answered;
meanwhile a thread of this module keeps one line *below* pytest's current line up to date, at
most ``UPDATES_PER_S`` times a second and only after ``DELAY_S`` of waiting, and clears it before
pytest writes again (the plugin calls :meth:`ProgressLine.stop_waiting` first in
``pytest_runtest_logreport``). pytest's own line is never rewritten, so its letters, colours and
``[ 40%]`` column stay as they are. pytest captures the output of an item's setup, so the line
is written to a copy of the terminal's file descriptor taken before the run (:func:`open_terminal`).

The line uses four VT100 controls every terminal pytest colours also understands: save and
restore the cursor (``ESC 7``/``ESC 8``), move down and up one line in the same column, scrolling
when needed (``ESC D``/``ESC M``), and clear the line (``CSI 2K``). It is off where a pytest
user expects no live output: ``-q``, output that is not a terminal or not coloured, ``-s``
(captured output off), live logging, and pytest-xdist.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

#: At most this many redraws a second.
UPDATES_PER_S = 4
#: Waits shorter than this show nothing (most items' answers are ready when pytest gets there).
DELAY_S = 0.5

_SAVE, _RESTORE = "\x1b7", "\x1b8"
_DOWN, _UP = "\x1bD", "\x1bM"
_CLEAR_LINE = "\r\x1b[2K"


def open_terminal(stream: TextIO) -> tuple[Callable[[str], None], Callable[[], None]]:
    """``(write, close)`` on a copy of ``stream``'s file descriptor, which pytest's output
    capture does not redirect. Call while capture is suspended (e.g. at session start)."""
    fd = os.dup(stream.fileno())
    encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, text.encode(encoding, "replace"))

    def close() -> None:
        with contextlib.suppress(OSError):
            os.close(fd)

    return write, close


def format_status(answered: int, in_flight: int, queued: int, waited_s: float, width: int) -> str:
    """The status text, shortened to fit ``width`` columns ("" when nothing fits).

    ``waited_s`` is how long pytest has waited for the current item: it keeps the line moving
    while one long request is in flight.
    """
    waited = f"waiting {waited_s:.0f} s"
    for text in (
        f"incident-evals: {answered} answered, {in_flight} in flight, {queued} queued ({waited})",
        f"{answered} answered, {in_flight} in flight, {queued} queued ({waited})",
        f"{answered} answered, {in_flight} in flight, {queued} queued",
    ):
        if len(text) < width:
            return text
    return ""


def progress_off_reason(config: Any, isatty: bool, hasmarkup: bool) -> str | None:
    """Why no status line is shown in this run (``None``: it is shown).

    ``config`` is the pytest config (typed loosely: only options are read).
    """
    if config.get_verbosity() < 0:
        return "-q"
    if not isatty:
        return "output is not a terminal"
    if not hasmarkup:
        return "the terminal has no colour (NO_COLOR, TERM=dumb)"
    if config.getoption("capture", "fd") == "no":
        return "-s: tests may write to the terminal"
    if config.getini("log_cli"):
        return "live logging writes to the terminal"
    if hasattr(config, "workerinput") or config.pluginmanager.hasplugin("dsession"):
        return "pytest-xdist"
    return None


class ProgressLine:
    """The status line under pytest's current line, kept by a daemon thread.

    ``write`` sends text to the terminal, unbuffered. ``counts`` returns ``(answered, in flight,
    queued)``; nothing is drawn while all are 0. ``start_waiting``/``stop_waiting`` bracket each
    wait of pytest's thread; ``stop_waiting`` returns only once the line is cleared, so pytest's
    next write is never interleaved. Every drawing saves and restores the cursor, so text pytest
    has buffered but not yet flushed still lands where it belongs.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        counts: Callable[[], tuple[int, int, int]],
        *,
        delay_s: float = DELAY_S,
        interval_s: float = 1 / UPDATES_PER_S,
        width: Callable[[], int] | None = None,
    ) -> None:
        self._write = write
        self._counts = counts
        self._delay_s = delay_s
        self._interval_s = interval_s
        self._width = width or (lambda: shutil.get_terminal_size().columns)
        self._condition = threading.Condition()
        self._waiting_since: float | None = None
        self._shown = ""
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def shown(self) -> str:
        """The text on screen now ("" when the line is clear)."""
        return self._shown

    def start_waiting(self) -> None:
        with self._condition:
            if self._closed:
                return
            self._waiting_since = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="incident-evals-progress", daemon=True
                )
                self._thread.start()
            self._condition.notify_all()

    def stop_waiting(self) -> None:
        with self._condition:
            self._waiting_since = None
            self._clear()
            self._condition.notify_all()

    def close(self) -> None:
        """Clear the line and end the thread; later calls do nothing."""
        with self._condition:
            self._closed = True
            self._waiting_since = None
            self._clear()
            self._condition.notify_all()

    def _run(self) -> None:
        with self._condition:
            while not self._closed:
                if self._waiting_since is None:
                    self._condition.wait()
                    continue
                self._condition.wait(self._interval_s)
                since = self._waiting_since
                waited = time.monotonic() - since if since is not None else 0.0
                if since is not None and not self._closed and waited >= self._delay_s:
                    self._draw(waited)

    def _draw(self, waited_s: float) -> None:
        answered, in_flight, queued = self._counts()
        if not (answered or in_flight or queued):
            return
        text = format_status(answered, in_flight, queued, waited_s, self._width())
        if text == self._shown:
            return
        if not self._shown:
            # Make room below first (scrolling if pytest's line is the last one), so the
            # saved cursor position stays right.
            self._write(_DOWN + _UP)
        self._write(_SAVE + _DOWN + _CLEAR_LINE + text + _RESTORE)
        self._shown = text

    def _clear(self) -> None:
        if self._shown:
            self._write(_SAVE + _DOWN + _CLEAR_LINE + _RESTORE)
            self._shown = ""
