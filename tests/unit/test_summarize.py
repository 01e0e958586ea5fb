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
from datetime import datetime, timezone
from pathlib import Path

import pytest

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
