"""The ``incident-evals`` command line: ``validate`` and ``schema``."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from incident_evals import __version__
from incident_evals.options import DEFAULT_CASES

if TYPE_CHECKING:
    from types import ModuleType

    from incident_evals.constraints import ConstraintRegistry

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _validate(args: argparse.Namespace) -> int:
    from incident_evals.case import (
        CaseError,
        case_files,
        catalogue_root,
        claim_id,
        load_file,
    )

    cwd = Path.cwd()
    # As `python -m` does, so `python: "checks:fn"` constraints import from the project.
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    registries = ProjectRegistries()
    given = [Path(p).resolve() for p in args.paths]
    # A file or folder inside the default catalogue may use content_file anywhere in it.
    roots = [*given, cwd / DEFAULT_CASES] if (cwd / DEFAULT_CASES).is_dir() else given
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        for path in missing:
            print(f"incident-evals validate: {path}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    # Overlapping arguments (a folder and a file in it) name each file once.
    paths = list(dict.fromkeys(path for root in given for path in case_files(root)))
    seen: dict[str, tuple[Path, int]] = {}
    cases = errors = 0
    for path in paths:
        try:
            registry = registries.for_folder(path.parent)
        except ConftestError as exc:
            errors += 1
            print(exc)
            continue
        for result in load_file(path, catalogue_root(path, roots), registry):
            result = claim_id(result, seen, cwd)
            if isinstance(result, CaseError):
                errors += 1
                print(result.render(cwd))
            else:
                cases += 1
    summary = f"{cases} case(s) in {len(paths)} file(s), {errors} error(s)"
    print(summary, file=sys.stderr if errors else sys.stdout)
    return EXIT_INVALID if errors else EXIT_OK


PROJECT_MARKERS = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg", ".git")
HOOK = "pytest_incident_evals_register_constraints"


class ConftestError(Exception):
    """A conftest.py that cannot be imported or whose hook fails: one line, like a case error."""


class ProjectRegistries:
    """The constraints each folder's cases may use, as ``pytest --incident-evals`` sees them.

    Outside pytest, the hook is called from the ``conftest.py`` files of the folder and its
    parents up to the project root (the nearest folder with a pyproject.toml, pytest.ini,
    tox.ini, setup.cfg or .git), top-down, and from installed pytest plugins.
    """

    def __init__(self) -> None:
        from incident_evals.constraints import builtin_registry

        self._builtins = builtin_registry()
        self._registries: dict[Path, ConstraintRegistry] = {}
        self._modules: dict[Path, ModuleType] = {}
        self._plugins: list[ModuleType] | None = None

    def for_folder(self, folder: Path) -> ConstraintRegistry:
        folder = folder.resolve()
        if folder not in self._registries:
            registry = self._builtins.copy()
            for module in [*self._installed_plugins(), *map(self._conftest, _conftests(folder))]:
                hook = getattr(module, HOOK, None)
                if hook is None:
                    continue
                try:
                    hook(registry=registry)
                except Exception as exc:
                    raise ConftestError(
                        f"{_where(module, exc)}: {HOOK} raised {type(exc).__name__}: {exc}"
                    ) from None
            self._registries[folder] = registry
        return self._registries[folder]

    def _conftest(self, path: Path) -> ModuleType:
        if path not in self._modules:
            import importlib.util

            # A name per file: every conftest.py is a module named "conftest" otherwise.
            name = "incident_evals_conftest_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            # Its own folder first, as pytest's prepend import mode does, for sibling imports.
            sys.path.insert(0, str(path.parent))
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[name]
                raise ConftestError(
                    f"{_where(module, exc)}: importing it raised {type(exc).__name__}: {exc}"
                ) from None
            self._modules[path] = module
        return self._modules[path]

    def _installed_plugins(self) -> list[ModuleType]:
        if self._plugins is None:
            import importlib
            from importlib.metadata import entry_points

            self._plugins = []
            for entry in entry_points(group="pytest11"):
                if entry.module.startswith("incident_evals"):
                    continue
                try:
                    module = importlib.import_module(entry.module)
                except Exception:
                    # A broken plugin unrelated to incident cases is not a case error.
                    continue
                if hasattr(module, HOOK):
                    self._plugins.append(module)
        return self._plugins


def _where(module: ModuleType, exc: BaseException) -> str:
    """``file:line`` of the module's own line that led to ``exc``."""
    import traceback

    if module.__file__ is None:
        return module.__name__
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename == module.__file__
    ]
    return f"{_shown(Path(module.__file__))}:{lines[-1] if lines else 1}"


def _shown(path: Path) -> str:
    """``path`` relative to the current directory where it can be, as case errors are."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _conftests(folder: Path) -> list[Path]:
    """conftest.py files from the project root down to ``folder``."""
    chain = []
    for directory in [folder, *folder.parents]:
        chain.append(directory)
        if any((directory / marker).exists() for marker in PROJECT_MARKERS):
            break
    return [d / "conftest.py" for d in reversed(chain) if (d / "conftest.py").is_file()]


def _schema(args: argparse.Namespace) -> int:
    from incident_evals.case import load_schema

    print(json.dumps(load_schema(args.which), indent=2))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-evals",
        description="AI incidents as regression evals (pytest-incident-evals).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check case files against the schema and their cross-references",
        description="Check case files; print one `file:line: field: message` line per error. "
        "Exit 0 when all are valid, 1 when any is not, 2 on bad usage.",
    )
    validate.add_argument(
        "paths",
        nargs="*",
        default=["incident_cases"],
        metavar="PATH",
        help="case files or folders of them (default incident_cases)",
    )
    validate.set_defaults(run=_validate)

    schema = commands.add_parser("schema", help="print a JSON Schema shipped with the package")
    schema.add_argument("which", nargs="?", choices=["case"], default="case")
    schema.set_defaults(run=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
