"""Secrets never leave: one scrubber, built once per run, applied to every text the plugin writes.

What it removes, each replaced by a placeholder ``[redacted: <what>]``:

* **Credentials of the run** (``[redacted: api key]``, ``[redacted: credentials]``): the API key
  (the value of ``OPENAI_API_KEY`` and of the variable named by ``incident_api_key_env``) and the
  user-info of every configured URL (user name, password, both percent-encoded and decoded, and
  the ``Basic`` credential made of them), each when at least :data:`MIN_SECRET_LENGTH`
  characters long. Found whole, as a leading or trailing run of :data:`PARTIAL_SPAN` or more of
  their characters (a key cut by someone else's clipping), and, just before a clip mark (``…``
  or ``...``), as a leading run of :data:`BOUNDARY_SPAN` or more.
* **Credentials of anyone** (``[redacted: credentials]``): the value of an ``Authorization``,
  ``Proxy-Authorization``, ``api-key``, ``x-api-key`` (or any ``*_API_KEY``, ``*-access-token``)
  header or setting, written as an HTTP header, a JSON or Python mapping (escaped or not) or
  ``NAME=value``; a ``Bearer``/``Basic`` token; the user-info of any URL
  (``https://user:pass@host`` becomes ``https://[redacted: credentials]@host``). An endpoint
  that echoes the request's headers is thereby scrubbed even if the key is not known.
* **A case's sensitive content**: its sensitive documents (``[redacted: <document id>]``), a
  sensitive system prompt (``[redacted: system prompt]``) and sensitive tool responses
  (``[redacted: <tool> response <n>]``), unless the run keeps them with
  ``--incident-report-sensitive``: every marker and every span ``no_leak`` would flag
  (:func:`incident_evals.constraints.data.sensitive_spans`; an encoded run that carries some,
  base64 in a link for one, goes whole), also inside JSON or quoted text whose
  escapes (``\\n``, ``\\"``, ``\\uXXXX``) would otherwise split them; a leading or trailing run
  of :data:`PARTIAL_SPAN` or more characters of a marker; and, just before a clip mark, the start
  of a marker (:data:`BOUNDARY_SPAN` characters or more) or a run of
  :data:`DOCUMENT_BOUNDARY_SPAN` or more characters of a sensitive document's content, so that a
  message clipped by a constraint cannot keep the first characters of a secret.

Scrubbing is idempotent (placeholders are never scrubbed again) and is applied at every sink:
the terminal (header, failure reports, summary), JUnit (through the test reports), the results
JSON, the Markdown and HTML reports and the step summary. Recordings and response caches, which
must replay what the model said, lose only the run's credentials (:meth:`Scrubber.credentials`).

:func:`clip` shortens a scrubbed text without cutting a placeholder in two.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from incident_evals.case_types import CaseInput, IncidentCase, SensitiveSource

__all__ = [
    "API_KEY",
    "BOUNDARY_SPAN",
    "CREDENTIALS",
    "DOCUMENT_BOUNDARY_SPAN",
    "MIN_SECRET_LENGTH",
    "PARTIAL_SPAN",
    "Scrubber",
    "basic_auth",
    "clip",
    "placeholder",
    "split_userinfo",
    "strip_userinfo",
]

API_KEY = "api key"
CREDENTIALS = "credentials"
#: Shorter key or password values are not scrubbed as text: they would blank common words, and
#: local servers' dummy keys ("x", "EMPTY") are no secret.
MIN_SECRET_LENGTH = 6
#: A leading or trailing run this long of a secret or marker is scrubbed wherever it appears.
PARTIAL_SPAN = 10
#: Just before a clip mark, a leading run this long of a secret or marker is scrubbed.
BOUNDARY_SPAN = 4
#: Just before a clip mark, a run this long of a sensitive document's content is scrubbed.
DOCUMENT_BOUNDARY_SPAN = 8
#: How far back from a clip mark a document run is looked for.
_BOUNDARY_REACH = 64
#: Clip marks: ours, and what others (NFKC included) write for one.
_CLIP_MARKS = ("…", "...")
#: Environment variables that may hold a URL with user-info (SPEC §3 and the judge/generator).
URL_VARIABLES = (
    "INCIDENT_EVALS_BASE_URL",
    "OPENAI_BASE_URL",
    "INCIDENT_EVALS_JUDGE_BASE_URL",
    "INCIDENT_EVALS_GENERATOR_BASE_URL",
)
DEFAULT_KEY_VARIABLE = "OPENAI_API_KEY"

_PLACEHOLDER = re.compile(r"\[redacted: [^\[\]\n]{1,200}\]")


def placeholder(what: str) -> str:
    return f"[redacted: {what}]"


# --- URLs ------------------------------------------------------------------------------------

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without its user-info, and the user-info as written (``None`` if it has none)."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return url, None
    rest = url[scheme.end() :]
    authority_end = len(rest)
    for separator in "/?#":
        at = rest.find(separator)
        if at >= 0:
            authority_end = min(authority_end, at)
    userinfo, found, host = rest[:authority_end].rpartition("@")
    if not found:
        return url, None
    return url[: scheme.end()] + host + rest[authority_end:], userinfo


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its user-info, and the user-info as ``(user, password)``, percent-decoded
    (as HTTP clients send it); ``None`` when the URL has none."""
    clean, userinfo = _userinfo(url)
    if userinfo is None:
        return url, None
    user, _, password = userinfo.partition(":")
    return clean, (unquote(user), unquote(password))


def strip_userinfo(url: str) -> str:
    """``url`` as it may be shown: without user-info."""
    return split_userinfo(url)[0]


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP Basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _url_secrets(url: str | None) -> list[tuple[str, str]]:
    """The secrets in ``url``'s user-info: as written, each part raw and decoded, and the Basic
    credential an HTTP client makes of them."""
    if not url:
        return []
    _, userinfo = _userinfo(url)
    if userinfo is None:
        return []
    raw_user, _, raw_password = userinfo.partition(":")
    user, password = unquote(raw_user), unquote(raw_password)
    found = [userinfo, raw_user, raw_password, user, password]
    found.append(basic_auth(user, password).removeprefix("Basic "))
    return [(value, CREDENTIALS) for value in found if value]


# --- patterns: credentials of anyone ---------------------------------------------------------

# A header or setting whose value is a credential, in the forms an echo takes: an HTTP header
# line, a JSON or Python mapping (escaped inside another string or not), NAME=value.
_HEADER = re.compile(
    r"""(?<![\w-])
    (?:[a-z0-9]+[-_])*(?:api[-_]?key|(?:proxy-)?authorization|access[-_]?token|auth[-_]?token)
    \\*["']?[ \t]*[:=][ \t]*\\*["']?[ \t]*
    (?:(?:bearer|basic|token|digest)[ \t]+)?
    (?!\[redacted|(?:bearer|basic|token|digest)[ \t])
    (?P<secret>[^\s"'\\,;&<>{}\[\]()…]{4,})""",
    re.IGNORECASE | re.VERBOSE,
)
_TOKEN = re.compile(
    r"\b(?:Bearer|BEARER|bearer|Basic|BASIC)[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]{8,})"
)
_USERINFO = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?P<secret>[^\s/?#@\[\]\"'<>\\]+)@")
# Cheap substring searches first: most texts hold none of these words and skip the patterns.
_HINTS = (
    "authoriz",
    "api-key",
    "api_key",
    "apikey",
    "access-token",
    "access_token",
    "accesstoken",
    "auth-token",
    "auth_token",
    "authtoken",
    "bearer",
    "basic",
    "://",
)


def _hinted(text: str) -> bool:
    """Whether ``text`` holds a word one of the credential patterns needs."""
    lowered = text.lower()
    # A loop, not any() over a generator (a third slower): it runs on every text of every item.
    for hint in _HINTS:  # noqa: SIM110
        if hint in lowered:
            return True
    return False


def _looks_like_token(token: str) -> bool:
    """A ``Bearer``/``Basic`` word that is a credential, not prose ("basic understanding")."""
    return (
        any(ch.isdigit() for ch in token)
        or any(ch in "._~+/=-" for ch in token)
        or any(ch.isupper() for ch in token[1:])
    )


def _pattern_spans(text: str) -> list[tuple[int, int, str]]:
    if not _hinted(text):
        return []
    spans = [(m.start("secret"), m.end("secret"), CREDENTIALS) for m in _HEADER.finditer(text)]
    spans += [
        (m.start("secret"), m.end("secret"), CREDENTIALS)
        for m in _TOKEN.finditer(text)
        if _looks_like_token(m.group("secret"))
    ]
    spans += [(m.start("secret"), m.end("secret"), CREDENTIALS) for m in _USERINFO.finditer(text)]
    return spans


# --- literal secrets and markers: whole, partial, at a clip mark -----------------------------


def _clip_marks(text: str) -> Iterator[int]:
    """Offsets of the clip marks in ``text``."""
    for mark in _CLIP_MARKS:
        at = text.find(mark)
        while at >= 0:
            yield at
            at = text.find(mark, at + 1)


def _literal_spans(text: str, secret: str, marks: Sequence[int]) -> list[tuple[int, int]]:
    """Where ``text`` holds ``secret``: whole, a leading or trailing run of :data:`PARTIAL_SPAN`
    or more characters, or a leading run of :data:`BOUNDARY_SPAN` or more just before a mark."""
    spans = []
    at = text.find(secret)
    while at >= 0:
        spans.append((at, at + len(secret)))
        at = text.find(secret, at + 1)
    if len(secret) > PARTIAL_SPAN:
        head, tail = secret[:PARTIAL_SPAN], secret[-PARTIAL_SPAN:]
        at = text.find(head)
        while at >= 0:
            end = at + PARTIAL_SPAN
            while end < len(text) and end - at < len(secret) and text[end] == secret[end - at]:
                end += 1
            spans.append((at, end))
            at = text.find(head, at + 1)
        at = text.find(tail)
        while at >= 0:
            start, length = at, PARTIAL_SPAN
            while start > 0 and length < len(secret) and text[start - 1] == secret[-length - 1]:
                start -= 1
                length += 1
            spans.append((start, at + PARTIAL_SPAN))
            at = text.find(tail, at + 1)
    for mark in marks:
        before = text[max(0, mark - len(secret)) : mark]
        for size in range(min(len(secret) - 1, len(before)), BOUNDARY_SPAN - 1, -1):
            if before.endswith(secret[:size]):
                spans.append((mark - size, mark))
                break
    return spans


# --- sensitive documents ---------------------------------------------------------------------

_ZERO_WIDTH = "\u200b"
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)


def _unescape_in_place(match: re.Match[str]) -> str:
    """One escape as the character it stands for, padded with zero-width spaces (which
    normalisation drops) to the escape's own length, so offsets stay those of the text."""
    escape = match.group(1)
    if len(escape) > 1:
        return chr(int(escape[1:], 16)) + _ZERO_WIDTH * len(escape)
    if escape in "ntr":
        return "  "
    return _ZERO_WIDTH + escape


def _unescaped_views(text: str) -> list[str]:
    """``text`` with JSON and ``repr`` escapes undone in place, once and twice (an escaped
    string inside an escaped string), when it has any."""
    views = []
    view = text
    for _ in range(2):
        if "\\" not in view:
            break
        view = _ESCAPE.sub(_unescape_in_place, view)
        views.append(view)
    return views


@dataclass(frozen=True)
class _Material:
    """What the scrubber looks for in one case: its sensitive documents, normalised."""

    #: ``(normalised marker, document id)``
    markers: tuple[tuple[str, str], ...]
    #: ``(normalised content, document id)``
    contents: tuple[tuple[str, str], ...]


def _material(sources: Sequence[SensitiveSource]) -> _Material:
    from incident_evals.constraints.normalize import normalize

    markers = []
    contents = []
    for doc in sources:
        for marker in doc.markers:
            searched = normalize(marker).text
            if searched:
                markers.append((searched, doc.id))
        content = normalize(doc.content).text
        if content:
            contents.append((content, doc.id))
    return _Material(tuple(markers), tuple(contents))


def _document_spans(
    view: str, case: IncidentCase, material: _Material
) -> list[tuple[int, int, str]]:
    """Spans of ``view`` (offsets into it) holding the case's sensitive material."""
    from incident_evals.constraints.data import sensitive_spans
    from incident_evals.constraints.normalize import normalize

    spans = list(sensitive_spans(view, case))
    normal = normalize(view)
    searched = normal.text
    found: list[tuple[int, int, str]] = []
    marks = sorted(set(_clip_marks(searched)))
    for marker, document in material.markers:
        found.extend(
            (start, end, document) for start, end in _literal_spans(searched, marker, marks)
        )
    for mark in marks:
        before = searched[max(0, mark - _BOUNDARY_REACH) : mark].rstrip()
        if len(before) < DOCUMENT_BOUNDARY_SPAN:
            continue
        for content, document in material.contents:
            size = _longest_tail_in(before, content)
            if size:
                end = len(before) + max(0, mark - _BOUNDARY_REACH)
                found.append((end - size, end, document))
                break
    spans.extend((*normal.original_span(start, end), document) for start, end, document in found)
    return spans


def _longest_tail_in(text: str, content: str) -> int:
    """The length of the longest end of ``text`` (at least :data:`DOCUMENT_BOUNDARY_SPAN`) that
    occurs in ``content``, else 0. Occurring is monotone in the length: search by halves."""
    if text[-DOCUMENT_BOUNDARY_SPAN:] not in content:
        return 0
    low, high = DOCUMENT_BOUNDARY_SPAN, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text[-middle:] in content:
            low = middle
        else:
            high = middle - 1
    return low


# --- replacing -------------------------------------------------------------------------------


def _replace(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each span (merged where they overlap) replaced by one placeholder; spans
    inside a placeholder are left alone and spans reaching into one take it whole."""
    existing = [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)]
    widened: list[tuple[int, int, str]] = []
    for start, end, what in spans:
        # A span may begin or end on the space around the secret: keep the space.
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            continue
        inside = False
        for first, last in existing:
            if first <= start and end <= last:
                inside = True
                break
            if start < last and first < end:
                start, end = min(start, first), max(end, last)
        if not inside:
            widened.append((start, end, what))
    if not widened:
        return text
    merged: list[tuple[int, int, str]] = []
    for start, end, what in sorted(widened):
        if merged and start <= merged[-1][1]:
            first, last, kept = merged[-1]
            merged[-1] = (first, max(last, end), kept)
        else:
            merged.append((start, end, what))
    parts = []
    position = 0
    for start, end, what in merged:
        parts.append(text[position:start])
        parts.append(placeholder(what))
        position = end
    parts.append(text[position:])
    return "".join(parts)


# --- the scrubber ----------------------------------------------------------------------------


class Scrubber:
    """Removes the run's credentials, anyone's credentials and (given a case) the case's
    sensitive documents from texts. Thread-safe; one per run."""

    #: Materials kept (each holds its documents' normalised content).
    KEPT = 16

    def __init__(self, secrets: Iterable[tuple[str, str]] = (), *, documents: bool = True) -> None:
        unique = {value: what for value, what in secrets if len(value) >= MIN_SECRET_LENGTH}
        #: ``(value, what)``, longest first.
        self._secrets = sorted(unique.items(), key=lambda item: -len(item[0]))
        #: False under ``--incident-report-sensitive``: documents are kept, credentials never.
        self.documents = documents
        # A secret JSON would escape cannot be searched for in JSON text.
        self._escaped_secrets = any(
            json.dumps(value, ensure_ascii=False)[1:-1] != value for value, _ in self._secrets
        )
        self._materials: dict[int, tuple[CaseInput, _Material | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(
        cls,
        key_variables: Sequence[str] = (DEFAULT_KEY_VARIABLE,),
        urls: Iterable[str | None] = (),
        *,
        documents: bool = True,
    ) -> Scrubber:
        """The keys in ``key_variables`` and the user-info of ``urls`` and of the URL
        variables of the environment."""
        secrets: list[tuple[str, str]] = []
        for variable in dict.fromkeys([*key_variables, DEFAULT_KEY_VARIABLE]):
            value = os.environ.get(variable, "").strip()
            if value:
                secrets.append((value, API_KEY))
        for url in [*urls, *(os.environ.get(variable) for variable in URL_VARIABLES)]:
            secrets.extend(_url_secrets(url))
        return cls(secrets, documents=documents)

    def adding(self, value: str, what: str) -> Scrubber:
        """This scrubber, also scrubbing ``value`` (named ``what`` in its placeholder)."""
        return Scrubber([*self._secrets, (value, what)], documents=self.documents)

    @property
    def secrets(self) -> list[str]:
        """The literal secrets it scrubs (for tests and for the recordings' own check)."""
        return [value for value, _ in self._secrets]

    # -- texts ------------------------------------------------------------------------------

    def text(self, text: str, case: IncidentCase | None = None) -> str:
        """``text`` without credentials, nor (given ``case``) its sensitive documents."""
        if not text:
            return text
        spans: list[tuple[int, int, str]] = []
        if case is not None and self.documents:
            material = self._material(case)
            if material is not None:
                for view in [text, *_unescaped_views(text)]:
                    spans.extend(_document_spans(view, case, material))
        spans.extend(self._credential_spans(text))
        spans.extend(_pattern_spans(text))
        return _replace(text, spans) if spans else text

    def for_case(self, case: IncidentCase | None) -> Callable[[str], str]:
        """:meth:`text` for one case, as a function."""
        return lambda text: self.text(text, case)

    def credentials(self, value: Any) -> Any:
        """``value`` (any JSON data) without the run's literal credentials, and nothing else: what
        recordings and caches may keep (a recorded answer must replay as it was said)."""
        if not self._secrets:
            return value
        return _deep(value, self._credentials_only, frozenset())

    def deep(
        self, value: Any, case: IncidentCase | None = None, keep: frozenset[str] = frozenset()
    ) -> Any:
        """``value`` (JSON data) with every string scrubbed, except under the keys in ``keep``.

        ``value`` itself is returned when nothing in it could need scrubbing.
        """
        material = self._material(case) if case is not None and self.documents else None
        if material is None and self._nothing_to_scrub(value):
            return value
        return _deep(value, self.for_case(case), keep)

    def _nothing_to_scrub(self, value: Any) -> bool:
        """Whether no text of ``value`` can hold a credential: one search of its JSON text, far
        cheaper than visiting every string (most items of a run hold none)."""
        if self._escaped_secrets:
            return False
        try:
            blob = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            return False
        if _hinted(blob):
            return False
        if not self._secrets:
            return True
        if any(mark in blob for mark in _CLIP_MARKS):
            return False
        return not any(
            secret[:PARTIAL_SPAN] in blob or secret[-PARTIAL_SPAN:] in blob
            for secret, _ in self._secrets
        )

    def _credentials_only(self, text: str) -> str:
        spans = self._credential_spans(text)
        return _replace(text, spans) if spans else text

    def _credential_spans(self, text: str) -> list[tuple[int, int, str]]:
        if not self._secrets:
            return []
        marks = sorted(set(_clip_marks(text)))
        return [
            (start, end, what)
            for secret, what in self._secrets
            for start, end in _literal_spans(text, secret, marks)
        ]

    def _material(self, case: IncidentCase) -> _Material | None:
        # By the input, not the case: variants that keep it share one material.
        given = case.input
        entry = self._materials.get(id(given))
        if entry is not None and entry[0] is given:
            return entry[1]
        sources = given.sensitive_sources()
        material = _material(sources) if sources else None
        with self._lock:
            if len(self._materials) >= self.KEPT:
                self._materials.pop(next(iter(self._materials)))
            # The input is kept in the entry, so that its id cannot be reused meanwhile.
            self._materials[id(given)] = (given, material)
        return material


def _deep(value: Any, scrub: Callable[[str], str], keep: frozenset[str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list | tuple):
        return [_deep(item, scrub, keep) for item in value]
    if isinstance(value, Mapping):
        return {
            key: item if key in keep else _deep(item, scrub, keep) for key, item in value.items()
        }
    return value


def clip(text: str, width: int) -> str:
    """``text`` at most ``width`` characters, ending in ``…`` when shortened; a placeholder is
    kept whole or left out, never cut."""
    if len(text) <= width:
        return text
    cut = max(width - 1, 0)
    for match in _PLACEHOLDER.finditer(text, max(0, cut - 210), cut + 210):
        if match.start() < cut < match.end():
            cut = match.start()
            break
    return text[:cut].rstrip() + "…"
