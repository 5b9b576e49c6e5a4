from __future__ import annotations

import math
import random

import pytest

from incident_evals.evidence import (
    MAX_BET,
    PairedEvidence,
    bet,
    e_bh,
    pairs_needed,
    smallest_detectable_drop,
    stability,
    sure_threshold,
    wilson,
)


@pytest.mark.parametrize(
    ("favourable", "unfavourable", "expected"),
    [(0, 0, 0.0), (1, 0, 0.5), (2, 0, 2 / 3), (0, 3, 0.0), (1, 1, 0.0), (1000, 0, MAX_BET)],
)
def test_the_bet_follows_the_share_of_favourable_pairs_and_is_capped(
    favourable: int, unfavourable: int, expected: float
) -> None:
    assert bet(favourable, unfavourable) == pytest.approx(expected)


def test_concordant_pairs_leave_the_evidence_where_it_was() -> None:
    evidence = PairedEvidence.of([True, False, True], [True, False, True])

    assert (evidence.drop, evidence.rise, evidence.pairs) == (1.0, 1.0, 3)
    assert (evidence.baseline_passed, evidence.candidate_passed) == (2, 2)


def test_drops_grow_the_drop_evidence_by_the_bet_taken_before_each_pair() -> None:
    # Bets before each drop: 0, 1/2, 2/3, 3/4 -> 1 * 1 * 1.5 * (5/3) * 1.75.
    evidence = PairedEvidence.of([True] * 4, [False] * 4)

    assert evidence.drop == pytest.approx(1.5 * 5 / 3 * 1.75)
    assert evidence.rise == pytest.approx(1.0)  # its bets on rises were all 0
    assert (evidence.drops, evidence.rises) == (4, 0)


def test_a_rise_after_drops_costs_the_drop_evidence_its_stake() -> None:
    evidence = PairedEvidence.of([True, True, False], [False, False, True])

    # Third pair: a rise, with bet(2, 0) = 2/3 staked on a drop.
    assert evidence.drop == pytest.approx(1.5 * (1 - 2 / 3))
    assert evidence.rise == pytest.approx(1.0)  # it had never staked anything on a rise


def test_pairs_beyond_the_shorter_side_are_left_out() -> None:
    evidence = PairedEvidence.of([True] * 5, [False] * 2)

    assert evidence.pairs == 2


def test_when_nothing_changed_the_evidence_rarely_ever_reaches_one_over_alpha() -> None:
    # Ville's inequality: P(sup_t E_t >= 1/alpha) <= alpha under the null, looking after every pair.
    rng = random.Random(20261203)
    alpha = 0.05
    runs = 2000
    alarms = 0
    for _ in range(runs):
        rate = rng.choice([0.5, 0.7, 0.9])
        evidence = PairedEvidence()
        for _ in range(60):
            evidence.add(rng.random() < rate, rng.random() < rate)
            if evidence.drop >= 1 / alpha:
                alarms += 1
                break
    assert alarms / runs <= alpha


def test_a_real_drop_is_found_within_thirty_pairs_most_of_the_time() -> None:
    rng = random.Random(7)
    found = 0
    for _ in range(500):
        evidence = PairedEvidence()
        for _ in range(30):
            evidence.add(rng.random() < 0.9, rng.random() < 0.3)
        found += evidence.drop >= sure_threshold(100, 0.05)
    # Per item, at the sure threshold of 100 items; the gate sees five such items at once.
    assert found / 500 >= 0.6


@pytest.mark.parametrize(
    ("baseline", "candidate", "worth_it"),
    [
        ([True] * 3, [True] * 3, False),  # nothing points to a drop
        ([True] * 3, [True, True, False], True),
        ([True, False, True], [False, True, True], False),  # equal passes
        ([True] * 30, [False] + [True] * 29, False),  # at the most samples
    ],
)
def test_only_items_that_point_to_a_reachable_drop_are_topped_up(
    baseline: list[bool], candidate: list[bool], worth_it: bool
) -> None:
    evidence = PairedEvidence.of(baseline, candidate)

    assert evidence.worth_more_samples(sure_threshold(100, 0.05), max_samples=30) is worth_it


def test_an_item_that_cannot_reach_the_threshold_in_the_samples_left_stops() -> None:
    evidence = PairedEvidence.of([True] * 3, [True, True, False])

    assert evidence.worth_more_samples(2000, max_samples=30)
    assert not evidence.worth_more_samples(2000, max_samples=4)


def test_an_item_whose_evidence_reached_the_threshold_stops() -> None:
    evidence = PairedEvidence.of([True] * 20, [False] * 20)

    assert evidence.drop >= 2000
    assert not evidence.worth_more_samples(2000, max_samples=30)


def test_e_bh_rejects_a_lone_item_only_at_the_bonferroni_level() -> None:
    alone = [1.0] * 99

    assert e_bh([2000.0, *alone], 0.05) == [True] + [False] * 99
    assert not any(e_bh([1999.0, *alone], 0.05))


def test_e_bh_lowers_the_bar_for_items_found_together() -> None:
    # Five items at 100 / (0.05 * 5) = 400 are rejected together, none at 399.
    others = [1.0] * 95

    assert e_bh([400.0] * 5 + others, 0.05) == [True] * 5 + [False] * 95
    assert not any(e_bh([399.0] * 5 + others, 0.05))


def test_e_bh_of_nothing_rejects_nothing() -> None:
    assert e_bh([], 0.05) == []


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, math.nan])
def test_alpha_outside_zero_one_is_refused(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        e_bh([1.0], alpha)


def test_pairs_needed_counts_consecutive_drops_to_the_threshold() -> None:
    # Evidence after n drops: 1, 1.5, 2.5, 4.375, 7.875, 14.44, 26.8.
    assert [pairs_needed(t) for t in (1, 1.5, 2, 20, 26)] == [0, 2, 3, 7, 7]
    assert pairs_needed(27) == 8


def test_the_smallest_detectable_drop_is_the_share_of_pairs_that_must_be_drops() -> None:
    needed = pairs_needed(2000)

    assert smallest_detectable_drop(30, 2000) == pytest.approx(needed / 30)
    assert smallest_detectable_drop(needed - 1, 2000) is None
    assert smallest_detectable_drop(0, 2000) is None


@pytest.mark.parametrize(
    ("passed", "samples", "low", "high"),
    [(0, 5, 0.0, 0.4345), (5, 5, 0.5655, 1.0), (3, 10, 0.1078, 0.6032), (0, 0, 0.0, 1.0)],
)
def test_wilson_intervals_match_the_published_formula(
    passed: int, samples: int, low: float, high: float
) -> None:
    assert wilson(passed, samples) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(
    ("passed", "samples", "expected"),
    [
        (5, 5, "stable_pass"),
        (0, 5, "stable_fail"),
        (3, 5, "flaky"),
        (1, 1, "stable_pass"),
        (0, 0, None),
    ],
)
def test_stability_classes(passed: int, samples: int, expected: str | None) -> None:
    assert stability(passed, samples) == expected


@pytest.mark.parametrize("function", [wilson, stability])
def test_more_passes_than_samples_is_refused(function: object) -> None:
    with pytest.raises(ValueError, match="passed must be between 0 and 3"):
        function(4, 3)  # type: ignore[operator]
