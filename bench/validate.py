"""SPEC §10 validation: ``incident-evals validate`` over 1,000 case files in under 2 s.

Writes 1,000 case files of one case each (five kinds of incident: retrieved documents, tools with
recorded responses, three to five constraints of different kinds, variants declared) and times
``incident-evals validate`` over them as a separate process, from spawn to exit: interpreter
start-up included, since that is what a pre-commit hook makes its user wait for. Also timed, in
the same alternating rounds: ``--check-recorded`` over the same files, and ``validate`` of one
file of each kind (the fixed cost: interpreter, imports, registries). Medians of the rounds are
printed against the target, with the cost of a file once the fixed cost is paid.

    python bench/validate.py [--files 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _support import CASE_KINDS, Run, console_script, run_process, write_case_files

TARGET_S = 2.0
#: One file of each kind of case: the fixed cost, lazy imports and registries included.
KINDS = len(CASE_KINDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    script = console_script("incident-evals")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_case_files(workdir / "incident_cases", args.files)
        write_case_files(workdir / "few", KINDS)
        commands: dict[str, list[str | Path]] = {
            "few": [script, "validate", "few"],
            "validate": [script, "validate", "incident_cases"],
            "check-recorded": [script, "validate", "--check-recorded", "incident_cases"],
        }
        runs: dict[str, list[Run]] = {name: [] for name in commands}
        # Alternate the three, so that machine noise lands on all alike; keep the medians.
        for _ in range(args.rounds):
            for name, argv in commands.items():
                runs[name].append(run_process(workdir, *argv))

    summary = f"{args.files} case(s) in {args.files} file(s), 0 error(s)"
    expected = {
        "few": f"{KINDS} case(s) in {KINDS} file(s), 0 error(s)",
        "validate": summary,
        "check-recorded": f"{summary}, {args.files} checked on their recorded incident",
    }
    for name, timed in runs.items():
        assert all(r.exit_code == 0 and r.tail == expected[name] for r in timed), [
            (r.exit_code, r.tail) for r in timed
        ]
    wall = {name: statistics.median(r.wall_s for r in timed) for name, timed in runs.items()}
    spread = {
        name: f"{min(r.wall_s for r in timed):.2f}-{max(r.wall_s for r in timed):.2f} s"
        for name, timed in runs.items()
    }
    rss = {name: max(r.peak_rss_mib for r in timed) for name, timed in runs.items()}
    labels = {
        "few": f"validate, {KINDS} files",
        "validate": f"validate, {args.files} files",
        "check-recorded": f"validate --check-recorded, {args.files} files",
    }

    print(f"median of {args.rounds} alternating rounds, wall time from spawn to exit")
    for name, label in labels.items():
        print(f"{label:<40} {wall[name]:5.2f} s  ({spread[name]})  peak RSS {rss[name]:3.0f} MiB")
    print(f"  fixed cost (interpreter, imports, registries): {wall['few']:.2f} s")
    for name in ("validate", "check-recorded"):
        per_file_ms = (wall[name] - wall["few"]) / (args.files - KINDS) * 1000
        print(f"  {labels[name]}: {per_file_ms:.2f} ms a file on top of it")
    for name in ("validate", "check-recorded"):
        print(f"{labels[name]}: {wall[name]:.2f} s  (target < {TARGET_S:g} s)")


if __name__ == "__main__":
    main()
