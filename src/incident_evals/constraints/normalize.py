"""Text normalisation for constraints, with a map back to the text as the model wrote it.

Text constraints compare normalised text so that trivial variation (case, spacing, full-width
digits, invisible characters, look-alike letters) neither hides a forbidden phrase nor breaks a
required one. Failure messages must still quote the output as written, so :func:`normalize` keeps,
for every character of the normalised text, the span of the original it came from.

Pipeline, applied to each *segment* (a character plus the combining characters that attach to it,
so that NFKC sees what it needs to compose):

1. NFKC.
2. Drop invisible characters: Unicode category Cf (zero-width space/joiners, word joiner, BOM,
   soft hyphen, bidi controls, tag characters) and the other default-ignorable code points that
   fonts render as nothing (variation selectors, combining grapheme joiner, Hangul fillers,
   Mongolian free variation selectors).
3. Fold look-alikes: Cyrillic, Greek and Armenian letters that look like Latin ones become the Latin
   letter; typographic quotes and dashes become ASCII. This happens before casefolding because
   some capitals and their lower case look like different Latin letters (Greek ``Ν`` looks like
   ``N``, ``ν`` like ``v``). A look-alike of ``0``/``1``/``3``/``6`` that touches a digit becomes
   that digit (``6О`` with a Cyrillic ``О`` reads as ``60``); Latin ``O``/``l`` never do, because
   folding real letters into digits would make ``0 days`` match ``two days``.
4. Casefold (then fold look-alikes once more, for lower-case forms of capitals not in the table).
5. Whitespace runs become one space; the result is stripped.
"""

# The look-alike characters in this module are its subject, not typos.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["NormalizedText", "fold_pattern", "normalize", "verbatim"]

_CONFUSABLES: dict[str, str] = {
    # Cyrillic capitals (only those that look like a Latin capital).
    "А": "A", "В": "B", "Е": "E", "Ѕ": "S", "І": "I", "Ј": "J", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ү": "Y",
    "Һ": "H", "Ӏ": "I", "Ԛ": "Q", "Ԝ": "W", "Ѵ": "V",
    # Cyrillic small letters.
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
    "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ү": "y",
    "ѵ": "v",
    # Greek capitals.
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    # Greek small letters.
    "ο": "o", "α": "a", "ν": "v", "ι": "i", "κ": "k", "ρ": "p", "υ": "u", "χ": "x",
    "ϲ": "c", "ϳ": "j",
    # Armenian.
    "Օ": "O", "օ": "o", "ս": "u",
    # Latin letters outside ASCII that stand in for ASCII ones. Casefolding would turn the
    # Turkish dotted capital into "i" plus a combining dot, which "i" would not match.
    "ı": "i", "İ": "I", "ɑ": "a",
    # Typographic quotes and dashes (NFKC already maps the full-width and small forms).
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2035": "'",
    "\u02bc": "'", "\u02bb": "'", "\u2039": "'", "\u203a": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2036": '"', "\u00ab": '"',
    "\u00bb": '"', "\u301d": '"', "\u301e": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2043": "-", "\u2212": "-",
}  # fmt: skip

#: Look-alikes that read as a digit when they touch a digit (see the module docstring).
_DIGIT_LOOKALIKES: dict[str, str] = {
    "О": "0", "о": "0", "Ο": "0", "ο": "0", "Օ": "0", "օ": "0",
    "І": "1", "Ӏ": "1", "ӏ": "1", "Ι": "1",
    "З": "3", "з": "3",
    "б": "6",
}  # fmt: skip

# Default-ignorable code points outside category Cf that render as nothing.
_EXTRA_IGNORABLES = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(chr(cp) for cp in range(0xFE00, 0xFE10))
    + "".join(chr(cp) for cp in range(0xE0100, 0xE01F0))
)

_ASCII_WORD = re.compile(r"\S+")
_ASCII_RUN = re.compile(r"[\x00-\x7f]+")


def _is_ignorable(ch: str) -> bool:
    return ch in _EXTRA_IGNORABLES or unicodedata.category(ch) == "Cf"


def _fold(segment: str) -> str:
    """The pipeline for one segment, without whitespace collapsing (done by the caller)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", segment):
        if _is_ignorable(ch):
            continue
        for folded in _CONFUSABLES.get(ch, ch).casefold():
            folded = _CONFUSABLES.get(folded, folded)
            out.append(" " if folded.isspace() else folded)
    return "".join(out)


# The single-character cases, which are nearly all of them. ASCII and the tables are filled in
# up front; every other character is added the first time it is seen, since computing all of
# Unicode would cost a noticeable fraction of a second at import.
_TABLE: dict[str, str] = {
    ch: _fold(ch)
    for ch in (
        *map(chr, range(128)),
        *_CONFUSABLES,
        *_DIGIT_LOOKALIKES,
        *_EXTRA_IGNORABLES,
        "\u00a0\u00ad\u200b\u200c\u200d\u2060\ufeff\u3000",
    )
}


def _fold_char(ch: str) -> str:
    folded = _TABLE.get(ch)
    if folded is None:
        folded = _TABLE[ch] = _fold(ch)
    return folded


_fold_segment = functools.lru_cache(maxsize=4096)(_fold)


def _is_hangul_jamo(ch: str) -> bool:
    return "\u1100" <= ch <= "\u11ff" or "\u3131" <= ch <= "\u318e" or "\ua960" <= ch <= "\ua97f"


@functools.lru_cache(maxsize=4096)
def _attaches(ch: str) -> bool:
    """Whether ``ch`` is a mark, which NFKC may compose with the character before it.

    Marks of every combining class count: some spacing vowel signs, e.g. Tamil ``ா``, have
    combining class 0 yet compose with the consonant before them.
    """
    return unicodedata.combining(ch) != 0 or unicodedata.category(ch).startswith("M")


def _joins(text: str, index: int) -> bool:
    """Whether ``text[index]`` belongs to the segment of the character before it."""
    ch = text[index]
    if ch < "\u0300":  # nothing below the combining diacritics block combines
        return False
    if _is_hangul_jamo(ch):
        # Jamo are not marks, yet NFKC composes "ㄱㅏ" into "가" and "가" + "ᆨ" into "각".
        return _is_hangul_jamo(text[index - 1]) or "\uac00" <= text[index - 1] <= "\ud7a3"
    return _attaches(ch)


@dataclass(frozen=True, eq=False)
class NormalizedText:
    """A normalised text and, for each of its characters, the original span it came from."""

    #: The text as written.
    original: str
    #: The normalised text.
    text: str
    _starts: Sequence[int]
    _ends: Sequence[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of :attr:`original` that ``text[start:end]`` came from.

        The span covers whole source characters: a character NFKC expanded (``ﬁ`` -> ``fi``) is
        quoted whole even when the match uses only part of its expansion, and invisible characters
        inside the span are included.
        """
        length = len(self.text)
        if not 0 <= start <= end <= length:
            raise IndexError(f"span [{start}, {end}) is outside [0, {length}]")
        if start == end:
            if start < length:
                position = self._starts[start]
            elif length:
                position = self._ends[-1]
            else:
                position = len(self.original) - len(self.original.lstrip())
            return position, position
        return self._starts[start], self._ends[end - 1]

    def original_text(self, start: int, end: int) -> str:
        """``original`` over the span that ``text[start:end]`` came from."""
        first, last = self.original_span(start, end)
        return self.original[first:last]


def verbatim(text: str, start: int = 0, end: int | None = None) -> NormalizedText:
    """The identity normalisation of ``text[start:end]``, so exact comparisons share one code path.

    Offsets still refer to the whole ``text``.
    """
    stop = len(text) if end is None else end
    return NormalizedText(text, text[start:stop], range(start, stop), range(start + 1, stop + 1))


def normalize(text: str) -> NormalizedText:
    """Normalise ``text`` as described in the module docstring.

    Results are cached by text because every text constraint of a case judges the same output.
    """
    return _normalize_cached(text)


def _normalize(text: str, ascii_runs: bool = True) -> NormalizedText:
    """``ascii_runs``: runs of ASCII inside a text that has other characters are normalised as
    :func:`_normalize_ascii` does, at C speed (a reply with one curly quote is mostly ASCII);
    without it every character takes the general path (the reference the tests hold it to)."""
    if text.isascii():
        return _normalize_ascii(text)
    # One piece per normalised character, except ASCII words appended whole; so the last
    # character is out[-1][-1].
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    length = len(text)
    # Where the last look-ahead for a digit stopped, and what it found there; reused across a run
    # of look-alikes so that a long run costs linear time.
    lookahead_stop, lookahead_digit = -1, False
    i = 0
    while i < length:
        ch = text[i]
        if ascii_runs and ch < "\x80":
            run = _ASCII_RUN.match(text, i)
            assert run is not None
            stop = run.end()
            # A mark after the run composes with its last character: that one goes the
            # general way, with its marks.
            if stop < length and _joins(text, stop):
                stop -= 1
            if stop > i:
                position = i
                for word in _ASCII_WORD.finditer(text, i, stop):
                    first, last = word.span()
                    if first > position:
                        _space(out, ends, starts, position, first)
                    # Lowered word by word: lowering the whole text could change its length
                    # (İ lowers to two characters) and shift every offset after it.
                    out.append(text[first:last].lower())
                    starts.extend(range(first, last))
                    ends.extend(range(first + 1, last + 1))
                    position = last
                if position < stop:
                    _space(out, ends, starts, position, stop)
                i = stop
                continue
        j = i + 1
        while j < length and _joins(text, j):
            j += 1
        if j > i + 1:
            folded = _fold_segment(text[i:j])
        elif ch in _DIGIT_LOOKALIKES:
            if out and "0" <= out[-1][-1] <= "9":
                folded = _DIGIT_LOOKALIKES[ch]
            else:
                if i >= lookahead_stop:
                    lookahead_stop, lookahead_digit = _next_visible_is_digit(text, i + 1)
                folded = _DIGIT_LOOKALIKES[ch] if lookahead_digit else _fold_char(ch)
        else:
            folded = _fold_char(ch)
        for piece in folded:
            if piece == " ":
                if not out:
                    continue
                if out[-1] == " ":
                    ends[-1] = j
                    continue
            out.append(piece)
            starts.append(i)
            ends.append(j)
        i = j
    if out and out[-1] == " ":
        out.pop()
        starts.pop()
        ends.pop()
    return NormalizedText(text, "".join(out), starts, ends)


def _space(out: list[str], ends: list[int], starts: list[int], first: int, last: int) -> None:
    """Whitespace ``text[first:last]`` as the general path collapses it: one space, none at
    the start, merged into a space just before it."""
    if not out:
        return
    if out[-1] == " ":
        ends[-1] = last
        return
    out.append(" ")
    starts.append(first)
    ends.append(last)


def _next_visible_is_digit(text: str, index: int) -> tuple[int, bool]:
    """Whether the first character from ``index`` on that is neither a digit look-alike nor
    invisible folds to a digit (so "ОО7" reads "007"), and where that character is."""
    while index < len(text):
        ch = text[index]
        if ch not in _DIGIT_LOOKALIKES:
            folded = _fold_char(ch)
            if folded:
                return index, "0" <= folded[0] <= "9"
        index += 1
    return index, False


def fold_pattern(pattern: str) -> str:
    """Fold the look-alikes, typographic quotes and dashes of a regular expression like the text.

    A pattern searched in normalised text could never match a character that normalisation folds
    away, so ``don’t`` or a Cyrillic word would silently never match. Only those single
    characters are rewritten: escapes are left alone, and dashes become ``\\-`` so that they stay
    literal inside ``[...]``. The rest of normalisation (NFKC, casefolding) is not applied, since
    it can turn ordinary characters into regex syntax (full-width ``（`` is ``(``).
    """
    out: list[str] = []
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch in _CONFUSABLES:
            folded = _CONFUSABLES[ch]
            out.append("\\-" if folded == "-" else folded)
        else:
            out.append(ch)
    return "".join(out)


def _normalize_ascii(text: str) -> NormalizedText:
    # ASCII has nothing to compose, fold or drop: only case and whitespace, done at C speed.
    lowered = text.lower()
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    previous_end = -1
    for match in _ASCII_WORD.finditer(text):
        first, last = match.span()
        if previous_end >= 0:
            pieces.append(" ")
            starts.append(previous_end)
            ends.append(first)
        pieces.append(lowered[first:last])
        starts.extend(range(first, last))
        ends.extend(range(first + 1, last + 1))
        previous_end = last
    return NormalizedText(text, "".join(pieces), starts, ends)


_normalize_cached = functools.lru_cache(maxsize=256)(_normalize)
