"""Case files for tests, written as a user would write them (YAML text on disk)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def case_data(
    case_id: str = "INC-1",
    *,
    category: str = "correctness",
    severity: str = "major",
    expect: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": case_id,
        "title": f"test case {case_id}",
        "incident": {"category": category, "severity": severity},
        "input": {"messages": [{"role": "user", "content": f"question for {case_id}"}]},
        "expect": expect if expect is not None else [{"not_contains": "60 days"}],
    }
    for key, value in fields.items():
        if key == "input":
            data["input"] = {**data["input"], **value}
        else:
            data[key] = value
    return data


def write_case(directory: Path, relative: str, *documents: dict[str, Any]) -> Path:
    """Write one file holding ``documents`` (one YAML document each) and return its path."""
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "---\n".join(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True) for doc in documents),
        encoding="utf-8",
    )
    return path


def set_modified(path: Path, seconds: int) -> Path:
    """Give ``path`` a fixed modification time (``seconds`` after 2025-01-01 UTC).

    Which of two files repeating a case id is the duplicate depends on which was modified
    later; files written one after the other may share a timestamp, so tests set it.
    """
    moment = (1_735_689_600 + seconds) * 1_000_000_000
    os.utime(path, ns=(moment, moment))
    return path
