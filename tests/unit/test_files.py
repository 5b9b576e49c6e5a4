"""write_atomic: the whole file or the old one, with the mode ``open()`` would give it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from incident_evals.files import write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], indirect=True)
def test_the_mode_is_what_open_gives(tmp_path: Path, umask: int) -> None:
    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x", encoding="utf-8")

    write_atomic(tmp_path / "new.json", "{}")
    # Replacing a file gives the new one the same mode, not the old one's.
    replaced = tmp_path / "replaced.json"
    replaced.write_text("old", encoding="utf-8")
    replaced.chmod(0o600 if umask != 0o077 else 0o644)
    write_atomic(replaced, b"new")

    assert mode(tmp_path / "new.json") == mode(ordinary) == 0o666 & ~umask
    assert mode(replaced) == 0o666 & ~umask


def test_text_is_written_as_utf8_with_its_newlines_and_bytes_as_given(tmp_path: Path) -> None:
    write_atomic(tmp_path / "text", "Ünïcode\r\nline\n")
    write_atomic(tmp_path / "bytes", b"\x00\xff")

    assert (tmp_path / "text").read_bytes() == "Ünïcode\r\nline\n".encode()
    assert (tmp_path / "bytes").read_bytes() == b"\x00\xff"


def test_a_rename_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)

    with pytest.raises(IsADirectoryError):
        write_atomic(target, "text")

    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "results.json"
    target.write_text("old", encoding="utf-8")

    def interrupted(descriptor: int) -> None:
        # The data is in the temporary file; the interrupt comes before it reaches the disk.
        assert os.fstat(descriptor).st_size == len("new text")
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new text")

    assert [path.name for path in tmp_path.iterdir()] == ["results.json"]
    assert target.read_text(encoding="utf-8") == "old"


def test_a_missing_folder_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "file.json", "{}")

    assert list(tmp_path.iterdir()) == []
