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
"""

from __future__ import annotations

import html
import re
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
_BOILERPLATE = re.compile(
    r"read more|continue reading|click here|subscribe|follow us|sign up|all rights reserved"
    r"|appeared first on|^advertisement$|^related:|share this|^(?:photo|image|video|source)s?:"
    r"|©|copyright|читайте также|подписывайтесь|подробнее|читать далее|все права защищены"
    r"|^(?:фото|видео|источник|реклама)\s*[:.]", re.IGNORECASE)
_BYLINE = re.compile(r"^(?:by|автор:?)\s+[A-ZА-ЯЁ][\w.'’-]*(?:\s+(?:and\s+)?[A-ZА-ЯЁ][\w.'’-]*){0,4}\.?$",
                     re.IGNORECASE)
_TRUNCATED = re.compile(r"(?:\[(?:…|\.\.\.)\]|\(…\)|\s*»?\s*read more\s*»?)\s*$", re.IGNORECASE)
_CUES = re.compile(
    r"\b(?:concern\w*|risk\w*|threat\w*|first time|first ever|largest|biggest|comes as|amid"
    r"|warn\w*|fear\w*|escalat\w*|tension\w*|signal\w*|significan\w*|crucial|critical"
    r"|означает|впервые|крупнейш\w*|угроз\w*|риск\w*|обеспокоен\w*|опасени\w*|на фоне"
    r"|напряженн\w*|напряжённ\w*|тревог\w*|эскалац\w*|важн\w*)",
    re.IGNORECASE)


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
    sentences = _informative(text, headline)
    lede_at = next((i for i, s in enumerate(sentences) if _word_count(s) >= MIN_WORDS), 0)
    lede = sentences[lede_at] if sentences else ""
    rest = [(i, s) for i, s in enumerate(sentences) if i != lede_at and _word_count(s) >= MIN_WORDS]
    taken = [_keys(lede)]
    why_idx = _significance(rest, taken)
    if why_idx is not None:
        taken.append(_keys(sentences[why_idx]))
    deeper = _go_deeper([(i, s) for i, s in rest if i != why_idx], headline, matched_terms, taken)
    why = _dedupe([c.strip() for c in context if c and c.strip()])
    if why_idx is not None:
        why.append(sentences[why_idx])
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


def _informative(text: str, headline: str) -> list[str]:
    """Sentences worth showing: cleaned, boilerplate and headline repeats removed."""
    out: list[str] = []
    head = _keys(headline)
    for raw in split_sentences(html.unescape(text or "")):
        sentence = _TRUNCATED.sub("", _DATELINE.sub("", raw)).strip()
        if (not sentence or _BOILERPLATE.search(sentence) or _BYLINE.match(sentence)
                or len(sentence) > 700):
            continue
        keys = _keys(sentence)
        if head and _jaccard(keys, head) >= 0.8:
            continue                                    # the summary repeats the title
        if any(_jaccard(keys, _keys(s)) >= 0.9 for s in out[-3:]):
            continue
        out.append(sentence[0].upper() + sentence[1:] if sentence[0].islower() else sentence)
    return out


def _significance(rest: list[tuple[int, str]], taken: list[set[str]]) -> int | None:
    """Index of the sentence that says why the news matters, if any."""
    best: tuple[int, int] | None = None
    for i, sentence in rest:
        cues = len(_CUES.findall(sentence))
        if cues and not _near_repeat(_keys(sentence), taken):
            if best is None or cues > best[0]:
                best = (cues, i)
    return best[1] if best else None


def _go_deeper(rest: list[tuple[int, str]], headline: str, matched_terms: Sequence[str],
               taken: list[set[str]]) -> list[str]:
    freq: dict[str, float] = {}
    for key in _keys(headline):
        freq[key] = freq.get(key, 0.0) + 2.0
    for _, s in rest:
        for key in _keys(s):
            freq[key] = freq.get(key, 0.0) + 1.0
    terms = [t.lower() for t in matched_terms if t]
    scored = sorted(((_salience(s, pos, freq, terms), i, s) for pos, (i, s) in enumerate(rest)),
                    key=lambda x: (-x[0], x[1]))
    chosen: list[tuple[int, str]] = []
    for _, i, s in scored:
        keys = _keys(s)
        if _near_repeat(keys, taken) or s.endswith(("...", "…")):
            continue
        chosen.append((i, s))
        taken.append(keys)
        if len(chosen) == MAX_GO_DEEPER:
            break
    return [s for _, s in sorted(chosen)]


def _salience(sentence: str, position: int, freq: dict[str, float], terms: list[str]) -> float:
    keys = _keys(sentence)
    if not keys:
        return 0.0
    score = sum(freq.get(k, 0.0) for k in keys) / len(keys) ** 0.5
    low = sentence.lower()
    score += 2.0 * sum(1 for t in terms if t in low)
    score += min(2.0, 0.5 * sum(1 for w in _WORDS.findall(sentence) if w[0].isdigit()))
    score += min(1.5, 0.3 * sum(1 for w in sentence.split()[1:] if w[:1].isupper()))
    score += 1.0 / (1.0 + 0.5 * position)
    words = _word_count(sentence)
    return score * (0.6 if words > 50 else 1.0) * (0.7 if words < 8 else 1.0)


def _keys(text: str) -> set[str]:
    return {w[:6] for w in _WORDS.findall(text.lower()) if w not in STOP_WORDS and len(w) > 2}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _near_repeat(keys: set[str], taken: list[set[str]]) -> bool:
    """Repeats what is already shown: most of its words are in one chosen sentence."""
    return any(keys and len(keys & t) / len(keys) >= NEAR_REPEAT for t in taken if t)


def _word_count(sentence: str) -> int:
    return len(sentence.split())


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
