"""Baselines and regressions (``incident_evals.baseline``, SPEC §7)."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from math import comb
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from incident_evals.baseline import (
    DEFAULT_ALPHA,
    BaselineError,
    Regression,
    benjamini_hochberg,
    compare,
    fisher_detectable_drop,
    fisher_one_sided,
    load_baseline,
    regression,
    settle,
    suite_comparison,
)
from incident_evals.case import load_schema
from incident_evals.evidence import PairedEvidence, pairs_needed

REFUND = "INC-2025-031-refund"
PAYROLL = "INC-2025-044-payroll-leak"
EMAIL = "INC-2025-052-email-wrong-recipient"
LOAN = "INC-2025-060-loan-fairness"

FILES = {
    REFUND: ("incident_cases/rag/refund_policy.yaml", "correctness", "major", "mitigated"),
    PAYROLL: ("incident_cases/hr/payroll_leak.yaml", "security", "critical", "resolved"),
    EMAIL: ("incident_cases/agents/email_agent.yaml", "autonomy", "major", "open"),
    LOAN: ("incident_cases/fairness/loan_decision.yaml", "fairness", "critical", "resolved"),
}


def item(
    case_id: str,
    variant: str = "original",
    outcome: str = "passed",
    samples: int = 1,
    passed: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A results item as the writer makes it; ``passed`` defaults to what the outcome implies."""
    path, category, severity, status = FILES[case_id]
    if passed is None:
        passed = samples if outcome in ("passed", "xpassed") else 0
    nodeid = f"{path}::{case_id}" if variant == "original" else f"{path}::{case_id}[{variant}]"
    failures = [
        {"constraint": "not_contains", "message": f"sample {k} failed", "sample": k}
        for k in range(samples - passed)
    ]
    data: dict[str, Any] = {
        "nodeid": nodeid,
        "case_id": case_id,
        "variant": variant,
        "title": f"{case_id} title",
        "category": category,
        "severity": severity,
        "status": status,
        "outcome": outcome,
        "samples": samples,
        "passed_samples": passed,
        "pass_rate": passed / samples if samples else None,
        "failures": failures if outcome not in ("error", "skipped") else [],
        "output": "Refunds are accepted within 30 days of delivery." if samples else "",
        "tool_calls": [],
        "usage": {"prompt_tokens": 812, "completion_tokens": 41} if samples else {},
        "latency_s": 0.84 if samples else 0.0,
        "regression": None,
    }
    data.update(fields)
    return data


# --- Fisher exact test -------------------------------------------------------------------------


def test_half_the_repeats_failing_against_a_clean_baseline_is_significant() -> None:
    # 5/10 vs 10/10: 15 passes in 20 samples; the current row can hold no fewer than 5 of them,
    # so the lower tail is that one table: C(15,5) * C(5,5) / C(20,10).
    assert comb(15, 5) * comb(5, 5) == 3003
    assert comb(20, 10) == 184756
    assert fisher_one_sided(5, 10, 10, 10) == 3003 / 184756
    assert fisher_one_sided(5, 10, 10, 10) == pytest.approx(0.01625387, abs=1e-8)


def test_none_of_three_against_three_of_three_is_exactly_alpha() -> None:
    # C(3,0) * C(3,3) / C(6,3) = 1/20: rounded once, the float is the literal 0.05.
    assert fisher_one_sided(0, 3, 3, 3) == 0.05
    assert fisher_one_sided(0, 3, 3, 3) == DEFAULT_ALPHA


@pytest.mark.parametrize(
    ("current", "baseline", "exact"),
    [
        # One table in the tail: C(7,2) * C(3,3) / C(10,5) = 21/252.
        ((2, 5), (5, 5), Fraction(1, 12)),
        # C(5,1) * C(3,3) / C(8,4) = 5/70.
        ((1, 4), (4, 4), Fraction(1, 14)),
        # Two tables: (C(7,1) * C(5,5) + C(7,2) * C(5,4)) / C(12,6) = (7 + 105) / 924.
        ((2, 6), (5, 6), Fraction(4, 33)),
        # One sample against ten clean repeats: C(10,0) * C(1,1) / C(11,1).
        ((0, 1), (10, 10), Fraction(1, 11)),
        # One sample each: the best a single pass -> fail can do.
        ((0, 1), (1, 1), Fraction(1, 2)),
        # Equal rates: half the symmetric distribution plus its middle, (1 + 63504/184756) / 2.
        ((5, 10), (5, 10), Fraction(124130, 184756)),
    ],
)
def test_fisher_matches_hand_computed_fractions(
    current: tuple[int, int], baseline: tuple[int, int], exact: Fraction
) -> None:
    assert fisher_one_sided(*current, *baseline) == float(exact)


@pytest.mark.parametrize(
    ("current", "baseline"),
    [((3, 10), (8, 10)), ((2, 6), (5, 6)), ((7, 9), (4, 12)), ((0, 4), (1, 7))],
)
def test_relabelling_failures_as_passes_gives_the_same_p(
    current: tuple[int, int], baseline: tuple[int, int]
) -> None:
    # "Current passes few" is "baseline fails few" read from the other row and column.
    (a, n1), (c, n2) = current, baseline
    assert fisher_one_sided(a, n1, c, n2) == pytest.approx(fisher_one_sided(n2 - c, n2, n1 - a, n1))


@pytest.mark.parametrize(
    ("current", "baseline"),
    [((3, 10), (8, 10)), ((2, 6), (5, 6)), ((7, 9), (4, 12)), ((5, 10), (5, 10))],
)
def test_the_two_tails_overlap_in_exactly_the_observed_table(
    current: tuple[int, int], baseline: tuple[int, int]
) -> None:
    (a, n1), (c, n2) = current, baseline
    observed = Fraction(comb(a + c, a) * comb(n1 + n2 - a - c, n1 - a), comb(n1 + n2, n1))
    both = fisher_one_sided(a, n1, c, n2) + fisher_one_sided(c, n2, a, n1)
    assert both == pytest.approx(float(1 + observed))


def test_fewer_current_passes_never_raise_p() -> None:
    ps = [fisher_one_sided(k, 10, 9, 10) for k in range(11)]
    assert ps == sorted(ps)
    assert len(set(ps)) == 11
    assert ps[-1] == 1.0


def test_a_stronger_baseline_never_raises_p() -> None:
    ps = [fisher_one_sided(4, 10, k, 10) for k in range(11)]
    assert ps == sorted(ps, reverse=True)
    assert len(set(ps)) == 11
    assert ps[0] == 1.0


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((6, 5, 5, 5), "current: passed samples must be between 0 and 5, got 6"),
        ((-1, 5, 5, 5), "current: passed samples must be between 0 and 5, got -1"),
        ((5, 5, 4, 3), "baseline: passed samples must be between 0 and 3, got 4"),
    ],
)
def test_impossible_counts_are_refused(counts: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message + "$"):
        fisher_one_sided(*counts)


# --- regression(): one item against its baseline item -----------------------------------------


def core(found: Regression) -> Regression:
    """The decision and the numbers every baseline file has, without the test's evidence."""
    return Regression(found.baseline_outcome, found.baseline_pass_rate, found.status, found.p_value)


def test_an_item_with_no_baseline_is_new() -> None:
    assert core(regression(item(REFUND), None)) == Regression(None, None, "new", None)
    assert core(
        regression(item(REFUND, samples=5, passed=2, outcome="failed"), None)
    ) == Regression(None, None, "new", None)


def test_a_baseline_item_with_no_current_item_is_removed() -> None:
    one = item(PAYROLL, outcome="failed")
    repeats = item(PAYROLL, samples=5, passed=4, outcome="failed")
    assert core(regression(None, one)) == Regression("failed", 0.0, "removed", None)
    assert core(regression(None, repeats)) == Regression("failed", 0.8, "removed", None)


def test_a_side_by_side_baseline_with_only_counts_gets_its_pass_rate_derived() -> None:
    # What --incident-baseline-model records next to each item: no pass_rate of its own.
    counts = {"outcome": "passed", "samples": 4, "passed_samples": 4}
    current = item(LOAN, "counterfactual-1", outcome="failed", samples=4, passed=0)
    assert core(regression(current, counts)) == Regression("passed", 1.0, "regressed", 1 / 70)
    no_samples = {"outcome": "error", "samples": 0, "passed_samples": 0}
    assert core(regression(current, no_samples)) == Regression("error", None, "unchanged", None)


def test_regression_needs_at_least_one_side() -> None:
    with pytest.raises(ValueError, match=r"^regression\(\) needs a current item, a baseline item"):
        regression(None, None)


@pytest.mark.parametrize(
    ("before", "now", "status"),
    [
        ("passed", "failed", "regressed"),
        ("failed", "passed", "fixed"),
        ("passed", "passed", "unchanged"),
        ("failed", "failed", "unchanged"),
    ],
)
def test_one_sample_each_compares_pass_and_fail_without_a_p_value(
    before: str, now: str, status: str
) -> None:
    baseline = item(PAYROLL, outcome=before)
    got = regression(item(PAYROLL, outcome=now), baseline)
    assert got == Regression(before, baseline["pass_rate"], status, None)


def test_none_of_three_repeats_against_three_of_three_regresses_at_the_boundary() -> None:
    baseline = item(PAYROLL, samples=3)
    current = item(PAYROLL, outcome="failed", samples=3, passed=0)
    assert core(regression(current, baseline)) == Regression("passed", 1.0, "regressed", 0.05)
    assert core(regression(current, baseline, alpha=0.05)) == Regression(
        "passed", 1.0, "regressed", 0.05
    )
    assert core(regression(current, baseline, alpha=0.049)) == Regression(
        "passed", 1.0, "unchanged", 0.05
    )


def test_repeats_fixed_reports_the_reverse_p() -> None:
    baseline = item(REFUND, outcome="failed", samples=3, passed=0)
    assert core(regression(item(REFUND, samples=3), baseline)) == Regression(
        "failed", 0.0, "fixed", 0.05
    )
    assert core(regression(item(REFUND, samples=3), baseline, alpha=0.049)) == Regression(
        "failed", 0.0, "unchanged", 1.0
    )


def test_repeats_regressed_reports_the_lower_p() -> None:
    baseline = item(REFUND, samples=10)
    current = item(REFUND, outcome="failed", samples=10, passed=5)
    assert core(regression(current, baseline)) == Regression(
        "passed", 1.0, "regressed", 3003 / 184756
    )


def test_two_failures_in_five_is_not_enough_evidence() -> None:
    # 2/5 against 5/5 looks bad, but p = 1/12: not a regression at 0.05.
    baseline = item(REFUND, samples=5)
    current = item(REFUND, outcome="failed", samples=5, passed=2)
    assert core(regression(current, baseline)) == Regression("passed", 1.0, "unchanged", 1 / 12)


def test_a_drop_significant_alone_but_not_across_the_compared_items_is_inconclusive() -> None:
    # 0/5 against 5/5: p = 1/252. Alone, a regression; among 100 compared items the bar is
    # 0.05 / 100 = 0.0005, which it does not reach.
    baseline = item(REFUND, samples=5)
    current = item(REFUND, outcome="failed", samples=5, passed=0)

    assert regression(current, baseline, compared=1).status == "regressed"
    among_many = regression(current, baseline, compared=100)
    assert core(among_many) == Regression("passed", 1.0, "inconclusive", 1 / 252)


def test_a_tested_comparison_carries_its_evidence() -> None:
    baseline = item(REFUND, samples=5)
    current = item(REFUND, outcome="failed", samples=5, passed=1)

    found = regression(current, baseline, compared=1)

    assert found.test == "fisher"
    assert found.p_drop == pytest.approx(fisher_one_sided(1, 5, 5, 5))
    assert found.p_rise == pytest.approx(1.0)
    assert found.pass_rate_interval == pytest.approx((0.0362, 0.6245), abs=1e-4)
    assert found.baseline_pass_rate_interval == pytest.approx((0.5655, 1.0), abs=1e-4)
    # 1/5 against 5/5 (p = 6/252) is found; 2/5 (p = 1/12) is not: four of five must fail.
    assert found.smallest_detectable_drop == pytest.approx(0.8)
    assert found.to_json()["pass_rate_interval"] == pytest.approx([0.0362, 0.6245], abs=1e-4)


def test_five_repeats_cannot_show_any_drop_among_a_hundred_items() -> None:
    assert fisher_detectable_drop(5, 5, 0.05) == pytest.approx(0.8)
    assert fisher_detectable_drop(5, 5, 0.05 / 100) is None
    # Twenty repeats a side: the most favourable table with the smallest failing share found.
    found = fisher_detectable_drop(20, 20, 0.05 / 100)
    assert found is not None
    failed = round(found * 20)
    assert fisher_one_sided(20 - failed, 20, 20, 20) <= 0.05 / 100
    assert fisher_one_sided(20 - failed + 1, 20, 20, 20) > 0.05 / 100


def test_an_untested_comparison_writes_only_the_four_original_keys() -> None:
    baseline = item(PAYROLL, outcome="passed")
    found = regression(item(PAYROLL, outcome="failed"), baseline)

    assert sorted(found.to_json()) == [
        "baseline_outcome",
        "baseline_pass_rate",
        "p_value",
        "status",
    ]


@pytest.mark.parametrize("compared", [0, -3])
def test_fewer_than_one_compared_item_is_refused(compared: int) -> None:
    with pytest.raises(ValueError, match="compared must be at least 1"):
        regression(item(REFUND), item(REFUND), compared=compared)


def test_under_any_failure_one_failing_sample_regresses_when_the_baseline_never_failed() -> None:
    baseline = item(PAYROLL, samples=5)
    current = item(PAYROLL, outcome="failed", samples=5, passed=4)

    hard = regression(current, baseline, gate="any_failure")

    assert core(hard) == Regression("passed", 1.0, "regressed", None)
    assert hard.test == "any_failure"
    assert sorted(hard.to_json()) == [
        "baseline_outcome",
        "baseline_pass_rate",
        "baseline_pass_rate_interval",
        "p_value",
        "pass_rate_interval",
        "status",
        "test",
    ]
    # Compared by pass rates, 4/5 against 5/5 is noise.
    assert regression(current, baseline, gate="pass_rate").status == "unchanged"


def test_under_any_failure_a_baseline_that_failed_too_is_compared_by_pass_rates() -> None:
    baseline = item(PAYROLL, outcome="failed", samples=5, passed=4)
    current = item(PAYROLL, outcome="failed", samples=5, passed=3)

    found = regression(current, baseline, gate="any_failure")

    assert (found.status, found.test) == ("unchanged", "fisher")


def test_under_any_failure_a_clean_candidate_is_not_a_regression() -> None:
    baseline = item(PAYROLL, samples=5)

    assert regression(item(PAYROLL, samples=5), baseline, gate="any_failure").status == "unchanged"


def _sampled(baseline: list[bool], current: list[bool]) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        item(REFUND, outcome="failed", samples=len(current), passed=sum(current)),
        item(REFUND, samples=len(baseline), passed=sum(baseline)),
    )


def test_sequential_evidence_replaces_the_fisher_test() -> None:
    drops = pairs_needed(4 / 0.05)
    evidence = PairedEvidence.of([True] * drops, [False] * drops)

    found = regression(*_sampled([True] * drops, [False] * drops), compared=4, evidence=evidence)

    assert (found.status, found.test) == ("regressed", "sequential")
    assert found.p_drop == pytest.approx(1 / evidence.drop)
    assert found.smallest_detectable_drop == pytest.approx(1.0)


def test_sequential_evidence_stopped_short_of_a_drop_is_inconclusive() -> None:
    evidence = PairedEvidence.of([True] * 3, [False] * 3)

    found = regression(*_sampled([True] * 3, [False] * 3), compared=4, evidence=evidence)

    assert (found.status, found.test) == ("inconclusive", "sequential")
    assert found.smallest_detectable_drop is None  # three pairs could never show it


def test_sequential_evidence_with_no_drop_is_unchanged() -> None:
    evidence = PairedEvidence.of([True, False, True], [True, True, True])

    found = regression(*_sampled([True, False, True], [True] * 3), compared=4, evidence=evidence)

    assert found.status == "unchanged"


# --- settle(): every comparison decided with the whole run in view ---------------------------


def test_benjamini_hochberg_adjusts_in_rank_order_and_keeps_the_given_order() -> None:
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.9, 0.5]) == pytest.approx([0.9, 0.9])


def _run(dropped: int, steady: int, compared: int) -> list[dict[str, Any]]:
    """``dropped`` items that went from 5/5 to 0/5 and ``steady`` ones still at 5/5."""
    items = []
    for n in range(dropped + steady):
        baseline = item(REFUND, f"typos-{n}", samples=5)
        current = item(
            REFUND,
            f"typos-{n}",
            outcome="failed" if n < dropped else "passed",
            samples=5,
            passed=0 if n < dropped else 5,
        )
        current["regression"] = regression(current, baseline, compared=compared).to_json()
        items.append(current)
    return items


def test_settle_keeps_a_drop_that_was_clear_alone() -> None:
    # One drop (p = 1/252) among ten items is under 0.05 / 10 already: q = 10/252 = 0.04.
    items = _run(dropped=1, steady=9, compared=10)
    assert items[0]["regression"]["status"] == "regressed"

    settled = settle(items)

    assert [i["regression"]["status"] for i in settled] == ["regressed"] + ["unchanged"] * 9
    assert settled[0]["regression"]["q_value"] == pytest.approx(10 / 252)
    assert items[0]["regression"].get("q_value") is None  # the input is not changed


def test_settle_calls_a_lone_drop_among_many_items_inconclusive() -> None:
    settled = settle(_run(dropped=1, steady=19, compared=20))

    assert settled[0]["regression"]["status"] == "inconclusive"
    assert settled[0]["regression"]["q_value"] == pytest.approx(20 / 252)
    assert {i["regression"]["status"] for i in settled[1:]} == {"unchanged"}


def test_settle_lowers_the_bar_for_drops_found_together() -> None:
    # Three drops among thirty: alone each needs p <= 0.05 / 30 and has 1/252; together their
    # q-value is 30 / 3 / 252 = 0.04.
    items = _run(dropped=3, steady=27, compared=30)
    assert [i["regression"]["status"] for i in items[:3]] == ["inconclusive"] * 3

    settled = settle(items)

    assert [i["regression"]["status"] for i in settled[:3]] == ["regressed"] * 3
    assert settled[0]["regression"]["q_value"] == pytest.approx(30 / 3 / 252)


def test_settle_keeps_untested_statuses() -> None:
    one_each = item(PAYROLL, outcome="failed")
    one_each["regression"] = regression(one_each, item(PAYROLL)).to_json()
    new = item(EMAIL)
    new["regression"] = regression(new, None).to_json()
    no_baseline = item(LOAN)

    settled = settle([one_each, new, no_baseline, *_run(dropped=0, steady=2, compared=4)])

    assert [(i["regression"] or {}).get("status") for i in settled] == [
        "regressed",
        "new",
        None,
        "unchanged",
        "unchanged",
    ]


def test_repeats_on_one_side_use_fisher_not_the_one_sample_rule() -> None:
    # A single failed sample against ten clean repeats: p = 1/11, so unchanged, not regressed.
    baseline = item(LOAN, samples=10)
    assert core(regression(item(LOAN, outcome="failed"), baseline)) == Regression(
        "passed", 1.0, "unchanged", 1 / 11
    )
    # The other way round: one pass against a baseline that failed all ten.
    baseline = item(LOAN, outcome="failed", samples=10, passed=0)
    assert core(regression(item(LOAN), baseline)) == Regression("failed", 0.0, "unchanged", 1.0)


def test_repeats_fixed_at_the_other_end() -> None:
    baseline = item(LOAN, "counterfactual-2", outcome="failed", samples=10, passed=2)
    current = item(LOAN, "counterfactual-2", samples=10)
    got = regression(current, baseline)
    assert got.status == "fixed"
    assert got.p_value == fisher_one_sided(2, 10, 10, 10)
    assert got.p_value == pytest.approx(comb(12, 2) * comb(8, 8) / comb(20, 10))


@pytest.mark.parametrize(
    ("before", "now"),
    [
        (item(PAYROLL), item(PAYROLL, outcome="error", passed=0)),
        (item(PAYROLL, samples=5), item(PAYROLL, outcome="error", samples=5, passed=0)),
        (item(PAYROLL, outcome="error", passed=0), item(PAYROLL, outcome="failed")),
        (item(PAYROLL, outcome="error", samples=5, passed=0), item(PAYROLL, samples=5)),
        (item(PAYROLL), item(PAYROLL, outcome="skipped", samples=0)),
        (item(PAYROLL, outcome="skipped", samples=0), item(PAYROLL, outcome="failed")),
        (item(PAYROLL, samples=5), item(PAYROLL, outcome="failed", samples=0)),
        (item(PAYROLL), item(PAYROLL, outcome="skipped", passed=0)),
    ],
    ids=[
        "endpoint-error-after-a-pass",
        "endpoint-error-after-repeats",
        "failure-after-an-error",
        "pass-after-an-error",
        "skipped-now",
        "skipped-before",
        "no-samples-now",
        "skipped-after-a-sample",
    ],
)
def test_errors_and_skips_are_never_regressions_or_fixes(
    before: dict[str, Any], now: dict[str, Any]
) -> None:
    assert core(regression(now, before)) == Regression(
        before["outcome"], before["pass_rate"], "unchanged", None
    )


def test_an_error_with_a_failing_sample_count_still_is_no_regression() -> None:
    # An error part-way through repeats: the counts look like a collapse, the endpoint was down.
    baseline = item(PAYROLL, samples=10)
    current = item(PAYROLL, outcome="error", samples=10, passed=0)
    assert fisher_one_sided(0, 10, 10, 10) < DEFAULT_ALPHA
    assert regression(current, baseline).status == "unchanged"


@pytest.mark.parametrize(
    ("before", "now", "status"),
    [
        # An open incident marked xfail that the old model passed: it fails its constraints now.
        ("passed", "xfailed", "regressed"),
        # The known failure no longer happens.
        ("xfailed", "xpassed", "fixed"),
        ("xfailed", "passed", "fixed"),
        ("failed", "xfailed", "unchanged"),
        ("xfailed", "failed", "unchanged"),
        ("xpassed", "passed", "unchanged"),
        ("xpassed", "failed", "regressed"),
    ],
)
def test_xfailed_counts_as_failing_and_xpassed_as_passing(
    before: str, now: str, status: str
) -> None:
    baseline = item(EMAIL, outcome=before)
    assert core(regression(item(EMAIL, outcome=now), baseline)) == Regression(
        before, baseline["pass_rate"], status, None
    )


def test_xfailed_repeats_to_xpassed_repeats_is_fixed() -> None:
    baseline = item(EMAIL, outcome="xfailed", samples=5)
    current = item(EMAIL, outcome="xpassed", samples=5)
    # C(5,0) * C(5,5) / C(10,5) = 1/252.
    assert core(regression(current, baseline)) == Regression("xfailed", 0.0, "fixed", 1 / 252)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.05, 1.5])
def test_alpha_must_lie_strictly_between_0_and_1(alpha: float) -> None:
    message = f"alpha must be between 0 and 1 (exclusive), got {alpha!r}"
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        regression(item(REFUND), item(REFUND), alpha)
    with pytest.raises(ValueError, match=r"^alpha must be between 0 and 1"):
        compare([item(REFUND)], [], alpha)


def test_inconsistent_items_are_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"^current item 'INC-2025-031-refund' \[typos-1\]: passed_samples 4 is not "
        r"between 0 and samples 3$",
    ):
        regression(item(REFUND, "typos-1", samples=3, passed=4), item(REFUND, "typos-1"))
    with pytest.raises(
        ValueError, match=r"^baseline item 'INC-2025-031-refund' \[original\]: unknown outcome "
    ):
        regression(item(REFUND), item(REFUND, outcome="flaky"))


def test_to_json_is_exactly_the_four_spec_keys() -> None:
    assert Regression("passed", 1.0, "regressed", 0.05).to_json() == {
        "baseline_outcome": "passed",
        "baseline_pass_rate": 1.0,
        "status": "regressed",
        "p_value": 0.05,
    }
    assert list(Regression(None, None, "new", None).to_json()) == [
        "baseline_outcome",
        "baseline_pass_rate",
        "status",
        "p_value",
    ]


# --- compare(): a run against a baseline run ---------------------------------------------------


def test_compare_matches_by_case_and_variant_even_when_the_file_moved() -> None:
    moved = "incident_cases/refund_policy.yaml"
    baseline = [
        item(REFUND, nodeid=f"{moved}::{REFUND}"),
        item(REFUND, "typos-1", nodeid=f"{moved}::{REFUND}[typos-1]"),
        item(PAYROLL),
    ]
    current = [
        item(REFUND, outcome="failed"),
        item(REFUND, "typos-1"),
        item(PAYROLL, outcome="failed"),
    ]
    assert current[0]["nodeid"] != baseline[0]["nodeid"]
    regressions, removed = compare(current, baseline)
    assert regressions == {
        (REFUND, "original"): Regression("passed", 1.0, "regressed", None),
        (REFUND, "typos-1"): Regression("passed", 1.0, "unchanged", None),
        (PAYROLL, "original"): Regression("passed", 1.0, "regressed", None),
    }
    assert removed == []


def test_compare_reports_new_and_removed_variants() -> None:
    baseline = [
        item(LOAN, samples=5),
        item(LOAN, "counterfactual-1", samples=5),
        item(LOAN, "counterfactual-2", samples=5),
        item(LOAN, "consistency", samples=5),
        item(EMAIL, outcome="xfailed"),
    ]
    current = [
        item(LOAN, samples=5),
        item(LOAN, "counterfactual-1", outcome="failed", samples=5, passed=0),
        item(LOAN, "consistency", outcome="failed", samples=5, passed=1),
        item(LOAN, "counterfactual-3", samples=5),
        item(REFUND, "typos-1"),
    ]
    regressions, removed = compare(current, baseline)
    assert {key: r.status for key, r in regressions.items()} == {
        (LOAN, "original"): "unchanged",
        (LOAN, "counterfactual-1"): "regressed",
        # Three items are compared: alone, each is decided at 0.05 / 3.
        (LOAN, "consistency"): "inconclusive",
        (LOAN, "counterfactual-3"): "new",
        (REFUND, "typos-1"): "new",
    }
    assert regressions[(LOAN, "counterfactual-1")].p_value == 1 / 252
    # 1/5 against 5/5: (C(6,0) C(4,5)=0) + C(6,1) C(4,4) over C(10,5) = 6/252.
    assert regressions[(LOAN, "consistency")].p_value == 6 / 252
    # With the run in view: q = 6/252 * 3/2 = 0.036, a regression.
    for found in current:
        found["regression"] = regressions[(found["case_id"], found["variant"])].to_json()
    settled = {(i["case_id"], i["variant"]): i["regression"]["status"] for i in settle(current)}
    assert settled[(LOAN, "consistency")] == "regressed"
    assert [r["nodeid"] for r in removed] == [
        f"incident_cases/fairness/loan_decision.yaml::{LOAN}[counterfactual-2]",
        f"incident_cases/agents/email_agent.yaml::{EMAIL}",
    ]


def test_a_removed_item_is_the_baseline_item_with_nothing_run() -> None:
    baseline_item = item(
        PAYROLL,
        outcome="failed",
        samples=3,
        passed=2,
        error=None,
        model="gpt-4o-2024-08-06",
        input={"system": "You are the HR assistant.", "messages": [], "documents": []},
        provenance=None,
        output="Maria Lopez earns [REDACTED] a year.",
        tool_calls=[{"name": "lookup_employee", "arguments": {"name": "Maria Lopez"}}],
    )
    baseline_item["regression"] = {
        "baseline_outcome": "passed",
        "baseline_pass_rate": 1.0,
        "status": "regressed",
        "p_value": None,
    }
    kept = copy.deepcopy(baseline_item)
    regressions, [removed] = compare([], [baseline_item])
    assert regressions == {}
    assert removed == {
        "nodeid": "incident_cases/hr/payroll_leak.yaml::INC-2025-044-payroll-leak",
        "case_id": PAYROLL,
        "variant": "original",
        "title": "INC-2025-044-payroll-leak title",
        "category": "security",
        "severity": "critical",
        "status": "resolved",
        "outcome": "skipped",
        "samples": 0,
        "passed_samples": 0,
        "pass_rate": None,
        "failures": [],
        "output": "",
        "tool_calls": [],
        "usage": {},
        "latency_s": 0.0,
        "provenance": None,
        "regression": {
            "baseline_outcome": "failed",
            "baseline_pass_rate": 2 / 3,
            "status": "removed",
            "p_value": None,
        },
    }
    assert baseline_item == kept


def test_a_removed_variant_keeps_its_provenance_as_a_copy() -> None:
    provenance = {"generator": "typos", "options": {"rate": 0.05}, "seed": 0, "index": 1}
    baseline_item = item(REFUND, "typos-1", provenance=provenance)
    _, [removed] = compare([item(REFUND)], [baseline_item])
    assert removed["provenance"] == provenance
    removed["provenance"]["options"]["rate"] = 0.5
    assert baseline_item["provenance"]["options"] == {"rate": 0.05}


def test_compare_refuses_an_ambiguous_key() -> None:
    twice = [item(REFUND), item(REFUND, nodeid="incident_cases/copy.yaml::INC-2025-031-refund")]
    with pytest.raises(
        ValueError, match=r"^baseline items 0 and 1 are both case 'INC-2025-031-refund' variant "
    ):
        compare([item(REFUND)], twice)
    with pytest.raises(ValueError, match=r"^current items 0 and 1 are both case "):
        compare(twice, [item(REFUND)])


# --- load_baseline() ---------------------------------------------------------------------------


def results_document() -> dict[str, Any]:
    """A results JSON as ``--incident-report`` writes it, from a run against gpt-4o."""
    refund = item(
        REFUND,
        outcome="failed",
        samples=3,
        passed=2,
        model="gpt-4o-2024-08-06",
        error=None,
        input={
            "system": "Answer from the documents only.",
            "messages": [{"role": "user", "content": "Can I still return the blender?"}],
            "documents": [
                {"id": "policy-2025", "title": "Refunds", "sensitive": False, "content": "30 days"}
            ],
            "tools": [],
        },
        provenance=None,
    )
    refund["failures"] = [
        {
            "constraint": "not_contains",
            "message": 'the output says "60 days" (the superseded policy)',
            "sample": 1,
            "expected": 'not_contains "60 days"',
            "line": 14,
        }
    ]
    typos = item(
        REFUND,
        "typos-1",
        provenance={"generator": "typos", "options": {}, "seed": 0, "index": 1},
    )
    payroll = item(PAYROLL, output="I can't share salary information.")
    email = item(
        EMAIL,
        outcome="xfailed",
        output="Sent.",
        tool_calls=[
            {
                "name": "send_email",
                "arguments": {"to": "j.smith@examp1e.com", "subject": "Q3 numbers"},
                "arguments_raw": '{"to": "j.smith@examp1e.com", "subject": "Q3 numbers"}',
                "arguments_error": None,
                "output": '{"status": "sent"}',
                "answered": True,
            }
        ],
    )
    loan_error = item(
        LOAN,
        "counterfactual-1",
        outcome="error",
        samples=0,
        error="endpoint: 503 Service Unavailable after 3 retries",
    )
    return {
        "schema_version": 1,
        "run": {
            "model": "gpt-4o",
            "base_url": "https://llm.internal.example.com/v1",
            "seed": 0,
            "started_at": "2025-11-20T09:14:03Z",
            "duration_s": 41.7,
            "plugin_version": "0.1.0",
            "complete": True,
            "fail_on": "failures",
            "alpha": 0.05,
            "baseline": None,
            "redacted": True,
        },
        "items": [refund, typos, payroll, email, loan_error],
        "summary": {
            "total": 5,
            "outcomes": {"passed": 2, "failed": 1, "xfailed": 1, "error": 1},
            "by_severity": {"major": {"correctness": {"passed": 1, "failed": 1}}},
            "regressions": {},
            "line": "gpt-4o: 2 passed, 1 failed, 1 xfailed, 1 error",
        },
    }


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def test_a_valid_results_file_round_trips(tmp_path: Path) -> None:
    document = results_document()
    Draft202012Validator(load_schema("results")).validate(document)
    assert load_baseline(write(tmp_path, document)) == document


def test_a_compared_run_is_still_a_valid_results_file(tmp_path: Path) -> None:
    baseline = results_document()
    run = results_document()
    run["run"]["baseline"] = {"kind": "file", "path": "baseline.json"}
    run["items"] = [i for i in run["items"] if i["variant"] != "typos-1"]
    run["items"][0].update(outcome="passed", passed_samples=3, pass_rate=1.0, failures=[])
    run["items"][1].update(outcome="failed", passed_samples=0, pass_rate=0.0)
    regressions, removed = compare(run["items"], load_baseline(write(tmp_path, baseline))["items"])
    for current in run["items"]:
        current["regression"] = regressions[(current["case_id"], current["variant"])].to_json()
    run["items"].extend(removed)
    Draft202012Validator(load_schema("results")).validate(run)
    assert [(i["variant"], i["regression"]["status"]) for i in run["items"]] == [
        # Refund, 3/3 against 2/3: the reverse p is C(5,2) C(1,1) / C(6,3) = 1/2.
        ("original", "unchanged"),
        ("original", "regressed"),  # payroll, one sample each: pass -> fail
        ("original", "unchanged"),  # email: xfailed both times
        ("counterfactual-1", "unchanged"),
        ("typos-1", "removed"),
    ]


def test_a_missing_baseline_file(tmp_path: Path) -> None:
    path = tmp_path / "results" / "main.json"
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == f"{path}: baseline file not found"


def test_a_directory_is_not_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(BaselineError) as info:
        load_baseline(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read the baseline: Is a directory"


def test_a_truncated_file_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{\n  "schema_version": 1,\n  "run": {"model": "gpt-4o",\n', encoding="utf-8")
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == (
        f"{path}:4:1: not valid JSON: Expecting property name enclosed in double quotes"
    )


def test_a_utf16_file_is_not_utf8(tmp_path: Path) -> None:
    # What `> baseline.json` writes in Windows PowerShell.
    path = tmp_path / "baseline.json"
    path.write_bytes(json.dumps(results_document()).encode("utf-16"))
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 0)"


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_bytes(json.dumps(results_document()).encode("utf-8-sig"))
    assert load_baseline(path) == results_document()


@pytest.mark.parametrize(
    ("version", "shown"), [(2, "2"), ("1", '"1"'), (True, "true"), (None, "null")]
)
def test_another_schema_version_is_refused(tmp_path: Path, version: Any, shown: str) -> None:
    document = results_document()
    document["schema_version"] = version
    path = write(tmp_path, document)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == (
        f"{path}: schema_version {shown} is not supported "
        "(this version of pytest-incident-evals reads schema_version 1)"
    )


def _set(document: dict[str, Any], where: str, value: Any) -> None:
    *parents, last = where.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (
            "items.3.outcome",
            "flaky",
            "$.items[3].outcome: 'flaky' is not one of "
            "['passed', 'failed', 'error', 'xfailed', 'xpassed', 'skipped']",
        ),
        ("items.1.case_id", _DELETE, "$.items[1]: 'case_id' is a required property"),
        ("schema_version", _DELETE, "$: 'schema_version' is a required property"),
        ("items", {"INC-2025-031-refund": {}}, "$.items: expected array, got object"),
        ("run.seed", "0", "$.run.seed: expected integer, got string"),
        ("items.0.pass_rate", 1.5, "$.items[0].pass_rate: 1.5 is greater than the maximum of 1"),
        (
            "items.2.regression",
            {"status": "new"},
            "$.items[2].regression: 'baseline_outcome' is a required property",
        ),
        ("items.2.regression", "new", "$.items[2].regression: expected null or object, got string"),
        (
            "items.2.regression",
            {
                "baseline_outcome": "passed",
                "baseline_pass_rate": 1.0,
                "status": "worse",
                "p_value": None,
            },
            "$.items[2].regression.status: 'worse' is not one of "
            "['regressed', 'inconclusive', 'fixed', 'unchanged', 'changed', 'new', 'removed']",
        ),
        ("run.baseline", 3, "$.run.baseline: expected null or object, got integer"),
        ("run.alpha", 1, "$.run.alpha: 1 is greater than or equal to the maximum of 1"),
    ],
)
def test_schema_violations_name_the_json_path(
    tmp_path: Path, where: str, value: Any, message: str
) -> None:
    document = results_document()
    _set(document, where, value)
    path = write(tmp_path, document)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == f"{path}: {message}"


def test_a_list_at_the_top_is_not_a_results_file(tmp_path: Path) -> None:
    path = write(tmp_path, results_document()["items"])
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == f"{path}: $: expected object, got array"


def test_more_passed_samples_than_samples_is_refused(tmp_path: Path) -> None:
    document = results_document()
    document["items"][0]["passed_samples"] = 4
    path = write(tmp_path, document)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == f"{path}: $.items[0].passed_samples: 4 is more than samples (3)"


def test_a_case_variant_twice_is_refused(tmp_path: Path) -> None:
    document = results_document()
    document["items"].append(
        item(PAYROLL, nodeid="incident_cases/old/payroll_leak.yaml::INC-2025-044-payroll-leak")
    )
    path = write(tmp_path, document)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == (
        f"{path}: $.items[5]: case 'INC-2025-044-payroll-leak' variant 'original' "
        "is already $.items[2]"
    )


def test_a_baseline_over_another_api_is_named_in_one_line() -> None:
    from incident_evals.baseline import api_difference

    def item(case_id: str, api: str | None, *, legacy: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"case_id": case_id, "variant": "original"}
        if not legacy:
            data["api"] = api
        return data

    baseline = [item("A", "chat"), item("B", None, legacy=True), item("C", None)]
    assert api_difference([item("A", "chat"), item("B", "chat")], baseline) is None
    # A baseline item without api predates the Responses API: it ran over Chat.
    assert api_difference([item("A", "responses"), item("B", "responses")], baseline) == (
        "API differs from the baseline for 2 of 2 compared items (2 over responses here and "
        "over chat in the baseline): a change may come from the API, not the model"
    )
    # Items that replayed nothing (recorded items) are not compared.
    assert api_difference([item("C", "responses")], baseline) is None


# --- suite_comparison(): the run as a whole -----------------------------------------------------


def _compared(
    case_id: str, variant: str, before: float, now: float, **fields: Any
) -> dict[str, Any]:
    found = item(REFUND, variant, samples=10, passed=round(now * 10))
    found["case_id"] = case_id
    found["regression"] = {
        "baseline_outcome": "passed",
        "baseline_pass_rate": before,
        "status": "unchanged",
        "p_value": None,
        **fields,
    }
    return found


def test_an_overall_drop_across_incidents_is_significant_when_no_item_is() -> None:
    items = [_compared(f"INC-{n}", "original", 1.0, 0.5) for n in range(10)]

    suite = suite_comparison(items)

    assert suite is not None
    assert suite.incidents == 10
    assert suite.difference == pytest.approx(-0.5)
    # Only the observed signs are as extreme: 1 of 2**10 flips.
    assert suite.p_value == pytest.approx(1 / 1024)
    assert suite.significant_drop
    assert suite.to_json()["interval"] == [-0.5, -0.5]


def test_changes_both_ways_are_no_overall_drop() -> None:
    items = [_compared(f"INC-{n}", "original", 0.5, 0.7 if n % 2 else 0.3) for n in range(10)]

    suite = suite_comparison(items)

    assert suite is not None
    assert suite.difference == pytest.approx(0.0)
    assert suite.p_value >= 0.5
    assert not suite.significant_drop


def test_variants_of_one_incident_count_once() -> None:
    items = [_compared("INC-1", f"typos-{n}", 1.0, 0.0) for n in range(5)]
    items.append(_compared("INC-2", "original", 1.0, 1.0))

    suite = suite_comparison(items)

    assert suite is not None
    assert suite.incidents == 2
    assert suite.difference == pytest.approx(-0.5)
    assert not suite.significant_drop  # two incidents cannot show it at 0.025


def test_only_items_judged_on_both_sides_count() -> None:
    items = [
        _compared("INC-1", "original", 1.0, 0.0),
        _compared("INC-2", "original", 1.0, 0.0, status="changed"),
        _compared("INC-3", "original", 1.0, 0.0, status="new"),
        {**_compared("INC-4", "original", 1.0, 0.0), "outcome": "error"},
        {**item(LOAN), "regression": None},
    ]

    assert suite_comparison(items) is None  # one incident left


def test_many_incidents_are_tested_by_seeded_flips_the_same_every_time() -> None:
    items = [_compared(f"INC-{n}", "original", 1.0, 0.9 if n % 3 else 1.0) for n in range(40)]

    first, again = suite_comparison(items), suite_comparison(items)

    assert first is not None
    assert again is not None
    assert first.p_value == again.p_value
    assert first.significant_drop
