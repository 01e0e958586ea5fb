"""bot.core.render_slack: Block Kit alerts that stay inside Slack's limits and
escape every piece of feed text, whatever the feed sends.

The limits and the mrkdwn rules are checked by tests.support.slack_mrkdwn, the
same validator the fake Slack server applies to what it receives.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.api import Button, Reply
from bot.core.render_slack import (
    HomeSubscription, HomeWatchlist, clean, escape_mrkdwn, fit, mrkdwn_link, one_line, render_home,
    render_slack, render_slack_digest, render_slack_reply, sanitize_url, slack_len, unescape_mrkdwn,
)
from bot.types import Brief, SourceRef
from tests.support.slack_mrkdwn import (
    blocks_text_length, lint_mrkdwn, text_objects, tokens, validate_blocks,
)

HOSTILE = ["<!channel>", "<!here|here>", "<@U123ABC>", "<#C0123|general>", "<https://evil.example|click>",
           "&amp;", "&lt;", "& ", "<", ">", "|", "*", "_", "~", "`", "```", "\n", "\n>", "@here", "#general",
           "\u200b", "\u202e", "\x00", "\x1b[31m", "🇹🇯", "👩‍👩‍👧", "ѣ", "ﷺ", "\u2028", ":flag-tj:",
           "https://bare.example/a?b=1&c=2"]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40)), max_size=12).map("".join)
long_text = st.one_of(hostile_text, st.builds(lambda s, n: s * n, hostile_text, st.integers(1, 400)))
urls = st.one_of(
    st.none(),
    st.sampled_from(["https://news.example/story?id=1&x=2", "http://a.example/p|q>r<s t", "javascript:alert(1)",
                     "https://ex.example/" + "a" * 2100, "ftp://files.example/x", "http://[::1", "",
                     "https://xn--80ak6aa92e.example/путь?q=\"quoted\"", "mailto:a@b.example",
                     "https://ex.example/<!channel>", "HTTPS://UPPER.EXAMPLE/ok"]),
    hostile_text.map(lambda t: "https://h.example/" + t),
)
sources = st.builds(SourceRef, outlet=hostile_text, title=hostile_text, link=urls,
                    published=st.none())
briefs = st.builds(
    Brief,
    headline=long_text, lede=long_text,
    why_it_matters=st.lists(long_text, max_size=4).map(tuple),
    go_deeper=st.lists(long_text, max_size=12).map(tuple),
    zoom_out=st.lists(st.tuples(long_text, urls), max_size=12).map(tuple),
    sources=st.lists(sources, max_size=8).map(tuple),
    link=urls,
    published=st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc))),
    matched_terms=st.lists(hostile_text, max_size=20).map(tuple),
    watchlist=st.one_of(st.none(), hostile_text),
    is_update=st.booleans(),
)
ids = st.one_of(st.none(), st.integers(0, 2**63))
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mrkdwn_texts(blocks: list[dict]) -> list[str]:
    return [t for _, kind, t in text_objects(blocks) if kind == "mrkdwn"]


def assert_clean(blocks: list[dict], text: str, *, max_blocks: int = 50) -> None:
    assert validate_blocks(blocks, max_blocks=max_blocks) == []
    assert blocks_text_length(blocks) <= 10_000          # Slack refuses near 13k; we keep well under
    for t in mrkdwn_texts(blocks) + [text]:
        assert lint_mrkdwn(t) == [], t
        # Only our links and dates: feed text never becomes a mention or a special token.
        assert {tok.kind for tok in tokens(t)} <= {"link", "date"}, t
    assert 0 < len(text) <= 3000


# --------------------------------------------------------------------------- alerts


@FAST
@given(brief=briefs, story_id=ids, subscription_id=ids)
def test_alert_is_within_limits_and_escaped(brief, story_id, subscription_id):
    r = render_slack(brief, story_id=story_id, subscription_id=subscription_id)
    assert_clean(r.blocks, r.text)
    for block in r.blocks:
        if block["type"] in ("section", "context"):
            objs = [block["text"]] if block["type"] == "section" else block["elements"]
            assert all(o.get("verbatim") is True for o in objs)   # no auto-linking of feed text


@FAST
@given(brief=briefs)
def test_headline_why_and_link_always_kept(brief):
    r = render_slack(brief, story_id=1, subscription_id=2)
    header = r.blocks[0]
    assert header["type"] == "header"
    shown = header["text"]["text"].removeprefix("Update: ")
    expected = one_line(brief.headline) or "(untitled story)"
    assert shown == expected or (shown.endswith("…") and expected.startswith(shown[:-1].rstrip()))
    assert one_line(shown[:-1] if shown.endswith("…") else shown)   # never empty
    texts = "\n".join(mrkdwn_texts(r.blocks))
    first_why = next((one_line(w) for w in brief.why_it_matters if one_line(w)), None)
    if first_why:
        why = next(t for t in mrkdwn_texts(r.blocks) if t.startswith("*Why it matters:*"))
        assert unescape_mrkdwn(escape_mrkdwn(first_why[:20])) in unescape_mrkdwn(why)
    link = sanitize_url(brief.link)
    if link:
        assert f"<{link}|" in texts
        assert f"<{link}|" in r.text                   # the plain-text fallback keeps it too


@FAST
@given(brief=briefs)
def test_buttons_carry_story_and_subscription(brief):
    r = render_slack(brief, story_id=42, subscription_id=7)
    actions = [b for b in r.blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions[0]["elements"]] == [("mute", "42"), ("unsub", "7")]
    assert not [b for b in render_slack(brief, story_id=None, subscription_id=None).blocks
                if b["type"] == "actions"]


def test_over_budget_go_deeper_shrinks_before_zoom_out_and_lede():
    brief = Brief(headline="Drill near the border", lede="L" * 2700,
                  why_it_matters=("W " * 1300,),
                  go_deeper=tuple(f"detail {i} " + "g" * 480 for i in range(12)),
                  zoom_out=tuple((f"earlier {i} " + "z" * 150, f"https://z.example/{i}") for i in range(12)),
                  link="https://news.example/drill")
    texts = mrkdwn_texts(render_slack(brief, story_id=1, subscription_id=None).blocks)
    lede, why = texts[0], texts[1]
    assert lede.startswith("L" * 2700) and "<https://news.example/drill|" in lede
    assert why.startswith("*Why it matters:* W W")
    zoom = next(t for t in texts if t.startswith("*Zoom out:*"))
    assert zoom.count("\n• ") == 12                      # all of Zoom out kept …
    deeper = [t for t in texts if t.startswith("*Go deeper:*")]
    assert not deeper or deeper[0].count("\n• ") < 12    # … Go deeper cut first


@pytest.mark.parametrize("raw, escaped", [
    ("<!channel> ping", "&lt;!channel&gt; ping"),
    ("AT&T > Verizon < Sprint", "AT&amp;T &gt; Verizon &lt; Sprint"),
    ("already &amp; escaped", "already &amp;amp; escaped"),
    ('"quotes" and \'apostrophes\' stay', '"quotes" and \'apostrophes\' stay'),
])
def test_escaping_table(raw, escaped):
    assert escape_mrkdwn(raw) == escaped
    assert unescape_mrkdwn(escaped) == raw


@pytest.mark.parametrize("url, label, expected", [
    ("https://a.example/x?a=1&b=2", "Story", "<https://a.example/x?a=1&amp;b=2|Story>"),
    ("https://a.example/x|y>z", "A | B > C", "<https://a.example/x%7Cy%3Ez|A ¦ B &gt; C>"),
    ("https://a.example/with space", "x", "<https://a.example/with%20space|x>"),
    ("javascript:alert(1)", "Click <me>", "Click &lt;me&gt;"),
    ("slack://channel?id=C1", "deep link", "deep link"),
    (None, "no link", "no link"),
    ("https://a.example/", "", "<https://a.example/|a.example>"),
])
def test_link_table(url, label, expected):
    assert mrkdwn_link(url, label) == expected


@given(st.text())
def test_escape_round_trips_and_lints_clean(text):
    assert unescape_mrkdwn(escape_mrkdwn(text)) == text
    assert lint_mrkdwn(escape_mrkdwn(text)) == []


@given(text=st.text(), limit=st.integers(0, 400))
def test_fit_respects_limit_and_never_splits_an_entity(text, limit):
    out = fit(text, limit)
    assert slack_len(out) <= max(limit, 0)
    assert lint_mrkdwn(out) == []
    if out and not out.endswith("…"):
        assert unescape_mrkdwn(out) == text


def test_published_time_is_a_localised_date_token_with_utc_fallback():
    brief = Brief(headline="h", lede="l", published=datetime(2024, 5, 1, 14, 2, tzinfo=timezone.utc))
    context = next(b for b in render_slack(brief, story_id=None, subscription_id=None).blocks
                   if b["type"] == "context")
    assert context["elements"][0]["text"] == "<!date^1714572120^{date_short_pretty} {time}|2024-05-01 14:02 UTC>"


# --------------------------------------------------------------------------- digests, replies, home


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bs=st.lists(briefs, max_size=15), extra=st.integers(0, 500), sub=ids)
def test_digest_within_limits(bs, extra, sub):
    r = render_slack_digest(bs, extra_count=extra, subscription_id=sub)
    assert_clean(r.blocks, r.text)
    sections = [b for b in r.blocks if b["type"] == "section"]
    more = [b for b in r.blocks if b["type"] == "context"]
    hidden = len(bs) + extra - len(sections)
    assert (hidden > 0) == bool(more)
    if more:
        assert more[0]["elements"][0]["text"].startswith(f"…and {hidden} more")


@FAST
@given(text=long_text, title=st.one_of(st.none(), hostile_text),
       buttons=st.lists(st.builds(Button, label=hostile_text, action=st.sampled_from(["mute", "unsub"]),
                                  value=st.integers(0, 10**9).map(str)), max_size=3, unique_by=lambda b: b.action))
def test_reply_within_limits(text, title, buttons):
    fallback, blocks = render_slack_reply(Reply(text=text, title=title, buttons=tuple(buttons)))
    assert_clean(blocks, fallback)
    first_line = next((ln for ln in clean(text).strip().split("\n") if ln.strip()), "")
    assert first_line[:20] in unescape_mrkdwn("\n".join(mrkdwn_texts(blocks)))


@FAST
@given(wls=st.lists(st.builds(HomeWatchlist, name=hostile_text, description=long_text), max_size=80),
       subs=st.lists(st.builds(HomeSubscription, id=st.integers(1, 10**6),
                               chat_id=st.one_of(st.sampled_from(["C0123ABC", "G0SECRET", "D0DM"]), hostile_text),
                               target=long_text, mode=hostile_text, paused=st.booleans()), max_size=150))
def test_home_view_within_limits(wls, subs):
    view = render_home(wls, subs)
    assert view["type"] == "home"
    assert validate_blocks(view["blocks"], max_blocks=100) == []
    for t in mrkdwn_texts(view["blocks"]):
        assert lint_mrkdwn(t) == []
        assert {tok.kind for tok in tokens(t)} <= {"channel"}


def test_digest_of_many_stories_stops_at_the_block_limit():
    bs = [Brief(headline=f"Story {i}", lede="l", why_it_matters=(f"why {i}",), link=f"https://n.example/{i}")
          for i in range(60)]
    r = render_slack_digest(bs, extra_count=5, subscription_id=9)
    assert_clean(r.blocks, r.text)
    shown = [b for b in r.blocks if b["type"] == "section"]
    assert shown[0]["text"]["text"] == "*<https://n.example/0|Story 0>*\nwhy 0"
    more = next(b for b in r.blocks if b["type"] == "context")["elements"][0]["text"]
    assert more == f"…and {65 - len(shown)} more stories"


def test_home_lists_watchlists_and_subscriptions_by_channel():
    view = render_home([HomeWatchlist("central-asia", "Tajikistan & the CSTO")],
                       [HomeSubscription(3, "C0123ABC", "central-asia"),
                        HomeSubscription(4, "C0123ABC", '"201st base" OR taliban', mode="digest", paused=True)])
    text = "\n".join(mrkdwn_texts(view["blocks"]))
    assert "*central-asia* — Tajikistan &amp; the CSTO" in text
    assert "<#C0123ABC>\n• #3 central-asia (instant)\n• #4 \"201st base\" OR taliban (digest, paused)" in text
