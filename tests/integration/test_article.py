"""ArticleFetcher over real HTTP on 127.0.0.1: full text of article pages for `full_text` feeds.

A local aiohttp server serves an invented news page wrapped in navigation, an
ad, related links, reader comments and a footer, plus the ways a page goes
wrong (error status, too big, too slow, not HTML, no article, a legacy
charset). Pages the fetcher must reach are fetched with allow_private=True;
the address tests use allow_private=False and check that the server saw no
request. The only traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.adapters.article import ACCEPT_HTML, MAX_TEXT_CHARS, ArticleFetcher, extract_main_text
from bot.adapters.http import AiohttpFetcher
from bot.core.summarize import summarize
from bot.pipeline.process import StoryProcessor, article_texts
from bot.settings import StoriesSettings
from bot.types import Feed, FeedConfig, ItemData

FEED_URL = "https://valley-herald.example/rss"
TITLE = "Sangvor reservoir filling begins after delay"
PARAS = (
    "Engineers in the Zarafshan valley began filling the reservoir of the new Sangvor dam on "
    "Monday, three weeks later than planned because of a landslide that blocked the access road.",
    "The regional water authority said the reservoir would hold 410 million cubic metres when "
    "full, enough to irrigate about 38,000 hectares of cotton and wheat fields downstream.",
    "Farmers' associations in two neighbouring districts have warned that the filling schedule "
    "could leave their canals short of water during the hottest weeks of July.",
    "A spokesperson for the authority, Dilnoza Rahimova, said releases would be raised if river "
    "levels at the Panjrud gauge fell below the seasonal average for five days in a row.",
    "The project, financed by a consortium of three development banks, is expected to add 160 "
    "megawatts of generating capacity once its two turbines are commissioned next spring.",
    "Critics say the environmental review ignored snow leopard corridors in the upper valley, "
    "a charge the builders deny.",
)
# Boilerplate around the article: none of it may reach the brief.
NAV = ("Home", "Politics", "Economy", "Weather", "Subscribe to our newsletter")
AD = "Advertisement: discounted trekking gear at Peak Outfitters today"
RELATED = "Ten cheapest flights to Samarkand this summer"
COMMENT = "Comment by reader Azamat: this dam will never be finished on time, mark my words"
FOOTER = "Copyright 2024 Valley Herald Media Group. All rights reserved. Privacy policy"
BOILERPLATE = (*NAV[1:], AD, RELATED, COMMENT, FOOTER)
TURKISH = (
    "Yetkililer pazartesi günü Sangvor barajının rezervuarını doldurmaya başladıklarını "
    "açıkladı; çalışmalar heyelan nedeniyle üç hafta gecikti.",
    "Bölgesel su idaresi, rezervuarın dolduğunda 410 milyon metreküp su tutacağını ve yaklaşık "
    "otuz sekiz bin hektar tarlayı sulayacağını söyledi.",
)


def page(paras=PARAS, title=TITLE, meta: str = '<meta charset="utf-8">') -> str:
    nav = "".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in NAV)
    body = "\n".join(f"<p>{p}</p>" for p in paras)
    return f"""<!DOCTYPE html>
<html lang="en"><head>{meta}<title>{title} | Valley Herald</title></head>
<body>
<header><nav><ul>{nav}</ul></nav></header>
<div class="ad-banner" id="ad-top"><a href="https://ads.example/peak">{AD}</a></div>
<main><article>
<h1>{title}</h1>
<p class="byline">By Staff Reporter, 14 May 2024</p>
{body}
</article>
<aside class="related"><h3>Related</h3><ul><li><a href="/flights">{RELATED}</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments (1)</h3>
<div class="comment"><p>{COMMENT}</p></div></section>
</main>
<footer><p>{FOOTER}</p></footer>
</body></html>"""


NAV_ONLY = f"<!DOCTYPE html><html><body><nav>{' | '.join(NAV)}</nav></body></html>"
LONG_PARAS = tuple(f"Paragraph {i}: {PARAS[i % len(PARAS)]}" for i in range(150))   # ~29,000 chars


class ArticleServer:
    """Article pages and broken pages on 127.0.0.1; counts requests per path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.accept: str | None = None
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                    shutdown_timeout=0.5)
        self.port = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    @property
    def requests(self) -> int:
        return sum(self.hits.values())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        self.accept = request.headers.get("Accept")
        html = "text/html; charset=utf-8"
        routes = {
            "article": lambda: web.Response(text=page(), content_type="text/html"),
            "teaser": lambda: web.Response(text=page(PARAS[:1]), content_type="text/html"),
            "long": lambda: web.Response(text=page(LONG_PARAS), content_type="text/html"),
            "nav-only": lambda: web.Response(text=NAV_ONLY, content_type="text/html"),
            "untyped": lambda: web.Response(body=page().encode()),     # application/octet-stream
            "tr-header": lambda: web.Response(body=page(TURKISH, meta="").encode("cp1254"),
                                              headers={"Content-Type": "text/html; charset=windows-1254"}),
            "tr-meta": lambda: web.Response(
                body=page(TURKISH, meta='<meta http-equiv="Content-Type" content="text/html; '
                                        'charset=windows-1254">').encode("cp1254"),
                headers={"Content-Type": "text/html"}),
            "pdf": lambda: web.Response(body=b"%PDF-1.4\n" + page().encode(), content_type="application/pdf"),
            "json": lambda: web.json_response({"title": TITLE, "body": " ".join(PARAS)}),
            "plain": lambda: web.Response(text="\n\n".join(PARAS), content_type="text/plain"),
            "moved": lambda: web.HTTPFound(location="/article"),
            "gone": lambda: web.Response(status=404, text="Not found"),
            "broken": lambda: web.Response(status=500, text="Internal error"),
            "big": lambda: web.Response(body=page(LONG_PARAS * 3).encode(), headers={"Content-Type": html}),
        }
        if name == "slow":
            await asyncio.sleep(5)
        if name == "big-stream":      # no Content-Length: the cap must stop it while streaming
            resp = web.StreamResponse(headers={"Content-Type": html})
            await resp.prepare(request)
            for _ in range(40):
                await resp.write(b"<p>" + PARAS[0].encode() * 10 + b"</p>\n")
            await resp.write_eof()
            return resp
        make = routes.get(name, routes["article"])
        resp = make()
        if isinstance(resp, web.HTTPException):
            raise resp
        return resp

    async def __aenter__(self) -> ArticleServer:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def srv():
    async with ArticleServer() as server:
        yield server


@pytest.fixture
async def fetcher():
    async with AiohttpFetcher() as f:
        yield f


@pytest.fixture
def articles(fetcher):
    return ArticleFetcher(fetcher, max_body_bytes=60_000, timeout_s=2)


def failures(logs: list[dict]) -> list[dict]:
    return [e for e in logs if e["event"] == "article_fetch_failed"]


# ---------------------------------------------------------------------- the article


async def test_full_text_is_the_article_body_without_boilerplate(srv, articles):
    text = await articles.full_text(srv.url("article"), allow_private=True, feed_url=FEED_URL)

    assert text is not None
    for para in PARAS:
        assert para in text
    assert text.index(PARAS[0]) < text.index(PARAS[-1])
    for junk in BOILERPLATE:
        assert junk not in text, junk
    assert "\n\n".join(PARAS) in text          # paragraphs kept apart for the sentence splitter
    assert srv.accept == ACCEPT_HTML


@pytest.mark.parametrize("path", ["moved", "untyped"])
async def test_redirects_are_followed_and_untyped_html_is_recognised(srv, articles, path):
    text = await articles.full_text(srv.url(path), allow_private=True, feed_url=FEED_URL)
    assert text is not None and PARAS[2] in text and COMMENT not in text


@pytest.mark.parametrize("path", ["tr-header", "tr-meta"])
async def test_a_declared_legacy_charset_is_honoured(srv, articles, path):
    text = await articles.full_text(srv.url(path), allow_private=True, feed_url=FEED_URL)
    assert text is not None
    assert TURKISH[0] in text and "barajının" in text


async def test_long_articles_are_clipped_at_a_paragraph_end(srv, fetcher):
    big_enough = ArticleFetcher(fetcher, timeout_s=5)
    text = await big_enough.full_text(srv.url("long"), allow_private=True, feed_url=FEED_URL)
    assert text is not None
    assert MAX_TEXT_CHARS - 1000 < len(text) <= MAX_TEXT_CHARS
    assert LONG_PARAS[0] in text and LONG_PARAS[-1] not in text
    assert text.split("\n\n")[-1] in LONG_PARAS      # the last paragraph is whole


# ---------------------------------------------------------------------- failures → None


@pytest.mark.parametrize("path, kind, words", [
    ("gone", "http", "HTTP 404"),
    ("broken", "http", "HTTP 500"),
    ("big", "too_large", "60,000-byte limit"),
    ("big-stream", "too_large", "60,000-byte limit"),
    ("slow", "timeout", "within 0.5 s"),
    ("pdf", "not_html", "application/pdf"),
    ("json", "not_html", "application/json"),
    ("plain", "not_html", "text/plain"),
    ("nav-only", "no_text", "No main text"),
])
async def test_a_page_that_cannot_be_used_gives_none_and_one_log_line(srv, fetcher, path, kind, words):
    articles = ArticleFetcher(fetcher, max_body_bytes=60_000, timeout_s=0.5)
    url = srv.url(path)
    with capture_logs() as logs:
        text = await articles.full_text(url, allow_private=True, feed_url=FEED_URL)

    assert text is None
    [line] = failures(logs)
    assert (line["feed_url"], line["url"], line["kind"]) == (FEED_URL, url, kind)
    assert words in line["reason"] and "full_text: false" in line["reason"]
    assert not [e for e in logs if e["event"].startswith("feed_")]   # not reported as a feed failure
    assert srv.hits[path] == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_addresses_are_refused_before_connecting(srv, articles, host):
    url = srv.url("article", host=host)
    with capture_logs() as logs:
        text = await articles.full_text(url, allow_private=False, feed_url=FEED_URL)

    assert text is None
    [line] = failures(logs)
    assert line["kind"] == "private_address" and "allow_private" in line["reason"]
    assert srv.requests == 0
    # The same page is read when the feed is allowed private addresses: the flag decided.
    assert await articles.full_text(url, allow_private=True, feed_url=FEED_URL)


@pytest.mark.parametrize("make_url", [
    lambda tmp: (tmp / "a.html").as_uri(),
    lambda tmp: "ftp://127.0.0.1/a.html",
    lambda tmp: "javascript:alert(1)",
    lambda tmp: "",
])
async def test_links_that_are_not_http_are_never_opened(srv, articles, tmp_path, make_url):
    (tmp_path / "a.html").write_text(page())       # a local file an item link must not read
    url = make_url(tmp_path)
    with capture_logs() as logs:
        text = await articles.full_text(url, allow_private=True, feed_url=FEED_URL)
    assert text is None
    assert [e["kind"] for e in failures(logs)] == ["bad_url"]


# ---------------------------------------------------------------------- extraction


async def test_extraction_runs_in_a_process_pool_and_is_deterministic(srv, fetcher):
    with ProcessPoolExecutor(max_workers=1) as pool:
        articles = ArticleFetcher(fetcher, executor=pool, timeout_s=5)
        first = await articles.full_text(srv.url("article"), allow_private=True, feed_url=FEED_URL)
    assert first is not None and PARAS[3] in first
    assert extract_main_text(page().encode(), srv.url("article")) == first


@pytest.mark.parametrize("body", [b"", b"\x00\xff\xfe not html at all", b"<html><body></body></html>",
                                  b"<html><body><p>" + b"<div>" * 5000 + b"</p></body></html>"])
def test_extract_main_text_gives_none_for_pages_without_an_article(body):
    assert extract_main_text(body, "https://valley-herald.example/a") is None


# ---------------------------------------------------------------------- into the brief


def item(key: str, link: str | None, summary: str = "Reservoir filling has started.") -> ItemData:
    return ItemData(key=key, title=TITLE, summary=summary, link=link)


async def test_a_full_text_feed_is_summarized_from_its_article_pages(srv, articles):
    feed = Feed(id=7, url=FEED_URL, full_text=True, allow_private=True)
    items = [item("a", srv.url("article")), item("b", srv.url("gone")), item("c", None),
             item("d", srv.url("teaser"), summary=" ".join(PARAS[:3]))]

    texts = await article_texts(articles, feed, items)

    assert PARAS[4] in texts[0] and FOOTER not in texts[0]
    assert texts[1:] == [items[1].summary, items[2].summary, items[3].summary]  # failed, no link, shorter page
    brief = summarize(title=TITLE, text=texts[0], link=items[0].link)
    teaser_brief = summarize(title=TITLE, text=items[0].summary, link=items[0].link)
    assert brief.lede == PARAS[0]
    assert brief.go_deeper and set(brief.go_deeper) <= set(PARAS[1:])
    assert not set(brief.why_it_matters + brief.go_deeper) & set(BOILERPLATE)
    assert (teaser_brief.lede, teaser_brief.go_deeper) == (items[0].summary, ())


@pytest.mark.parametrize("full_text, with_articles", [(False, True), (True, False)])
async def test_other_feeds_never_fetch_pages(srv, articles, full_text, with_articles):
    feed = Feed(id=7, url=FEED_URL, full_text=full_text, allow_private=True)
    items = [item("a", srv.url("article"))]
    texts = await article_texts(articles if with_articles else None, feed, items)
    assert texts == [items[0].summary]
    assert srv.requests == 0


# ---------------------------------------------------------------------- the pipeline, storage-backed

NOW = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
TEASER = "Filling of the reservoir has started, the water authority said on Monday."


@pytest.mark.parametrize("full_text", [True, False])
async def test_prepare_and_process_put_the_article_brief_in_the_outbox(srv, articles, storage, tmp_path,
                                                                       full_text):
    from bot.pipeline.rules import RuleBook
    await storage.sync_feeds([FeedConfig(url=FEED_URL, full_text=full_text, allow_private=True)],
                             source="config", now=NOW)
    [feed] = await storage.list_feeds()
    async with storage.begin() as tx:
        await tx.add_subscription(platform="console", address="stdout", watchlist=None,
                                  query="Sangvor", now=NOW)
    rules = RuleBook(tmp_path, storage)          # no watchlist files: the member's query only
    await rules.subscriptions_changed()
    processor = StoryProcessor(rules, stories=StoriesSettings(), articles=articles)
    items = [item("a", srv.url("article"), summary=TEASER),
             ItemData(key="b", title="Ski season opens in the north", summary=TEASER,
                      link=srv.url("article"))]       # does not match: its page is never fetched

    prepared = await processor.prepare(feed, items, {})
    async with storage.begin() as tx:
        new, updated = await tx.store_items(feed.id, items, now=NOW)
        await processor.process(tx, feed, new, updated, NOW, prepared)
        [row] = await tx.claim_outbox(now=NOW, owner="t", lease_s=60, limit=10)

    brief = row["payload"]["brief"]
    assert list(prepared) == ["a"]
    if full_text:
        assert srv.hits == {"article": 1}
        assert brief["lede"] == PARAS[0]
        assert brief["go_deeper"] and set(brief["go_deeper"]) <= set(PARAS[1:])
    else:
        assert srv.requests == 0
        assert (brief["lede"], brief["go_deeper"]) == (TEASER, [])
    assert brief["headline"] == TITLE and brief["link"] == srv.url("article")
