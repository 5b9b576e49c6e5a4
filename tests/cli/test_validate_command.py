"""``incident-evals validate`` and ``incident-evals schema``: messages and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, set_modified, write_case
from incident_evals.cli import main
from incident_evals.constraints import builtin_registry

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
    set_modified(write_case(in_tmp, "cases/a.yaml", case_data("INC-A")), 1)
    set_modified(write_case(in_tmp, "cases/b.yaml", case_data("INC-A")), 2)
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


@pytest.mark.parametrize("flags", [[], ["--check-recorded"]])
def test_a_template_that_never_sends_the_documents_is_one_line_and_exit_is_one(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """The recorded leak could not replay: --check-recorded must not say the case catches it."""
    write_case(in_tmp, "cases/good.yaml", case_data("INC-GOOD"))
    leaked = case_data(
        "INC-LEAK",
        input={
            "messages": [{"role": "user", "content": "What does Ana earn?"}],
            "documents": [{"id": "payroll", "content": "Ana Ruiz: 91,000 EUR", "sensitive": True}],
            "document_template": "[{id}]",
        },
        expect=[{"no_leak": None}],
        recorded_output="Ana Ruiz: 91,000 EUR",
    )
    write_case(in_tmp, "cases/leak.yaml", leaked)

    assert main(["validate", *flags, "cases"]) == 1

    captured = capsys.readouterr()
    [line] = [text for text in captured.out.splitlines() if "leak.yaml" in text]
    assert line == (
        "cases/leak.yaml:14: input.document_template: '[{id}]' has no {content} placeholder, so "
        "the documents are never sent and the replay cannot show a leak: write {content} where "
        "each document's text goes ({{content}} is the literal text)"
    )
    assert "INC-LEAK" not in captured.out


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


# --- project constraints: conftest.py files and `python:` modules ---------------------------------

MAX_WORDS_CONFTEST = """\
from incident_evals.constraints import ConstraintType, Verdict


def _build_max_words(limit, case):
    return lambda transcript, case: Verdict(len(transcript.final_text.split()) <= limit)


def pytest_incident_evals_register_constraints(registry):
    registry.register(
        ConstraintType("max_words", {"type": "integer", "minimum": 1}, _build_max_words)
    )
"""


@pytest.fixture
def project(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project root (pyproject.toml) as cwd; what validate imports is dropped afterwards."""
    (in_tmp / "pyproject.toml").write_text("[project]\nname = 'acme-support-bot'\n")
    # validate puts cwd and conftest folders on sys.path: they must not outlive the test.
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield in_tmp
    for name in set(sys.modules) - before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(in_tmp)):
            del sys.modules[name]


def expect_line(path: Path, entry: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith(f"- {entry}"))


def test_validate_knows_a_constraint_registered_in_a_conftest_beside_the_cases(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "incident_cases").mkdir()
    (project / "incident_cases/conftest.py").write_text(MAX_WORDS_CONFTEST)
    write_case(project, "incident_cases/a.yaml", case_data("INC-A", expect=[{"max_words": 120}]))

    assert main(["validate"]) == 0

    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"


def test_validate_checks_a_project_constraint_against_its_schema(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "conftest.py").write_text(MAX_WORDS_CONFTEST)
    path = write_case(
        project, "incident_cases/a.yaml", case_data("INC-A", expect=[{"max_words": 0}])
    )

    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    assert captured.out == (
        f"incident_cases/a.yaml:{expect_line(path, 'max_words')}: expect[0].max_words: "
        "0 is less than the minimum of 1\n"
    )
    assert captured.err == "0 case(s) in 1 file(s), 1 error(s)\n"


def test_without_the_conftest_the_constraint_is_unknown(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(
        project, "incident_cases/a.yaml", case_data("INC-A", expect=[{"max_words": 120}])
    )

    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    assert captured.out == (
        f"incident_cases/a.yaml:{expect_line(path, 'max_words')}: expect[0].max_words: "
        f"unknown constraint 'max_words' (known: {', '.join(builtin_registry().names())})\n"
    )
    assert captured.err == "0 case(s) in 1 file(s), 1 error(s)\n"


def test_a_folder_conftest_applies_to_that_folder_only(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "incident_cases/security").mkdir(parents=True)
    (project / "incident_cases/security/conftest.py").write_text(MAX_WORDS_CONFTEST)
    limited = [{"max_words": 120}]
    write_case(project, "incident_cases/security/a.yaml", case_data("INC-SEC", expect=limited))
    write_case(
        project, "incident_cases/security/deep/b.yaml", case_data("INC-DEEP", expect=limited)
    )
    fairness = write_case(
        project, "incident_cases/fairness/c.yaml", case_data("INC-FAIR", expect=limited)
    )

    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    assert captured.out == (
        f"incident_cases/fairness/c.yaml:{expect_line(fairness, 'max_words')}: "
        f"expect[0].max_words: unknown constraint 'max_words' "
        f"(known: {', '.join(builtin_registry().names())})\n"
    )
    assert captured.err == "2 case(s) in 3 file(s), 1 error(s)\n"


def test_a_conftest_above_the_project_root_does_not_apply(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (in_tmp / "conftest.py").write_text(MAX_WORDS_CONFTEST)
    (in_tmp / "bot").mkdir()
    (in_tmp / "bot/pyproject.toml").write_text("[project]\nname = 'bot'\n")
    path = write_case(
        in_tmp, "bot/incident_cases/a.yaml", case_data("INC-A", expect=[{"max_words": 9}])
    )
    monkeypatch.chdir(in_tmp / "bot")

    assert main(["validate"]) == 1

    # As pytest's confcutdir: the project root bounds which conftest files count.
    assert capsys.readouterr().out == (
        f"incident_cases/a.yaml:{expect_line(path, 'max_words')}: expect[0].max_words: "
        f"unknown constraint 'max_words' (known: {', '.join(builtin_registry().names())})\n"
    )


def test_a_conftest_whose_import_raises_is_one_line_and_others_are_still_validated(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "incident_cases/crm").mkdir(parents=True)
    conftest = project / "incident_cases/crm/conftest.py"
    conftest.write_text(
        "import os\n\nif 'ACME_CRM_TOKEN' not in os.environ:\n"
        "    raise RuntimeError('set ACME_CRM_TOKEN to load the CRM constraints')\n"
    )
    write_case(project, "incident_cases/crm/a.yaml", case_data("INC-CRM"))
    write_case(project, "incident_cases/support/b.yaml", case_data("INC-B"))
    regex = write_case(
        project, "incident_cases/support/c.yaml", case_data("INC-C", expect=[{"matches": "(x"}])
    )

    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "incident_cases/crm/conftest.py:4: importing it raised RuntimeError: "
        "set ACME_CRM_TOKEN to load the CRM constraints",
        f"incident_cases/support/c.yaml:{expect_line(regex, 'matches')}: expect[0].matches: "
        "invalid regular expression /(x/: missing ), unterminated subpattern at position 0",
    ]
    assert captured.err == "1 case(s) in 3 file(s), 2 error(s)\n"


def test_a_conftest_registering_a_builtin_name_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conftest = project / "conftest.py"
    conftest.write_text(MAX_WORDS_CONFTEST.replace('"max_words"', '"contains"'))
    write_case(project, "incident_cases/a.yaml", case_data("INC-A"))

    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    assert captured.out == (
        "conftest.py:9: pytest_incident_evals_register_constraints raised "
        "ValueError: constraint 'contains' is already registered\n"
    )
    assert captured.err == "0 case(s) in 1 file(s), 1 error(s)\n"


@pytest.mark.parametrize(
    ("source", "line", "raised"),
    [
        ("import sys\nsys.exit(0)\n", 2, "importing it raised SystemExit(0)"),
        (
            "def pytest_incident_evals_register_variants(registry):\n    raise GeneratorExit\n",
            2,
            "pytest_incident_evals_register_variants raised GeneratorExit",
        ),
    ],
)
def test_a_conftest_raising_a_base_exception_is_one_line_and_validate_goes_on(
    project: Path, capsys: pytest.CaptureFixture[str], source: str, line: int, raised: str
) -> None:
    (project / "incident_cases/crm").mkdir(parents=True)
    (project / "incident_cases/crm/conftest.py").write_text(source)
    write_case(project, "incident_cases/crm/a.yaml", case_data("INC-CRM"))
    write_case(project, "incident_cases/support/b.yaml", case_data("INC-B"))

    # Even SystemExit(0) is an error here: the folder's cases could not be validated.
    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    assert captured.out == f"incident_cases/crm/conftest.py:{line}: {raised}\n"
    assert captured.err == "1 case(s) in 2 file(s), 1 error(s)\n"


def test_conftests_at_the_root_and_in_a_folder_register_for_that_folder_only(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found the way pytest finds them: the root's for every folder, a folder's for its own.
    (project / "conftest.py").write_text(MAX_WORDS_CONFTEST)
    (project / "incident_cases/security").mkdir(parents=True)
    (project / "incident_cases/security/conftest.py").write_text(
        MAX_WORDS_CONFTEST.replace("max_words", "max_lines")
    )
    both = [{"max_words": 120}, {"max_lines": 3}]
    write_case(project, "incident_cases/security/a.yaml", case_data("INC-SEC", expect=both))
    write_case(project, "incident_cases/fairness/b.yaml", case_data("INC-FAIR-1", expect=both[:1]))
    sibling = write_case(
        project, "incident_cases/fairness/c.yaml", case_data("INC-FAIR-2", expect=both[1:])
    )

    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    known = ", ".join(sorted([*builtin_registry().names(), "max_words"]))
    assert captured.out == (
        f"incident_cases/fairness/c.yaml:{expect_line(sibling, 'max_lines')}: "
        f"expect[0].max_lines: unknown constraint 'max_lines' (known: {known})\n"
    )
    assert captured.err == "2 case(s) in 3 file(s), 1 error(s)\n"


def test_a_plugin_the_root_conftest_names_in_pytest_plugins_registers_constraints(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A name of this test's own: a module another test imported would be found in sys.modules.
    plugin = "acme_constraints_" + re.sub(r"\W", "_", project.name)
    (project / f"{plugin}.py").write_text(MAX_WORDS_CONFTEST)
    (project / "conftest.py").write_text(f"pytest_plugins = [{plugin!r}]\n")
    write_case(project, "incident_cases/a.yaml", case_data("INC-A", expect=[{"max_words": 120}]))

    assert main(["validate"]) == 0

    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"


def test_the_projects_addopts_apply_and_nothing_else_of_pytest_shows(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'addopts = ["-p", "pytester", "--strict-markers", "-n", "2", "-x", "-rA", "--ff", '
        '"--incident-evals", "--incident-report", "results.json"]\n'
    )
    (project / "conftest.py").write_text(MAX_WORDS_CONFTEST)
    write_case(project, "incident_cases/a.yaml", case_data("INC-A", expect=[{"max_words": 120}]))

    assert main(["validate"]) == 0

    # pytest's own output does not leak into the command's.
    assert capsys.readouterr() == ("1 case(s) in 1 file(s), 0 error(s)\n", "")
    # --incident-evals in addopts runs no case and writes no report; the cache is left alone.
    written = {p.name for p in project.iterdir()} - {"__pycache__"}
    assert written == {"conftest.py", "incident_cases", "pyproject.toml"}


def test_pytest_collects_nothing_but_the_case_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A test module among the cases is not imported, as `pytest --incident-evals` would not run
    # it either; a case in a folder pytest does not walk (norecursedirs) is still validated.
    (project / "incident_cases/build").mkdir(parents=True)
    (project / "incident_cases/build/conftest.py").write_text(MAX_WORDS_CONFTEST)
    (project / "incident_cases/test_imported.py").write_text(
        "import pathlib\n\npathlib.Path(__file__).with_suffix('.imported').touch()\n"
    )
    write_case(project, "incident_cases/a.yaml", case_data("INC-A"))
    write_case(
        project, "incident_cases/build/b.yaml", case_data("INC-B", expect=[{"max_words": 9}])
    )

    assert main(["validate"]) == 0

    assert capsys.readouterr().out == "2 case(s) in 2 file(s), 0 error(s)\n"
    assert not (project / "incident_cases/test_imported.imported").exists()


def test_the_projects_pytest_cache_is_neither_written_nor_cleared(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = ["--cache-clear", "--sw"]\n'
    )
    lastfailed = project / ".pytest_cache/v/cache/lastfailed"
    lastfailed.parent.mkdir(parents=True)
    lastfailed.write_text('{"tests/test_refunds.py::test_window": true}')
    write_case(project, "incident_cases/a.yaml", case_data("INC-A"))

    assert main(["validate"]) == 0

    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"
    assert [p for p in (project / ".pytest_cache").rglob("*") if p.is_file()] == [lastfailed]
    assert lastfailed.read_text() == '{"tests/test_refunds.py::test_window": true}'


def test_a_broken_conftest_of_a_folder_named_on_the_command_line_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # pytest imports it at start-up and then ends the session: the other folder still counts.
    (project / "incident_cases/crm").mkdir(parents=True)
    (project / "incident_cases/crm/conftest.py").write_text(
        "import json\n\nSETTINGS = json.loads('')\n"
    )
    write_case(project, "incident_cases/crm/a.yaml", case_data("INC-CRM-1"))
    write_case(project, "incident_cases/crm/b.yaml", case_data("INC-CRM-2"))
    write_case(project, "incident_cases/support/c.yaml", case_data("INC-C"))

    assert main(["validate", "incident_cases/crm", "incident_cases/support"]) == 1

    captured = capsys.readouterr()
    # One line for the conftest, not one for each file under it.
    assert captured.out == (
        "incident_cases/crm/conftest.py:3: importing it raised JSONDecodeError: "
        "Expecting value: line 1 column 1 (char 0)\n"
    )
    assert captured.err == "1 case(s) in 3 file(s), 1 error(s)\n"


def test_pytest_refusing_the_projects_options_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = ["--no-such-flag"]\n'
    )
    write_case(project, "incident_cases/a.yaml", case_data("INC-A"))

    assert main(["validate"]) == 2

    assert capsys.readouterr() == (
        "",
        "incident-evals validate: pytest: unrecognized arguments: --no-such-flag\n",
    )


def test_a_file_whose_loading_breaks_is_one_line_and_the_catalogue_goes_on(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import incident_evals.case

    write_case(in_tmp, "incident_cases/a.yaml", case_data("INC-A"))
    write_case(in_tmp, "incident_cases/b.yaml", case_data("INC-B"))
    load_file = incident_evals.case.load_file

    def breaks_on_a(path: Path, *args: Any) -> Any:
        # Whatever a loader bug or a hostile file might raise: no traceback, no early stop.
        if path.name == "a.yaml":
            raise RecursionError("maximum recursion depth exceeded")
        return load_file(path, *args)

    monkeypatch.setattr(incident_evals.case, "load_file", breaks_on_a)

    assert main(["validate"]) == 1

    captured = capsys.readouterr()
    assert captured.out == (
        "incident_cases/a.yaml:1: cannot be loaded: RecursionError: maximum recursion depth "
        "exceeded\n"
    )
    assert captured.err == "1 case(s) in 2 file(s), 1 error(s)\n"


def test_keyboard_interrupt_stops_validate_saying_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Raised by project code it looks exactly like Ctrl-C, so it is treated as one.
    (project / "checks.py").write_text("raise KeyboardInterrupt\n")
    write_case(
        project, "incident_cases/a.yaml", case_data("INC-A", expect=[{"python": "checks:f"}])
    )
    write_case(project, "incident_cases/b.yaml", case_data("INC-B"))

    assert main(["validate"]) == 130

    assert capsys.readouterr().err == "incident-evals validate: interrupted\n"


def test_a_check_that_raises_on_the_recording_is_an_error_not_a_catch(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "checks.py").write_text("def f(transcript, case):\n    raise SystemExit(0)\n")
    path = write_case(
        project,
        "incident_cases/a.yaml",
        case_data("INC-A", expect=[{"python": "checks:f"}], recorded_output="Yes, 60 days."),
    )

    assert main(["validate", "--check-recorded"]) == 1

    captured = capsys.readouterr()
    assert captured.out == (
        f"incident_cases/a.yaml:{expect_line(path, 'python')}: expect[0].python: cannot judge "
        "the recorded incident: checks:f raised SystemExit(0) (checks.py:2)\n"
    )
    assert (
        captured.err == "1 case(s) in 1 file(s), 1 error(s), 0 checked on their recorded incident\n"
    )


def test_a_python_constraint_whose_module_is_in_the_cwd_validates(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A name of this test's own: a module another test imported would be found in sys.modules.
    module = "refund_checks_" + re.sub(r"\W", "_", project.name)
    (project / f"{module}.py").write_text(
        "def within_window(transcript, case):\n"
        "    return 'full refund' not in transcript.final_text.lower()\n"
    )
    write_case(
        project,
        "incident_cases/a.yaml",
        case_data("INC-A", expect=[{"python": f"{module}:within_window"}]),
    )

    assert main(["validate"]) == 0

    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"
    assert str(Path.cwd()) in sys.path


def test_a_python_constraint_naming_a_missing_function_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = "refund_checks_" + re.sub(r"\W", "_", project.name)
    (project / f"{module}.py").write_text("def within_window(transcript, case):\n    return True\n")
    path = write_case(
        project,
        "incident_cases/a.yaml",
        case_data("INC-A", expect=[{"python": f"{module}:in_window"}]),
    )

    assert main(["validate"]) == 1

    assert capsys.readouterr().out == (
        f"incident_cases/a.yaml:{expect_line(path, 'python')}: expect[0].python: "
        f"{module!r} has no attribute 'in_window'\n"
    )


SIGN_OFF_CONFTEST = """\
from incident_evals.variants import Generated, VariantGenerator, last_user_message
from incident_evals.variants import with_message_content


def _sign_off(case, options, draw):
    index, text = last_user_message(case.input)
    return Generated(with_message_content(case.input, index, text + " Thanks!"), "thanks")


def pytest_incident_evals_register_variants(registry):
    registry.register(VariantGenerator("sign_off", {"type": ["object", "null"]}, _sign_off))
"""


def test_validate_knows_generators_registered_in_a_conftest(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(
        project,
        "incident_cases/a.yaml",
        case_data("INC-A", variants={"generate": [{"sign_off": {"count": 2}}]}),
    )

    assert main(["validate"]) == 1
    assert "unknown variant generator 'sign_off'" in capsys.readouterr().out

    (project / "conftest.py").write_text(SIGN_OFF_CONFTEST)
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "1 case(s) in 1 file(s), 0 error(s)\n"


# --- --check-recorded: would each case have caught its own incident? ------------------------------

SIXTY_DAYS = "Yes, you have 60 days to ask for a refund."


def case_line(path: Path, case_id: str) -> int:
    """The line a case starts on, as `path:line` names it."""
    return path.read_text(encoding="utf-8").splitlines().index(f"id: {case_id}") + 1


def missed_case(case_id: str) -> dict[str, Any]:
    """Its constraints hold on its own recording: it would not catch the incident again."""
    return case_data(
        case_id,
        recorded_output=SIXTY_DAYS,
        expect=[{"contains": "refund"}, {"not_contains": "30 days"}],
    )


def test_check_recorded_counts_the_cases_it_checked(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(
        in_tmp,
        "incident_cases/a.yaml",
        case_data("INC-A", recorded_output=SIXTY_DAYS),
        case_data("INC-NO-RECORDING"),
    )
    write_case(
        in_tmp,
        "incident_cases/b.yaml",
        case_data(
            "INC-B",
            input={"tools": [{"name": "send_email", "parameters": {"type": "object"}}]},
            recorded_tool_calls=[{"name": "send_email", "arguments": {"to": "all@acme"}}],
            expect=[{"tool_not_called": "send_email"}],
        ),
    )

    assert main(["validate", "--check-recorded"]) == 0

    # A case without a recording is named, with the reason, but is not an error.
    assert capsys.readouterr().out.splitlines() == [
        f"incident_cases/a.yaml:{case_line(path, 'INC-NO-RECORDING')}: INC-NO-RECORDING: not "
        "checked: no recording (neither recorded_output nor recorded_tool_calls)",
        "3 case(s) in 2 file(s), 0 error(s), 2 checked on their recorded incident, 1 not checked",
    ]


def test_a_case_that_would_not_catch_its_incident_is_an_error(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(
        in_tmp,
        "incident_cases/a.yaml",
        case_data("INC-A", recorded_output=SIXTY_DAYS),
        missed_case("INC-MISSED"),
    )
    # Without the flag the recording is not judged.
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "2 case(s) in 1 file(s), 0 error(s)\n"

    assert main(["validate", "--check-recorded", "incident_cases/a.yaml"]) == 1

    captured = capsys.readouterr()
    assert captured.out == (
        f"incident_cases/a.yaml:{case_line(path, 'INC-MISSED')}: INC-MISSED: would not have "
        "caught its own incident: every constraint holds on the recorded behaviour "
        f"(contains (line {expect_line(path, 'contains: refund')}), "
        f"not_contains (line {expect_line(path, 'not_contains: 30 days')})); "
        "add a constraint that fails on it\n"
    )
    assert captured.err == (
        "2 case(s) in 1 file(s), 1 error(s), 2 checked on their recorded incident\n"
    )


def test_check_recorded_verbose_names_what_caught_each_incident(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(
        in_tmp,
        "incident_cases/a.yaml",
        case_data("INC-NO-RECORDING", expect=[{"max_length": 400}]),
        case_data(
            "INC-A",
            recorded_output=SIXTY_DAYS,
            expect=[
                {"contains": "refund"},
                {"not_contains": "60 days"},
                {"contains_any": ["30 days", "thirty days"]},
            ],
        ),
    )

    assert main(["validate", "--check-recorded", "-v"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"incident_cases/a.yaml:{case_line(path, 'INC-NO-RECORDING')}: INC-NO-RECORDING: not "
        "checked: no recording (neither recorded_output nor recorded_tool_calls)",
        f"incident_cases/a.yaml:{case_line(path, 'INC-A')}: INC-A: catches its recorded "
        f"incident: not_contains (line {expect_line(path, 'not_contains')}), "
        f"contains_any (line {expect_line(path, 'contains_any')}) fail on it",
        "2 case(s) in 1 file(s), 0 error(s), 1 checked on their recorded incident, 1 not checked",
    ]


def test_a_judge_only_case_cannot_be_checked_and_says_so(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(
        in_tmp,
        "incident_cases/a.yaml",
        case_data(
            "INC-JUDGE",
            recorded_output=SIXTY_DAYS,
            expect=[{"judge": "The reply says refunds are only possible within 30 days."}],
        ),
    )

    assert main(["validate", "--check-recorded"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "incident_cases/a.yaml:1: INC-JUDGE: not checked: judge-only: judge (line "
        f"{expect_line(path, 'judge')}) needs a judge to be calibrated: no judge is configured: "
        "pass --judge-model NAME (and --judge-base-url URL), or replay recorded verdicts with "
        "--judge-replay DIR",
        "1 case(s) in 1 file(s), 0 error(s), 0 checked on their recorded incident, 1 not checked",
    ]


def test_schema_of_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["schema", "report"])

    assert info.value.code == 2
    # argparse words the choices differently across Python versions: check what is stable.
    error = capsys.readouterr().err
    assert "incident-evals schema: error: argument which: invalid choice: 'report'" in error
    assert "case" in error.rsplit("choose from", 1)[1]
