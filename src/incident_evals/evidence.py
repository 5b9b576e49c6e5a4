"""The evidence behind the upgrade gate: anytime-valid tests per item, error control across items,
and the intervals reports show. Pure functions of pass/fail samples, no I/O.

Why these tests. The gate compares a baseline model (or an earlier run) with a candidate, item by
item, and may top up the samples of an item whose comparison is undecided. A fixed-sample test
(Fisher's) re-run after every top-up would be "peeking": its false-alarm rate grows with every
look. The evidence here is a *test supermartingale*: under "the candidate does not pass less
often", its expected value never grows, so by Ville's inequality it ever reaching ``1 / alpha``
has probability at most alpha, however many looks and top-ups. Stopping early for lack of
evidence (futility) can only lower the false-alarm rate.

How it is built. Samples of the two sides are paired by their index (sample i of the baseline with
sample i of the candidate; each side's samples are independent and identically distributed, so
the pairs are too). Only discordant pairs carry information: a *drop* (baseline passed, candidate
failed) or a *rise* (the reverse). If the candidate passes at least as often as the baseline, a
discordant pair is a drop with probability at most 1/2. The evidence bets on drops: each
discordant pair multiplies it by ``1 + bet`` (a drop) or ``1 - bet`` (a rise), with the bet chosen
from the pairs seen before (the Krichevsky-Trofimov estimate of the drop share, so it is
predictable) and capped at :data:`MAX_BET` so that one rise never wipes the evidence out.

Across items. Hundreds of items each tested at alpha would raise false alarms somewhere in almost
every run. :func:`e_bh` is the Benjamini-Hochberg procedure for e-values: it controls the false
discovery rate at alpha under any dependence between items, and an item whose evidence reaches
``m / alpha`` (:func:`sure_threshold`) is rejected whatever the others do, which is what lets each
item stop sampling on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_FIRST_SAMPLES",
    "DEFAULT_MAX_SAMPLES",
    "MAX_BET",
    "PairedEvidence",
    "bet",
    "e_bh",
    "pairs_needed",
    "smallest_detectable_drop",
    "stability",
    "sure_threshold",
    "wilson",
]

#: Samples per side every item starts with under ``--incident-repeats auto``.
DEFAULT_FIRST_SAMPLES = 3
#: The most samples per side an item is topped up to (``--incident-max-samples``).
DEFAULT_MAX_SAMPLES = 30
#: The largest share of the evidence staked on one pair: a rise after many drops costs 90 %.
MAX_BET = 0.9
#: 95 % two-sided normal quantile, for Wilson intervals.
_Z95 = 1.959963984540054


def bet(favourable: int, unfavourable: int) -> float:
    """The stake on the next discordant pair, from the pairs seen so far: ``2q - 1`` for the
    Krichevsky-Trofimov estimate ``q`` of the favourable share, between 0 and :data:`MAX_BET`.
    Never negative: betting against the alternative would make it a test of something else."""
    share = (favourable + 0.5) / (favourable + unfavourable + 1)
    return min(max(2 * share - 1, 0.0), MAX_BET)


@dataclass
class PairedEvidence:
    """Anytime-valid evidence, from paired samples, that the candidate passes less often than the
    baseline (``drop``) or more often (``rise``).

    ``drop`` and ``rise`` are two test supermartingales, one per direction, each starting at 1.
    """

    drop: float = 1.0
    rise: float = 1.0
    drops: int = 0
    rises: int = 0
    pairs: int = 0
    baseline_passed: int = 0
    candidate_passed: int = 0

    def add(self, baseline_passed: bool, candidate_passed: bool) -> None:
        """One more pair: sample ``pairs`` of each side."""
        self.pairs += 1
        self.baseline_passed += baseline_passed
        self.candidate_passed += candidate_passed
        if baseline_passed == candidate_passed:
            return
        towards_drop = bet(self.drops, self.rises)
        towards_rise = bet(self.rises, self.drops)
        if baseline_passed:
            self.drop *= 1 + towards_drop
            self.rise *= 1 - towards_rise
            self.drops += 1
        else:
            self.drop *= 1 - towards_drop
            self.rise *= 1 + towards_rise
            self.rises += 1

    @classmethod
    def of(cls, baseline: Sequence[bool], candidate: Sequence[bool]) -> PairedEvidence:
        """The evidence of two sample sequences, paired by index (the longer one's extra samples
        have no partner and are left out)."""
        evidence = cls()
        for baseline_passed, candidate_passed in zip(baseline, candidate, strict=False):
            evidence.add(baseline_passed, candidate_passed)
        return evidence

    def worth_more_samples(self, threshold: float, max_samples: int) -> bool:
        """Whether topping this item up could still turn it into a regression at ``threshold``.

        No, when: the drop evidence already reached it; ``max_samples`` pairs were taken; the
        candidate has passed at least as often as the baseline (nothing points to a drop); or
        even a drop on every remaining pair could not reach it. Only regressions are topped up:
        the gate blocks on them, and a fix found at the samples taken is still reported.
        """
        if self.drop >= threshold or self.pairs >= max_samples:
            return False
        if self.candidate_passed >= self.baseline_passed:
            return False
        best = self.drop * (1 + MAX_BET) ** (max_samples - self.pairs)
        return best >= threshold


def sure_threshold(items: int, alpha: float) -> float:
    """The evidence at which an item is a regression whatever the other items' evidence is:
    ``items / alpha`` (the e-BH threshold of the first rank, which is Bonferroni's)."""
    _check_alpha(alpha)
    return max(items, 1) / alpha


def e_bh(e_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses the e-BH procedure rejects at false discovery rate ``alpha``: the ``k``
    largest e-values, for the largest ``k`` whose ``k``-th largest e-value is at least
    ``m / (alpha * k)``. Valid under any dependence between the e-values."""
    _check_alpha(alpha)
    count = len(e_values)
    order = sorted(range(count), key=lambda index: -e_values[index])
    rejected = 0
    for rank, index in enumerate(order, start=1):
        if e_values[index] >= count / (alpha * rank):
            rejected = rank
    chosen = set(order[:rejected])
    return [index in chosen for index in range(count)]


def pairs_needed(threshold: float) -> int:
    """How many discordant pairs, all drops, take fresh evidence to ``threshold``."""
    if threshold <= 1:
        return 0
    evidence = PairedEvidence()
    # Growth per drop tends to 1 + MAX_BET, so even 1e300 is reached in about 1,100 pairs.
    while evidence.drop < threshold:
        evidence.add(True, False)
    return evidence.drops


def smallest_detectable_drop(pairs: int, threshold: float) -> float | None:
    """The smallest drop in pass rate that ``pairs`` pairs could have shown as a regression at
    ``threshold``: the share of pairs that must be drops (with no rise), or ``None`` when even
    all of them would not be enough."""
    if pairs <= 0:
        return None
    needed = pairs_needed(threshold)
    return needed / pairs if needed <= pairs else None


def wilson(passed: int, samples: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (95 % by default): unlike the normal
    approximation it stays within [0, 1] and is not empty at 0 or ``samples`` passes."""
    if not 0 <= passed <= samples:
        raise ValueError(f"passed must be between 0 and {samples}, got {passed}")
    if samples == 0:
        return 0.0, 1.0
    rate = passed / samples
    spread = z * z / samples
    centre = (rate + spread / 2) / (1 + spread)
    half = z * math.sqrt(rate * (1 - rate) / samples + spread / (4 * samples)) / (1 + spread)
    # The bounds at 0 and at every sample passing are exact; rounding would leave 5e-17.
    low = 0.0 if passed == 0 else max(0.0, centre - half)
    high = 1.0 if passed == samples else min(1.0, centre + half)
    return low, high


def stability(passed: int, samples: int) -> str | None:
    """``stable_pass`` (every sample passed), ``stable_fail`` (none did), ``flaky`` (some did);
    ``None`` for an item that was never sampled."""
    if not 0 <= passed <= samples:
        raise ValueError(f"passed must be between 0 and {samples}, got {passed}")
    if samples == 0:
        return None
    if passed == samples:
        return "stable_pass"
    return "stable_fail" if passed == 0 else "flaky"


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
