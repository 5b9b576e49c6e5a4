"""The runtime guard's speed: ``check_output`` of a 2 KB reply against a catalogue of 200 cases.

Writes 200 case files of the five realistic kinds the other benches use (retrieval, an email
agent with tools, a payroll leak, a loan screen with counterfactual variants, an over-blocking
refusal), a quarter of them with a ``guard:`` block that widens them by a pattern on the user's
message (so every check also searches 50 patterns), and loads the catalogue into a guard once
(timed apart: that is start-up, not the hot path). Then times, in alternating rounds so machine
noise lands on all alike, one ``check_output`` of:

* ``no match``: a 2 KB reply to a question no case matches (the common case in live traffic);
* ``match``: a 2 KB good reply to one case's own question (its constraints judge the reply);
* ``match, typographic``: the same with curly quotes and dashes (the normaliser's slower path);
* ``tool call``: ``check_tool_call`` of the email agent's send, mid-loop.

Every call gets a reply text of its own (a number in it changes), so no cache of a previous
check serves it. Prints the median and 95th percentile in milliseconds, and the median's ratio
to the 1 ms goal.

    python bench/guard.py [--cases 200] [--checks 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _support import write_case_files

from incident_evals import Catalogue
from incident_evals.guard import Guard, GuardResult

GOAL_MS = 1.0
#: One case in this many gets a guard: block widening it by a pattern.
WIDENED_EVERY = 4
REPLY_BYTES = 2048

PARAGRAPH = (
    "Thanks for getting in touch about your order. Our current refund policy (2024) allows a "
    "full refund within 30 days of purchase for any reason, provided the item is returned in "
    "its original packaging. After 30 days, defective items are handled under the warranty, "
    "and we will gladly arrange a repair or a replacement. Refunds go back to the original "
    "payment method within 5-7 business days of the return being received. "
)


def reply(number: int, typographic: bool = False) -> str:
    """A 2 KB reply, different for every ``number``."""
    text = f"Reference {number}. " + PARAGRAPH * (REPLY_BYTES // len(PARAGRAPH) + 1)
    if typographic:
        text = text.replace("Our current", "\u201cOur current").replace("(2024)", "(2024)\u201d")
        text = text.replace(", and we", " \u2014 and we").replace("we will", "we\u2019ll")
    return text[:REPLY_BYTES]


def widen(directory: Path) -> int:
    """Give one case file in :data:`WIDENED_EVERY` a ``guard: when: user_matches`` block."""
    widened = 0
    for index, path in enumerate(sorted(directory.rglob("*.yaml"))):
        if index % WIDENED_EVERY:
            continue
        topic = f"topic{index:04d}"
        with path.open("a", encoding="utf-8") as file:
            file.write(f"guard:\n  when:\n    user_matches: '\\b({topic}|{topic}s)\\b'\n")
        widened += 1
    return widened


def timed(check: Callable[[int], GuardResult], numbers: range) -> list[float]:
    """Milliseconds of each call of ``check``."""
    times = []
    for number in numbers:
        started = time.perf_counter_ns()
        check(number)
        times.append((time.perf_counter_ns() - started) / 1e6)
    return times


def scenarios(guard: Guard, catalogue: Catalogue) -> dict[str, Callable[[int], GuardResult]]:
    rag = next(case for case in catalogue.cases if case.id.endswith("-refund-policy"))
    question = rag.input.messages[-1]["content"]
    agent = next(case for case in catalogue.cases if case.id.endswith("-wrong-recipient"))
    [recipient] = next(
        spec.argument["schema"]["properties"]["to"]["enum"]
        for spec in agent.expect
        if spec.name == "tool_args"
    )
    loop = [
        *agent.input.messages,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "lookup_group", "arguments": '{"query": "team"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"matches": []}'},
    ]

    def no_match(n: int) -> GuardResult:
        asked = [{"role": "user", "content": f"Where is order {n}? It has not arrived."}]
        return guard.check_output(reply(n), messages=asked)

    def match(n: int) -> GuardResult:
        return guard.check_output(reply(n), messages=[{"role": "user", "content": question}])

    def typographic(n: int) -> GuardResult:
        asked = [{"role": "user", "content": question}]
        return guard.check_output(reply(n, typographic=True), messages=asked)

    def tool_call(n: int) -> GuardResult:
        arguments = {"to": recipient, "subject": f"Draft {n}", "body": reply(n)}
        return guard.check_tool_call("send_email", arguments, messages=loop)

    return {
        "no match": no_match,
        "match": match,
        "match, typographic": typographic,
        "tool call": tool_call,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--checks", type=int, default=2000, help="checks per scenario")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "incident_cases"
        write_case_files(folder, args.cases)
        widened = widen(folder)
        catalogue = Catalogue.load(folder)
        assert not catalogue.errors, [e.render() for e in catalogue.errors]
        started = time.perf_counter()
        guard = catalogue.guard(otel=False)
        built_s = time.perf_counter() - started

    checks = scenarios(guard, catalogue)
    # What each scenario decides, so a fast wrong answer is not measured as a fast right one.
    verdicts = {name: check(-1) for name, check in checks.items()}
    assert verdicts["no match"].findings == [], verdicts["no match"]
    assert verdicts["tool call"].allowed, verdicts["tool call"]
    judged = len(verdicts["match"].findings)

    per_round = max(1, args.checks // args.rounds)
    times: dict[str, list[float]] = {name: [] for name in checks}
    for round_ in range(args.rounds):
        numbers = range(round_ * per_round, (round_ + 1) * per_round)
        for name, check in checks.items():
            times[name].extend(timed(check, numbers))

    print(
        f"guard over {len(catalogue.cases)} cases ({widened} widened by a pattern), "
        f"built in {built_s:.2f} s; {per_round * args.rounds} checks per scenario, "
        f"{REPLY_BYTES} B replies"
    )
    print(f"'match' reply: {judged} finding(s) of its case's constraints")
    rows = [("scenario", "median ms", "p95 ms", "median / goal")]
    for name, measured in times.items():
        median = statistics.median(measured)
        p95 = statistics.quantiles(measured, n=20)[-1]
        rows.append((name, f"{median:.3f}", f"{p95:.3f}", f"{median / GOAL_MS:.2f}"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"goal: check_output of a 2 KB reply under {GOAL_MS:g} ms median")


if __name__ == "__main__":
    main()
