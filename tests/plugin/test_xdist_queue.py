"""The adapter over xdist's worker queue (``incident_evals.xdist_queue``), under real xdist: a
worker sees the items it has been handed, so their requests can go out before it reaches them."""

from __future__ import annotations

import json

import pytest


def test_a_worker_sees_the_items_scheduled_on_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import json, os

        from incident_evals.xdist_queue import scheduled_items

        def pytest_runtest_protocol(item, nextitem):
            seen = [queued.nodeid for queued in scheduled_items(item.session)]
            worker = os.environ["PYTEST_XDIST_WORKER"]
            with open(f"seen-{worker}.jsonl", "a") as out:
                out.write(json.dumps({"running": item.nodeid, "queued": seen}) + "\\n")
        """
    )
    pytester.makepyfile(
        test_many="import pytest\n\n"
        "@pytest.mark.parametrize('n', range(40))\n"
        "def test_n(n):\n    pass\n"
    )

    pytester.runpytest("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=40)

    runs = [
        json.loads(line)
        for path in pytester.path.glob("seen-gw*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(runs) == 40
    # Each worker was handed a batch before its first item ran: the adapter saw them.
    assert any(len(run["queued"]) >= 2 for run in runs)
    every = {f"test_many.py::test_n[{n}]" for n in range(40)}
    for run in runs:
        assert set(run["queued"]) <= every
        # What is queued is still to run on that worker, never the item running now.
        assert run["running"] not in run["queued"]


def test_outside_a_worker_nothing_is_scheduled(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from incident_evals.xdist_queue import scheduled_items

        def pytest_runtest_protocol(item, nextitem):
            assert scheduled_items(item.session) == []
        """
    )
    pytester.makepyfile(test_one="def test_one():\n    pass\n")

    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
