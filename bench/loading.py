"""Loading and collecting cases: CPU time per case, and collection against trivial tests.

Writes the catalogue bench/overhead.py replays (cases of one shape, 100 to a file) and as many
trivial parametrised tests, then prints, as medians of alternating rounds:

- ``load_file`` over the catalogue, in this process: CPU ms per case, after a first pass that
  pays what a run pays once (the compiled schema check, lazy imports), whose total is shown
  apart; the same for realistic cases (bench/validate.py's five kinds: documents, tools,
  variants, one a file);
- ``pytest --collect-only -q --incident-evals`` over the catalogue against ``pytest
  --collect-only -q`` over the trivial tests: CPU time of each process (start-up included),
  their ratio, and the difference per item: what collecting an incident item costs more than
  collecting a test.

Both pytest sides share one bytecode cache, filled by an untimed run of each (as in
bench/overhead.py). Run it from the tree under test (``PYTHONPATH=src:bench``): comparing two
trees means running it in each, alternately.

    python bench/loading.py [--items 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _support import Run, run_pytest, write_case_files, write_catalogue
from overhead import TRIVIAL, bytecode_cache, load

from incident_evals.case import case_files, load_file
from incident_evals.constraints import builtin_registry


def loader(folder: Path) -> Callable[[], int]:
    """A pass of ``load_file`` over every case file of ``folder``; it returns the cases read."""
    registry = builtin_registry()
    files = case_files(folder)

    def load_all() -> int:
        loaded = 0
        for path in files:
            results = load_file(path, folder, registry)
            assert not any(isinstance(r, Exception) for r in results), results
            loaded += len(results)
        return loaded

    return load_all


def cpu_ms(work: Callable[[], int]) -> tuple[float, int]:
    """CPU milliseconds ``work`` took, and what it returned."""
    started = time.process_time()
    done = work()
    return (time.process_time() - started) * 1000, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--realistic", type=int, default=500, help="realistic case files")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bytecode_cache(Path(tmp, "pycache"))
        evals_dir, plain_dir = Path(tmp, "evals"), Path(tmp, "plain")
        write_catalogue(evals_dir / "incident_cases", args.items)
        write_case_files(Path(tmp, "realistic"), args.realistic)
        plain_dir.mkdir()
        (plain_dir / "test_trivial.py").write_text(TRIVIAL.format(count=args.items))
        print(f"before: {load()}")

        passes = {
            "catalogue": loader(evals_dir / "incident_cases"),
            "realistic": loader(Path(tmp, "realistic")),
        }
        first = {name: cpu_ms(work) for name, work in passes.items()}
        timed: dict[str, list[float]] = {name: [] for name in passes}
        for _ in range(args.rounds):
            for name, work in passes.items():
                timed[name].append(cpu_ms(work)[0])

        collect = ("--collect-only",)
        run_pytest(evals_dir, *collect, "--incident-evals")  # untimed: fills the bytecode cache
        run_pytest(plain_dir, *collect)
        evals: list[Run] = []
        plain: list[Run] = []
        for _ in range(args.rounds):
            evals.append(run_pytest(evals_dir, *collect, "--incident-evals"))
            plain.append(run_pytest(plain_dir, *collect))
        assert all(r.exit_code == 0 for r in evals + plain), [r.tail for r in evals + plain]
        print(f"after:  {load()}")

    print(f"load_file, CPU (median of {args.rounds} rounds)   per case   first pass (all cases)")
    for name, times in timed.items():
        first_ms, cases = first[name]
        per_case = statistics.median(times) / cases
        print(f"  {name:<10} {cases:>6} cases            {per_case:6.3f} ms   {first_ms:7.0f} ms")
    evals_cpu = statistics.median(r.cpu_s for r in evals)
    plain_cpu = statistics.median(r.cpu_s for r in plain)
    print(f"pytest --collect-only, CPU (median of {args.rounds} alternating rounds)")
    print(f"  {args.items} incident items          {evals_cpu:6.2f} s  ({evals[-1].tail})")
    print(f"  {args.items} trivial tests           {plain_cpu:6.2f} s  ({plain[-1].tail})")
    extra_ms = (evals_cpu - plain_cpu) * 1000 / args.items
    print(f"  ratio {evals_cpu / plain_cpu:.2f}, {extra_ms:.3f} ms more per item")


if __name__ == "__main__":
    main()
