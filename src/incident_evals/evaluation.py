"""Items -> requests -> transcripts -> verdicts -> one item's result, with no pytest in sight.

A *run* is one item of a run of the catalogue: a case or one of its variants (:class:`CaseRun`),
a case's recorded incident (:class:`RecordedRun`), or the decisions of a case and its
counterfactual variants compared (:class:`ConsistencyRun`). Each goes through the same steps,
whoever drives it (the pytest plugin's items, or :meth:`incident_evals.Catalogue.run`):

1. ``dispatch()``: its requests are queued on the session (once; the answers come back on
   futures while other items are judged).
2. ``prepare()``: wait for the answers and judge every sample. What stops the item from being
   judged (an endpoint that cannot answer, a judge that cannot run, a constraint that reaches
   no verdict) is returned as the item's one-line error: an error, never a pass or a failure.
3. ``verdict()``: passed, failed (with what failed, for the report) or skipped, and for a
   failure that does not regress under ``fail_on: regressions`` why it does not block. The
   regression status against the baseline is decided here, once, and carried in the result.
4. ``result_data(error)``: the item's entry in the results document
   (:func:`incident_evals.results.item_data`).

:func:`plan_case` turns one loaded case into its runs, in the order a run reports them.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from incident_evals.case import CaseError, LoadedCase
from incident_evals.client import EndpointError, JudgeError
from incident_evals.constraints import BoundConstraint, UndecidedError, Verdict
from incident_evals.constraints.judge import JudgeCheck, judge_checks
from incident_evals.constraints.normalize import normalize
from incident_evals.constraints.tools import render_call
from incident_evals.evidence import (
    DEFAULT_FIRST_SAMPLES,
    DEFAULT_MAX_SAMPLES,
    PairedEvidence,
    sure_threshold,
)
from incident_evals.options import AUTO
from incident_evals.recorded import (
    RECORDED,
    SelfCheck,
    has_recording,
    recorded_transcript,
    self_check,
    unjudged_check,
)
from incident_evals.results import ItemJson, content_hash, item_data
from incident_evals.secrets import Scrubber, clip
from incident_evals.variants import ORIGINAL, VariantGenerationError, VariantRegistry, expand
from incident_evals.variants.consistency import (
    NO_DECISION,
    Decision,
    Member,
    compare,
    decision_of,
    max_changed,
    rates,
    read_pattern,
)

if TYPE_CHECKING:
    from incident_evals.baseline import Regression
    from incident_evals.case import IncidentCase
    from incident_evals.session import EvalSession
    from incident_evals.transcript import Judgement, ToolCall, Transcript
    from incident_evals.variants import Variant

COUNTERFACTUAL = "counterfactual"
#: Outcomes whose counts say nothing about the model: the item was never judged.
NOT_JUDGED = frozenset({"error", "skipped"})
CONSISTENCY = "consistency"

# What a failure report shows in the terminal and JUnit (the results JSON keeps every text
# whole); every text is scrubbed (incident_evals.secrets) before it is clipped.
OUTPUT_LINES_SHOWN = 20
OUTPUT_LINE_WIDTH = 200
MESSAGE_LINES_SHOWN = 10
MESSAGE_LINE_WIDTH = 300
TOOL_CALL_WIDTH = 200
#: An item's one-line error (endpoint, judge), after scrubbing.
ERROR_WIDTH = 1000
SAMPLES_SHOWN = 3


@dataclass
class GateSettings:
    """How items are judged against a baseline: what fails, and what is compared."""

    fail_on: str = "failures"
    alpha: float = 0.05
    #: Baseline items from a baseline results file, by (case id, variant).
    baseline_items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: A baseline model run side by side with the same requests.
    baseline_model: str | None = None
    #: Critical items whose comparison is inconclusive do not block.
    allow_inconclusive: bool = False
    #: How many items the run compares: each regression is decided at ``alpha / compared``.
    compared: int = 1
    #: Each item's stability class in the baseline file or, failing that, the last run, by
    #: (case id, variant): the marker ``-m flaky`` selects by.
    stability_hints: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Sensitive document content is redacted from reports unless asked otherwise.
    redact: bool = True


@dataclass(frozen=True)
class RunSettings:
    """What every run of one catalogue run shares."""

    session: EvalSession
    gate: GateSettings
    #: Samples per item overriding the cases' ``runs.repeats`` (``None``: the cases'), or
    #: ``auto``: sampled side by side with the baseline model until decided.
    repeats: int | str | None = None
    #: Under ``auto``, the most samples an item takes per side.
    max_samples: int = DEFAULT_MAX_SAMPLES

    @property
    def scrubber(self) -> Scrubber:
        return self.session.scrubber


@dataclass(frozen=True)
class Judged:
    """An item's verdict once its samples are judged."""

    outcome: str  # passed | failed | skipped
    #: Why a failure does not block (a known or new failure under ``fail_on: regressions``).
    not_blocking: str | None = None
    #: The failure as the report shows it (:meth:`describe` of the run).
    failure: Exception | None = None
    skip_reason: str | None = None


def one_line(text: str) -> str:
    return " ".join(text.split())


def shown_lines(text: str, count: int, width: int) -> list[str]:
    """The first ``count`` lines of a scrubbed ``text``, each clipped to ``width``, then how many
    more there were."""
    lines = text.splitlines()
    shown = [clip(line, width) for line in lines[:count]]
    if len(lines) > count:
        shown.append(f"... ({len(lines) - count} more lines)")
    return shown


def shown_call(call: ToolCall, scrub: Callable[[str], str]) -> str:
    """A tool call on one line (``name(arguments)``), scrubbed, then clipped."""
    scrubbed = replace(call, name=scrub(call.name), arguments_raw=scrub(call.arguments_raw))
    return clip(render_call(scrubbed, limit=len(scrubbed.arguments_raw)), TOOL_CALL_WIDTH)


def meets_pass_rate(passed: int, samples: int, min_pass_rate: float) -> bool:
    # Compared in whole samples: 0.7 x 10 is 7.000000000000001 in floating point.
    return passed >= math.ceil(round(min_pass_rate * samples, 9))


def turn_limit(case: IncidentCase) -> BoundConstraint:
    """An agent still calling tools after ``runs.max_turns`` did not finish: that fails the case.

    Judging its last text instead would let a looping agent pass every ``not_*`` constraint.
    """

    def check(transcript: Transcript, case: IncidentCase) -> Verdict:
        if not transcript.truncated:
            return Verdict(passed=True)
        pending = [render_call(c) for c in transcript.tool_calls if not c.answered]
        return Verdict(
            passed=False,
            expected=f"the model stops calling tools within {case.runs.max_turns} turn(s)",
            message=f"still calling tools after {case.runs.max_turns} turn(s): "
            + ", ".join(pending),
        )

    line = case.runs.max_turns_line or case.line
    return BoundConstraint("max_turns", case.runs.max_turns, line, check)


@dataclass
class SampleFailure:
    sample: int
    failures: list[tuple[BoundConstraint, Verdict]]
    transcript: Transcript


class ConstraintsFailed(Exception):
    def __init__(self, failed: list[SampleFailure], samples: int) -> None:
        super().__init__(f"{len(failed)} of {samples} sample(s) failed")
        self.failed = failed
        self.samples = samples


class NotCaught(Exception):
    def __init__(self, check: SelfCheck) -> None:
        super().__init__(check.describe())
        self.check = check


class InconsistentDecisions(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


class Run:
    #: Whether the item's samples are replayed against the endpoint (its results name the API).
    replays = True
    """What every kind of item shares: its case, its label and how it scrubs."""

    case: IncidentCase
    variant_id: str
    settings: RunSettings

    @property
    def label(self) -> str:
        """The case id, with the variant id for anything else: ``INC-1[typos-2]``."""
        if self.variant_id == ORIGINAL:
            return self.case.id
        return f"{self.case.id}[{self.variant_id}]"

    #: An open incident is expected to fail until its fix ships.
    @property
    def expected_to_fail(self) -> bool:
        return False

    #: Known before anything runs: the item is skipped (with this reason).
    skip_reason: str | None = None

    def scrub(self, text: str) -> str:
        """``text`` without credentials and this case's sensitive material."""
        return self.settings.scrubber.text(text, self.case)

    def error_line(self, cause: str) -> str:
        return f"{self.label}: {clip(one_line(self.scrub(cause)), ERROR_WIDTH)}"

    def dispatch(self) -> None:
        """Queue this item's requests (once); nothing for an item that sends none."""

    def prepare(self) -> str | None:
        raise NotImplementedError

    def release(self) -> None:
        """Once the item has made its reports (its result included): drop what no later step
        reads, so that a run's memory does not grow with every item it has run."""

    def verdict(self) -> Judged:
        raise NotImplementedError

    def describe(self, failure: Exception) -> str:
        raise NotImplementedError

    def result_data(self, nodeid: str, outcome: str, error: str | None) -> ItemJson:
        raise NotImplementedError

    #: The item against its baseline, decided once (:meth:`decide_regression`).
    regression: Regression | None = None

    def decide_regression(self, outcome: str, samples: int, passed: int) -> Regression | None:
        """This item against its baseline item, if the run has a baseline: decided once, with
        the verdict, and reused by the report; an item that errored or was skipped is decided
        when its result is made."""
        if self.regression is not None and outcome not in NOT_JUDGED:
            return self.regression
        baseline = self.baseline_item()
        if baseline is None and not self.settings.gate.baseline_items:
            return None
        from incident_evals.baseline import regression

        current = {
            "outcome": outcome,
            "samples": samples,
            "passed_samples": passed,
            "content_hash": self.content_hash(),
        }
        gate = self.settings.gate
        case = self.case
        self.regression = regression(
            current,
            baseline,
            gate.alpha,
            gate.compared,
            case.runs.gate_for(case.incident.severity),
            self.paired_evidence(),
        )
        return self.regression

    def content_hash(self) -> str:
        """What this item tests (:func:`~incident_evals.results.content_hash`)."""
        return content_hash(self.case)

    def paired_evidence(self) -> PairedEvidence | None:
        """The sequential evidence against the baseline, when the item was sampled until
        decided (``--incident-repeats auto``)."""
        return None

    def baseline_item(self) -> Mapping[str, Any] | None:
        """What this item is compared with: its item in the baseline file, if any."""
        return self.settings.gate.baseline_items.get((self.case.id, self.variant_id))

    def _result(
        self,
        nodeid: str,
        outcome: str,
        error: str | None,
        *,
        transcripts: list[Transcript],
        failures: list[tuple[int, str, str, str, int]],
        samples: int,
        passed: int,
        provenance: Mapping[str, Any] | None = None,
        baseline: Mapping[str, Any] | None = None,
    ) -> ItemJson:
        """The item's entry in the results document, compared with its baseline item."""
        return item_data(
            nodeid=nodeid,
            case=self.case,
            variant=self.variant_id,
            outcome=outcome,
            transcripts=transcripts,
            samples=samples,
            failures=failures,
            passed_samples=passed,
            error=error,
            provenance=provenance,
            redacting=self.settings.gate.redact,
            baseline=baseline,
            regression=self.decide_regression(outcome, samples, passed),
            scrubber=self.settings.scrubber,
            api=self.settings.session.api_for(self.case) if self.replays else None,
            content=self.content_hash(),
        )


@dataclass
class _Sequential:
    """What an item sampled until decided (``--incident-repeats auto``) adds: its evidence,
    the lock its top-ups take and the event that says they ended."""

    evidence: PairedEvidence = field(default_factory=PairedEvidence)
    sampling: threading.Lock = field(default_factory=threading.Lock)
    settled: threading.Event = field(default_factory=threading.Event)


class CaseRun(Run):
    """A case, or one of its variants: its samples replayed and judged by its constraints."""

    def __init__(
        self, loaded: LoadedCase, settings: RunSettings, variant: Variant | None = None
    ) -> None:
        self.settings = settings
        self.variant = variant
        self.variant_id = variant.id if variant is not None else ORIGINAL
        self.case = variant.case if variant is not None else loaded.case
        own = variant.constraints if variant is not None else None
        self.constraints = own if own is not None else loaded.constraints
        self.turn_limit = turn_limit(loaded.case)
        self.judges = judge_checks(self.constraints)
        #: ``--incident-repeats auto``: both models sampled side by side, topped up a pair at a
        #: time while the comparison may still turn into a regression.
        self.adaptive = settings.repeats == AUTO and settings.gate.baseline_model is not None
        fixed = settings.repeats if isinstance(settings.repeats, int) else None
        self.samples: int = (
            DEFAULT_FIRST_SAMPLES if self.adaptive else fixed or self.case.runs.repeats
        )
        #: Only ``--incident-repeats auto`` tops samples up: other items (nearly all, and tens
        #: of thousands in a large catalogue) carry no lock, event or evidence of their own.
        self._sequential = _Sequential() if self.adaptive else None
        self.futures: list[Future[Transcript]] | None = None
        self.transcripts: list[Transcript] = []
        #: The side-by-side baseline model's samples.
        self.baseline_futures: list[Future[Transcript]] = []
        self.baseline_transcripts: list[Transcript] = []
        self.failed_samples: list[SampleFailure] = []
        self.baseline_passed: int | None = None
        #: A member of a counterfactual family: its consistency item reads its samples later.
        self.read_later = False

    @property
    def expected_to_fail(self) -> bool:
        return self.case.incident.status == "open"

    @property
    def session(self) -> EvalSession:
        return self.settings.session

    @property
    def evidence(self) -> PairedEvidence:
        """The pairs judged so far under ``--incident-repeats auto``."""
        assert self._sequential is not None, "only an adaptive item has paired evidence"
        return self._sequential.evidence

    @property
    def _sampling(self) -> threading.Lock:
        assert self._sequential is not None
        return self._sequential.sampling

    @property
    def _settled(self) -> threading.Event:
        assert self._sequential is not None
        return self._sequential.settled

    def dispatch(self) -> None:
        """Queue this item's samples (once): each is one chain of requests, tool loop included."""
        if self.futures is not None:
            return
        if self.session.judge_problem(self.judges) is not None:
            # Its verdicts could not be judged: spend no target requests on it.
            self.futures = []
            return
        self.futures = [
            self.session.submit(self.case, sample, self.judges) for sample in range(self.samples)
        ]
        baseline_model = self.settings.gate.baseline_model
        if baseline_model is not None:
            # The same requests and seed, another model: the comparison is like for like.
            self.baseline_futures = [
                self.session.submit(self.case, sample, self.judges, baseline_model)
                for sample in range(self.samples)
            ]
        if self.adaptive:
            for future in (*self.futures, *self.baseline_futures):
                future.add_done_callback(self._sampled)

    def _sampled(self, _: Future[Transcript]) -> None:
        """Under ``auto``, as each sample comes back: once every sample taken is back, the new
        pairs are judged, and one more pair is taken if the comparison may still turn into a
        regression. Runs in the dispatcher's thread, so top-ups go out at once, not when pytest
        reaches the item."""
        try:
            taken = self._top_up()
        except BaseException:
            self._settled.set()
            raise
        for future in taken:
            future.add_done_callback(self._sampled)

    def _top_up(self) -> list[Future[Transcript]]:
        with self._sampling:
            futures = [*(self.futures or ()), *self.baseline_futures]
            if self._settled.is_set() or not all(future.done() for future in futures):
                return []
            if any(future.cancelled() or future.exception() is not None for future in futures):
                # prepare() reports the error; no more requests for an item that has one.
                self._settled.set()
                return []
            assert self.futures is not None
            try:
                while self.evidence.pairs < len(self.futures):
                    pair = self.evidence.pairs
                    self.evidence.add(
                        self._sample_passes(self.baseline_futures[pair].result()),
                        self._sample_passes(self.futures[pair].result()),
                    )
            except UndecidedError:
                self._settled.set()
                return []
            gate = self.settings.gate
            threshold = sure_threshold(gate.compared, gate.alpha)
            if self._hard_failure() or not self.evidence.worth_more_samples(
                threshold, self.settings.max_samples
            ):
                self._settled.set()
                return []
            sample = len(self.futures)
            taken = [
                self.session.submit(self.case, sample, self.judges),
                self.session.submit(self.case, sample, self.judges, gate.baseline_model),
            ]
            self.futures.append(taken[0])
            self.baseline_futures.append(taken[1])
            return taken

    def _sample_passes(self, transcript: Transcript) -> bool:
        return not self._judge_samples([transcript])

    def _hard_failure(self) -> bool:
        """A failing sample under ``runs.gate: any_failure`` where the baseline never failed:
        decided, more samples cannot undo it."""
        evidence = self.evidence
        hard = self.case.runs.gate_for(self.case.incident.severity) == "any_failure"
        return (
            hard
            and evidence.baseline_passed == evidence.pairs
            and evidence.candidate_passed < evidence.pairs
        )

    def _wait_sampled(self) -> None:
        """Under ``auto``, until the top-ups end. Each pending sample's result is asked for:
        without dispatcher threads (answers from recordings), that is what runs it."""
        if not self.adaptive:
            return
        while not self._settled.is_set():
            with self._sampling:
                pending = [
                    future
                    for future in (*(self.futures or ()), *self.baseline_futures)
                    if not future.done()
                ]
            for future in pending:
                # An error is reported by prepare() with the sample it belongs to.
                with contextlib.suppress(EndpointError, CancelledError):
                    future.result()
            if not pending:
                # A callback is taking the next pair: its samples appear in a moment.
                self._settled.wait(0.01)
        assert self.futures is not None
        self.samples = len(self.futures)

    def paired_evidence(self) -> PairedEvidence | None:
        return self.evidence if self.adaptive else None

    def wait(self) -> list[Transcript]:
        """Every sample's transcript (for the consistency item, which reads its family's).

        Raises what the samples raised: :class:`EndpointError`, or ``CancelledError``.
        """
        self.dispatch()
        self._wait_sampled()
        assert self.futures is not None
        if not self.futures:
            problem = self.session.judge_problem(self.judges)
            raise JudgeError(f"its judge constraint cannot run: {problem}", 0)
        return [future.result() for future in self.futures]

    def prepare(self) -> str | None:
        # Waiting for the model belongs here: an endpoint that cannot answer makes the item an
        # error (infrastructure), never a failure.
        self.dispatch()
        self._wait_sampled()
        assert self.futures is not None
        kind, cause = "endpoint", None
        problem = self.session.judge_problem(self.judges)
        if problem is not None:
            lines = [str(c.line) for c in self.constraints if c.name == "judge"]
            where = f"line{'s' if len(lines) > 1 else ''} {', '.join(lines)}"
            kind, cause = "judge", f"the judge constraint ({where}) cannot run: {problem}"
        # Prepared again (a rerun plugin's rerun), it judges the samples once, not twice.
        self.transcripts, self.baseline_transcripts = [], []
        targets = [(future, self.transcripts, "") for future in self.futures]
        baselines = [(f, self.baseline_transcripts, "baseline ") for f in self.baseline_futures]
        for sample, (future, into, side) in enumerate([*targets, *baselines]):
            if cause is not None:
                break
            sample %= self.samples
            try:
                into.append(future.result())
            except EndpointError as exc:
                kind = f"{side}{exc.kind}"
                cause = str(exc) if self.samples == 1 else f"sample {sample}: {exc}"
            except CancelledError:
                cause = "the run stopped before this item's requests were sent"
        if cause is None:
            # Judged here: a constraint that reaches no verdict (a pattern that timed out, a
            # project check that raised) makes the item an error, never a pass or a failure.
            sides = [(self.transcripts, "")]
            if self.baseline_transcripts:
                sides.append((self.baseline_transcripts, "baseline "))
            for transcripts, side in sides:
                try:
                    judged = self._judge_samples(transcripts)
                except UndecidedError as exc:
                    kind, cause = f"{side}constraint", str(exc)
                    break
                if side:
                    self.baseline_passed = self.samples - len(judged)
                else:
                    self.failed_samples = judged
        if cause is None:
            return None
        return self.error_line(f"{kind} error: {cause}")

    def release(self) -> None:
        # Every sample's requests and replies (the recorded answers, parsed), its futures and
        # transcripts: a few kilobytes per item, and nothing reads them once its result is made.
        # Asked again all the same, it would send them again (dispatch), never read stale ones.
        if self.read_later:
            return
        self.futures = None
        self.baseline_futures = []
        self.transcripts = []
        self.baseline_transcripts = []
        self.failed_samples = []

    def _judge_samples(self, transcripts: list[Transcript]) -> list[SampleFailure]:
        failed = []
        for sample, transcript in enumerate(transcripts):
            failures = []
            for constraint in (*self.constraints, self.turn_limit):
                try:
                    verdict = constraint.judge(transcript, self.case)
                except UndecidedError as exc:
                    if self.samples == 1:
                        raise
                    raise UndecidedError(f"sample {sample}: {exc}") from None
                if not verdict.passed:
                    failures.append((constraint, verdict))
            if failures:
                failed.append(SampleFailure(sample, failures, transcript))
        return failed

    def _passes(self, passed: int | None) -> bool:
        return passed is not None and meets_pass_rate(
            passed, self.samples, self.case.runs.min_pass_rate
        )

    def verdict(self) -> Judged:
        passed = self.samples - len(self.failed_samples)
        passing = self._passes(passed)
        regression = self.decide_regression("passed" if passing else "failed", self.samples, passed)
        if passing:
            return Judged("passed")
        failure = ConstraintsFailed(self.failed_samples, self.samples)
        status = regression.status if regression is not None else None
        if self.settings.gate.fail_on == "regressions" and status != "regressed":
            # Known or new failures are reported, not blocking: the upgrade gate.
            return Judged(
                "failed",
                not_blocking=f"{self.label}: failing, but not a regression ({status}); "
                "--incident-fail-on regressions",
                failure=failure,
            )
        return Judged("failed", failure=failure)

    def content_hash(self) -> str:
        made = self.variant.provenance.to_json() if self.variant is not None else None
        return content_hash(self.case, made)

    def baseline_item(self) -> Mapping[str, Any] | None:
        if self.settings.gate.baseline_model is None:
            return super().baseline_item()
        if self.baseline_passed is None:
            # Nothing was judged on the side-by-side model: there is nothing to compare with.
            return None
        return {
            "outcome": "passed" if self._passes(self.baseline_passed) else "failed",
            "samples": self.samples,
            "passed_samples": self.baseline_passed,
        }

    def decide_regression(self, outcome: str, samples: int, passed: int) -> Regression | None:
        if self.settings.gate.baseline_model is not None and self.baseline_passed is None:
            return None
        return super().decide_regression(outcome, samples, passed)

    def result_data(self, nodeid: str, outcome: str, error: str | None) -> ItemJson:
        gate = self.settings.gate
        failures = [
            (sample.sample, constraint.name, verdict.expected, verdict.message, constraint.line)
            for sample in self.failed_samples
            for constraint, verdict in sample.failures
        ]
        baseline = None
        if gate.baseline_model is not None and self.baseline_passed is not None:
            baseline = {
                "model": gate.baseline_model,
                "samples": self.samples,
                "passed_samples": self.baseline_passed,
                "outcome": "passed" if self._passes(self.baseline_passed) else "failed",
            }
        made = self.variant.provenance.to_json() if self.variant is not None else None
        passed = self.samples - len(self.failed_samples) if self.transcripts else 0
        return self._result(
            nodeid,
            outcome,
            error,
            transcripts=self.transcripts,
            failures=failures,
            samples=self.samples,
            passed=passed,
            provenance=made,
            baseline=baseline,
        )

    def describe(self, failure: Exception) -> str:
        assert isinstance(failure, ConstraintsFailed)
        first = failure.failed[0]
        model = first.transcript.model or "?"
        if failure.samples == 1:
            header = f"{self.label}: {self._count(first)} failed (model {model})"
            return "\n".join([header, *self._provenance(), *self._describe_sample(first, "  ")])
        passed = failure.samples - len(failure.failed)
        lines = [
            f"{self.label}: {len(failure.failed)} of {failure.samples} samples failed; pass rate "
            f"{passed / failure.samples:.2f}, needs {self.case.runs.min_pass_rate:.2f} "
            f"(model {model})",
            *self._provenance(),
        ]
        for sample in failure.failed[:SAMPLES_SHOWN]:
            lines.append(f"  sample {sample.sample}: {self._count(sample)} failed")
            lines.extend(self._describe_sample(sample, "    "))
        if len(failure.failed) > SAMPLES_SHOWN:
            lines.append(f"  ... and {len(failure.failed) - SAMPLES_SHOWN} more failing samples")
        return "\n".join(lines)

    def _count(self, sample: SampleFailure) -> str:
        # The turn limit is implicit: it counts only when it is what failed.
        total = len(self.constraints) + any(c is self.turn_limit for c, _ in sample.failures)
        return f"{len(sample.failures)} of {total} constraint(s)"

    def _describe_sample(self, sample: SampleFailure, indent: str) -> list[str]:
        scrub = self.scrub
        lines = []
        for constraint, verdict in sample.failures:
            expected = clip(one_line(scrub(verdict.expected)), MESSAGE_LINE_WIDTH)
            lines.append(f"{indent}{constraint.name} (line {constraint.line}): expected {expected}")
            message = shown_lines(scrub(verdict.message), MESSAGE_LINES_SHOWN, MESSAGE_LINE_WIDTH)
            lines.extend(f"{indent}    {line}" for line in message)
        turns = sample.transcript.turns
        # A regenerated conversation shows every reply the model gave, in order.
        replies = (
            [(f"output, turn {n} of {len(turns)}:", turn) for n, turn in enumerate(turns, 1)]
            if turns
            else [("output:", sample.transcript)]
        )
        for label, reply in replies:
            output = shown_lines(scrub(reply.final_text), OUTPUT_LINES_SHOWN, OUTPUT_LINE_WIDTH)
            lines.append(f"{indent}{label}")
            lines.extend(f"{indent}  | {line}" for line in output or [""])
        for call in sample.transcript.tool_calls:
            pending = "" if call.answered else "  (unanswered: past max_turns)"
            lines.append(f"{indent}tool call: {shown_call(call, scrub)}{pending}")
        return lines

    def _provenance(self) -> list[str]:
        if self.variant is None:
            return []
        made = self.variant.provenance
        seed = "" if made.seed is None else f" (seed {made.seed})"
        description = clip(one_line(self.scrub(made.description)), MESSAGE_LINE_WIDTH)
        return [f"  variant {self.variant_id}{seed}: {description}"]


class RecordedRun(Run):
    """``<case id>[recorded]``: the case's constraints must fail on its recorded incident.

    Offline (no request): see :mod:`incident_evals.recorded`.
    """

    replays = False

    variant_id = RECORDED

    def __init__(self, loaded: LoadedCase, settings: RunSettings) -> None:
        self.settings = settings
        self.loaded = loaded
        self.case = loaded.case
        judges = judge_checks(loaded.constraints)
        #: Why the judge constraints cannot be calibrated in this run (``None``: they can).
        self.uncalibrated = settings.session.judge_problem(judges)
        self.check: SelfCheck | None = unjudged_check(loaded, self.uncalibrated)
        if self.check is not None:
            self.skip_reason = self.scrub(f"{self.label}: {self.check.describe()}")

    def content_hash(self) -> str:
        # What it judges is the recording, not a reply.
        case = self.case
        return content_hash(case, "recorded", case.recorded_output, case.recorded_tool_calls)

    def prepare(self) -> str | None:
        # Judged here: a constraint that reaches no verdict on the recording is an error, and
        # so is a judge that cannot answer.
        session = self.settings.session

        def judge(check: JudgeCheck, transcript: Transcript, index: int) -> Judgement:
            return session.judge(check, transcript, self.case, index)

        try:
            if self.uncalibrated is None:
                self.check = self_check(self.loaded, judge)
            else:
                self.check = self_check(self.loaded, uncalibrated=self.uncalibrated)
        except UndecidedError as exc:
            return self.scrub(f"{self.label}: constraint error: {exc}")
        except JudgeError as exc:
            return self.error_line(f"judge error: calibrating the judge: {exc}")
        return None

    def verdict(self) -> Judged:
        check = self.check
        assert check is not None
        if not check.checkable:
            return Judged("skipped", skip_reason=self.scrub(f"{self.label}: {check.describe()}"))
        if not check.sound:
            return Judged("failed", failure=NotCaught(check))
        return Judged("passed")

    def describe(self, failure: Exception) -> str:
        assert isinstance(failure, NotCaught)
        scrub = self.scrub
        described = shown_lines(
            scrub(f"{self.label}: {failure.check.describe()}"),
            MESSAGE_LINES_SHOWN,
            MESSAGE_LINE_WIDTH,
        )
        lines = described or [self.label]
        output = shown_lines(
            scrub(self.case.recorded_output or ""), OUTPUT_LINES_SHOWN, OUTPUT_LINE_WIDTH
        )
        if output:
            lines.append("  recorded output:")
            lines.extend(f"    | {line}" for line in output)
        lines.extend(
            f"  recorded tool call: {shown_call(call, scrub)}"
            for call in recorded_transcript(self.loaded).tool_calls
        )
        return "\n".join(lines)

    def result_data(self, nodeid: str, outcome: str, error: str | None) -> ItemJson:
        check = self.check
        failures = []
        if check is not None and check.checkable and not check.sound:
            failures = [
                (
                    0,
                    RECORDED,
                    "the constraints fail on the recorded incident and every judge is calibrated"
                    if check.calibrations
                    else "the constraints fail on the recorded incident",
                    check.describe(),
                    self.case.line,
                )
            ]
        samples = 1 if check is not None and check.checkable else 0
        passed = 1 if check is not None and check.sound else 0
        transcript = recorded_transcript(self.loaded)
        if check is not None:
            # The calibration's verdicts (on the recording and the accepted outputs), for the
            # results document's judgements.
            for calibration in check.calibrations:
                transcript.judgements.append(calibration.recorded)
                transcript.judgements.extend(j for _, j in calibration.accepted)
        return self._result(
            nodeid,
            outcome,
            error,
            transcripts=[transcript],
            failures=failures,
            samples=samples,
            passed=passed,
        )


class ConsistencyRun(Run):
    """``<case id>[consistency]``: the case and its counterfactual variants decide alike.

    It waits for the samples of its family (the case and its counterfactual variants, whose
    requests it sends if their own items were deselected) and compares their decisions; see
    :mod:`incident_evals.variants.consistency`.
    """

    variant_id = CONSISTENCY

    def __init__(self, family: list[CaseRun], settings: RunSettings) -> None:
        self.settings = settings
        self.family = family
        for member in family:
            member.read_later = True
        self.case = family[0].case
        spec = next(s for s in self.case.variants.generate if s.name == COUNTERFACTUAL)
        self.decision = Decision.from_options(spec.options)
        self.max_changed = max_changed(spec.options)
        self.decisions: list[Member] = []
        self.compared: Verdict | None = None

    def content_hash(self) -> str:
        # What it compares depends on how the family was made too.
        generators = [spec for spec in self.case.variants.generate if spec.name == COUNTERFACTUAL]
        return content_hash(self.case, CONSISTENCY, [(g.options, g.count) for g in generators])

    def dispatch(self) -> None:
        for member in self.family:
            member.dispatch()

    def prepare(self) -> str | None:
        session = self.settings.session
        if self.decision.judge is not None:
            problem = session.judge_problem([JudgeCheck("", None, "")])
            if problem is not None:
                return self.error_line(f"judge error: reading decisions with the judge: {problem}")
        self.dispatch()
        for member in self.family:
            try:
                transcripts = member.wait()
                read = [
                    self._read(transcript, member.case, sample)
                    for sample, transcript in enumerate(transcripts)
                ]
            except EndpointError as exc:
                return self.error_line(f"{exc.kind} error: {member.label}: {exc}")
            except CancelledError:
                return self.error_line(
                    "endpoint error: the run stopped before this item's requests were sent"
                )
            except UndecidedError as exc:
                # The decision pattern timed out on this output: no decision to compare.
                return self.error_line(f"decision error: {member.label}: {exc}")
            provenance = member.variant.provenance if member.variant else None
            decision = decision_of([found for found, _ in read])
            span = next(text for found, text in read if found == decision)
            self.decisions.append(
                Member(
                    member.variant_id,
                    provenance.description if provenance else "",
                    decision,
                    provenance.attributes if provenance else (),
                    span,
                )
            )
        return None

    def _read(self, transcript: Transcript, case: IncidentCase, sample: int) -> tuple[str, str]:
        """The decision of one sample, and the text it was read from."""
        if self.decision.pattern is not None:
            return read_pattern(self.decision.pattern, transcript.final_text)
        assert self.decision.judge is not None
        answer = self.settings.session.extract_decision(
            self.decision.judge, transcript, case, sample
        )
        return normalize(answer).text or NO_DECISION, answer

    def verdict(self) -> Judged:
        compared = self.compared = compare(
            self.decisions[0], self.decisions[1:], self.decision, self.max_changed
        )
        if not compared.passed:
            return Judged("failed", failure=InconsistentDecisions(compared))
        return Judged("passed")

    def describe(self, failure: Exception) -> str:
        assert isinstance(failure, InconsistentDecisions)
        verdict = failure.verdict
        expected = clip(one_line(self.scrub(verdict.expected)), MESSAGE_LINE_WIDTH)
        lines = [
            f"{self.label}: the decision changed across counterfactuals",
            f"  expected {expected}",
        ]
        message = self.scrub(verdict.message)
        lines.extend(
            f"    {line}"
            for line in shown_lines(message, MESSAGE_LINES_SHOWN * 3, MESSAGE_LINE_WIDTH)
        )
        return "\n".join(lines)

    def result_data(self, nodeid: str, outcome: str, error: str | None) -> ItemJson:
        compared = self.compared
        failures = (
            [(0, CONSISTENCY, compared.expected, compared.message, self.case.line)]
            if compared is not None and not compared.passed
            else []
        )
        samples = 1 if compared is not None else 0
        passed = 1 if compared is not None and compared.passed else 0
        data = self._result(
            nodeid,
            outcome,
            error,
            transcripts=[],
            failures=failures,
            samples=samples,
            passed=passed,
        )
        if compared is not None:
            by_attribute, by_combination = rates(self.decisions[0], self.decisions[1:])
            data["consistency"] = {
                "max_changed": self.max_changed,
                "attributes": {rate.name: rate.to_json() for rate in by_attribute},
                "combinations": {rate.name: rate.to_json() for rate in by_combination},
            }
        return data


@dataclass(frozen=True)
class Planned:
    """One item of a case, before anything runs: its name in the file, and what runs it."""

    name: str
    run: Run | None = None
    #: A variant generator that could not make its variants: the item is this error.
    error: CaseError | None = None


def plan_case(
    loaded: LoadedCase,
    settings: RunSettings,
    *,
    seed: int,
    selection: int | None,
    generators: Callable[[], VariantRegistry],
) -> list[Planned]:
    """A case's items in the order they report: the case, its recorded incident, its variants
    (a generator that fails is one error in their place), then its consistency check."""
    case = loaded.case
    original = CaseRun(loaded, settings)
    planned = [Planned(case.id, original)]
    if has_recording(loaded):
        planned.append(Planned(f"{case.id}[{RECORDED}]", RecordedRun(loaded, settings)))
    session = settings.session
    complete = session.complete_with_generator if session.generator else None
    family = [original]
    registry = generators() if case.variants.generate else VariantRegistry()
    for variant in expand(loaded, seed, registry, selection, complete):
        if isinstance(variant, VariantGenerationError):
            # That generator's variants are missing; the case's others still run.
            error = CaseError(case.path, variant.line, str(variant), "variants.generate")
            planned.append(Planned(f"{case.id}[{variant.generator}]", error=error))
            continue
        run = CaseRun(loaded, settings, variant)
        if variant.provenance.generator == COUNTERFACTUAL:
            family.append(run)
        planned.append(Planned(f"{case.id}[{variant.id}]", run))
    if len(family) > 1:
        planned.append(Planned(f"{case.id}[{CONSISTENCY}]", ConsistencyRun(family, settings)))
    return planned


def outcome_of(run: Run) -> tuple[str, str | None]:
    """The results outcome of a run driven outside pytest, and its error: what the pytest items
    report for the same run (an open incident's failure is ``xfailed``, its pass ``xpassed``; a
    failure that does not block under ``fail_on: regressions`` is ``xfailed``)."""
    if run.skip_reason is not None:
        return "skipped", None
    error = run.prepare()
    if error is not None:
        return "error", error
    judged = run.verdict()
    if judged.outcome == "skipped":
        return "skipped", None
    if judged.outcome == "failed":
        expected = run.expected_to_fail or judged.not_blocking is not None
        return ("xfailed" if expected else "failed"), None
    return ("xpassed" if run.expected_to_fail else "passed"), None
