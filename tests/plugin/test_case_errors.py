"""Bad case files: one line naming file, line and field; the other cases still run (SPEC §10)."""

from __future__ import annotations

import pytest

from case_files import case_data, set_modified, write_case

GOOD = "incident_cases/good.yaml"


def literal(pattern: str) -> str:
    """``pattern`` with ``[`` taken literally by fnmatch (field paths such as ``expect[1]``)."""
    return pattern.replace("[", "[[]")


VALID_HEAD = """\
id: INC-X
incident: {category: safety, severity: minor}
input:
  messages: [{role: user, content: hi}]
"""


@pytest.mark.parametrize(
    ("content", "line"),
    [
        pytest.param("id: x\nincident: [\n", "bad.yaml:3: invalid YAML: *", id="broken-yaml"),
        pytest.param(
            VALID_HEAD.replace("minor", "huge") + "expect: [{contains: a}]\n",
            "bad.yaml:2: incident.severity: 'huge' is not one of ['minor', 'major', 'critical']",
            id="wrong-enum",
        ),
        pytest.param(
            VALID_HEAD + "expect:\n  - max_length: lots\n",
            "bad.yaml:6: expect[0].max_length: expected integer or mapping, got string 'lots'",
            id="wrong-type",
        ),
        pytest.param(
            VALID_HEAD + "expect:\n  - contains: a\n  - frobnicate: 3\n",
            "bad.yaml:7: expect[1].frobnicate: unknown constraint 'frobnicate' (known: *)",
            id="unknown-constraint",
        ),
        pytest.param(
            VALID_HEAD + "expect:\n  - matches: '(unclosed'\n",
            "bad.yaml:6: expect[0].matches*: *missing ), unterminated subpattern*",
            id="bad-regex",
        ),
        pytest.param(
            "id: !!python/object/apply:os.system [echo pwned]\n",
            "bad.yaml:1: id: unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system",
            id="python-tag",
        ),
        pytest.param(
            VALID_HEAD.replace("input:\n", "input:\n  system: {content_file: ../../etc/passwd}\n")
            + "expect: [{contains: a}]\n",
            "bad.yaml:4: input.system.content_file: '../../etc/passwd' leaves the case catalogue "
            "root *",
            id="path-escape",
        ),
        pytest.param(
            "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
            "bad.yaml:5: alias *d takes the file over 100,000 YAML nodes (an alias counts as the "
            "nodes it repeats: an alias bomb?)",
            id="alias-bomb",
        ),
        pytest.param(
            VALID_HEAD + "expect: [{contains: a}]\nid: INC-Y\n",
            "bad.yaml:6: id: duplicate key 'id'",
            id="duplicate-key",
        ),
        pytest.param(
            VALID_HEAD + "expect: []\n",
            "bad.yaml:5: expect: is empty: add at least one constraint, what must never happen "
            "again (see docs/constraints.md)",
            id="empty-expect",
        ),
        pytest.param(
            VALID_HEAD
            + "  documents: [{id: payroll, content: 'Salary 91000', sensitive: true}]\n"
            + "  document_template: '[{id}] {title} {{content}}'\n"
            + "expect: [no_leak]\n",
            "bad.yaml:6: input.document_template: '[{id}] {title} {{content}}' has no {content} "
            "placeholder, so the documents are never sent and the replay cannot show a leak: *",
            id="template-without-content",
        ),
    ],
)
def test_bad_file_is_one_line_and_others_still_run(
    pytester: pytest.Pytester, endpoint_args: list[str], content: str, line: str
) -> None:
    write_case(pytester.path, GOOD, case_data("INC-GOOD"))
    (pytester.path / "incident_cases/bad.yaml").write_text(content, encoding="utf-8")

    result = pytester.runpytest(*endpoint_args)

    result.stdout.fnmatch_lines(
        ["*ERROR at setup of bad.yaml (failed to load)*", f"incident_cases/{literal(line)}"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*pwned*")
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_non_utf8_file(pytester: pytest.Pytester, endpoint_args: list[str]) -> None:
    write_case(pytester.path, GOOD, case_data("INC-GOOD"))
    (pytester.path / "incident_cases/bad.yaml").write_bytes(b"id: x\ntitle: caf\xe9\n")

    result = pytester.runpytest(*endpoint_args)

    result.stdout.fnmatch_lines(
        ["incident_cases/bad.yaml:2: not UTF-8 (byte 0xe9 cannot be decoded)"]
    )
    result.assert_outcomes(passed=1, errors=1)


def test_one_bad_document_leaves_the_others_in_its_file(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    bad = case_data("INC-2", input={"messages": [{"role": "robot", "content": "hi"}]})
    write_case(
        pytester.path, "incident_cases/multi.yaml", case_data("INC-1"), bad, case_data("INC-3")
    )

    result = pytester.runpytest(*endpoint_args, "-v")

    result.stdout.fnmatch_lines(
        [
            "incident_cases/multi.yaml::INC-1 PASSED*",
            "incident_cases/multi.yaml::INC-3 PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of multi.yaml (failed to load)*",
            literal(
                "incident_cases/multi.yaml:20: input.messages[0].role: 'robot' is not one of *"
            ),
        ]
    )
    result.stdout.fnmatch_lines(["ERROR incident_cases/multi.yaml::line-20 - Failed: *"])
    result.assert_outcomes(passed=2, errors=1)


def test_duplicate_case_id_across_files(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    set_modified(write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-SAME")), 1)
    set_modified(write_case(pytester.path, "incident_cases/b.yaml", case_data("INC-SAME")), 2)

    result = pytester.runpytest(*endpoint_args)

    result.stdout.fnmatch_lines(
        [
            "incident_cases/b.yaml:1: id: duplicate case id 'INC-SAME' "
            "(first defined at incident_cases/a.yaml:1)"
        ]
    )
    result.assert_outcomes(passed=1, errors=1)


def test_content_file_inside_the_catalogue_is_read(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    from chat_server import ChatServer  # noqa: F401  (the fixture behind endpoint_args)

    docs = pytester.path / "incident_cases/docs"
    docs.mkdir(parents=True)
    (docs / "policy.md").write_text("Refunds within 30 days.", encoding="utf-8")
    write_case(
        pytester.path,
        "incident_cases/rag/case.yaml",
        case_data(
            "INC-FILE",
            input={"documents": [{"id": "policy", "content_file": "../docs/policy.md"}]},
        ),
    )
    result = pytester.runpytest(*endpoint_args)
    result.assert_outcomes(passed=1)
