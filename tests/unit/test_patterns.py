"""Case-supplied regular expressions: Python ``re`` syntax and results, bounded size and time."""

from __future__ import annotations

import re

import pytest

from incident_evals.patterns import (
    MAX_NESTING,
    MAX_PATTERN_LENGTH,
    PatternError,
    PatternTimeout,
    compile_pattern,
)

#: (pattern, text): what ``re`` finds is what the bounded search finds.
SAME_AS_RE = [
    (r"\b60 days\b", "within 60 days."),
    (r"(?<=refund )\w+", "a refund window"),
    (r"(?<!not )covered", "it is not covered, but this is covered"),
    (r"(?P<n>\d+)-(?P=n)", "12-13 and 14-14"),
    (r"(a)|b", "b"),
    (r"(a|ab)(c|bcd)(d*)", "abcd"),
    (r"x*", "abc"),
    (r"^b$", "a\nb\n"),
    (r"(?m)^b$", "a\nb\n"),
    (r"a$", "a\n"),
    (r"\d+", "٣٤ days"),
    (r"\w+", "né_1"),
    (r"(?a)\w+", "né"),
    (r"(?x) 6 0 \  days  # comment", "60 days"),
    (r"(?s)yes.+no", "yes\nno"),
    (r"[^\W\d_]+", "ab1"),
    (r"\N{EM DASH}", "a \u2014 b"),
    (r"\N{EM DASH}{2}", "a \u2014\u2014 b"),
    (r"a{,3}", "aaaa"),
    (r"a{3", "a{3"),
    (r"(?>a+)b", "aab"),
    (r"a++b", "aaab"),
    (r"[a-z--b]", "-"),
    (r"\Z", "ab\n"),
    # Braces that re reads as text, and the matching engine would read as fuzzy matching.
    ("x{e<=1}", "x{e<=1}"),
    ("x{e<=1}", "y"),
    ("x{i}", "x{i}"),
    ("(?:ab){s<=1,e<=2}", "ab"),
    ("(?x)a{1, 2}", "a{1,2}"),
    ("a{}", "a{}"),
    ("a{,}", "aaa"),
    (r"\{e<=1}", "{e<=1}"),
    ("[{e<=1}]", "e"),
    # A bracket inside a set is a bracket to both.
    ("[[]", "["),
    ("[x[]+", "x[x"),
]


# re itself warns about `[[` and `--` in sets (which both engines read alike).
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize(("pattern", "text"), SAME_AS_RE)
@pytest.mark.parametrize("ignore_case", [False, True])
def test_matches_what_python_re_matches(pattern: str, text: str, ignore_case: bool) -> None:
    expected = re.search(pattern, text, re.IGNORECASE if ignore_case else 0)

    found = compile_pattern(pattern, ignore_case=ignore_case).search(text)

    assert (found and (found.span(), found.groups())) == (
        expected and (expected.span(), expected.groups())
    )


#: Letters with more than one case partner: long s, Kelvin sign, dotted I, final sigma.
FOLDED = "STRASSE \u017f \u212a \u0130 \u03c3 \u03c2 \u03a3"


@pytest.mark.parametrize("pattern", ["strasse", "s", "k", "i", "\u03c3", "[\u03c3]", "[a-z]"])
def test_case_insensitive_matching_folds_as_re_does(pattern: str) -> None:
    compiled = compile_pattern(pattern, ignore_case=True).compiled

    # The one known difference, the dotless i (re: i matches it), is left out: normalisation
    # folds it to i before any case-insensitive search, so it only shows with exact: true.
    assert compiled.findall(FOLDED) == re.findall(pattern, FOLDED, re.IGNORECASE)


@pytest.mark.parametrize(
    ("pattern", "message", "position"),
    [
        ("(x", "missing ), unterminated subpattern", 0),
        (r"[\d-z]", r"bad character range \d-z", 1),
        # Extensions of the matching engine are not Python re, so they are refused.
        (r"\p{L}", r"bad escape \p", 0),
        ("(?V1)a", "unknown extension ?V", 1),
        ("(?|(a)|(b))", "unknown extension ?|", 1),
        (r"\m\w+\M", r"bad escape \m", 0),
        ("(?<=a+)b", "look-behind requires fixed-width pattern", None),
    ],
)
def test_only_python_re_syntax_is_accepted_with_its_message(
    pattern: str, message: str, position: int | None
) -> None:
    with pytest.raises(PatternError) as raised:
        compile_pattern(pattern)

    assert (raised.value.message, raised.value.position) == (message, position)


def test_the_length_is_bounded_before_anything_is_parsed() -> None:
    compile_pattern("x" * MAX_PATTERN_LENGTH)
    with pytest.raises(PatternError) as raised:
        # Not even valid: the length is what is reported.
        compile_pattern("(" * (MAX_PATTERN_LENGTH + 1))

    assert raised.value.message == "the pattern is 1,001 characters long; at most 1,000 are allowed"


@pytest.mark.parametrize(
    ("pattern", "bounded"),
    [
        ("a{10000}", True),
        ("a{10001}", False),
        ("(?:ab{99}){100}", True),
        ("(?:ab{100}){100}", False),
        ("(?:a{1000}){1000}", False),
        # Unbounded repeats count their minimum: the engine lays out that many.
        ("(?:(?:ab|cd)+){100000}", False),
        ("(?:x+){5000}", True),
        ("(?:a{100}|b{100}){101}", False),
        ("(?=(?:a{100}){101})", False),
        (".{0,80}x+y*", True),
    ],
)
def test_counted_repeats_are_bounded_once_unrolled(pattern: str, bounded: bool) -> None:
    if bounded:
        compile_pattern(pattern)
        return
    with pytest.raises(PatternError) as raised:
        compile_pattern(pattern)
    assert raised.value.message == (
        "its counted repeats ({m,n}) unroll to more than 10,000 items; use smaller counts, "
        "or + and *"
    )


def test_nesting_is_bounded_without_recursion() -> None:
    compile_pattern("(" * MAX_NESTING + "a" + ")" * MAX_NESTING)
    # Escaped parentheses and parentheses inside sets are not groups.
    compile_pattern(r"\(" * 200 + "[(]" * 100 + "[^(]" + "[]()]")
    with pytest.raises(PatternError) as raised:
        compile_pattern("(" * 400 + "a" + ")" * 400)

    assert (raised.value.message, raised.value.position) == (
        "groups are nested 400 deep; at most 50",
        MAX_NESTING,
    )


@pytest.mark.parametrize(
    ("pattern", "position"), [("[[:alpha:]]+", 1), ("[a[:digit:]]", 2), ("x[^[:space:]]", 3)]
)
def test_a_posix_class_inside_a_set_is_refused_as_ambiguous(pattern: str, position: int) -> None:
    # Python's re reads [[:alpha:]] as the characters "[:alph"; the engine as a POSIX class.
    for _ in range(2):  # every time, whatever re's own cache has seen
        with pytest.raises(PatternError) as raised:
            compile_pattern(pattern)

        assert raised.value.message.startswith('"[:" inside a set is ambiguous')
        assert raised.value.position == position


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("(a+)+$", "a" * 100_000 + "!"),
        ("(a|aa)+$", "a" * 100_000 + "!"),
        ("(x+x+)+y", "x" * 100_000),
        ("(?=(a+)+$)", "a" * 100_000 + "!"),
        ("(a+)+\\1$", "a" * 100_000 + "!"),
    ],
)
def test_a_search_that_backtracks_times_out(pattern: str, text: str) -> None:
    compiled = compile_pattern(pattern)

    with pytest.raises(PatternTimeout) as raised:
        compiled.search(text)

    assert raised.value.pattern == pattern
    assert raised.value.constraint is None
    assert f"/{pattern}/ timed out after 1 s on a text of {len(text):,} characters" in str(
        raised.value
    )
