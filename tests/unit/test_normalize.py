"""Normalisation: the tokens each rule produces, and the fast and slow paths agreeing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.normalize import FIELD_SEP, case_key, fold_fields, fold_text, tokenize

TOKENS = [
    ("plain words", "The Taliban advance", ["the", "taliban", "advance"]),
    ("nfkc full width", "ＣＳＴＯ", ["csto"]),
    ("nfkc ligature", "ﬁeld", ["field"]),
    ("casefold sharp s", "STRAẞE Straße", ["strasse", "strasse"]),
    ("greek final sigma", "ΟΔΟΣ οδος", ["οδοσ", "οδοσ"]),
    ("latin diacritics", "Rahmón Dušanbe Łódź", ["rahmon", "dusanbe", "lodz"]),
    ("combining mark", "Cafe\u0301", ["cafe"]),
    ("yo folds to ye", "Ещё ёлка", ["еще", "елка"]),
    ("short i stays", "мой Йемен", ["мой", "йемен"]),
    ("decomposed short i", "и\u0306", ["й"]),
    ("tajik letters", "Тоҷикистон Ҳисор қӯшун ғалаба", ["точикистон", "хисор", "кушун", "галаба"]),
    ("stroke letters", "Ørsted æther", ["orsted", "aether"]),
    ("curly apostrophe possessive", "Taliban’s CSTO's ISIS’", ["taliban", "csto", "isis"]),
    ("other apostrophe splits", "O’Brien don't", ["o", "brien", "don", "t"]),
    ("quotes separate", "“CSTO” «ОДКБ» „x“ 'y'", ["csto", "одкб", "x", "y"]),
    ("dashes separate", "a-b a–b a—b a‐b a‑b a−b", ["a", "b"] * 6),
    ("english ordinal kept", "201st 2nd 3rd 4th", ["201st", "2nd", "3rd", "4th"]),
    ("russian ordinal", "201-я 201-й 201–го 5-м", ["201", "201", "201", "5"]),
    ("tajik ordinal", "201-ум 201-уми", ["201", "201"]),
    ("hyphen word is not ordinal", "Ту-154 а-я", ["ту", "154", "а", "я"]),
    ("underscore separates", "snake_case", ["snake", "case"]),
    ("emoji separate", "🔥Taliban🔥", ["taliban"]),
    ("han one per char", "中国政府", ["中", "国", "政", "府"]),
    ("devanagari marks stay", "हिन्दी भाषा", ["हिन्दी", "भाषा"]),
    ("arabic harakat dropped", "طَالِبَان", ["طالبان"]),
    ("no-break and thin spaces", "a\u00a0b\u2009c\u202fd", ["a", "b", "c", "d"]),
    ("numero sign separates", "№5", ["5"]),
    ("ellipsis separates", "wait…what", ["wait", "what"]),
    ("field separator in text", "a\x00b", ["a", "b"]),
    ("lone surrogate separates", "Tali\ud800ban", ["tali", "ban"]),
]


@pytest.mark.parametrize(("rule", "text", "expected"), TOKENS, ids=[t[0] for t in TOKENS])
def test_tokens(rule: str, text: str, expected: list[str]) -> None:
    assert fold_text(text)[0].split() == expected
    assert [t.norm for t in tokenize(text)] == expected


def test_folded_text_is_padded_with_single_spaces_for_boundaries() -> None:
    folded, aligned = fold_text("Taliban-led")
    assert folded == " taliban led "
    assert aligned


@pytest.mark.parametrize(("text", "aligned"), [
    ("plain ASCII", True),
    ("curly ’quotes’ — and dashes", True),
    ("Кириллица с ё и «ёлочками»", True),
    ("full ＷＩＤＴＨ", False),
    ("Cafe\u0301", False),
    ("ﬁne", False),
    ("中国", False),
])
def test_alignment_flag(text: str, aligned: bool) -> None:
    assert fold_text(text)[1] is aligned


def test_token_offsets_point_at_the_original_words() -> None:
    text = "«Ｔａｌｉｂａｎ’s» 201st — Cafe\u0301"
    spans = [(t.norm, text[t.start:t.end]) for t in tokenize(text)]
    assert spans == [("taliban", "Ｔａｌｉｂａｎ"), ("201st", "201st"), ("cafe", "Cafe\u0301")]


def test_fields_fold_together_around_a_separator() -> None:
    text, boundary, aligned = fold_fields("Taliban’s", "CSTO chief")
    assert text[boundary] == FIELD_SEP
    assert text[:boundary].split() == ["taliban"]
    assert text[boundary + 1:].split() == ["csto", "chief"]
    assert aligned and text[boundary + 2:boundary + 6] == "csto"


def test_case_key_keeps_case_and_folds_the_rest() -> None:
    assert case_key("ＣＳＴＯ") == "CSTO"
    assert case_key("Ёлка") == "Елка"
    assert case_key("Tromsø") == "Tromso"


_ALPHABET = [chr(c) for c in range(0x2000, 0x2070)] + list("aAsStTnNdhR019 '-’‘ʼ`–—.,;\"“”«»()_\t") + [
    "st", "nd", "th", "'s", "’s", "-я", "-й", "-го", "-ум", "ё", "Ё", "й", "и\u0306", "e\u0301", "é", "ß",
    "ﬁ", "…", "\xa0", "№", "中", "ไทย", "İ", "Σ", "ς", "ҷ", "Ҳ", "ӣ", "ø", "æ", "\u0640", "ًَ", "ि",
    "\u200d", "\u2028", "\x00", "\x01", "\x02", "Ａ", "²",
]


def _code_page(codec: str) -> list[str]:
    out = []
    for byte in range(256):
        try:
            out.append(bytes([byte]).decode(codec))
        except UnicodeDecodeError:
            pass
    return out


# Every character of the two code pages with a fast path (Cyrillic cp1251, Western cp1252).
_CODE_PAGES = sorted(set(_code_page("cp1251") + _code_page("cp1252"))) + ["-я", "-й", "201", "'s", "’s"]
_TEXTS = st.one_of(st.lists(st.sampled_from(_ALPHABET), max_size=20).map("".join),
                   st.lists(st.sampled_from(_CODE_PAGES), max_size=25).map("".join))


@settings(max_examples=600, deadline=None)
@given(_TEXTS, _TEXTS)
def test_fast_and_slow_paths_agree(title: str, summary: str) -> None:
    text, boundary, aligned = fold_fields(title, summary)
    title_tokens, summary_tokens = tokenize(title), tokenize(summary)
    assert text[:boundary].split() == [t.norm for t in title_tokens]
    assert text[boundary + 1:].split() == [t.norm for t in summary_tokens]
    if aligned:      # offsets can be read straight from the folded text
        for t in title_tokens:
            assert text[1 + t.start:1 + t.start + len(t.norm)] == t.norm
        for t in summary_tokens:
            assert text[boundary + 2 + t.start:boundary + 2 + t.start + len(t.norm)] == t.norm
