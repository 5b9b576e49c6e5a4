"""Hostile case files: what refusing each costs, beside validating a normal catalogue.

Each input is validated by its own ``incident-evals validate`` process (``python -m
incident_evals``), timed from spawn to exit, with its peak RSS from ``wait4``. Printed per input:
the bytes read from disk, the wall time, the peak RSS, the ratio peak RSS / bytes, the RSS above
that of validating one minimal case (the interpreter and imports), and the line ``validate``
printed. The normal catalogue is the example one (``incident_cases/``).

    python bench/hostile_yaml.py [--size-mb 50] [--rounds 3]

Run it with ``PYTHONPATH`` pointing at another checkout's ``src`` to measure that one.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _support import REPO, Run, run_process

MINIMAL = """\
id: INC-MIN
incident: {category: correctness, severity: minor}
input:
  messages: [{role: user, content: Can I get a refund?}]
expect: [{not_contains: 60 days}]
"""


def _minimal(folder: Path, size_mb: int) -> None:
    (folder / "case.yaml").write_text(MINIMAL)


def _normal_catalogue(folder: Path, size_mb: int) -> None:
    shutil.copytree(REPO / "incident_cases", folder, dirs_exist_ok=True)


def _write_repeated(path: Path, head: bytes, unit: bytes, count: int, tail: bytes) -> None:
    # In chunks: a child process starts with its parent's peak RSS as its own, so this
    # process must stay small for the children's peaks to be theirs.
    with path.open("wb") as stream:
        stream.write(head)
        chunk = 2**20 // len(unit)
        for start in range(0, count, chunk):
            stream.write(unit * min(chunk, count - start))
        stream.write(tail)


def _many_nodes_at_the_size_given(folder: Path, size_mb: int) -> None:
    # One flow list of one-letter items: half a node per byte.
    count = (size_mb * 2**20 - len("items: [a]")) // 2
    _write_repeated(folder / "many.yaml", b"items: [", b"a,", count, b"a]")


def _many_nodes_under_the_size_limit(folder: Path, size_mb: int) -> None:
    _write_repeated(folder / "many.yaml", b"items:\n", b"- a\n", 1_800_000, b"")


def _alias_bomb(folder: Path, size_mb: int) -> None:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, 10):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 10) + "]")
    (folder / "bomb.yaml").write_text("\n".join(lines) + "\n")


def _nested_lists(folder: Path, size_mb: int) -> None:
    (folder / "nested.yaml").write_text("nested: " + "[" * 600 + "]" * 600 + "\n")


def _sensitive_document(folder: Path, size_mb: int) -> None:
    (folder / "docs").mkdir()
    _write_repeated(folder / "docs/payroll.txt", b"", b"salary 1234 ", 4 * 2**20 // 12, b"")
    (folder / "leak.yaml").write_text(
        MINIMAL.replace(
            "expect: [{not_contains: 60 days}]\n",
            "  documents: [{id: payroll, content_file: docs/payroll.txt, sensitive: true}]\n"
            "expect: [{no_leak: {}}]\n",
        )
    )


INPUTS: dict[str, Callable[[Path, int], None]] = {
    "one minimal case (fixed cost)": _minimal,
    "normal catalogue (incident_cases/)": _normal_catalogue,
    "many nodes, {size_mb} MB": _many_nodes_at_the_size_given,
    "many nodes, 7 MB (under the size limit)": _many_nodes_under_the_size_limit,
    "alias bomb (billion laughs)": _alias_bomb,
    "600 nested lists": _nested_lists,
    "4 MB sensitive document": _sensitive_document,
}


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _validate(project: Path) -> Run:
    return run_process(
        project, sys.executable, "-m", "incident_evals", "validate", "incident_cases"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    runs: dict[str, list[Run]] = {}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for template, write in INPUTS.items():
            name = template.format(size_mb=args.size_mb)
            folder = Path(tmp, str(len(sizes)), "incident_cases")
            folder.mkdir(parents=True)
            write(folder, args.size_mb)
            sizes[name] = _size(folder)
            runs[name] = [_validate(folder.parent) for _ in range(args.rounds)]

    fixed = max(r.peak_rss_mib for r in runs["one minimal case (fixed cost)"])
    print(f"incident-evals validate, one process per run, median wall of {args.rounds} rounds")
    print(
        f"{'input':<42} {'bytes':>12} {'wall s':>7} {'peak RSS':>9} {'RSS/bytes':>10} "
        f"{'vs minimal':>11}"
    )
    for name, timed in runs.items():
        wall = statistics.median(r.wall_s for r in timed)
        peak = max(r.peak_rss_mib for r in timed)
        ratio = peak * 2**20 / sizes[name]
        print(
            f"{name:<42} {sizes[name]:>12,} {wall:>7.2f} {peak:>7.0f} MiB {ratio:>10.1f} "
            f"{peak - fixed:>7.0f} MiB"
        )
    print()
    for name, timed in runs.items():
        # The first line: the error, or the summary of a valid catalogue.
        first = (timed[0].output.strip().splitlines() or [""])[0]
        print(f"{name}: {first.removeprefix('incident_cases/')[:160]}")


if __name__ == "__main__":
    main()
