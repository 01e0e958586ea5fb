"""A local feed server for tests, end-to-end runs and benchmarks (aiohttp, 127.0.0.1).

Serves `feeds` generated RSS 2.0 feeds at /feeds/{n}.xml, n = 0 .. feeds-1,
each showing its newest `items` items. Content is deterministic (invented
text; item k of feed n is always the same), bodies are rendered once per
version and cached. `advance(n)` publishes new items: the body, ETag and
Last-Modified change. If-None-Match / If-Modified-Since are honoured (304).

Scripted routes for tests (URL builders on the class):
  /redirect/{hops}?to=URL         a chain of `hops` redirects (relative Locations),
                                  the last to URL (default /feeds/0.xml)
  /slow/headers?delay=S           wait S seconds, then answer a small feed
  /slow/body?delay=S&chunks=K     headers at once, then K chunks S seconds apart
  /big?size=N&length=1|0&encoding=gzip   N bytes, with or without Content-Length;
                                  with encoding, N decoded bytes sent compressed
  /enc/{gzip|deflate|br}/{n}.xml  feed n, compressed
  /status/{code}?retry_after=V    that status (Retry-After: V when given)
Every route takes repeated `h=Name:value` query parameters, added as response
headers (e.g. Cache-Control) unless the route streams. The server records
requests (count, per path, per Host header, per local address connected to,
last headers) and the peak number in flight, overall and per Host.

Two switches for benchmarks and tests (attributes too, switchable while serving),
both for the /feeds/ and /enc/ routes:
  conditional=False   no ETag/Last-Modified, never 304: every answer is the
                      full, byte-identical document
  churn=True          every answer carries a fresh <lastBuildDate> (the bytes
                      change, the items do not); implies conditional=False

Run as a process for benchmarks (prints the port on the first line):
    python -m tests.support.feedserver --feeds 1000 --items 50 --port 0 [--churn | --no-conditional]

Not a general web server: no TLS, no HTTP/2, plain RSS 2.0 only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gzip
import signal
import socket
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

import brotli
from aiohttp import web

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# Invented sentences; a few mention watchlist-style terms so matching has something to find.
SENTENCES = (
    "Officials in the capital announced a new plan for regional water sharing.",
    "A border crossing reopened after a week of talks between the two governments.",
    "The CSTO held a command-staff exercise near Dushanbe on Tuesday.",
    "Local traders said prices for flour rose for the third month in a row.",
    "Taliban representatives met a delegation to discuss transit routes.",
    "Engineers inspected a hydropower dam ahead of the spring floods.",
    "Russia's 201st military base hosted a joint drill with Tajik units.",
    "A regional airline added two weekly flights to the mountain provinces.",
    "Teachers in several districts received new textbooks this autumn.",
    "Analysts expect the harvest to be smaller than last year's.",
    "A new road tunnel shortened the trip between two valleys by an hour.",
    "The ministry published draft rules for small businesses.",
)


@dataclass(frozen=True, slots=True)
class _Version:
    total: int
    body: bytes
    etag: str
    last_modified: str
    modified_at: datetime
    split: int              # where a churned <lastBuildDate> goes (end of the channel head)


class FeedServer:
    """See the module docstring. Use `async with FeedServer(...) as srv:`."""

    def __init__(self, feeds: int = 10, items: int = 20, *, host: str = "127.0.0.1",
                 port: int = 0, extra_hosts: Sequence[str] = (), spacing_s: int = 3600,
                 sentences_per_item: int = 3, ttl_min: int | None = None,
                 conditional: bool = True, churn: bool = False) -> None:
        self.feeds, self.items = feeds, items
        self.conditional, self.churn = conditional, churn     # churn implies no validators
        self._churned = 0
        self.host, self.port, self.extra_hosts = host, port, tuple(extra_hosts)
        self.spacing_s, self.sentences_per_item, self.ttl_min = spacing_s, sentences_per_item, ttl_min
        self._totals = [items] * feeds
        self._versions: dict[int, _Version] = {}
        self._encoded: dict[tuple[int, int, str], bytes] = {}
        self._runner: web.ServerRunner | None = None
        self.reset_stats()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FeedServer:
        # Handlers stop when their client goes away, so aborted slow routes end at once.
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for extra in self.extra_hosts:
            await web.TCPSite(self._runner, extra, self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ URLs

    def base(self, host: str | None = None) -> str:
        h = host or self.host
        return f"http://{'[' + h + ']' if ':' in h else h}:{self.port}"

    def url(self, n: int, *, host: str | None = None) -> str:
        return f"{self.base(host)}/feeds/{n}.xml"

    def redirect_url(self, hops: int, to: str | None = None, *, host: str | None = None) -> str:
        query = f"?to={quote(to, safe='')}" if to else ""
        return f"{self.base(host)}/redirect/{hops}{query}"

    def slow_url(self, delay_s: float, *, chunks: int = 0, host: str | None = None) -> str:
        if chunks:
            return f"{self.base(host)}/slow/body?delay={delay_s}&chunks={chunks}"
        return f"{self.base(host)}/slow/headers?delay={delay_s}"

    def big_url(self, size: int, *, length: bool = True, encoding: str | None = None) -> str:
        enc = f"&encoding={encoding}" if encoding else ""
        return f"{self.base()}/big?size={size}&length={int(length)}{enc}"

    def encoded_url(self, n: int, encoding: str) -> str:
        return f"{self.base()}/enc/{encoding}/{n}.xml"

    def status_url(self, code: int, *, retry_after: str | int | None = None) -> str:
        query = f"?retry_after={quote(str(retry_after))}" if retry_after is not None else ""
        return f"{self.base()}/status/{code}{query}"

    # ------------------------------------------------------------------ content

    def advance(self, n: int | None = None, count: int = 1) -> None:
        """Publish `count` new items on feed n (every feed when n is None)."""
        for i in range(self.feeds) if n is None else (n,):
            self._totals[i] += count
            self._versions.pop(i, None)

    def body(self, n: int) -> bytes:
        return self._version(n).body

    def etag(self, n: int) -> str:
        return self._version(n).etag

    def last_modified(self, n: int) -> str:
        return self._version(n).last_modified

    def item_dates(self, n: int) -> list[datetime]:
        total = self._totals[n]
        return [self._published(k) for k in range(max(0, total - self.items), total)]

    def _published(self, k: int) -> datetime:
        return EPOCH + timedelta(seconds=k * self.spacing_s)

    def _version(self, n: int) -> _Version:
        version = self._versions.get(n)
        if version is None:
            total = self._totals[n]
            newest = self._published(total - 1)
            body, split = self._render(n, total)
            version = self._versions[n] = _Version(
                total=total, body=body, etag=f'"f{n}-v{total}"',
                last_modified=format_datetime(newest, usegmt=True), modified_at=newest, split=split)
        return version

    def _render(self, n: int, total: int) -> tuple[bytes, int]:
        ttl = f"<ttl>{self.ttl_min}</ttl>" if self.ttl_min else ""
        head = (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                f"<title>Test feed {n}</title><link>https://news.example/{n}/</link>"
                f"<description>Generated feed {n} for newsbot tests</description>{ttl}").encode()
        items = [self._render_item(n, k) for k in range(total - 1, max(-1, total - 1 - self.items), -1)]
        return head + ("".join(items) + "</channel></rss>\n").encode(), len(head)

    def _churned_body(self, version: _Version) -> bytes:
        """The same document with a <lastBuildDate> that differs on every call."""
        self._churned += 1
        stamp = format_datetime(EPOCH + timedelta(seconds=self._churned), usegmt=True)
        return b"".join((version.body[:version.split], b"<lastBuildDate>", stamp.encode(),
                         b"</lastBuildDate>", version.body[version.split:]))

    def _render_item(self, n: int, k: int) -> str:
        text = " ".join(SENTENCES[(n * 31 + k * 7 + i) % len(SENTENCES)]
                        for i in range(self.sentences_per_item))
        headline = SENTENCES[(n + k) % len(SENTENCES)].rstrip(".")
        return (f"<item><title>Feed {n} story {k}: {escape(headline)}"
                f"</title><link>https://news.example/{n}/{k}</link>"
                f'<guid isPermaLink="false">feed-{n}-item-{k}</guid>'
                f"<pubDate>{format_datetime(self._published(k), usegmt=True)}</pubDate>"
                f"<description>{escape(text)}</description></item>")

    def _encoded_body(self, n: int, encoding: str) -> bytes:
        version = self._version(n)
        key = (n, version.total, encoding)
        if key not in self._encoded:
            self._encoded[key] = compress(version.body, encoding)
        return self._encoded[key]

    # ------------------------------------------------------------------ stats

    def reset_stats(self) -> None:
        self.requests = 0
        self.by_path: collections.Counter[str] = collections.Counter()
        self.by_host: collections.Counter[str] = collections.Counter()      # Host header
        self.by_address: collections.Counter[str] = collections.Counter()   # address connected to
        self.last_headers: dict[str, str] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._in_flight_host: collections.Counter[str] = collections.Counter()
        self.max_in_flight_by_host: dict[str, int] = {}

    def _enter(self, request: web.BaseRequest) -> str:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        self.requests += 1
        self.by_path[request.path] += 1
        self.by_host[host] += 1
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        self.by_address[sockname[0] if sockname else "?"] += 1
        self.last_headers = dict(request.headers)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        now = self._in_flight_host[host] = self._in_flight_host[host] + 1
        if now > self.max_in_flight_by_host.get(host, 0):
            self.max_in_flight_by_host[host] = now
        return host

    # ------------------------------------------------------------------ routes

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        host = self._enter(request)
        try:
            response = await self._route(request)
            for item in request.query.getall("h", ()) if not response.prepared else ():
                name, _, value = item.partition(":")
                response.headers[name.strip()] = value.strip()
            return response
        finally:
            self.in_flight -= 1
            self._in_flight_host[host] -= 1

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        kind = parts[0]
        if kind == "feeds" and len(parts) == 2:
            return self._feed(request, _feed_number(parts[1]))
        if kind == "redirect" and len(parts) == 2 and parts[1].isdigit():
            return self._redirect(request, int(parts[1]))
        if kind == "slow" and len(parts) == 2:
            return await self._slow(request, parts[1])
        if kind == "big":
            return await self._big(request)
        if kind == "enc" and len(parts) == 3:
            return self._feed(request, _feed_number(parts[2]), encoding=parts[1])
        if kind == "status" and len(parts) == 2 and parts[1].isdigit():
            return self._status(request, int(parts[1]))
        return web.Response(status=404, text="no such route\n")

    def _feed(self, request: web.BaseRequest, n: int, encoding: str | None = None) -> web.Response:
        if not 0 <= n < self.feeds:
            return web.Response(status=404, text="no such feed\n")
        v = self._version(n)
        if encoding and encoding not in ("gzip", "deflate", "br"):
            return web.Response(status=404, text="unknown encoding\n")
        conditional = self.conditional and not self.churn
        headers = {"ETag": v.etag, "Last-Modified": v.last_modified} if conditional else {}
        if conditional and _not_modified(request, v):
            return web.Response(status=304, headers=headers)
        if self.churn:
            body = self._churned_body(v)
            body = compress(body, encoding) if encoding else body
        else:
            body = self._encoded_body(n, encoding) if encoding else v.body
        if encoding:
            headers["Content-Encoding"] = encoding
        return web.Response(body=body, headers=headers, content_type="application/rss+xml")

    def _redirect(self, request: web.BaseRequest, hops: int) -> web.Response:
        to = request.query.get("to", "/feeds/0.xml")
        location = f"/redirect/{hops - 1}?to={quote(to, safe='')}" if hops > 1 else to
        return web.Response(status=302, headers={"Location": location})

    async def _slow(self, request: web.BaseRequest, phase: str) -> web.StreamResponse:
        delay = float(request.query.get("delay", "1"))
        if phase == "headers":
            await asyncio.sleep(delay)
            return web.Response(body=self.body(0), content_type="application/rss+xml")
        response = web.StreamResponse()
        response.content_type = "application/rss+xml"
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(int(request.query.get("chunks", "5"))):
                await asyncio.sleep(delay)
                await response.write(b"<!-- still coming -->\n")
            await response.write_eof()
        return response

    async def _big(self, request: web.BaseRequest) -> web.StreamResponse:
        size = int(request.query.get("size", "0"))
        encoding = request.query.get("encoding")
        if encoding:
            body = compress(b"\0" * size, encoding)
            return web.Response(body=body, headers={"Content-Encoding": encoding})
        response = web.StreamResponse()
        if request.query.get("length", "1") == "1":
            response.content_length = size
        await response.prepare(request)
        chunk = b"x" * 65536
        with contextlib.suppress(ConnectionError):
            sent = 0
            while sent < size:
                piece = chunk[: min(len(chunk), size - sent)]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
        return response

    def _status(self, request: web.BaseRequest, code: int) -> web.Response:
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        return web.Response(status=code, headers=headers, text=f"status {code}\n")


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        return brotli.compress(data)
    raise ValueError(f"unknown encoding {encoding!r}")


def _feed_number(name: str) -> int:
    stem = name.removesuffix(".xml")
    return int(stem) if stem.isdigit() else -1


def _not_modified(request: web.BaseRequest, version: _Version) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:     # RFC 9110: If-None-Match wins over If-Modified-Since
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or version.etag in tags
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            return version.modified_at <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


@contextlib.contextmanager
def black_hole(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on `host` where new connections hang (full accept queue): for connect timeouts.

    Yields the port. Nothing is ever accepted; everything is closed on exit.
    """
    listener = socket.socket()
    filler = socket.socket()
    try:
        listener.bind((host, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler.connect((host, port))       # fills the queue; later SYNs go unanswered
        yield port
    finally:
        filler.close()
        listener.close()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve generated RSS feeds on 127.0.0.1.")
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--sentences", type=int, default=3, help="sentences per item description")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--churn", action="store_true",
                      help="fresh <lastBuildDate> on every answer (same items), never 304")
    mode.add_argument("--no-conditional", dest="conditional", action="store_false",
                      help="no ETag/Last-Modified, never 304 (byte-identical answers)")
    args = ap.parse_args(argv)
    asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with FeedServer(args.feeds, args.items, host=args.host, port=args.port,
                          sentences_per_item=args.sentences, conditional=args.conditional,
                          churn=args.churn) as srv:
        print(srv.port, flush=True)
        await stop.wait()


if __name__ == "__main__":
    main()
