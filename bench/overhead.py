"""Overhead: items answered from recordings against trivial parametrised tests.

Records 2,000 cases once, then times, side by side in this one run, ``pytest --incident-evals
--incident-replay`` over them and ``pytest`` over 2,000 trivial parametrised tests, alternating
the two, and prints the medians of wall time (spawn to exit) and CPU time (user + system of the
pytest process) with their ratios (target: at most 1.4). Then replays 10,000 items and prints the
pytest process's peak RSS (target: under 200 MB).

Both sides run with the same bytecode cache, filled by one untimed run of each first: a folder of
this run's own (``PYTHONPYCACHEPREFIX``), whatever ``PYTHONDONTWRITEBYTECODE`` says, so that
neither side pays for compiling modules (or pytest for rewriting the plugin's asserts) every run.
With ``--no-bytecode-cache``, both sides run as on machines with ``PYTHONDONTWRITEBYTECODE=1``
(CI images, containers): modules load from the bytecode their install wrote, if any, and every
module pytest rewrites (a test file; a plugin's package it marks) is rewritten on every run.

With ``--phases``, every timed process also loads ``bench/phase_clock.py``, and the medians of
its CPU time per phase (start-up, collection, items, finish, and garbage collection while items
ran) are printed for both sides: where the difference lies.

With ``--before SRC``, a third arm replays the same recordings with another checkout's ``src``
first on the path (``git worktree add /tmp/before <commit>``, then ``--before /tmp/before/src``),
in the same rounds, and the ratio of this checkout to it is printed.

    python bench/overhead.py [--items 2000] [--rss-items 10000] [--rounds 5] [--phases]
                             [--before SRC] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from _support import ChatServer, Run, echo_30_days, python_path, run_pytest, write_catalogue

TRIVIAL = """
import pytest

@pytest.mark.parametrize("n", range({count}))
def test_trivial(n):
    assert n >= 0
"""
TARGET_RATIO = 1.4
TARGET_RSS_MB = 200


def record(workdir: Path, count: int) -> list[str]:
    write_catalogue(workdir / "incident_cases", count)
    with ChatServer() as server:
        echo_30_days(server)
        run = run_pytest(
            workdir,
            "--incident-evals",
            f"--incident-base-url={server.base_url}",
            "--incident-model=bench",
            "--incident-concurrency=32",
            "--incident-record=recordings",
        )
    assert run.exit_code == 0, run.tail
    return ["--incident-evals", "--incident-replay=recordings"]


def bytecode_cache(folder: Path) -> None:
    """Every pytest process of this run (they inherit the environment) caches bytecode there."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)


def no_bytecode_cache() -> None:
    """Every pytest process of this run writes no bytecode, as on most CI machines."""
    os.environ.pop("PYTHONPYCACHEPREFIX", None)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def phase_clock(tmp: Path) -> Path:
    """Where the timed processes write their phases (``bench/phase_clock.py``, found through
    ``PYTHONPATH``, which they inherit)."""
    bench = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [bench, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
    folder = tmp / "phases"
    folder.mkdir()
    return folder


def print_phases(evals: Path, plain: Path, items: int) -> None:
    """The median CPU seconds of each phase on both sides, and the difference per item."""

    def medians(path: Path) -> dict[str, float]:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return {name: statistics.median(row[name] for row in rows) for name in rows[0]}

    mine, theirs = medians(evals), medians(plain)
    print(f"{'median CPU by phase':<32} {'items':>8} {'trivial':>9}  {'more per item':>13}")
    for name, seconds in mine.items():
        extra = (seconds - theirs[name]) / items * 1e6
        print(f"  {name:<30} {seconds:6.2f} s {theirs[name]:7.2f} s  {extra:10.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rss-items", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--phases", action="store_true", help="also print the CPU time of each pytest phase"
    )
    parser.add_argument("--before", metavar="SRC", help="also replay with another checkout's src/")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run every side with PYTHONDONTWRITEBYTECODE=1, as CI machines do",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.no_bytecode_cache:
            no_bytecode_cache()
        else:
            bytecode_cache(Path(tmp, "pycache"))
        evals_dir, plain_dir = Path(tmp, "evals"), Path(tmp, "plain")
        plain_dir.mkdir()
        (plain_dir / "test_trivial.py").write_text(TRIVIAL.format(count=args.items))
        replay = record(evals_dir, args.items)
        print(f"before: {load()}")
        if args.no_bytecode_cache:
            print("bytecode: none written (PYTHONDONTWRITEBYTECODE=1), as on CI machines")
        # Untimed: fills the bytecode cache for every side.
        run_pytest(evals_dir, *replay)
        run_pytest(plain_dir)
        with python_path(args.before):
            run_pytest(evals_dir, *replay)
        clock = phase_clock(Path(tmp)) if args.phases else None
        timed = ("-p", "phase_clock") if clock else ()
        # Alternate the two, so that machine noise lands on both alike; keep the medians.
        evals: list[Run] = []
        plain: list[Run] = []
        before: list[Run] = []
        for _ in range(args.rounds):
            for runs, folder, extra in ((evals, evals_dir, replay), (plain, plain_dir, [])):
                if clock:
                    os.environ["BENCH_PHASES_FILE"] = str(clock / folder.name)
                runs.append(run_pytest(folder, *extra, *timed))
            if args.before:
                os.environ.pop("BENCH_PHASES_FILE", None)
                with python_path(args.before):
                    before.append(run_pytest(evals_dir, *replay))
        os.environ.pop("BENCH_PHASES_FILE", None)
        every = evals + plain + before
        assert all(r.exit_code == 0 for r in every), [r.tail for r in every]
        print(f"after:  {load()}")

        def median(runs: list[Run], field: str) -> float:
            return statistics.median(float(getattr(r, field)) for r in runs)

        print(f"median of {args.rounds} alternating rounds     wall      CPU   peak RSS")
        for label, runs in (
            (f"{args.items} items from recordings", evals),
            (f"{args.items} trivial tests", plain),
        ):
            print(
                f"{label:<32} {median(runs, 'wall_s'):6.2f} s {median(runs, 'cpu_s'):6.2f} s "
                f"{median(runs, 'peak_rss_mib'):6.0f} MiB  ({runs[-1].tail})"
            )
        wall = median(evals, "wall_s") / median(plain, "wall_s")
        cpu = median(evals, "cpu_s") / median(plain, "cpu_s")
        print(f"{'ratio':<32} {wall:6.2f}   {cpu:6.2f}     (target <= {TARGET_RATIO})")
        if before:
            print(
                f"{'before (' + args.before + ')':<32} {median(before, 'wall_s'):6.2f} s "
                f"{median(before, 'cpu_s'):6.2f} s "
                f"{median(before, 'peak_rss_mib'):6.0f} MiB  ({before[-1].tail})"
            )
            print(
                f"{'this checkout / before':<32} "
                f"{median(evals, 'wall_s') / median(before, 'wall_s'):6.2f}   "
                f"{median(evals, 'cpu_s') / median(before, 'cpu_s'):6.2f}"
            )
        if clock:
            print_phases(clock / evals_dir.name, clock / plain_dir.name, args.items)

        big_dir = Path(tmp, "big")
        big_replay = record(big_dir, args.rss_items)
        run_pytest(big_dir, *big_replay)  # untimed, as above
        big = run_pytest(big_dir, *big_replay)
        assert big.exit_code == 0, big.tail
        megabytes = big.peak_rss_mib * 2**20 / 10**6
        print(
            f"{args.rss_items} items from recordings: peak RSS {big.peak_rss_mib:.0f} MiB "
            f"({megabytes:.0f} MB; target < {TARGET_RSS_MB} MB), wall {big.wall_s:.1f} s, "
            f"CPU {big.cpu_s:.1f} s ({big.tail})"
        )


if __name__ == "__main__":
    main()
