"""Text normalisation shared by queries and documents.

What it does: turns a field of text into a sequence of *tokens* that the
matcher compares. The same rules apply to query words and to feed text, so a
query written one way matches the other ways of writing it:

1. A few separators are replaced first (no-break and thin spaces, "…", "№").
2. Unicode NFKC (full-width letters, ligatures "ﬁ", superscripts) and case
   folding (``casefold``: "ß" → "ss", Greek final sigma → σ).
3. Diacritics are removed from Latin, Greek and Cyrillic letters ("é" → "e",
   "ї" → "і"), also Arabic harakat and Hebrew points. Cyrillic "ё" folds to "е"
   (Russian text writes both). Cyrillic "й" and "ў" stay themselves: they are
   letters of their own, not "и"/"у" with an accent. Tajik letters fold to the
   Russian-keyboard letters Tajik sites often type instead: ҷ→ч, ҳ→х, қ→к, ғ→г,
   ӣ→и, ӯ→у ("Тоҷикистон" = "Точикистон"). A few letters with strokes fold too
   (ø→o, ł→l, đ→d, ı→i, æ→ae, œ→oe, þ→th).
4. Every character that is not a letter, digit or combining mark separates
   words: spaces, punctuation, all quotes, all dashes and hyphens
   ("Taliban-led" → ``taliban`` ``led``). Scripts written without spaces (Han,
   kana, Thai, Lao, Khmer, Myanmar) become one token per character.
5. A possessive "'s" after any apostrophe (' ’ ‘ ʼ ʻ ` ′) is dropped
   ("Taliban’s" → ``taliban``); other apostrophes separate words.
6. A number followed by a dash and a Russian or Tajik ordinal ending
   ("201-я", "201-й", "201-го", "201-ум") becomes the number: ``201``. English
   ordinals ("201st") stay one token; the matcher lets a number in a query
   match its English ordinal ("201" and "201st" both match "201st" and "201"),
   which costs nothing per item.

Two implementations give identical tokens (a property test holds them
together): :func:`fold_text` / :func:`fold_fields`, the fast ones used on every
item, and :func:`tokenize`, slower, which also returns each token's offsets in
the ORIGINAL text for explanations. The fast path runs no Python code per
character: ASCII text is one ``bytes.translate``; ASCII plus General
Punctuation (English with ’ “ ” —) is one translate that drops the UTF-8 lead
bytes; text that fits code page 1251 (Cyrillic) or 1252 (Western European)
is encoded to it and folded by one translate table, built character by
character from the slow path; anything else goes through NFKC, ``casefold``
and a regex for the characters that change. When the folded form keeps one
character per original character (``aligned``), offsets are read straight
from it; otherwise callers fall back to :func:`tokenize`.

What it does not do: stemming (see ``stem.py``), language detection, or word
segmentation of Chinese/Japanese/Thai by dictionary.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

FIELD_SEP = "\x00"          # a token that never matches: separates title and summary
APOSTROPHES = "'`\u2019\u2018\u02bc\u02bb\u2032\u02b9"
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58"
_PRE_MAP = {0xA0: " ", 0x2026: " ", 0x2116: " ", 0x2009: " ", 0x202F: " ", 0x2007: " "}
_PRE_ITEMS = tuple((chr(k), v) for k, v in _PRE_MAP.items())

_KEEP = "йЙўЎ"
_EXPLICIT = {
    "ё": "е", "Ё": "Е",
    "ҷ": "ч", "Ҷ": "Ч", "ҳ": "х", "Ҳ": "Х", "қ": "к", "Қ": "К", "ғ": "г", "Ғ": "Г",
    "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D",
    "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T",
    "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ß": "ss", "ẞ": "SS",
    "\u0640": "",           # Arabic tatweel (elongation), not a letter
}
_DIACRITIC_RANGES = [
    (0x0300, 0x036F), (0x0483, 0x0489), (0x0591, 0x05BD), (0x05BF, 0x05BF),
    (0x05C1, 0x05C2), (0x05C4, 0x05C5), (0x05C7, 0x05C7), (0x064B, 0x065F),
    (0x0670, 0x0670), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
]
_UNSPACED_RANGES = [  # one token per character
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x2E80, 0x2FDF),
    (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303C), (0x3040, 0x30FF),
    (0x3100, 0x312F), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF), (0x20000, 0x3134F),
]
_FOLD_BLOCKS = [(0x00C0, 0x024F), (0x0370, 0x03FF), (0x0400, 0x052F), (0x1E00, 0x1FFF)]



# --------------------------------------------------------------------------- characters


def _in(ranges: list[tuple[int, int]], cp: int) -> bool:
    return any(a <= cp <= b for a, b in ranges)


def _class(codepoints: list[int]) -> str:
    """A regex character-class body for sorted code points, as ranges."""
    parts, i = [], 0
    while i < len(codepoints):
        j = i
        while j + 1 < len(codepoints) and codepoints[j + 1] == codepoints[j] + 1:
            j += 1
        a, b = codepoints[i], codepoints[j]
        parts.append(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}")
        i = j + 1
    return "".join(parts)


def _strip_diacritics(c: str) -> str | None:
    d = unicodedata.normalize("NFD", c)
    if len(d) > 1 and all(_in(_DIACRITIC_RANGES, ord(m)) for m in d[1:]):
        return unicodedata.normalize("NFC", d[0])
    return None


def _special_value(c: str) -> str:
    """What one special character becomes (may be '', or several characters)."""
    if c in _EXPLICIT:
        return _EXPLICIT[c]
    if c in APOSTROPHES:
        return "'"
    if c in DASHES:
        return "-"
    cp = ord(c)
    if _in(_DIACRITIC_RANGES, cp):
        return ""
    if _in(_UNSPACED_RANGES, cp):
        return f" {c} "
    cat = unicodedata.category(c)
    if cat[0] not in "LNM":
        return " "
    base = _strip_diacritics(c) if c not in _KEEP else None
    return "".join(map(_special_value, base)) if base else c   # "ǿ" → "ø" → "o"


class _SpecialMap(dict):
    """str.translate table filled on demand (covers every code point)."""

    def __missing__(self, cp: int) -> str:
        value = self[cp] = _special_value(chr(cp))
        return value


def _is_special(cp: int) -> bool:
    """Does the character change (or separate words)? Every astral character is checked."""
    c = chr(cp)
    if cp > 0xFFFF or c in _EXPLICIT or c in APOSTROPHES or c in DASHES:
        return True
    if _in(_DIACRITIC_RANGES, cp) or _in(_UNSPACED_RANGES, cp):
        return True
    if unicodedata.category(c)[0] not in "LNM":
        return True
    return c not in _KEEP and _strip_diacritics(c) is not None


# One class of BMP code points (compiled by `re` into a fast lookup table) plus
# the whole astral range; the translate table maps astral letters to themselves.
_SPECIAL = "[" + _class([cp for cp in range(0x80, 0x10000) if _is_special(cp)]) + "\\U00010000-\\U0010ffff]"
_SPECIAL_RUN = re.compile(_SPECIAL + "+")
_SPECIAL_CHAR = re.compile(_SPECIAL)
_SPECIAL_MAP = _SpecialMap()


# --------------------------------------------------------------------------- byte tables
# Bytes stage (ASCII): letters/digits kept (lower-cased), apostrophe → \x01,
# hyphen → \x02, everything else → space. Bytes >= 0x80 (UTF-8) pass through.
_TABLE = bytearray(range(256))
for _i in range(128):
    _ch = chr(_i)
    _TABLE[_i] = ord(_ch.lower()) if _ch.isalnum() else 32
_TABLE[ord("'")] = _TABLE[ord("`")] = 1
_TABLE[ord("-")] = 2
_TABLE[0] = 0                   # FIELD_SEP survives (fields never contain it: see _clean)
_ASCII_TABLE = bytes(_TABLE)
_ASCII_STR_MAP = {i: chr(_ASCII_TABLE[i]) for i in range(128)}
_ASCII_STR_MAP[0] = " "
SEPARATORS = " \x01\x02"
_DIGITS = frozenset("0123456789")
_DIGIT_BYTES = frozenset(b"0123456789")

EN_ORDINALS = ("st", "nd", "rd", "th")
RU_ORDINALS = ("ого", "ому", "ыми", "ая", "ое", "ой", "ом", "ую", "ые", "ый", "ий", "ых", "ым",
               "ми", "го", "му", "ум", "уми", "юм", "я", "й", "е", "ю", "м", "х")


def _ru_ordinal_re(encoding: str) -> re.Pattern[bytes]:
    endings = b"|".join(s.encode(encoding) for s in sorted(RU_ORDINALS, key=len, reverse=True))
    return re.compile(rb"\x02(" + endings + rb")(?=[ \x01\x02])")


_RU_ORD_RE = {"utf-8": _ru_ordinal_re("utf-8"), "cp1251": _ru_ordinal_re("cp1251")}


def _ru_ordinal_utf8(m: re.Match[bytes]) -> bytes:
    if m.string[m.start() - 1] not in _DIGIT_BYTES:
        return m.group()
    return b" " * (1 + len(m.group(1).decode()))   # keep the length in characters


def _ru_ordinal_cp1251(m: re.Match[bytes]) -> bytes:
    if m.string[m.start() - 1] not in _DIGIT_BYTES:
        return m.group()
    return b" " * (1 + len(m.group(1)))


_SEP_TABLE = bytes(32 if i in (1, 2) else i for i in range(256))
_PLAIN_TABLE = _ASCII_TABLE.translate(_SEP_TABLE)     # apostrophes and hyphens straight to spaces


def _finish(b: bytes, encoding: str | None = "utf-8") -> bytes:
    """Steps 5 and 6 on the translated bytes; every replacement keeps the length in characters.

    ``encoding`` is that of ``b`` when it may hold Cyrillic (for "201-я"), else None.
    """
    if b"\x01s " in b:
        b = b.replace(b"\x01s ", b"   ")
    if encoding == "utf-8" and b"\x02" in b and (b"\x02\xd1" in b or b"\x02\xd0" in b):
        b = _RU_ORD_RE["utf-8"].sub(_ru_ordinal_utf8, b)
    elif encoding == "cp1251" and b"\x02" in b:
        b = _RU_ORD_RE["cp1251"].sub(_ru_ordinal_cp1251, b)
    return b.translate(_SEP_TABLE)


# --------------------------------------------------------------------------- slow path: offsets


@dataclass(frozen=True, slots=True)
class Token:
    """One normalised token and where it came from in the original text."""

    norm: str       # the folded form compared by the matcher
    start: int      # offsets into the original text (end exclusive)
    end: int


def _clusters(text: str) -> list[tuple[int, int]]:
    """(start, end) of each character with the combining marks that follow it."""
    out: list[tuple[int, int]] = []
    for i, c in enumerate(text):
        if out and unicodedata.category(c)[0] == "M" and unicodedata.category(text[i - 1])[0] in "LNM":
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _fold_piece(piece: str, *, fold_case: bool = True) -> str:
    piece = unicodedata.normalize("NFKC", piece.translate(_PRE_MAP))
    if fold_case:
        piece = piece.casefold()
    return "".join(_SPECIAL_MAP[ord(c)] if _SPECIAL_CHAR.match(c) else c for c in piece)


def _mapped_chars(text: str) -> list[tuple[str, int, int]]:
    """Every output character after steps 1–4, with the original span it came from."""
    chars: list[tuple[str, int, int]] = []
    for a, b in _clusters(text):
        whole = _fold_piece(text[a:b])
        pieces = [(_fold_piece(text[i]), i, i + 1) for i in range(a, b)]
        if b - a > 1 and "".join(p for p, _, _ in pieces) != whole:
            pieces = [(whole, a, b)]        # composed (e + ◌́ → é): the cluster is one unit
        chars.extend((_ASCII_STR_MAP.get(ord(c), c), i, j) for piece, i, j in pieces for c in piece)
    return chars


def _runs(chars: list[tuple[str, int, int]]) -> list[list]:
    """Word runs: [norm, start, end, index of first char, index after last char]."""
    runs: list[list] = []
    for i, (c, a, b) in enumerate(chars):
        if c in SEPARATORS:
            continue
        if runs and runs[-1][4] == i:
            run = runs[-1]
            run[0] += c
            run[2], run[4] = max(run[2], b), i + 1
        else:
            runs.append([c, a, b, i, i + 1])
    return runs


def _char(chars: list[tuple[str, int, int]], i: int) -> str:
    return chars[i][0] if 0 <= i < len(chars) else " "


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` with their original offsets (same tokens as :func:`fold_text`)."""
    chars = _mapped_chars(text)
    kept: list[tuple[str, int, int]] = []
    for norm, a, b, i, j in _runs(chars):
        before, after = _char(chars, i - 1), _char(chars, j)
        if norm == "s" and before == "\x01" and after == " ":
            continue                                    # possessive 's
        if (norm in RU_ORDINALS and before == "\x02" and _char(chars, i - 2) in _DIGITS
                and after in SEPARATORS):
            continue                                    # the ending of 201-я
        kept.append((norm, a, b))
    return [Token(norm, a, _after_marks(text, b)) for norm, a, b in kept]


def _after_marks(text: str, end: int) -> int:
    """A token's end moved past combining marks that fold to nothing ("Cafe" + U+0301)."""
    while end < len(text) and unicodedata.category(text[end])[0] == "M":
        end += 1
    return end


def case_key(text: str) -> str:
    """``text`` normalised like a token but keeping letter case (for case-sensitive terms)."""
    if text.isascii() and text.isalnum():
        return text
    out = _fold_piece(text, fold_case=False)
    return "".join(c for c in out if c.isalnum())



# --------------------------------------------------------------------------- fast path


def _punctuation_table() -> bytes:
    """_ASCII_TABLE, plus: the last UTF-8 byte of U+2000–U+203F (’ “ ” — – … and the
    other General Punctuation, bytes E2 80 xx) → the separator that character folds to."""
    table = bytearray(_ASCII_TABLE)
    for byte in range(0x80, 0xC0):
        folded = _fold_piece(chr(0x2000 + byte - 0x80))
        mapped = "".join(_ASCII_STR_MAP.get(ord(c), c) for c in folded)
        assert all(c in SEPARATORS for c in mapped), hex(0x2000 + byte - 0x80)
        table[byte] = 1 if "\x01" in mapped else 2 if "\x02" in mapped else 32
    return bytes(table)


_PUNCT_TABLE = _punctuation_table()


_UNSAFE = b"\x03"


def _codepage_table(codec: str) -> bytes:
    """Byte → folded byte for a one-byte code page; _UNSAFE where one byte cannot say it."""
    table = bytearray(_ASCII_TABLE)
    table[3] = 32
    for byte in range(0x80, 0x100):
        table[byte] = 3
        try:
            folded = _fold_piece(bytes([byte]).decode(codec))
        except UnicodeDecodeError:
            continue
        mapped = "".join(_ASCII_STR_MAP.get(ord(c), c) for c in folded)
        if len(set(mapped)) == 1 and (len(mapped) == 1 or mapped[0] in SEPARATORS):
            try:
                table[byte] = mapped[0].encode(codec)[0]
            except UnicodeEncodeError:
                pass
    return bytes(table)


_CODEPAGE_TABLES = {codec: _codepage_table(codec) for codec in ("cp1251", "cp1252")}


def _clean(text: str) -> str:
    return text.replace(FIELD_SEP, " ") if FIELD_SEP in text else text


def fold_text(text: str) -> tuple[str, bool]:
    """The normalised field: tokens separated by spaces, padded with one space each side.

    Returns ``(padded, aligned)``. When ``aligned`` is true, ``padded[i + 1]``
    comes from ``text[i]`` for every i (one output character per input
    character), so token offsets are offsets into ``text`` plus one.
    """
    return _fold(_clean(text))


def fold_fields(title: str, summary: str) -> tuple[str, int, bool]:
    """Both fields folded in one pass: ``(text, boundary, aligned)``.

    ``text[:boundary]`` is the folded title (padded), ``text[boundary]`` is
    FIELD_SEP and ``text[boundary + 1:]`` the folded summary (padded). When
    aligned, title character i is at ``1 + i`` and summary character i at
    ``boundary + 2 + i``.
    """
    joined = title + " " + FIELD_SEP + " " + summary
    if joined.count(FIELD_SEP) != 1:
        joined = _clean(title) + " " + FIELD_SEP + " " + _clean(summary)
    text, aligned = _fold(joined)
    return text, text.index(FIELD_SEP), aligned


def _fold(text: str) -> tuple[str, bool]:
    try:
        raw = text.encode()
    except UnicodeEncodeError:          # lone surrogates (from JSON "\ud800"): a separator each
        text = text.encode("utf-8", "replace").decode()
        raw = text.encode()
    if raw.isascii():
        if b"'" in raw or b"`" in raw:
            return _finish(b" " + raw.translate(_ASCII_TABLE) + b" ", None).decode(), True
        return (b" " + raw.translate(_PLAIN_TABLE) + b" ").decode(), True      # no possessive to find
    cyrillic = b"\xd0" in raw or b"\xd1" in raw
    count = 0 if cyrillic else raw.count(b"\xe2\x80")
    if count and count == raw.count(b"\xe2"):
        # ASCII plus General Punctuation only (English with ’ “ ” —): dropping the two
        # leading bytes leaves one byte per character, mapped by the table.
        folded = raw.translate(_PUNCT_TABLE, b"\xe2\x80")
        if len(folded) == len(raw) - 2 * count and folded.isascii():
            return _finish(b" " + folded + b" ", None).decode(), True
    # Cyrillic or Western European text that fits a one-byte code page: every character
    # folds to one byte in one table pass (same result as the general path, checked
    # character by character when the table is built).
    codec = "cp1251" if cyrillic else "cp1252"
    try:
        encoded = text.encode(codec)
    except UnicodeEncodeError:
        return _fold_general(text)
    folded = encoded.translate(_CODEPAGE_TABLES[codec])
    if _UNSAFE in folded:
        return _fold_general(text)
    return _finish(b" " + folded + b" ", codec if codec == "cp1251" else None).decode(codec), True


def _fold_general(text: str) -> tuple[str, bool]:
    aligned = True
    for old, new in _PRE_ITEMS:
        if old in text:
            text = text.replace(old, new)
    if not unicodedata.is_normalized("NFKC", text):
        text, aligned = unicodedata.normalize("NFKC", text), False
    folded = text.casefold()
    if len(folded) != len(text):
        aligned = False
    runs = _SPECIAL_RUN.findall(folded)
    if runs:
        # Each distinct special character is replaced once (a C-speed pass each):
        # far cheaper than a Python callback per occurrence.
        for c in set("".join(runs)):
            value = _SPECIAL_MAP[ord(c)]
            aligned = aligned and len(value) == 1
            folded = folded.replace(c, value)
    return _finish(b" " + folded.encode().translate(_ASCII_TABLE) + b" ").decode(), aligned
