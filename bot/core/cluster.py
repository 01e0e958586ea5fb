"""Stories: which items tell the same event (near-duplicate detection).

An item's *signature* is made from its title and lede (the first ~400
characters of its text), after folding: Cyrillic (Russian, Tajik, Kyrgyz,
Kazakh, Uzbek, Ukrainian letters) is transliterated to Latin, diacritics are
dropped, and spelling variants of transliteration are merged (kh→h, zh/dzh→j,
sh→s, y→i, doubled letters once, hyphens joined), so "Kharb-Maidon",
"Kharbmaidon" and "Харбмайдон" all become ``harbmaidon``. The signature holds:

- ``sketch``: a bottom-k MinHash sketch (k=64, CRC-32) of the character
  4-shingles of the folded text: robust to rewording of short spans and to
  inflection and spelling variants of names;
- ``keys``: the set of content words (stop words dropped, 5-letter prefixes
  as a cheap stemmer for English and Russian inflection);
- ``names``: the set of named entities and numbers: capitalised words not at
  the start of a sentence, reduced to their consonant skeleton (so "Darvoz"
  and "Darvaz" agree), and numbers ("1,500" = "1500", "5,3" = "5.3").

``similarity`` mixes the three (see WEIGHTS); a candidate story joins when
the best similarity reaches the threshold measured on
``tests/fixtures/cluster_pairs.yaml`` (see docs/briefs.md). ``StoryIndex``
finds candidates through postings of names and keys instead of comparing
with every recent story.

Pure: no I/O, no clock (times are parameters). It does not decide when a
story is stored or sent, and it does not match across languages reliably
(only shared names and numbers carry such pairs).
"""

from __future__ import annotations

import re
import struct
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Iterable, Sequence

_CYR = ("а a б b в v г g д d е e ё e ж zh з z и i й y к k л l м m н n о o п p р r с s т t "
        "у u ф f х kh ц ts ч ch ш sh щ shch ъ _ ы y ь _ э e ю yu я ya і i ї yi є ye ґ g "
        "ғ gh ӣ i қ q ӯ u ҳ h ҷ j ә a ө o ү u ң ng ұ u һ h ў u")
_pairs = _CYR.split()
CYRILLIC_TO_LATIN = str.maketrans({c: ("" if v == "_" else v) for c, v in zip(_pairs[::2], _pairs[1::2])})
STOP_WORDS = frozenset("""
a an the and or but nor of to in on at by for from with without into onto over under about after
before since until during between among against through near off out up down as is are was were be
been being has have had do does did will would shall should can could may might must not no yes it
its this that these those there here he she they them his her their our we you your i me my who whom
which what when where why how than then so also just very more most some any all both each other
such only own same too said says say told according new one while if per
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было
вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас
нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем
была сам чтобы без будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой
совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем всех никогда можно при
наконец два об другой хоть после над больше тот через эти нас про всего них какая много разве три
эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно
всю между это также которые который которая которых году года сообщил сообщили заявил заявила
сообщает еще ещё около более
""".split())
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "two three four five six seven eight nine ten eleven twelve".split(), start=2)}
NUMBER_WORDS.update({w: n for n, ws in (
    ("2", "два две двух двум двумя"), ("3", "три трех трёх трем тремя"),
    ("4", "четыре четырех четырёх"), ("5", "пять пяти пятью"), ("6", "шесть шести"),
    ("7", "семь семи"), ("8", "восемь восьми"), ("9", "девять девяти"),
    ("10", "десять десяти"), ("1000", "тысяча тысячи тысяч thousand"),
    ("1000000", "million миллион миллиона миллионов")) for w in ws.split()})

SKETCH_SIZE = 64
SHINGLE = 4
LEDE_CHARS = 400
MAX_KEYS = 80
MAX_NAMES = 40
WEIGHTS = (0.36, 0.18, 0.46)       # sketch, keys, names — measured, see docs/briefs.md
DEFAULT_THRESHOLD = 0.32           # measured on tests/fixtures/cluster_pairs.yaml
DEFAULT_WINDOW = timedelta(hours=72)
NAME_SHRINK = 1

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’ʼ-][^\W\d_]+)*", re.UNICODE)
_TERMINAL = re.compile(r"[.!?…]")
_VOWELS = str.maketrans("", "", "aeiouy")
_FOLDS = (("shch", "s"), ("dzh", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"),
          ("sh", "s"), ("ch", "c"), ("ph", "f"), ("ck", "k"), ("q", "k"),
          ("w", "v"), ("x", "ks"), ("y", "i"), ("j", "j"))
_DOUBLE = re.compile(r"(.)\1+")


class SignatureError(ValueError):
    """Stored signature bytes could not be read: recompute with story_signature()."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What an item's text looks like, for comparison with other items."""

    sketch: tuple[int, ...]     # bottom-k CRC-32 of character shingles, ascending
    keys: tuple[int, ...]       # CRC-32 of content-word keys, ascending
    names: tuple[int, ...]      # CRC-32 of names and numbers, ascending

    def to_bytes(self) -> bytes:
        """Version byte, three counts, then little-endian uint32 values."""
        parts = (self.sketch, self.keys, self.names)
        head = struct.pack("<BHHH", 1, *(len(p) for p in parts))
        body = struct.pack(f"<{sum(len(p) for p in parts)}I", *(v for p in parts for v in p))
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        if len(data) < 7 or data[0] != 1:
            raise SignatureError("unknown signature format: recompute it with story_signature()")
        n1, n2, n3 = struct.unpack_from("<HHH", data, 1)
        if len(data) != 7 + 4 * (n1 + n2 + n3):
            raise SignatureError("truncated signature: recompute it with story_signature()")
        values = struct.unpack_from(f"<{n1 + n2 + n3}I", data, 7)
        return cls(values[:n1], values[n1:n1 + n2], values[n1 + n2:])


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """A recent story (or one recent item of it) that a new item might join."""

    story_id: int
    signature: Signature
    last_at: datetime           # when that item (or the story's latest item) was published, UTC


# ------------------------------------------------------------------ folding


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


@dataclass(frozen=True, slots=True)
class _Token:
    folded: str
    is_name: bool
    is_number: bool


def tokens(text: str, *, title_case: bool = False) -> list[_Token]:
    """Words and numbers of `text`, folded, stop words dropped, names and numbers marked.

    A name is a capitalised word that does not start a sentence, or an
    acronym; in a Title Case headline only acronyms count.
    """
    out: list[_Token] = []
    prev_end = 0
    for m in _WORD.finditer(text):
        raw = m.group()
        starts = prev_end == 0 or _TERMINAL.search(text, prev_end, m.start()) is not None
        prev_end = m.end()
        if raw[0].isdigit():
            out.append(_Token(_number(raw), False, True))
            continue
        low = raw.lower()
        if low in NUMBER_WORDS:
            out.append(_Token(NUMBER_WORDS[low], False, True))
        elif low not in STOP_WORDS:
            acronym = raw.isupper() and len(raw) > 1
            name = acronym or (raw[0].isupper() and not starts and not title_case)
            out.append(_Token(fold(raw), name, False))
    return out


def _is_title_case(text: str) -> bool:
    words = [w for w in _WORD.findall(text[:200]) if w[0].isalpha() and len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) > 0.6


# ------------------------------------------------------------------ signature


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


def _shingles(folded_words: Iterable[str]) -> set[int]:
    data = " ".join(folded_words).encode()
    crc = zlib.crc32
    return {crc(data[i:i + SHINGLE]) for i in range(max(1, len(data) - SHINGLE + 1))}


def _lede(text: str) -> str:
    if len(text) <= LEDE_CHARS:
        return text
    cut = text.rfind(" ", 0, LEDE_CHARS)
    return text[:cut if cut > 0 else LEDE_CHARS]


def story_signature(title: str, text: str) -> Signature:
    """The signature of an item from its title and text (only the lede is used)."""
    title = title.strip()
    toks = tokens(title, title_case=_is_title_case(title)) + tokens(_lede(text or ""))
    words = [t.folded for t in toks if t.folded]
    sketch = tuple(sorted(_shingles(words))[:SKETCH_SIZE]) if words else ()
    keys = {_crc(t.folded if t.is_number else t.folded[:5]) for t in toks
            if t.is_number or len(t.folded) >= 3}
    names = {_crc("#" + t.folded) if t.is_number else _crc("@" + skeleton(t.folded)[:6])
             for t in toks if t.is_number or (t.is_name and len(t.folded) >= 3)}
    return Signature(sketch, tuple(sorted(keys)[:MAX_KEYS]), tuple(sorted(names)[:MAX_NAMES]))


def merge_signatures(a: Signature, b: Signature) -> Signature:
    """A story's signature after it gains an item: the union, kept compact."""
    return Signature(tuple(sorted(set(a.sketch).union(b.sketch))[:SKETCH_SIZE]),
                     tuple(sorted(set(a.keys).union(b.keys))[:MAX_KEYS]),
                     tuple(sorted(set(a.names).union(b.names))[:MAX_NAMES]))


# ------------------------------------------------------------------ similarity


def _sketch_jaccard(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Bottom-k estimate: the share of the union's k smallest values found in both."""
    if not a or not b:
        return 0.0
    sa = set(a)
    both = sa.intersection(b)
    if not both:
        return 0.0                      # the common case, and cheap
    merged = sorted(a + b)              # shared values appear twice, side by side
    k = min(SKETCH_SIZE, len(merged) - len(both))
    at = k - 1
    for v in sorted(both):              # step over the second copy of each shared value
        if v > merged[at]:
            break
        at += 1
    cut = merged[at]
    return sum(1 for v in both if v <= cut) / k


def _jaccard(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    if not a or not b:
        return 0.0
    inter = len(set(a).intersection(b))
    return inter / (len(a) + len(b) - inter)


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Shared names over the smaller set, shrunk when the sets are tiny."""
    if not a or not b:
        return 0.0
    return len(set(a).intersection(b)) / (min(len(a), len(b)) + NAME_SHRINK)


def similarity(a: Signature, b: Signature) -> float:
    """How likely two items tell the same event: 0 (nothing shared) to ~1 (same text)."""
    ws, wk, wn = WEIGHTS
    return (ws * _sketch_jaccard(a.sketch, b.sketch) + wk * _jaccard(a.keys, b.keys)
            + wn * _overlap(a.names, b.names))


def assign_story(sig: Signature, published: datetime, candidates: Sequence[StoryCandidate], *,
                 window: timedelta = DEFAULT_WINDOW,
                 threshold: float = DEFAULT_THRESHOLD) -> int | None:
    """The id of the story this item joins, or None for a new story.

    Only stories whose latest item is within `window` of `published` count;
    the most similar one at or above `threshold` wins (ties: the most recent).
    """
    best: tuple[float, datetime, int] | None = None
    for cand in candidates:
        if abs(published - cand.last_at) > window:
            continue
        score = similarity(sig, cand.signature)
        if score >= threshold and (best is None or (score, cand.last_at) > best[:2]):
            best = (score, cand.last_at, cand.story_id)
    return best[2] if best else None


class StoryIndex:
    """In-memory postings from names and keys to recent items (no I/O).

    Holds one entry per recent *item* (its signature, story id and time):
    comparing a new item with every item of a story (single linkage) joined
    more true pairs than comparing with one signature per story, at the same
    precision (docs/briefs.md). `candidates()` returns the entries sharing the
    most names/keys with a signature (at most `limit`), so assign_story
    compares a handful instead of every item of the last days. Feed it from
    storage on start, `add()` each clustered item, `prune()` old entries.
    """

    def __init__(self) -> None:
        self._entries: dict[int, StoryCandidate] = {}
        self._postings: dict[int, set[int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, item_id: int, story_id: int, signature: Signature, published: datetime) -> None:
        self.remove(item_id)
        self._entries[item_id] = StoryCandidate(story_id, signature, published)
        for term in _index_terms(signature):
            self._postings.setdefault(term, set()).add(item_id)

    def remove(self, item_id: int) -> None:
        old = self._entries.pop(item_id, None)
        if old is not None:
            for term in _index_terms(old.signature):
                posting = self._postings.get(term)
                if posting is not None:
                    posting.discard(item_id)
                    if not posting:
                        del self._postings[term]

    def prune(self, now: datetime, window: timedelta = DEFAULT_WINDOW) -> int:
        """Forget entries published more than `window` before `now`; returns how many."""
        old = [key for key, c in self._entries.items() if now - c.last_at > window]
        for key in old:
            self.remove(key)
        return len(old)

    def candidates(self, sig: Signature, *, limit: int = 50) -> list[StoryCandidate]:
        counts: Counter[int] = Counter()
        for term in _index_terms(sig):
            counts.update(self._postings.get(term, ()))
        return [self._entries[key] for key, _ in counts.most_common(limit)]


def _index_terms(sig: Signature) -> Iterable[int]:
    return (*sig.names, *(k ^ 0x5BD1E995 for k in sig.keys))


# ------------------------------------------------------------------ updates


def _facts(text: str) -> tuple[set[str], set[str]]:
    """(numbers, name skeletons) mentioned in a text."""
    numbers, names = set(), set()
    for t in tokens(text):
        if t.is_number:
            numbers.add(t.folded)
        elif t.is_name and len(t.folded) >= 3:
            names.add(skeleton(t.folded)[:6])
    return numbers, names


def is_material_update(old_texts: Sequence[str], new_text: str, *, min_new_names: int = 2) -> bool:
    """Whether `new_text` adds facts the story's earlier texts did not have.

    Material: a number not seen before (a death toll, a count, a date), or at
    least `min_new_names` new named entities together with a new sentence's
    worth of content words. A rewording by another outlet is not material.
    """
    old_numbers, old_names, old_keys = set(), set(), set()
    for text in old_texts:
        nums, names = _facts(text)
        old_numbers |= nums
        old_names |= names
        old_keys |= {t.folded[:5] for t in tokens(text) if not t.is_number}
    new_numbers, new_names = _facts(new_text)
    fresh_numbers = {n for n in new_numbers - old_numbers if not (len(n) == 4 and n[:2] in {"19", "20"})}
    if fresh_numbers:
        return True
    new_keys = {t.folded[:5] for t in tokens(new_text) if not t.is_number}
    fresh_keys = new_keys - old_keys
    return len(new_names - old_names) >= min_new_names and len(fresh_keys) >= 6
