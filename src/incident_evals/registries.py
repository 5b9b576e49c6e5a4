"""The constraints and variant generators a case file may use, as pytest scopes ``conftest.py``
files: one engine for ``pytest --incident-evals`` and for the ``incident-evals`` commands.

In a pytest run, :class:`FolderRegistries` asks a case file's node (its ``ihook``) for what the
project registers through ``pytest_incident_evals_register_constraints`` and
``pytest_incident_evals_register_variants``. The commands have no pytest run of their own, so
:func:`scan` starts one in this process that only collects: pytest itself then finds the rootdir,
the ini file and its ``addopts``, the ``conftest.py`` files on the way down to each case file,
``pytest_plugins``, ``-p`` plugins and installed plugins, exactly as a run would.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from incident_evals.case import FolderError

if TYPE_CHECKING:
    from incident_evals.constraints import ConstraintRegistry
    from incident_evals.variants import VariantRegistry

CONSTRAINTS_HOOK = "pytest_incident_evals_register_constraints"
VARIANTS_HOOK = "pytest_incident_evals_register_variants"

_Registry = TypeVar("_Registry", "ConstraintRegistry", "VariantRegistry")


class RegistryError(FolderError):
    """A registration hook raised (``sys.exit()`` included): the folder's case files cannot be
    loaded. Shown as one line."""

    def __init__(self, hook: str, where: str, raised: str) -> None:
        super().__init__(hook, where, raised)
        self.hook = hook
        #: ``file:line`` of the project code it came from, or ``""``.
        self.where = where
        self.raised = raised

    def __str__(self) -> str:
        # pytest prints it under "ERROR collecting <case file>": the hook says what failed.
        where = f" in {self.where}" if self.where else ""
        return f"{self.hook}{where}: {self.raised}"

    def located(self) -> str:
        """The commands' form: location first, as every line they print."""
        where = f"{self.where}: " if self.where else ""
        return f"{where}{self.hook} raised {self.raised}"


class FolderRegistries:
    """The built-in registries, and each folder's copy with what its conftest files register.

    Each hook is called once per folder of case files, through the case file's ``ihook``, so
    pytest decides which ``conftest.py`` files and plugins apply. Whatever project code raises
    there, ``sys.exit()`` included, is that folder's :class:`RegistryError`; only
    KeyboardInterrupt goes through. Locations are shown relative to ``shown_from`` (default:
    the rootdir).
    """

    def __init__(
        self, builtins: ConstraintRegistry | None = None, shown_from: Path | None = None
    ) -> None:
        self._builtins = builtins
        # Made when first needed: the built-in generators are costly to import.
        self._builtin_variants: VariantRegistry | None = None
        self._shown_from = shown_from
        self._constraints: dict[Path, ConstraintRegistry | RegistryError] = {}
        self._variants: dict[Path, VariantRegistry | RegistryError] = {}

    def constraints(self, file: pytest.File) -> ConstraintRegistry:
        """The constraints known to the cases in ``file``."""
        if self._builtins is None:
            from incident_evals.constraints import builtin_registry

            self._builtins = builtin_registry()
        return self._registry(file, self._constraints, self._builtins, CONSTRAINTS_HOOK)

    def variants(self, file: pytest.File) -> VariantRegistry:
        """The variant generators known to the cases in ``file``."""
        return self._registry(file, self._variants, self.builtin_variants(), VARIANTS_HOOK)

    def builtin_variants(self) -> VariantRegistry:
        if self._builtin_variants is None:
            from incident_evals.variants import builtin_variant_registry

            self._builtin_variants = builtin_variant_registry()
        return self._builtin_variants

    def registers_variants(self, file: pytest.File) -> bool:
        """Whether any conftest or plugin in scope for ``file`` implements the variants hook."""
        if file.path.parent in self._variants:
            return True
        return bool(getattr(file.ihook, VARIANTS_HOOK).get_hookimpls())

    def _registry(
        self,
        file: pytest.File,
        cache: dict[Path, _Registry | RegistryError],
        builtins: _Registry,
        hook: str,
    ) -> _Registry:
        folder = file.path.parent
        if folder not in cache:
            registry = builtins.copy()
            try:
                getattr(file.ihook, hook)(registry=registry)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                from incident_evals.constraints.custom import describe_exception, raised_at

                base = self._shown_from or file.config.rootpath
                # Project code: even sys.exit() in a hook is this folder's one-line error.
                cache[folder] = RegistryError(hook, raised_at(exc, base), describe_exception(exc))
            else:
                cache[folder] = registry
        found = cache[folder]
        if isinstance(found, RegistryError):
            raise RegistryError(found.hook, found.where, found.raised)
        return found


# --- the commands: a pytest session that only collects ---------------------------------------


@dataclass(frozen=True)
class Registries:
    """What one case file may use."""

    constraints: ConstraintRegistry
    #: Made when first asked for when no project code registers generators for the folder.
    variants: Callable[[], VariantRegistry]


class ProjectError(Exception):
    """A case file's folder cannot be loaded: a conftest that cannot be imported, or a hook that
    raised. ``str()`` is its one line, located as the commands locate errors."""


class ScanError(Exception):
    """pytest could not collect any case file (an unknown option in ``addopts``, a plugin that
    fails to load): the one line saying why."""


@dataclass(frozen=True)
class ProjectScan:
    """Each case file's registries, or the one line saying why its folder cannot be loaded."""

    found: dict[Path, Registries | str]

    def registries(self, path: Path) -> Registries:
        found = self.found[path]
        if isinstance(found, str):
            raise ProjectError(found)
        return found


def scan(paths: Sequence[Path], files: Sequence[Path], shown_from: Path) -> ProjectScan:
    """The registries of each of ``files`` (case files under ``paths``), from a pytest session
    over ``paths`` that only collects.

    A conftest.py that cannot be imported is one line for the files under its folder, and the
    other files are still scanned: pytest ends a session on a conftest given on the command line
    that fails, or on any that calls ``sys.exit()``, so the files it did not reach get a session
    of their own, each named on the command line, until every file has its answer.

    Raises KeyboardInterrupt on Ctrl-C (or when project code raises it), and :class:`ScanError`
    when pytest cannot collect at all.
    """
    folders = FolderRegistries(shown_from=shown_from)
    found: dict[Path, Registries | str] = {}
    # As pytest names them: absolute, symbolic links kept.
    named = {Path(os.path.abspath(path)): path for path in files}
    pending = list(named)
    args = [str(path) for path in paths]
    explicit = False
    problem = ""
    while pending:
        probe = _Probe(set(pending), folders, shown_from)
        output = _collect(args, probe)
        if probe.interrupted:
            raise KeyboardInterrupt
        for path in pending:
            if path.parent in probe.found:
                found[path] = probe.found[path.parent]
        for folder, line in probe.conftests.items():
            for path in pending:
                if path not in found and path.is_relative_to(folder):
                    found[path] = line
        left = [path for path in pending if path not in found]
        if len(left) == len(pending):
            problem = problem or probe.problem(output)
            if explicit:
                break
        # Named on the command line, a file is collected even in a folder pytest would skip
        # (norecursedirs, collect_ignore), and no conftest beside it is loaded at start-up.
        explicit = True
        pending = left
        args = [str(path) for path in left]
    if pending and not found:
        raise ScanError(f"pytest: {problem or 'collected none of the case files'}")
    because = f" ({problem})" if problem else ""
    for path in pending:
        found[path] = (
            f"{_shown(path, shown_from)}:1: cannot be loaded: pytest did not collect it{because}"
        )
    return ProjectScan({named[path]: answer for path, answer in found.items()})


def _collect(args: list[str], probe: _Probe) -> str:
    """One pytest session over ``args``, collecting only; what it printed."""
    output = io.StringIO()
    with (
        tempfile.TemporaryDirectory(prefix="incident-evals-") as cache,
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(output),
    ):
        try:
            pytest.main(
                [
                    *args,
                    # Collect, never run: pytest-xdist does not start workers for this either.
                    "--collect-only",
                    "-q",
                    # Every case file is reached, whatever -x or --maxfail addopts give.
                    "--maxfail=0",
                    # Registrations do not depend on it, and it keeps pytest's import hook and
                    # its own .pyc files out of the project and of this process.
                    "--assert=plain",
                    # Its full garbage collections at the end of the session took a third of
                    # the session's time, for warnings that a scan would discard.
                    "-p",
                    "no:unraisableexception",
                    # The project's .pytest_cache is neither read, written nor cleared (even with
                    # --cache-clear or --stepwise in addopts); -p no:cacheprovider would make
                    # --lf, --ff, --nf or --sw in addopts unknown options instead.
                    "-o",
                    f"cache_dir={cache}",
                ],
                plugins=[probe],
            )
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            # A conftest's sys.exit() at start-up leaves pytest.main without a word.
            probe.exited(exc)
    return output.getvalue()


class _Probe:
    """The plugin of a scan's session: a node for a wanted case file of each folder, whose
    collection asks :class:`FolderRegistries` for the folder's registries and records them."""

    def __init__(self, wanted: set[Path], folders: FolderRegistries, shown_from: Path) -> None:
        self.wanted = wanted
        #: The folders on the way to a wanted file: the only ones worth walking.
        self.on_the_way: set[Path] = set()
        for folder in {path.parent for path in wanted}:
            for above in (folder, *folder.parents):
                if above in self.on_the_way:
                    break
                self.on_the_way.add(above)
        self.folders = folders
        self.shown_from = shown_from
        #: By folder: its files share their conftest files, so one node asks for all of them.
        self.found: dict[Path, Registries | str] = {}
        #: The one line of each conftest that could not be imported, by its folder.
        self.conftests: dict[Path, str] = {}
        self.failures: list[str] = []
        #: The file each folder is asked with.
        self.asked: dict[Path, Path] = {}
        self.interrupted = False
        self.last_exit: BaseException | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        from incident_evals import hookspecs, options

        # This plugin stays off even with --incident-evals in addopts: a scan runs no case and
        # writes no report.
        dest = options.BY_NAME["evals"].dest
        if hasattr(config.option, dest):
            setattr(config.option, dest, False)
        else:
            # Not installed as a plugin (a source checkout): the hooks still have their specs.
            config.pluginmanager.add_hookspecs(hookspecs)

    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        # Nothing but one case file a folder is collected: no test module is imported, no
        # unrelated folder walked. Whether to walk the others stays pytest's decision.
        if collection_path in self.wanted:
            return None if self._asks(collection_path) else True
        return None if collection_path in self.on_the_way else True

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.File | None:
        if file_path not in self.wanted or not self._asks(file_path):
            return None
        self.asked[file_path.parent] = file_path
        return _ProbeFile.from_parent(parent, path=file_path, probe=self)

    def _asks(self, path: Path) -> bool:
        """Whether ``path`` is its folder's file to ask with (pytest may offer it twice, from
        the session and from its folder, when it is named on the command line)."""
        return self.asked.get(path.parent, path) == path

    @pytest.hookimpl(wrapper=True)
    def pytest_load_initial_conftests(self) -> Iterator[None]:
        from _pytest.config import ConftestImportFailure

        try:
            return (yield)
        except ConftestImportFailure as exc:
            # pytest prints a traceback and ends the session: this keeps the cause.
            self.conftest_failed(exc.path, exc.cause)
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self.exited(exc)
            raise

    def pytest_exception_interact(self, node: pytest.Collector, call: pytest.CallInfo[Any]) -> None:
        from _pytest.config import ConftestImportFailure

        from incident_evals.constraints.custom import describe_exception

        error = call.excinfo.value if call.excinfo is not None else None
        if isinstance(error, ConftestImportFailure):
            # A conftest below the command line's paths: a collection error of its folder.
            self.conftest_failed(error.path, error.cause)
        elif error is not None:
            self.failures.append(
                f"{_shown(node.path, self.shown_from)}: {describe_exception(error)}"
            )

    def pytest_internalerror(self, excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
        self.exited(excinfo.value)
        # Said: pytest prints no INTERNALERROR lines.
        return True

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # So do pytest.exit() from project code and the end of a session with collection errors
        # (Session.Interrupted): only Ctrl-C stops the command.
        error = excinfo.value
        if isinstance(error, KeyboardInterrupt) and not isinstance(
            error, pytest.Session.Interrupted
        ):
            self.interrupted = True

    def record(self, file: pytest.File) -> None:
        try:
            constraints = self.folders.constraints(file)
            variants = self.folders.builtin_variants
            if self.folders.registers_variants(file):
                # Project code runs inside the session that scoped it, never after it.
                variants = _made(self.folders.variants(file))
        except RegistryError as exc:
            self.found[file.path.parent] = exc.located()
        else:
            self.found[file.path.parent] = Registries(constraints, variants)

    def conftest_failed(self, path: Path, error: BaseException) -> None:
        from incident_evals.constraints.custom import describe_exception

        where = f"{_shown(path, self.shown_from)}:{_line_in(path, error)}"
        self.conftests.setdefault(
            path.parent, f"{where}: importing it raised {describe_exception(error)}"
        )

    def exited(self, error: BaseException) -> None:
        """What escaped pytest's own handling: a conftest's ``sys.exit()`` at import, or an
        internal error."""
        from incident_evals.constraints.custom import describe_exception

        if error is self.last_exit:
            # Re-raised by pytest after the hook that caught it first.
            return
        self.last_exit = error
        imported = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if frame.name == "<module>" and Path(frame.filename).name == "conftest.py"
        ]
        if imported:
            self.conftest_failed(Path(imported[-1].filename), error)
        else:
            self.failures.append(describe_exception(error))

    def problem(self, output: str) -> str:
        """Why this session reached no case file: what failed, else pytest's own error line
        (``ERROR: usage: ...`` then ``pytest: error: unrecognized arguments: --x``)."""
        if self.failures:
            return self.failures[0]
        said = ""
        for line in output.splitlines():
            if line.startswith("ERROR: "):
                said = said or line.removeprefix("ERROR: ")
            elif ": error: " in line:
                return line.split(": error: ", 1)[1]
        return said


class _ProbeFile(pytest.File):
    def __init__(self, *, probe: _Probe, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.probe = probe

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        self.probe.record(self)
        return []


def _made(registry: VariantRegistry) -> Callable[[], VariantRegistry]:
    return lambda: registry


def _line_in(path: Path, error: BaseException) -> int:
    """The line of ``path`` that led to ``error``: its last frame there, or 1."""
    here = path.resolve()
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.lineno is not None and Path(frame.filename).resolve() == here
    ]
    if lines:
        return lines[-1]
    if (
        isinstance(error, SyntaxError)
        and error.lineno
        and error.filename
        and Path(error.filename).resolve() == here
    ):
        return error.lineno
    return 1


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
