"""Case files -> pytest items: the pytest front-end of the catalogue's items.

Each case file is an :class:`IncidentFile`; each item of a case (the case, its recorded incident,
its variants, its consistency check; see :func:`incident_evals.evaluation.plan_case`) is an
:class:`EvalItem` named ``path::<case id>`` or ``path::<case id>[<variant>]`` and marked by
severity, category and the case's taxonomy ids. The items only adapt a
:class:`~incident_evals.evaluation.Run` to pytest's protocol: waiting for the answers and
judging them is ``setup`` (what stops an item from being judged is an error, never a failure),
the verdict is ``runtest``, and a failure is reported by ``repr_failure`` as the constraint, what
was expected and the offending output.

A case file, or one document of it, that fails to load is one :class:`LoadErrorItem`
(``path::line-<n>``) that errors with the one-line message: the other cases still run, the error
counts in every total, and pytest's own rules for other files (a broken test module stops the
session) are untouched.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from incident_evals import options
from incident_evals.case import (
    CaseError,
    EmptyCaseFileWarning,
    IdClaims,
    load_claimed,
)
from incident_evals.constraints import ConstraintRegistry
from incident_evals.evaluation import (
    CaseRun,
    ConstraintsFailed,
    GateSettings,
    InconsistentDecisions,
    NotCaught,
    Run,
    RunSettings,
    plan_case,
)
from incident_evals.registries import FolderRegistries, RegistryError
from incident_evals.results import ItemJson, LoadErrorJson, load_error_data
from incident_evals.session import EvalSession
from incident_evals.variants import VariantRegistry
from incident_evals.vocabulary import CATEGORIES, SEVERITIES_ASCENDING

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

CASE_SUFFIXES = (".yaml", ".yml")
#: What an item's run raises to report a failure (:meth:`Run.describe` shows it).
FAILURES = (ConstraintsFailed, NotCaught, InconsistentDecisions)


@dataclass
class CollectState:
    """What collection needs across files: the catalogue roots and every case id seen so far."""

    roots: list[Path]
    #: The built-in constraints; each folder's registry adds what its conftest files register.
    builtins: ConstraintRegistry
    seen_ids: IdClaims
    folders: FolderRegistries = field(init=False)
    #: The taxonomy markers registered so far (:func:`taxonomy_markers`).
    taxonomy_markers: set[str] = field(default_factory=set)
    #: One mark per name, shared by the items (a mark is immutable, as a test function's marks
    #: are shared by its parametrised items): made per item, each costs a lookup in the
    #: registered markers and two objects.
    marks: dict[str, pytest.MarkDecorator] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folders = FolderRegistries(self.builtins)

    def registry_for(self, file: pytest.File) -> ConstraintRegistry:
        """The constraints known to cases in ``file``'s folder, as pytest scopes conftest files;
        :class:`RegistryError` when a conftest hook raised."""
        return self.folders.constraints(file)

    def variant_registry_for(self, file: pytest.File) -> VariantRegistry:
        """The generators known to cases in ``file``'s folder, scoped like constraints."""
        return self.folders.variants(file)

    def mark(self, name: str) -> pytest.MarkDecorator:
        """The mark ``name`` (a severity, category, taxonomy or stability marker)."""
        found = self.marks.get(name)
        if found is None:
            found = self.marks[name] = getattr(pytest.mark, name)
        return found


COLLECT_STATE = pytest.StashKey[CollectState]()
EVAL_SESSION = pytest.StashKey[EvalSession]()
GATE = pytest.StashKey[GateSettings]()


def run_settings(config: pytest.Config) -> RunSettings:
    return RunSettings(
        session=config.stash[EVAL_SESSION],
        gate=config.stash[GATE],
        repeats=options.value(config, "repeats"),
        max_samples=options.value(config, "max_samples"),
    )


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
    def collect(self) -> Iterator[pytest.Item]:
        state = self.config.stash[COLLECT_STATE]

        def generators() -> VariantRegistry:
            return state.variant_registry_for(self)

        try:
            registry = state.registry_for(self)
        except RegistryError as exc:
            yield LoadErrorItem.from_parent(
                self, name="line-1", error=CaseError(self.path, 1, str(exc))
            )
            return
        results = load_claimed(
            self.path, state.roots, registry, generators, state.seen_ids, self.config.rootpath
        )
        if not results:
            # At line 1 of the file, which Node.warn would give as line 0.
            warnings.warn_explicit(
                EmptyCaseFileWarning(self.path), None, filename=str(self.path), lineno=1
            )
        settings = run_settings(self.config)
        seed = options.value(self.config, "seed")
        selection = options.value(self.config, "variants")
        for result in results:
            if isinstance(result, CaseError):
                yield LoadErrorItem.from_parent(self, name=f"line-{result.line}", error=result)
                continue
            try:
                planned = plan_case(
                    result, settings, seed=seed, selection=selection, generators=generators
                )
            except RegistryError as exc:
                error = CaseError(self.path, result.case.line, str(exc), "variants.generate")
                yield LoadErrorItem.from_parent(self, name=result.case.id, error=error)
                continue
            for item in planned:
                if item.error is not None:
                    yield LoadErrorItem.from_parent(self, name=item.name, error=item.error)
                else:
                    assert item.run is not None
                    yield EvalItem.from_parent(self, name=item.name, run=item.run)


class EvalItem(pytest.Item):
    """One item of a case, driving its :class:`~incident_evals.evaluation.Run`."""

    def __init__(self, *, run: Run, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        case = run.case
        if run.skip_reason is not None:
            # Known at collection: the skip then points at the case file.
            self.add_marker(pytest.mark.skip(reason=run.skip_reason))
        if run.expected_to_fail:
            # The fix has not shipped: failing is expected, and a pass means it works.
            self.add_marker(
                pytest.mark.xfail(
                    # Only failing constraints are the expected failure: an item that could not
                    # be judged (endpoint or constraint error) stays an error.
                    raises=ConstraintsFailed,
                    strict=True,
                    reason=f"open incident {case.id}: expected to fail until its fix ships; "
                    "a pass means the fix works: set incident.status to resolved",
                )
            )
        state = self.config.stash[COLLECT_STATE]
        self.add_marker(state.mark(case.incident.severity))
        self.add_marker(state.mark(case.incident.category))
        for name in taxonomy_markers(self.config, case.incident.taxonomy):
            self.add_marker(state.mark(name))
        hint = run.settings.gate.stability_hints.get((case.id, run.variant_id))
        if hint is not None:
            self.add_marker(state.mark(hint))
        self.user_properties.extend(
            [
                ("case_id", case.id),
                ("variant", run.variant_id),
                ("severity", case.incident.severity),
                ("category", case.incident.category),
            ]
        )
        if case.incident.taxonomy:
            self.user_properties.append(("taxonomy", " ".join(case.incident.taxonomy)))

    def dispatch(self) -> None:
        self.run.dispatch()

    def setup(self) -> None:
        error = self.run.prepare()
        if error is not None:
            # The one line, not the exception chain.
            pytest.fail(error, pytrace=False)

    def runtest(self) -> None:
        judged = self.run.verdict()
        if isinstance(self.run, CaseRun):
            samples = self.run.samples
            passed = samples - len(self.run.failed_samples)
            self.user_properties.append(("pass_rate", f"{passed / samples:.4g}"))
        if judged.outcome == "skipped":
            pytest.skip(judged.skip_reason or "")
        if judged.not_blocking is not None:
            pytest.xfail(judged.not_blocking)
        if judged.failure is not None:
            raise judged.failure

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, FAILURES):
            return self.run.describe(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.run.case.line - 1, f"incident {self.run.label}"

    def result_data(self, outcome: str, error: str | None) -> ItemJson:
        """This item's entry in the results document."""
        return self.run.result_data(self.nodeid, outcome, error)


class LoadErrorItem(pytest.Item):
    """A case file (or one document of it) that failed to load: an item that errors with the
    one-line message, so that the error counts and blocks while the other cases run."""

    def __init__(self, *, error: CaseError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    @property
    def message(self) -> str:
        scrubber = self.config.stash[EVAL_SESSION].scrubber
        return scrubber.text(self.error.render(self.config.rootpath))

    def setup(self) -> None:
        pytest.fail(self.message, pytrace=False)

    def runtest(self) -> None:
        raise AssertionError("unreachable: setup always fails")  # pragma: no cover

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.error.line - 1, f"{self.path.name} (failed to load)"

    def load_error(self) -> LoadErrorJson:
        scrubber = self.config.stash[EVAL_SESSION].scrubber
        return load_error_data(self.nodeid, self.error, self.config.rootpath, scrubber)


def register_markers(config: pytest.Config) -> None:
    for severity in SEVERITIES_ASCENDING:
        config.addinivalue_line(
            "markers", f"{severity}: incident severity {severity} (incident-evals)"
        )
    for category in CATEGORIES:
        config.addinivalue_line(
            "markers", f"{category}: incident category {category} (incident-evals)"
        )
    for stability, meaning in (
        ("stable_pass", "every sample passed"),
        ("flaky", "some samples passed"),
        ("stable_fail", "no sample passed"),
    ):
        config.addinivalue_line(
            "markers",
            f"{stability}: {meaning} in the baseline file, else in the last run (incident-evals)",
        )


def taxonomy_markers(config: pytest.Config, ids: tuple[str, ...]) -> list[str]:
    """The markers of a case's taxonomy ids (an ATLAS sub-technique adds its technique, so
    ``-m AML.T0051`` selects ``AML.T0051.000``), each registered on first use: registering
    every published id would bury ``pytest --markers`` under hundreds of lines."""
    if not ids:
        return []
    from incident_evals.taxonomy import entry, marker_names

    names = list(dict.fromkeys(name for taxonomy_id in ids for name in marker_names(taxonomy_id)))
    registered = config.stash[COLLECT_STATE].taxonomy_markers
    for name in names:
        if name not in registered:
            found = entry(name)
            title = f" {found.title}" if found is not None else ""
            config.addinivalue_line("markers", f"{name}: incident taxonomy{title} (incident-evals)")
            registered.add(name)
    return names
