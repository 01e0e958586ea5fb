"""Words of a news text as story clustering sees them (bot/core/cluster.py builds on this).

Each word is folded (Cyrillic transliterated to Latin, diacritics dropped,
spelling variants merged: kh→h, zh/dzh→j, sh→s, y→i, doubled letters once,
hyphens joined), so "Kharb-Maidon", "Kharbmaidon" and "Харбмайдон" all become
``harbmaidon``, and gets a *key*, which is what two reports of one event
share even across English and Russian:

- a *concept* from a short bilingual map of common news words (``CONCEPTS``,
  built from bot/core/cluster_words.py:
  "drills", "exercise", "учения" → ``~drill``; "Tajik", "Таджикистана" →
  ``~tj``), looked up by Snowball stem, single words and a few two-word
  phrases ("training ground" = "полигон");
- else the word's stem (Snowball English or Russian, by script), folded;
  Russian adjectives of places lose their suffix ("Раштской" → ``rast``);
- numbers as written ("1,500" = "1500", "5,3" = "5.3", "five" = "5", "6
  тысяч" = "6000") and dates ("April 7" = "7 April" = "7 апреля").

*Names* are capitalised words that do not start a sentence, and acronyms
(in a Title Case headline only acronyms), unless the map knows them (common
countries and organisations are concepts, so that "Tajik" and the lower-case
Russian "таджикские" agree). A name's key is its consonant skeleton
("Darvoz" = "Darvaz").

What it does not do: translate (words outside the map match across
languages only when their transliterations agree), lemmatise with a
dictionary, or know which words are names beyond capitals and the map.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

import snowballstemmer

from bot.core.cluster_words import CONCEPTS_TEXT, MULTIPLIERS, NUMBER_WORDS, STOP_WORDS

_CYR = ("а a б b в v г g д d е e ё e ж zh з z и i й y к k л l м m н n о o п p р r с s т t "
        "у u ф f х kh ц ts ч ch ш sh щ shch ъ _ ы y ь _ э e ю yu я ya і i ї yi є ye ґ g "
        "ғ gh ӣ i қ q ӯ u ҳ h ҷ j ә a ө o ү u ң ng ұ u һ h ў u")
_pairs = _CYR.split()
CYRILLIC_TO_LATIN = str.maketrans({c: ("" if v == "_" else v) for c, v in zip(_pairs[::2], _pairs[1::2])})
_EN_STEM = snowballstemmer.stemmer("english").stemWord
_RU_STEM = snowballstemmer.stemmer("russian").stemWord
_RU_ADJ_PLACE = re.compile(r"ск(?:ий|ая|ое|ие|ого|ой|ом|им|ую|их|ими|ому)$")
_RU_NAME_CASE = re.compile(r"(?:ами|ом|ем|ым|им|ам|ах|ях)$")


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


@lru_cache(maxsize=100_000)
def _stem(low: str) -> str:
    """The Snowball stem of a lower-case word in its script's language (English or Russian)."""
    if _is_cyrillic(low):
        low = low.replace("ё", "е")
        root = _RU_STEM(low)
        if _RU_ADJ_PLACE.search(low) and root.endswith("ск") and len(root) >= 6:
            root = root[:-2]                    # раштской → рашт, хатлонская → хатлон
        return root
    return _EN_STEM(low)


def _name_root(low: str) -> str:
    """A name without its Russian case ending (vowel endings vanish in the skeleton anyway)."""
    if not _is_cyrillic(low):
        return low
    adjective = _RU_ADJ_PLACE.search(low)
    if adjective and adjective.start() >= 3:
        return low[:adjective.start()]          # Раштской → рашт, Шамсиддин-Шохинском → …шохин
    case = _RU_NAME_CASE.search(low)
    return low[:case.start()] if case and case.start() >= 4 else low


def _build_concepts() -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], tuple[str, ...]]]:
    words: dict[str, list[str]] = {}
    pairs: dict[tuple[str, str], list[str]] = {}
    for line in CONCEPTS_TEXT.strip().splitlines():
        concept, _, rest = line.partition(":")
        for word in rest.replace("/", " ").split():
            if "_" in word:
                a, b = word.split("_", 1)
                pairs.setdefault((_stem(a), _stem(b)), []).append("~" + concept)
            else:
                for form in {word, _stem(word)}:
                    words.setdefault(form, []).append("~" + concept)
    return ({w: tuple(dict.fromkeys(c)) for w, c in words.items()},
            {p: tuple(dict.fromkeys(c)) for p, c in pairs.items()})


CONCEPTS, CONCEPT_PAIRS = _build_concepts()

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’ʼ-][^\W\d_]+)*", re.UNICODE)
_TERMINAL = re.compile(r"[.!?…]")
_VOWELS = str.maketrans("", "", "aeiouy")
_FOLDS = (("shch", "s"), ("dzh", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"),
          ("sh", "s"), ("ch", "c"), ("ph", "f"), ("ck", "k"), ("q", "k"),
          ("w", "v"), ("x", "ks"), ("y", "i"), ("j", "j"))
_DOUBLE = re.compile(r"(.)\1+")
_POSSESSIVE = ("'s", "’s", "ʼs")
_APOSTROPHE_HYPHEN = re.compile(r"['’ʼ-]")
_FINAL_VOWELS = frozenset("aeiouyаеёиоуыэюяйь")


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower-case, transliterate, drop diacritics and merge spelling variants."""
    text = word.lower().translate(CYRILLIC_TO_LATIN)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))
    text = text.replace("-", "").replace("'", "").replace("’", "").replace("ʼ", "")
    for old, new in _FOLDS:
        if old in text:
            text = text.replace(old, new)
    return _DOUBLE.sub(r"\1", text)


def skeleton(folded: str) -> str:
    """First letter plus consonants: 'darvoz' and 'darvaz' both give 'drvz'."""
    return folded[:1] + folded[1:].translate(_VOWELS)


def _number(token: str) -> str:
    if "," in token and "." not in token:
        head, _, tail = token.rpartition(",")
        # "1,500" is a thousands separator; "5,3" a decimal comma
        token = token.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    return token.replace(",", "")


class Token(NamedTuple):
    """One word or number of a text (stop words are not tokens)."""

    folded: str                 # the folded word, or the number as digits
    is_name: bool               # capitalised (see tokens()), whether or not the map knows it
    is_number: bool
    keys: tuple[str, ...] = ()  # concepts, or the folded stem; () for numbers and short words
    root: str = ""              # the folded word without a Russian case ending, for a name's skeleton
    known: bool = False         # in the concept map: a concept, not a name, for clustering
    month: int = 0              # 1-12 for a month's name


class _Word(NamedTuple):
    folded: str
    keys: tuple[str, ...]
    root: str
    known: bool                 # every part is in the concept map: never a name for clustering
    stem: str                   # unfolded stem, for two-word phrases
    month: int


@lru_cache(maxsize=100_000)
def _word(low: str, name: bool) -> _Word:
    """What clustering keeps of a lower-case word (cached: most words of news recur).

    A name (see tokens()) is not given to Snowball, which is slow for a word seen the first
    time and most first-seen words are names: its concept is looked up as written or without
    one or two final letters ("Таджикистана"), its key is its root without a final vowel.
    """
    for tail in _POSSESSIVE:
        if low.endswith(tail):
            low = low[:-2]
    parts = [p for p in _APOSTROPHE_HYPHEN.split(low) if p] if not low.isalpha() else [low]
    keys: list[str] = []
    known = 0
    for part in parts:
        if name:
            root = _name_root(part)
            concepts = (CONCEPTS.get(part) or CONCEPTS.get(root) or CONCEPTS.get(part[:-1])
                        or CONCEPTS.get(part[:-2]))
            stem = root[:-1] if len(root) >= 5 and root[-1] in _FINAL_VOWELS else root
        else:
            stem = _stem(part)
            concepts = CONCEPTS.get(stem) or CONCEPTS.get(part)
        if concepts:
            keys.extend(concepts)
            known += 1
        elif len(part) >= 3 and part not in STOP_WORDS:
            keys.append(fold(stem))
    month = next((int(k[2:]) for k in keys if k[:2] == "~m" and k[2:].isdigit()), 0)
    return _Word(fold(low), tuple(dict.fromkeys(keys)), fold(_name_root(low)),
                 bool(parts) and known == len(parts), low if name else _stem(low), month)


def tokens(text: str, *, title_case: bool = False) -> list[Token]:
    """Words and numbers of `text`, folded, stop words dropped, names and numbers marked.

    A name is a capitalised word that does not start a sentence, or an
    acronym; in a Title Case headline only acronyms count. Words of the
    concept map are marked ``known``: clustering counts them as concepts.
    """
    out: list[Token] = []
    prev_end = 0
    stems: list[str] = []
    new = tuple.__new__
    for m in _WORD.finditer(text):
        raw = m.group()
        start = m.start()
        if prev_end == 0:
            starts = True
        else:
            gap = text[prev_end:start]
            starts = "." in gap or "!" in gap or "?" in gap or "…" in gap
        prev_end = m.end()
        if raw[0].isdigit():
            out.append(new(Token, (_number(raw), False, True, (), "", False, 0)))
            stems.append("")
            continue
        low = raw.lower()
        if low in STOP_WORDS:
            continue
        if low in MULTIPLIERS and out and out[-1].is_number and stems[-1] == "":
            value = float(out[-1].folded) * MULTIPLIERS[low]
            out[-1] = Token(f"{value:.0f}" if value.is_integer() else str(value), False, True)
            stems[-1] = "#"
            continue
        if low in NUMBER_WORDS:
            out.append(new(Token, (NUMBER_WORDS[low], False, True, (), "", False, 0)))
            stems.append("#")
            continue
        name = (raw[0].isupper() and not starts and not title_case) or (len(raw) > 1 and raw.isupper())
        w = _word(low, name)
        if stems:
            pair = CONCEPT_PAIRS.get((stems[-1], w.stem))
            if pair:                            # "training ground": one concept for both words
                prev = out[-1]
                out[-1] = Token(prev.folded, prev.is_name, False, pair, prev.root, True)
                stems[-1] = ""
                continue
        out.append(new(Token, (w.folded, name, False, w.keys, w.root, w.known, w.month)))
        stems.append(w.stem)
    return out


def dates(toks: list[Token]) -> set[str]:
    """Day and month mentioned together: "April 7", "7 April", "7 апреля" → "4-7"."""
    out = set()
    for i, t in enumerate(toks):
        month = t.month
        if not month:
            continue
        for j in (i - 1, i + 1, i + 2):
            if 0 <= j < len(toks) and toks[j].is_number and toks[j].folded.isdigit():
                if 1 <= int(toks[j].folded) <= 31:
                    out.add(f"{month}-{int(toks[j].folded)}")
                    break
    return out


def is_title_case(text: str) -> bool:
    words = [w for w in _WORD.findall(text[:200]) if w[0].isalpha() and len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) > 0.6
