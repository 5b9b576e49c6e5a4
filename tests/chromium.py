"""Headless Chromium for tests of the HTML report: screenshots and the DOM after scripts ran.

Debian's ``chromium`` (``apt-get install chromium``) at ``/usr/bin/chromium``, or whatever
``chromium``/``chromium-browser``/``google-chrome`` is on PATH. :func:`require` skips the test
when there is none, except under ``CI`` (set to anything but ``""``/``0``/``false``), where a
missing browser fails the test: CI must not pass by skipping what it is there to check.

:func:`png` decodes a PNG (8-bit RGB or RGBA, not interlaced: what Chromium writes) with the
stdlib only, so a test can look at the pixels of a screenshot.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
#: Flags that keep a run offline, quiet and independent of any profile.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TIMEOUT_S = 90


def executable() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require() -> str:
    """The browser's path; skip the test without one (fail under CI)."""
    found = executable()
    if found is None:
        message = (
            "chromium is not installed: the HTML report tests need a headless browser "
            "(Debian: apt-get install -y chromium)"
        )
        if in_ci():
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return found


def _run(browser: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}"
        )
    return result


def screenshot(page: Path, into: Path, width: int = 1280, height: int = 900) -> Path:
    """A ``width`` x ``height`` PNG of ``page`` (a local file), written under ``into``."""
    browser = require()
    shot = into / "shot.png"
    _run(
        browser,
        into / "profile",
        f"--window-size={width},{height}",
        f"--screenshot={shot}",
        "--virtual-time-budget=2000",
        page.resolve().as_uri(),
    )
    return shot


def dump_dom(page: Path, into: Path, fragment: str = "") -> str:
    """The serialised DOM of ``page`` opened at ``#fragment``, after its scripts ran."""
    browser = require()
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    result = _run(browser, into / "profile", "--virtual-time-budget=2000", "--dump-dom", url)
    return result.stdout


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    #: Rows of pixels, each pixel an (r, g, b) tuple (alpha dropped).
    rows: list[list[tuple[int, int, int]]]

    def colours(self) -> set[tuple[int, int, int]]:
        return {pixel for row in self.rows for pixel in row}


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png(path: Path) -> Image:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    position, idat = 8, b""
    width = height = 0
    channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError(f"{path}: depth {depth}, colour type {colour}: not decoded here")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    rows: list[list[tuple[int, int, int]]] = []
    for y in range(height):
        start = y * (stride + 1)
        filter_type = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if filter_type == 1:
                line[x] = (line[x] + left) & 0xFF
            elif filter_type == 2:
                line[x] = (line[x] + up) & 0xFF
            elif filter_type == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                line[x] = (line[x] + _paeth(left, up, corner)) & 0xFF
        rows.append([(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels)])
        previous = line
    return Image(width, height, rows)
