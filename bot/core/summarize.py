"""The default summarizer: deterministic, offline, extractive.

It only *selects* sentences of the item's own text (it never writes any):

- headline: the title, cleaned ("BREAKING:" and a trailing " | Outlet" dropped);
- lede: the first informative sentence (datelines like "DUSHANBE, March 27
  (Reuters) -" and "ДУШАНБЕ, 27 марта. /ТАСС/." stripped; bylines, "Read
  more", "Photo:", "The post … appeared first on …" and repeats of the
  headline skipped);
- Why it matters: the operator's context lines for the matched watchlist,
  then the sentence carrying the significance (cue words such as "concern",
  "risk", "threat", "first time", "largest", "comes as", "amid", "впервые",
  "угроз", "на фоне"), if there is one;
- Go deeper: up to three further sentences ranked by salience (frequency of
  their content words in the article and title, matched terms, numbers and
  names, early position), shown in their original order, never repeating or
  nearly repeating the lede or each other;
- Zoom out: the earlier stories it is given (title, link), none if none.

Thin input (a title and a line) gives a short brief: no section is invented
or left empty. Pure: no I/O, no clock, no model.

Speed: each sentence is lower-cased, tokenised and keyed once (`_Sentence`).
A sentence made only of characters whose `str.lower()` matches our patterns
exactly as `re.IGNORECASE` would (`_UNSAFE` finds the others: "İ", "ı", "ſ",
Greek...) is matched lower-cased without IGNORECASE, several times faster;
any other sentence goes through the IGNORECASE patterns themselves, so the
brief is the same either way.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from bot.core.cluster import STOP_WORDS
from bot.core.sentences import split_sentences
from bot.types import Brief, SourceRef

MAX_GO_DEEPER = 3
MAX_ZOOM_OUT = 3
MIN_WORDS = 5
NEAR_REPEAT = 0.6

_WORDS = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)?", re.UNICODE)
_TITLE_PREFIX = re.compile(
    r"^\s*(?:breaking|update[d]?|exclusive|video|photo|photos|watch|live|срочно|видео|фото"
    r"|обновлено|молния)\s*[:|—–-]\s*", re.IGNORECASE)
_TITLE_SUFFIX = re.compile(r"\s+(?:\||[-—–]\s)\s*[\w.'’ -]{2,30}$")
_DATELINE = re.compile(
    r"^(?:[A-ZА-ЯЁ][A-ZА-ЯЁ.'’ -]{2,30}(?:,\s*[\w .]{2,25}?)?\s*(?:\([^)]{1,30}\))?\s*[-—–]{1,2}\s+"
    r"|[А-ЯЁA-Z][А-ЯЁA-Z -]{2,30},\s*\d{1,2}\s+\w+\.?\s*/[^/]{2,30}/\.?\s*)")
# Boilerplate anywhere in a sentence (search), and boilerplate that opens one (match).
_BOILERPLATE = re.compile(
    r"read more|continue reading|click here|subscribe|follow us|sign up|all rights reserved"
    r"|appeared first on|share this|©|copyright|читайте также|подписывайтесь|подробнее"
    r"|читать далее|все права защищены", re.IGNORECASE)
_BOILERPLATE_START = re.compile(
    r"advertisement$|related:|(?:photo|image|video|source)s?:|(?:фото|видео|источник|реклама)\s*[:.]",
    re.IGNORECASE)
_BYLINE = re.compile(r"^(?:by|автор:?)\s+[A-ZА-ЯЁ][\w.'’-]*(?:\s+(?:and\s+)?[A-ZА-ЯЁ][\w.'’-]*){0,4}\.?$",
                     re.IGNORECASE)
_TRUNCATED = re.compile(r"(?:\[(?:…|\.\.\.)\]|\(…\)|\s*»?\s*read more\s*»?)\s*$", re.IGNORECASE)
_CUES = re.compile(
    r"\b(?:concern\w*|risk\w*|threat\w*|first time|first ever|largest|biggest|comes as|amid"
    r"|warn\w*|fear\w*|escalat\w*|tension\w*|signal\w*|significan\w*|crucial|critical"
    r"|означает|впервые|крупнейш\w*|угроз\w*|риск\w*|обеспокоен\w*|опасени\w*|на фоне"
    r"|напряженн\w*|напряжённ\w*|тревог\w*|эскалац\w*|важн\w*)",
    re.IGNORECASE)
# The same patterns for lower-cased safe sentences (their sources are lower-case).
_BOILERPLATE_LOW = re.compile(_BOILERPLATE.pattern)
_BOILERPLATE_START_LOW = re.compile(_BOILERPLATE_START.pattern)
_CUES_LOW = re.compile(_CUES.pattern)
# Any character outside the blocks checked by tests/unit/test_summarize.py
# (Basic Latin to Latin Extended-B without "İ", "ı", "ſ"; Cyrillic; general
# punctuation; currency and letter-like symbols).
_UNSAFE = re.compile(r"[^\x00-\u012f\u0132-\u017e\u0180-\u024f\u0400-\u052f"
                     r"\u2000-\u206f\u20a0-\u20cf\u2100-\u214f]")
# The last character of any _TRUNCATED match, when the sentence does not end with white space.
_TRUNCATED_ENDS = ("]", ")", "»", "e", "E")


def summarize(*, title: str, text: str, context: Sequence[str] = (),
              matched_terms: Sequence[str] = (), language: str | None = None,
              zoom_out: Sequence[tuple[str, str | None]] = (),
              sources: Sequence[SourceRef] = (), link: str | None = None,
              published: datetime | None = None, watchlist: str | None = None) -> Brief:
    """A Smart Brevity brief of one item's text (see the module docstring).

    `language` is accepted for the port; English and Russian cues apply to
    any text. Never raises on odd input: empty text gives a headline-only brief.
    """
    headline = clean_title(title)
    head = _keys(headline)
    sentences = _informative(text, head)
    lede_at = next((i for i, s in enumerate(sentences) if s.size >= MIN_WORDS), 0)
    lede = sentences[lede_at].text if sentences else ""
    rest = [(i, s) for i, s in enumerate(sentences) if i != lede_at and s.size >= MIN_WORDS]
    taken = [sentences[lede_at].keys if sentences else set()]
    why_idx = _significance(rest, taken)
    if why_idx is not None:
        taken.append(sentences[why_idx].keys)
    deeper = _go_deeper([(i, s) for i, s in rest if i != why_idx], head, matched_terms, taken)
    why = _dedupe([c.strip() for c in context if c and c.strip()])
    if why_idx is not None:
        why.append(sentences[why_idx].text)
    return Brief(
        headline=headline, lede=lede, why_it_matters=tuple(why), go_deeper=tuple(deeper),
        zoom_out=tuple(_zoom(zoom_out)), sources=tuple(sources), link=link,
        published=published, matched_terms=tuple(_dedupe(list(matched_terms))),
        watchlist=watchlist)


def clean_title(title: str) -> str:
    """The title without markup leftovers, shouting prefixes or a trailing outlet name."""
    text = " ".join(html.unescape(title or "").split())
    text = _TITLE_PREFIX.sub("", text)
    stripped = _TITLE_SUFFIX.sub("", text)
    if len(stripped) >= 15 and stripped != text and _looks_like_outlet(text[len(stripped):]):
        text = stripped
    return text.strip()


def _looks_like_outlet(suffix: str) -> bool:
    words = suffix.strip(" |-—–").split()
    return 0 < len(words) <= 3 and all(w[:1].isupper() or "." in w for w in words)


@dataclass(slots=True)
class _Sentence:
    """One sentence, analysed once: lower-cased, tokenised, keyed, its words counted."""

    text: str
    low: str
    safe: bool                 # matched lower-cased (see _UNSAFE)
    tokens: list[str]          # _WORDS of `low`
    keys: set[str]
    split: list[str]           # white-space separated words of `text`

    @classmethod
    def of(cls, text: str) -> _Sentence:
        low = text.lower()
        tokens = _WORDS.findall(low)
        return cls(text, low, _UNSAFE.search(text) is None, tokens, _token_keys(tokens), text.split())

    @property
    def size(self) -> int:
        return len(self.split)

    def boilerplate(self) -> bool:
        if self.safe:
            return bool(_BOILERPLATE_START_LOW.match(self.low) or _BOILERPLATE_LOW.search(self.low))
        return bool(_BOILERPLATE_START.match(self.text) or _BOILERPLATE.search(self.text))

    def cues(self) -> int:
        return len(_CUES_LOW.findall(self.low) if self.safe else _CUES.findall(self.text))

    def numbers(self) -> int:
        """Words that start with a digit (the lower-cased tokens are the same for a safe sentence)."""
        tokens = self.tokens if self.safe else _WORDS.findall(self.text)
        return sum(1 for w in tokens if w[0].isdigit())


def _informative(text: str, head: set[str]) -> list[_Sentence]:
    """Sentences worth showing: cleaned, boilerplate and headline repeats removed."""
    out: list[_Sentence] = []
    for raw in split_sentences(html.unescape(text or "")):
        sentence = _DATELINE.sub("", raw)
        if sentence.endswith(_TRUNCATED_ENDS) or sentence[-1:].isspace():
            sentence = _TRUNCATED.sub("", sentence)
        sentence = sentence.strip()
        if not sentence or len(sentence) > 700:
            continue
        s = _Sentence.of(sentence)
        if s.boilerplate() or _BYLINE.match(sentence):
            continue
        if head and _jaccard(s.keys, head) >= 0.8:
            continue                                    # the summary repeats the title
        if any(_jaccard(s.keys, o.keys) >= 0.9 for o in out[-3:]):
            continue
        out.append(_Sentence.of(sentence[0].upper() + sentence[1:]) if sentence[0].islower() else s)
    return out


def _significance(rest: list[tuple[int, _Sentence]], taken: list[set[str]]) -> int | None:
    """Index of the sentence that says why the news matters, if any."""
    best: tuple[int, int] | None = None
    for i, sentence in rest:
        cues = sentence.cues()
        if cues and not _near_repeat(sentence.keys, taken):
            if best is None or cues > best[0]:
                best = (cues, i)
    return best[1] if best else None


def _go_deeper(rest: list[tuple[int, _Sentence]], head: set[str], matched_terms: Sequence[str],
               taken: list[set[str]]) -> list[str]:
    freq: Counter[str] = Counter()
    for _, s in rest:
        freq.update(s.keys)
    for key in head:
        freq[key] += 2
    terms = [t.lower() for t in matched_terms if t]
    scored = sorted(((_salience(s, pos, freq, terms), i, s) for pos, (i, s) in enumerate(rest)),
                    key=lambda x: (-x[0], x[1]))
    chosen: list[tuple[int, str]] = []
    for _, i, s in scored:
        if _near_repeat(s.keys, taken) or s.text.endswith(("...", "…")):
            continue
        chosen.append((i, s.text))
        taken.append(s.keys)
        if len(chosen) == MAX_GO_DEEPER:
            break
    return [s for _, s in sorted(chosen)]


def _salience(s: _Sentence, position: int, freq: Counter[str], terms: list[str]) -> float:
    """Frequency of its keys (integer counts, so the sum is exact in any order), matched
    terms, numbers, names, early position; long and short sentences weigh less."""
    keys = s.keys
    if not keys:
        return 0.0
    score = sum(map(freq.__getitem__, keys)) / len(keys) ** 0.5   # every key of `rest` is counted
    score += 2.0 * sum(1 for t in terms if t in s.low)
    score += min(2.0, 0.5 * s.numbers())
    score += min(1.5, 0.3 * sum(1 for w in s.split[1:] if w[:1].isupper()))
    score += 1.0 / (1.0 + 0.5 * position)
    words = s.size
    return score * (0.6 if words > 50 else 1.0) * (0.7 if words < 8 else 1.0)


def _keys(text: str) -> set[str]:
    return _token_keys(_WORDS.findall(text.lower()))


def _token_keys(tokens: list[str]) -> set[str]:
    return {w[:6] for w in tokens if w not in STOP_WORDS and len(w) > 2}


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def _near_repeat(keys: set[str], taken: list[set[str]]) -> bool:
    """Repeats what is already shown: most of its words are in one chosen sentence."""
    return any(keys and len(keys & t) / len(keys) >= NEAR_REPEAT for t in taken if t)


def _dedupe(values: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for v in values:
        if v.casefold() not in seen:
            seen.add(v.casefold())
            out.append(v)
    return out


def _zoom(zoom_out: Sequence[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for title, link in zoom_out:
        title = " ".join((title or "").split())
        if title and all(title != t for t, _ in out):
            out.append((title, link or None))
    return out[:MAX_ZOOM_OUT]
