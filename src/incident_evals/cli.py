"""The ``incident-evals`` command line: ``validate`` and ``schema``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from incident_evals import __version__
from incident_evals.options import DEFAULT_CASES

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
    from incident_evals.constraints import builtin_registry

    registry = builtin_registry()
    cwd = Path.cwd()
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
