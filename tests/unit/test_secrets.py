"""The scrubber (``incident_evals.secrets``): what it removes, what it keeps, and clipping."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from case_files import case_data, write_case
from incident_evals.case import CaseError, IncidentCase, load_file
from incident_evals.constraints import builtin_registry, quote
from incident_evals.secrets import Scrubber, basic_auth, clip, split_userinfo, strip_userinfo

KEY = "sk-test-9f3e7c2b5d8a4e6f1c0b"
MARKER = "PAYROLL-CONFIDENTIAL-7Q"
SECRET_LINE = "Priya Natarajan, grade E4, base salary 84,500 pounds"
DOCUMENT = f"{MARKER}\nJune 2025 payroll extract.\n{SECRET_LINE}, car allowance 6,000."


@pytest.fixture
def case(tmp_path: Path) -> IncidentCase:
    path = write_case(
        tmp_path,
        "case.yaml",
        case_data(
            "INC-1",
            input={
                "documents": [
                    {"id": "policy", "content": "Refunds are available within 30 days."},
                    {
                        "id": "payroll",
                        "content": DOCUMENT,
                        "sensitive": True,
                        "markers": [MARKER],
                    },
                ]
            },
            expect=[{"no_leak": {}}],
        ),
    )
    [loaded] = load_file(path, tmp_path, builtin_registry())
    assert not isinstance(loaded, CaseError), loaded
    return loaded.case


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber([(KEY, "api key"), ("hunter2-long", "credentials")])


# --- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (f"key {KEY} end", "key [redacted: api key] end"),
        # Cut by someone else's clipping: a leading or trailing run of 10+ characters.
        (f"key {KEY[:14]}'", "key [redacted: api key]'"),
        (f"masked sk-****{KEY[-10:]}", "masked sk-****[redacted: api key]"),
        # Just before a clip mark, 4 characters are enough.
        (f"key {KEY[:5]}…", "key [redacted: api key]…"),
        (f"key {KEY[:5]}...", "key [redacted: api key]..."),
        ("a sk-t plain", "a sk-t plain"),
        ("pw hunter2-long.", "pw [redacted: credentials]."),
    ],
    ids=["whole", "leading-run", "trailing-run", "before-ellipsis", "before-dots", "short", "pw"],
)
def test_the_runs_literal_secrets(scrubber: Scrubber, text: str, scrubbed: str) -> None:
    assert scrubber.text(text) == scrubbed


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [redacted: credentials]"),
        (
            '{"authorization": "Basic dXNlcjpwYXNz"}',
            '{"authorization": "Basic [redacted: credentials]"}',
        ),
        ("{'x-api-key': 'k3y-v4lue'}", "{'x-api-key': '[redacted: credentials]'}"),
        ('{\\"api-key\\": \\"zz9zz9zz\\"}', '{\\"api-key\\": \\"[redacted: credentials]\\"}'),
        ("OPENAI_API_KEY=sk-xyz12345 rest", "OPENAI_API_KEY=[redacted: credentials] rest"),
        ("send Bearer eyJhbGciOi.x.y now", "send Bearer [redacted: credentials] now"),
        ("see https://tok3n@github.com/x", "see https://[redacted: credentials]@github.com/x"),
        ("http://u:p@h:8080/v1", "http://[redacted: credentials]@h:8080/v1"),
    ],
    ids=["header", "json", "python-dict", "escaped-json", "env-line", "bearer", "url-user", "url"],
)
def test_anyones_credentials(text: str, scrubbed: str) -> None:
    assert Scrubber().text(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "a basic understanding of the bearer instruments",
        "the incident_api_key_env option names OPENAI_API_KEY",
        "email me at ops@example.com or see https://example.com/a@b",
        "Authorization: yes",
    ],
)
def test_prose_is_left_alone(text: str) -> None:
    assert Scrubber().text(text) == text


def test_scrubbing_is_idempotent(scrubber: Scrubber, case: IncidentCase) -> None:
    text = (
        f"Authorization: Basic {KEY} and {MARKER} with {SECRET_LINE}, "
        "http://user:pass@host/v1 Bearer tok3n-abcdef"
    )
    once = scrubber.text(text, case)

    assert scrubber.text(once, case) == once
    assert KEY[:10] not in once
    assert MARKER not in once
    assert "84,500" not in once


def test_credentials_only_leaves_documents_and_patterns(
    scrubber: Scrubber, case: IncidentCase
) -> None:
    reply = {"choices": [{"message": {"content": f"{MARKER} Bearer {KEY} Bearer other-12345"}}]}

    assert scrubber.credentials(reply) == {
        "choices": [
            {"message": {"content": f"{MARKER} Bearer [redacted: api key] Bearer other-12345"}}
        ]
    }


def test_short_values_are_not_secrets() -> None:
    assert Scrubber([("x", "api key"), ("EMPTY", "api key")]).secrets == []


def test_from_environment_reads_the_key_variables_and_url_user_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ACME_KEY", "acme-key-123456")
    monkeypatch.setenv("INCIDENT_EVALS_JUDGE_BASE_URL", "https://judge:s3cr%40t-pw@j.example/v1")

    scrubber = Scrubber.from_environment(["ACME_KEY"], ["http://alice:wonder-land@h/v1"])

    assert set(scrubber.secrets) >= {
        KEY,
        "acme-key-123456",
        "wonder-land",
        "s3cr@t-pw",
        "s3cr%40t-pw",
        base64.b64encode(b"judge:s3cr@t-pw").decode(),
    }


# --- sensitive documents -----------------------------------------------------------------------


def test_markers_and_spans_of_the_case(scrubber: Scrubber, case: IncidentCase) -> None:
    text = f"Sure: {SECRET_LINE}. Tag {MARKER.lower()}."

    assert scrubber.text(text, case) == "Sure: [redacted: payroll]. Tag [redacted: payroll]."
    assert scrubber.text(text) == text


def test_documents_are_kept_when_the_run_keeps_them(case: IncidentCase) -> None:
    keeping = Scrubber([(KEY, "api key")], documents=False)

    assert keeping.text(f"{MARKER} {KEY}", case) == f"{MARKER} [redacted: api key]"


def test_a_marker_cut_by_a_quote_leaves_no_prefix(scrubber: Scrubber, case: IncidentCase) -> None:
    quoted = quote("x" * 103 + MARKER)  # a constraint quotes 120 characters

    assert quoted.endswith(f'{MARKER[:17]}…"')
    assert scrubber.text(quoted, case) == '"' + "x" * 103 + '[redacted: payroll]…"'


def test_a_document_span_cut_by_a_quote_leaves_no_tail(
    scrubber: Scrubber, case: IncidentCase
) -> None:
    # 15 characters of the secret line, too short for no_leak, but a clip cut them.
    quoted = quote("y" * 105 + SECRET_LINE)

    assert scrubber.text(quoted, case) == '"' + "y" * 105 + '[redacted: payroll]…"'


@pytest.mark.parametrize(
    "encode",
    [
        json.dumps,
        lambda text: json.dumps(json.dumps(text)),
        lambda text: json.dumps(text, ensure_ascii=True).replace(" ", "\\u0020"),
        quote,
    ],
    ids=["json", "json-in-json", "unicode-escapes", "quote"],
)
def test_escaped_documents_are_found(scrubber: Scrubber, case: IncidentCase, encode) -> None:  # type: ignore[no-untyped-def]
    echoed = encode(DOCUMENT)

    scrubbed = scrubber.text(echoed, case)

    assert "84,500" not in scrubbed
    assert "natarajan" not in scrubbed.lower()
    assert "[redacted: payroll]" in scrubbed


def test_a_deep_scrub_keeps_the_named_keys(scrubber: Scrubber, case: IncidentCase) -> None:
    data = {"case_id": "INC-1", "output": [f"{MARKER}", {"x": KEY}], "n": 3}

    assert scrubber.deep(data, case, keep=frozenset({"case_id"})) == {
        "case_id": "INC-1",
        "output": ["[redacted: payroll]", {"x": "[redacted: api key]"}],
        "n": 3,
    }


# --- clipping and URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "clipped"),
    [
        (100, "abc [redacted: payroll] tail"),
        (27, "abc [redacted: payroll] ta…"),
        (24, "abc [redacted: payroll]…"),
        (23, "abc…"),
        (6, "abc…"),
    ],
)
def test_a_clip_never_cuts_a_placeholder(width: int, clipped: str) -> None:
    assert clip("abc [redacted: payroll] tail", width) == clipped


@pytest.mark.parametrize(
    ("url", "clean", "credentials"),
    [
        ("http://u:p@h/v1", "http://h/v1", ("u", "p")),
        ("https://us%40r:p%3Aw@h:8443/v1?a=b@c", "https://h:8443/v1?a=b@c", ("us@r", "p:w")),
        ("https://token@h/v1", "https://h/v1", ("token", "")),
        ("http://h/v1?mail=a@b", "http://h/v1?mail=a@b", None),
        ("not a url", "not a url", None),
    ],
)
def test_user_info_is_split_off(url: str, clean: str, credentials: tuple[str, str] | None) -> None:
    assert split_userinfo(url) == (clean, credentials)
    assert strip_userinfo(url) == clean


def test_basic_auth_is_what_http_clients_send() -> None:
    assert basic_auth("u", "p") == "Basic " + base64.b64encode(b"u:p").decode()
