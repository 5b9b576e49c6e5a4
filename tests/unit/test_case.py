"""Case loading: schema, lines, content files, cross-references (``incident_evals.case``)."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest

from case_files import case_data, set_modified, write_case
from incident_evals.case import (
    MAX_SENSITIVE_TEXT,
    MAX_TEXT,
    CaseError,
    EmptyCaseFileWarning,
    IdClaims,
    IncidentCase,
    LoadedCase,
    case_files,
    catalogue_root,
    claim_id,
    load_file,
    load_schema,
    written_ids,
)
from incident_evals.constraints import (
    Check,
    ConstraintRegistry,
    ConstraintType,
    Verdict,
    builtin_registry,
)
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
            {"input": {"document_template": "<doc>{body}</doc>{content}"}},
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
            "a.yaml:12: surprise: unknown field (known: accepted_outputs, expect, guard, id, "
            "incident, input, model, "
            "recorded_output, recorded_tool_calls, runs, schema_version, title, variants)",
        ),
        (
            {"incident": {"category": "safety", "severity": "minor", "colour": "red"}},
            "a.yaml:6: incident.colour: unknown field (known: actions, category, date, detected, "
            "impact, mitigated, owner, postmortem, resolved, severity, source, status, summary, "
            "tags, taxonomy)",
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: {}\n", "a.yaml:3: input.messages: required field is missing"),
        (
            "input:\n  system: Be brief.\n  documents: []\n",
            "a.yaml:3: input.messages: required field is missing",
        ),
        (
            'input: {messages: [{role: user, content: hi}], tools: [{name: "lookup\\n"}]}\n',
            "a.yaml:3: input.tools[0].name: 'lookup\\n' is not a valid tool name: use 1 to 64 "
            "letters, digits, '_' and '-'",
        ),
    ],
)
def test_input_the_schema_refuses_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    # Both once loaded: `required` stood beside a `$ref`, which the fast check ignored, and `$`
    # in a pattern matched before a final newline.
    path = tmp_path / "a.yaml"
    header = "id: INC-1\nincident: {category: safety, severity: minor}\n"
    path.write_text(header + text + "expect: [{contains: a}]\n", encoding="utf-8")

    assert only_error(path) == message


def test_an_id_ending_in_a_newline_is_refused(tmp_path: Path) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1\n"))

    assert only_error(path) == (
        "a.yaml:1: id: 'INC-1\\n' is not a valid id: use letters, digits, '.', '_' and '-', "
        "and not '.' or '..' alone (ids name files and folders)"
    )


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


# --- reading YAML: budgets checked while parsing -------------------------------------------------

BODY = """\
input:
  messages: [{role: user, content: Can I get a refund?}]
expect: [{not_contains: 60 days}]
"""


def test_merge_keys_and_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        """\
id: INC-M
incident:
  <<: [{category: safety, severity: minor}, {severity: critical, status: open}]
  status: mitigated
input:
  messages:
    - &question {role: user, content: Can I get a refund?}
    - *question
expect: [{not_contains: 60 days}]
"""
    )

    case = only_case(path).case

    # The first mapping listed wins; keys written beside the merge win over both.
    assert (case.incident.category, case.incident.severity) == ("safety", "minor")
    assert case.incident.status == "mitigated"
    assert case.input.messages[0] == case.input.messages[1]


def test_an_error_inside_an_alias_is_reported_where_the_alias_is_used(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "id: INC-A\n"
        "incident: {category: safety, severity: minor}\n"
        "x-shared: &message {role: robot, content: hi}\n"
        "input:\n"
        "  messages:\n"
        "    - *message\n"
        "expect: [{not_contains: 60 days}]\n"
    )

    # x-shared is unknown too; the error the schema reports first is the deeper one.
    assert only_error(tmp_path / "a.yaml") == (
        "a.yaml:6: input.messages[0].role: 'robot' is not one of "
        "['user', 'assistant', 'tool', 'system']"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "a: &a [x, x, x]\nb: [*a, *a, *a, *a]\n",
            "a.yaml:2: alias *a takes the file over 12 YAML nodes (an alias counts as the "
            "nodes it repeats: an alias bomb?)",
            id="alias-repeats-count",
        ),
        pytest.param(
            "a: [1, 2, 3, 4, 5]\nb: [6, 7, 8, 9, 10]\n",
            "a.yaml:2: more than 12 YAML nodes in this file; split it into several",
            id="plain-nodes-count",
        ),
        pytest.param(
            "---\na: [1, 2, 3, 4]\n---\nb: [5, 6, 7, 8]\n",
            "a.yaml:4: more than 12 YAML nodes in this file; split it into several",
            id="counted-across-documents",
        ),
    ],
)
def test_the_node_budget_counts_the_whole_file_and_alias_repeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.setattr("incident_evals.case.MAX_NODES", 12)
    path = tmp_path / "a.yaml"
    path.write_text(text)

    errors = [r.render(tmp_path) for r in load(path) if isinstance(r, CaseError)]

    assert errors[-1] == message


def test_nesting_is_limited_with_aliases_expanded(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    # 64 levels is the limit: reached, not passed, by the case; passed by the alias below.
    deepest = "[" * 63 + "]" * 63
    path.write_text(f"id: INC-A\nx-deep: &deep {deepest}\ny: [*deep]\n")

    assert only_error(path) == "a.yaml:3: y: nested more than 64 levels deep (aliases expanded)"


def test_documents_before_a_file_limit_stand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("incident_evals.case.MAX_NODES", 60)
    path = write_case(tmp_path, "a.yaml", case_data("INC-1"))
    path.write_text(path.read_text() + "---\nitems: [" + "a, " * 100 + "a]\n")

    first, second = load(path)

    assert isinstance(first, LoadedCase)
    assert isinstance(second, CaseError)
    assert second.message == "more than 60 YAML nodes in this file; split it into several"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (".nan", "x: .nan is not a finite number (JSON and the endpoint have no NaN or infinity)"),
        (
            "-.Inf",
            "x: -.Inf is not a finite number (JSON and the endpoint have no NaN or infinity)",
        ),
        (
            "1.0e+999",
            "x: 1.0e+999 is not a finite number (JSON and the endpoint have no NaN or infinity)",
        ),
        ("1" * 101, "x: a number of 101 characters; write at most 100"),
    ],
)
def test_numbers_must_be_finite_and_short_anywhere(
    tmp_path: Path, value: str, message: str
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(f"x: {value}\n")

    assert only_error(path) == f"a.yaml:1: {message}"


def test_a_file_larger_than_the_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("incident_evals.case.MAX_FILE_BYTES", 100)
    path = tmp_path / "a.yaml"
    path.write_bytes(b"\xff" * 101)  # not UTF-8: the error would say so had it been read

    assert only_error(path) == (
        "a.yaml:1: the file is 101 bytes, more than the limit of 100 (0 MiB) for a case file; "
        "it was not read"
    )


@pytest.mark.parametrize("text", ["", "# a comment\n\n# another\n", "---\n...\n---\n"])
def test_a_file_without_a_case_loads_nothing(tmp_path: Path, text: str) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(text)

    assert load(path) == []
    assert EmptyCaseFileWarning(path).line(tmp_path) == "a.yaml: warning: no case in this file"


# --- limits: each number in the schema is the loader's too ----------------------------------------


def test_the_schema_carries_the_loaders_limits() -> None:
    schema = load_schema("case")
    defs = schema["$defs"]
    assert schema["properties"]["id"]["maxLength"] == 128
    assert schema["properties"]["runs"]["properties"]["repeats"]["maximum"] == 1000
    assert schema["properties"]["runs"]["properties"]["max_turns"]["maximum"] == 64
    assert defs["text"]["anyOf"][0]["maxLength"] == MAX_TEXT
    assert defs["message"]["properties"]["content"]["anyOf"][0]["maxLength"] == MAX_TEXT
    assert defs["document"]["properties"]["content"]["maxLength"] == MAX_TEXT
    assert defs["document"]["then"]["properties"]["content"]["maxLength"] == MAX_SENSITIVE_TEXT
    assert schema["properties"]["recorded_output"]["maxLength"] == MAX_TEXT
    assert defs["input"]["properties"]["document_template"]["maxLength"] == 4096
    count = schema["$defs"]["generators"]["typos"]["properties"]["count"]["maximum"]
    assert count == 50


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{content}{title:>99999999999999}",
            "placeholder {title:>99999999999999} has a conversion or format; write {title} "
            "alone ({id}, {title} and {content} take none)",
        ),
        (
            "{id!s}{content}",
            "placeholder {id!s} has a conversion or format; write {id} alone ({id}, {title} and "
            "{content} take none)",
        ),
        (
            "{content}\n{content}",
            "2 placeholders, 2 of them {content}; a template takes {content} once and at most 8 "
            "placeholders in all",
        ),
        (
            "{id}" * 9 + "{content}",
            "10 placeholders, 1 of them {content}; a template takes {content} once and at most 8 "
            "placeholders in all",
        ),
        (
            "{content.__class__}{content}",
            "unknown placeholder(s) {content.__class__}; use {id}, {title}, {content}",
        ),
    ],
)
def test_document_template_placeholders_are_plain(
    tmp_path: Path, template: str, message: str
) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", input={"document_template": template}))

    assert only_error(path) == f"a.yaml:10: input.document_template: {message}"


NO_CONTENT = (
    "has no {content} placeholder, so the documents are never sent and the replay cannot show a "
    "leak: write {content} where each document's text goes ({{content}} is the literal text)"
)


@pytest.mark.parametrize(
    "template",
    ["[{id}] {title}", "<doc>{{content}}</doc>", "{{{{content}}}}", "", "{content:>9}"],
)
def test_a_document_template_without_content_is_a_load_error(tmp_path: Path, template: str) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", input={"document_template": template}))

    assert only_error(path) == f"a.yaml:10: input.document_template: {template!r} {NO_CONTENT}"


def test_a_document_template_without_content_in_a_variant_is_a_load_error(tmp_path: Path) -> None:
    variants = {"cases": [{"name": "bare", "document_template": "[{id}] {title}"}]}
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", variants=variants))

    assert only_error(path).endswith(
        ": variants.cases[0].document_template: '[{id}] {title}' " + NO_CONTENT
    )


@pytest.mark.parametrize(
    "template",
    [
        "{content}",
        "[{id}] {title}\n{content}",
        "{{{content}}}",
        "{{content}}: {content}",
        "a\n{content}",
    ],
)
def test_a_document_template_with_a_real_content_placeholder_loads(
    tmp_path: Path, template: str
) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", input={"document_template": template}))

    assert only_case(path).case.input.document_template == template


def test_a_document_template_with_content_twice_is_refused_for_the_repetition(
    tmp_path: Path,
) -> None:
    """{content} twice does send the documents: the error is the repetition, not a missing one."""
    template = "{content} / {content}"
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", input={"document_template": template}))

    assert only_error(path) == (
        "a.yaml:10: input.document_template: 2 placeholders, 2 of them {content}; a template "
        "takes {content} once and at most 8 placeholders in all"
    )


def test_a_content_file_that_is_a_fifo_is_refused_without_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    path = write_case(
        tmp_path, "a.yaml", case_data("INC-1", input={"system": {"content_file": "pipe"}})
    )

    assert only_error(path) == (
        "a.yaml:11: input.system.content_file: 'pipe' is not a regular file"
    )


def test_a_content_file_is_bounded_in_bytes_before_and_characters_after_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("incident_evals.case.MAX_TEXT", 10)
    (tmp_path / "big.md").write_text("x" * 41)
    (tmp_path / "wide.md").write_text("é" * 11)  # 22 bytes, under 4 x 10; 11 characters
    big = write_case(
        tmp_path, "a.yaml", case_data("INC-1", input={"system": {"content_file": "big.md"}})
    )
    wide = write_case(
        tmp_path, "b.yaml", case_data("INC-2", input={"system": {"content_file": "wide.md"}})
    )

    assert only_error(big) == (
        "a.yaml:11: input.system.content_file: 'big.md' is 41 bytes, more than the limit of 10 "
        "characters"
    )
    assert only_error(wide) == (
        "b.yaml:11: input.system.content_file: 'wide.md' is 11 characters, more than the limit "
        "of 10 characters"
    )


def test_the_input_and_its_sensitive_documents_are_bounded_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("incident_evals.case.MAX_INPUT_TEXT", 100)
    monkeypatch.setattr("incident_evals.case.MAX_SENSITIVE_TEXT", 30)
    for name in ("a", "b"):
        (tmp_path / f"{name}.md").write_text(name * 20)
    sensitive = [
        {"id": name, "content_file": f"{name}.md", "sensitive": True} for name in ("a", "b")
    ]
    plain = [{"id": name, "content_file": f"{name}.md"} for name in ("a", "b")]
    long_question = [{"role": "user", "content": "q" * 70}]

    assert only_error(
        write_case(tmp_path, "s.yaml", case_data("INC-1", input={"documents": sensitive}))
    ) == (
        "s.yaml:10: input.documents: the sensitive documents hold 40 characters in all, more than "
        "the limit of 30 (no_leak indexes every span of them)"
    )
    assert only_error(
        write_case(
            tmp_path,
            "t.yaml",
            case_data("INC-2", input={"documents": plain, "messages": long_question}),
        )
    ) == (
        "t.yaml:6: input: the input holds 110 characters of text in all (system, messages, "
        "documents), more than the limit of 100"
    )


def test_a_case_cannot_declare_more_samples_than_the_limit(tmp_path: Path) -> None:
    path = write_case(
        tmp_path,
        "a.yaml",
        case_data(
            "INC-1",
            input={"messages": [{"role": "user", "content": "Please refund my purchase"}]},
            runs={"repeats": 500},
            variants={"generate": [{"typos": {"count": 10}}, {"casing": {"count": 10}}]},
        ),
    )

    assert only_error(path) == (
        "a.yaml:13: runs.repeats: 500 repeats of 21 items (the case and its 20 variants) are "
        "10,500 samples, more than the limit of 10,000 for a case"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"expect": [{"tool_args": {"tool": "t"}, "schema": {"type": "object"}}]},
            'a.yaml:15: expect[0]: "schema" found here, expected under tool_args',
            id="beside-its-constraint",
        ),
        pytest.param(
            {"expect": [{"contains": "a", "exact": True}]},
            'a.yaml:14: expect[0]: "exact" found here, expected under contains',
            id="beside-a-short-form",
        ),
        pytest.param(
            {"model": {"repeats": 3}},
            'a.yaml:15: model: "repeats" found here, expected under runs',
            id="under-a-sibling",
        ),
        pytest.param(
            {"incident": {"category": "safety", "severity": "minor", "model": {"seed": 1}}},
            'a.yaml:6: incident: "model" found here, expected at the top level',
            id="one-level-too-deep",
        ),
        pytest.param(
            {"max_turns": 3},
            'a.yaml:14: "max_turns" found here, expected under runs',
            id="one-level-too-high",
        ),
    ],
)
def test_a_misplaced_key_is_named_with_where_it_belongs(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    data = case_data("INC-1", input={"tools": [{"name": "t"}]}, **fields)
    path = write_case(tmp_path, "a.yaml", data)

    assert only_error(path) == message


def test_long_values_are_clipped_in_messages(tmp_path: Path) -> None:
    path = write_case(
        tmp_path,
        "a.yaml",
        case_data("INC-1", incident={"category": "safety", "severity": "s" * 10_000}),
    )

    assert only_error(path) == (
        f"a.yaml:5: incident.severity: '{'s' * 79}… is not one of ['minor', 'major', 'critical']"
    )


def test_written_ids_reads_ids_within_the_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("incident_evals.case.MAX_NODES", 50)
    path = write_case(tmp_path, "a.yaml", case_data("INC-1"), {"id": "INC-2", "broken": True})
    path.write_text(path.read_text() + "---\nid: INC-3\nitems: [" + "a, " * 100 + "a]\n")

    # The second case is invalid but holds its id; the third passes the node limit.
    assert written_ids(path) == [("INC-1", 1), ("INC-2", 13)]


def test_model_api_is_chat_or_responses(tmp_path: Path) -> None:
    over_responses = write_case(tmp_path, "r.yaml", case_data(model={"api": "responses"}))
    assert only_case(over_responses).case.model["api"] == "responses"
    assert "api" not in only_case(write_case(tmp_path, "c.yaml", case_data())).case.model

    wrong = write_case(tmp_path, "w.yaml", case_data(model={"api": "grpc"}))
    assert only_error(wrong) == "w.yaml:13: model.api: 'grpc' is not one of ['chat', 'responses']"


# --- the cyclic garbage collector while a file loads ---------------------------------------------


def _recording_registry(seen: list[bool], interrupt: bool = False) -> ConstraintRegistry:
    """The built-in constraints and ``probe``, whose build notes whether the collector runs."""

    def build(argument: Any, case: IncidentCase) -> Check:
        seen.append(gc.isenabled())
        if interrupt:
            raise KeyboardInterrupt
        return lambda transcript, case: Verdict(True)

    registry = builtin_registry().copy()
    registry.register(ConstraintType("probe", {}, build))
    return registry


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_while_a_file_loads_and_left_as_it_was(
    tmp_path: Path, enabled: bool
) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", expect=[{"probe": "x"}]))
    seen: list[bool] = []
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        [result] = load_file(path, tmp_path, _recording_registry(seen))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert isinstance(result, LoadedCase), str(result)
    assert seen == [False]


def test_the_collector_runs_again_after_an_interrupted_load(tmp_path: Path) -> None:
    path = write_case(tmp_path, "a.yaml", case_data("INC-1", expect=[{"probe": "x"}]))
    seen: list[bool] = []
    assert gc.isenabled()
    with pytest.raises(KeyboardInterrupt):
        load_file(path, tmp_path, _recording_registry(seen, interrupt=True))
    assert seen == [False]
    assert gc.isenabled()
