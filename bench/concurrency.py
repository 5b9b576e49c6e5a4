"""SPEC §10 concurrency: 500 items against an endpoint of 200 ms latency at concurrency 32.

Prints the wall time as a ratio to the physical limit (500 x 0.2 / 32 s) after taking off the
start-up: from spawning pytest to the first request reaching the endpoint (interpreter, pytest,
plugin and SDK imports, collection). Target: at most 1.3. Also printed, for reference: pytest
start-up and collection alone (``--collect-only``), and the endpoint's own first-to-last span.

    python bench/concurrency.py [--items 500] [--latency 0.2] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _support import ChatServer, echo_30_days, run_pytest, write_catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ChatServer(latency_s=args.latency) as server:
        workdir = Path(tmp)
        write_catalogue(workdir / "incident_cases", args.items)
        echo_30_days(server)
        flags = [
            "--incident-evals",
            f"--incident-base-url={server.base_url}",
            "--incident-model=bench",
            f"--incident-concurrency={args.concurrency}",
        ]
        startup = run_pytest(workdir, *flags, "--collect-only")
        run = run_pytest(workdir, *flags)
        assert run.exit_code == 0, run.tail
        assert len(server.requests) == args.items, len(server.requests)
        arrivals = [request.time for request in server.requests]
        serving = max(arrivals) - min(arrivals) + args.latency
        to_first_request = min(arrivals) - run.started_at

    limit = args.items * args.latency / args.concurrency
    ratio = (run.wall_s - to_first_request) / limit
    print(f"items {args.items}, latency {args.latency:g} s, concurrency {args.concurrency}")
    print(
        f"physical limit          {limit:8.2f} s  ({args.items} x {args.latency:g} / "
        f"{args.concurrency})"
    )
    print(f"pytest --collect-only   {startup.wall_s:8.2f} s")
    print(f"spawn to first request  {to_first_request:8.2f} s  (start-up)")
    print(f"first to last answer    {serving:8.2f} s  (at the endpoint)")
    print(f"full run                {run.wall_s:8.2f} s  ({run.tail})")
    print(f"max requests in flight  {server.max_in_flight:8d}")
    print(f"ratio (run - start-up) / limit = {ratio:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
