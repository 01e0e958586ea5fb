"""The extractive summarizer: golden briefs for fixture articles, and its rules.

Fixture articles live in tests/fixtures/articles/*.txt: header lines
(`title:`, `terms:` and `context:`, values separated by ";"), a blank line,
then the text. The expected brief is the `.brief.json` beside each. After a
deliberate change to the summarizer, regenerate with
`NEWSBOT_UPDATE_GOLDEN=1 pytest tests/unit/test_summarize.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

import bot.core.summarize as summarize_module
from bot.core.summarize import clean_title, summarize
from bot.types import SourceRef

ARTICLES = Path(__file__).resolve().parents[1] / "fixtures" / "articles"
SECTIONS = ("headline", "lede", "why_it_matters", "go_deeper")


def load_article(path: Path) -> dict:
    head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
    meta: dict[str, str] = {}
    for line in head.splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    split = lambda v: tuple(x.strip() for x in v.split(";") if x.strip())  # noqa: E731
    return {"title": meta["title"], "text": body, "context": split(meta.get("context", "")),
            "matched_terms": split(meta.get("terms", ""))}


def brief_sections(brief) -> dict:
    return {"headline": brief.headline, "lede": brief.lede,
            "why_it_matters": list(brief.why_it_matters), "go_deeper": list(brief.go_deeper)}


@pytest.mark.parametrize("path", sorted(ARTICLES.glob("*.txt")), ids=lambda p: p.stem)
def test_golden_brief(path: Path) -> None:
    got = brief_sections(summarize(**load_article(path)))
    golden = path.with_suffix(".brief.json")
    if os.environ.get("NEWSBOT_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(ARTICLES.glob("*.txt")), ids=lambda p: p.stem)
def test_every_selected_sentence_comes_from_the_text(path: Path) -> None:
    article = load_article(path)
    brief = summarize(**article)
    flat = " ".join(article["text"].split())
    for sentence in (brief.lede, *brief.go_deeper):
        assert sentence == "" or sentence in flat
    for line in brief.why_it_matters:
        assert line in flat or line in article["context"]
    assert all(s for s in (*brief.why_it_matters, *brief.go_deeper))   # no empty bullets
    assert len(brief.go_deeper) <= 3
    assert brief.lede not in brief.go_deeper and brief.lede not in brief.why_it_matters


def test_boilerplate_datelines_and_bylines_never_show() -> None:
    brief = summarize(**load_article(ARTICLES / "en_boilerplate.txt"))
    shown = " ".join((brief.lede, *brief.why_it_matters, *brief.go_deeper))
    for junk in ("Subscribe", "appeared first on", "Image:", "By Staff Reporter"):
        assert junk not in shown
    drills = summarize(**load_article(ARTICLES / "en_drills.txt"))
    assert drills.lede.startswith("Russian and Tajik troops began")     # dateline stripped
    assert drills.headline == "Russia, Tajikistan begin joint drills near Afghan border"


@pytest.mark.parametrize("title, text, lede", [
    ("Border guards detain two", "Two men were detained after crossing the river on Sunday.",
     "Two men were detained after crossing the river on Sunday."),
    ("В Душанбе прошли консультации", "В Душанбе прошли консультации.", ""),
    ("Only a title", "", ""),
    ("Only a title", "   \n\n  ", ""),
    ("Title", "Read more", ""),
])
def test_thin_input_gives_a_short_brief_with_no_empty_sections(title, text, lede) -> None:
    brief = summarize(title=title, text=text)
    assert brief.headline == title
    assert brief.lede == lede
    assert brief.why_it_matters == () and brief.go_deeper == () and brief.zoom_out == ()


def test_operator_context_comes_first_and_zoom_out_is_passed_through() -> None:
    when = datetime(2024, 3, 27, 6, tzinfo=timezone.utc)
    source = SourceRef("Pamir Wire", "Drills begin", "https://example.org/a", when)
    brief = summarize(
        title="Drills begin", text="Troops began drills near the border on Wednesday morning.",
        context=("Why we watch this: the border is 1,344 km long.", "  ", ""),
        zoom_out=[("Earlier drills", "https://example.org/old"), ("", None),
                  ("Earlier drills", "https://example.org/old")],
        sources=[source], link="https://example.org/a", published=when, watchlist="central-asia",
        matched_terms=["border", "border"])
    assert brief.why_it_matters == ("Why we watch this: the border is 1,344 km long.",)
    assert brief.zoom_out == (("Earlier drills", "https://example.org/old"),)
    assert brief.sources == (source,) and brief.published == when
    assert brief.matched_terms == ("border",) and brief.watchlist == "central-asia"


def test_go_deeper_prefers_sentences_with_matched_terms_and_keeps_text_order() -> None:
    text = ("The council met in Dushanbe on Monday to review the budget. "
            "Members discussed roads, schools and the price of bread in detail. "
            "The 201st base was mentioned once as a source of rent income. "
            "Several deputies asked for more money for rural clinics and teachers. "
            "The session closed after four hours with a vote on the next meeting.")
    plain = summarize(title="Council reviews budget", text=text)
    tuned = summarize(title="Council reviews budget", text=text, matched_terms=["201st base"])
    assert any("201st base" in s for s in tuned.go_deeper)
    positions = [text.index(s) for s in tuned.go_deeper]
    assert positions == sorted(positions)
    assert plain.lede == tuned.lede == "The council met in Dushanbe on Monday to review the budget."


def test_near_repeats_of_the_lede_are_not_shown_again() -> None:
    text = ("Russian and Tajik troops began joint drills near the Afghan border on Wednesday. "
            "Russian and Tajik troops began joint drills near the Afghan border on Wednesday, officials said. "
            "The drills will last until April 7 and involve 300 soldiers of the 201st base.")
    brief = summarize(title="Drills begin", text=text)
    assert brief.go_deeper == ("The drills will last until April 7 and involve 300 soldiers of the 201st base.",)


@pytest.mark.parametrize("raw, clean", [
    ("BREAKING: Blast in Kabul", "Blast in Kabul"),
    ("Blast in Kabul kills three | Asia Daily", "Blast in Kabul kills three"),
    ("Blast in Kabul kills three - Reuters", "Blast in Kabul kills three"),
    ("Tajikistan beat Jordan 2-1 in qualifier", "Tajikistan beat Jordan 2-1 in qualifier"),
    ("Talks on water &quot;went well&quot;", 'Talks on water "went well"'),
    ("  Срочно:  Взрыв в  Кабуле ", "Взрыв в Кабуле"),
    ("Kabul - blast hits mosque in west of the city", "Kabul - blast hits mosque in west of the city"),
])
def test_clean_title(raw: str, clean: str) -> None:
    assert clean_title(raw) == clean


def test_same_input_same_brief() -> None:
    article = load_article(ARTICLES / "ru_base.txt")
    assert summarize(**article) == summarize(**article)


def test_letters_that_fold_unusually_are_matched_as_case_insensitive_patterns_match_them() -> None:
    # "ſ" (long s) matches "s" and "İ" matches "i" case-insensitively, though their
    # str.lower() does not give "s" and "i": such sentences take the slower, exact way.
    brief = summarize(title="Clashes on the border", text=(
        "The border closed on Monday after heavy clashes near the river crossing. "
        "Don't forget to ſubſcribe for daily updates from the whole region. "
        "Officials see a growing RİSK of more clashes along the frontier. "
        "Traders said the market in the town stayed shut for the whole day."))
    assert brief.lede == "The border closed on Monday after heavy clashes near the river crossing."
    assert brief.why_it_matters == ("Officials see a growing RİSK of more clashes along the frontier.",)
    assert brief.go_deeper == ("Traders said the market in the town stayed shut for the whole day.",)


def test_lower_cased_matching_agrees_with_ignorecase_for_every_character_taken_the_fast_way() -> None:
    # A sentence without `_UNSAFE` characters is matched lower-cased, without IGNORECASE.
    # That is exact only while, for each of those characters, its lower case is one
    # character that every literal and class of the patterns accepts exactly when
    # IGNORECASE accepts the original; a new Python's Unicode tables could change that.
    s = summarize_module
    every = "".join(map(chr, range(0x110000)))
    fast = s._UNSAFE.sub("", every)
    lowered = [c.lower() for c in fast]
    assert all(len(c) == 1 for c in lowered)
    lowered = "".join(lowered)
    sources = s._BOILERPLATE.pattern + s._BOILERPLATE_START.pattern + s._CUES.pattern
    literals = [re.escape(c) for c in set(sources) if c == c.lower()]
    classes = [r"\s", r"\w", r"\d", r"[^\W\d_]", r"[.,]", r"[:.]"]
    for atom in literals + classes:
        assert spans(atom, fast, re.IGNORECASE) == spans(atom, lowered), atom
    for atom in classes:            # \b, and the words `_WORDS` finds, stay where they were
        assert spans(atom, fast) == spans(atom, lowered), atom
    assert [c.isdigit() for c in fast] == [c.isdigit() for c in lowered]
    # a truncation marker ("[…]", "(…)", "read more »") can only end with one of these
    assert set(re.findall(r"[\])»e]", every, re.IGNORECASE)) == set(s._TRUNCATED_ENDS)


def spans(pattern: str, text: str, flags: int = 0) -> list[int]:
    return [m.start() for m in re.finditer(pattern, text, flags)]
