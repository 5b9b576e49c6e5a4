"""``pytest_incident_evals_register_constraints``: project constraints from conftest files,
scoped to the folders those files govern, as pytest scopes fixtures (SPEC §8)."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply
from incident_evals import hookspecs
from incident_evals.constraints import builtin_registry

REPLIES = {
    "INC-SHORT": "Refunds take 30 days.",
    "INC-LONG": "Refunds usually take about thirty days, but we can make an exception for you.",
    "INC-SEC-OK": "Please use the public status page at status.acme.example.",
    "INC-SEC-LEAK": "Connect to vpn.corp.internal and log in as admin.",
}


def reply_by_case(body: dict[str, Any]) -> Reply:
    """The scripted answer for the case whose question this is (items run in any order)."""
    asked = str(body["messages"])
    return Reply(content=next((text for case, text in REPLIES.items() if case in asked), "OK."))


def literal(pattern: str) -> str:
    """``pattern`` with ``[`` taken literally by fnmatch (field paths such as ``expect[0]``)."""
    return pattern.replace("[", "[[]")


def hookspec_example() -> str:
    """The ``conftest.py`` example of the hook's documentation, exactly as it is shown."""
    doc = inspect.getdoc(hookspecs.pytest_incident_evals_register_constraints)
    assert doc is not None
    _, found, rest = doc.partition("Example ``conftest.py``::\n")
    assert found, "the hookspec has no conftest example"
    example, found, _ = rest.partition("\nand in a case")
    assert found
    return textwrap.dedent(example)


def expect_line(path: Path, case_id: str, entry: str) -> int:
    """The line of the ``expect`` entry starting with ``entry`` in case ``case_id`` at ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"id: {case_id}")
    return next(n for n in range(start, len(lines)) if lines[n].startswith(f"- {entry}")) + 1


def case_id(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"]).removeprefix("question for ")


NO_INTERNAL_HOSTS = """\
from incident_evals.constraints import ConstraintType, Verdict, quote


def _build(domain, case):
    expected = f"no host under {domain}"

    def check(transcript, case):
        for word in transcript.final_text.split():
            if word.rstrip(".,").endswith("." + domain):
                return Verdict(False, expected, f"names {quote(word.rstrip('.,'))}")
        return Verdict(True, expected)

    return check


def pytest_incident_evals_register_constraints(registry):
    registry.register(
        ConstraintType("no_internal_hosts", {"type": "string", "minLength": 1}, _build)
    )
"""


def test_the_documented_conftest_example_works(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    pytester.makeconftest(hookspec_example())
    path = write_case(
        pytester.path,
        "incident_cases/answers.yaml",
        case_data("INC-SHORT", expect=[{"max_words": 5}]),
        case_data("INC-LONG", expect=[{"max_words": 5}]),
    )
    chat_server.set_script(reply_by_case)

    result = pytester.runpytest(*endpoint_args, "-rf")

    line = expect_line(path, "INC-LONG", "max_words")
    result.stdout.fnmatch_lines(
        [
            "INC-LONG: 1 of 1 constraint(s) failed (model test-model)",
            f"  max_words (line {line}): expected at most 5 words",
            "      14 words",
            "  output:",
            f"    | {REPLIES['INC-LONG']}",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED incident_cases/answers.yaml::INC-LONG*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.assert_outcomes(passed=1, failed=1)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_folder_conftest_applies_to_that_folder_only(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str], workers: str
) -> None:
    security = pytester.path / "incident_cases/security"
    security.mkdir(parents=True)
    (security / "conftest.py").write_text(NO_INTERNAL_HOSTS, encoding="utf-8")
    uses_it = [{"no_internal_hosts": "corp.internal"}]
    write_case(security, "status.yaml", case_data("INC-SEC-OK", expect=uses_it))
    # A subfolder is governed by its parent's conftest, as for fixtures.
    leak = write_case(security, "vpn/leak.yaml", case_data("INC-SEC-LEAK", expect=uses_it))
    fairness = write_case(
        pytester.path, "incident_cases/fairness/loans.yaml", case_data("INC-FAIR", expect=uses_it)
    )
    write_case(pytester.path, "incident_cases/fairness/plain.yaml", case_data("INC-PLAIN"))
    chat_server.set_script(reply_by_case)

    result = pytester.runpytest(*endpoint_args, "-n", workers)

    known = ", ".join(builtin_registry().names())
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of loans.yaml (failed to load)*",
            literal(
                f"incident_cases/fairness/loans.yaml:{expect_line(fairness, 'INC-FAIR', 'no_')}"
                ": expect[0].no_internal_hosts: unknown constraint 'no_internal_hosts' "
                f"(known: {known})"
            ),
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*INC-SEC-LEAK: 1 of 1 constraint(s) failed (model test-model)",
            f"  no_internal_hosts (line {expect_line(leak, 'INC-SEC-LEAK', 'no_')}): "
            "expected no host under corp.internal",
            '      names "vpn.corp.internal"',
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    assert sorted(case_id(r.body) for r in chat_server.requests) == [
        "INC-PLAIN",
        "INC-SEC-LEAK",
        "INC-SEC-OK",
    ]


@pytest.mark.parametrize(
    ("registration", "error", "message"),
    [
        pytest.param(
            'ConstraintType("contains", {"type": "string"}, _build)',
            "ValueError",
            "constraint 'contains' is already registered",
            id="builtin-name",
        ),
        pytest.param(
            'ConstraintType("no-internal-hosts", {"type": "string"}, _build)',
            "ValueError",
            "constraint name 'no-internal-hosts' must be letters, digits and _ "
            "(not starting with a digit)",
            id="bad-name",
        ),
        pytest.param(
            '{"name": "no_internal_hosts", "build": _build}',
            "TypeError",
            "expected a ConstraintType, got dict",
            id="not-a-constraint-type",
        ),
    ],
)
def test_a_registration_the_registry_refuses_is_a_one_line_collection_error(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    registration: str,
    error: str,
    message: str,
) -> None:
    legacy = pytester.path / "incident_cases/legacy"
    legacy.mkdir(parents=True)
    (legacy / "conftest.py").write_text(
        "from incident_evals.constraints import ConstraintType, Verdict\n\n\n"
        "def _build(argument, case):\n"
        "    return lambda transcript, case: Verdict(True)\n\n\n"
        "def pytest_incident_evals_register_constraints(registry):\n"
        f"    registry.register({registration})\n",
        encoding="utf-8",
    )
    write_case(legacy, "old.yaml", case_data("INC-OLD"))
    write_case(pytester.path, "incident_cases/current.yaml", case_data("INC-CURRENT"))
    chat_server.set_script(reply_by_case)

    result = pytester.runpytest(*endpoint_args)

    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of old.yaml (failed to load)*",
            "incident_cases/legacy/old.yaml:1: "
            "pytest_incident_evals_register_constraints in incident_cases/legacy/conftest.py:9: "
            f"{error}: {message}",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("body", "raised"),
    [
        pytest.param("raise SystemExit(0)", "SystemExit(0)", id="exit-0-is-no-success"),
        pytest.param("import sys; sys.exit('legacy')", "SystemExit('legacy')", id="sys-exit"),
        pytest.param(
            "return pytest_incident_evals_register_constraints(registry)",
            "RecursionError: maximum recursion depth exceeded*",
            id="recursion",
        ),
    ],
)
def test_a_hook_raising_any_base_exception_is_a_one_line_collection_error(
    pytester: pytest.Pytester,
    chat_server: ChatServer,
    endpoint_args: list[str],
    body: str,
    raised: str,
) -> None:
    legacy = pytester.path / "incident_cases/legacy"
    legacy.mkdir(parents=True)
    (legacy / "conftest.py").write_text(
        f"def pytest_incident_evals_register_constraints(registry):\n    {body}\n",
        encoding="utf-8",
    )
    write_case(legacy, "old.yaml", case_data("INC-OLD"))
    write_case(pytester.path, "incident_cases/current.yaml", case_data("INC-CURRENT"))
    chat_server.set_script(reply_by_case)

    result = pytester.runpytest(*endpoint_args)

    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of old.yaml (failed to load)*",
            "incident_cases/legacy/old.yaml:1: "
            "pytest_incident_evals_register_constraints in incident_cases/legacy/conftest.py:2: "
            f"{raised}",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_rootdir_conftest_applies_everywhere(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    pytester.makeconftest(hookspec_example())
    limited = [{"max_words": 5}]
    write_case(pytester.path, "incident_cases/top.yaml", case_data("INC-SHORT", expect=limited))
    write_case(
        pytester.path, "incident_cases/security/deep/a.yaml", case_data("INC-SEC", expect=limited)
    )
    write_case(
        pytester.path, "incident_cases/fairness/b.yaml", case_data("INC-LONG", expect=limited)
    )
    chat_server.set_script(reply_by_case)

    result = pytester.runpytest(*endpoint_args, "-v")

    result.stdout.fnmatch_lines(
        [
            "incident_cases/fairness/b.yaml::INC-LONG FAILED*",
            "incident_cases/security/deep/a.yaml::INC-SEC PASSED*",
            "incident_cases/top.yaml::INC-SHORT PASSED*",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        ["  max_words (line *): expected at most 5 words", "      14 words"]
    )
    result.assert_outcomes(passed=2, failed=1)


def test_folder_conftests_add_to_the_rootdir_ones(
    pytester: pytest.Pytester, chat_server: ChatServer, endpoint_args: list[str]
) -> None:
    pytester.makeconftest(hookspec_example())
    security = pytester.path / "incident_cases/security"
    security.mkdir(parents=True)
    (security / "conftest.py").write_text(NO_INTERNAL_HOSTS, encoding="utf-8")
    both: list[dict[str, Any]] = [{"max_words": 20}, {"no_internal_hosts": "corp.internal"}]
    write_case(security, "leak.yaml", case_data("INC-SEC-LEAK", expect=both))
    chat_server.set_script(reply_by_case)

    result = pytester.runpytest(*endpoint_args)

    result.stdout.fnmatch_lines(
        [
            "INC-SEC-LEAK: 1 of 2 constraint(s) failed (model test-model)",
            "  no_internal_hosts (line *): expected no host under corp.internal",
        ]
    )
    result.assert_outcomes(failed=1)
