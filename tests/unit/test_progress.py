"""The status line's text, when it is off, and how its thread draws and clears it."""

from __future__ import annotations

import threading
import time

import pytest

from incident_evals.progress import (
    UPDATES_PER_S,
    ProgressLine,
    format_status,
    progress_off_reason,
)

FULL = "incident-evals: 3 answered, 1 in flight, 17 queued (waiting 12 s)"


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (200, FULL),
        (len(FULL) + 1, FULL),
        (len(FULL), "3 answered, 1 in flight, 17 queued (waiting 12 s)"),
        (40, "3 answered, 1 in flight, 17 queued"),
        (20, ""),
    ],
)
def test_the_text_fits_the_terminal(width: int, expected: str) -> None:
    assert format_status(3, 1, 17, 12.4, width) == expected


@pytest.mark.parametrize(
    ("args", "isatty", "hasmarkup", "reason"),
    [
        ((), True, True, None),
        (("-v",), True, True, None),
        (("-q",), True, True, "-q"),
        (("-qq",), True, True, "-q"),
        ((), False, True, "output is not a terminal"),
        ((), True, False, "the terminal has no colour (NO_COLOR, TERM=dumb)"),
        (("-s",), True, True, "-s: tests may write to the terminal"),
        (("-o", "log_cli=true"), True, True, "live logging writes to the terminal"),
    ],
)
def test_when_it_is_off(
    pytester: pytest.Pytester,
    args: tuple[str, ...],
    isatty: bool,
    hasmarkup: bool,
    reason: str | None,
) -> None:
    config = pytester.parseconfig(*args)
    assert progress_off_reason(config, isatty, hasmarkup) == reason


def test_it_is_off_in_an_xdist_worker(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    config.workerinput = {"workerid": "gw0"}  # type: ignore[attr-defined]
    assert progress_off_reason(config, True, True) == "pytest-xdist"


class Screen:
    """Collects what the line writes; ``drawn`` is set at each drawing."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.drawn = threading.Event()

    def write(self, text: str) -> None:
        self.writes.append(text)
        if "queued" in text:
            self.drawn.set()


def test_it_draws_below_and_clears_before_pytest_writes() -> None:
    screen = Screen()
    line = ProgressLine(screen.write, lambda: (1, 1, 2), delay_s=0, width=lambda: 200)
    line.start_waiting()
    assert screen.drawn.wait(10)
    assert line.shown.startswith("incident-evals: 1 answered, 1 in flight, 2 queued (waiting")
    # Room made below (scrolling if needed), then the text there with the cursor kept.
    assert screen.writes[0] == "\x1bD\x1bM"
    assert screen.writes[1] == f"\x1b7\x1bD\r\x1b[2K{line.shown}\x1b8"

    line.stop_waiting()

    assert line.shown == ""
    assert screen.writes[-1] == "\x1b7\x1bD\r\x1b[2K\x1b8"
    after = len(screen.writes)
    time.sleep(0.3)  # a thread still drawing would write again
    assert len(screen.writes) == after
    line.close()


def test_short_waits_and_empty_queues_draw_nothing() -> None:
    screen = Screen()
    waiting = ProgressLine(screen.write, lambda: (0, 1, 0), delay_s=60)
    idle = ProgressLine(screen.write, lambda: (0, 0, 0), delay_s=0)
    for line in (waiting, idle):
        line.start_waiting()
    time.sleep(0.5)
    for line in (waiting, idle):
        line.stop_waiting()
        line.close()
    assert screen.writes == []


def test_it_redraws_at_most_a_few_times_a_second() -> None:
    screen = Screen()
    ticks = iter(range(10**6))
    # A count that changes at every look: every tick would redraw.
    line = ProgressLine(screen.write, lambda: (next(ticks), 1, 0), delay_s=0, width=lambda: 200)
    started = time.monotonic()
    line.start_waiting()
    time.sleep(1.0)
    line.stop_waiting()
    elapsed = time.monotonic() - started
    drawings = sum("queued" in text for text in screen.writes)
    assert 1 <= drawings <= UPDATES_PER_S * elapsed + 1
    line.close()


def test_after_close_nothing_is_drawn() -> None:
    screen = Screen()
    line = ProgressLine(screen.write, lambda: (0, 1, 1), delay_s=0)
    line.close()
    line.start_waiting()
    time.sleep(0.3)
    assert screen.writes == []
