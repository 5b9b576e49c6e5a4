"""The request engine against the physical limit and against a hand-written AsyncOpenAI client.

For each scenario (items, latency, concurrency), one round runs, in turn against the same
scripted endpoint: ``pytest --incident-evals`` over a catalogue of ``items`` one-request cases,
and ``reference_asyncopenai.py`` (the SDK's ``AsyncOpenAI`` and one semaphore). Rounds alternate
the two so that a noisy machine slows both alike; medians are printed with their ratios to the
physical limit (items x latency / concurrency) and to each other. Both times include the
process's start-up; the "request window" is the endpoint's first-to-last request span, and the
processes' CPU time (user + system) is printed too: it varies far less with the machine's load.

With ``--before SRC``, a third arm runs the same pytest command on another checkout's ``src``
(``git worktree add /tmp/before <commit>``, then ``--before /tmp/before/src``), in the same
rounds, and its ratio to this checkout is printed.

    python bench/requests.py [--rounds 5] [--scenario 200x0.2x32 --scenario 1000x0.05x64]
                             [--before SRC]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _support import (
    ChatServer,
    Run,
    echo_30_days,
    python_path,
    run_process,
    run_pytest,
    write_catalogue,
)

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Scenario:
    items: int
    latency_s: float
    concurrency: int

    @property
    def limit_s(self) -> float:
        return self.items * self.latency_s / self.concurrency

    def __str__(self) -> str:
        return f"{self.items} items, {self.latency_s * 1000:g} ms, c={self.concurrency}"


def scenario(text: str) -> Scenario:
    try:
        items, latency, concurrency = text.split("x")
        return Scenario(int(items), float(latency), int(concurrency))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ITEMSxLATENCYxCONCURRENCY, e.g. 200x0.2x32"
        ) from None


def window(server: ChatServer, latency_s: float) -> float:
    arrivals = [request.time for request in server.requests]
    return max(arrivals) - min(arrivals) + latency_s


def load() -> str:
    """The machine's load averages: these runs share it, so each figure comes with them."""
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def plugin_run(workdir: Path, case: Scenario) -> tuple[Run, float]:
    """One ``pytest --incident-evals`` run of the scenario: the run, and its request window."""
    with ChatServer(latency_s=case.latency_s) as server:
        echo_30_days(server)
        run: Run = run_pytest(
            workdir,
            "--incident-evals",
            f"--incident-base-url={server.base_url}",
            "--incident-model=bench",
            f"--incident-concurrency={case.concurrency}",
        )
        assert run.exit_code == 0, run.tail
        assert len(server.requests) == case.items, len(server.requests)
        return run, window(server, case.latency_s)


def measure(case: Scenario, rounds: int, before_src: str | None = None) -> None:
    before = load()
    plugin: list[float] = []
    plugin_window: list[float] = []
    plugin_cpu: list[float] = []
    reference: list[float] = []
    reference_window: list[float] = []
    reference_cpu: list[float] = []
    other: list[float] = []
    other_cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_catalogue(workdir / "incident_cases", case.items)
        for _ in range(rounds):
            if before_src is not None:
                with python_path(before_src):
                    run, _ = plugin_run(workdir, case)
                other.append(run.wall_s)
                other_cpu.append(run.cpu_s)
            run, plugin_span = plugin_run(workdir, case)
            plugin.append(run.wall_s)
            plugin_window.append(plugin_span)
            plugin_cpu.append(run.cpu_s)
            with ChatServer(latency_s=case.latency_s) as server:
                echo_30_days(server)
                ref = run_process(
                    workdir,
                    sys.executable,
                    HERE / "reference_asyncopenai.py",
                    server.base_url,
                    str(case.items),
                    str(case.concurrency),
                )
                assert ref.exit_code == 0, ref.output
                assert len(server.requests) == case.items, len(server.requests)
                reference.append(ref.wall_s)
                reference_window.append(window(server, case.latency_s))
                reference_cpu.append(ref.cpu_s)
    ours, theirs = statistics.median(plugin), statistics.median(reference)
    ours_window = statistics.median(plugin_window)
    print(f"{case} (limit {case.limit_s:.2f} s), medians of {rounds}:")
    print(f"  {before} before, {load()} after")
    print(
        f"  plugin      {ours:6.2f} s  {ours / case.limit_s:5.2f}x limit  "
        f"(request window {ours_window:.2f} s, {ours_window / case.limit_s:.2f}x)"
    )
    theirs_window = statistics.median(reference_window)
    print(
        f"  AsyncOpenAI {theirs:6.2f} s  {theirs / case.limit_s:5.2f}x limit  "
        f"(request window {theirs_window:.2f} s, {theirs_window / case.limit_s:.2f}x)"
    )
    print(f"  plugin / AsyncOpenAI reference: {ours / theirs:.2f}")
    # On a busy machine wall times swing; the processes' own CPU time much less.
    ours_cpu, theirs_cpu = statistics.median(plugin_cpu), statistics.median(reference_cpu)
    print(
        f"  CPU time of the process: plugin {ours_cpu:.2f} s, AsyncOpenAI {theirs_cpu:.2f} s "
        f"(ratio {ours_cpu / theirs_cpu:.2f})"
    )
    if other:
        earlier, earlier_cpu = statistics.median(other), statistics.median(other_cpu)
        print(
            f"  before ({before_src}): {earlier:.2f} s  {earlier / case.limit_s:5.2f}x limit, "
            f"CPU {earlier_cpu:.2f} s; this checkout / before: wall {ours / earlier:.2f}, "
            f"CPU {ours_cpu / earlier_cpu:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenario", type=scenario, action="append")
    parser.add_argument("--before", metavar="SRC", help="also run another checkout's src/")
    args = parser.parse_args()
    for case in args.scenario or [scenario("200x0.2x32"), scenario("1000x0.05x64")]:
        measure(case, args.rounds, args.before)


if __name__ == "__main__":
    main()
