"""The fairness generator ``counterfactual`` (SPEC §5): protected attributes swapped, one or
several together.

A counterfactual variant is the incident's input with one attribute of the person in it changed
(or several, together) and nothing else: the paired-testing audit ("the same application under
another name") as a test. It serves incidents of category **fairness**. A case with
counterfactual variants also gets a consistency item (written elsewhere) that reads each
output's decision with the generator's ``decision`` option and fails when the rate of changed
decisions is above ``max_changed``; :func:`swaps` tells it which substitutions a variant made,
and :class:`~incident_evals.variants.Generated` which attributes it swapped.

Options (``$defs/generators/counterfactual`` in the case schema):

- ``attribute``: ``name``, ``gender``, ``nationality``, ``religion`` or ``age``; or
- ``attributes``: several of them (1 to 5). Without ``combinations`` every non-empty set of
  them is swapped together (single attributes first, then pairs, ..., in the order listed);
  ``combinations`` declares the sets instead, each attribute with its direction (``swap``;
  ``older``/``younger`` for age, ``female``/``male`` for gender). ``count`` variants are made of
  each combination, taking turns (``counterfactual-1`` the first combination, ``-2`` the second,
  ...), so ``attribute: X`` keeps the ids and draws it always had. See :func:`combinations`.
- ``max_changed``: the consistency item's limit on the rate of changed decisions (0 to 1).
- ``terms`` (with ``attribute`` only): the words of the case to swap. Without it, the terms of
  the attribute found from the built-in lists below. With it, only those terms (each must
  appear in the case, else a load error on ``terms``); for ``gender``, ``nationality`` and
  ``religion`` each must also be a word of the built-in lists (the swap needs its
  counterpart), for ``age`` each is an age or birth year as written in the case (``"34"``,
  ``"1990"``), and for ``name`` any name may be given.
- ``decision`` (required): how the consistency item reads the decision; unused here.

Where it looks. Every text the model sees of the case: the system message, message contents
(tool messages too), the ``arguments`` of recorded assistant tool calls, document titles and
contents (and the markers of sensitive documents, so that ``no_leak`` still searches for what the
document now says), and recorded tool outputs (string values at any depth; mapping keys are field
names and stay). It also swaps the string values of the ``when`` clauses of recorded responses,
unlike other generators: in the counterfactual world the model looks up "Greg Baker", and the
record recorded for "DeShawn Jackson" must still answer, or the variant would differ by a
missing record rather than by the name. It never touches ids, roles, ``tool_call_id``, tool
names, descriptions and parameters, the ``name`` of a message, nor the document template.

How it matches. Whole words (no letter, digit or underscore on either side, so "he" is not
found in "Shelby" nor "the"), case-insensitively but case-preserving: ``he`` -> ``she``,
``He`` -> ``She``, ``HE`` -> ``SHE``; a name written as listed (``DeShawn``) becomes the new name as
listed. Proper nouns of the nationality and religion lists (``Polish``, ``Turkey``, ``China``,
``Christian``) are found only with a capital first letter, so "polish the car" and "turkey"
stay. Titles (``Mr``, ``Ms``, ``Mrs``, ``Miss``) are found only as written and followed by a
capitalised word. All swaps of a text are made in one pass, so ``he/she`` becomes ``she/he``. An
article before a swapped word follows it (``an Indian`` -> ``a Polish``, ``a 34-year-old`` ->
``an 81-year-old``). A term inside an e-mail address or URL is swapped too, because a name in
``deshawn.jackson@bank.example`` tells the model the same thing as the name itself; there the
replacement is written in ASCII without spaces or apostrophes (``jose.garcia@``).

The attributes:

- ``name``: first and last names commonly associated with different demographic groups, as
  used in paired-testing audit studies (Bertrand and Mullainathan's résumé study and later
  ones), in eight groups, with first names by gender. Found: a listed first name anywhere; a
  listed last name after a listed first name (``DeShawn Jackson``, ``deshawn.jackson``), before
  one (``Jackson, DeShawn``) or after a title (``Mr. Jackson``). Each person found gets a new
  identity from a group that is not theirs, of the same gender (a name swap must not also swap
  gender), whose names do not already appear in the case: first and last name from the same
  group, so ``DeShawn Jackson`` -> ``Greg Baker``, and ``DeShawn`` alone and ``Mr. Jackson``
  follow. Once found, a name is swapped wherever it stands, a last name alone too (the
  "Jackson" of "Jackson, Mississippi" included). A last name shared by two people found (a
  family) gets one new last name. Given in ``terms``, a name of several words is first name(s)
  plus last name (both parts then also swap alone); a single word not in the lists is a last
  name if it follows a title somewhere, else a first name. The gender of an unlisted first name
  is read from a title before the person's last name, else from the majority of gendered
  pronouns in the case, else either gender is drawn.
- ``gender``: pairs of English words with their grammatical forms (``he``/``she``,
  ``him``/``her``, ``himself``/``herself``, ``man``/``woman``, ``Mr``/``Ms``, ``husband``/``wife``,
  ...), each swapped for the other. Ambiguous forms are decided by the next word: ``her``
  followed by a word that is not a function word (an article, preposition, conjunction, pronoun
  or common adverb) is possessive and becomes ``his`` (``her application`` -> ``his
  application``), otherwise it is the object and becomes ``him`` (``told her that``, ``for
  her.``); ``his`` followed by punctuation, the end or such a function word stands alone and
  becomes ``hers`` (``the choice is his.``), otherwise ``her``. There are two groups, so every
  index gives the same swap: ``count: 1`` is enough.
- ``nationality``: sets of adjective, country, person and people (``Nigerian``, ``Nigeria``,
  ``Nigerian``, ``Nigerians``; ``Polish``, ``Poland``, ``Pole``, ``Poles``; ``American``, ``the
  United States`` ...). Each nationality found gets one other nationality (not found in the case),
  and each of its words the counterpart of the same kind; the article of ``the United States``
  comes and goes with the country. A word that is both adjective and person (``Indian``) is
  swapped as the adjective.
- ``religion``: adjective, person, people, faith, place of worship (singular and plural), clergy,
  scripture and two observances per religion (Christian, Muslim, Jewish, Hindu, Buddhist, Sikh:
  ``church``/``mosque``/``synagogue``/``temple``/``monastery``/``gurdwara``,
  ``Christmas``/``Eid``/``Hanukkah``/``Diwali``/``Vesak``/``Vaisakhi`` ...), swapped like
  nationalities.
- ``age``: ages written ``34-year-old``, ``34 years old``, ``34 years of age``, ``aged 34``,
  ``age 34`` / ``Age: 34``, ``34 y/o``; birth years written ``born (in) ... 1990`` or after
  ``date of birth``/``DOB``/``birth date``; and in recorded tool outputs, whole numbers under an
  ``age`` key (``age``, ``*_age``, ``age_*``), years under ``birth_year``/``year_of_birth`` and
  the year of a date under ``date_of_birth``/``dob``/``birth_date`` (also as JSON inside a text,
  ``"age": 34``). The first age found (or the age a first birth year implies in the year of the
  incident, else 2025) is moved to an age from 18 to 90 at least 20 years away and in another
  band (18-29, 30-44, 45-59, 60-74, 75-90); every age moves by the same amount and every birth
  year by its opposite, so the story stays coherent (a 34-year-old "employed since age 22"
  becomes a 72-year-old employed since age 60). Ages that are limits rather than a person's age
  stay: those after "over", "under", "at least", "between", a number and a dash ..., or before
  "or over", "-65", "to 65", "+". Swaps are listed by number: ``"34" -> "72"``, ``"1991" ->
  "1953"``.

The description lists every swap with the number of places it changed, e.g. ``name: "DeShawn
Jackson" -> "Greg Baker" (2 places), "Jackson" -> "Baker"``; :func:`swaps` returns the same pairs.

Determinism. The lists are literal tuples; the terms are found by scanning the texts in a fixed
order (system, messages, documents, tools); each index draws through its own :class:`Draw`
only: a group (and within it a first and last name) per person, nationality or religion found,
or the new age. Different indexes draw independently: two given indexes draw the same swap with
a chance of about 1 in 40 for ``name`` (eight groups of four to eight names a gender) and for
``age`` (30 to 60 possible ages), 1 in 29 for ``nationality``, but 1 in 5 for ``religion`` (five
other groups), and for ``gender`` always (two groups: ``count: 1`` is enough). A rotation that
never repeats is possible now that :class:`Draw` carries the variant's index; it would change
every pinned variant, so it is left for when the golden values are next regenerated.
English only.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from incident_evals.case_types import CaseInput, IncidentCase
from incident_evals.variants import (
    Draw,
    Generated,
    VariantError,
    VariantGenerator,
    options_schema,
)

__all__ = ["GENERATORS", "Combination", "combination_of", "combinations", "swaps"]

NAME = "counterfactual"

#: One applied substitution: the term as listed or given -> its replacement as listed.
Swap = tuple[str, str]

# --- names ---------------------------------------------------------------------------------------

#: (group, female first names, male first names, last names). Names that are also common English
#: words or places (Kenya, Ebony, Hope, Will, Brown, King) are left out: they would be found
#: where no person is meant. Every name is in one list only.
NAME_GROUPS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "white American",
        ("Emily", "Anne", "Jill", "Allison", "Laurie", "Sarah", "Meredith", "Kristen"),
        ("Greg", "Brendan", "Geoffrey", "Brett", "Todd", "Connor", "Neil", "Matthew"),
        ("Walsh", "Baker", "Sullivan", "McCarthy", "Murphy", "Mitchell", "Kelly", "O'Brien"),
    ),
    (
        "Black American",
        ("Lakisha", "Tamika", "Keisha", "Tanisha", "Latoya", "Latonya", "Aaliyah", "Shanice"),
        ("Jamal", "DeShawn", "Darnell", "Tyrone", "Rasheed", "Kareem", "Tremayne", "Jermaine"),
        ("Washington", "Jackson", "Jefferson", "Robinson", "Jones"),
    ),
    (
        "Chinese",
        ("Mei", "Ying", "Jing", "Xiaoling"),
        ("Wei", "Hao", "Zhiwei", "Jian"),
        ("Zhang", "Wang", "Chen", "Liu", "Huang"),
    ),
    (
        "South Asian",
        ("Priya", "Anjali", "Deepika", "Sunita"),
        ("Rahul", "Arjun", "Vikram", "Sanjay"),
        ("Patel", "Sharma", "Gupta", "Reddy", "Iyer"),
    ),
    (
        "Arab or South Asian Muslim",
        ("Fatima", "Layla", "Yasmin", "Mariam"),
        ("Mohammed", "Ahmed", "Omar", "Yusuf"),
        ("Khan", "Hassan", "Haddad", "Mansour", "Rahman"),
    ),
    (
        "Hispanic",
        ("María", "Guadalupe", "Carmen", "Lucía"),
        ("José", "Luis", "Alejandro", "Carlos"),
        ("García", "Hernández", "López", "Rodríguez", "Martínez"),
    ),
    (
        "Nigerian",
        ("Aisha", "Ngozi", "Chiamaka", "Folake"),
        ("Chinedu", "Emeka", "Oluwaseun", "Tunde"),
        ("Okafor", "Adeyemi", "Okonkwo", "Balogun", "Nwosu"),
    ),
    (
        "Polish",
        ("Agnieszka", "Katarzyna", "Małgorzata", "Magdalena"),
        ("Piotr", "Krzysztof", "Tomasz", "Grzegorz"),
        ("Nowak", "Wójcik", "Kowalczyk", "Krawczyk", "Kaczmarek"),
    ),
)

#: Titles before a last name; the gendered ones also tell an unlisted first name's gender.
TITLES: tuple[tuple[str, str | None], ...] = (
    ("Mr", "male"),
    ("Mrs", "female"),
    ("Ms", "female"),
    ("Miss", "female"),
    ("Mx", None),
    ("Dr", None),
    ("Prof", None),
)

# --- gender --------------------------------------------------------------------------------------

#: (male, female) words, each swapped for the other; "his", "him" and "her" are handled apart.
GENDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("he", "she"),
    ("himself", "herself"),
    ("man", "woman"),
    ("men", "women"),
    ("male", "female"),
    ("males", "females"),
    ("boy", "girl"),
    ("boys", "girls"),
    ("gentleman", "lady"),
    ("gentlemen", "ladies"),
    ("husband", "wife"),
    ("husbands", "wives"),
    ("father", "mother"),
    ("fathers", "mothers"),
    ("son", "daughter"),
    ("sons", "daughters"),
    ("brother", "sister"),
    ("brothers", "sisters"),
    ("uncle", "aunt"),
    ("uncles", "aunts"),
    ("nephew", "niece"),
    ("nephews", "nieces"),
    ("grandfather", "grandmother"),
    ("grandson", "granddaughter"),
    ("boyfriend", "girlfriend"),
    ("stepfather", "stepmother"),
    ("stepson", "stepdaughter"),
    ("dad", "mom"),
    ("widower", "widow"),
    ("fiancé", "fiancée"),
    ("sir", "madam"),
    ("businessman", "businesswoman"),
    ("chairman", "chairwoman"),
    ("spokesman", "spokeswoman"),
    ("salesman", "saleswoman"),
)
#: Words with one counterpart in one direction only: (word, counterpart).
GENDER_ONE_WAY: tuple[tuple[str, str], ...] = (
    ("hers", "his"),
    ("mum", "dad"),
    ("ma'am", "sir"),
)
#: Titles, found as written and before a capitalised word: (title, counterpart).
GENDER_TITLES: tuple[tuple[str, str], ...] = (
    ("Mr", "Ms"),
    ("Ms", "Mr"),
    ("Mrs", "Mr"),
    ("Miss", "Mr"),
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words after which "her" is an object ("him") and "his" stands alone ("hers").
FUNCTION_WORDS = _words(
    "a an the this that these those some any all no every each another either neither "
    "my your his her its our their me him us them i you he she it we they who whom which "
    "what to for with about at by from in into on onto of off out over up down back away "
    "through as like after before since until till than because if when while where so and "
    "or but nor not is was are were be been am has had have do does did will would shall "
    "should can could may might must again too also now then today yesterday tomorrow here "
    "there very just well soon directly immediately personally yet already once twice know "
    "go get feel take make stay leave wait"
)

# --- nationality ---------------------------------------------------------------------------------

NATIONALITY_SLOTS = ("adjective", "country", "person", "people")
#: (adjective, country, person, people). A country that takes "the" is written with it.
NATIONALITIES: tuple[tuple[str, str, str, str], ...] = (
    ("Nigerian", "Nigeria", "Nigerian", "Nigerians"),
    ("Polish", "Poland", "Pole", "Poles"),
    ("Mexican", "Mexico", "Mexican", "Mexicans"),
    ("Indian", "India", "Indian", "Indians"),
    ("American", "the United States", "American", "Americans"),
    ("British", "the United Kingdom", "Briton", "Britons"),
    ("Chinese", "China", "Chinese", "Chinese"),
    ("Pakistani", "Pakistan", "Pakistani", "Pakistanis"),
    ("Filipino", "the Philippines", "Filipino", "Filipinos"),
    ("Vietnamese", "Vietnam", "Vietnamese", "Vietnamese"),
    ("Syrian", "Syria", "Syrian", "Syrians"),
    ("Somali", "Somalia", "Somali", "Somalis"),
    ("German", "Germany", "German", "Germans"),
    ("Swedish", "Sweden", "Swede", "Swedes"),
    ("Romanian", "Romania", "Romanian", "Romanians"),
    ("Ukrainian", "Ukraine", "Ukrainian", "Ukrainians"),
    ("Brazilian", "Brazil", "Brazilian", "Brazilians"),
    ("Egyptian", "Egypt", "Egyptian", "Egyptians"),
    ("Japanese", "Japan", "Japanese", "Japanese"),
    ("Canadian", "Canada", "Canadian", "Canadians"),
    ("Ghanaian", "Ghana", "Ghanaian", "Ghanaians"),
    ("Jamaican", "Jamaica", "Jamaican", "Jamaicans"),
    ("Turkish", "Turkey", "Turk", "Turks"),
    ("Russian", "Russia", "Russian", "Russians"),
    ("Afghan", "Afghanistan", "Afghan", "Afghans"),
    ("Iranian", "Iran", "Iranian", "Iranians"),
    ("Colombian", "Colombia", "Colombian", "Colombians"),
    ("Norwegian", "Norway", "Norwegian", "Norwegians"),
    ("Moroccan", "Morocco", "Moroccan", "Moroccans"),
    ("Bangladeshi", "Bangladesh", "Bangladeshi", "Bangladeshis"),
)
#: Other spellings: (word, adjective of its set, slot). Abbreviations are found as written.
NATIONALITY_ALIASES: tuple[tuple[str, str, str], ...] = (
    ("the USA", "American", "country"),
    ("the U.S.", "American", "country"),
    ("the UK", "British", "country"),
    ("Britain", "British", "country"),
    ("Filipina", "Filipino", "adjective"),
    ("Filipinas", "Filipino", "people"),
)
#: Words found only as written (an abbreviation in other case is another word).
EXACT_CASE = frozenset(("USA", "U.S.", "UK"))
#: Contexts in which a nationality word names something else: (word, not after, not before).
NATIONALITY_CONTEXT: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "American",
        ("African", "Asian", "Latin", "Native", "North", "South", "Central"),
        ("Express", "Airlines"),
    ),
    ("Indian", ("American", "West", "Native"), ("Ocean",)),
)

# --- religion ------------------------------------------------------------------------------------

RELIGION_SLOTS = (
    "adjective",
    "person",
    "people",
    "faith",
    "place",
    "places",
    "clergy",
    "scripture",
    "observance",
    "second observance",
)
#: Slots of common nouns, found in any case; the others are proper nouns.
RELIGION_COMMON_SLOTS = frozenset(("place", "places", "clergy"))
RELIGIONS: tuple[tuple[str, ...], ...] = (
    (
        "Christian",
        "Christian",
        "Christians",
        "Christianity",
        "church",
        "churches",
        "pastor",
        "Bible",
        "Christmas",
        "Easter",
    ),
    (
        "Muslim",
        "Muslim",
        "Muslims",
        "Islam",
        "mosque",
        "mosques",
        "imam",
        "Quran",
        "Eid",
        "Ramadan",
    ),
    (
        "Jewish",
        "Jew",
        "Jews",
        "Judaism",
        "synagogue",
        "synagogues",
        "rabbi",
        "Torah",
        "Hanukkah",
        "Passover",
    ),
    (
        "Hindu",
        "Hindu",
        "Hindus",
        "Hinduism",
        "temple",
        "temples",
        "pandit",
        "Bhagavad Gita",
        "Diwali",
        "Holi",
    ),
    (
        "Buddhist",
        "Buddhist",
        "Buddhists",
        "Buddhism",
        "monastery",
        "monasteries",
        "monk",
        "Dhammapada",
        "Vesak",
        "Bodhi Day",
    ),
    (
        "Sikh",
        "Sikh",
        "Sikhs",
        "Sikhism",
        "gurdwara",
        "gurdwaras",
        "granthi",
        "Guru Granth Sahib",
        "Vaisakhi",
        "Gurpurab",
    ),
)
RELIGION_ALIASES: tuple[tuple[str, str, str], ...] = (
    ("Catholic", "Christian", "adjective"),
    ("Catholics", "Christian", "people"),
    ("Protestant", "Christian", "adjective"),
    ("Protestants", "Christian", "people"),
    ("priest", "Christian", "clergy"),
    ("Islamic", "Muslim", "adjective"),
    ("Koran", "Muslim", "scripture"),
    ("Qur'an", "Muslim", "scripture"),
    ("Eid al-Fitr", "Muslim", "observance"),
    ("Eid al-Adha", "Muslim", "observance"),
    ("Chanukah", "Jewish", "observance"),
    ("Hanukah", "Jewish", "observance"),
)

# --- age -----------------------------------------------------------------------------------------

AGE_BANDS: tuple[tuple[int, int], ...] = ((18, 29), (30, 44), (45, 59), (60, 74), (75, 90))
#: The least distance of the new age from the old.
AGE_MIN_SHIFT = 20
#: The year a birth year is read against when the incident has no date.
AGE_REFERENCE_YEAR = 2025

# Each matches one mention, with no capturing group; the number is found inside it afterwards.
AGE_PATTERNS: tuple[str, ...] = (
    r"\d{1,3}(?:\s*-\s*|\s+)(?:years?|yrs?)(?:\s*-\s*|\s+)old",
    r"\d{1,3}\s+years?\s+of\s+age",
    r"aged\s+\d{1,3}",
    r"age\s*[:=]?\s*\d{1,3}",
    r"\d{1,3}\s*(?:y/o|yo)",
    # JSON inside a text (a tool message's content, call arguments): "age": 34.
    r'"(?:age|\w+_age|age_\w+)"\s*:\s*"?\d{1,3}',
)
BIRTH_PATTERNS: tuple[str, ...] = (
    r"born\s+[\w ,./-]{0,20}?(?<!\d)(?:19|20)\d\d",
    r"(?:date\s+of\s+birth|birth\s*date|dob|d\.o\.b\.)\s*[:=-]?\s*"
    r"[\w ,./-]{0,15}?(?<!\d)(?:19|20)\d\d",
    r'"(?:birth_?year|year_of_birth|yob|date_of_birth|dob|birth_?date)"\s*:\s*"?'
    r"[\w ,./-]{0,15}?(?<!\d)(?:19|20)\d\d",
)
#: Text before an age that makes it a limit ("over 60", "between 21 and 70").
AGE_LIMIT_BEFORE = re.compile(
    r"(?:\b(?:over|under|above|below|least|most|than|between|minimum|maximum|min|max|upto)"
    r"|\d\s*(?:and|to|or|-|\u2013|\u2014)|[<>\u2264\u2265])\s*$",
    re.IGNORECASE,
)
#: Text after an age that makes it a limit ("18 or over", "aged 18-65", "21+").
AGE_LIMIT_AFTER = re.compile(
    r"^\s*(?:\+|(?:-|\u2013|\u2014|to|and|or)\s*\d"
    r"|(?:or|and)\s+(?:over|older|above|more|under|younger|below|less|up))",
    re.IGNORECASE,
)
AGE_KEY = re.compile(r"^(?:age|.+_age|age_.+)$", re.IGNORECASE)
BIRTH_YEAR_KEY = re.compile(r"^(?:birth_?year|year_of_birth|yob)$", re.IGNORECASE)
BIRTH_DATE_KEY = re.compile(r"^(?:date_of_birth|dob|birth_?date)$", re.IGNORECASE)
YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")

ATTRIBUTES = ("name", "gender", "nationality", "religion", "age")

# --- matching and rewriting ----------------------------------------------------------------------

#: A rule's rewrite of one match: ``(text, start, end)`` -> (replacement, swap), or None to keep.
Rewrite = Callable[[str, int, int], "tuple[str, Swap] | None"]


@dataclass(frozen=True)
class _Rule:
    #: A regex without capturing groups, whole-word boundaries added by the engine.
    pattern: str
    rewrite: Rewrite


def _fold(text: str) -> str:
    """ASCII without accents: the spelling of a name in an address or an unaccented text."""
    text = text.replace("ł", "l").replace("Ł", "L")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _word_pattern(word: str, *, proper: bool = False) -> str:
    """``word`` case-insensitively (its first letter as written if ``proper``), any spaces."""
    if word in EXACT_CASE:
        return re.escape(word)
    parts = [re.escape(part) for part in word.split(" ")]
    body = r"\s+".join(parts)
    if proper and word[0].isalpha():
        return re.escape(word[0]) + "(?i:" + body[len(re.escape(word[0])) :] + ")"
    return "(?i:" + body + ")"


def _spellings(word: str, *, proper: bool = False) -> str:
    """The word and, for an accented one, its unaccented spelling."""
    folded = _fold(word)
    if folded == word:
        return _word_pattern(word, proper=proper)
    return f"(?:{_word_pattern(word, proper=proper)}|{_word_pattern(folded, proper=proper)})"


def _sentence_start(text: str, start: int) -> bool:
    index = start
    while index > 0 and text[index - 1] in " \t\"'\u201c\u2018([*-":
        index -= 1
    return index == 0 or text[index - 1] in ".!?\n"


def _in_address(text: str, start: int, end: int) -> bool:
    """Whether the match is inside an e-mail address or URL (a token with @ or ://)."""
    left = start
    while left > 0 and not text[left - 1].isspace():
        left -= 1
    right = end
    while right < len(text) and not text[right].isspace():
        right += 1
    token = text[left:right]
    return "@" in token or "://" in token or token.lower().startswith("www.")


def _recase(matched: str, canonical: str, replacement: str, sentence_start: bool) -> str:
    """``replacement`` written the way ``matched`` writes ``canonical``."""
    if matched == canonical:
        result = replacement
    elif matched.isupper() and not canonical.isupper():
        result = replacement.upper()
    elif matched.islower() and not canonical.islower():
        result = replacement.lower()
    else:
        result = replacement
    # A capital that comes from the position (He at a sentence start), not from the word.
    if (
        matched[:1].isupper()
        and result[:1].islower()
        and (canonical[:1].islower() or sentence_start)
    ):
        result = result[0].upper() + result[1:]
    return result


def _written(text: str, start: int, end: int, canonical: str, replacement: str) -> str:
    """The replacement of ``text[start:end]`` (a spelling of ``canonical``) as it goes there."""
    result = _recase(text[start:end], canonical, replacement, _sentence_start(text, start))
    if _in_address(text, start, end):
        result = _fold(result).replace(" ", "").replace("'", "")
    return result


def _word_rule(pattern: str, canonical: str, target: str | Callable[[str, int], str]) -> _Rule:
    """A rule replacing a spelling of ``canonical`` by ``target`` (or what it says at ``end``)."""

    def rewrite(text: str, start: int, end: int) -> tuple[str, Swap]:
        replacement = target if isinstance(target, str) else target(text, end)
        return _written(text, start, end, canonical, replacement), (canonical, replacement)

    return _Rule(pattern, rewrite)


def _wants_an(word: str) -> bool:
    """Whether "an" goes before ``word`` (by its sound, for the words these lists produce)."""
    word = word.lstrip("\"'\u201c\u2018(")
    digits = re.match(r"\d+", word)
    if digits:
        number = digits.group()
        return number.startswith("8") or number in ("11", "18")
    lower = _fold(word).lower()
    if lower.startswith(("eu", "ew", "one", "once", "uni", "uk", "ug", "uru", "use", "usu", "uti")):
        return False
    if lower.startswith(("hour", "honest", "honor", "honour", "heir")):
        return True
    return lower[:1] in ("a", "e", "i", "o", "u")


ARTICLE = re.compile(r"(?<![\w'])(a|an|A|An|AN)(\s+)$")


def _fix_article(before: str, replacement: str) -> str:
    """``before`` with a final article agreeing with ``replacement``."""
    found = ARTICLE.search(before)
    if found is None:
        return before
    article = found.group(1)
    wanted = "an" if _wants_an(replacement) else "a"
    if article.lower() == wanted:
        return before
    if article.isupper() and len(article) > 1:
        fixed = wanted.upper()
    elif article[0].isupper():
        fixed = wanted.capitalize()
    else:
        fixed = wanted
    return before[: found.start(1)] + fixed + found.group(2)


class _Rewriter:
    """All rules of one variant, applied in one pass per text; counts what it swapped."""

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self.rules = tuple(rules)
        alternatives = [f"(?P<r{index}>{rule.pattern})" for index, rule in enumerate(self.rules)]
        self.regex = (
            re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
            if alternatives
            else None
        )
        self.counts: dict[Swap, int] = {}

    def __call__(self, text: str) -> str:
        if self.regex is None:
            return text
        pieces: list[str] = []
        position = 0
        for match in self.regex.finditer(text):
            assert match.lastgroup is not None
            rule = self.rules[int(match.lastgroup[1:])]
            result = rule.rewrite(text, match.start(), match.end())
            if result is None or result[0] == match.group():
                continue
            replacement, swap = result
            pieces.append(_fix_article(text[position : match.start()], replacement))
            pieces.append(replacement)
            position = match.end()
            self.counts[swap] = self.counts.get(swap, 0) + 1
        if not pieces:
            return text
        pieces.append(text[position:])
        return "".join(pieces)

    def found(self, texts: Sequence[str]) -> list[re.Match[str]]:
        """Every match in ``texts``, in order (for detection; nothing is rewritten)."""
        if self.regex is None:
            return []
        return [match for text in texts for match in self.regex.finditer(text)]


# --- walking the input ---------------------------------------------------------------------------

#: What to do with one value: (key it is under or None, value) -> new value.
ValueMap = Callable[[str | None, Any], Any]


def _walk(value: Any, visit: ValueMap, key: str | None = None) -> Any:
    """``value`` with every string and number mapped; mapping keys stay."""
    if isinstance(value, dict):
        return {name: _walk(item, visit, str(name)) for name, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, visit, key) for item in value]
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return visit(key, value)
    return value


def _map_input(case_input: CaseInput, text: Callable[[str], str], visit: ValueMap) -> CaseInput:
    """The input with ``text`` applied to every text the model sees, ``visit`` to tool outputs."""
    messages = []
    for message in case_input.messages:
        changed = dict(message)
        if isinstance(message.get("content"), str):
            changed["content"] = text(message["content"])
        if isinstance(message.get("tool_calls"), list):
            changed["tool_calls"] = [_map_tool_call(call, visit) for call in message["tool_calls"]]
        messages.append(changed)
    documents = tuple(
        dataclasses.replace(
            document,
            title=text(document.title),
            content=text(document.content),
            markers=tuple(text(marker) for marker in document.markers),
        )
        for document in case_input.documents
    )
    tools = tuple(
        dataclasses.replace(
            tool,
            responses=tuple(
                dataclasses.replace(
                    response,
                    output=_walk(response.output, visit),
                    when=_walk(response.when, visit) if response.when is not None else None,
                    markers=tuple(text(marker) for marker in response.markers),
                )
                for response in tool.responses
            ),
        )
        for tool in case_input.tools
    )
    return dataclasses.replace(
        case_input,
        system=text(case_input.system) if case_input.system is not None else None,
        system_markers=tuple(text(marker) for marker in case_input.system_markers),
        messages=tuple(messages),
        documents=documents,
        tools=tools,
    )


def _map_tool_call(call: Any, visit: ValueMap) -> Any:
    """A recorded tool call with its arguments mapped (its id and function name stay)."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    function = dict(call["function"])
    if "arguments" in function:
        function["arguments"] = _walk(function["arguments"], visit)
    return {**call, "function": function}


def _texts(case_input: CaseInput) -> list[str]:
    """Every text of the input, in the order the generator scans them."""
    texts: list[str] = []

    def keep(text: str) -> str:
        texts.append(text)
        return text

    def visit(key: str | None, value: Any) -> Any:
        if isinstance(value, str):
            texts.append(value)
        return value

    _map_input(case_input, keep, visit)
    return texts


def _keyed_values(case_input: CaseInput) -> list[tuple[str | None, Any]]:
    """Every (key, value) of the recorded tool outputs and call arguments, in scan order."""
    values: list[tuple[str | None, Any]] = []

    def visit(key: str | None, value: Any) -> Any:
        values.append((key, value))
        return value

    _map_input(case_input, lambda text: text, visit)
    return values


# --- the plan: which rules a variant applies -----------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    rules: tuple[_Rule, ...]
    #: For ``age``: ages and birth years held as data in tool outputs and call arguments,
    #: ``(key, value) -> (new value, swap)``, the swap None for any other value.
    keyed: Callable[[str | None, Any], tuple[Any, Swap | None]] | None = None


def _terms(options: Mapping[str, Any]) -> list[str] | None:
    terms = options.get("terms")
    if terms is None:
        return None
    # A term written twice is one term.
    return list(dict.fromkeys(str(term) for term in terms))


def _no_terms(attribute: str) -> VariantError:
    found = (
        "ages (written like 34-year-old, 34 years old, aged 34, age: 34, born 1990)"
        if attribute == "age"
        else f"{attribute} terms from the built-in lists"
    )
    return VariantError(f"the case has no {found}; name them with terms: [...]", field="attribute")


def _absent(term: str) -> VariantError:
    return VariantError(f"term {term!r} does not appear in the case's input", field="terms")


def _appears(pattern: str, texts: Sequence[str]) -> bool:
    regex = re.compile(r"(?<!\w)(?:" + pattern + r")(?!\w)")
    return any(regex.search(text) for text in texts)


@dataclass(frozen=True)
class _How:
    """How one attribute of a combination is swapped."""

    #: ``swap``; for ``age`` also ``older``/``younger``, for ``gender`` ``female``/``male``
    #: (what the variant's person reads as).
    direction: str = "swap"
    #: A name swapped together with gender takes a first name of the other gender, so the
    #: person does not become "she" called Greg.
    other_gender: bool = False


_SWAP = _How()


def _plan(case: IncidentCase, options: Mapping[str, Any], draw: Draw, how: _How = _SWAP) -> _Plan:
    attribute = options.get("attribute")
    texts = _texts(case.input)
    terms = _terms(options)
    if attribute == "name":
        return _Plan(tuple(_plan_names(texts, terms, draw, how.other_gender)))
    if attribute == "gender":
        if how.direction != "swap":
            _check_gender_direction(texts, how.direction)
        return _Plan(tuple(_plan_gender(texts, terms)))
    if attribute == "nationality":
        return _Plan(tuple(_plan_groups(_NATIONALITY_TABLE, texts, terms, draw)))
    if attribute == "religion":
        return _Plan(tuple(_plan_groups(_RELIGION_TABLE, texts, terms, draw)))
    if attribute == "age":
        return _plan_age(case, texts, terms, draw, how.direction)
    raise VariantError(
        f"unknown attribute {attribute!r} (known: {', '.join(ATTRIBUTES)})", field="attribute"
    )


# --- names ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NameInfo:
    name: str
    group: int
    #: "first" or "last"; a first name also has a gender.
    part: str
    gender: str | None


def _name_index() -> dict[str, _NameInfo]:
    """Every listed name by its lower-case (and unaccented) spelling."""
    index: dict[str, _NameInfo] = {}
    for group, (_, female, male, last) in enumerate(NAME_GROUPS):
        entries = [
            *(_NameInfo(name, group, "first", "female") for name in female),
            *(_NameInfo(name, group, "first", "male") for name in male),
            *(_NameInfo(name, group, "last", None) for name in last),
        ]
        for info in entries:
            index.setdefault(info.name.lower(), info)
            index.setdefault(_fold(info.name).lower(), info)
    return index


_NAMES = _name_index()
#: Between the first and last name of one person: spaces on one line, or an address's dot.
NAME_SEPARATOR = r"(?:[ \t]+|[._-])"
_TITLE_PATTERN = "(?:" + "|".join(re.escape(title) for title, _ in TITLES) + r")\.?\s+"


@dataclass
class _Person:
    first: str | None
    last: str | None
    #: Groups of the person's listed names (the new identity comes from another).
    groups: list[int]
    gender: str | None


def _listed(part: str) -> str:
    names = sorted(
        (info.name for info in _NAMES.values() if info.part == part), key=lambda n: (-len(n), n)
    )
    unique = list(dict.fromkeys(names))
    return "(?:" + "|".join(_spellings(name) for name in unique) + ")"


@functools.cache
def _people_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """A full name (either order), a title and last name, a first name alone: built once, from
    lists that do not change (each is an alternation of a few hundred spellings)."""
    first, last = _listed("first"), _listed("last")
    full = re.compile(
        rf"(?<!\w)(?:(?P<f1>{first}){NAME_SEPARATOR}(?P<l1>{last})|(?P<l2>{last}),\s*(?P<f2>{first}))(?!\w)"
    )
    titled = re.compile(rf"(?<!\w){_TITLE_PATTERN}(?P<last>{last})(?!\w)")
    alone = re.compile(rf"(?<!\w)(?P<first>{first})(?!\w)")
    return full, titled, alone


def _found_people(texts: Sequence[str]) -> list[_Person]:
    """The people the lists find in ``texts``, in the order they are first named."""
    full, titled, alone = _people_patterns()
    people: list[_Person] = []
    firsts: set[str] = set()
    lasts: set[str] = set()

    def add(first_name: str | None, last_name: str | None) -> None:
        first_info = _NAMES.get(first_name.lower()) if first_name else None
        last_info = _NAMES.get(last_name.lower()) if last_name else None
        new_first = first_info is not None and first_info.name not in firsts
        new_last = last_info is not None and last_info.name not in lasts
        if not (new_first or new_last):
            return
        # Keisha Jones after Jamal Jones: a person of her own, the family name shared.
        people.append(
            _Person(
                first=first_info.name if first_info else None,
                last=last_info.name if last_info else None,
                groups=[info.group for info in (first_info, last_info) if info is not None],
                gender=first_info.gender if first_info else None,
            )
        )
        firsts.update([first_info.name] if first_info else [])
        lasts.update([last_info.name] if last_info else [])

    for text in texts:
        for match in full.finditer(text):
            add(match.group("f1") or match.group("f2"), match.group("l1") or match.group("l2"))
    for text in texts:
        for match in titled.finditer(text):
            add(None, match.group("last"))
    for text in texts:
        for match in alone.finditer(text):
            add(match.group("first"), None)
    return people


def _given_people(texts: Sequence[str], terms: Sequence[str]) -> list[_Person]:
    """The people named by ``terms``: each must appear; a full name is first name(s) + last."""
    people: list[_Person] = []
    titles = tuple(title for title, _ in TITLES)
    for term in terms:
        if not _appears(_name_pattern(term), texts):
            raise _absent(term)
        words = term.split()
        first: str | None
        last: str | None
        if len(words) > 1 and words[0].rstrip(".") in titles:
            words = words[1:]  # "Mr. Okoye": the last name
            first, last = None, " ".join(words)
        elif len(words) > 1:
            first, last = " ".join(words[:-1]), words[-1]
        else:
            info = _NAMES.get(words[0].lower())
            is_last = (
                info.part == "last"
                if info is not None
                else _appears(_TITLE_PATTERN + _name_pattern(words[0]), texts)
            )
            first, last = (None, words[0]) if is_last else (words[0], None)
        people.append(_given_person(first, last))
    # "DeShawn" and "Jackson" given apart but written together are one person.
    merged: list[_Person] = []
    for person in people:
        partner = next(
            (
                other
                for other in merged
                if person.first is None
                and other.last is None
                and other.first is not None
                and person.last is not None
                and _appears(
                    _name_pattern(other.first) + r"\s+" + _name_pattern(person.last), texts
                )
            ),
            None,
        )
        if partner is None:
            merged.append(person)
        else:
            partner.last = person.last
            partner.groups.extend(person.groups)
    for person in merged:
        if person.first is not None and person.gender is None:
            person.gender = _inferred_gender(texts, person.last)
    return merged


def _given_person(first: str | None, last: str | None) -> _Person:
    first_info = _NAMES.get(first.lower()) if first else None
    last_info = _NAMES.get(last.lower()) if last else None
    return _Person(
        first=first_info.name if first_info and first_info.part == "first" else first,
        last=last_info.name if last_info and last_info.part == "last" else last,
        groups=[info.group for info in (first_info, last_info) if info is not None],
        gender=first_info.gender if first_info else None,
    )


def _inferred_gender(texts: Sequence[str], last: str | None) -> str | None:
    """An unlisted first name's gender: a title before the last name, else the pronouns."""
    if last is not None:
        for title, gender in TITLES:
            if gender and _appears(re.escape(title) + r"\.?\s+" + _name_pattern(last), texts):
                return gender
    counts = {"male": 0, "female": 0}
    for gender, words in (("male", ("he", "him", "his")), ("female", ("she", "her", "hers"))):
        regex = re.compile(r"(?<!\w)(?i:" + "|".join(words) + r")(?!\w)")
        counts[gender] = sum(len(regex.findall(text)) for text in texts)
    if counts["male"] != counts["female"]:
        return "male" if counts["male"] > counts["female"] else "female"
    return None


def _name_pattern(name: str) -> str:
    """A name (of one or more words) and, if accented, its unaccented spelling."""
    return _spellings(name)


def _plan_names(
    texts: Sequence[str], terms: Sequence[str] | None, draw: Draw, other_gender: bool = False
) -> list[_Rule]:
    people = _found_people(texts) if terms is None else _given_people(texts, terms)
    if not people:
        raise _no_terms("name")
    # New names must not be names the case already has (two people would become one).
    used = {
        _fold(name).lower() for person in people for name in (person.first, person.last) if name
    }
    new_first: dict[str, str] = {}
    new_last: dict[str, str] = {}
    for person in people:
        # A part already swapped (a shared family name) fixes the group of the new identity.
        taken = new_last.get(person.last or "") or new_first.get(person.first or "")
        drawn = draw.choice([g for g in range(len(NAME_GROUPS)) if g not in person.groups])
        group = _NAMES[taken.lower()].group if taken is not None else drawn
        _, female, male, lasts = NAME_GROUPS[group]
        gender = person.gender
        if other_gender and gender is not None:
            gender = "female" if gender == "male" else "male"
        firsts = {"female": female, "male": male}.get(gender or "", (*female, *male))
        first = draw.choice([name for name in firsts if _fold(name).lower() not in used] or firsts)
        last = draw.choice([name for name in lasts if _fold(name).lower() not in used] or lasts)
        if person.first is not None and person.first not in new_first:
            new_first[person.first] = first
            used.add(_fold(first).lower())
        if person.last is not None and person.last not in new_last:
            new_last[person.last] = last
            used.add(_fold(last).lower())

    rules: list[tuple[int, _Rule]] = []
    for person in people:
        if person.first is not None and person.last is not None:
            f, la = person.first, person.last
            nf, nl = new_first[f], new_last[la]
            pattern = _name_pattern(f) + NAME_SEPARATOR + _name_pattern(la)
            rules.append((len(f) + len(la) + 1, _Rule(pattern, _full_name(f, la, nf, nl))))
            reverse = f"{_name_pattern(la)},\\s*{_name_pattern(f)}"
            rules.append((len(f) + len(la) + 2, _Rule(reverse, _reversed_name(f, la, nf, nl))))
    for old, new in (*new_first.items(), *new_last.items()):
        rules.append((len(old), _word_rule(_name_pattern(old), old, new)))
    # Longest first: at one position the alternation takes the first rule that matches.
    return [rule for _, rule in sorted(rules, key=lambda item: -item[0])]


def _split_name(matched: str, first: str, last: str) -> tuple[int, int]:
    """Where the first name ends and the last name starts in a matched full name."""
    head = re.match(_name_pattern(first), matched)
    tail = re.search(f"(?:{_name_pattern(last)})$", matched)
    assert head is not None
    assert tail is not None
    return head.end(), tail.start()


def _full_name(first: str, last: str, new_first: str, new_last: str) -> Rewrite:
    def rewrite(text: str, start: int, end: int) -> tuple[str, Swap]:
        matched = text[start:end]
        head, tail = _split_name(matched, first, last)
        separator = matched[head:tail]
        replacement = (
            _written(text, start, start + head, first, new_first)
            + separator
            + _written(text, start + tail, end, last, new_last)
        )
        if separator.isspace():
            return replacement, (f"{first} {last}", f"{new_first} {new_last}")
        return replacement, (matched, replacement)

    return rewrite


def _reversed_name(first: str, last: str, new_first: str, new_last: str) -> Rewrite:
    def rewrite(text: str, start: int, end: int) -> tuple[str, Swap]:
        matched = text[start:end]
        head, tail = _split_name_reversed(matched, first, last)
        replacement = (
            _written(text, start, start + head, last, new_last)
            + matched[head:tail]
            + _written(text, start + tail, end, first, new_first)
        )
        return replacement, (f"{last}, {first}", f"{new_last}, {new_first}")

    return rewrite


def _split_name_reversed(matched: str, first: str, last: str) -> tuple[int, int]:
    head = re.match(_name_pattern(last), matched)
    tail = re.search(f"(?:{_name_pattern(first)})$", matched)
    assert head is not None
    assert tail is not None
    return head.end(), tail.start()


# --- gender --------------------------------------------------------------------------------------


def _next_word(text: str, end: int) -> str | None:
    """The word right after ``end`` (a line break between is a space: text is wrapped), or
    None before punctuation or the end."""
    found = re.match(r"\s*(\w[\w'\u2019-]*)", text[end:])
    return found.group(1).lower() if found else None


def _her(text: str, end: int) -> str:
    word = _next_word(text, end)
    return "his" if word is not None and word not in FUNCTION_WORDS else "him"


def _his(text: str, end: int) -> str:
    word = _next_word(text, end)
    return "her" if word is not None and word not in FUNCTION_WORDS else "hers"


def _gender_table() -> dict[str, tuple[str, str | Callable[[str, int], str]]]:
    """Every gender word by its lower-case spelling: (pattern, counterpart or resolver)."""
    table: dict[str, tuple[str, str | Callable[[str, int], str]]] = {}
    for male, female in GENDER_PAIRS:
        table[male] = (_word_pattern(male), female)
        table[female] = (_word_pattern(female), male)
    for word, counterpart in GENDER_ONE_WAY:
        table[word] = (_word_pattern(word), counterpart)
    table["him"] = (_word_pattern("him"), "her")
    table["his"] = (_word_pattern("his"), _his)
    table["her"] = (_word_pattern("her"), _her)
    for title, counterpart in GENDER_TITLES:
        # Only as a title: "Ms. Lee", not "MS" (the illness) nor "miss" (the verb).
        table[title] = (re.escape(title) + r"(?=\.?\s+[A-Z])", counterpart)
    return table


_GENDER = _gender_table()


def _plan_gender(texts: Sequence[str], terms: Sequence[str] | None) -> list[_Rule]:
    if terms is None:
        chosen = list(_GENDER)
    else:
        chosen = []
        for term in terms:
            # "Mr." is the title Mr; other words are looked up in lower case.
            key = term.rstrip(".") if term.rstrip(".") in _GENDER else term.lower()
            if key not in _GENDER:
                raise VariantError(
                    f"term {term!r} is not in the built-in gender lists", field="terms"
                )
            if not _appears(_GENDER[key][0], texts):
                raise _absent(term)
            chosen.append(key)
    rules = [_word_rule(_GENDER[word][0], word, _GENDER[word][1]) for word in chosen]
    if terms is None and not _Rewriter(rules).found(texts):
        raise _no_terms("gender")
    return rules


def _gender_side(texts: Sequence[str]) -> str | None:
    """``male`` or ``female``: what most gendered words of the texts read as (None on a tie)."""
    sides = {male: "male" for male, _ in GENDER_PAIRS}
    sides.update({female: "female" for _, female in GENDER_PAIRS})
    sides.update({"hers": "female", "mum": "female", "ma'am": "female"})
    sides.update({"him": "male", "his": "male", "her": "female"})
    sides.update({"Mr": "male", "Ms": "female", "Mrs": "female", "Miss": "female"})
    counts = {"male": 0, "female": 0}
    for word, (pattern, _) in _GENDER.items():
        counts[sides[word]] += sum(
            len(re.findall(r"(?<!\w)(?:" + pattern + r")(?!\w)", text)) for text in texts
        )
    if counts["male"] == counts["female"]:
        return None
    return "male" if counts["male"] > counts["female"] else "female"


def _check_gender_direction(texts: Sequence[str], direction: str) -> None:
    side = _gender_side(texts)
    if side is None:
        raise VariantError(
            f"asks for {direction}, but the case has as many male as female words, so it reads "
            "neither way; write gender: swap",
            field="combinations",
        )
    if side == direction:
        raise VariantError(
            f"asks for {direction}, but the case's gender words already read {side}; write "
            f"gender: {'male' if side == 'female' else 'female'}",
            field="combinations",
        )


# --- nationality and religion --------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    word: str
    group: int
    slot: int
    pattern: str


@dataclass(frozen=True)
class _GroupTable:
    attribute: str
    slots: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    #: Every word of the lists, longest first.
    entries: tuple[_Entry, ...]


def _group_table(
    attribute: str,
    slots: tuple[str, ...],
    groups: tuple[tuple[str, ...], ...],
    aliases: tuple[tuple[str, str, str], ...],
    common: frozenset[str],
    context: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (),
) -> _GroupTable:
    words: dict[str, tuple[int, int]] = {}
    for group, surfaces in enumerate(groups):
        for slot, word in enumerate(surfaces):
            # A word of two slots (Indian: adjective and person) is the first.
            words.setdefault(word, (group, slot))
    adjectives = [surfaces[0] for surfaces in groups]
    for word, adjective, slot_name in aliases:
        words.setdefault(word, (adjectives.index(adjective), slots.index(slot_name)))
    around = {word: (before, after) for word, before, after in context}
    entries = []
    for word, (group, slot) in words.items():
        proper = slots[slot] not in common
        article = word.startswith("the ")
        bare = word[4:] if article else word
        pattern = _word_pattern(bare, proper=proper)
        if article:
            # The article is optional: "in the United States", "a United States citizen".
            pattern = r"(?:(?i:the)\s+)?" + pattern
        before, after = around.get(word, ((), ()))
        pattern = "".join(f"(?<!{re.escape(w)} )" for w in before) + pattern
        pattern += "".join(f"(?! {re.escape(w)})" for w in after)
        entries.append(_Entry(word, group, slot, pattern))
    entries.sort(key=lambda entry: -len(entry.word))
    return _GroupTable(attribute, slots, groups, tuple(entries))


_NATIONALITY_TABLE = _group_table(
    "nationality",
    NATIONALITY_SLOTS,
    NATIONALITIES,
    NATIONALITY_ALIASES,
    frozenset(),
    NATIONALITY_CONTEXT,
)
_RELIGION_TABLE = _group_table(
    "religion", RELIGION_SLOTS, RELIGIONS, RELIGION_ALIASES, RELIGION_COMMON_SLOTS
)


def _group_rule(entry: _Entry, replacement: str) -> _Rule:
    """``entry``'s word -> ``replacement``, the article of "the X" coming and going with X."""
    if not (entry.word.startswith("the ") or replacement.startswith("the ")):
        return _word_rule(entry.pattern, entry.word, replacement)

    def rewrite(text: str, start: int, end: int) -> tuple[str, Swap]:
        matched = text[start:end]
        with_article = re.match(r"(?i:the)\s", matched) is not None
        shown = entry.word if with_article or not entry.word.startswith("the ") else entry.word[4:]
        target = replacement
        if target.startswith("the ") and entry.word.startswith("the ") and not with_article:
            # "a United States citizen" -> "a United Kingdom citizen": no article was there.
            target = target[4:]
        return _written(text, start, end, shown, target), (shown, target)

    return _Rule(entry.pattern, rewrite)


def _plan_groups(
    table: _GroupTable, texts: Sequence[str], terms: Sequence[str] | None, draw: Draw
) -> list[_Rule]:
    if terms is None:
        chosen = list(table.entries)
    else:
        by_word = {entry.word.lower(): entry for entry in table.entries}
        for listed in table.entries:
            # "United States" names the entry "the United States".
            by_word.setdefault(listed.word.lower().removeprefix("the "), listed)
        chosen = []
        for term in terms:
            given = by_word.get(term.lower())
            if given is None:
                raise VariantError(
                    f"term {term!r} is not in the built-in {table.attribute} lists",
                    field="terms",
                )
            if not _appears(given.pattern, texts):
                raise _absent(term)
            chosen.append(given)
    detector = _Rewriter([_Rule(entry.pattern, lambda *_: None) for entry in chosen])
    order: dict[int, set[int]] = {}  # group -> slots used, in order of first mention
    for match in detector.found(texts):
        assert match.lastgroup is not None
        entry = chosen[int(match.lastgroup[1:])]
        order.setdefault(entry.group, set()).add(entry.slot)
    if not order:
        raise _no_terms(table.attribute)
    target: dict[int, int] = {}
    for group, slots in order.items():
        candidates = [
            other
            for other in range(len(table.groups))
            if other not in order
            and other not in target.values()
            and all(table.groups[other][slot] for slot in slots)
        ]
        if not candidates:
            raise VariantError(
                f"every {table.attribute} of the built-in lists is already in the case; "
                "there is none left to swap in",
                field="attribute",
            )
        target[group] = draw.choice(candidates)
    return [
        _group_rule(entry, table.groups[target[entry.group]][entry.slot])
        for entry in chosen
        if entry.group in target
    ]


# --- age -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AgeMention:
    #: The age, or the birth year.
    value: int
    birth_year: bool


def _age_rules(shift: Callable[[_AgeMention], int | None]) -> list[_Rule]:
    """Rules rewriting each age and birth year mention by ``shift`` (None: leave it)."""

    def rewrite_for(birth: bool) -> Rewrite:
        def rewrite(text: str, start: int, end: int) -> tuple[str, Swap] | None:
            matched = text[start:end]
            if birth:
                number = list(YEAR.finditer(matched))[-1]
            else:
                if AGE_LIMIT_BEFORE.search(text[max(0, start - 30) : start]) or (
                    AGE_LIMIT_AFTER.match(text[end : end + 30])
                ):
                    return None
                found = re.search(r"\d{1,3}", matched)
                assert found is not None
                number = found
                if AGE_LIMIT_AFTER.match(matched[number.end() :]):
                    return None
            new = shift(_AgeMention(int(number.group()), birth))
            if new is None:
                return None
            replacement = matched[: number.start()] + str(new) + matched[number.end() :]
            return replacement, (number.group(), str(new))

        return rewrite

    return [
        *(_Rule(f"(?i:{pattern})", rewrite_for(False)) for pattern in AGE_PATTERNS),
        *(_Rule(f"(?i:{pattern})", rewrite_for(True)) for pattern in BIRTH_PATTERNS),
    ]


def _keyed_age(
    key: str | None, value: Any, shift: Callable[[_AgeMention], int | None]
) -> tuple[Any, Swap | None]:
    """An age or birth year held as data under ``key``: (new value, swap), or (value, None)."""
    if key is None:
        return value, None
    number: int | None = None
    birth = False
    if isinstance(value, int) and AGE_KEY.match(key) and 0 <= value <= 120:
        number = value
    elif isinstance(value, int) and BIRTH_YEAR_KEY.match(key) and 1900 <= value <= 2099:
        number, birth = value, True
    elif isinstance(value, str) and AGE_KEY.match(key) and value.strip().isdigit():
        number = int(value)
    if number is not None:
        new = shift(_AgeMention(number, birth))
        if new is None:
            return value, None
        written = new if isinstance(value, int) else value.replace(value.strip(), str(new))
        return written, (str(number), str(new))
    year = YEAR.search(value) if isinstance(value, str) and BIRTH_DATE_KEY.match(key) else None
    if year is None:
        return value, None
    new = shift(_AgeMention(int(year.group()), True))
    if new is None:
        return value, None
    return value[: year.start()] + str(new) + value[year.end() :], (year.group(), str(new))


def _reference_year(case: IncidentCase) -> int:
    written = str(case.incident.date or "")[:4]
    return int(written) if written.isdigit() else AGE_REFERENCE_YEAR


def _band(age: int) -> int | None:
    return next((index for index, (low, high) in enumerate(AGE_BANDS) if low <= age <= high), None)


def _plan_age(
    case: IncidentCase,
    texts: Sequence[str],
    terms: Sequence[str] | None,
    draw: Draw,
    direction: str = "swap",
) -> _Plan:
    if terms is not None:
        for term in terms:
            if not term.strip().isdigit():
                raise VariantError(
                    f"term {term!r} is not an age: age terms are the numbers of the case's ages "
                    "or birth years as written (e.g. '34', '1990')",
                    field="terms",
                )
    wanted = None if terms is None else {int(term) for term in terms}

    # First pass: every mention, to find the first age and the room to move.
    mentions: list[_AgeMention] = []

    def record(mention: _AgeMention) -> int | None:
        if wanted is None or mention.value in wanted:
            mentions.append(mention)
        return None

    detector = _Rewriter(_age_rules(record))
    for text in texts:
        detector(text)
    for key, value in _keyed_values(case.input):
        _keyed_age(key, value, record)
    if terms is not None:
        seen = {mention.value for mention in mentions}
        for term in terms:
            if int(term) not in seen:
                raise VariantError(
                    f"term {term!r} is not an age or birth year of the case (ages are written "
                    "like 34-year-old, 34 years old, aged 34, age: 34; birth years like "
                    "born 1990, DOB: 1990-03-14)",
                    field="terms",
                )
    if not mentions:
        raise _no_terms("age")

    reference = _reference_year(case)
    ages = [reference - m.value if m.birth_year else m.value for m in mentions]
    first = ages[0]
    candidates = [
        age
        for age in range(AGE_BANDS[0][0], AGE_BANDS[-1][1] + 1)
        if abs(age - first) >= AGE_MIN_SHIFT
        and _band(age) != _band(first)
        and all(0 <= other + age - first <= 110 for other in ages)
        and (direction != "older" or age > first)
        and (direction != "younger" or age < first)
    ]
    if not candidates and direction != "swap":
        raise VariantError(
            f"no age from {AGE_BANDS[0][0]} to {AGE_BANDS[-1][1]} is {direction} than {first} by "
            f"{AGE_MIN_SHIFT} years or more, in another age band",
            field="combinations",
        )
    if not candidates:
        raise VariantError(
            f"the ages of the case ({', '.join(str(age) for age in ages)}) are too far apart to "
            "move together to another age band",
            field="attribute",
        )
    delta = draw.choice(candidates) - first

    def shift(mention: _AgeMention) -> int | None:
        if wanted is not None and mention.value not in wanted:
            return None
        return mention.value - delta if mention.birth_year else mention.value + delta

    def keyed(key: str | None, value: Any) -> tuple[Any, Swap | None]:
        return _keyed_age(key, value, shift)

    return _Plan(tuple(_age_rules(shift)), keyed)


# --- the generator -------------------------------------------------------------------------------


def _counterfactual(
    case: IncidentCase, options: Mapping[str, Any], draw: Draw, how: _How = _SWAP
) -> tuple[CaseInput, list[tuple[Swap, int]]]:
    """The variant's input and its swaps with how many places each changed, in order."""
    plan = _plan(case, options, draw, how)
    rewriter = _Rewriter(plan.rules)

    def visit(key: str | None, value: Any) -> Any:
        if plan.keyed is not None:
            new, swap = plan.keyed(key, value)
            if swap is not None:
                rewriter.counts[swap] = rewriter.counts.get(swap, 0) + 1
                return new
        return rewriter(value) if isinstance(value, str) else value

    new_input = _map_input(case.input, rewriter, visit)
    return new_input, list(rewriter.counts.items())


# --- several attributes --------------------------------------------------------------------------

#: The order the attributes of one combination are applied in: gender last, so that a name
#: swapped with it is found under the case's own pronouns and titles.
APPLY_ORDER = ("name", "nationality", "religion", "age", "gender")
#: What each attribute of a declared combination may ask for besides ``swap``.
DIRECTIONS: dict[str, tuple[str, ...]] = {"gender": ("female", "male"), "age": ("older", "younger")}


@dataclass(frozen=True)
class Combination:
    """The attributes one variant swaps together, in the order the options name them, each
    with its direction (``swap``, or ``older``/``younger``, ``female``/``male``)."""

    swaps: tuple[tuple[str, str], ...]

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(attribute for attribute, _ in self.swaps)

    @property
    def key(self) -> str:
        """``gender+age``: the combination's name in the consistency item's rates."""
        return "+".join(self.attributes)


def combinations(options: Mapping[str, Any]) -> list[Combination]:
    """The combinations an entry swaps, in the order of its variants' numbers.

    ``attribute: A`` is one combination. ``attributes: [A, B, ...]`` alone is every non-empty
    set of them (the cross product of "as written" and "swapped" per attribute, the case itself
    left out): the single attributes first, then pairs, ..., each in the order listed.
    ``combinations`` declares them instead, each a mapping of attribute to direction.
    """
    single = options.get("attribute")
    if single is not None:
        return [Combination(((str(single), "swap"),))]
    listed = [str(attribute) for attribute in options.get("attributes") or ()]
    declared = options.get("combinations")
    if declared is None:
        return [
            Combination(tuple((attribute, "swap") for attribute in chosen))
            for size in range(1, len(listed) + 1)
            for chosen in itertools.combinations(listed, size)
        ]
    found: list[Combination] = []
    for index, entry in enumerate(declared):
        for attribute in entry:
            if attribute not in listed:
                raise VariantError(
                    f"combinations[{index}] swaps {attribute}, which is not in attributes "
                    f"({', '.join(listed)})",
                    field="combinations",
                )
        combination = Combination(
            tuple((attribute, str(entry[attribute])) for attribute in listed if attribute in entry)
        )
        if combination in found:
            raise VariantError(
                f"combinations[{index}] repeats combinations[{found.index(combination)}]",
                field="combinations",
            )
        found.append(combination)
    return found


def variant_count(options: Mapping[str, Any], count: int) -> int:
    """``count`` variants of each combination."""
    try:
        return len(combinations(options)) * count
    except VariantError:
        # The load-time check reports it; until then an entry makes its declared count.
        return count


def combination_of(options: Mapping[str, Any], index: int) -> Combination:
    """The combination of variant ``index``: they take turns (``counterfactual-1`` the first,
    ``-2`` the second, ...), so a variant's number names the same combination whatever
    ``count`` is, and a single attribute keeps the numbering it always had."""
    found = combinations(options)
    return found[(index - 1) % len(found)]


def _apply(
    case: IncidentCase, options: Mapping[str, Any], combination: Combination, draw: Draw
) -> tuple[CaseInput, list[tuple[str, list[tuple[Swap, int]]]]]:
    """The variant's input, and per attribute (in the combination's order) its swaps."""
    if options.get("attribute") is not None:
        # One attribute: exactly the swaps (and draws) it has always made.
        new_input, applied = _counterfactual(case, options, draw)
        return new_input, [(str(options["attribute"]), applied)]
    directions = dict(combination.swaps)
    current = case
    done: dict[str, list[tuple[Swap, int]]] = {}
    for attribute in APPLY_ORDER:
        if attribute not in directions:
            continue
        how = _How(directions[attribute], attribute == "name" and "gender" in directions)
        try:
            new_input, applied = _counterfactual(current, {"attribute": attribute}, draw, how)
        except VariantError as error:
            field = "combinations" if options.get("combinations") is not None else "attributes"
            # `terms` go with `attribute` only: say so rather than suggest them here.
            message = str(error).replace(
                "; name them with terms: [...]",
                f" (leave {attribute} out, or give it its own entry with attribute and terms)",
            )
            raise VariantError(f"{attribute}: {message}", field=field) from None
        current = dataclasses.replace(current, input=new_input)
        done[attribute] = applied
    return current.input, [(attribute, done[attribute]) for attribute in combination.attributes]


def swaps(case: IncidentCase, options: Mapping[str, Any], draw: Draw) -> list[Swap]:
    """The (original, replacement) pairs variant ``draw`` applies, in order of first change
    (attribute by attribute, for several).

    ``draw`` must be a fresh :class:`Draw` for the variant (same seed, case, generator and
    index as the one that generated it): the swaps are drawn again, identically.
    """
    combination = combination_of(options, draw.index)
    applied = _apply(case, options, combination, draw)[1]
    return [swap for _, pairs in applied for swap, _ in pairs]


def _describe(attribute: str, applied: Sequence[tuple[Swap, int]]) -> str:
    parts = [
        f'"{old}" -> "{new}"' + (f" ({count} places)" if count > 1 else "")
        for (old, new), count in applied
    ]
    return f"{attribute}: " + ", ".join(parts)


def generate(case: IncidentCase, options: Mapping[str, Any], draw: Draw) -> Generated:
    combination = combination_of(options, draw.index)
    new_input, applied = _apply(case, options, combination, draw)
    for attribute, pairs in applied:
        if not pairs:
            # The check found terms, so a swap always applies; this guards a broken list.
            raise VariantError(f"no {attribute} term of the case could be swapped")
    description = "; ".join(_describe(attribute, pairs) for attribute, pairs in applied)
    return Generated(new_input, description, combination.attributes)


def check(case: IncidentCase, options: Mapping[str, Any]) -> None:
    """The load-time check: the decision pattern compiles, the options name the attributes one
    way, and every combination's terms exist and can be swapped (drawing once, for any seed)."""
    from incident_evals.variants.consistency import check_decision

    check_decision(options)
    if options.get("attributes") is not None and options.get("terms") is not None:
        raise VariantError(
            "terms name the words of one attribute: use them with attribute, not attributes",
            field="terms",
        )
    if options.get("combinations") is not None and options.get("attributes") is None:
        raise VariantError(
            "combinations choose among attributes: give attributes too", "attributes"
        )
    for index, combination in enumerate(combinations(options), start=1):
        _apply(case, options, combination, Draw(0, case.id, NAME, index))


GENERATORS: tuple[VariantGenerator, ...] = (
    VariantGenerator(
        name=NAME,
        options_schema=options_schema(NAME),
        generate=generate,
        description=(
            "Swaps protected attributes (names, gender terms, nationality, religion or age), one "
            "or several together, for counterparts from built-in lists, consistently across the "
            "input."
        ),
        check=check,
        variant_count=variant_count,
    ),
)
