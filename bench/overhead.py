"""SPEC §10 overhead: items answered from recordings against trivial parametrised tests.

Records 2,000 cases once, then times, side by side in this one run, ``pytest --incident-evals
--incident-replay`` over them and ``pytest`` over 2,000 trivial parametrised tests, and prints
the ratio (target: at most 2). Then replays 10,000 items and prints the pytest process's peak
RSS (target: under 300 MB).

    python bench/overhead.py [--items 2000] [--rss-items 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _support import ChatServer, Run, echo_30_days, run_pytest, write_catalogue

TRIVIAL = """
import pytest

@pytest.mark.parametrize("n", range({count}))
def test_trivial(n):
    assert n >= 0
"""


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rss-items", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        evals_dir, plain_dir = Path(tmp, "evals"), Path(tmp, "plain")
        plain_dir.mkdir()
        (plain_dir / "test_trivial.py").write_text(TRIVIAL.format(count=args.items))
        replay = record(evals_dir, args.items)
        # Alternate the two, so that machine noise lands on both alike; keep the medians.
        evals: list[Run] = []
        plain: list[Run] = []
        for _ in range(args.rounds):
            evals.append(run_pytest(evals_dir, *replay))
            plain.append(run_pytest(plain_dir))
        assert all(r.exit_code == 0 for r in evals + plain), [r.tail for r in evals + plain]
        evals_s = statistics.median(r.wall_s for r in evals)
        plain_s = statistics.median(r.wall_s for r in plain)
        print(f"{args.items} items from recordings  {evals_s:6.2f} s  ({evals[-1].tail})")
        print(f"{args.items} trivial tests          {plain_s:6.2f} s  ({plain[-1].tail})")
        print(
            f"overhead ratio = {evals_s / plain_s:.2f}  (target <= 2; median of "
            f"{args.rounds} alternating rounds)"
        )

        big_dir = Path(tmp, "big")
        big_replay = record(big_dir, args.rss_items)
        big = run_pytest(big_dir, *big_replay)
        assert big.exit_code == 0, big.tail
        print(
            f"{args.rss_items} items from recordings: peak RSS {big.peak_rss_mib:.0f} MiB "
            f"(target < 300 MB), {big.wall_s:.1f} s ({big.tail})"
        )


if __name__ == "__main__":
    main()
