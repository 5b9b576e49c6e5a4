"""Case loading: schema, lines, content files, cross-references (``incident_evals.case``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, set_modified, write_case
from incident_evals.case import (
    CaseError,
    IdClaims,
    LoadedCase,
    case_files,
    catalogue_root,
    claim_id,
    load_file,
)
from incident_evals.constraints import builtin_registry
from transcripts import load_error


def load(path: Path, root: Path | None = None) -> list[LoadedCase | CaseError]:
    return load_file(path, root or path.parent, builtin_registry())


def only_case(path: Path, root: Path | None = None) -> LoadedCase:
    [result] = load(path, root)
    assert isinstance(result, LoadedCase), str(result)
    return result


def only_error(path: Path, root: Path | None = None) -> str:
    [result] = load(path, root)
    assert isinstance(result, CaseError), result
    return result.render(path.parent)


def test_full_case_becomes_an_incident_case(tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(
        """\
# yaml-language-server: $schema=case.schema.json
id: INC-2025-031-refund
title: Quoted the superseded policy
incident:
  category: correctness
  severity: major
  status: mitigated
  date: 2025-11-02
  tags: [rag]
model: {name: gpt-old, temperature: 0, max_tokens: 400}
input:
  system: Answer from the documents.
  messages:
    - {role: user, content: "Can I get a refund?"}
  documents:
    - {id: policy-2024, title: Refunds, content: 30 days.}
    - {id: payroll, content: secret, sensitive: true, markers: [PAYROLL]}
  tools:
    - name: send_email
      parameters: {type: object, properties: {to: {type: string}}}
      responses:
        - {when: {to: a@b.example}, output: {status: sent}}
        - output: {status: queued}
recorded_output: Yes, 60 days.
expect:
  - not_contains: 60 days
  - contains_any: [30 days, thirty days]
runs: {repeats: 3, min_pass_rate: 0.5, max_turns: 4}
""",
        encoding="utf-8",
    )

    loaded = only_case(path)

    case = loaded.case
    assert case.id == "INC-2025-031-refund"
    assert case.line == 2
    assert case.incident.status == "mitigated"
    assert case.incident.date == "2025-11-02"
    assert case.model == {"name": "gpt-old", "temperature": 0, "max_tokens": 400}
    assert [doc.id for doc in case.input.documents] == ["policy-2024", "payroll"]
    payroll = case.document("payroll")
    assert payroll is not None
    assert payroll.sensitive
    assert payroll.markers == ("PAYROLL",)
    tool = case.tool("send_email")
    assert tool is not None
    assert [r.when for r in tool.responses] == [{"to": "a@b.example"}, None]
    assert [(c.name, c.line) for c in loaded.constraints] == [
        ("not_contains", 26),
        ("contains_any", 27),
    ]
    assert (case.runs.repeats, case.runs.min_pass_rate, case.runs.max_turns) == (3, 0.5, 4)


def test_status_defaults_to_resolved(tmp_path: Path) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-A"))

    assert only_case(path).case.incident.status == "resolved"


def test_multi_document_file_keeps_order_and_skips_empty_documents(tmp_path: Path) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1"), case_data("INC-2"))
    path.write_text(path.read_text() + "---\n", encoding="utf-8")

    results = load(path)

    assert [r.case.id for r in results if isinstance(r, LoadedCase)] == ["INC-1", "INC-2"]
    assert len(results) == 2


def test_duplicate_id_in_one_file(tmp_path: Path) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1"), case_data("INC-1"))

    first, second = load(path)

    assert isinstance(first, LoadedCase)
    assert isinstance(second, CaseError)
    assert second.render(tmp_path) == "a.yaml:13: id: duplicate case id 'INC-1' (first at line 1)"


def test_content_files_are_read_relative_to_the_case(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/policy.md").write_text("Refunds: 30 days.", encoding="utf-8")
    (tmp_path / "docs/system.md").write_text("You are Acme's assistant.", encoding="utf-8")
    (tmp_path / "docs/question.md").write_text("Refund after 40 days?", encoding="utf-8")
    path = write_case(
        tmp_path,
        "cases/a.yaml",
        case_data(
            "INC-1",
            input={
                "system": {"content_file": "../docs/system.md"},
                "messages": [{"role": "user", "content": {"content_file": "../docs/question.md"}}],
                "documents": [{"id": "p", "content_file": "../docs/policy.md"}],
            },
        ),
    )

    case = only_case(path, tmp_path).case

    assert case.input.system == "You are Acme's assistant."
    assert case.input.messages[0]["content"] == "Refund after 40 days?"
    assert case.input.documents[0].content == "Refunds: 30 days."


@pytest.mark.parametrize(
    ("content_file", "message"),
    [
        ("../../etc/passwd", "'../../etc/passwd' leaves the case catalogue root"),
        ("/etc/passwd", "'/etc/passwd' leaves the case catalogue root"),
        ("missing.md", "'missing.md' does not exist"),
    ],
)
def test_content_file_errors(tmp_path: Path, content_file: str, message: str) -> None:
    path = write_case(
        tmp_path,
        "cases/a.yaml",
        case_data("INC-1", input={"documents": [{"id": "p", "content_file": content_file}]}),
    )

    error = only_error(path, tmp_path / "cases")

    assert error.startswith("a.yaml:12: input.documents[0].content_file: " + message)


def test_content_file_symlink_out_of_the_catalogue_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases/link.md").symlink_to(outside)
    path = write_case(
        tmp_path,
        "cases/a.yaml",
        case_data("INC-1", input={"documents": [{"id": "p", "content_file": "link.md"}]}),
    )

    assert "leaves the case catalogue root" in only_error(path, tmp_path / "cases")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"input": {"documents": [{"id": "d", "content": "x"}, {"id": "d", "content": "y"}]}},
            "a.yaml:13: input.documents[1].id: duplicate document id 'd'",
        ),
        (
            {"input": {"tools": [{"name": "t"}, {"name": "t"}]}},
            "a.yaml:12: input.tools[1].name: duplicate tool name 't'",
        ),
        (
            {"input": {"document_template": "<doc>{body}</doc>"}},
            "a.yaml:10: input.document_template: unknown placeholder(s) {body}; "
            "use {id}, {title}, {content}",
        ),
        (
            {"input": {"messages": [{"role": "tool", "content": "x"}]}},
            "a.yaml:8: input.messages[0].tool_call_id: required field is missing",
        ),
        (
            {"id": "has space"},
            "a.yaml:1: id: 'has space' is not a valid id: use letters, digits, '.', '_' and '-', "
            "and not '.' or '..' alone (ids name files and folders)",
        ),
        (
            {"surprise": 1},
            "a.yaml:12: surprise: unknown field (known: expect, id, incident, input, model, "
            "recorded_output, recorded_tool_calls, runs, schema_version, title, variants)",
        ),
        (
            {"incident": {"category": "safety", "severity": "minor", "colour": "red"}},
            "a.yaml:6: incident.colour: unknown field (known: category, date, owner, postmortem, "
            "severity, status, summary, tags)",
        ),
        (
            {"expect": [{"contains": True}]},
            "a.yaml:11: expect[0].contains: expected string or list, got boolean True "
            "(quote it if you meant the word)",
        ),
        (
            {"expect": [{"contains": {"value": "a", "exact": "maybe"}}]},
            "a.yaml:13: expect[0].contains.exact: expected boolean, got string 'maybe'",
        ),
        (
            {"input": {"documents": [{"id": "d"}]}},
            "a.yaml:11: input.documents[0]: needs one of: content, content_file",
        ),
        (
            {"input": {"documents": [{"id": "d", "content": "x", "content_file": "d.md"}]}},
            "a.yaml:11: input.documents[0]: give only one of: content, content_file",
        ),
    ],
)
def test_cross_reference_and_schema_errors(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", **fields))

    assert only_error(path) == message


def test_unquoted_dates_and_core_scalars_are_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        write_case(tmp_path, "a.yaml", case_data("INC-1"))
        .read_text()
        .replace("  severity: major\n", "  severity: major\n  date: 2025-01-02\n"),
        encoding="utf-8",
    )

    assert only_case(path).case.incident.date == "2025-01-02"


@pytest.mark.parametrize(
    "text",
    [
        "id: !!python/name:os.system x\n",
        "id: !custom x\n",
        "id: !!binary aGVsbG8=\n",
        "incident: !!set {a, b}\n",
    ],
)
def test_tags_outside_the_core_schema_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(text)

    assert "unsupported YAML tag" in only_error(path)


def test_a_syntax_error_keeps_the_documents_before_it(tmp_path: Path) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1"))
    path.write_text(path.read_text() + "---\nid: [\n", encoding="utf-8")

    first, second = load(path)

    assert isinstance(first, LoadedCase)
    assert isinstance(second, CaseError)
    assert "invalid YAML" in second.message


def test_claim_id_keeps_the_first_file(tmp_path: Path) -> None:
    a = only_case(set_modified(write_case(tmp_path, "a.yaml", case_data("INC-1")), 1))
    b = only_case(set_modified(write_case(tmp_path, "b.yaml", case_data("INC-1")), 2))
    seen = IdClaims()

    assert claim_id(a, seen, tmp_path) is a
    assert claim_id(a, seen, tmp_path) is a  # the same case seen again is not a duplicate
    error = claim_id(b, seen, tmp_path)

    assert isinstance(error, CaseError)
    assert error.render(tmp_path) == (
        "b.yaml:1: id: duplicate case id 'INC-1' (first defined at a.yaml:1)"
    )


def test_the_file_modified_later_is_the_duplicate_whichever_is_collected_first(
    tmp_path: Path,
) -> None:
    # a.yaml is collected first, but b.yaml wrote the id before a.yaml was last modified.
    a = only_case(set_modified(write_case(tmp_path, "a.yaml", case_data("INC-1")), 20))
    b = only_case(set_modified(write_case(tmp_path, "b.yaml", case_data("INC-1")), 10))
    claims = IdClaims([tmp_path])

    error = claim_id(a, claims, tmp_path)

    assert isinstance(error, CaseError)
    assert error.render(tmp_path) == (
        "a.yaml:1: id: duplicate case id 'INC-1' (first defined at b.yaml:1)"
    )
    assert claim_id(b, claims, tmp_path) is b


def test_files_modified_at_the_same_time_are_both_duplicates(tmp_path: Path) -> None:
    a = only_case(set_modified(write_case(tmp_path, "a.yaml", case_data("INC-1")), 5))
    b = only_case(set_modified(write_case(tmp_path, "b.yaml", case_data("INC-1")), 5))
    claims = IdClaims([tmp_path])

    errors = [claim_id(a, claims, tmp_path), claim_id(b, claims, tmp_path)]

    assert [e.render(tmp_path) for e in errors if isinstance(e, CaseError)] == [
        "a.yaml:1: id: duplicate case id 'INC-1' (also defined at b.yaml:1, modified at the "
        "same time)",
        "b.yaml:1: id: duplicate case id 'INC-1' (also defined at a.yaml:1, modified at the "
        "same time)",
    ]


def test_a_duplicate_of_a_file_not_collected_is_still_found(tmp_path: Path) -> None:
    set_modified(write_case(tmp_path, "cases/old.yaml", case_data("INC-1")), 1)
    new = only_case(set_modified(write_case(tmp_path, "cases/new.yaml", case_data("INC-1")), 2))

    error = claim_id(new, IdClaims([tmp_path / "cases"]), tmp_path)

    assert isinstance(error, CaseError)
    assert error.render(tmp_path) == (
        "cases/new.yaml:1: id: duplicate case id 'INC-1' (first defined at cases/old.yaml:1)"
    )


def test_an_id_the_scan_cannot_see_is_kept_by_the_first_claim(tmp_path: Path) -> None:
    # A document in flow style has no `id:` line: collection order decides.
    flow = "{id: INC-1, incident: {category: safety, severity: minor}, "
    flow += "input: {messages: [{role: user, content: hi}]}, expect: [{contains: a}]}\n"
    (tmp_path / "a.yaml").write_text(flow)
    (tmp_path / "b.yaml").write_text(flow)
    a = only_case(set_modified(tmp_path / "a.yaml", 9))
    b = only_case(set_modified(tmp_path / "b.yaml", 1))
    claims = IdClaims([tmp_path])

    assert claim_id(a, claims, tmp_path) is a
    error = claim_id(b, claims, tmp_path)

    assert isinstance(error, CaseError)
    assert error.render(tmp_path).endswith("(first defined at a.yaml:1)")


def test_catalogue_root_is_the_outermost_root_holding_the_file(tmp_path: Path) -> None:
    outer, inner = tmp_path / "cases", tmp_path / "cases/team"
    inner.mkdir(parents=True)
    file = inner / "a.yaml"
    file.write_text("")

    # Naming a subfolder or the file itself must not shrink the catalogue.
    assert catalogue_root(file, [outer, inner]) == outer.resolve()
    assert catalogue_root(file, [file, outer]) == outer.resolve()
    assert catalogue_root(file, [file]) == inner.resolve()
    assert catalogue_root(tmp_path / "elsewhere/a.yaml", [outer]) == (tmp_path / "elsewhere")


def test_case_files_finds_yaml_and_yml_sorted(tmp_path: Path) -> None:
    for name in ("b.yml", "a/c.yaml", "notes.md", "a.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")

    assert [p.relative_to(tmp_path).as_posix() for p in case_files(tmp_path)] == [
        "a/c.yaml",
        "a.yaml",
        "b.yml",
    ]


def test_an_empty_value_is_named_as_nothing_not_as_python_none(tmp_path: Path) -> None:
    body = """
input: {messages: [{role: user, content: hi}]}
expect:
  - no_pii:
"""
    assert load_error(tmp_path, body) == (
        "case.yaml:6: expect[0].no_pii: expected list, got nothing (null)"
    )


def test_markers_on_a_document_that_is_not_sensitive_are_a_load_error(tmp_path: Path) -> None:
    body = """
input:
  messages: [{role: user, content: hi}]
  documents:
    - id: benefits-faq
      content: Employees get 25 days of leave.
      markers: [INTERNAL]
expect:
  - contains: leave
"""
    assert load_error(tmp_path, body) == (
        "case.yaml:9: input.documents[0].markers: markers are only searched for in sensitive "
        "documents: add sensitive: true, or remove the markers"
    )
