"""``incident-evals scan`` over logs of 10,000 calls (and 5x that) against the example catalogue:
calls per second end to end, and peak memory.

The log is JSONL of Chat Completions exchanges, as an application logs them: every 10th call is
one of the example catalogue's recorded incidents, every 20th one of its accepted outputs, the
rest ordinary traffic that matches no case. Each size is scanned by ``incident-evals scan --json``
as a separate process (interpreter start-up, catalogue loading and the guard's variant keys
included), in alternating rounds with a scan of a one-call log (that fixed cost alone); the
medians are printed, with calls per second end to end and once the fixed cost is paid, and the
peak RSS of each process (from wait4): a log read a line at a time keeps it flat as logs grow.
Each scan's counts are checked against the log as it was built.

    PYTHONPATH=src:tests:bench python bench/scan.py [--calls 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from _support import REPO, Run, run_process

import scan_logs

CATALOGUE = REPO / "incident_cases"
#: Ordinary traffic: questions no case of the catalogue is about.
TRAFFIC = [
    ("What are your opening hours on Saturday?", "We are open 9 to 5 on Saturdays."),
    ("Can you track parcel ZX-{n}?", "Parcel ZX-{n} is out for delivery today."),
    ("How do I reset my password?", "Use 'Forgot password' on the sign-in page."),
]


def write_log(path: Path, calls: int) -> Counter[str]:
    """``calls`` logged calls; the recurrences each incident must show."""
    cases = scan_logs.example_cases()
    good = [entry for entry in cases if entry.case.accepted_outputs]
    expected: Counter[str] = Counter()
    with path.open("w", encoding="utf-8") as handle:
        for n in range(calls):
            created = scan_logs.T0 + n
            record: dict[str, Any]
            if n % 10 == 0:
                entry = cases[(n // 10) % len(cases)]
                record = scan_logs.recorded(entry, created)
                expected[entry.case.id] += 1
            elif n % 20 == 5 and good:
                entry = good[(n // 20) % len(good)]
                record = scan_logs.accepted(entry, created)[0]
            else:
                ask, answer = TRAFFIC[n % len(TRAFFIC)]
                reply = {"role": "assistant", "content": answer.format(n=n)}
                record = {
                    "request": {
                        "model": "gpt-4o-mini",
                        "messages": [
                            {"role": "system", "content": "You are Acme's support assistant."},
                            {"role": "user", "content": ask.format(n=n)},
                        ],
                    },
                    "response": {
                        "object": "chat.completion",
                        "created": created,
                        "choices": [
                            {
                                "index": 0,
                                "message": reply,
                            }
                        ],
                    },
                }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return expected


def scan(workdir: Path, log: Path) -> Run:
    return run_process(
        workdir, sys.executable, "-m", "incident_evals", "scan", log, "--cases", CATALOGUE, "--json"
    )


def checked(run: Run, calls: int, expected: Counter[str]) -> Run:
    document = json.loads(run.output)
    found = {item["case_id"]: item["recurrences"] for item in document["incidents"]}
    assert document["checked"] == calls, document["checked"]
    assert found == dict(expected), (found, dict(expected))
    assert run.exit_code == (1 if expected else 0), run.exit_code
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [1, args.calls, 5 * args.calls]

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        logs = {size: workdir / f"log-{size}.jsonl" for size in sizes}
        expected = {size: write_log(path, size) for size, path in logs.items()}
        mib = {size: path.stat().st_size / 2**20 for size, path in logs.items()}
        runs: dict[int, list[Run]] = {size: [] for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                runs[size].append(checked(scan(workdir, logs[size]), size, expected[size]))

    fixed = statistics.median(run.wall_s for run in runs[1])
    print(f"incident-evals scan, example catalogue, median of {args.rounds} rounds")
    print(
        f"{'calls':>8}  {'log MiB':>8}  {'wall s':>7}  {'calls/s':>8}  {'calls/s past start':>18}  "
        f"{'peak RSS MiB':>12}  recurrences"
    )
    for size in sizes:
        wall = statistics.median(run.wall_s for run in runs[size])
        rss = max(run.peak_rss_mib for run in runs[size])
        past = f"{size / (wall - fixed):,.0f}" if size > 1 and wall > fixed else "-"
        print(
            f"{size:>8,}  {mib[size]:>8.1f}  {wall:>7.2f}  {size / wall:>8,.0f}  {past:>18}  "
            f"{rss:>12.1f}  {sum(expected[size].values()):,}"
        )
    print(f"fixed cost (start-up, catalogue, guard): {fixed:.2f} s")


if __name__ == "__main__":
    main()
