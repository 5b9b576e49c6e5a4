"""The citation constraints: cites and not_cites.

The incident: Acme's support bot answered a refund question from the superseded 2023 policy
(60 days) instead of the 2024 one (30 days), although both were retrieved.
"""

# The look-alike characters in these tests are their subject, not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from incident_evals.case import LoadedCase
from incident_evals.constraints import Verdict, builtin_registry
from incident_evals.constraints.documents import CONSTRAINTS
from incident_evals.transcript import Transcript
from transcripts import load_case, load_error, tool_call, transcript, verdicts

REFUND_DOCUMENTS = """\
input:
  system: You are Acme's support assistant. Answer only from the documents and cite them.
  messages: [{role: user, content: Can I get a refund 40 days after purchase?}]
  documents:
    - id: refund-policy-2023
      title: Refund policy (2023, superseded)
      content: Refunds are available within 60 days of purchase.
    - id: refund-policy-2024
      title: Refund policy (2024)
      content: Refunds are available within 30 days of purchase.
    - id: shipping-faq
      title: FAQ
      content: Returns ship free with the prepaid label.
    - id: returns-howto
      content: Start a return from the order page.
"""

GOOD_ANSWER = (
    "Sorry, no: refunds are available within 30 days of purchase [refund-policy-2024], "
    "and your order is 40 days old."
)
BAD_ANSWER = (
    "Yes! Under our Refund Policy (2023, superseded) you can return items within 60 days, "
    "so at 40 days you are still eligible."
)


def refund_case(tmp_path: Path, *expect: str) -> LoadedCase:
    """The refund incident with ``expect`` entries written as YAML flow mappings."""
    body = REFUND_DOCUMENTS + "expect:\n" + "".join(f"  - {entry}\n" for entry in expect)
    return load_case(tmp_path, body)


def judge(tmp_path: Path, entry: str, output: str | Transcript) -> Verdict:
    loaded = refund_case(tmp_path, entry)
    result = output if isinstance(output, Transcript) else transcript(output)
    [verdict] = verdicts(loaded, result)
    return verdict


# --- registry and argument schemas ---------------------------------------------------------------


def test_registry_holds_cites_and_not_cites_with_the_shipped_schemas() -> None:
    registry = builtin_registry()
    assert {"cites", "not_cites"} <= set(registry.names())
    assert sorted(c.name for c in CONSTRAINTS) == ["cites", "not_cites"]
    resource = resources.files("incident_evals") / "schemas" / "case.schema.json"
    shipped = json.loads(resource.read_text(encoding="utf-8"))["$defs"]["constraints"]
    for ctype in CONSTRAINTS:
        assert ctype.description
        assert ctype.argument_schema == shipped[ctype.name]


@pytest.mark.parametrize("name", ["cites", "not_cites"])
@pytest.mark.parametrize("argument", ["", [], [""], 3, {"id": "x"}, None])
def test_argument_schema_rejects_wrong_shapes(name: str, argument: Any) -> None:
    ctype = builtin_registry().get(name)
    assert ctype is not None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(argument, ctype.argument_schema)


# --- cites: passing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        pytest.param(GOOD_ANSWER, id="brackets"),
        pytest.param("Refunds within 30 days (refund-policy-2024).", id="parentheses"),
        pytest.param("Refunds within 30 days【refund-policy-2024】", id="cjk-brackets"),
        pytest.param("Source: doc:refund-policy-2024", id="doc-prefix"),
        pytest.param("Source: refund-policy-2024.", id="sentence-end"),
        pytest.param("Source: refund-policy-2024", id="text-end"),
        pytest.param("refund-policy-2024: refunds within 30 days", id="text-start"),
        pytest.param("See https://kb.acme.example/refund-policy-2024 for details.", id="url-path"),
        pytest.param("Per `refund-policy-2024`, no.", id="code-span"),
        pytest.param("Per [refund-\u200bpolicy-2024], no.", id="zero-width-space-inside"),
        pytest.param("Per [rеfund-pоlicy-2024], no.", id="cyrillic-letters"),
        pytest.param("Per [REFUND-POLICY-2024], no.", id="upper-case"),
        pytest.param("Per [refund\u2011policy\u20112024], no.", id="non-breaking-hyphens"),
        pytest.param("Per [ｒｅｆｕｎｄ-policy-２０２４], no.", id="full-width"),
        pytest.param("As the Refund policy (2024) says: 30 days.", id="title"),
        pytest.param("As the REFUND  POLICY\n(2024) says: 30 days.", id="title-case-and-spacing"),
        pytest.param("See [Refund policy (2024)](https://kb.acme.example/r).", id="title-link"),
        pytest.param("As the Rеfund pоlicy (2024) says.", id="title-cyrillic"),
    ],
)
def test_cites_passes_on_every_way_of_citing(tmp_path: Path, output: str) -> None:
    verdict = judge(tmp_path, "cites: refund-policy-2024", output)
    assert verdict == Verdict(True, 'cites "refund-policy-2024"')


def test_cites_list_passes_when_every_document_is_cited(tmp_path: Path) -> None:
    output = GOOD_ANSWER + " To return an item, see [returns-howto]."
    verdict = judge(tmp_path, "cites: [refund-policy-2024, returns-howto]", output)
    assert verdict == Verdict(True, 'cites all of ["refund-policy-2024", "returns-howto"]')


# --- cites: failing ------------------------------------------------------------------------------


def test_cites_fails_on_the_incident_output(tmp_path: Path) -> None:
    verdict = judge(tmp_path, "cites: refund-policy-2024", BAD_ANSWER)
    assert not verdict.passed
    assert verdict.expected == 'cites "refund-policy-2024"'
    assert verdict.message == (
        '"refund-policy-2024" not cited (by id or by title "Refund policy (2024)"); output: '
        '"Yes! Under our Refund Policy (2023, superseded) you can return items within 60 days, '
        'so at 40 days you are still eligibl…"'
    )
    assert verdict.span is None


@pytest.mark.parametrize(
    "output",
    [
        pytest.param("See [refund-policy-2024-v2].", id="longer-id-after"),
        pytest.param("See [old-refund-policy-2024].", id="longer-id-before"),
        pytest.param("See [refund-policy-20245].", id="more-digits"),
        pytest.param("See [refund-policy-2024_draft].", id="underscore-after"),
        pytest.param("See [xrefund-policy-2024].", id="letter-before"),
        pytest.param("See kb.refund-policy-2024 here.", id="dotted-prefix"),
        pytest.param("See refund-policy-2024.pdf here.", id="file-extension"),
        pytest.param("See refund-policy-2024.v2 here.", id="dotted-suffix"),
        pytest.param("See [refund policy 2024].", id="spaces-for-dashes"),
        pytest.param("See [refund-policy-2023].", id="other-year"),
        pytest.param("Our refund policy (2024 edition) says 30 days.", id="title-interrupted"),
        pytest.param("Refunds within 30 days.", id="uncited"),
    ],
)
def test_cites_fails_when_only_something_else_is_named(tmp_path: Path, output: str) -> None:
    verdict = judge(tmp_path, "cites: refund-policy-2024", output)
    assert not verdict.passed
    assert verdict.message.startswith('"refund-policy-2024" not cited (by id or by title')


def test_cites_list_names_every_document_not_cited_and_how_to_cite_it(tmp_path: Path) -> None:
    entry = "cites: [refund-policy-2024, shipping-faq, returns-howto]"
    verdict = judge(tmp_path, entry, "Returns ship free, see the FAQ. [refund-policy-2024]")
    assert not verdict.passed
    assert verdict.expected == (
        'cites all of ["refund-policy-2024", "shipping-faq", "returns-howto"]'
    )
    assert verdict.message == (
        'not cited: "shipping-faq" (by id; its title "FAQ" is one word, which does not count), '
        '"returns-howto" (by id; it has no title); '
        'output: "Returns ship free, see the FAQ. [refund-policy-2024]"'
    )


@pytest.mark.parametrize("output", ["", "  \n"])
def test_cites_fails_on_empty_output(tmp_path: Path, output: str) -> None:
    verdict = judge(tmp_path, "cites: returns-howto", output)
    assert verdict == Verdict(
        False,
        'cites "returns-howto"',
        '"returns-howto" not cited (by id; it has no title); the output is empty',
    )


def test_cites_ignores_tool_call_arguments(tmp_path: Path) -> None:
    # The model looked the policy up but never told the user where the answer came from.
    result = transcript(
        "Refunds are available within 30 days.",
        tool_call("search_kb", {"doc": "refund-policy-2024"}),
        tool_call("search_kb", raw='{"doc": "refund-policy-2024"'),
        tool_call("search_kb", {"docs": [{"id": "refund-policy-2024"}], "n": 1}),
    )
    assert not judge(tmp_path, "cites: refund-policy-2024", result).passed
    assert judge(tmp_path, "not_cites: refund-policy-2024", result).passed


# --- titles --------------------------------------------------------------------------------------

HR_DOCUMENTS = """\
input:
  messages: [{role: user, content: How many vacation days do I get?}]
  documents:
    - id: hr-7
      title: Employee handbook
      content: Full-time staff get 25 vacation days.
    - id: vacation-policy
      title: Vacation policy
      content: Vacation requests need two weeks' notice.
    - id: vacation-policy-2019
      title: Vacation policy 2019
      content: Full-time staff get 20 vacation days.
expect:
"""


def hr_verdict(tmp_path: Path, entry: str, output: str) -> Verdict:
    [verdict] = verdicts(load_case(tmp_path, HR_DOCUMENTS + f"  - {entry}\n"), transcript(output))
    return verdict


@pytest.mark.parametrize(
    ("output", "cited"),
    [
        ("The employee handbook says 25 days.", True),
        ("Per the Employee Handbook: 25 days.", True),
        ("(Employee handbook) 25 days.", True),
        ("The employee handbooks say 25 days.", False),
        ("Source: employee handbook.", True),
        ("The employee hand book says 25 days.", False),
    ],
)
def test_titles_match_as_whole_words(tmp_path: Path, output: str, cited: bool) -> None:
    assert hr_verdict(tmp_path, "cites: hr-7", output).passed is cited


def test_a_mention_inside_a_longer_mention_counts_for_the_longer_one(tmp_path: Path) -> None:
    output = "Per the Vacation policy 2019 you get 20 days."
    assert hr_verdict(tmp_path, "cites: vacation-policy-2019", output).passed
    assert hr_verdict(tmp_path, "not_cites: vacation-policy", output).passed
    verdict = hr_verdict(tmp_path, "cites: vacation-policy", output)
    assert verdict.message == (
        '"vacation-policy" not cited (by id or by title "Vacation policy"; "Vacation policy" at '
        'char 8 counts only as part of "Vacation policy 2019", which cites '
        '"vacation-policy-2019"); output: "Per the Vacation policy 2019 you get 20 days."'
    )


def test_a_shorter_mention_elsewhere_still_counts(tmp_path: Path) -> None:
    output = "The Vacation policy 2019 was replaced by the vacation policy [vacation-policy]."
    assert hr_verdict(tmp_path, "cites: [vacation-policy, vacation-policy-2019]", output).passed
    verdict = hr_verdict(tmp_path, "not_cites: vacation-policy", output)
    assert verdict.message == (
        '"vacation-policy" cited by title at char 45: "vacation policy", and 1 more time'
    )


def test_a_title_containing_the_id_is_one_citation(tmp_path: Path) -> None:
    body = """\
        input:
          messages: [{role: user, content: Can I expense a taxi home after 10pm?}]
          documents:
            - {id: EXP-12, title: EXP-12 Travel expenses, content: Late-night taxis are covered.}
        expect:
          - not_cites: EXP-12
        """
    output = "Yes, see EXP-12 Travel expenses (section 3 of exp-12)."
    [verdict] = verdicts(load_case(tmp_path, body), transcript(output))
    assert verdict.message == (
        '"EXP-12" cited by title at char 9: "EXP-12 Travel expenses", and 1 more time'
    )


# --- not_cites -----------------------------------------------------------------------------------


def test_not_cites_passes_when_only_the_current_policy_is_cited(tmp_path: Path) -> None:
    verdict = judge(tmp_path, "not_cites: refund-policy-2023", GOOD_ANSWER)
    assert verdict == Verdict(True, 'not cites "refund-policy-2023"')


def test_not_cites_catches_the_superseded_policy_cited_by_title(tmp_path: Path) -> None:
    verdict = judge(tmp_path, "not_cites: refund-policy-2023", BAD_ANSWER)
    assert verdict == Verdict(
        False,
        'not cites "refund-policy-2023"',
        '"refund-policy-2023" cited by title at char 15: "Refund Policy (2023, superseded)"',
        "Refund Policy (2023, superseded)",
    )


@pytest.mark.parametrize(
    ("output", "span", "at"),
    [
        ("Yes, 60 days [refund-policy-2023].", "refund-policy-2023", 14),
        ("Yes, 60 days [refund-\u200bpolicy-2023].", "refund-\u200bpolicy-2023", 14),
        ("Yes, 60 days [rеfund-policy-2О23].", "rеfund-policy-2О23", 14),
        ("Yes, 60 days (REFUND-POLICY-2023)", "REFUND-POLICY-2023", 14),
        ("Yes, 60 days: doc:refund-policy-2023.", "refund-policy-2023", 18),
    ],
)
def test_not_cites_quotes_the_id_as_the_model_wrote_it(
    tmp_path: Path, output: str, span: str, at: int
) -> None:
    verdict = judge(tmp_path, "not_cites: refund-policy-2023", output)
    assert not verdict.passed
    assert verdict.message.startswith(f'"refund-policy-2023" cited by id at char {at}: "')
    assert verdict.span == span


def test_not_cites_message_escapes_invisible_characters(tmp_path: Path) -> None:
    verdict = judge(tmp_path, "not_cites: refund-policy-2023", "See [refund-\u200bpolicy-2023].")
    assert verdict.message == (
        '"refund-policy-2023" cited by id at char 5: "refund-\\u200bpolicy-2023"'
    )


def test_not_cites_reports_every_listed_document_cited(tmp_path: Path) -> None:
    output = (
        "Refund policy (2023, superseded): 60 days. [refund-policy-2023] "
        "Returns: see [returns-howto] and [refund-policy-2023]."
    )
    entry = "not_cites: [refund-policy-2024, refund-policy-2023, returns-howto]"
    verdict = judge(tmp_path, entry, output)
    assert not verdict.passed
    assert verdict.expected == (
        'not cites any of ["refund-policy-2024", "refund-policy-2023", "returns-howto"]'
    )
    assert verdict.message == (
        '"refund-policy-2023" cited by title at char 0: "Refund policy (2023, superseded)", '
        'and 2 more times; "returns-howto" cited by id at char 78: "returns-howto"'
    )
    assert verdict.span == "Refund policy (2023, superseded)"


@pytest.mark.parametrize(
    "output",
    [
        "",
        "See [refund-policy-2023-draft] and [new-refund-policy-2023].",
        "Our refund policy says 30 days.",
        "See the FAQ about shipping.",
    ],
)
def test_not_cites_ignores_what_is_not_a_citation(tmp_path: Path, output: str) -> None:
    assert judge(tmp_path, "not_cites: [refund-policy-2023, shipping-faq]", output).passed


def test_one_word_titles_never_count(tmp_path: Path) -> None:
    assert not judge(tmp_path, "cites: shipping-faq", "See our FAQ.").passed
    assert judge(tmp_path, "cites: shipping-faq", "See our FAQ [shipping-faq].").passed


# --- load errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (
            "cites: refund-policy-2025",
            "case.yaml:19: expect[0].cites: unknown document 'refund-policy-2025' (the case has: "
            "refund-policy-2023, refund-policy-2024, shipping-faq, returns-howto)",
        ),
        (
            "not_cites: [refund-policy-2023, Refund-Policy-2024]",
            "case.yaml:19: expect[0].not_cites: unknown document 'Refund-Policy-2024' (the case "
            "has: refund-policy-2023, refund-policy-2024, shipping-faq, returns-howto)",
        ),
        (
            "cites: [refund-policy-2024, refund-policy-2024]",
            "case.yaml:19: expect[0].cites: document 'refund-policy-2024' is listed twice",
        ),
        (
            "not_cites: [returns-howto, refund-policy-2023, returns-howto]",
            "case.yaml:19: expect[0].not_cites: document 'returns-howto' is listed twice",
        ),
    ],
)
def test_bad_document_ids_are_load_errors(tmp_path: Path, entry: str, error: str) -> None:
    assert load_error(tmp_path, REFUND_DOCUMENTS + f"expect:\n  - {entry}\n") == error


@pytest.mark.parametrize("name", ["cites", "not_cites"])
def test_citing_in_a_case_without_documents_is_a_load_error(tmp_path: Path, name: str) -> None:
    body = f"""\
        input:
          messages: [{{role: user, content: Can I get a refund?}}]
        expect:
          - {name}: refund-policy-2024
        """
    assert load_error(tmp_path, body) == (
        f"case.yaml:6: expect[0].{name}: unknown document 'refund-policy-2024' "
        "(the case has no documents)"
    )


def test_a_document_with_nothing_to_cite_it_by_is_a_load_error(tmp_path: Path) -> None:
    body = """\
        input:
          messages: [{role: user, content: hi}]
          documents:
            - {id: "\\u200b", title: Notes, content: x}
        expect:
          - cites: "\\u200b"
        """
    assert load_error(tmp_path, body) == (
        "case.yaml:8: expect[0].cites: document '\\u200b' cannot be cited: its id is only spaces "
        "or invisible characters and it has no title of two or more words"
    )


def test_an_id_of_invisible_characters_can_be_cited_by_title(tmp_path: Path) -> None:
    body = """\
        input:
          messages: [{role: user, content: hi}]
          documents:
            - {id: "\\u200b", title: Release notes, content: x}
        expect:
          - cites: "\\u200b"
        """
    [verdict] = verdicts(load_case(tmp_path, body), transcript("See the release notes."))
    assert verdict.passed


def test_schema_errors_come_before_build(tmp_path: Path) -> None:
    error = load_error(tmp_path, REFUND_DOCUMENTS + "expect:\n  - cites: []\n")
    assert error.startswith("case.yaml:19: expect[0].cites")


# --- purity --------------------------------------------------------------------------------------


def test_checks_are_pure_functions_of_transcript_and_case(tmp_path: Path) -> None:
    loaded = refund_case(tmp_path, "cites: refund-policy-2024", "not_cites: refund-policy-2023")
    result = transcript(BAD_ANSWER + " [refund-policy-2024]")
    first = verdicts(loaded, result)
    assert verdicts(loaded, result) == first
    assert result.final_text == BAD_ANSWER + " [refund-policy-2024]"
    assert [verdict.passed for verdict in first] == [True, False]
