"""Regular expressions written in case files: Python ``re`` syntax, bounded in size and in time.

A pattern comes from a case file and is run on what a model wrote, and both can be hostile:
``not_matches: '(a+)+$'`` against a long ``aaaa…!`` output backtracks for longer than the
universe has existed, and Python's ``re`` offers no way to stop it. So every pattern a case
supplies goes through here:

* **Syntax is Python's.** The pattern is parsed and compiled by ``re`` first, so ``re``'s syntax
  is the contract (SPEC §4) and its error messages and positions are what the author sees.
* **Size is bounded.** At most :data:`MAX_PATTERN_LENGTH` characters, groups nested at most
  :data:`MAX_NESTING` deep, and counted repeats (``{m,n}``) that unroll to at most
  :data:`MAX_UNROLLED` items: the matching engine lays out fixed repeats in memory, and
  ``(?:a{1000}){1000}`` would cost it gigabytes.
* **Time is bounded.** Matching runs on the ``regex`` package, in its ``re``-compatible mode
  (``regex.V0``), with a timeout of :data:`MATCH_TIMEOUT_S` per search. A search that runs out of
  time raises :class:`PatternTimeout`: the text could not be shown to match or not to match, so
  the caller reports an error, never a verdict.

Patterns built by the plugin itself from case text (``re.escape``-d literals) and its own
constant patterns do not need this and do not use it.
"""

from __future__ import annotations

import functools
import re
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import regex

from incident_evals.constraints import UndecidedError

# re's own parser: the size bound is measured on the very tree that re accepted, rather than on
# a second, hand-written reading of the syntax. It is `sre_parse` before 3.11 (deprecated
# under that name since), `re._parser` after; its tree has had the same shape throughout.
if sys.version_info >= (3, 11):
    from re import _parser as sre_parse
else:
    import sre_parse

__all__ = [
    "MATCH_TIMEOUT_S",
    "MAX_NESTING",
    "MAX_PATTERN_LENGTH",
    "MAX_UNROLLED",
    "BoundedPattern",
    "PatternError",
    "PatternTimeout",
    "compile_pattern",
    "shown",
]

#: Characters of a pattern as written. Real incident patterns are a few hundred at most.
MAX_PATTERN_LENGTH = 1_000
#: Groups inside groups. Parsers recurse on nesting; real patterns nest a handful deep.
MAX_NESTING = 50
#: Items once counted repeats are unrolled: ``a{100}`` is 100, ``(?:ab{10}){10}`` is 110.
MAX_UNROLLED = 10_000
#: Seconds one search may take. Any sane pattern answers in milliseconds on a long output.
MATCH_TIMEOUT_S = 1.0

_REPEATS = frozenset(
    getattr(sre_parse, name)
    for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
    if hasattr(sre_parse, name)
)


class PatternError(ValueError):
    """A pattern that cannot be used: invalid, or too big to run safely.

    ``position`` is the 0-based index in the pattern as written, when one is known.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def describe(self, pattern: str) -> str:
        """The one wording of a refused pattern, for every place that loads one."""
        where = "" if self.position is None else f" at position {self.position}"
        return f"invalid regular expression /{shown(pattern)}/: {self.message}{where}"


class PatternTimeout(UndecidedError):
    """A search that ran out of time: the text neither matches nor fails to match."""

    def __init__(self, pattern: str, text_length: int) -> None:
        super().__init__(
            f"/{shown(pattern)}/ timed out after {MATCH_TIMEOUT_S:g} s on a text of "
            f"{text_length:,} characters, so it neither matched nor failed to match; "
            "rewrite the pattern without nested quantifiers such as (a+)+"
        )
        self.pattern = pattern


def shown(pattern: str, limit: int = 80) -> str:
    """``pattern`` for a message: clipped, so a huge pattern is not echoed whole."""
    return pattern if len(pattern) <= limit else pattern[:limit] + "…"


@dataclass(frozen=True)
class BoundedPattern:
    #: The pattern compiled (after any folding by the caller), for messages.
    source: str
    compiled: regex.Pattern[str]

    @property
    def groups(self) -> int:
        return self.compiled.groups

    def search(self, text: str) -> regex.Match[str] | None:
        """The first match in ``text``; :class:`PatternTimeout` past :data:`MATCH_TIMEOUT_S`."""
        try:
            return self.compiled.search(text, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise PatternTimeout(self.source, len(text)) from None

    def sub(self, replacement: str, text: str) -> tuple[str, int]:
        """``text`` with every match replaced by ``replacement`` (taken literally), and how many
        there were; :class:`PatternTimeout` past :data:`MATCH_TIMEOUT_S`."""
        try:
            return self.compiled.subn(lambda _: replacement, text, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise PatternTimeout(self.source, len(text)) from None


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> BoundedPattern:
    """``pattern`` checked as Python ``re`` and within the size bounds, ready to search.

    Raises :class:`PatternError` with a one-line message (and the position, when known).
    """
    return _compile(pattern, ignore_case)


@functools.lru_cache(maxsize=512)
def _compile(pattern: str, ignore_case: bool) -> BoundedPattern:
    # Cached: the same pattern is compiled for every variant and hand-written case that shares
    # it, and the checks below parse it twice.
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(
            f"the pattern is {len(pattern):,} characters long; at most {MAX_PATTERN_LENGTH:,} "
            "are allowed"
        )
    scan = _scan(pattern)
    if scan.too_deep is not None:
        raise PatternError(
            f"groups are nested {scan.depth} deep; at most {MAX_NESTING}", scan.too_deep
        )
    flags = re.IGNORECASE if ignore_case else 0
    with warnings.catch_warnings():
        # re's FutureWarning about `[[`: the POSIX class case is refused below, the rest agree.
        warnings.simplefilter("ignore")
        try:
            tree = sre_parse.parse(pattern, flags)
            re.compile(pattern, flags)
        except re.error as error:
            raise PatternError(error.msg, error.pos) from None
        except RecursionError:
            raise PatternError("the pattern is too deeply nested to compile") from None
    if scan.posix_class is not None:
        # `[[:alpha:]]` is a POSIX class to the matching engine and the characters `[:alph` and
        # `]` to Python's re: refuse the ambiguity rather than match something else.
        raise PatternError(
            '"[:" inside a set is ambiguous (a POSIX class such as [[:alpha:]] to some '
            'engines, the characters "[" and ":" to Python\'s re); write \\[ for the bracket',
            scan.posix_class,
        )
    unrolled = _unrolled(tree)
    if unrolled > MAX_UNROLLED:
        raise PatternError(
            f"its counted repeats ({{m,n}}) unroll to more than {MAX_UNROLLED:,} items; "
            "use smaller counts, or + and *"
        )
    try:
        compiled = regex.compile(
            scan.for_engine, regex.V0 | (regex.IGNORECASE if ignore_case else 0)
        )
    except regex.error as error:
        # Python's re accepted it (checked above), so this is the engine's own limit.
        message = str(getattr(error, "msg", None) or error)
        position = getattr(error, "pos", None)
        raise PatternError(
            f"the matching engine refuses it: {message}",
            position if isinstance(position, int) else None,
        ) from None
    except (RecursionError, MemoryError, OverflowError):
        raise PatternError("the pattern is too complex to compile") from None
    return BoundedPattern(pattern, compiled)


@dataclass(frozen=True)
class _Scan:
    #: How deep groups nest, and where a group first opens past MAX_NESTING.
    depth: int
    too_deep: int | None
    #: Where a ``[:name:]`` inside a set starts, if one does.
    posix_class: int | None
    #: The pattern with every brace that Python's re reads literally escaped.
    for_engine: str


#: What Python's re reads as a counted repeat at a ``{`` (ASCII digits only, no spaces).
_COUNTED = re.compile(r"\{[0-9]*(?:,[0-9]*)?\}")
_POSIX_CLASS = re.compile(r"\[:\^?[A-Za-z_]+:\]")


def _scan(pattern: str) -> _Scan:
    """One pass over the pattern as Python's re tokenises it, with no recursion.

    Escapes are skipped and character sets read as re reads them. Two things are found where the
    matching engine would read the pattern otherwise than re: a POSIX class in a set, and braces
    that are not counted repeats (``x{e<=1}`` is the text ``x{e<=1}`` to re and a fuzzy match to
    the engine), which are escaped so that the engine reads them as re does.
    """
    depth = deepest = 0
    too_deep: int | None = None
    posix_class: int | None = None
    out: list[str] = []
    index, end = 0, len(pattern)
    while index < end:
        ch = pattern[index]
        if ch == "\\":
            size = 2
            if pattern.startswith("N{", index + 1):
                # \N{EM DASH}: a named character, whose braces are part of the escape.
                close = pattern.find("}", index)
                size = close + 1 - index if close >= 0 else end - index
            out.append(pattern[index : index + size])
            index += size
            continue
        if ch == "[":
            start = index
            index += 1
            if index < end and pattern[index] == "^":
                index += 1
            if index < end and pattern[index] == "]":
                index += 1
            while index < end and pattern[index] != "]":
                if posix_class is None and _POSIX_CLASS.match(pattern, index):
                    posix_class = index
                index += 2 if pattern[index] == "\\" else 1
            out.append(pattern[start : index + 1])
            index += 1
            continue
        if ch == "{":
            counted = _COUNTED.match(pattern, index)
            out.append(ch if counted is not None and counted.group() != "{}" else "\\{")
        else:
            out.append(ch)
            if ch == "(":
                depth += 1
                deepest = max(deepest, depth)
                if depth > MAX_NESTING and too_deep is None:
                    too_deep = index
            elif ch == ")":
                depth = max(depth - 1, 0)
        index += 1
    return _Scan(deepest, too_deep, posix_class, "".join(out))


def _unrolled(items: Any) -> int:
    """Items of a parsed pattern with every counted repeat laid out (its maximum, or its minimum
    when unbounded): an upper bound of what the engine may lay out. Stops early past the bound."""
    total = 0
    for op, argument in items:
        if op in _REPEATS:
            low, high, body = argument
            times = low if high == sre_parse.MAXREPEAT else high
            total += max(times, 1) * _unrolled(body)
        else:
            total += 1 + sum(_unrolled(child) for child in _subpatterns(argument))
        if total > MAX_UNROLLED:
            break
    return total


def _subpatterns(argument: Any) -> list[Any]:
    if isinstance(argument, sre_parse.SubPattern):
        return [argument]
    if isinstance(argument, tuple | list):
        return [found for part in argument for found in _subpatterns(part)]
    return []
