"""``.pre-commit-hooks.yaml``: the hooks pre-commit installs from this repository.

pre-commit is not a dependency: the manifest is read as pre-commit reads it, and each hook's
command line (entry, then args, then the staged file names) is run through ``main()``.
"""

from __future__ import annotations

import re
import shlex
import shutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

from case_files import case_data, write_case
from incident_evals.cli import main

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / ".pre-commit-hooks.yaml"
HOOK_IDS = ["incident-evals-validate", "incident-evals-check-recorded"]
#: Two example cases as pre-commit would pass them: relative to the repository root.
STAGED = [
    "incident_cases/autonomy/INC-2025-067-q3-draft-all-staff.yaml",
    # Two cases in one file, whose system prompt and documents are content_file references.
    "incident_cases/correctness/INC-2025-088-warranty-region.yaml",
]


def hooks() -> dict[str, dict[str, Any]]:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(manifest, list)
    return {hook["id"]: hook for hook in manifest}


def command(hook: dict[str, Any], *files: str) -> list[str]:
    """What pre-commit runs: the entry, split as a shell would, then args, then file names."""
    return [*shlex.split(hook["entry"]), *hook.get("args", []), *files]


def run_hook(hook: dict[str, Any], *files: str) -> int:
    program, *argv = command(hook, *files)
    assert program == "incident-evals"
    return main(argv)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project holding a copy of the example catalogue, as cwd (pre-commit runs at the root)."""
    shutil.copytree(REPO / "incident_cases", tmp_path / "incident_cases")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_manifest_declares_both_hooks_with_the_fields_pre_commit_requires() -> None:
    found = hooks()

    assert list(found) == HOOK_IDS
    for hook in found.values():
        for field in ("id", "name", "entry", "language"):
            assert isinstance(hook[field], str), field
            assert hook[field], field
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is True
        # One process for all staged files: duplicate ids are caught across them.
        assert hook["require_serial"] is True
    assert command(found["incident-evals-validate"]) == ["incident-evals", "validate"]
    assert command(found["incident-evals-check-recorded"]) == [
        "incident-evals",
        "validate",
        "--check-recorded",
    ]


def test_the_entry_is_the_console_script_the_package_installs() -> None:
    [script] = entry_points(group="console_scripts", name="incident-evals")

    assert script.value == "incident_evals.cli:main"


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_files_selects_case_files_under_incident_cases_only(hook_id: str) -> None:
    files = re.compile(hooks()[hook_id]["files"])
    # pre-commit matches with re.search against paths relative to the repository root.
    examples = sorted(
        path.relative_to(REPO).as_posix() for path in (REPO / "incident_cases").rglob("*")
    )
    selected = [path for path in examples if files.search(path)]

    assert selected == [path for path in examples if path.endswith((".yaml", ".yml"))]
    assert set(STAGED) <= set(selected)
    assert files.search("incident_cases/team/a.yml")
    for other in (
        "incident_cases/correctness/docs/warranty-eu.md",
        "src/incident_evals/schemas/case.schema.json",
        ".pre-commit-hooks.yaml",
        "vendor/incident_cases/a.yaml",
        "incident_cases/a.yaml.orig",
    ):
        assert not files.search(other), other


def test_the_validate_hook_passes_the_staged_example_cases(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_hook(hooks()["incident-evals-validate"], *STAGED) == 0

    assert capsys.readouterr().out == "3 case(s) in 2 file(s), 0 error(s)\n"


def test_the_check_recorded_hook_passes_the_staged_example_cases(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_hook(hooks()["incident-evals-check-recorded"], *STAGED) == 0

    assert capsys.readouterr().out == (
        "3 case(s) in 2 file(s), 0 error(s), 3 checked on their recorded incident\n"
    )


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_a_bad_staged_file_fails_the_hook_naming_file_and_line(
    hook_id: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(project, "incident_cases/bad.yaml", case_data("INC-BAD", expect=[{"matches": "(x"}]))

    assert run_hook(hooks()[hook_id], STAGED[0], "incident_cases/bad.yaml") == 1

    captured = capsys.readouterr()
    assert captured.out == (
        "incident_cases/bad.yaml:11: expect[0].matches: invalid regular expression /(x/: "
        "missing ), unterminated subpattern at position 0\n"
    )
    assert captured.err.startswith("1 case(s) in 2 file(s), 1 error(s)")


def test_only_the_check_recorded_hook_fails_a_case_that_misses_its_incident(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(
        project,
        "incident_cases/missed.yaml",
        case_data("INC-MISSED", recorded_output="You have 60 days.", expect=[{"max_length": 400}]),
    )

    assert run_hook(hooks()["incident-evals-validate"], "incident_cases/missed.yaml") == 0
    capsys.readouterr()
    assert run_hook(hooks()["incident-evals-check-recorded"], "incident_cases/missed.yaml") == 1

    captured = capsys.readouterr()
    assert captured.out == (
        "incident_cases/missed.yaml:1: INC-MISSED: would not have caught its own incident: "
        "every constraint holds on the recorded behaviour (max_length (line 11)); "
        "add a constraint that fails on it\n"
    )
    assert (
        captured.err == "1 case(s) in 1 file(s), 1 error(s), 1 checked on their recorded incident\n"
    )
