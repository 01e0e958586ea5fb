"""Sentence splitting for English and Russian news text.

Splits after ``.``, ``!``, ``?`` and ``…`` (optionally followed by closing
quotes or brackets) when the next sentence starts with an upper-case letter,
a digit or an opening quote — except after abbreviations ("Gen.", "Mr.",
"U.S.", "т.е.", "г."), initials ("J. R. Smith", "В. В. Путин"), decimals
("3.5"), and inside a quotation that has not closed yet (within 300
characters, so a stray quote mark cannot swallow a paragraph). Paragraph breaks
(blank lines) always end a sentence.

An abbreviation that may also end a sentence ("U.S.", "г.", "млн") ends one
only when the next word is a common sentence opener ("The", "He", "В",
"Он"...); "etc.", "т.д.", "др." and a year's "2042 г." end one before any
capitalised word. Pure: no I/O. It does not tokenize words and makes no attempt
at other languages beyond sharing the same punctuation rules.
"""

from __future__ import annotations

import re

# Never end a sentence: titles, ranks and the like (lower-case, without the dot).
_NEVER_END = frozenset("""
mr mrs ms dr prof gen lt col maj capt cpt sgt adm cmdr gov sen rep rev st mt ft jr sr
no nos vol fig pp p ca approx dept est inc ltd co corp vs v art para ch
jan feb mar apr aug sep sept oct nov dec
им ген г-н г-жа проф акад св ст тов ул пр пер просп д кв корп стр им рис табл см ср напр гл
т.е т.к т.н т.п т.ч т.о
""".split())
# May end a sentence: split only before a common opener.
_MAY_END = frozenset("""
u.s u.k u.n e.u a.m p.m inc corp jr co
г гг в вв пр руб тыс млн млрд км кг
""".split())
# Usually end a clause: split whenever the next word is capitalised.
_USUALLY_END = frozenset("etc т.д т.п др".split())
_OPENERS = frozenset("""
the a an he she it they we i this that these those there in on at but and however meanwhile
his her its their after before when while according if as for on last earlier later some
в во на по он она оно они это этот эта эти но а и однако как при после до по тогда там так
его ее их мы я ранее также кроме вместе
""".split())

# Terminal punctuation ("[.!?]+" or "…"), closing quotes/brackets, space, then an opening
# upper-case letter or digit. The punctuation is spelled "[.!?…]" then more of "[.!?]" unless
# it was "…": the same matches as "(?:[.!?]+|…)", but a pattern that opens with a character
# class lets the regex engine skip ahead to candidates, about four times faster.
_BOUNDARY = re.compile(
    r"""(?P<end>[.!?…](?:(?<!…)[.!?]*)?[»"”’')\]]*)  # terminal punctuation, closing quotes
        (?P<space>\s+)
        (?=[«"“'(\[]?[A-ZА-ЯЁ0-9])         # next sentence opens upper-case / digit
    """, re.VERBOSE)
_PARAGRAPH = re.compile(r"\n\s*\n+")
_WORD_BEFORE = re.compile(r"([\w.-]+)$")
_INITIAL = re.compile(r"^[A-ZА-ЯЁ]$")
_NEXT_WORD = re.compile(r"[«\"“'(\[]?([\w-]+)")
_OPEN_QUOTES = {"«": "»", "“": "”"}
_QUOTES = ("«", "“", '"')             # a paragraph without these has no open quotation


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped, in order; whitespace collapsed inside each."""
    out: list[str] = []
    for para in _PARAGRAPH.split(text or ""):
        para = " ".join(para.split())
        if para:
            out.extend(_split_paragraph(para))
    return out


def _split_paragraph(para: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    quoted = any(q in para for q in _QUOTES)
    for m in _BOUNDARY.finditer(para):
        cut = m.end("end")
        if _is_boundary(para, start, m.start("end"), m.group("end"), m.end(), cut, quoted):
            sentence = para[start:cut].strip()
            if sentence:
                sentences.append(sentence)
            start = m.end()
    tail = para[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_boundary(para: str, start: int, end_pos: int, punct: str, next_pos: int,
                 cut: int, quoted: bool) -> bool:
    if quoted and cut - start < 300 and _inside_quote(para[start:cut]):
        return False
    if not punct.startswith("."):
        return True
    if punct.startswith("...") or punct.rstrip(".") != "":
        return True                                    # ellipsis, or 'said "no." Then'

    before = _word_before(para, start, end_pos)
    if before is None:
        return True
    word = before.group(1)
    low = word.lower().rstrip(".")
    if _INITIAL.match(word):
        return False                                   # "J. Smith", "В. Путин"
    if word[-1:].isdigit() and para[next_pos:next_pos + 1].isdigit():
        return False                                   # "3. 5" is rare; keep numbers whole
    if low in _NEVER_END or low.split("-")[-1] in _NEVER_END:
        return False
    if low in _USUALLY_END or (low in {"г", "гг"} and _after_year(para, before.start(1))):
        return True                                    # "до 2042 г. База ..."
    if low in _MAY_END or ("." in low and len(low) <= 6 and low.replace(".", "").isalpha()):
        nxt = _NEXT_WORD.match(para, next_pos)
        return bool(nxt) and nxt.group(1).lower() in _OPENERS
    return True


def _word_before(para: str, start: int, end: int) -> re.Match[str] | None:
    """`_WORD_BEFORE.search(para, start, end)`, searched from the last space before `end`:
    the run of word characters, dots and hyphens that ends at `end` cannot cross a space,
    and a search from `start` would try every position of the sentence first."""
    return _WORD_BEFORE.search(para, max(start, para.rfind(" ", start, end) + 1), end)


def _after_year(para: str, pos: int) -> bool:
    prev = para[max(0, pos - 6):pos].strip()
    return len(prev) >= 4 and prev[-4:].isdigit()


def _inside_quote(segment: str) -> bool:
    """A quotation opened in this sentence and not closed yet ("«…. …»")."""
    for opening, closing in _OPEN_QUOTES.items():
        if segment.count(opening) > segment.count(closing):
            return True
    return segment.count('"') % 2 == 1
