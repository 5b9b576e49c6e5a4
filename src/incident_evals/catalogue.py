"""The Python front-end: load a catalogue of incident cases and run it, without pytest's runner.

``Catalogue.load(path)`` reads every case file under ``path`` with the loader the pytest plugin
and the command line use, and ``Catalogue.run(...)`` replays it through the same evaluation core
(:mod:`incident_evals.evaluation`), so its :class:`~incident_evals.results.Results` are the
document ``pytest --incident-evals --incident-report`` writes for the same run: the same items
in the same order, the same node ids, verdicts and summary (only timings differ). A notebook,
another test runner or a service calls this.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from incident_evals.case import CaseError, IdClaims, IncidentCase, LoadedCase, load_claimed

if TYPE_CHECKING:
    from incident_evals.evaluation import Run
    from incident_evals.guard import Guard
    from incident_evals.results import ItemJson, LoadErrorJson, Results
    from incident_evals.variants import VariantRegistry

__all__ = ["Catalogue", "CatalogueError"]

#: Files pytest reads its configuration from: the nearest one names the project's root.
_INI_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


class CatalogueError(Exception):
    """A catalogue that cannot be loaded at all (no such folder), or a run that cannot start."""


@dataclass(frozen=True)
class _Entry:
    """One loaded document of a case file: a case, or its one-line error."""

    path: Path
    result: LoadedCase | CaseError
    registry: Callable[[], VariantRegistry]


class Catalogue:
    """The cases of one catalogue folder (or file), loaded; see :meth:`load` and :meth:`run`."""

    def __init__(self, root: Path, rootdir: Path, entries: list[_Entry]) -> None:
        self.root = root
        #: What node ids are relative to: the project's root, as pytest finds it.
        self.rootdir = rootdir
        self._entries = entries

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Catalogue:
        """Every case file under ``path`` (a folder, or one case file), in pytest's collection
        order, with the constraints and variant generators the folders' ``conftest.py`` files
        register (found by a pytest session that only collects, as ``incident-evals validate``
        finds them). A file that fails to load is in :attr:`errors` (one line each, naming
        file, line and field); the other files' cases are in :attr:`cases`."""
        from incident_evals.registries import ProjectError, ScanError, scan

        root = Path(path).resolve()
        if not root.exists():
            raise CatalogueError(f"{path}: no such file or directory")
        rootdir = _rootdir(root)
        files = _case_files(root)
        claims = IdClaims([root])
        try:
            # The project's conftest registrations, found by pytest itself, as the plugin and
            # the commands find them.
            project = scan([root], files, rootdir) if files else None
        except ScanError as exc:
            raise CatalogueError(f"{path}: {exc}") from None
        entries = []
        for file in files:
            assert project is not None
            try:
                found = project.registries(file)
            except ProjectError as exc:
                entries.append(_Entry(file, CaseError(file, 1, str(exc)), _no_generators))
                continue
            for result in load_claimed(
                file, [root], found.constraints, found.variants, claims, rootdir
            ):
                entries.append(_Entry(file, result, found.variants))
        return cls(root, rootdir, entries)

    @property
    def cases(self) -> list[IncidentCase]:
        """The cases that loaded, in order."""
        return [e.result.case for e in self._entries if isinstance(e.result, LoadedCase)]

    @property
    def loaded(self) -> list[LoadedCase]:
        """The cases that loaded, with their constraints bound (what a scan judges with)."""
        return [e.result for e in self._entries if isinstance(e.result, LoadedCase)]

    @property
    def errors(self) -> list[CaseError]:
        """The documents that failed to load, each with :meth:`CaseError.render` as one line."""
        return [e.result for e in self._entries if isinstance(e.result, CaseError)]

    def run(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        variants: str | int = "all",
        seed: int = 0,
        repeats: int | None = None,
        concurrency: int = 8,
        record: str | os.PathLike[str] | None = None,
        replay: str | os.PathLike[str] | None = None,
        api: str = "chat",
    ) -> Results:
        """Replay every case and its variants against ``base_url`` (an OpenAI-compatible
        endpoint) and ``model``, judge them, and return the results.

        ``api_key`` is sent as the bearer token (default: ``OPENAI_API_KEY`` from the
        environment); ``variants`` is ``"all"``, ``"none"`` or the number of generated variants
        per case; ``repeats`` overrides each case's samples; ``record`` writes every exchange to
        a folder and ``replay`` answers only from one (offline); ``api`` is the API the
        endpoint is spoken to over, ``"chat"`` (Chat Completions) or ``"responses"`` (a case's
        ``model.api`` wins for its own requests). Endpoint failures are item
        errors with their cause, never passes. ``judge`` constraints are judged by ``model`` on
        the same endpoint only when they name their own judge model.
        """
        from incident_evals.results import Results, build_results, run_data, started_at

        settings = _settings(
            base_url=base_url,
            model=model,
            api_key=api_key,
            repeats=repeats,
            concurrency=concurrency,
            record=record,
            replay=replay,
            api=api,
        )
        selection = _selection(variants)
        if seed < 0:
            raise ValueError(f"seed must be 0 or more, got {seed}")
        began, started = time.monotonic(), started_at()
        session = settings.session
        items: list[ItemJson] = []
        load_errors: list[LoadErrorJson] = []
        complete = False
        try:
            planned = self._plan(settings, seed, selection, load_errors)
            for _, run in planned:
                run.dispatch()
            for nodeid, run in planned:
                items.append(_result(nodeid, run))
            complete = True
        finally:
            session.dispatcher.stop()
            session.close()
        described_model, described_url = session.described()
        document = build_results(
            items,
            run=run_data(
                model=described_model,
                base_url=described_url,
                seed=seed,
                started=started,
                duration_s=time.monotonic() - began,
                complete=complete,
                fail_on=settings.gate.fail_on,
                alpha=settings.gate.alpha,
                baseline=None,
                redacted=settings.gate.redact,
            ),
            load_errors=load_errors,
        )
        return Results(document)

    def _plan(
        self,
        settings: RunSettings,
        seed: int,
        selection: int | None,
        load_errors: list[LoadErrorJson],
    ) -> list[tuple[str, Run]]:
        """Every item of the run, by node id, in the order pytest would run them; the load
        errors (documents, and variant generators that cannot make their variants) in theirs."""
        from incident_evals.evaluation import plan_case
        from incident_evals.results import load_error_data

        scrubber = settings.scrubber
        planned: list[tuple[str, Run]] = []
        for entry in self._entries:
            prefix = _relative(entry.path, self.rootdir) + "::"
            if isinstance(entry.result, CaseError):
                nodeid = f"{prefix}line-{entry.result.line}"
                load_errors.append(load_error_data(nodeid, entry.result, self.rootdir, scrubber))
                continue
            for item in plan_case(
                entry.result, settings, seed=seed, selection=selection, generators=entry.registry
            ):
                if item.error is not None:
                    nodeid = prefix + item.name
                    load_errors.append(load_error_data(nodeid, item.error, self.rootdir, scrubber))
                else:
                    assert item.run is not None
                    planned.append((prefix + item.name, item.run))
        return planned

    def guard(
        self,
        select: str | Iterable[str] | Callable[[IncidentCase], bool] | None = None,
        on_error: str = "block",
        *,
        seed: int = 0,
        max_chars: int | None = None,
        otel: bool = True,
    ) -> Guard:
        """A runtime guard over the catalogue's cases (see :mod:`incident_evals.guard`).

        ``select`` picks the cases: ``None`` for all; a word or a list of words, each naming a
        case id, a category, a severity, a taxonomy id or a tag (a case is in when any word
        names it; a word that names no case is a ``ValueError``, since a typo would guard
        nothing); or a function given each :class:`IncidentCase`, returning whether it is in.
        ``on_error`` is what a check that raises (or whose pattern runs out of time) does:
        ``"block"`` (the result is not allowed) or ``"allow"``; the error is in the result's
        ``errors`` either way. ``seed`` makes the variants whose messages the guard
        recognises, as ``--incident-seed`` does. ``max_chars`` bounds the text one check reads
        (longer is an error under ``on_error``). ``otel=False`` emits no OpenTelemetry events.
        Cases that failed to load are not in the guard: see :attr:`errors`.
        """
        from incident_evals.guard import DEFAULT_MAX_CHARS, build_guard

        chosen = _chosen(
            [(e.result, e.registry) for e in self._entries if isinstance(e.result, LoadedCase)],
            select,
        )
        return build_guard(
            chosen,
            on_error=on_error,
            seed=_seed(seed),
            max_chars=DEFAULT_MAX_CHARS if max_chars is None else max_chars,
            otel=bool(otel),
        )

    def __repr__(self) -> str:
        return f"<Catalogue {self.root}: {len(self.cases)} case(s), {len(self.errors)} error(s)>"


if TYPE_CHECKING:
    from incident_evals.evaluation import RunSettings


def _seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be 0 or more, got {seed!r}")
    return seed


def _names_of(case: IncidentCase) -> set[str]:
    """The words ``select`` may name a case by."""
    incident = case.incident
    return {case.id, incident.category, incident.severity, *incident.taxonomy, *incident.tags}


def _chosen(
    loaded: list[tuple[LoadedCase, Callable[[], VariantRegistry]]],
    select: str | Iterable[str] | Callable[[IncidentCase], bool] | None,
) -> list[tuple[LoadedCase, Callable[[], VariantRegistry]]]:
    """The cases ``select`` picks (see :meth:`Catalogue.guard`)."""
    if select is None:
        return loaded
    if callable(select):
        return [entry for entry in loaded if select(entry[0].case)]
    words = [select] if isinstance(select, str) else list(select)
    if not words or not all(isinstance(word, str) for word in words):
        raise ValueError(
            "select must be None, a word (case id, category, severity, taxonomy id or tag), "
            f"a list of words, or a function of a case; got {select!r}"
        )
    named = [_names_of(entry[0].case) for entry in loaded]
    unknown = [word for word in words if not any(word in names for names in named)]
    if unknown:
        raise ValueError(
            f"select: {', '.join(map(repr, unknown))} names no case of the catalogue (a case "
            "id, category, severity, taxonomy id or tag)"
        )
    wanted = set(words)
    return [entry for entry, names in zip(loaded, named, strict=False) if wanted & names]


def _no_generators() -> VariantRegistry:
    raise AssertionError("a file that failed to load has no cases to make variants of")


def _result(nodeid: str, run: Run) -> ItemJson:
    from incident_evals.evaluation import outcome_of

    outcome, error = outcome_of(run)
    return run.result_data(nodeid, outcome, error)


def _settings(
    *,
    base_url: str,
    model: str,
    api_key: str | None,
    repeats: int | None,
    concurrency: int,
    record: str | os.PathLike[str] | None,
    replay: str | os.PathLike[str] | None,
    api: str,
) -> RunSettings:
    from incident_evals import options
    from incident_evals.client import Endpoint
    from incident_evals.evaluation import GateSettings, RunSettings
    from incident_evals.secrets import API_KEY, Scrubber
    from incident_evals.session import EvalSession, Recordings
    from incident_evals.vocabulary import APIS

    if not model:
        raise ValueError("model is required: the model name the endpoint serves")
    if api not in APIS:
        raise ValueError(f"api must be one of {', '.join(map(repr, APIS))}, got {api!r}")
    if repeats is not None and not 1 <= repeats <= 1000:
        raise ValueError(f"repeats must be between 1 and 1000, got {repeats}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be 1 or more, got {concurrency}")
    if record is not None and replay is not None:
        raise ValueError("record and replay exclude each other: record a run once, then replay it")
    recordings = None
    if record is not None:
        recordings = Recordings(Path(record).resolve(), "record")
    elif replay is not None:
        directory = Path(replay).resolve()
        if not directory.is_dir():
            raise CatalogueError(f"replay: {directory} is not a directory of recordings")
        recordings = Recordings(directory, "replay")
    endpoint = Endpoint(
        base_url=base_url, model=model, source="Catalogue.run(base_url=...)", api_key=api_key
    )
    scrubber = Scrubber.from_environment(urls=[base_url])
    if api_key:
        scrubber = scrubber.adding(api_key, API_KEY)
    judge = options.JudgeSettings(
        Endpoint(
            base_url=endpoint.base_url,
            model="",
            source="the endpoint under test",
            credentials=endpoint.credentials,
            api_key=api_key,
        ),
        "no judge model: name one in the constraint ({rubric: ..., model: NAME}), or run "
        "under pytest with --incident-judge-model NAME",
    )
    session = EvalSession(
        endpoint,
        timeout_s=options.DEFAULT_TIMEOUT_S,
        retries=options.DEFAULT_RETRIES,
        local_startup_timeout_s=options.DEFAULT_LOCAL_STARTUP_TIMEOUT_S,
        concurrency=concurrency,
        recordings=recordings,
        judge=judge,
        scrubber=scrubber,
        api=api,
    )
    return RunSettings(session=session, gate=GateSettings(), repeats=repeats)


def _selection(variants: str | int) -> int | None:
    """``variants`` as the plugin's ``--incident-variants`` reads it: None for all, 0 for none."""
    if variants == "all":
        return None
    if variants == "none":
        return 0
    if isinstance(variants, int) and not isinstance(variants, bool) and variants >= 0:
        return variants
    raise ValueError(f"variants must be 'all', 'none' or a number of variants, got {variants!r}")


def _case_files(root: Path) -> list[Path]:
    """The case files under ``root`` in pytest's collection order: each folder's entries sorted
    by name, files and folders alike."""
    from incident_evals.case import case_files

    return sorted(case_files(root), key=lambda path: path.parts)


def _rootdir(path: Path) -> Path:
    """The folder pytest would take as the project root for ``path``: the nearest one holding a
    configuration file, else the current directory."""
    start = path if path.is_dir() else path.parent
    for folder in [start, *start.parents]:
        if any((folder / name).is_file() for name in _INI_FILES):
            return folder
    return Path.cwd().resolve()


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
