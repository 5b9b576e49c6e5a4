"""Comparing a run with a baseline: regressions, fixes and the Fisher exact test (SPEC §7).

A baseline is a results JSON from an earlier run (``--incident-baseline PATH``) or the items of a
model run side by side (``--incident-baseline-model``). Items are matched by ``(case_id,
variant)``, never by node id, so a case file that moved keeps its history. Each current item gets a
``regression`` of ``{"baseline_outcome", "baseline_pass_rate", "status", "p_value"}``; status is
decided by these rules, in this order:

- **new**: no baseline item. **removed**: baseline item, no current item.
- Errors are infrastructure, never regressions or fixes: if either side's outcome is ``error``
  (or ``skipped``, or has 0 samples) the status is ``unchanged`` with ``p_value`` null.
- Pass/fail of a side: compare by ``passed_samples``/``samples``; the item-level outcome
  mapping: ``passed``/``xpassed`` count as passing the item, ``failed``/``xfailed`` as failing
  (an xfailed known failure or open incident still failed its constraints).
- One sample on each side: passing -> failing is ``regressed``, failing -> passing is ``fixed``,
  else ``unchanged``; ``p_value`` null (a p-value of one sample each is meaningless: 0.5 at best).
- Otherwise (repeats on either side): p = ``fisher_one_sided(current_passed, current_samples,
  baseline_passed, baseline_samples)``. ``regressed`` when p is at most alpha (the boundary
  counts: p == alpha is a regression). ``fixed`` when the reverse test (baseline lower than
  current) gives a p of at most alpha. Else ``unchanged``. ``p_value`` is the lower-side p for
  regressed and unchanged, the reverse p for fixed.

alpha is 0.05 by default and must lie strictly between 0 and 1.

:func:`fisher_one_sided` is the exact one-sided Fisher test of "the current pass rate is lower
than the baseline's": from the 2x2 table ``[[current_passed, current_failed], [baseline_passed,
baseline_failed]]`` with all margins fixed, the probability under the hypergeometric distribution
that the current run passes ``current_passed`` samples or fewer. It is computed exactly with
integers and rounded to a float once.

A **removed** item is reported as a results item of its own, copied from the baseline with what
this run did not produce emptied: outcome ``skipped``, ``samples`` 0, ``passed_samples`` 0,
``pass_rate`` null, ``failures`` [], ``output`` "", ``tool_calls`` [], ``usage`` {},
``latency_s`` 0, the baseline's ``error``, ``model`` and ``input`` left out, and ``regression``
``{"status": "removed", "baseline_outcome", "baseline_pass_rate", "p_value": null}``.

:func:`load_baseline` reads a baseline file and checks it against the shipped results schema;
every problem is a :class:`BaselineError` with a one-line message that names the file.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from incident_evals.evidence import PairedEvidence, smallest_detectable_drop, wilson
from incident_evals.results import ItemJson, removed_item
from incident_evals.vocabulary import OUTCOMES

__all__ = [
    "DEFAULT_ALPHA",
    "BaselineError",
    "Regression",
    "SuiteComparison",
    "benjamini_hochberg",
    "compare",
    "fisher_detectable_drop",
    "fisher_one_sided",
    "load_baseline",
    "regression",
    "settle",
    "suite_comparison",
]

DEFAULT_ALPHA = 0.05

#: A results item: the typed one a run makes, or a mapping read from a results file.
_Item = TypeVar("_Item", bound=Mapping[str, Any])

#: Outcomes whose counts say nothing about the model: the run never judged it.
_NOT_JUDGED = frozenset({"error", "skipped"})


def fisher_one_sided(
    current_passed: int, current_samples: int, baseline_passed: int, baseline_samples: int
) -> float:
    """One-sided Fisher exact test p-value for 'the current pass rate is lower than the baseline's'
    (H1), from the 2x2 table [[current_passed, current_failed], [baseline_passed, baseline_failed]]:
    P(X <= current_passed) under the hypergeometric distribution with the margins fixed. Exact,
    with math.comb (no scipy)."""
    for name, passed, samples in (
        ("current", current_passed, current_samples),
        ("baseline", baseline_passed, baseline_samples),
    ):
        if not 0 <= passed <= samples:
            raise ValueError(
                f"{name}: passed samples must be between 0 and {samples}, got {passed}"
            )
    total = current_samples + baseline_samples
    passed_total = current_passed + baseline_passed
    failed_total = total - passed_total
    # X (passes in the current row) cannot be below the passes the baseline row cannot hold.
    lowest = max(0, current_samples - failed_total)
    tail = sum(
        math.comb(passed_total, k) * math.comb(failed_total, current_samples - k)
        for k in range(lowest, current_passed + 1)
    )
    # Integer true division rounds once, correctly: 1/20 is exactly the float 0.05, so a p-value
    # on the boundary compares equal to an alpha written as 0.05.
    p: float = tail / math.comb(total, current_samples)
    return p


@dataclass(frozen=True)
class Regression:
    """How one item compares with its baseline item (the ``regression`` of a results item)."""

    baseline_outcome: str | None
    baseline_pass_rate: float | None
    status: str  # one of REGRESSION_STATUSES
    p_value: float | None
    #: The test behind the p-values (``fisher``), ``None`` where no test ran.
    test: str | None = None
    #: One-sided p-values of "the candidate passes less often" and "... more often".
    p_drop: float | None = None
    p_rise: float | None = None
    #: ``p_drop`` adjusted for every item compared in the run (Benjamini-Hochberg).
    q_value: float | None = None
    pass_rate_interval: tuple[float, float] | None = None
    baseline_pass_rate_interval: tuple[float, float] | None = None
    #: The smallest drop in pass rate these samples could have shown as a regression.
    smallest_detectable_drop: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "baseline_outcome": self.baseline_outcome,
            "baseline_pass_rate": self.baseline_pass_rate,
            "status": self.status,
            "p_value": self.p_value,
        }
        if self.test == "any_failure":
            data.update(
                test=self.test,
                pass_rate_interval=_pair(self.pass_rate_interval),
                baseline_pass_rate_interval=_pair(self.baseline_pass_rate_interval),
            )
        elif self.test is not None:
            data.update(
                test=self.test,
                p_drop=self.p_drop,
                p_rise=self.p_rise,
                q_value=self.q_value,
                pass_rate_interval=_pair(self.pass_rate_interval),
                baseline_pass_rate_interval=_pair(self.baseline_pass_rate_interval),
                smallest_detectable_drop=self.smallest_detectable_drop,
            )
        return data


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return list(interval) if interval is not None else None


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")


def _counts(item: Mapping[str, Any], side: str) -> tuple[int, int]:
    samples, passed = item["samples"], item["passed_samples"]
    if not 0 <= passed <= samples:
        raise ValueError(
            f"{side} item {item.get('case_id')!r} [{item.get('variant')}]: "
            f"passed_samples {passed} is not between 0 and samples {samples}"
        )
    return passed, samples


def _outcome(item: Mapping[str, Any], side: str) -> str:
    outcome = item["outcome"]
    if outcome not in OUTCOMES:
        raise ValueError(
            f"{side} item {item.get('case_id')!r} [{item.get('variant')}]: "
            f"unknown outcome {outcome!r}"
        )
    return str(outcome)


def regression(
    current: Mapping[str, Any] | None,
    baseline: Mapping[str, Any] | None,
    alpha: float = DEFAULT_ALPHA,
    compared: int = 1,
    gate: str = "pass_rate",
    evidence: PairedEvidence | None = None,
) -> Regression:
    """How ``current`` compares with ``baseline``, both results-JSON items (mappings with
    outcome, samples, passed_samples, pass_rate) or None where that side has no item.

    Applies the module's rules in order. ``compared`` is how many items the run compares: an
    item is ``regressed`` (or ``fixed``) here only when its p-value is at most ``alpha /
    compared``, a bar that every multiplicity procedure of :func:`settle` accepts, and
    ``inconclusive`` when it is a drop at ``alpha`` on its own but not at that bar (:func:`settle`
    decides those with the whole run in view). Under ``gate`` ``any_failure``, one failing
    sample is a regression when the baseline never failed, without a test. ``evidence``, from an
    item sampled until decided (``--incident-repeats auto``), replaces the Fisher test: its
    p-values are ``1 / E`` of the anytime-valid evidence, valid however the samples were stopped.
    ``baseline_pass_rate`` is the baseline's ``pass_rate``, or passed_samples/samples when it has
    none (a side-by-side baseline model's counts). ValueError for an alpha outside (0, 1),
    ``compared`` below 1, both sides None, an unknown outcome, or passed_samples outside
    0..samples.
    """
    _check_alpha(alpha)
    if compared < 1:
        raise ValueError(f"compared must be at least 1, got {compared!r}")
    if baseline is None:
        if current is None:
            raise ValueError("regression() needs a current item, a baseline item or both")
        return Regression(None, None, "new", None)
    before = _outcome(baseline, "baseline")

    def made(status: str, p_value: float | None = None) -> Regression:
        return Regression(before, _pass_rate(baseline), status, p_value)

    if current is None:
        return made("removed")
    then_hash, now_hash = baseline.get("content_hash"), current.get("content_hash")
    if then_hash is not None and now_hash is not None and then_hash != now_hash:
        # The case was edited since: the two runs tested different things.
        return made("changed")
    now = _outcome(current, "current")
    current_passed, current_samples = _counts(current, "current")
    baseline_passed, baseline_samples = _counts(baseline, "baseline")
    if now in _NOT_JUDGED or before in _NOT_JUDGED or not current_samples or not baseline_samples:
        return made("unchanged")
    if current_samples == 1 and baseline_samples == 1:
        if baseline_passed and not current_passed:
            return made("regressed")
        if current_passed and not baseline_passed:
            return made("fixed")
        return made("unchanged")
    hard = gate == "any_failure" and baseline_passed == baseline_samples
    if hard and current_passed < current_samples:
        # One failing sample of a hard constraint (a leak, a forbidden call) that never failed
        # before is the regression: no statistics can argue it away.
        return dataclasses.replace(
            made("regressed"),
            test="any_failure",
            pass_rate_interval=wilson(current_passed, current_samples),
            baseline_pass_rate_interval=wilson(baseline_passed, baseline_samples),
        )
    bar = alpha / compared
    if evidence is not None:
        test = "sequential"
        lower, higher = min(1.0, 1 / evidence.drop), min(1.0, 1 / evidence.rise)
        detectable = smallest_detectable_drop(evidence.pairs, 1 / bar)
    else:
        test = "fisher"
        lower = fisher_one_sided(current_passed, current_samples, baseline_passed, baseline_samples)
        higher = fisher_one_sided(
            baseline_passed, baseline_samples, current_passed, current_samples
        )
        detectable = fisher_detectable_drop(current_samples, baseline_samples, bar)
    if lower <= bar:
        status, p_value = "regressed", lower
    elif lower <= alpha:
        status, p_value = "inconclusive", lower
    elif higher <= bar:
        status, p_value = "fixed", higher
    elif evidence is not None and evidence.candidate_passed < evidence.baseline_passed:
        # Sampling stopped (at the most samples) with the drop neither shown nor ruled out.
        status, p_value = "inconclusive", lower
    else:
        status, p_value = "unchanged", lower
    return dataclasses.replace(
        made(status, p_value),
        test=test,
        p_drop=lower,
        p_rise=higher,
        pass_rate_interval=wilson(current_passed, current_samples),
        baseline_pass_rate_interval=wilson(baseline_passed, baseline_samples),
        smallest_detectable_drop=detectable,
    )


def fisher_detectable_drop(current_samples: int, baseline_samples: int, bar: float) -> float | None:
    """The smallest drop in pass rate the Fisher test at ``bar`` finds with these samples, in
    the most favourable case (the baseline passing every sample): the share of the current
    samples that must fail. ``None`` when even all of them failing would not be enough."""
    for failed in range(1, current_samples + 1):
        passed = current_samples - failed
        if fisher_one_sided(passed, current_samples, baseline_samples, baseline_samples) <= bar:
            return failed / current_samples
    return None


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order given: an item is a
    discovery at false discovery rate alpha when its q-value is at most alpha."""
    count = len(p_values)
    order = sorted(range(count), key=lambda index: p_values[index])
    adjusted = [1.0] * count
    smallest = 1.0
    for rank in range(count, 0, -1):
        index = order[rank - 1]
        smallest = min(smallest, p_values[index] * count / rank)
        adjusted[index] = smallest
    return adjusted


def settle(items: Sequence[_Item], alpha: float = DEFAULT_ALPHA) -> list[_Item]:
    """The run's items with every tested comparison decided with the whole run in view.

    The p-values of a drop (``p_drop``) of every item a test compared are adjusted together
    (Benjamini-Hochberg: among the items called regressed, the expected share of false alarms
    is at most ``alpha``; when nothing changed at all, the chance of any false alarm is at most
    ``alpha``). An item is ``regressed`` when its ``q_value`` is at most alpha; ``inconclusive``
    when its own p-value is but its adjusted one is not; else ``fixed`` when its ``p_rise``,
    adjusted the same way, is at most alpha; else ``unchanged``. Items without a test (one sample
    a side, errors, new and removed items) keep their status. Items are copied, not changed.
    """
    _check_alpha(alpha)
    tested = [n for n, item in enumerate(items) if _tested(item)]
    drops = benjamini_hochberg([_p(items[n], "p_drop") for n in tested])
    rises = benjamini_hochberg([_p(items[n], "p_rise") for n in tested])
    settled = [copy.deepcopy(item) for item in items]
    for n, q_drop, q_rise in zip(tested, drops, rises, strict=True):
        found: dict[str, Any] = settled[n]["regression"]
        if q_drop <= alpha:
            found.update(status="regressed", p_value=found["p_drop"])
        elif found["p_drop"] <= alpha or (
            found.get("test") == "sequential" and found["status"] == "inconclusive"
        ):
            found.update(status="inconclusive", p_value=found["p_drop"])
        elif q_rise <= alpha:
            found.update(status="fixed", p_value=found["p_rise"])
        else:
            found.update(status="unchanged", p_value=found["p_drop"])
        found["q_value"] = q_drop
    return settled


#: Incidents up to which the sign-flip test enumerates every flip (2**12); above, it samples.
_EXACT_UP_TO = 12
_FLIPS = 10_000


@dataclass(frozen=True)
class SuiteComparison:
    """The run against its baseline as a whole: the mean change in pass rate per incident."""

    #: Incidents compared: each case with its variants is one, so that a case with many
    #: variants does not count many times.
    incidents: int
    #: Mean over incidents of (pass rate now - pass rate in the baseline), in [-1, 1].
    difference: float
    #: An approximate 95 % interval of it (normal, over incidents), for reading, not deciding.
    interval: tuple[float, float]
    #: One-sided p-value of an overall drop: the sign-flip test over incidents.
    p_value: float
    #: A drop at ``alpha / 2``: it blocks (the other half of alpha is the items').
    significant_drop: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "difference": round(self.difference, 6),
            "interval": [round(self.interval[0], 6), round(self.interval[1], 6)],
            "p_value": self.p_value,
            "significant_drop": self.significant_drop,
        }


def suite_comparison(
    items: Sequence[Mapping[str, Any]], alpha: float = DEFAULT_ALPHA
) -> SuiteComparison | None:
    """Every compared item's change in pass rate, averaged per incident (case id), tested for
    an overall drop; ``None`` when fewer than two incidents were compared.

    Items count when both sides were judged (no error, not new, removed or changed). The test
    flips the sign of each incident's change: when both models are the same, which side an
    incident's samples came from is arbitrary, so every flip is as likely as the observed one.
    It is exact (every flip counted up to 12 incidents, else 10,000 seeded draws) and assumes
    nothing about the distribution. Samples topped up under ``--incident-repeats auto`` only
    where the candidate looked worse pull the changes towards none, never towards a drop.
    """
    _check_alpha(alpha)
    changes: dict[str, list[float]] = {}
    for item in items:
        found = item.get("regression")
        if not isinstance(found, Mapping) or found.get("status") in ("new", "removed", "changed"):
            continue
        now, then = item.get("pass_rate"), found.get("baseline_pass_rate")
        if now is None or then is None or item.get("outcome") in _NOT_JUDGED:
            continue
        changes.setdefault(str(item["case_id"]), []).append(float(now) - float(then))
    if len(changes) < 2:
        return None
    per_incident = [statistics.fmean(values) for values in changes.values()]
    count = len(per_incident)
    difference = statistics.fmean(per_incident)
    spread = 1.959963984540054 * statistics.stdev(per_incident) / math.sqrt(count)
    interval = (max(-1.0, difference - spread), min(1.0, difference + spread))
    p_value = _sign_flip_p(per_incident)
    return SuiteComparison(
        count, difference, interval, p_value, difference < 0 and p_value <= alpha / 2
    )


def _sign_flip_p(changes: Sequence[float]) -> float:
    """P(a sign-flipped sum <= the observed sum): the one-sided p-value of a drop."""
    # An incident that did not change flips to itself: leaving it out changes no sum.
    changes = [change for change in changes if change != 0]
    observed = sum(changes) + 1e-9  # ties count as at least as extreme
    if len(changes) <= _EXACT_UP_TO:
        sums = [
            sum(sign * change for sign, change in zip(signs, changes, strict=True))
            for signs in itertools.product((1, -1), repeat=len(changes))
        ]
        return sum(total <= observed for total in sums) / len(sums)
    draws = random.Random(0)
    extreme = sum(
        sum(change if draws.random() < 0.5 else -change for change in changes) <= observed
        for _ in range(_FLIPS)
    )
    return (extreme + 1) / (_FLIPS + 1)


def _p(item: Mapping[str, Any], key: str) -> float:
    value: float = item["regression"][key]
    return value


def _tested(item: Mapping[str, Any]) -> bool:
    found = item.get("regression")
    return isinstance(found, Mapping) and found.get("p_drop") is not None


def _pass_rate(item: Mapping[str, Any]) -> float | None:
    # A side-by-side baseline model's result may carry only its counts.
    if "pass_rate" in item:
        rate: float | None = item["pass_rate"]
        return rate
    samples = item.get("samples") or 0
    return item.get("passed_samples", 0) / samples if samples else None


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    return (str(item["case_id"]), str(item["variant"]))


def _by_key(items: Sequence[Mapping[str, Any]], side: str) -> dict[tuple[str, str], int]:
    """Index of each item by (case_id, variant); a key twice would make matching ambiguous."""
    index: dict[tuple[str, str], int] = {}
    for position, item in enumerate(items):
        first = index.setdefault(_key(item), position)
        if first != position:
            case_id, variant = _key(item)
            raise ValueError(
                f"{side} items {first} and {position} are both case {case_id!r} variant {variant!r}"
            )
    return index


def compare(
    items: Sequence[Mapping[str, Any]],
    baseline_items: Sequence[Mapping[str, Any]],
    alpha: float = DEFAULT_ALPHA,
) -> tuple[dict[tuple[str, str], Regression], list[ItemJson]]:
    """Regression per current item keyed by (case_id, variant); plus 'removed' items: baseline items
    absent from the run, as results items (copied from the baseline, outcome 'skipped', samples 0,
    passed_samples 0, pass_rate null, failures [], output '', tool_calls [], usage {}, latency_s 0,
    regression {status: removed, baseline_outcome, baseline_pass_rate, p_value: null}).

    Removed items come in the baseline's order. A (case_id, variant) that appears twice on one
    side is a ValueError: which item it should be compared with would be a guess.
    """
    _check_alpha(alpha)
    current_index = _by_key(items, "current")
    baseline_index = _by_key(baseline_items, "baseline")
    compared = max(1, sum(key in baseline_index for key in current_index))
    regressions = {
        key: regression(
            items[position],
            baseline_items[baseline_index[key]] if key in baseline_index else None,
            alpha,
            compared,
        )
        for key, position in current_index.items()
    }
    removed = [
        removed_item(baseline_items[position], regression(None, baseline_items[position], alpha))
        for key, position in baseline_index.items()
        if key not in current_index
    ]
    return regressions, removed


def api_difference(
    items: Sequence[Mapping[str, Any]], baseline_items: Sequence[Mapping[str, Any]]
) -> str | None:
    """One line saying that matched items were replayed over different APIs, if any were.

    A baseline item without ``api`` is from a run before the Responses API was spoken: Chat.
    Items that replayed nothing (``api`` null: recorded items) are not counted.
    """
    baseline_api = {_key(item): item.get("api", "chat") for item in baseline_items}
    pairs: dict[tuple[str, str], int] = {}
    matched = 0
    for item in items:
        then = baseline_api.get(_key(item))
        now = item.get("api")
        if then is None or now is None:
            continue
        matched += 1
        if now != then:
            pairs[str(now), str(then)] = pairs.get((str(now), str(then)), 0) + 1
    if not pairs:
        return None
    described = "; ".join(
        f"{count} over {now} here and over {then} in the baseline"
        for (now, then), count in sorted(pairs.items())
    )
    return (
        f"API differs from the baseline for {sum(pairs.values())} of {matched} compared items "
        f"({described}): a change may come from the API, not the model"
    )


class BaselineError(Exception):
    """A baseline file that cannot be used, as one line naming the file and what is wrong."""


def load_baseline(path: Path) -> dict[str, Any]:
    """Read the results JSON at ``path`` to use as a baseline.

    The file must be UTF-8 JSON valid under the shipped results schema (``incident-evals schema
    results``) with ``schema_version`` 1. Beyond the schema, each item's ``passed_samples`` must
    not exceed its ``samples`` and each ``(case_id, variant)`` must appear once, since either
    would make the comparison meaningless. Anything else raises :class:`BaselineError`, one line:

    - ``<path>: baseline file not found`` (or ``cannot read the baseline: <reason>``)
    - ``<path>:<line>:<column>: not valid JSON: <what>``
    - ``<path>: schema_version <v> is not supported (...)``
    - ``<path>: <JSON path>: <schema message>``, e.g. ``$.items[2].outcome: 'flaky' is not
      one of [...]``
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the baseline: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if isinstance(document, dict) and "schema_version" in document:
        version = document["schema_version"]
        # Checked before the schema so that a newer file says so, rather than "1 was expected".
        if version != 1 or isinstance(version, bool):
            raise BaselineError(
                f"{path}: schema_version {json.dumps(version)} is not supported "
                "(this version of pytest-incident-evals reads schema_version 1)"
            )
    from jsonschema import Draft202012Validator

    from incident_evals.case import load_schema
    from incident_evals.schema_errors import results_error
    from incident_evals.schema_refs import no_fetch_registry

    validator = Draft202012Validator(load_schema("results"), registry=no_fetch_registry())
    error = results_error(validator.iter_errors(document))
    if error is not None:
        raise BaselineError(f"{path}: {error}")
    seen: dict[tuple[str, str], int] = {}
    for position, item in enumerate(document["items"]):
        if item["passed_samples"] > item["samples"]:
            raise BaselineError(
                f"{path}: $.items[{position}].passed_samples: {item['passed_samples']} is more "
                f"than samples ({item['samples']})"
            )
        first = seen.setdefault(_key(item), position)
        if first != position:
            raise BaselineError(
                f"{path}: $.items[{position}]: case {item['case_id']!r} variant "
                f"{item['variant']!r} is already $.items[{first}]"
            )
    result: dict[str, Any] = document
    return result
