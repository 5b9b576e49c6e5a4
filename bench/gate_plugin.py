"""The upgrade gate end to end: the plugin against a scripted endpoint whose pass probability per
case and model is set in a table, deterministic per seed.

The same experiment as ``gate_simulation.py``, but every decision is the plugin's own: pytest
runs ``--incident-evals --incident-baseline-model current --incident-fail-on regressions`` over
100 cases against :class:`ChatServer`, whose answer to each request is good or bad with the
probability the table gives the case and the model asking. The draw of a request is seeded by
(run seed, case, model, its number among that case's requests of that model), and the run sends
one request at a time (``--incident-concurrency 1``) so that the order, and so every sample, is
the same for a seed. The verdict is read from the results file as every report reads it.

Reported over ``--runs`` seeded runs per scenario: the false-block rate when nothing changed,
the detection rate when five cases drop from 90 % to 30 %, and the mean samples per item per
side, for five fixed repeats and for ``--incident-repeats auto``.

    python bench/gate_plugin.py [--runs 50] [--table realistic|flaky]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from _support import ChatServer, run_pytest
from gate_simulation import Case, print_table, table

from chat_server import Reply
from incident_evals.verdict import BLOCK, read


@dataclass
class Outcome:
    blocked: bool
    samples: float


class Table:
    """The scripted endpoint's answers: good with the table's probability, seeded per request."""

    def __init__(self, cases: list[Case], seed: int) -> None:
        self.cases = cases
        self.seed = seed
        self.asked: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        case_id = str(body["messages"][-1]["content"]).removeprefix("question for ")
        model = str(body["model"])
        with self.lock:
            number = self.asked.get((case_id, model), 0)
            self.asked[case_id, model] = number + 1
        case = self.cases[int(case_id.removeprefix("INC-"))]
        rate = case.candidate_rate if model == "candidate" else case.baseline_rate
        draw = random.Random(f"{self.seed}/{case_id}/{model}/{number}").random()
        return Reply(content="You have 30 days." if draw < rate else "You have 60 days.")


def write_cases(directory: Path, cases: list[Case]) -> None:
    documents = [
        {
            "id": f"INC-{n:03d}",
            "incident": {"category": "correctness", "severity": case.severity},
            "input": {"messages": [{"role": "user", "content": f"question for INC-{n:03d}"}]},
            "expect": [{"not_contains": "60 days"}],
        }
        for n, case in enumerate(cases)
    ]
    path = directory / "incident_cases" / "cases.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents))


def one_run(kind: str, drop: bool, seed: int, repeats: str) -> Outcome:
    cases = table(kind, drop)
    with tempfile.TemporaryDirectory() as tmp, ChatServer() as server:
        workdir = Path(tmp)
        write_cases(workdir, cases)
        server.set_script(Table(cases, seed))
        run_pytest(
            workdir,
            "--incident-evals",
            f"--incident-base-url={server.base_url}",
            "--incident-model=candidate",
            "--incident-baseline-model=current",
            "--incident-fail-on=regressions",
            f"--incident-repeats={repeats}",
            "--incident-concurrency=1",
            "--incident-retries=0",
            "--incident-report=results.json",
        )
        document = json.loads((workdir / "results.json").read_text())
    samples = statistics.fmean(item["samples"] for item in document["items"])
    return Outcome(read(document).verdict == BLOCK, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="seeded runs per scenario")
    parser.add_argument("--table", choices=("realistic", "flaky"), default="realistic")
    args = parser.parse_args()
    print(f"{args.runs} seeded runs of 100 cases per scenario, through the plugin, {args.table}")
    header = ("repeats", "false blocks", "detections", "samples/item/side")
    rows = [header]
    for repeats in ("5", "auto"):
        unchanged = [one_run(args.table, False, seed, repeats) for seed in range(args.runs)]
        dropped = [one_run(args.table, True, 10_000 + seed, repeats) for seed in range(args.runs)]
        rows.append(
            (
                repeats,
                f"{statistics.fmean(o.blocked for o in unchanged):.1%}",
                f"{statistics.fmean(o.blocked for o in dropped):.1%}",
                f"{statistics.fmean(o.samples for o in unchanged):.2f} / "
                f"{statistics.fmean(o.samples for o in dropped):.2f}",
            )
        )
    print_table(rows)


if __name__ == "__main__":
    main()
