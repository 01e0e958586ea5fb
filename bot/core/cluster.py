"""Stories: which items tell the same event (near-duplicate detection).

An item's *signature* is made from its title and lede (the first ~400
characters of its text), read by bot/core/cluster_text.py: words folded
across transliterations ("Kharb-Maidon" = "Харбмайдон"), keyed by Snowball
stem or by a concept of a short bilingual map ("drills" = "учения"), names
as consonant skeletons, numbers and dates. The signature holds:

- ``sketch``: a bottom-k MinHash sketch (k=64, CRC-32) of the character
  4-shingles of the folded text: rewording of short spans in one language;
- ``keys``: the set of concepts and stems of content words, and numbers:
  shared vocabulary, in the same language or across English and Russian;
- ``names``: names (capitalised words the map does not know, as skeletons),
  numbers ("1,500" = "1500", "5,3" = "5.3") and dates ("7 April" = "7 апреля");
- ``script``: whether the text is mostly Cyrillic; across scripts the
  sketch shares little, so the weights differ (``CROSS_WEIGHTS``).

``similarity`` mixes the three parts; a candidate story joins when the best
similarity reaches the threshold measured on
``tests/fixtures/cluster_pairs.yaml`` (see docs/briefs.md). ``StoryIndex``
finds candidates through postings of names and keys, rarest first, instead of
comparing with every recent story.

Pure: no I/O, no clock (times are parameters). It does not decide when a
story is stored or sent, and it does not translate: across languages only
names, numbers, dates and the map's concepts carry a pair.
"""

from __future__ import annotations

import heapq
import math
import struct
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from bot.core.cluster_text import dates, fold, is_title_case, skeleton, tokens
from bot.core.cluster_words import KINDS, STOP_WORDS

__all__ = ["STOP_WORDS", "DEFAULT_THRESHOLD", "DEFAULT_WINDOW", "Signature", "SignatureError",
           "StoryCandidate", "StoryIndex", "assign_story", "fold", "is_material_update",
           "merge_signatures", "similarity", "skeleton", "story_signature", "tokens"]

FORMAT = 2                          # the version byte of Signature.to_bytes()
SKETCH_SIZE = 64
SHINGLE = 4
LEDE_CHARS = 400
MAX_KEYS = 80
MAX_NAMES = 40
WEIGHTS = (0.36, 0.32, 0.32)        # sketch, keys, names; same script — measured, see docs/briefs.md
CROSS_WEIGHTS = (0.0, 0.72, 0.16)   # English ↔ Russian
DEFAULT_THRESHOLD = 0.32            # measured on tests/fixtures/cluster_pairs.yaml
DEFAULT_WINDOW = timedelta(hours=72)
NAME_SHRINK = 1
_FULL = 1 << 32                     # above every CRC-32
_HEAD = struct.Struct("<BBIHHHH")
_NOT_LATIN = bytes(c for c in range(256) if not (65 <= c <= 90 or 97 <= c <= 122))
KIND_MISMATCH = 0.8                 # both tell a kind of event, none the same: the score shrinks
NUMBER_MISMATCH = 0.85              # both give 2+ numbers (not years), none the same: the score shrinks


class SignatureError(ValueError):
    """Stored signature bytes could not be read: recompute with story_signature()."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What an item's text looks like, for comparison with other items."""

    sketch: tuple[int, ...]     # bottom-k CRC-32 of character shingles, ascending
    keys: tuple[int, ...]       # CRC-32 of concepts, stems and numbers, ascending
    names: tuple[int, ...]      # CRC-32 of name skeletons, numbers and dates, ascending
    script: int = 0             # 1: mostly Cyrillic
    kinds: int = 0              # bits of the kinds of event the text tells of (cluster_words.KINDS)
    numbers: tuple[int, ...] = ()   # the names' values that are numbers other than years

    def to_bytes(self) -> bytes:
        """Version byte, script byte, kinds, three counts, then little-endian uint32 values."""
        parts = (self.sketch, self.keys, self.names, self.numbers)
        head = _HEAD.pack(FORMAT, self.script, self.kinds, *(len(p) for p in parts))
        body = struct.pack(f"<{sum(len(p) for p in parts)}I", *(v for p in parts for v in p))
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        if len(data) < _HEAD.size or data[0] != FORMAT:
            raise SignatureError("unknown signature format: recompute it with story_signature()")
        _, script, kinds, n1, n2, n3, n4 = _HEAD.unpack_from(data)
        if len(data) != _HEAD.size + 4 * (n1 + n2 + n3 + n4):
            raise SignatureError("truncated signature: recompute it with story_signature()")
        values = struct.unpack_from(f"<{n1 + n2 + n3 + n4}I", data, _HEAD.size)
        n12, n123 = n1 + n2, n1 + n2 + n3
        return cls(values[:n1], values[n1:n12], values[n12:n123], script, kinds, values[n123:])


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """A recent story (or one recent item of it) that a new item might join."""

    story_id: int
    signature: Signature
    last_at: datetime           # when that item (or the story's latest item) was published, UTC


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


def _mostly_cyrillic(text: str) -> int:
    """More Cyrillic letters (UTF-8 lead bytes D0-D3) than Latin ones."""
    data = text.encode()
    cyrillic = data.count(b"\xd0") + data.count(b"\xd1") + data.count(b"\xd2") + data.count(b"\xd3")
    return int(cyrillic > len(data.translate(None, _NOT_LATIN)))


def story_signature(title: str, text: str) -> Signature:
    """The signature of an item from its title and text (only the lede is used)."""
    title, lede = title.strip(), _lede(text or "")
    toks = tokens(title, title_case=is_title_case(title)) + tokens(lede)
    words = [t.folded for t in toks if t.folded]
    sketch = tuple(sorted(_shingles(words))[:SKETCH_SIZE]) if words else ()
    keys: set[int] = set()
    names: set[int] = set()
    numbers: set[int] = set()
    kinds = 0
    for t in toks:
        if t.is_number:
            keys.add(_term_hash("", t.folded))
            names.add(_term_hash("#", t.folded))
            if not (len(t.folded) == 4 and t.folded[:2] in ("19", "20")):
                numbers.add(_term_hash("#", t.folded))
            continue
        for k in t.keys:
            keys.add(_term_hash("", k))
            kinds |= KINDS.get(k, 0)
        if t.is_name and not t.known and len(t.root) >= 3:
            names.add(_name_hash(t.root))
    names.update(_term_hash("%", d) for d in dates(toks))
    kept = tuple(sorted(names)[:MAX_NAMES])
    return Signature(sketch, tuple(sorted(keys)[:MAX_KEYS]), kept, _mostly_cyrillic(title + lede), kinds,
                     tuple(sorted(numbers.intersection(kept))))


@lru_cache(maxsize=100_000)
def _term_hash(kind: str, term: str) -> int:
    return zlib.crc32((kind + term).encode())


@lru_cache(maxsize=50_000)
def _name_hash(root: str) -> int:
    return zlib.crc32(("@" + skeleton(root)[:6]).encode())


def merge_signatures(a: Signature, b: Signature) -> Signature:
    """A story's signature after it gains an item: the union, kept compact."""
    names = tuple(sorted(set(a.names).union(b.names))[:MAX_NAMES])
    return Signature(tuple(sorted(set(a.sketch).union(b.sketch))[:SKETCH_SIZE]),
                     tuple(sorted(set(a.keys).union(b.keys))[:MAX_KEYS]),
                     names, a.script, a.kinds | b.kinds, tuple(sorted(set(names).intersection(a.numbers + b.numbers))))


# ------------------------------------------------------------------ similarity


class _Probe:
    """A signature with its parts as sets, made once to compare it with many others."""

    __slots__ = ("sig", "sketch", "keys", "names")

    def __init__(self, sig: Signature) -> None:
        self.sig = sig
        self.sketch, self.keys, self.names = frozenset(sig.sketch), frozenset(sig.keys), frozenset(sig.names)

    def score(self, b: Signature) -> float:
        a = self.sig
        ws, wk, wn = WEIGHTS if a.script == b.script else CROSS_WEIGHTS
        total = 0.0
        if ws and a.sketch and b.sketch:
            both = self.sketch.intersection(b.sketch)
            if both:
                total += ws * _sketch_jaccard(a.sketch, b.sketch, both)
        if a.keys and b.keys:
            total += wk * 2 * len(self.keys.intersection(b.keys)) / (len(a.keys) + len(b.keys))
        if a.names and b.names:
            total += wn * 2 * len(self.names.intersection(b.names)) / (len(a.names) + len(b.names) + 2 * NAME_SHRINK)
        if a.kinds and b.kinds and not a.kinds & b.kinds:
            total *= KIND_MISMATCH
        if len(a.numbers) > 1 and len(b.numbers) > 1 and self.names.isdisjoint(b.numbers):
            total *= NUMBER_MISMATCH
        return total


def _sketch_jaccard(a: tuple[int, ...], b: tuple[int, ...], both: frozenset[int]) -> float:
    """Bottom-k estimate: among the values up to the smaller full sketch's largest (all known
    for both sets), the share found in both."""
    cut = min(a[-1] if len(a) >= SKETCH_SIZE else _FULL, b[-1] if len(b) >= SKETCH_SIZE else _FULL)
    if cut == _FULL:
        inter = len(both)
        return inter / (len(a) + len(b) - inter)
    inter = sum(1 for v in both if v <= cut)
    return inter / (bisect_right(a, cut) + bisect_right(b, cut) - inter)


def similarity(a: Signature, b: Signature) -> float:
    """How likely two items tell the same event: 0 (nothing shared) to ~1 (same text)."""
    return _Probe(a).score(b)


def assign_story(sig: Signature, published: datetime, candidates: Sequence[StoryCandidate], *,
                 window: timedelta = DEFAULT_WINDOW,
                 threshold: float = DEFAULT_THRESHOLD) -> int | None:
    """The id of the story this item joins, or None for a new story.

    Only stories whose latest item is within `window` of `published` count;
    the most similar one at or above `threshold` wins (ties: the most recent).
    """
    best: tuple[float, datetime, int] | None = None
    probe = _Probe(sig)
    for cand in candidates:
        if abs(published - cand.last_at) > window:
            continue
        score = probe.score(cand.signature)
        if score >= threshold and (best is None or (score, cand.last_at) > best[:2]):
            best = (score, cand.last_at, cand.story_id)
    return best[2] if best else None


class StoryIndex:
    """In-memory postings from names and keys to recent items (no I/O).

    Holds one entry per recent *item* (its signature, story id and time):
    comparing a new item with every item of a story (single linkage) joined
    more true pairs than comparing with one signature per story, at the same
    precision (docs/briefs.md). `candidates()` ranks the entries sharing terms
    with a signature, rare terms weighing more (inverse document frequency),
    and returns at most `limit`, at most `PER_STORY` of one story, so
    assign_story compares a handful instead of every item of the last days.
    Postings are read rarest first (names, numbers, dates, rare words): the
    `MIN_TERMS` rarest, then more while they add up to at most `GATHER`
    entries; a term in more than a `COMMON` share of the entries ("taliban"
    in a Central Asia feed) is never read: it cannot tell stories apart, and
    reading its thousands of entries was most of the cost. Feed it from
    storage on start, `add()` each clustered item, `prune()` old entries.
    """

    GATHER = 500
    MIN_TERMS = 3
    COMMON = 0.1
    PER_STORY = 3

    def __init__(self) -> None:
        self._entries: dict[int, StoryCandidate] = {}
        self._postings: dict[int, set[int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, item_id: int, story_id: int, signature: Signature, published: datetime) -> None:
        self.remove(item_id)
        self._entries[item_id] = StoryCandidate(story_id, signature, published)
        postings = self._postings
        for term in _index_terms(signature):
            posting = postings.get(term)
            if posting is None:
                postings[term] = {item_id}
            else:
                posting.add(item_id)

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

    def candidates(self, sig: Signature, *, limit: int = 10) -> list[StoryCandidate]:
        total = len(self._entries)
        if not total:
            return []
        get = self._postings.get
        found = sorted((p for p in map(get, _index_terms(sig)) if p), key=len)
        common = max(self.GATHER, total * self.COMMON)
        scores: dict[int, float] = {}
        gathered = 0
        for n, posting in enumerate(found):
            size = len(posting)
            if size > common or (gathered + size > self.GATHER and n >= self.MIN_TERMS):
                break                       # sorted by length: the rest are longer still
            gathered += size
            weight = math.log(1 + total / size)
            for key in posting:
                scores[key] = scores.get(key, 0.0) + weight
        entries = self._entries
        out: list[StoryCandidate] = []
        per_story: dict[int, int] = {}
        for key in heapq.nlargest(limit * 2, scores, key=scores.__getitem__):
            cand = entries[key]
            seen = per_story.get(cand.story_id, 0)
            if seen < self.PER_STORY:
                per_story[cand.story_id] = seen + 1
                out.append(cand)
                if len(out) == limit:
                    break
        return out


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
