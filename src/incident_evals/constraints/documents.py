"""The citation constraints of SPEC §4: ``cites`` and ``not_cites``.

The argument is a document id of ``input.documents``, or a list of them. An id the case does not
have, an id listed twice, or a document with nothing to cite it by (an id of only spaces or
invisible characters and no title of two or more words) is a load error. ``cites`` holds when the
output cites every listed document; ``not_cites`` when it cites none of them.

Only ``transcript.final_text`` is searched: a citation is something the user reads, so a document
id inside a tool call's arguments is not one. The output, ids and titles are all compared after
normalisation (:mod:`incident_evals.constraints.normalize`: NFKC, invisible characters dropped,
look-alike letters and typographic dashes folded, casefolded, whitespace collapsed), so a
zero-width space, a Cyrillic letter or upper case can neither hide a citation from ``not_cites``
nor fake one for ``cites``.

A document is cited when the output names it in one of two ways:

* **By id**: the id appears as a whole token. A *word character* is a letter, a digit or ``_``.
  The id must not be preceded by a word character, ``-`` or ``.``, and must not be followed by a
  word character, by ``-``, or by ``.`` and then a word character. So ``[refund-policy-2024]``,
  ``(refund-policy-2024)``, ``【refund-policy-2024】``, ``doc:refund-policy-2024``, a link ending
  in ``/refund-policy-2024`` and ``refund-policy-2024.`` at the end of a sentence all cite
  ``refund-policy-2024``; ``refund-policy-2024-v2``, ``old-refund-policy-2024``,
  ``refund-policy-2024.pdf`` and ``kb.refund-policy-2024`` do not. Ids that differ only in what
  normalisation folds (``FAQ`` and ``faq``) cannot be told apart.
* **By title**: the document's title, if it has one of at least two words, appears with word
  boundaries at its ends (where the title begins or ends with a word character, the output must
  not continue the word). ``Refund policy (2024)`` is cited by "see our refund policy (2024)." but
  the title ``Employee handbook`` is not cited by "employee handbooks". A one-word title (``FAQ``,
  ``Payroll``) never counts, since it reads as an ordinary word in prose: cite such documents by
  id. A longer title counts wherever its words appear, so a generic title such as ``Refund
  policy`` is cited by any sentence saying "refund policy": give documents specific titles.

A mention that lies inside a longer mention of *another* document of the case counts only for
that other document: with titles ``Refund policy`` and ``Refund policy 2023``, the output
"Refund policy 2023" cites the second document and not the first. This is what lets a case
require the current policy while the model names the superseded one. Overlapping mentions of
one document (a title that contains the id) count as one citation.

Failure messages of ``cites`` name each document not cited and how it could have been cited, with
the output. Failure messages of ``not_cites`` quote the first citation of each listed document as
the model wrote it (invisible characters escaped), say whether it matched by id or by title, and
give its offset (0-based characters of the raw output).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from incident_evals.constraints import (
    ConstraintArgumentError,
    ConstraintType,
    Verdict,
    argument_schema,
    quote,
)
from incident_evals.constraints.normalize import NormalizedText, normalize

if TYPE_CHECKING:
    from incident_evals.case_types import Document, IncidentCase
    from incident_evals.transcript import Transcript

__all__ = ["CONSTRAINTS", "CitationCheck", "CitationForm", "citation_forms"]


@dataclass(frozen=True)
class CitationForm:
    """One way the output can cite a document: its id or its title."""

    #: The id of the document, as written in the case.
    document: str
    kind: Literal["id", "title"]
    #: The id or title as written in the case.
    written: str
    #: ``written`` normalised: what is searched for in the normalised output.
    searched: str


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _title_counts(title: str) -> bool:
    # One-word titles ("FAQ", "Payroll") read as ordinary words; see the module docstring.
    return " " in title


def citation_forms(document: Document) -> tuple[CitationForm, ...]:
    """How ``document`` can be cited: by id (unless it normalises to nothing) and by title."""
    forms: list[CitationForm] = []
    searched_id = normalize(document.id).text
    if searched_id:
        forms.append(CitationForm(document.id, "id", document.id, searched_id))
    searched_title = normalize(document.title).text
    if _title_counts(searched_title) and searched_title != searched_id:
        forms.append(CitationForm(document.id, "title", document.title, searched_title))
    return tuple(forms)


def _id_bounded(text: str, start: int, end: int) -> bool:
    if start > 0:
        before = text[start - 1]
        if _is_word_char(before) or before in "-.":
            return False
    if end < len(text):
        after = text[end]
        if _is_word_char(after) or after == "-":
            return False
        # A full stop ends a sentence; one followed by more of a name extends the id.
        if after == "." and end + 1 < len(text) and _is_word_char(text[end + 1]):
            return False
    return True


def _title_bounded(text: str, start: int, end: int) -> bool:
    if start > 0 and _is_word_char(text[start]) and _is_word_char(text[start - 1]):
        return False
    return not (end < len(text) and _is_word_char(text[end - 1]) and _is_word_char(text[end]))


@dataclass(frozen=True)
class _Mention:
    form: CitationForm
    #: Offsets in the normalised output.
    start: int
    end: int


@dataclass
class _Citations:
    """Where each form occurs in one normalised output, found on first use."""

    text: str
    forms: Sequence[CitationForm]
    _starts: dict[CitationForm, list[int]] = field(default_factory=dict)
    _longer_forms: dict[CitationForm, list[tuple[CitationForm, list[int]]]] = field(
        default_factory=dict
    )

    def starts(self, form: CitationForm) -> list[int]:
        found = self._starts.get(form)
        if found is None:
            bounded = _id_bounded if form.kind == "id" else _title_bounded
            length = len(form.searched)
            found = []
            at = self.text.find(form.searched)
            while at >= 0:
                if bounded(self.text, at, at + length):
                    found.append(at)
                at = self.text.find(form.searched, at + 1)
            self._starts[form] = found
        return found

    def _longer(self, form: CitationForm) -> list[tuple[CitationForm, list[int]]]:
        """The forms of other documents that contain ``form`` and occur, with their starts."""
        found = self._longer_forms.get(form)
        if found is None:
            # Only a form that contains this one can enclose its mentions; most cannot.
            candidates = (
                other
                for other in self.forms
                if other.document != form.document
                and len(other.searched) > len(form.searched)
                and form.searched in other.searched
            )
            found = [(other, starts) for other in candidates if (starts := self.starts(other))]
            self._longer_forms[form] = found
        return found

    def enclosing(self, mention: _Mention) -> _Mention | None:
        """A longer mention of another document that contains ``mention``, if there is one."""
        for other, starts in self._longer(mention.form):
            # Every occurrence of one form has the same length, so the last one starting at or
            # before the mention reaches furthest.
            index = bisect.bisect_right(starts, mention.start) - 1
            if index >= 0 and starts[index] + len(other.searched) >= mention.end:
                return _Mention(other, starts[index], starts[index] + len(other.searched))
        return None

    def of(self, document: str) -> tuple[list[_Mention], list[tuple[_Mention, _Mention]]]:
        """The citations of ``document`` in output order, and its mentions that only count for
        another document, each with the longer mention that contains it."""
        mentions = sorted(
            (
                _Mention(form, at, at + len(form.searched))
                for form in self.forms
                if form.document == document
                for at in self.starts(form)
            ),
            key=lambda mention: (mention.start, -mention.end),
        )
        cited: list[_Mention] = []
        shadowed: list[tuple[_Mention, _Mention]] = []
        reach = -1
        for mention in mentions:
            # A title that contains the id (or the reverse) is one citation, not two.
            if mention.end <= reach:
                continue
            enclosing = self.enclosing(mention)
            if enclosing is None:
                cited.append(mention)
                reach = mention.end
            else:
                shadowed.append((mention, enclosing))
        return cited, shadowed


def _output_excerpt(output: str) -> str:
    return "the output is empty" if not output.strip() else f"output: {quote(output)}"


def _quote_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote(value, 60) for value in values) + "]"


def _as_written(subject: NormalizedText, mention: _Mention) -> tuple[int, str]:
    start, end = subject.original_span(mention.start, mention.end)
    return start, subject.original[start:end]


@dataclass(frozen=True)
class CitationCheck:
    #: The listed document ids, as written in the case.
    documents: tuple[str, ...]
    #: For each listed document, how it can be cited, for failure messages.
    hints: tuple[str, ...]
    #: How every document of the case can be cited (other documents decide what a mention
    #: inside a longer mention counts for).
    forms: tuple[CitationForm, ...]
    negate: bool
    expected: str

    def __call__(self, transcript: Transcript, case: IncidentCase) -> Verdict:
        subject = normalize(transcript.final_text or "")
        citations = _Citations(subject.text, self.forms)
        if self.negate:
            return self._not_cites(subject, citations)
        missing: list[tuple[str, str]] = []
        for document, hint in zip(self.documents, self.hints, strict=True):
            cited, shadowed = citations.of(document)
            if cited:
                continue
            detail = hint
            if shadowed:
                mention, enclosing = shadowed[0]
                at, span = _as_written(subject, mention)
                _, longer = _as_written(subject, enclosing)
                detail += (
                    f"; {quote(span, 60)} at char {at} counts only as part of "
                    f"{quote(longer, 60)}, which cites {quote(enclosing.form.document, 60)}"
                )
            missing.append((quote(document, 60), detail))
        if not missing:
            return Verdict(True, self.expected)
        if len(missing) == 1:
            what = f"{missing[0][0]} not cited ({missing[0][1]})"
        else:
            what = "not cited: " + ", ".join(f"{name} ({detail})" for name, detail in missing)
        return Verdict(False, self.expected, f"{what}; {_output_excerpt(subject.original)}")

    def _not_cites(self, subject: NormalizedText, citations: _Citations) -> Verdict:
        hits: list[str] = []
        first_span: str | None = None
        for document in self.documents:
            cited, _ = citations.of(document)
            if not cited:
                continue
            at, span = _as_written(subject, cited[0])
            if first_span is None:
                first_span = span
            hit = f"{quote(document, 60)} cited by {cited[0].form.kind} at char {at}: {quote(span)}"
            more = len(cited) - 1
            if more:
                hit += f", and {more} more time{'s' if more > 1 else ''}"
            hits.append(hit)
        if not hits:
            return Verdict(True, self.expected)
        return Verdict(False, self.expected, "; ".join(hits), first_span)


def _hint(forms: Sequence[CitationForm], document: Document) -> str:
    by_title = [form for form in forms if form.kind == "title"]
    ways = ["by id"] if any(form.kind == "id" for form in forms) else []
    if by_title:
        ways.append(f"by title {quote(by_title[0].written, 60)}")
    hint = " or ".join(ways)
    title = normalize(document.title).text
    if not title:
        hint += "; it has no title"
    elif not _title_counts(title):
        hint += f"; its title {quote(document.title, 60)} is one word, which does not count"
    return hint


def _listed(argument: Any, case: IncidentCase) -> tuple[str, ...]:
    documents = [argument] if isinstance(argument, str) else argument
    if (
        not isinstance(documents, list)
        or not documents
        or not all(isinstance(item, str) and item for item in documents)
    ):
        raise ConstraintArgumentError("expected a document id or a list of document ids")
    known = [document.id for document in case.input.documents]
    seen: set[str] = set()
    for document in documents:
        if document in seen:
            raise ConstraintArgumentError(f"document {document!r} is listed twice")
        seen.add(document)
        if document not in known:
            have = f"the case has: {', '.join(known)}" if known else "the case has no documents"
            raise ConstraintArgumentError(f"unknown document {document!r} ({have})")
    return tuple(documents)


def _build(argument: Any, case: IncidentCase, *, negate: bool) -> CitationCheck:
    documents = _listed(argument, case)
    forms_of = {document.id: citation_forms(document) for document in case.input.documents}
    hints: list[str] = []
    for document_id in documents:
        forms = forms_of[document_id]
        if not forms:
            raise ConstraintArgumentError(
                f"document {document_id!r} cannot be cited: its id is only spaces or invisible "
                "characters and it has no title of two or more words"
            )
        document = case.document(document_id)
        assert document is not None  # _listed checked every id
        hints.append(_hint(forms, document))
    if len(documents) == 1:
        expected = f"{'not cites' if negate else 'cites'} {quote(documents[0], 60)}"
    else:
        expected = f"{'not cites any of' if negate else 'cites all of'} {_quote_list(documents)}"
    every_form = tuple(form for forms in forms_of.values() for form in forms)
    return CitationCheck(documents, tuple(hints), every_form, negate, expected)


def _build_cites(argument: Any, case: IncidentCase) -> CitationCheck:
    return _build(argument, case, negate=False)


def _build_not_cites(argument: Any, case: IncidentCase) -> CitationCheck:
    return _build(argument, case, negate=True)


CONSTRAINTS: tuple[ConstraintType, ...] = (
    ConstraintType(
        "cites",
        argument_schema("cites"),
        _build_cites,
        "the output cites every listed document (by id, [id], or title)",
    ),
    ConstraintType(
        "not_cites",
        argument_schema("not_cites"),
        _build_not_cites,
        "the output cites none of the listed documents (by id, [id], or title)",
    ),
)
