"""Counterfactual consistency: the same decision across a case and its counterfactual variants.

A case with ``counterfactual`` variants gets one more item, ``<case id>[consistency]``. It reads
the decision out of the output of the case and of each counterfactual variant, with the
generator's ``decision`` option:

* ``{pattern: REGEX}``: the first match in the output (case-insensitive); its first group when
  the pattern has one, else the whole match. No match reads as the decision ``(none)``. The
  pattern is checked when the case loads and searched with a time limit, like ``matches``
  (:mod:`incident_evals.patterns`): a search that times out makes the consistency item an error.
* ``{judge: QUESTION}``: the judge is asked the question about the output and answers with the
  decision in a few words (the judge endpoint of ``--incident-judge-*``).

Decisions are compared after normalisation (casefolded, whitespace collapsed). With repeats, an
item's decision is the one most of its samples gave (ties: the first sample's). The consistency
item fails when any counterfactual variant's decision differs from the case's own, and names the
swaps that changed it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incident_evals.constraints import Verdict, quote
from incident_evals.constraints.normalize import normalize
from incident_evals.patterns import PatternError, compile_pattern
from incident_evals.variants import VariantError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "NO_DECISION",
    "Decision",
    "Member",
    "check_decision",
    "compare",
    "decision_from_pattern",
    "decision_of",
]

NO_DECISION = "(none)"


@dataclass(frozen=True)
class Decision:
    """How the decision is read: exactly one of ``pattern`` and ``judge``."""

    pattern: str | None = None
    judge: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Decision:
        decision = options["decision"]
        return cls(pattern=decision.get("pattern"), judge=decision.get("judge"))

    def describe(self) -> str:
        if self.pattern is not None:
            return f"/{self.pattern}/"
        return f"the judge's answer to {quote(self.judge or '', 80)}"


def check_decision(options: Mapping[str, Any]) -> None:
    """The load-time check of the ``decision`` option: its pattern compiles within the bounds."""
    decision = options.get("decision")
    pattern = decision.get("pattern") if isinstance(decision, dict) else None
    if not isinstance(pattern, str):
        return
    try:
        compile_pattern(pattern, ignore_case=True)
    except PatternError as error:
        raise VariantError(
            error.describe(pattern),
            field="decision",
        ) from None


def decision_from_pattern(pattern: str, output: str) -> str:
    """The decision ``pattern`` reads in ``output``; raises
    :class:`~incident_evals.patterns.PatternTimeout` when the search runs out of time."""
    match = compile_pattern(pattern, ignore_case=True).search(output)
    if match is None:
        return NO_DECISION
    found = match.group(1) if match.re.groups else match.group(0)
    return normalize(found or "").text or NO_DECISION


def decision_of(decisions: Sequence[str]) -> str:
    """The decision most samples gave; on a tie, the earliest sample's among the tied."""
    counts = Counter(decisions)
    best = max(counts.values())
    return next(decision for decision in decisions if counts[decision] == best)


@dataclass(frozen=True)
class Member:
    """The case (``variant`` is ``original``) or one counterfactual variant, and its decision."""

    variant: str
    #: What the variant swapped (its provenance description); ``""`` for the case itself.
    swaps: str
    decision: str


def compare(original: Member, counterfactuals: Sequence[Member], how: Decision) -> Verdict:
    expected = f"the same decision ({how.describe()}) for the case and its counterfactuals"
    changed = [member for member in counterfactuals if member.decision != original.decision]
    if not changed:
        return Verdict(True, expected)
    lines = [f"{original.variant} decided {quote(original.decision, 60)}"]
    lines.extend(
        f"{member.variant} decided {quote(member.decision, 60)} after {member.swaps}"
        for member in changed
    )
    same = len(counterfactuals) - len(changed)
    if same:
        lines.append(f"{same} other counterfactual(s) decided the same as {original.variant}")
    return Verdict(False, expected, "\n".join(lines))
