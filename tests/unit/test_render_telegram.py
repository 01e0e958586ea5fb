"""render_telegram: any brief becomes Telegram HTML that parses, fits, and keeps what matters."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.core.render_telegram as module
from bot.chat.api import Reply
from bot.core.render_telegram import (
    MAX_CHARS,
    alert_buttons,
    callback_data,
    parse_callback_data,
    render_reply,
    render_telegram,
    render_telegram_digest,
    render_text,
)
from bot.types import Brief, SourceRef
from tests.support.telegram_html import parse_html

LINK = "https://news.example/story?id=1&lang=ru"

# ---------------------------------------------------------------------- strategies

ATOMS = ["<", ">", "&", "&amp;", "&lt", "<b>", "</b>", "<i", "</a>", '<a href="x">', "&#x",
         "&#0;", "&#xD800;", '"', "'", "\\", "😀", "👩‍👩‍👧", "🇹🇯", "\u200b", "\u200d", "\ufeff",
         "\u202e", "\u2066", "مرحبا بالعالم", "שלום", "Душанбе", "\x00", "\x1b", "\r\n", "\t",
         "\ud800", "\udfff", "e\u0301", "\u0085", "\u2028", " ", "  ", "word", "<script>",
         "</blockquote>", "<span class=\"tg-spoiler\">", "\n\n\n"]
hostile = st.lists(st.sampled_from(ATOMS) | st.text(max_size=12), max_size=30).map("".join)
long_paragraph = st.sampled_from(["x", "😀", "& ", "<b>", "word ", "ب "]).map(
    lambda s: s * (10_000 // len(s)))
field = st.one_of(hostile, hostile, long_paragraph)
urls = st.sampled_from([None, "javascript:alert(1)", "data:text/html,<b>", "ftp://x.org/f",
                        "https://ok.example/a?x=1&y=<2>\"", "http://x.org/" + "é&" * 900,
                        "https://x.org/" + "a" * 2000, "not a url", "https://"])
zoom = st.lists(st.tuples(field, urls), max_size=25)


@st.composite
def briefs(draw) -> Brief:
    return Brief(
        headline="Marker " + draw(field),
        lede=draw(field),
        why_it_matters=("Whymark " + draw(field),) + tuple(draw(st.lists(field, max_size=4))),
        go_deeper=tuple(draw(st.lists(field, max_size=25))),
        zoom_out=tuple(draw(zoom)),
        sources=tuple(SourceRef(draw(hostile), "t", draw(urls), None)
                      for _ in range(draw(st.integers(0, 6)))),
        link=draw(st.sampled_from([LINK, "https://x.org/" + "q&" * 1000])),
        published=draw(st.none() | st.datetimes(timezones=st.just(timezone.utc))),
        matched_terms=tuple(draw(st.lists(hostile, max_size=8))),
        is_update=draw(st.booleans()),
    )


FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------- properties

@FAST
@given(briefs(), st.sampled_from([MAX_CHARS, 3000, 500]))
def test_any_brief_renders_to_html_telegram_accepts(brief, max_chars):
    rendered = render_telegram(brief, max_chars=max_chars)
    parsed = parse_html(rendered.html, strict=True)      # raises on anything Telegram refuses
    assert 0 < len(parsed.text) <= max_chars
    assert len(rendered.html.encode("utf-8")) <= 32768
    first_line = parsed.text.split("\n", 1)[0]
    assert first_line.startswith("Update: Marker" if brief.is_update else "Marker")
    assert "Why it matters: Whymark" in parsed.text
    links = [e.url for e in parsed.entities if e.type == "text_link"]
    assert brief.link in links
    assert all(url.startswith(("http://", "https://")) for url in links)
    assert 0 < len(rendered.plain) <= MAX_CHARS
    assert rendered.plain.startswith(first_line[:6])


digest_briefs = st.builds(lambda h, w, link: Brief(headline=h, lede="", why_it_matters=(w,), link=link),
                          field, field, urls)


@FAST
@given(st.lists(digest_briefs, max_size=30), st.integers(0, 500), hostile)
def test_any_digest_parses_and_counts_what_it_left_out(items, extra, title):
    rendered = render_telegram_digest(items, extra, title)
    parsed = parse_html(rendered.html, strict=True)
    assert len(parsed.text) <= MAX_CHARS and len(rendered.plain) <= MAX_CHARS
    shown = parsed.text.count("\n• ")
    left_out = len(items) - shown + extra
    if left_out:
        assert f"…and {left_out} more stor" in parsed.text
    else:
        assert "more stor" not in parsed.text


@FAST
@given(hostile, st.none() | hostile, st.booleans())
def test_any_reply_parses(text, title, ok):
    html = render_reply(Reply(text=text, title=title, ok=ok))
    assert len(parse_html(html, strict=True).text) <= MAX_CHARS


# ---------------------------------------------------------------------- examples

def full_brief(**overrides) -> Brief:
    values = dict(
        headline="Joint drills start 20 km from the Afghan border",
        lede="Two armies began a week of mountain exercises on Monday.",
        why_it_matters=("Border states worry about armed groups crossing.", "Second reason."),
        go_deeper=("The base hosts over 300 troops.", "The exercise ends on Friday."),
        zoom_out=(("Consulate reopens in the north", "https://news.example/consulate"),
                  ("Context without a link", None)),
        sources=(SourceRef("Example Wire", "t", LINK, None),),
        link=LINK,
        published=datetime(2024, 4, 3, 14, 5, tzinfo=timezone.utc),
        matched_terms=("Tajikistan", "201st base"),
    )
    values.update(overrides)
    return Brief(**values)


def test_layout_mirrors_the_smart_brevity_shape():
    parsed = parse_html(render_telegram(full_brief()).html, strict=True)
    assert parsed.text.split("\n") == [
        "Joint drills start 20 km from the Afghan border",
        "Two armies began a week of mountain exercises on Monday.",
        "",
        "Why it matters: Border states worry about armed groups crossing.",
        "• Second reason.",
        "",
        "Go deeper:",
        "• The base hosts over 300 troops.",
        "• The exercise ends on Friday.",
        "",
        "Zoom out:",
        "• Consulate reopens in the north",
        "• Context without a link",
        "",
        "Read the story",
        "Example Wire · 14:05 UTC, 3 Apr 2024 · matched: Tajikistan, 201st base",
    ]
    bold = [parsed.text[e.offset:e.offset + e.length] for e in parsed.entities if e.type == "bold"]
    assert bold == ["Joint drills start 20 km from the Afghan border", "Why it matters:",
                    "Go deeper:", "Zoom out:"]


@pytest.mark.parametrize("headline,visible", [
    ("Tom & Jerry <b>not bold</b>", "Tom & Jerry <b>not bold</b>"),
    ("a\x00b\x1bc\u202ed", "abcd"),
    ("  spaced\n\nout\t ", "spaced out"),
    ("&amp; stays literal", "&amp; stays literal"),
    ("\ud800lone surrogate", "lone surrogate"),
    ("", "Untitled story"),
])
def test_feed_text_is_shown_as_written_never_as_markup(headline, visible):
    parsed = parse_html(render_telegram(full_brief(headline=headline)).html, strict=True)
    assert parsed.text.split("\n")[0] == visible
    assert parsed.entities[0].type == "bold" and parsed.entities[0].offset == 0


def test_zoom_out_goes_before_go_deeper_before_why():
    brief = full_brief(why_it_matters=("Why.",) + ("w" * 500,) * 2, go_deeper=("g" * 500,) * 4,
                       zoom_out=(("z" * 500, None),) * 10)

    def bullets(text: str, letter: str) -> int:
        return sum(line.startswith("• " + letter * 20) for line in text.split("\n"))

    full = parse_html(render_telegram(brief).html, strict=True).text
    assert (bullets(full, "w"), bullets(full, "g")) == (2, 4)
    assert 0 < bullets(full, "z") < 10 and len(full) <= MAX_CHARS
    short = parse_html(render_telegram(brief, max_chars=1500).html, strict=True).text
    assert (bullets(short, "w"), bullets(short, "z")) == (2, 0) and 0 < bullets(short, "g") < 4
    assert "Zoom out:" not in short and "Why it matters: Why." in short
    assert len(short) <= 1500


def test_huge_required_parts_are_cut_with_an_ellipsis_not_dropped():
    brief = full_brief(headline="H" * 10_000, lede="L " * 6000, why_it_matters=("W " * 5000,))
    parsed = parse_html(render_telegram(brief).html, strict=True)
    lines = parsed.text.split("\n")
    assert lines[0].startswith("HHHH") and lines[0].endswith("…")
    assert "Why it matters: W W" in parsed.text and "Read the story" in parsed.text
    assert len(parsed.text) <= MAX_CHARS


def test_link_preview_only_when_asked():
    assert render_telegram(full_brief()).preview_url is None
    assert render_telegram(full_brief(), link_preview=True).preview_url == LINK


def test_unsafe_main_link_falls_back_to_a_source_link():
    brief = full_brief(link="javascript:alert(1)",
                       sources=(SourceRef("Wire", "t", "https://wire.example/x", None),))
    parsed = parse_html(render_telegram(brief).html, strict=True)
    assert [e.url for e in parsed.entities if e.type == "text_link"][-1] == "https://wire.example/x"


def test_plain_fallback_shows_urls_and_no_tags():
    plain = render_telegram(full_brief()).plain
    assert "<b>" not in plain and "Read the story (" + LINK + ")" in plain
    assert plain.startswith("Joint drills start")


def test_digest_layout():
    parsed = parse_html(render_telegram_digest([full_brief()], 2, "Morning & more").html, strict=True)
    assert parsed.text.split("\n") == [
        "Morning & more", "", "• Joint drills start 20 km from the Afghan border",
        "  Border states worry about armed groups crossing.", "", "…and 2 more stories"]


def test_reply_has_bold_title_and_escaped_multiline_text():
    html = render_reply(Reply(text="#1 a<b — instant\n#2 x&y — digest daily", title="Subs"))
    assert html == "<b>Subs</b>\n#1 a&lt;b — instant\n#2 x&amp;y — digest daily"
    assert render_text("", None) == "…"


def test_callback_data_round_trips_and_stays_within_64_bytes():
    assert alert_buttons(12, 34) == (("🔕 Mute story", "m:12"), ("Unsubscribe", "u:34"))
    assert alert_buttons(None, None) == ()
    assert parse_callback_data("m:12") == ("mute", "12")
    assert parse_callback_data("u:34") == ("unsub", "34")
    for junk in (None, "", "x:1", "m:", "m12"):
        assert parse_callback_data(junk) is None
    assert callback_data("mute", "9" * 62) == "m:" + "9" * 62
    assert callback_data("mute", "9" * 63) is None
    assert callback_data("explode", "1") is None


def test_time_is_shown_in_utc():
    local = datetime(2024, 4, 3, 19, 5, tzinfo=timezone(timedelta(hours=5)))
    text = parse_html(render_telegram(full_brief(published=local)).html).text
    assert "14:05 UTC, 3 Apr 2024" in text


def test_core_module_imports_nothing_impure():
    tree = ast.parse(Path(module.__file__).read_text())
    top = {n.names[0].name.split(".")[0] for n in tree.body if isinstance(n, ast.Import)}
    top |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert top <= {"__future__", "html", "re", "dataclasses", "datetime", "typing", "urllib", "bot"}
    from_bot = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)
                and n.module and n.module.startswith("bot")}
    assert from_bot <= {"bot.types", "bot.errors"}
