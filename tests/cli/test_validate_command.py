"""``incident-evals validate`` and ``incident-evals schema``: messages and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from case_files import case_data, write_case
from incident_evals.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_valid_catalogue_exits_zero(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_case(in_tmp, "incident_cases/a.yaml", case_data("INC-A"), case_data("INC-B"))

    assert main(["validate"]) == 0

    assert capsys.readouterr().out == "2 case(s) in 1 file(s), 0 error(s)\n"


def test_each_error_is_one_line_and_exit_is_one(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(in_tmp, "cases/a.yaml", case_data("INC-A"))
    write_case(in_tmp, "cases/b.yaml", case_data("INC-A"))
    (in_tmp / "cases/c.yaml").write_text("id: [\n")
    write_case(in_tmp, "cases/d.yaml", case_data("INC-D", expect=[{"matches": "(x"}]))

    assert main(["validate", "cases"]) == 1

    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    # The parser's own wording differs between libyaml and pure-Python PyYAML.
    assert lines[1].startswith("cases/c.yaml:2: invalid YAML: ")
    lines[1] = "cases/c.yaml:2: invalid YAML: ..."
    assert lines == [
        "cases/b.yaml:1: id: duplicate case id 'INC-A' (first defined at cases/a.yaml:1)",
        "cases/c.yaml:2: invalid YAML: ...",
        "cases/d.yaml:11: expect[0].matches: invalid regular expression /(x/: missing ), "
        "unterminated subpattern at position 0",
    ]
    assert captured.err == "1 case(s) in 4 file(s), 3 error(s)\n"


def test_overlapping_paths_count_each_file_once(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(in_tmp, "incident_cases/team/a.yaml", case_data("INC-A"))

    assert main(["validate", "incident_cases", "incident_cases/team/a.yaml"]) == 0

    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"


def test_a_file_named_directly_keeps_its_catalogue_for_content_files(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "incident_cases/docs").mkdir(parents=True)
    (in_tmp / "incident_cases/docs/p.md").write_text("Policy.")
    documents = [{"id": "p", "content_file": "../docs/p.md"}]
    write_case(
        in_tmp, "incident_cases/team/a.yaml", case_data("INC-A", input={"documents": documents})
    )

    assert main(["validate", "incident_cases/team/a.yaml"]) == 0
    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"


def test_missing_path_is_a_usage_error(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "nowhere"]) == 2

    assert capsys.readouterr().err == (
        "incident-evals validate: nowhere: no such file or directory\n"
    )


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])

    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_schema_prints_the_shipped_case_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "case"]) == 0

    schema = json.loads(capsys.readouterr().out)
    assert schema["required"] == ["id", "incident", "input", "expect"]
    assert schema == json.loads((REPO / "src/incident_evals/schemas/case.schema.json").read_text())


def test_console_script_validates_the_example_catalogue() -> None:
    # Beside this interpreter: CI runs the venv's pytest without activating the venv.
    executable = Path(sys.executable).parent / "incident-evals"
    assert executable.is_file(), "the incident-evals console script is not installed"

    result = subprocess.run(
        [executable, "validate", "incident_cases"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith(" error(s)\n")
    assert ", 0 error(s)" in result.stdout
