"""Hostile project code: ``python:`` check modules, conftest hooks, registered constraints and
variant generators that raise anything (``sys.exit()``, ``SystemExit(0)``, RecursionError,
GeneratorExit, their own BaseException subclasses), at import or at call, or return no verdict.

Each input is a small project (``checks/``, conftest files, ``incident_cases/``) with one
ordinary case beside the hostile one. It is run as a user would, in a time-limited subprocess:
``pytest --incident-evals`` against the scripted chat server, and ``incident-evals validate``
(``--check-recorded`` where the code runs at call; ``incident-evals variants`` for a generator,
which only it and pytest run). Each asserts the exact one-line message, that the ordinary case
still passes or is still counted, and that no traceback or INTERNALERROR is printed. The one
exception that is not turned into a line is KeyboardInterrupt: it cannot be told apart from a
real Ctrl-C, so it stops the run as Ctrl-C does.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

#: Seconds a whole run may take (start-up and slack for a busy machine).
RUN_LIMIT_S = 120
#: More lines than this in a run's output means something printed a traceback.
MAX_OUTPUT_LINES = 80
FINE = "INC-FINE"
HOSTILE = "INC-HOSTILE"
ANSWER = "Refunds are accepted within 30 days."
CASES = "incident_cases/hostile.yaml"
CUSTOM_EXCEPTION = "class Stop(BaseException):\n    pass\n\n\n"


def literal(text: str) -> str:
    """``text`` with fnmatch's ``[`` taken literally (``*`` still matches anything)."""
    return text.replace("[", "[[]")


def line_of(path: Path, start: str, entry: str) -> int:
    """The line of the first line starting with ``entry`` after the line ``start``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = lines.index(start)
    return next(n for n in range(first, len(lines)) if lines[n].startswith(entry)) + 1


@dataclass
class Project:
    folder: Path

    def write(self, relative: str, source: str) -> None:
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")

    def cases(self, *hostile: dict[str, Any], relative: str = CASES) -> Path:
        """The hostile cases, then the ordinary one, whose recording its constraint catches."""
        fine = case_data(FINE, expect=[{"not_contains": "60 days"}], recorded_output="60 days.")
        return write_case(self.folder, relative, *hostile, fine)

    def validate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("validate", *args)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "incident_evals", *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT_S,
            check=False,
        )
        assert "Traceback" not in result.stdout + result.stderr
        return result


@pytest.fixture
def project(pytester: pytest.Pytester, chat_server: ChatServer) -> Project:
    # `checks` imports from the project folder, as pytest's `pythonpath` option makes it.
    pytester.makeini("[pytest]\npythonpath = .\n")
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks/__init__.py").write_text("")
    chat_server.set_script(lambda body: Reply(content=ANSWER))
    return Project(pytester.path)


def run_pytest(pytester: pytest.Pytester, endpoint_args: list[str]) -> pytest.RunResult:
    result = pytester.runpytest_subprocess(*endpoint_args, "-rA", timeout=RUN_LIMIT_S)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*Traceback*")
    assert len(result.outlines) < MAX_OUTPUT_LINES, "\n".join(result.outlines)
    return result


def python_case(**fields: Any) -> dict[str, Any]:
    return case_data(HOSTILE, expect=[{"python": "checks.leaky:check"}], **fields)


# --- python: checks that raise at import -----------------------------------------------------

RECURSION = "maximum recursion depth exceeded*"


@dataclass(frozen=True)
class AtImport:
    source: str
    #: How the exception is shown (fnmatch: `*` for the interpreter's own wording).
    raised: str
    #: The line of checks/leaky.py it came from.
    line: int


AT_IMPORT = [
    pytest.param(AtImport("import sys\nsys.exit(3)\n", "SystemExit(3)", 2), id="sys-exit"),
    pytest.param(AtImport("raise SystemExit(0)\n", "SystemExit(0)", 1), id="exit-0-is-no-success"),
    pytest.param(
        AtImport(
            "def deep(n):\n    return deep(n + 1)\n\n\ndeep(0)\n", f"RecursionError: {RECURSION}", 2
        ),
        id="recursion",
    ),
    pytest.param(AtImport("raise GeneratorExit\n", "GeneratorExit", 1), id="generator-exit"),
    pytest.param(
        AtImport(CUSTOM_EXCEPTION + "raise Stop('not today')\n", "Stop: not today", 5),
        id="custom-base-exception",
    ),
    pytest.param(
        AtImport("raise MemoryError('cannot load the model')\n", "MemoryError: cannot load *", 1),
        id="memory-error",
    ),
]


@pytest.mark.parametrize("hostile", AT_IMPORT)
def test_a_check_module_raising_at_import_is_one_load_error_in_pytest_and_validate(
    pytester: pytest.Pytester, project: Project, endpoint_args: list[str], hostile: AtImport
) -> None:
    project.write(
        "checks/leaky.py", hostile.source + "\n\ndef check(transcript, case):\n    return True\n"
    )
    path = project.cases(python_case())
    line = line_of(path, f"id: {HOSTILE}", "- python")
    error = (
        f"{CASES}:{line}: expect[0].python: checks.leaky:check raised {hostile.raised} at import "
        f"(checks/leaky.py:{hostile.line})"
    )

    result = run_pytest(pytester, endpoint_args)
    checked = project.validate()

    result.stdout.fnmatch_lines([literal(error)])
    # The ordinary case, and its [recorded] item, still ran.
    result.assert_outcomes(passed=2, errors=1)
    [shown] = checked.stdout.splitlines()
    assert fnmatch.fnmatchcase(shown, literal(error))
    assert checked.stderr == "1 case(s) in 1 file(s), 1 error(s)\n"
    assert checked.returncode == 1


# --- python: checks that raise at call, or return no verdict ---------------------------------


@dataclass(frozen=True)
class AtCall:
    body: str
    #: What the check did, as the message says it after ``checks.leaky:check``.
    what: str


AT_CALL = [
    pytest.param(
        AtCall("import sys\n    sys.exit(3)", "raised SystemExit(3) (checks/leaky.py:7)"),
        id="sys-exit",
    ),
    pytest.param(
        AtCall("raise SystemExit(0)", "raised SystemExit(0) (checks/leaky.py:6)"),
        id="exit-0-is-no-success",
    ),
    pytest.param(
        AtCall(
            "return check(transcript, case)",
            f"raised RecursionError: {RECURSION} (checks/leaky.py:6)",
        ),
        id="recursion",
    ),
    pytest.param(
        AtCall("raise Stop('no')", "raised Stop: no (checks/leaky.py:6)"),
        id="custom-base-exception",
    ),
    pytest.param(
        AtCall(
            "return None",
            'returned "None"; expected True/False, (passed, message) or a Verdict',
        ),
        id="returns-none",
    ),
    pytest.param(
        AtCall(
            "return 'yes'",
            "returned \"'yes'\"; expected True/False, (passed, message) or a Verdict",
        ),
        id="returns-a-string",
    ),
]


@pytest.mark.parametrize("hostile", AT_CALL)
def test_a_check_raising_at_call_is_an_item_error_never_a_pass(
    pytester: pytest.Pytester, project: Project, endpoint_args: list[str], hostile: AtCall
) -> None:
    project.write(
        "checks/leaky.py", CUSTOM_EXCEPTION + f"def check(transcript, case):\n    {hostile.body}\n"
    )
    path = project.cases(python_case())
    line = line_of(path, f"id: {HOSTILE}", "- python")

    result = run_pytest(pytester, endpoint_args)

    result.stdout.fnmatch_lines(
        [
            literal(
                f"{HOSTILE}: constraint error: python (line {line}): checks.leaky:check "
                f"{hostile.what}"
            ),
            f"ERROR {CASES}::{HOSTILE} - *",
        ]
    )
    result.assert_outcomes(passed=2, errors=1)


@pytest.mark.parametrize("hostile", AT_CALL)
def test_a_check_raising_on_the_recording_is_one_validate_error(
    project: Project, hostile: AtCall
) -> None:
    project.write(
        "checks/leaky.py", CUSTOM_EXCEPTION + f"def check(transcript, case):\n    {hostile.body}\n"
    )
    path = project.cases(python_case(recorded_output="The refund window is 60 days."))
    line = line_of(path, f"id: {HOSTILE}", "- python")

    checked = project.validate("--check-recorded")

    [shown] = checked.stdout.splitlines()
    # Not "catches its recorded incident": a check that gave no verdict caught nothing.
    assert fnmatch.fnmatchcase(
        shown,
        literal(
            f"{CASES}:{line}: expect[0].python: cannot judge the recorded incident: "
            f"checks.leaky:check {hostile.what}"
        ),
    )
    assert checked.stderr == (
        "2 case(s) in 1 file(s), 1 error(s), 1 checked on their recorded incident\n"
    )
    assert checked.returncode == 1


# --- KeyboardInterrupt: a real Ctrl-C must still stop the run --------------------------------


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            "raise KeyboardInterrupt\n\n\ndef check(transcript, case):\n    return True\n",
            id="at-import",
        ),
        pytest.param("def check(transcript, case):\n    raise KeyboardInterrupt\n", id="at-call"),
    ],
)
def test_keyboard_interrupt_stops_the_run_as_ctrl_c_does(
    pytester: pytest.Pytester, project: Project, endpoint_args: list[str], source: str
) -> None:
    project.write("checks/leaky.py", source)
    project.cases(python_case(recorded_output="The refund window is 60 days."))

    result = pytester.runpytest_subprocess(*endpoint_args, timeout=RUN_LIMIT_S)
    checked = project.validate("--check-recorded")

    # pytest's own report of an interruption, not an internal error.
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*! KeyboardInterrupt !*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert checked.returncode == 130
    assert checked.stderr == "incident-evals validate: interrupted\n"


# --- conftest hooks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "body", "raised", "line"),
    [
        pytest.param(
            "pytest_incident_evals_register_constraints",
            "raise SystemExit(5)",
            "SystemExit(5)",
            6,
            id="constraints-hook-sys-exit",
        ),
        pytest.param(
            "pytest_incident_evals_register_variants",
            "raise Stop('no generators today')",
            "Stop: no generators today",
            6,
            id="variants-hook-base-exception",
        ),
        pytest.param(
            "pytest_incident_evals_register_constraints",
            "return pytest_incident_evals_register_constraints(registry)",
            f"RecursionError: {RECURSION}",
            6,
            id="constraints-hook-recursion",
        ),
    ],
)
def test_a_conftest_hook_that_raises_fails_its_folder_in_one_line(
    pytester: pytest.Pytester,
    project: Project,
    endpoint_args: list[str],
    hook: str,
    body: str,
    raised: str,
    line: int,
) -> None:
    project.write(
        "incident_cases/legacy/conftest.py",
        CUSTOM_EXCEPTION + f"def {hook}(registry):\n    {body}\n",
    )
    legacy = case_data(HOSTILE, variants={"generate": [{"typos": {"count": 1}}]})
    write_case(project.folder, "incident_cases/legacy/old.yaml", legacy)
    project.cases()

    result = run_pytest(pytester, endpoint_args)
    checked = project.validate()

    conftest = "incident_cases/legacy/conftest.py"
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of old.yaml (failed to load)*",
            f"incident_cases/legacy/old.yaml:1: {hook} in {conftest}:{line}: {raised}",
        ]
    )
    # The other folder's case, and its [recorded] item.
    result.assert_outcomes(passed=2, errors=1)
    [shown] = checked.stdout.splitlines()
    assert fnmatch.fnmatchcase(shown, f"{conftest}:{line}: {hook} raised {raised}")
    assert checked.stderr == "1 case(s) in 2 file(s), 1 error(s)\n"
    assert checked.returncode == 1


def test_a_conftest_that_exits_at_import_is_one_validate_line(tmp_path: Path) -> None:
    """pytest imports conftest files itself and, by its own design, stops on a SystemExit there
    (as for any conftest, with or without this plugin). ``validate`` imports them itself: one
    line, and the other folders are still validated."""
    project = Project(tmp_path)
    project.write("pyproject.toml", "")
    project.write("incident_cases/legacy/conftest.py", "import sys\nsys.exit(7)\n")
    write_case(tmp_path, "incident_cases/legacy/old.yaml", case_data(HOSTILE))
    project.cases()

    checked = project.validate()

    assert checked.stdout.splitlines() == [
        "incident_cases/legacy/conftest.py:2: importing it raised SystemExit(7)"
    ]
    assert checked.stderr == "1 case(s) in 2 file(s), 1 error(s)\n"
    assert checked.returncode == 1


# --- registered constraints and generators ---------------------------------------------------

REGISTERED = """\
import sys

from incident_evals.constraints import ConstraintType, Verdict
from incident_evals.variants import Generated, VariantGenerator

{custom}
def _build_strict(argument, case):
    {build}

    def check(transcript, case):
        {check}

    return check


def _generate(case, options, draw):
    {generate}


def _check(case, options):
    {options_check}


def pytest_incident_evals_register_constraints(registry):
    registry.register(ConstraintType("strict", {{"type": "boolean"}}, _build_strict))


def pytest_incident_evals_register_variants(registry):
    registry.register(VariantGenerator("broken", {{"type": "object"}}, _generate, check=_check))
"""


def registered(
    *,
    build: str = "pass",
    check: str = "return Verdict(True, 'strict')",
    generate: str = "return Generated(case.input, 'unchanged')",
    options_check: str = "pass",
) -> str:
    return REGISTERED.format(
        custom=CUSTOM_EXCEPTION,
        build=build,
        check=check,
        generate=generate,
        options_check=options_check,
    )


def conftest_line(project: Project, text: str) -> int:
    lines = (project.folder / "conftest.py").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip() == text)


def test_a_registered_constraint_whose_build_exits_is_one_load_error(
    pytester: pytest.Pytester, project: Project, endpoint_args: list[str]
) -> None:
    project.write("conftest.py", registered(build="sys.exit(4)"))
    path = project.cases(case_data(HOSTILE, expect=[{"strict": True}]))
    line = line_of(path, f"id: {HOSTILE}", "- strict")
    error = f"{CASES}:{line}: expect[0].strict: building the constraint raised SystemExit(4)"

    result = run_pytest(pytester, endpoint_args)
    checked = project.validate()

    result.stdout.fnmatch_lines([literal(error)])
    result.assert_outcomes(passed=2, errors=1)
    assert checked.stdout.splitlines() == [error]
    assert checked.returncode == 1


def test_a_registered_constraint_whose_check_exits_is_an_item_error(
    pytester: pytest.Pytester, project: Project, endpoint_args: list[str]
) -> None:
    project.write("conftest.py", registered(check="raise SystemExit(6)"))
    path = project.cases(case_data(HOSTILE, expect=[{"strict": True}], recorded_output="60 days"))
    line = line_of(path, f"id: {HOSTILE}", "- strict")
    raised = f"raised SystemExit(6) (conftest.py:{conftest_line(project, 'raise SystemExit(6)')})"

    result = run_pytest(pytester, endpoint_args)
    checked = project.validate("--check-recorded")

    result.stdout.fnmatch_lines(
        [literal(f"{HOSTILE}: constraint error: strict (line {line}): {raised}")]
    )
    # The [recorded] item of the hostile case is an error too: its check gave no verdict.
    result.assert_outcomes(passed=2, errors=2)
    assert checked.stdout.splitlines() == [
        f"{CASES}:{line}: expect[0].strict: cannot judge the recorded incident: {raised}"
    ]
    assert checked.returncode == 1


@pytest.mark.parametrize(
    ("generate", "raised"),
    [
        pytest.param("sys.exit(1)", "SystemExit(1)", id="sys-exit"),
        pytest.param(
            "raise Stop('out of ideas')", "Stop: out of ideas", id="custom-base-exception"
        ),
        pytest.param(
            "return None", "TypeError: returned NoneType, not Generated", id="returns-none"
        ),
    ],
)
def test_a_generator_plugin_that_raises_costs_its_variants_only(
    pytester: pytest.Pytester,
    project: Project,
    endpoint_args: list[str],
    generate: str,
    raised: str,
) -> None:
    project.write("conftest.py", registered(generate=generate))
    path = project.cases(case_data(HOSTILE, variants={"generate": [{"broken": {"count": 2}}]}))
    line = line_of(path, f"id: {HOSTILE}", "  - broken")
    error = (
        f"{CASES}:{line}: variants.generate: variant generator 'broken' failed on broken-1: "
        f"{raised}"
    )

    result = run_pytest(pytester, endpoint_args)
    shown = project.cli("variants", CASES, "--id", HOSTILE)

    result.stdout.fnmatch_lines([literal(error)])
    # The case itself, the ordinary case and its [recorded] item still ran.
    result.assert_outcomes(passed=3, errors=1)
    assert shown.stdout.splitlines()[0] == error
    assert shown.returncode == 1


def test_a_generator_plugin_whose_check_raises_is_one_load_error(
    pytester: pytest.Pytester, project: Project, endpoint_args: list[str]
) -> None:
    project.write("conftest.py", registered(options_check="raise Stop('bad options')"))
    path = project.cases(case_data(HOSTILE, variants={"generate": [{"broken": {"count": 1}}]}))
    line = line_of(path, f"id: {HOSTILE}", "  - broken")
    error = (
        f"{CASES}:{line}: variants.generate[0].broken: checking the generator's options raised "
        "Stop: bad options"
    )

    result = run_pytest(pytester, endpoint_args)
    checked = project.validate()

    result.stdout.fnmatch_lines([literal(error)])
    result.assert_outcomes(passed=2, errors=1)
    assert checked.stdout.splitlines() == [error]
    assert checked.returncode == 1
