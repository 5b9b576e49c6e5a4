"""Files the plugin writes (results, recordings, response caches): whole or not at all."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["TEMPORARY_PREFIX", "write_atomic"]

#: Names of files being written; not ``.json``, so that no reader globbing for those sees one.
TEMPORARY_PREFIX = ".tmp-"


def write_atomic(path: Path, content: str | bytes) -> None:
    """``content`` (text as UTF-8, newlines as given) into ``path``, made whole in one rename.

    It is written into a new file in the same folder, flushed to disk and renamed over ``path``:
    a reader sees the old file or the new one, never part of either; writers of the same path
    (threads, xdist workers) race only to be the last; and a failure leaves ``path`` as it was
    and no temporary file behind. The folder must exist.

    The file gets the mode an ordinary ``open(path, "w")`` would give it, ``0o666`` less the
    umask (``0o644`` under the usual ``022``), not the private ``0o600`` of
    ``tempfile.mkstemp``: results and recordings are meant to be read by others.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    temporary, handle = _create_beside(path)
    try:
        with open(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            # Without it, a crash soon after the rename can leave an empty file in its place.
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _create_beside(path: Path) -> tuple[Path, int]:
    """A new, empty file in ``path``'s folder, and its descriptor.

    Created by the kernel with ``0o666``, so that the umask alone decides the mode (as for
    ``open()``); changing the umask to read it would race with other threads' files.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.with_name(f"{TEMPORARY_PREFIX}{os.urandom(8).hex()}")
        try:
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
