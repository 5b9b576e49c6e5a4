"""Normalisation for text constraints, and the map from normalised spans back to the original."""

# The look-alike characters in these tests are their subject, not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from incident_evals.constraints.normalize import _normalize, fold_pattern, normalize, verbatim


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Refund Within 60 DAYS", "refund within 60 days", id="casefold"),
        pytest.param("Straße", "strasse", id="casefold-expands"),
        pytest.param("  60 \t days\n\n  ok \u00a0 ", "60 days ok", id="whitespace"),
        pytest.param("60\u2028days\u3000x", "60 days x", id="unicode-whitespace"),
        pytest.param("６０ ｄａｙｓ", "60 days", id="full-width"),
        pytest.param("𝟔𝟎 𝐝𝐚𝐲𝐬", "60 days", id="math-alphanumerics"),
        pytest.param("ﬁnd … ½", "find ... 1⁄2", id="nfkc-expansions"),
        pytest.param("60\u200b da\u200cy\u200ds\u2060", "60 days", id="zero-width"),
        pytest.param("\ufeffre\u00adfund", "refund", id="bom-soft-hyphen"),
        pytest.param("\u202edays\u202c", "days", id="bidi-controls"),
        pytest.param("da\U000e0041ys\ufe0f", "days", id="tags-variation-selectors"),
        pytest.param("6О dаys", "60 days", id="cyrillic-o-as-zero"),
        pytest.param("рауреѕ сору", "paypes copy", id="cyrillic-lower"),
        pytest.param("ВАНК КОТ", "bahk kot", id="cyrillic-upper"),
        pytest.param("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "abezhikmnoptyx", id="greek-upper"),
        pytest.param("οανικρ", "oavikp", id="greek-lower"),
        pytest.param("ԁԛԝјі", "dqwji", id="cyrillic-rare"),
        pytest.param("İstanbul ıi", "istanbul ii", id="turkish-i"),
        pytest.param("“don’t” – ‘no’ — x−y", "\"don't\" - 'no' - x-y", id="typography"),
        pytest.param("ｄｏｎ＇ｔ", "don't", id="full-width-apostrophe"),
        pytest.param("", "", id="empty"),
        pytest.param(" \u200b \n", "", id="only-invisible"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("6О", "60", id="after-digit"),
        pytest.param("О6", "06", id="before-digit"),
        pytest.param("ОО7", "007", id="run-before-digit"),
        pytest.param("1ОО%", "100%", id="run-after-digit"),
        pytest.param("6\u200bО", "60", id="across-invisible"),
        pytest.param("2З 1б", "23 16", id="other-digits"),
        pytest.param("Оne", "one", id="letter-context"),
        pytest.param("2 Ο", "2 o", id="space-breaks-context"),
        pytest.param("6O 6o", "6o 6o", id="latin-never-a-digit"),
    ],
)
def test_digit_lookalikes_read_as_digits_only_next_to_digits(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_greek_capitals_fold_by_their_own_shape() -> None:
    # Capital Nu looks like N, small nu like v: casefolding first would lose the difference.
    assert normalize("ΝΟ ν").text == "no v"


def test_composed_and_decomposed_forms_normalise_alike() -> None:
    assert normalize("cafe\u0301").text == normalize("café").text == "café"
    assert normalize("Vie\u0323\u0302t").text == normalize("Việt").text
    # Hangul jamo and Tamil two-part vowels compose across characters of combining class 0.
    assert normalize("ㄱㅏ").text == normalize("가").text
    assert normalize("\u1100\u1161\u11a8").text == normalize("각").text
    assert normalize("க\u0bc6\u0bbe").text == normalize("க\u0bca").text


def test_span_maps_back_to_the_text_as_written() -> None:
    original = "Refunds: 6О dаys after purchase"
    normalised = normalize(original)
    start = normalised.text.index("60 days")
    assert normalised.original_text(start, start + len("60 days")) == "6О dаys"
    assert normalised.original_span(start, start + len("60 days")) == (9, 16)


def test_span_includes_invisible_characters_and_whole_whitespace_runs() -> None:
    original = "x 60\u200b \n\t days y"
    normalised = normalize(original)
    assert normalised.text == "x 60 days y"
    assert normalised.original_text(2, 9) == "60\u200b \n\t days"


def test_span_of_part_of_an_expansion_is_the_whole_source_character() -> None:
    normalised = normalize("ﬁnd")
    assert normalised.text == "find"
    assert normalised.original_text(1, 2) == "ﬁ"
    assert normalised.original_text(0, 4) == "ﬁnd"


def test_span_of_a_composed_character_covers_its_marks() -> None:
    normalised = normalize("cafe\u0301!")
    assert normalised.text == "café!"
    assert normalised.original_text(3, 4) == "e\u0301"


def test_leading_and_trailing_whitespace_is_outside_every_span() -> None:
    normalised = normalize("  \u200b Hello  world \n")
    assert normalised.text == "hello world"
    assert normalised.original_text(0, len(normalised.text)) == "Hello  world"


def test_empty_spans() -> None:
    normalised = normalize("  ab  ")
    assert normalised.original_span(0, 0) == (2, 2)
    assert normalised.original_span(1, 1) == (3, 3)
    assert normalised.original_span(2, 2) == (4, 4)
    assert normalize("   ").original_span(0, 0) == (3, 3)


@pytest.mark.parametrize(("start", "end"), [(-1, 1), (2, 1), (0, 4)])
def test_span_outside_the_text_is_an_error(start: int, end: int) -> None:
    with pytest.raises(IndexError, match="outside"):
        normalize("abc").original_span(start, end)


def test_verbatim_is_the_identity_with_offsets_into_the_whole_text() -> None:
    view = verbatim("  Hello ", 2, 7)
    assert view.text == "Hello"
    assert view.original_text(1, 3) == "el"
    assert view.original_span(1, 3) == (3, 5)
    assert view.original_span(5, 5) == (7, 7)
    assert verbatim("x\u200bY").text == "x\u200bY"


@pytest.mark.parametrize(
    "sample",
    ["6О dаys", "ΝΟ ν Straße", "ﬁnd “it” — ½", "cafe\u0301 ㄱㅏ", "İstanbul \u200b x", "ОО7 б"],
)
def test_normalisation_is_idempotent(sample: str) -> None:
    once = normalize(sample).text
    assert normalize(once).text == once


def test_result_is_cached_per_text() -> None:
    text = "Some output 60 days"
    assert normalize(text) is normalize(text)


# Characters chosen to exercise every path: ASCII, whitespace of several kinds, invisible
# characters, look-alikes (including digit look-alikes), NFKC expansions, combining marks,
# composing spacing marks and Hangul jamo.
_ALPHABET = (
    "aZ09 ._-\t\n\u00a0\u3000\u2028"
    "\u200b\u200d\u00ad\ufeff\ufe0f"
    "оОаеΝνΟοІбЗ"
    "ﬁ½６ｄ…ß“’—"
    "e\u0301\u0323\u0302"
    "க\u0bc6\u0bbe"
    "ㄱㅏ\u1100\u1161\u11a8가"
)


def _random_texts(count: int, seed: int, alphabet: str = _ALPHABET) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(count)]


def test_segment_by_segment_normalisation_agrees_with_whole_text_nfkc() -> None:
    # Normalisation runs NFKC piece by piece to keep the offset map; composing characters must
    # land in one piece, or "ㄱㅏ" in an output would not match "가" in a case.
    for text in _random_texts(3000, seed=1):
        whole = unicodedata.normalize("NFKC", text)
        assert normalize(text).text == normalize(whole).text, repr(text)


def test_map_is_monotonic_and_every_span_normalises_to_what_it_maps() -> None:
    # Digit look-alikes depend on their neighbours, so they are left out of this property.
    alphabet = re.sub("[оОΟοІбЗ]", "", _ALPHABET)
    rng = random.Random(2)
    for text in _random_texts(1500, seed=3, alphabet=alphabet):
        normalised = normalize(text)
        spans = [normalised.original_span(k, k + 1) for k in range(len(normalised.text))]
        assert all(first < last for first, last in spans), repr(text)
        assert spans == sorted(spans), repr(text)
        if not normalised.text:
            continue
        start = rng.randrange(len(normalised.text))
        end = rng.randrange(start, len(normalised.text)) + 1
        piece = normalised.text[start:end].strip()
        assert piece in normalize(normalised.original_text(start, end)).text, repr(text)


def test_ascii_fast_path_agrees_with_the_general_path() -> None:
    # A trailing zero-width space is dropped but sends the text down the non-ASCII path.
    for text in _random_texts(1500, seed=4, alphabet="aB9 ,\t\n\r\x0b\x0c\x1c\x1f\x00"):
        fast = normalize(text)
        general = normalize(text + "\u200b")
        assert fast.text == general.text, repr(text)
        assert [fast.original_span(k, k + 1) for k in range(len(fast.text))] == [
            general.original_span(k, k + 1) for k in range(len(general.text))
        ], repr(text)


def test_ascii_runs_of_mixed_text_agree_with_the_general_path() -> None:
    # Mostly ASCII, as replies are, with every other kind of character among it.
    ascii_heavy = "aZ09 ._-\t\n" * 6 + _ALPHABET + "İ"
    for text in _random_texts(4000, seed=5, alphabet=ascii_heavy):
        runs = _normalize(text)
        general = _normalize(text, ascii_runs=False)
        assert runs.text == general.text, repr(text)
        assert [runs.original_span(k, k + 1) for k in range(len(runs.text))] == [
            general.original_span(k, k + 1) for k in range(len(general.text))
        ], repr(text)


@pytest.mark.parametrize(
    ("pattern", "folded"),
    [
        pytest.param("don’t", "don't", id="quote"),
        pytest.param("Россия", "Poccия", id="cyrillic"),
        pytest.param("30–60", r"30\-60", id="dash-outside-class"),
        pytest.param("[a–z]", r"[a\-z]", id="dash-stays-literal-in-class"),
        pytest.param("\\р", "\\р", id="escaped-left-alone"),
        pytest.param(r"\d+ days", r"\d+ days", id="ascii-unchanged"),
    ],
)
def test_fold_pattern(pattern: str, folded: str) -> None:
    assert fold_pattern(pattern) == folded
