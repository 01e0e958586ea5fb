"""Fetch an item's article page and extract its main text, for feeds marked `full_text: true`.

`ArticleFetcher.full_text(url, allow_private=, feed_url=)` returns the page's
main text (at most `MAX_TEXT_CHARS`), or None on any failure, after logging
`article_fetch_failed` with `feed_url`, `url`, `kind` and a `reason` — the
caller then summarizes the feed's own summary, so a page that cannot be read
never holds up or loses an alert.

Fetching goes through the feeds' `AiohttpFetcher` (same sessions, SSRF
guard, redirect cap, per-host limits), asking for HTML and with a smaller
body cap. Only http(s) links are fetched: a link comes from feed content, so
`file://` and other schemes are refused here even though the fetcher reads
`file://` feeds for the operator. `timeout_s` bounds the fetch of one page,
including the wait for a free connection to its host.

Extraction (`extract_main_text`) runs trafilatura in the executor (a thread
by default; a process pool works too: the function is module-level). It is
offline and deterministic: no comments, tables, images or links, precision
over recall. trafilatura is imported inside the worker because its import
takes ~0.4 s.

Not here: deciding when to use the article (bot.pipeline.process), summarizing.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import Executor

import structlog

from bot.adapters.http import AiohttpFetcher
from bot.types import Feed, FetchFailed, Fetched

log = structlog.get_logger(__name__)

ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
MAX_TEXT_CHARS = 20_000
MIN_TEXT_CHARS = 80
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_UNTYPED = frozenset({"", "application/octet-stream"})
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_FALLBACK = ("The brief uses the feed's summary instead; if this happens for every item, "
             "set full_text: false on this feed.")


class ArticleFetcher:
    """Main text of article pages. See the module docstring."""

    def __init__(self, fetcher: AiohttpFetcher, *, executor: Executor | None = None,
                 max_body_bytes: int = 5 * 1024 * 1024, timeout_s: float = 20,
                 max_chars: int = MAX_TEXT_CHARS) -> None:
        self.fetcher, self.executor = fetcher, executor
        self.max_body_bytes, self.timeout_s, self.max_chars = max_body_bytes, timeout_s, max_chars

    async def full_text(self, url: str, *, allow_private: bool, feed_url: str) -> str | None:
        """The main text of the page at `url`, or None (logged) when it cannot be had."""
        start = time.monotonic()
        if not url.lower().startswith(("http://", "https://")):
            return _failed(feed_url, url, "bad_url", f"The article link {url[:200]!r} is not "
                           f"http(s); only web pages are fetched.")
        got = await self._fetch(url, allow_private)
        if isinstance(got, tuple):
            return _failed(feed_url, url, *got)
        problem = _not_html(got)
        if problem:
            return _failed(feed_url, url, "not_html", problem)
        try:
            text = await asyncio.get_running_loop().run_in_executor(
                self.executor, extract_main_text, got.body, got.final_url,
                _charset(got.content_type), self.max_chars)
        except Exception as exc:        # noqa: BLE001 - a page must never break a poll
            return _failed(feed_url, url, "extract", f"Extracting the text failed "
                           f"({type(exc).__name__}: {exc}).")
        if not text:
            return _failed(feed_url, url, "no_text", "No main text was found on the page "
                           "(a paywall, a script-only page or a page of links?).")
        log.info("article_fetched", feed_url=feed_url, url=url, chars=len(text),
                 elapsed_s=round(time.monotonic() - start, 3))
        return text

    async def _fetch(self, url: str, allow_private: bool) -> Fetched | tuple[str, str]:
        """The page, or (kind, reason) when it could not be fetched."""
        page = Feed(id=0, url=url, allow_private=allow_private)   # a throwaway: nothing is stored
        try:
            async with asyncio.timeout(self.timeout_s):
                got = await self.fetcher.fetch(page, accept=ACCEPT_HTML,
                                               max_body_bytes=self.max_body_bytes, log_failures=False)
        except TimeoutError:
            return "timeout", f"The page did not arrive within {self.timeout_s:g} s."
        if isinstance(got, FetchFailed):
            return got.kind, _reason(got, self.max_body_bytes)
        if not isinstance(got, Fetched):    # NotModified: impossible without validators
            return "http", f"Unexpected answer {type(got).__name__}."
        return got


def extract_main_text(html: bytes, url: str, charset: str | None = None,
                      max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """The article's main text, paragraphs separated by a blank line (at most `max_chars`), or None.

    Pure apart from the lazy import: no network, same output for the same input.
    `charset` is the one named by the Content-Type header, if any (see `decode_html`).
    """
    import trafilatura      # slow import, paid once per worker

    # Tables are left out: their cells are not sentences the summarizer could use.
    text = trafilatura.extract(
        decode_html(html, charset), url=url, output_format="txt", include_comments=False,
        favor_precision=True, include_tables=False, include_images=False, include_links=False,
        include_formatting=False, with_metadata=False, deduplicate=False)
    # One blank line between paragraphs: the sentence splitter treats that as a hard break,
    # so a heading without a full stop does not run into the first sentence.
    text = "\n\n".join(line.strip() for line in (text or "").splitlines() if line.strip())
    if len(text) < MIN_TEXT_CHARS:      # a menu or a cookie notice, not an article
        return None
    return clip_text(text, max_chars)


def decode_html(html: bytes, charset: str | None = None) -> str | bytes:
    """The page as text: UTF-8 when it decodes as such, else the charset of the Content-Type
    header; else the bytes, for trafilatura to decode (it honours a `<meta>` charset).

    trafilatura never sees the HTTP header, and its guess reads legacy single-byte pages
    wrongly (Turkish windows-1254 came out as "barajýnýn" for "barajının").
    """
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset:
        try:
            return html.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass            # an unknown or wrong name: let trafilatura guess
    return html


def clip_text(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, at a paragraph or sentence end when one is near."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    for sep in ("\n", ". ", "! ", "? ", "。"):
        cut = head.rfind(sep)
        if cut >= max_chars // 2:
            return head[:cut + len(sep)].rstrip()
    return head.rstrip()


# ---------------------------------------------------------------------- helpers


def _not_html(got: Fetched) -> str | None:
    """Why the page is not an HTML document, or None when it is."""
    ctype = (got.content_type or "").split(";", 1)[0].strip().lower()
    if ctype in _HTML_TYPES:
        return None
    if ctype in _UNTYPED and _looks_like_html(got.body):
        return None             # a server that does not say what it sends: look
    return f"The link serves {ctype or 'a document of no stated type'}, not an HTML page."


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith(b"<!doctype html") or b"<html" in head


def _charset(content_type: str | None) -> str | None:
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


def _reason(failed: FetchFailed, cap: int) -> str:
    """The fetcher's reasons speak of feeds; say what happened to the article page."""
    if failed.kind == "http" and failed.status:
        return f"The page answered HTTP {failed.status}."
    if failed.kind == "too_large":
        return f"The page is larger than the {cap:,}-byte limit for article pages."
    if failed.kind == "private_address":
        return ("The link points to a non-public address and the feed is not allow_private: "
                "refused before connecting.")
    return failed.reason


def _failed(feed_url: str, url: str, kind: str, reason: str) -> None:
    log.info("article_fetch_failed", feed_url=feed_url, url=url, kind=kind,
             reason=f"{reason} {_FALLBACK}")
    return None
