"""Case files -> pytest items: ``path::<case id>``, marked by severity and category."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from incident_evals import options
from incident_evals.case import (
    CATEGORIES,
    SEVERITIES,
    CaseError,
    EmptyCaseFileWarning,
    IdClaims,
    LoadedCase,
    catalogue_root,
    claim_id,
    load_file,
)
from incident_evals.client import EndpointError, JudgeError
from incident_evals.constraints import (
    BoundConstraint,
    ConstraintRegistry,
    UndecidedError,
    Verdict,
)
from incident_evals.constraints.judge import JudgeCheck, judge_checks
from incident_evals.constraints.normalize import normalize
from incident_evals.constraints.tools import render_call
from incident_evals.recorded import (
    RECORDED,
    SelfCheck,
    has_recording,
    recorded_transcript,
    self_check,
    unjudged_check,
)
from incident_evals.registries import FolderRegistries, RegistryError
from incident_evals.results import item_data
from incident_evals.secrets import Scrubber, clip
from incident_evals.session import EvalSession
from incident_evals.variants import ORIGINAL, VariantGenerationError, VariantRegistry, expand
from incident_evals.variants.consistency import (
    NO_DECISION,
    Decision,
    Member,
    compare,
    decision_from_pattern,
    decision_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from _pytest._code.code import TerminalRepr

    from incident_evals.baseline import Regression
    from incident_evals.case import IncidentCase
    from incident_evals.transcript import ToolCall, Transcript
    from incident_evals.variants import Variant

CASE_SUFFIXES = (".yaml", ".yml")
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
class CollectState:
    """What collection needs across files: the catalogue roots and every case id seen so far."""

    roots: list[Path]
    #: The built-in constraints; each folder's registry adds what its conftest files register.
    builtins: ConstraintRegistry
    seen_ids: IdClaims
    folders: FolderRegistries = field(init=False)

    def __post_init__(self) -> None:
        self.folders = FolderRegistries(self.builtins)

    def registry_for(self, file: pytest.File) -> ConstraintRegistry:
        """The constraints known to cases in ``file``'s folder, as pytest scopes conftest files."""
        try:
            return self.folders.constraints(file)
        except RegistryError as exc:
            raise file.CollectError(str(exc)) from None

    def variant_registry_for(self, file: pytest.File) -> VariantRegistry:
        """The generators known to cases in ``file``'s folder, scoped like constraints."""
        try:
            return self.folders.variants(file)
        except RegistryError as exc:
            raise file.CollectError(str(exc)) from None


@dataclass
class GateSettings:
    """How items are judged against a baseline (SPEC §7): what fails, and what is compared."""

    fail_on: str = "failures"
    alpha: float = 0.05
    #: Baseline items from ``--incident-baseline``, by (case id, variant).
    baseline_items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: ``--incident-baseline-model``: run side by side.
    baseline_model: str | None = None
    #: Sensitive document content is redacted from reports unless asked otherwise.
    redact: bool = True


COLLECT_STATE = pytest.StashKey[CollectState]()
EVAL_SESSION = pytest.StashKey[EvalSession]()
GATE = pytest.StashKey[GateSettings]()


def scrubber_of(config: pytest.Config) -> Scrubber:
    """The run's scrubber (:mod:`incident_evals.secrets`)."""
    return config.stash[EVAL_SESSION].scrubber


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


def configure_collection(config: pytest.Config) -> CollectState:
    """Markers, case roots, and what a bare ``pytest --incident-evals`` collects."""
    from incident_evals.constraints import builtin_registry

    register_markers(config)
    cases = options.cases_root(config)
    # A catalogue folder that does not exist must not widen content_file's root.
    roots = [cases] if cases.is_dir() else []
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        roots.extend(explicit_paths(config))
    else:
        # A bare `pytest --incident-evals` means the case catalogue, not the test suite.
        if not cases.is_dir():
            raise pytest.UsageError(
                f"--incident-cases: {cases} is not a directory; pass the folder of case files "
                "(default incident_cases) or case paths as arguments"
            )
        config.args = [str(cases)]
    # A bad case file must not stop the other cases (SPEC §10); it still fails the run.
    config.option.continue_on_collection_errors = True
    return CollectState(roots=roots, builtins=builtin_registry(), seen_ids=IdClaims(roots))


def explicit_paths(config: pytest.Config) -> list[Path]:
    """The folders and YAML files named on the command line: case roots too."""
    roots = []
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path.is_dir() or path.suffix in CASE_SUFFIXES:
            roots.append(path)
    return roots


def is_case_file(file_path: Path, roots: list[Path]) -> bool:
    if file_path.suffix not in CASE_SUFFIXES:
        return False
    resolved = file_path.resolve()
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


class IncidentFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        state = self.config.stash[COLLECT_STATE]

        def generators() -> VariantRegistry:
            return state.variant_registry_for(self)

        results = [
            claim_id(result, state.seen_ids, self.config.rootpath)
            for result in load_file(
                self.path,
                catalogue_root(self.path, state.roots),
                state.registry_for(self),
                generators,
            )
        ]
        if len(results) == 1 and isinstance(results[0], CaseError):
            message = results[0].render(self.config.rootpath)
            raise self.CollectError(scrubber_of(self.config).text(message))
        if not results:
            # At line 1 of the file, which Node.warn would give as line 0.
            warnings.warn_explicit(
                EmptyCaseFileWarning(self.path), None, filename=str(self.path), lineno=1
            )
        seed = options.value(self.config, "seed")
        selection = options.value(self.config, "variants")
        for result in results:
            if isinstance(result, CaseError):
                yield InvalidCase.from_parent(self, name=f"line-{result.line}", error=result)
                continue
            original = IncidentItem.from_parent(self, name=result.case.id, loaded=result)
            yield original
            if has_recording(result):
                name = f"{result.case.id}[{RECORDED}]"
                yield RecordedItem.from_parent(self, name=name, loaded=result)
            session = self.config.stash[EVAL_SESSION]
            complete = session.complete_with_generator if session.generator else None
            family = [original]
            declared = result.case.variants
            registry = generators() if declared.generate else VariantRegistry()
            for variant in expand(result, seed, registry, selection, complete):
                if isinstance(variant, VariantGenerationError):
                    # That generator's variants are missing; the case's others still run.
                    error = CaseError(self.path, variant.line, str(variant), "variants.generate")
                    name = f"{result.case.id}[{variant.generator}]"
                    yield InvalidCase.from_parent(self, name=name, error=error)
                    continue
                item = IncidentItem.from_parent(
                    self, name=f"{result.case.id}[{variant.id}]", loaded=result, variant=variant
                )
                if variant.provenance.generator == COUNTERFACTUAL:
                    family.append(item)
                yield item
            if len(family) > 1:
                yield ConsistencyItem.from_parent(
                    self, name=f"{result.case.id}[{CONSISTENCY}]", family=family
                )


class InvalidCase(pytest.Collector):
    """A bad document in a file whose other documents still run: its error is one line."""

    def __init__(self, *, error: CaseError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        message = self.error.render(self.config.rootpath)
        raise self.CollectError(scrubber_of(self.config).text(message))


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


class IncidentItem(pytest.Item):
    def __init__(
        self, *, loaded: LoadedCase, variant: Variant | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.variant = variant
        self.variant_id = variant.id if variant is not None else ORIGINAL
        self.case = variant.case if variant is not None else loaded.case
        own = variant.constraints if variant is not None else None
        self.constraints = own if own is not None else loaded.constraints
        self.turn_limit = turn_limit(loaded.case)
        self.judges = judge_checks(self.constraints)
        self.samples: int = options.value(self.config, "repeats") or self.case.runs.repeats
        self.futures: list[Future[Transcript]] | None = None
        self.transcripts: list[Transcript] = []
        #: The side-by-side baseline model's samples (``--incident-baseline-model``).
        self.baseline_futures: list[Future[Transcript]] = []
        self.baseline_transcripts: list[Transcript] = []
        #: What runtest found, for the results report.
        self.failed_samples: list[SampleFailure] = []
        self.baseline_passed: int | None = None
        if self.case.incident.status == "open":
            # The fix has not shipped: failing is expected, and a pass means it works.
            self.add_marker(
                pytest.mark.xfail(
                    # Only failing constraints are the expected failure: an item that could not
                    # be judged (endpoint or constraint error) stays an error.
                    raises=ConstraintsFailed,
                    strict=True,
                    reason=f"open incident {self.case.id}: expected to fail until its fix ships; "
                    "a pass means the fix works: set incident.status to resolved",
                )
            )
        incident = self.case.incident
        self.add_marker(incident.severity)
        self.add_marker(incident.category)
        self.user_properties.extend(
            [
                ("case_id", self.case.id),
                ("variant", self.variant_id),
                ("severity", incident.severity),
                ("category", incident.category),
            ]
        )

    def dispatch(self) -> None:
        """Queue this item's samples (once): each is one chain of requests, tool loop included."""
        if self.futures is None:
            session = self.config.stash[EVAL_SESSION]
            if session.judge_problem(self.judges) is not None:
                # Its verdicts could not be judged: spend no target requests on it.
                self.futures = []
                return
            self.futures = [
                session.submit(self.case, sample, self.judges) for sample in range(self.samples)
            ]
            baseline_model = self.config.stash[GATE].baseline_model
            if baseline_model is not None:
                # The same requests and seed, another model: the comparison is like for like.
                self.baseline_futures = [
                    session.submit(self.case, sample, self.judges, baseline_model)
                    for sample in range(self.samples)
                ]

    def wait(self) -> list[Transcript]:
        """Every sample's transcript (for the consistency item, which reads its family's).

        Raises what the samples raised: :class:`EndpointError`, or ``CancelledError``.
        """
        self.dispatch()
        assert self.futures is not None
        if not self.futures:
            problem = self.config.stash[EVAL_SESSION].judge_problem(self.judges)
            raise JudgeError(f"its judge constraint cannot run: {problem}", 0)
        return [future.result() for future in self.futures]

    def setup(self) -> None:
        # Waiting for the model belongs to setup: an endpoint that cannot answer makes the item
        # an error (infrastructure), never a failure.
        self.dispatch()
        assert self.futures is not None
        kind, cause = "endpoint", None
        problem = self.config.stash[EVAL_SESSION].judge_problem(self.judges)
        if problem is not None:
            lines = [str(c.line) for c in self.constraints if c.name == "judge"]
            where = f"line{'s' if len(lines) > 1 else ''} {', '.join(lines)}"
            kind, cause = "judge", f"the judge constraint ({where}) cannot run: {problem}"
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
            # Judged here, not in runtest: a constraint that reaches no verdict (a pattern that
            # timed out, a project check that raised) makes the item an error, like an endpoint
            # that cannot answer, never a pass or a failure.
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
            return
        shown = clip(" ".join(self.scrub(cause).split()), ERROR_WIDTH)
        # Raised outside the handler so the report is the one line, not the exception chain.
        pytest.fail(f"{self.label}: {kind} error: {shown}", pytrace=False)

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

    def runtest(self) -> None:
        failed = self.failed_samples
        passed = self.samples - len(failed)
        self.user_properties.append(("pass_rate", f"{passed / self.samples:.4g}"))
        if meets_pass_rate(passed, self.samples, self.case.runs.min_pass_rate):
            return
        gate = self.config.stash[GATE]
        if gate.fail_on == "regressions":
            status = self.regression(passed, gate).status
            if status != "regressed":
                # Known or new failures are reported, not blocking: the upgrade gate.
                pytest.xfail(
                    f"{self.label}: failing, but not a regression ({status}); "
                    "--incident-fail-on regressions"
                )
        raise ConstraintsFailed(failed, self.samples)

    def _passes(self, passed: int | None) -> bool:
        return passed is not None and meets_pass_rate(
            passed, self.samples, self.case.runs.min_pass_rate
        )

    def regression(self, passed: int, gate: GateSettings) -> Regression:
        """This item's regression status, against the baseline file or the baseline model."""
        from incident_evals.baseline import regression

        current = {
            "outcome": "passed" if self._passes(passed) else "failed",
            "samples": self.samples,
            "passed_samples": passed,
        }
        baseline: dict[str, Any] | None = gate.baseline_items.get((self.case.id, self.variant_id))
        if gate.baseline_model is not None:
            baseline = {
                "outcome": "passed" if self._passes(self.baseline_passed) else "failed",
                "samples": self.samples,
                "passed_samples": self.baseline_passed,
            }
        return regression(current, baseline, gate.alpha)

    def result_data(self, error: str | None) -> dict[str, Any]:
        """This item's entry in the results report (without outcome and regression)."""
        gate = self.config.stash[GATE]
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
        return item_data(
            nodeid=self.nodeid,
            case=self.case,
            variant=self.variant_id,
            transcripts=self.transcripts,
            samples=self.samples,
            failures=failures,
            passed_samples=self.samples - len(self.failed_samples) if self.transcripts else 0,
            error=error,
            provenance=made,
            redacting=gate.redact,
            baseline=baseline,
            scrubber=scrubber_of(self.config),
        )

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, ConstraintsFailed):
            return self._describe(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def _describe(self, failed: ConstraintsFailed) -> str:
        first = failed.failed[0]
        model = first.transcript.model or "?"
        if failed.samples == 1:
            header = f"{self.label}: {self._count(first)} failed (model {model})"
            return "\n".join([header, *self._provenance(), *self._describe_sample(first, "  ")])
        passed = failed.samples - len(failed.failed)
        lines = [
            f"{self.label}: {len(failed.failed)} of {failed.samples} samples failed; pass rate "
            f"{passed / failed.samples:.2f}, needs {self.case.runs.min_pass_rate:.2f} "
            f"(model {model})",
            *self._provenance(),
        ]
        for sample in failed.failed[:SAMPLES_SHOWN]:
            lines.append(f"  sample {sample.sample}: {self._count(sample)} failed")
            lines.extend(self._describe_sample(sample, "    "))
        if len(failed.failed) > SAMPLES_SHOWN:
            lines.append(f"  ... and {len(failed.failed) - SAMPLES_SHOWN} more failing samples")
        return "\n".join(lines)

    def _count(self, sample: SampleFailure) -> str:
        # The turn limit is implicit: it counts only when it is what failed.
        total = len(self.constraints) + any(c is self.turn_limit for c, _ in sample.failures)
        return f"{len(sample.failures)} of {total} constraint(s)"

    def scrub(self, text: str) -> str:
        """``text`` without credentials and this case's sensitive material."""
        return scrubber_of(self.config).text(text, self.case)

    def _describe_sample(self, sample: SampleFailure, indent: str) -> list[str]:
        scrub = self.scrub
        lines = []
        for constraint, verdict in sample.failures:
            expected = clip(" ".join(scrub(verdict.expected).split()), MESSAGE_LINE_WIDTH)
            lines.append(f"{indent}{constraint.name} (line {constraint.line}): expected {expected}")
            message = shown_lines(scrub(verdict.message), MESSAGE_LINES_SHOWN, MESSAGE_LINE_WIDTH)
            lines.extend(f"{indent}    {line}" for line in message)
        output = shown_lines(
            scrub(sample.transcript.final_text), OUTPUT_LINES_SHOWN, OUTPUT_LINE_WIDTH
        )
        lines.append(f"{indent}output:")
        lines.extend(f"{indent}  | {line}" for line in output or [""])
        for call in sample.transcript.tool_calls:
            pending = "" if call.answered else "  (unanswered: past max_turns)"
            lines.append(f"{indent}tool call: {shown_call(call, scrub)}{pending}")
        return lines

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"incident {self.label}"

    @property
    def label(self) -> str:
        """The case id, with the variant id for a variant: ``INC-1[typos-2]``."""
        if self.variant is None:
            return self.case.id
        return f"{self.case.id}[{self.variant_id}]"

    def _provenance(self) -> list[str]:
        if self.variant is None:
            return []
        made = self.variant.provenance
        seed = "" if made.seed is None else f" (seed {made.seed})"
        description = clip(" ".join(self.scrub(made.description).split()), MESSAGE_LINE_WIDTH)
        return [f"  variant {self.variant_id}{seed}: {description}"]


class RecordedItem(pytest.Item):
    """``<case id>[recorded]``: the case's constraints must fail on its recorded incident.

    Offline (no request): see :mod:`incident_evals.recorded`.
    """

    def __init__(self, *, loaded: LoadedCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.case = loaded.case
        self.check: SelfCheck | None = unjudged_check(loaded)
        if self.check is not None:
            # Known at collection: the skip then points at the case file.
            reason = self.scrub(f"{self.label}: {self.check.describe()}")
            self.add_marker(pytest.mark.skip(reason=reason))
        for marker in (self.case.incident.severity, self.case.incident.category):
            self.add_marker(marker)
        self.user_properties.extend(
            [
                ("case_id", self.case.id),
                ("variant", RECORDED),
                ("severity", self.case.incident.severity),
                ("category", self.case.incident.category),
            ]
        )

    @property
    def label(self) -> str:
        return f"{self.case.id}[{RECORDED}]"

    def setup(self) -> None:
        # Judged here: a constraint that reaches no verdict on the recording is an error.
        try:
            self.check = self_check(self.loaded)
        except UndecidedError as exc:
            failure = f"{self.label}: constraint error: {exc}"
        else:
            return
        pytest.fail(self.scrub(failure), pytrace=False)

    def scrub(self, text: str) -> str:
        """``text`` without credentials and this case's sensitive material."""
        return scrubber_of(self.config).text(text, self.case)

    def runtest(self) -> None:
        check = self.check
        assert check is not None
        if not check.checkable:
            pytest.skip(self.scrub(f"{self.label}: {check.describe()}"))
        if not check.caught:
            raise NotCaught(check)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, NotCaught):
            scrub = self.scrub
            described = shown_lines(
                scrub(f"{self.label}: {excinfo.value.check.describe()}"),
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
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"incident {self.label}"

    def result_data(self, error: str | None) -> dict[str, Any]:
        check = self.check
        failures = []
        if check is not None and check.checkable and not check.caught:
            failures = [
                (
                    0,
                    RECORDED,
                    "the constraints fail on the recorded incident",
                    check.describe(),
                    self.case.line,
                )
            ]
        return item_data(
            nodeid=self.nodeid,
            case=self.case,
            variant=RECORDED,
            transcripts=[recorded_transcript(self.loaded)],
            samples=1 if check is not None and check.checkable else 0,
            failures=failures,
            passed_samples=1 if check is not None and check.caught else 0,
            error=error,
            provenance=None,
            redacting=self.config.stash[GATE].redact,
            scrubber=scrubber_of(self.config),
        )


class NotCaught(Exception):
    def __init__(self, check: SelfCheck) -> None:
        super().__init__(check.describe())
        self.check = check


COUNTERFACTUAL = "counterfactual"
CONSISTENCY = "consistency"


class ConsistencyItem(pytest.Item):
    """``<case id>[consistency]``: the case and its counterfactual variants decide alike.

    It waits for the samples of its family (the case and its counterfactual variants, whose
    requests it sends if their own items were deselected) and compares their decisions; see
    :mod:`incident_evals.variants.consistency`.
    """

    def __init__(self, *, family: list[IncidentItem], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.family = family
        original = family[0]
        self.case = original.case
        spec = next(s for s in self.case.variants.generate if s.name == COUNTERFACTUAL)
        self.decision = Decision.from_options(spec.options)
        self.decisions: list[Member] = []
        self.verdict: Verdict | None = None
        for marker in (self.case.incident.severity, self.case.incident.category):
            self.add_marker(marker)
        self.user_properties.extend(
            [
                ("case_id", self.case.id),
                ("variant", CONSISTENCY),
                ("severity", self.case.incident.severity),
                ("category", self.case.incident.category),
            ]
        )

    @property
    def label(self) -> str:
        return f"{self.case.id}[{CONSISTENCY}]"

    def scrub(self, text: str) -> str:
        """``text`` without credentials and this case's sensitive material."""
        return scrubber_of(self.config).text(text, self.case)

    def dispatch(self) -> None:
        for member in self.family:
            member.dispatch()

    def setup(self) -> None:
        session = self.config.stash[EVAL_SESSION]
        if self.decision.judge is not None:
            problem = session.judge_problem([JudgeCheck("", None, "")])
            if problem is not None:
                pytest.fail(
                    f"{self.label}: judge error: reading decisions with the judge: {problem}",
                    pytrace=False,
                )
        self.dispatch()
        failure = None
        for member in self.family:
            try:
                transcripts = member.wait()
                decisions = [
                    self._read(transcript, member.case, sample)
                    for sample, transcript in enumerate(transcripts)
                ]
            except EndpointError as exc:
                failure = f"{exc.kind} error: {member.label}: {exc}"
                break
            except CancelledError:
                failure = "endpoint error: the run stopped before this item's requests were sent"
                break
            except UndecidedError as exc:
                # The decision pattern timed out on this output: no decision to compare.
                failure = f"decision error: {member.label}: {exc}"
                break
            swaps = member.variant.provenance.description if member.variant else ""
            self.decisions.append(Member(member.variant_id, swaps, decision_of(decisions)))
        if failure is not None:
            shown = clip(" ".join(self.scrub(failure).split()), ERROR_WIDTH)
            pytest.fail(f"{self.label}: {shown}", pytrace=False)

    def _read(self, transcript: Transcript, case: IncidentCase, sample: int) -> str:
        if self.decision.pattern is not None:
            return decision_from_pattern(self.decision.pattern, transcript.final_text)
        assert self.decision.judge is not None
        session = self.config.stash[EVAL_SESSION]
        answer = session.extract_decision(self.decision.judge, transcript, case, sample)
        return normalize(answer).text or NO_DECISION

    def runtest(self) -> None:
        verdict = self.verdict = compare(self.decisions[0], self.decisions[1:], self.decision)
        if not verdict.passed:
            raise InconsistentDecisions(verdict)

    def result_data(self, error: str | None) -> dict[str, Any]:
        verdict = self.verdict
        failures = (
            [(0, CONSISTENCY, verdict.expected, verdict.message, self.case.line)]
            if verdict is not None and not verdict.passed
            else []
        )
        return item_data(
            nodeid=self.nodeid,
            case=self.case,
            variant=CONSISTENCY,
            transcripts=[],
            samples=1 if verdict is not None else 0,
            failures=failures,
            passed_samples=1 if verdict is not None and verdict.passed else 0,
            error=error,
            provenance=None,
            redacting=self.config.stash[GATE].redact,
            scrubber=scrubber_of(self.config),
        )

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, InconsistentDecisions):
            verdict = excinfo.value.verdict
            expected = clip(" ".join(self.scrub(verdict.expected).split()), MESSAGE_LINE_WIDTH)
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
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"incident {self.label}"


class InconsistentDecisions(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def register_markers(config: pytest.Config) -> None:
    for severity in SEVERITIES:
        config.addinivalue_line(
            "markers", f"{severity}: incident severity {severity} (incident-evals)"
        )
    for category in CATEGORIES:
        config.addinivalue_line(
            "markers", f"{category}: incident category {category} (incident-evals)"
        )
