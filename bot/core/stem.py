"""Word forms for inflected languages: which text words count as forms of a query word.

What it does: a query word in a language a rule declares matches the word
forms of that language — "Таджикистан" matches "Таджикистана", "Таджикистане";
"талибы" matches "талибов". Both sides are stemmed (Snowball for Russian and
the other Snowball languages; a small suffix list for Tajik; a plural-only
"S-stemmer" for English) and a text word ``w`` is a form of the query word ``q``
when any of these holds::

    w == q   or   stem(w) == stem(q)   or   stem(w) == q   or   w == stem(q)

(the last two absorb Snowball's uneven treatment of some nominatives:
stem("таджикистан") is "таджикиста" but stem("таджикистане") is "таджикистан").

Precision: only words whose stem keeps at least ``MIN_STEM`` (4) characters get
forms on their own, ``MIN_STEM_IN_PHRASE`` (3) inside a phrase, whose
neighbours keep it precise ("база" → "баз"). English uses plurals only, never
Porter stemming, which would make "based" a form of "base" and "organs" a form
of "organization".

Which stemmer applies is decided by the word's script: Cyrillic words use the
declared Cyrillic languages (ru, tg, ...), Latin words the declared Latin ones.
A rule that declares no languages uses English for Latin and Russian for
Cyrillic words. Languages without a stemmer match exact words only (a
trailing ``*`` still matches forms by prefix).

What it does not do: normalisation (``normalize.py``), lemmatisation with a
dictionary, or compound splitting.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Callable

import snowballstemmer

MIN_STEM = 4
MIN_STEM_IN_PHRASE = 3

_SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech",
    "da": "danish", "nl": "dutch", "eo": "esperanto", "et": "estonian", "fi": "finnish",
    "fr": "french", "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian",
    "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "no": "norwegian", "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil",
    "tr": "turkish", "yi": "yiddish",
}
SCRIPTS = {
    "LATIN": ("en", "fr", "de", "es", "it", "pt", "nl", "da", "sv", "no", "fi", "et", "hu",
              "ro", "pl", "cs", "lt", "tr", "id", "ga", "eu", "ca", "eo", "sr", "uz", "az"),
    "CYRILLIC": ("ru", "tg", "uk", "be", "bg", "kk", "ky", "mk", "mn"),
    "GREEK": ("el",), "ARABIC": ("ar", "fa", "ps", "ur"), "ARMENIAN": ("hy",),
    "DEVANAGARI": ("hi", "ne"), "TAMIL": ("ta",), "HEBREW": ("yi", "he"),
}
KNOWN_LANGUAGES = frozenset(lang for langs in SCRIPTS.values() for lang in langs) | {
    "zh", "ja", "ko", "th", "ka"}
_DEFAULT = {"LATIN": ("en",), "CYRILLIC": ("ru",)}

_EN_KEEP = frozenset({
    "news", "this", "thus", "does", "less", "always", "perhaps", "whereas", "towards",
    "besides", "sometimes", "afterwards", "series", "species", "means", "lens", "bias",
    "chaos", "basis", "crisis", "analysis", "politics", "economics", "physics", "was", "has",
})
_TG_SUFFIXES = ("хоямон", "хоятон", "хояшон", "хоро", "хои", "ашон", "хо", "ро", "и")


def commonprefix(words: list[str]) -> str:
    """The longest common prefix of ``words``."""
    first, last = min(words), max(words)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


def _english(word: str) -> str:
    """Harman's S-stemmer: plural endings only (ies → y, es → e, s → '')."""
    if len(word) < 4 or word in _EN_KEEP or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss", "is")):
        return word[:-1]
    return word


def _tajik(word: str) -> str:
    """Strips one Tajik case/plural/possessive suffix (on folded text: ҳ → х)."""
    for suffix in _TG_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def _snowball(lang: str) -> Callable[[str], str]:
    algorithm = snowballstemmer.stemmer(_SNOWBALL[lang])
    return algorithm.stemWord


_STEMMERS: dict[str, Callable[[str], str]] = {"en": _english, "tg": _tajik}


def has_stemmer(lang: str) -> bool:
    return lang in _STEMMERS or lang in _SNOWBALL


@lru_cache(maxsize=100_000)
def stem(lang: str, word: str) -> str:
    """The stem of a folded word in ``lang`` (the word itself if there is no stemmer)."""
    if lang not in _STEMMERS and lang in _SNOWBALL:
        _STEMMERS[lang] = _snowball(lang)
    stemmer = _STEMMERS.get(lang)
    return stemmer(word) if stemmer and word.isalpha() else word


def script(word: str) -> str | None:
    """The script of the first letter of ``word`` ("LATIN", "CYRILLIC", ...), or None."""
    for c in word:
        if c.isalpha():
            return unicodedata.name(c, "").split(" ")[0] or None
    return None


def stem_languages(word: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    """The declared languages (or the script's default) whose stemmer applies to ``word``."""
    if not word.isalpha():
        return ()
    word_script = script(word)
    usable = SCRIPTS.get(word_script or "", ())
    chosen = tuple(lang for lang in languages if lang in usable) if languages else _DEFAULT.get(
        word_script or "", ())
    return tuple(lang for lang in chosen if has_stemmer(lang))


def word_forms(word: str, languages: tuple[str, ...], *, in_phrase: bool) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(prefix every form starts with, ((lang, stem), ...)) — or (word, ()) when forms don't apply."""
    minimum = MIN_STEM_IN_PHRASE if in_phrase else MIN_STEM
    forms, prefix = [], word
    for lang in stem_languages(word, languages):
        stemmed = stem(lang, word)
        common = commonprefix([word, stemmed])
        if len(common) >= minimum:
            forms.append((lang, stemmed))
            prefix = commonprefix([prefix, common])
    return (prefix, tuple(forms)) if forms else (word, ())


def is_form(text_word: str, query_word: str, forms: tuple[tuple[str, str], ...],
            language: str | None = None) -> bool:
    """Is ``text_word`` (folded) a form of ``query_word`` in one of ``forms``' languages?

    With ``language`` (the item's language) among them, only that language is tried.
    """
    if text_word == query_word:
        return True
    if language is not None and any(lang == language for lang, _ in forms):
        forms = tuple(f for f in forms if f[0] == language)
    for lang, query_stem in forms:
        text_stem = stem(lang, text_word)
        if text_stem == query_stem or text_stem == query_word or text_word == query_stem:
            return True
    return False


def listed_forms(word: str, forms: tuple[tuple[str, str], ...]) -> frozenset[str] | None:
    """Every text word that is a form of ``word``, when they can be listed (English only).

    English forms are few (the word, its stem, plural endings), so the matcher
    searches for each as a whole word instead of checking a prefix.
    """
    if not forms or any(lang != "en" for lang, _ in forms):
        return None
    stemmed = _english(word)
    candidates = {word, stemmed, word + "s", stemmed + "s", stemmed + "es"}
    for base in (word, stemmed):
        if base.endswith("y"):
            candidates.add(base[:-1] + "ies")
    return frozenset(c for c in candidates if is_form(c, word, forms))
