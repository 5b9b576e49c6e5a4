"""The upgrade gate's error rates and cost, simulated: false blocks, detections, samples.

A run compares 100 cases between a baseline model and a candidate. Whether a sample passes is
drawn from a table of pass probabilities per case and model (deterministic per seed), so the
truth is known: in the *unchanged* scenario both models pass every case equally often; in the
*drop* scenario five cases fall from 90 % to 30 % on the candidate. Each decision rule is run
over the same seeded draws and reports, over all runs:

- false-block rate: runs of the unchanged scenario in which the gate blocked (goal <= 2 %);
- detection rate: runs of the drop scenario in which the gate blocked (goal >= 95 %), and how
  many of the five dropped cases it named on average;
- samples: the mean number of samples per item per side (goal <= 6).

Rules:

- ``fisher-5 (before)``: five samples a side, one-sided Fisher test per item at alpha 0.05,
  no correction across items: the gate as it was.
- ``fisher-5 + BH (shipped)``: five samples a side through the shipped decision
  (:func:`incident_evals.baseline.regression` with the number of compared items, then
  :func:`incident_evals.baseline.settle`), including ``runs.gate: any_failure`` for the critical
  cases and "an inconclusive critical item blocks".
- ``auto (shipped)``: ``--incident-repeats auto``: three samples a side, topped up one pair at
  a time while :meth:`incident_evals.evidence.PairedEvidence.worth_more_samples` says so (the
  same call the plugin makes), up to ``--max-samples``, decided as the plugin decides
  (:func:`~incident_evals.baseline.regression` with the evidence, whose p-values are ``1 / E``,
  then :func:`~incident_evals.baseline.settle`: e-BH).

Both shipped rules also run the suite-level comparison
(:func:`~incident_evals.baseline.suite_comparison`) and read the verdict as the reports do, so
a false block from either the items or the whole run counts.

    python bench/gate_simulation.py [--runs 200] [--table realistic|flaky] [--max-samples 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from incident_evals.baseline import fisher_one_sided, regression, settle, suite_comparison
from incident_evals.evidence import DEFAULT_FIRST_SAMPLES, PairedEvidence, sure_threshold
from incident_evals.verdict import BLOCK, read

ALPHA = 0.05
REPEATS = 5
DROPPED = 5


@dataclass(frozen=True)
class Case:
    baseline_rate: float
    candidate_rate: float
    severity: str = "major"

    @property
    def dropped(self) -> bool:
        return self.candidate_rate < self.baseline_rate


def table(kind: str, drop: bool) -> list[Case]:
    """100 cases. ``realistic``: most fixed incidents pass every time (temperature 0), a few are
    flaky; ``flaky``: most cases are flaky. The first five cases at 90 % are the ones that drop."""
    if kind == "realistic":
        rates = [1.0] * 60 + [0.95] * 20 + [0.9] * 10 + [0.7] * 5 + [0.5] * 5
        critical = set(range(20))  # incidents that must never recur pass every time
    else:
        rates = [1.0] * 40 + [0.9] * 30 + [0.7] * 20 + [0.5] * 10
        critical = set()
    cases = []
    dropping = [n for n, rate in enumerate(rates) if rate == 0.9][:DROPPED]
    for n, rate in enumerate(rates):
        candidate = 0.3 if drop and n in dropping else rate
        cases.append(Case(rate, candidate, "critical" if n in critical else "major"))
    return cases


@dataclass
class Outcome:
    blocked: bool
    named: int
    samples: float


def fisher_before(cases: list[Case], rng: random.Random, _: int) -> Outcome:
    named, blocked = 0, False
    for case in cases:
        baseline = sum(rng.random() < case.baseline_rate for _ in range(REPEATS))
        current = sum(rng.random() < case.candidate_rate for _ in range(REPEATS))
        if fisher_one_sided(current, REPEATS, baseline, REPEATS) <= ALPHA:
            blocked = True
            named += case.dropped
    return Outcome(blocked, named, REPEATS)


def _item(case_id: str, case: Case, passed: int, samples: int) -> dict[str, Any]:
    return {
        "nodeid": f"cases.yaml::{case_id}",
        "case_id": case_id,
        "variant": "original",
        "category": "correctness",
        "severity": case.severity,
        "status": "resolved",
        "outcome": "passed" if passed == samples else "failed",
        "samples": samples,
        "passed_samples": passed,
        "pass_rate": passed / samples,
        "failures": [],
        "output": "",
        "tool_calls": [],
        "usage": {},
        "latency_s": 0.0,
        "regression": None,
    }


def _verdict(cases: list[Case], items: list[dict[str, Any]]) -> Outcome:
    """The shipped decision over the run: items settled together, the suite compared, the
    verdict read as every report reads it."""
    settled = settle(items, ALPHA)
    suite = suite_comparison(settled, ALPHA)
    document = {
        "run": {"fail_on": "regressions", "baseline": {"kind": "model"}},
        "items": settled,
        "summary": {"suite": suite.to_json()} if suite is not None else {},
    }
    reading = read(document)
    named = sum(
        cases[int(str(item["case_id"]).removeprefix("INC-"))].dropped
        for item in reading.regressions
    )
    samples = statistics.fmean(item["samples"] for item in items)
    return Outcome(reading.verdict == BLOCK, named, samples)


def fisher_shipped(cases: list[Case], rng: random.Random, _: int) -> Outcome:
    items = []
    for n, case in enumerate(cases):
        baseline = sum(rng.random() < case.baseline_rate for _ in range(REPEATS))
        current = sum(rng.random() < case.candidate_rate for _ in range(REPEATS))
        item = _item(f"INC-{n}", case, current, REPEATS)
        gate = "any_failure" if case.severity == "critical" else "pass_rate"
        found = regression(
            item, _item(f"INC-{n}", case, baseline, REPEATS), ALPHA, len(cases), gate
        )
        item["regression"] = found.to_json()
        items.append(item)
    return _verdict(cases, items)


def sequential(cases: list[Case], rng: random.Random, max_samples: int) -> Outcome:
    threshold = sure_threshold(len(cases), ALPHA)
    items = []
    for n, case in enumerate(cases):
        evidence = PairedEvidence()
        for _ in range(DEFAULT_FIRST_SAMPLES):
            evidence.add(rng.random() < case.baseline_rate, rng.random() < case.candidate_rate)
        while evidence.worth_more_samples(threshold, max_samples):
            evidence.add(rng.random() < case.baseline_rate, rng.random() < case.candidate_rate)
        item = _item(f"INC-{n}", case, evidence.candidate_passed, evidence.pairs)
        then = _item(f"INC-{n}", case, evidence.baseline_passed, evidence.pairs)
        gate = "any_failure" if case.severity == "critical" else "pass_rate"
        found = regression(item, then, ALPHA, len(cases), gate, evidence)
        item["regression"] = found.to_json()
        items.append(item)
    return _verdict(cases, items)


RULES: dict[str, Callable[[list[Case], random.Random, int], Outcome]] = {
    "fisher-5 (before)": fisher_before,
    "fisher-5 + BH (shipped)": fisher_shipped,
    "auto (shipped)": sequential,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="seeded runs per scenario")
    parser.add_argument("--table", choices=("realistic", "flaky"), default="realistic")
    parser.add_argument("--max-samples", type=int, default=30)
    args = parser.parse_args()
    print(
        f"{args.runs} seeded runs of 100 cases per scenario, table {args.table}, alpha {ALPHA}; "
        f"drop: {DROPPED} cases from 90 % to 30 %"
    )
    header = ("rule", "false blocks", "detections", "named of 5", "samples/item/side")
    rows = [header]
    for name, rule in RULES.items():
        unchanged = [
            rule(table(args.table, drop=False), random.Random(seed), args.max_samples)
            for seed in range(args.runs)
        ]
        dropped = [
            rule(table(args.table, drop=True), random.Random(10_000 + seed), args.max_samples)
            for seed in range(args.runs)
        ]
        rows.append(
            (
                name,
                f"{statistics.fmean(o.blocked for o in unchanged):.1%}",
                f"{statistics.fmean(o.blocked for o in dropped):.1%}",
                f"{statistics.fmean(o.named for o in dropped):.2f}",
                f"{statistics.fmean(o.samples for o in unchanged):.2f} / "
                f"{statistics.fmean(o.samples for o in dropped):.2f}",
            )
        )
    print_table(rows)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """The rows in aligned columns, then what the samples column and the goals are."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print("samples: unchanged / drop scenario")
    print("goals: false blocks <= 2 %, detections >= 95 %, samples <= 6")


if __name__ == "__main__":
    main()
