"""The README's main job on the embedded model: one slot against the machine's slots, side by side.

Runs ``pytest --incident-evals`` on the example catalogue (``incident_cases/``, no endpoint
configured, so the embedded llama.cpp model answers) with ``-o incident_local_slots=1`` and with
the slots this machine gets (or ``--slots N``), alternating, ``--rounds`` times each. With
``--before SRC``, a third arm runs the same job on another checkout's ``src``, in that checkout
with its own catalogue (say, the commit before the slots: ``git worktree add /tmp/before
<commit>``, then ``--before /tmp/before/src``; ``--no-one-slot`` leaves the 1-slot arm out).
Prints each run's wall time with the load average before it, the outcomes, how many items
errored and how many of those timed out, and the ratios of the medians. Needs the ``[local]``
extra.

    python bench/local_model.py [--rounds 2] [--slots N] [--before SRC [--no-one-slot]]
        [-- extra pytest args]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from _support import REPO, python_path, run_pytest

from incident_evals.local_model import machine_slots


@dataclass
class Outcome:
    arm: str
    wall_s: float
    load: str
    counts: dict[str, int]
    timeouts: int


def counts_of(tail: str) -> dict[str, int]:
    """``{"failed": 28, "passed": 16}`` from pytest's last line."""
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?)\b", tail)}


def one_run(arm: str, args: list[str], src: str | None = None) -> Outcome:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    # Another checkout answers its own catalogue: its code may not read this one's fields.
    cwd = REPO if src is None else Path(src).resolve().parent
    with python_path(src):
        run = run_pytest(cwd, "--incident-evals", *args)
    assert run.exit_code in (0, 1), run.output[-3000:]
    # An item whose request exhausted its retries on timeouts says so in its error line.
    timeouts = len(re.findall(r"endpoint error: .*timed out", run.output))
    return Outcome(arm, run.wall_s, load, counts_of(run.tail), timeouts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, interleaved")
    parser.add_argument("--slots", type=int, default=None, help="default: the machine's")
    parser.add_argument("--before", metavar="SRC", help="also run another checkout's src/")
    parser.add_argument(
        "--no-one-slot", action="store_true", help="leave out the 1-slot arm (with --before)"
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    args = parser.parse_args()
    slots = args.slots or machine_slots()
    if slots == 1:
        parser.error("this machine gets 1 slot: pass --slots N to compare with N")

    many = f"{slots} slots"
    arms: list[tuple[str, list[str], str | None]] = [
        ("1 slot", ["-o", "incident_local_slots=1", *args.pytest_args], None),
        (many, ["-o", f"incident_local_slots={slots}", *args.pytest_args], None),
    ]
    if args.before:
        arms.insert(0, ("before", list(args.pytest_args), args.before))
        if args.no_one_slot:
            arms = [arm for arm in arms if arm[0] != "1 slot"]
    outcomes: list[Outcome] = []
    print(f"main job: pytest --incident-evals on {REPO / 'incident_cases'}")
    print(f"{'arm':>8} {'wall s':>8}  {'load before':<16} outcomes")
    for _ in range(args.rounds):
        for arm, arm_args, src in arms:
            outcome = one_run(arm, arm_args, src)
            outcomes.append(outcome)
            print(
                f"{outcome.arm:>8} {outcome.wall_s:8.1f}  {outcome.load:<16} "
                f"{outcome.counts}, timeouts {outcome.timeouts}",
                flush=True,
            )
    medians = {
        arm: statistics.median(o.wall_s for o in outcomes if o.arm == arm) for arm, _, _ in arms
    }
    for arm, median in medians.items():
        print(f"median, {arm:>8}: {median:8.1f} s")
    if "1 slot" in medians:
        print(f"ratio {many} / 1 slot: {medians[many] / medians['1 slot']:.2f}")
    if args.before:
        print(f"ratio {many} / before: {medians[many] / medians['before']:.2f}")
    errors = sum(o.counts.get("errors", 0) + o.counts.get("error", 0) for o in outcomes)
    print(f"errors in all runs: {errors}, of which timeouts: {sum(o.timeouts for o in outcomes)}")


if __name__ == "__main__":
    main()
