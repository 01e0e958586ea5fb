"""Fetch feeds over HTTP(S) with aiohttp, and local `file://` feeds.

`AiohttpFetcher.fetch(feed)` returns `Fetched`, `NotModified` or
`FetchFailed`; it never raises for a feed's own failure. It sends a
conditional GET (If-None-Match / If-Modified-Since), accepts gzip, deflate
and brotli, follows at most `max_redirects` redirects itself so each hop is
checked, caps the decoded body (Content-Length checked first, then counted
while streaming), and limits how many requests run at once, in total and
per host. All foreign errors become a `FetchFailed` in one place,
`_failure()`, with a reason that says what to do (the mapping and its texts:
`bot.adapters.http_failures`).

Addresses (SSRF). Unless `feed.allow_private`, a feed may only reach public
addresses, checked before any connection is made: an IP literal in the URL
(every hop) directly, a host name in the resolver. Those feeds go through a
session whose connector resolves via `PublicOnlyResolver` and connects only to
the addresses it returned (and caches only those), so a DNS answer that
changes between check and connect (rebinding) cannot slip a private address
in. Feeds with `allow_private` use a second session whose resolver does not
filter, so the two never share a DNS cache or pooled connections. No proxy is
used (`trust_env=False`). What counts as public: `bot.adapters.http_guard`.

`file://` URLs are read from disk (in a thread, size-capped). Every feed in
the database comes from the operator's feed lists in this version (members
cannot add feeds), so `file://` is always allowed; a feed added by members
later must be refused `file://` by whoever adds it.

The same machinery fetches article pages for `full_text` feeds
(`bot.adapters.article`): `fetch` takes another Accept header, a smaller body
cap and a flag to leave failure logging to that caller.

Not here: parsing, scheduling (`bot.core.schedule`), storing validators, the
address policy (`http_guard`), the wording of failures (`http_failures`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

import bot
from bot.adapters.http_failures import (Refusal, classify_failure, http_reason, private_reason,
                                        too_large_reason)
from bot.adapters.http_guard import (AddressPolicy, PrivateAddressError, PublicOnlyResolver,
                                     is_ip_literal)
from bot.types import Feed, FetchFailed, Fetched, FetchResult, NotModified

__all__ = ["ACCEPT", "AddressPolicy", "AiohttpFetcher", "PrivateAddressError"]

log = structlog.get_logger(__name__)

ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOST_SLOTS = 10_000        # per-host limiter entries kept while idle


@dataclass(frozen=True, slots=True)
class _CallOptions:
    """Per-call settings of `fetch` (see its docstring)."""

    accept: str
    max_body_bytes: int
    log_failures: bool


class _HostSlot:
    __slots__ = ("sem", "users")

    def __init__(self, limit: int) -> None:
        self.sem = asyncio.Semaphore(limit)
        self.users = 0


class AiohttpFetcher:
    """The `bot.ports.Fetcher` for http(s):// and file:// feeds. See the module docstring."""

    def __init__(self, *, user_agent: str = bot.USER_AGENT, connect_timeout_s: float = 10,
                 read_timeout_s: float = 30, total_timeout_s: float = 60,
                 max_body_bytes: int = 10 * 1024 * 1024, max_redirects: int = 5,
                 max_concurrency: int = 100, per_host_concurrency: int = 4,
                 resolver: AbstractResolver | None = None,
                 allowed_networks: Iterable[str] = ()) -> None:
        self.user_agent = user_agent
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_body_bytes, self.max_redirects = max_body_bytes, max_redirects
        self.per_host_concurrency = per_host_concurrency
        self.policy = AddressPolicy(allowed_networks)
        self._max_concurrency = max_concurrency
        self._resolver = resolver
        self._owns_resolver = resolver is None
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, _HostSlot] = {}
        self._public: aiohttp.ClientSession | None = None
        self._private: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpFetcher:
        self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        sessions, self._public, self._private = (self._public, self._private), None, None
        for session in sessions:
            if session is not None:
                await session.close()
        if self._resolver is not None and self._owns_resolver:
            await self._resolver.close()
            self._resolver = None

    async def fetch(self, feed: Feed, *, accept: str = ACCEPT, max_body_bytes: int | None = None,
                    log_failures: bool = True) -> FetchResult:
        """Fetch `feed.url`. The keywords serve other callers of the same machinery (article
        pages, bot.adapters.article): another Accept header, a smaller body cap (None: the
        fetcher's), and no `feed_fetch_failed` line when the caller logs the failure itself."""
        if feed.url.startswith("file:"):
            return await self._fetch_file(feed)
        start = time.monotonic()
        opts = _CallOptions(accept, max_body_bytes or self.max_body_bytes, log_failures)
        try:
            url = _http_url(feed.url)
        except Refusal as exc:
            return self._failure(exc, feed, start, log_it=opts.log_failures)
        if self._public is None:
            self._open()
        slot = self._host_slot(url.host or "")
        slot.users += 1
        try:
            async with slot.sem, self._global:      # type: ignore[union-attr]
                start = time.monotonic()            # queueing is not the server's fault
                try:
                    async with asyncio.timeout(self.total_timeout_s):
                        return await self._get(feed, url, start, opts)
                except Exception as exc:            # noqa: BLE001 - mapped in one place
                    return self._failure(exc, feed, start, log_it=opts.log_failures)
        finally:
            slot.users -= 1
            if not slot.users and len(self._hosts) > _MAX_HOST_SLOTS:
                del self._hosts[url.host or ""]

    # ------------------------------------------------------------------ internals

    def _open(self) -> None:
        if self._public is not None:
            return
        self._global = asyncio.Semaphore(self._max_concurrency)
        if self._resolver is None:
            self._resolver = DefaultResolver()
        self._public = self._session(PublicOnlyResolver(self._resolver, self.policy))
        self._private = self._session(self._resolver)

    def _session(self, resolver: AbstractResolver) -> aiohttp.ClientSession:
        # Our semaphores bound concurrency, so the connector does not queue (limit=0).
        connector = aiohttp.TCPConnector(limit=0, resolver=resolver, ttl_dns_cache=60)
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout_s,
                                        sock_read=self.read_timeout_s)
        headers = {"User-Agent": self.user_agent, "Accept": ACCEPT,
                   "Accept-Encoding": "gzip, deflate, br"}
        return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers,
                                     cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                     auto_decompress=True)

    def _host_slot(self, host: str) -> _HostSlot:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = _HostSlot(self.per_host_concurrency)
        return slot

    async def _get(self, feed: Feed, url: URL, start: float, opts: _CallOptions) -> FetchResult:
        session = self._private if feed.allow_private else self._public
        assert session is not None
        headers = _conditional_headers(feed)
        if opts.accept != ACCEPT:
            headers = {**(headers or {}), "Accept": opts.accept}
        for _hop in range(self.max_redirects + 1):
            if not feed.allow_private:
                self._check_literal(url)
            async with session.get(url, headers=headers, allow_redirects=False) as resp:
                if resp.status in _REDIRECTS:
                    url = _redirect_target(url, resp)
                    continue
                return await self._answer(feed, url, resp, start, opts.max_body_bytes)
        raise Refusal("too_many_redirects",
                       f"The feed redirected more than {self.max_redirects} times (last to {url}). "
                       f"Open it in a browser and put the final address in the feed list.")

    def _check_literal(self, url: URL) -> None:
        host = url.host or ""
        if is_ip_literal(host) and not self.policy.is_public(host):
            raise Refusal("private_address", private_reason(host, (host,)), permanent=True)

    async def _answer(self, feed: Feed, url: URL, resp: aiohttp.ClientResponse,
                      start: float, cap: int) -> FetchResult:
        status, headers = resp.status, resp.headers
        if status == 304:
            return NotModified(url=feed.url, etag=headers.get("ETag") or feed.etag,
                               last_modified=headers.get("Last-Modified") or feed.last_modified,
                               max_age_s=_max_age(headers), elapsed_s=time.monotonic() - start)
        if 200 <= status < 300:
            body = await self._read_capped(resp, cap)
            return Fetched(url=feed.url, final_url=str(url), status=status, body=body,
                           content_type=headers.get("Content-Type"), etag=headers.get("ETag"),
                           last_modified=headers.get("Last-Modified"),
                           max_age_s=_max_age(headers), elapsed_s=time.monotonic() - start)
        retry_after = _retry_after(headers) if status in (429, 503) else None
        return FetchFailed(url=feed.url, kind="http", reason=http_reason(status, retry_after),
                           status=status, retry_after_s=retry_after,
                           permanent=status in (404, 410), elapsed_s=time.monotonic() - start)

    async def _read_capped(self, resp: aiohttp.ClientResponse, cap: int) -> bytes:
        length = resp.content_length
        if length is not None and length > cap:
            raise Refusal("too_large", too_large_reason(cap, f"announces {length:,} bytes"),
                           status=resp.status)
        if length is not None and "Content-Encoding" not in resp.headers:
            return await resp.read()
        chunks, total = [], 0
        async for chunk in resp.content.iter_any():     # decoded bytes, as they arrive
            total += len(chunk)
            if total > cap:
                raise Refusal("too_large", too_large_reason(cap, "sent more than that"),
                               status=resp.status)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _fetch_file(self, feed: Feed) -> FetchResult:
        start = time.monotonic()
        try:
            path = _file_path(feed.url)
            got = await asyncio.to_thread(_read_file, path, self.max_body_bytes, feed.etag)
        except Exception as exc:                    # noqa: BLE001 - mapped in one place
            return self._failure(exc, feed, start)
        elapsed = time.monotonic() - start
        if got is None:
            return NotModified(url=feed.url, etag=feed.etag, last_modified=feed.last_modified,
                               elapsed_s=elapsed)
        body, etag, mtime = got
        return Fetched(url=feed.url, final_url=feed.url, status=200, body=body, etag=etag,
                       last_modified=mtime, elapsed_s=elapsed)

    def _failure(self, exc: BaseException, feed: Feed, start: float, *,
                 log_it: bool = True) -> FetchFailed:
        """The one place where foreign errors become FetchFailed."""
        kind, reason, status, permanent = classify_failure(exc, feed.url, self)
        failed = FetchFailed(url=feed.url, kind=kind, reason=reason,  # type: ignore[arg-type]
                             status=status, permanent=permanent,
                             elapsed_s=time.monotonic() - start)
        if log_it:
            event = "feed_address_refused" if kind == "private_address" else "feed_fetch_failed"
            log.info(event, feed_url=feed.url, kind=kind, status=status, reason=reason)
        return failed


# ---------------------------------------------------------------------- small helpers


def _http_url(raw: str) -> URL:
    try:
        url = URL(raw)
    except (ValueError, TypeError) as exc:
        raise Refusal("bad_url", f"The address {raw!r} is not a valid URL ({exc}). Fix it in "
                       f"the feed list.", permanent=True) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise Refusal("bad_url", f"The address {raw!r} is not an http(s):// or file:// URL. "
                       f"Fix it in the feed list.", permanent=True)
    return url


def _redirect_target(url: URL, resp: aiohttp.ClientResponse) -> URL:
    location = resp.headers.get("Location")
    if not location:
        raise Refusal("http", f"The server answered HTTP {resp.status} (redirect) without a "
                       f"Location. It is misconfigured; tell the site owner.", status=resp.status)
    try:
        target = url.join(URL(location))
    except ValueError as exc:
        raise Refusal("bad_url", f"The feed redirected to an invalid address {location!r}.",
                       status=resp.status) from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise Refusal("bad_url", f"The feed redirected to {location!r}, which is not http(s). "
                       f"Refused; put a working address in the feed list.", status=resp.status)
    return target


def _conditional_headers(feed: Feed) -> dict[str, str] | None:
    if feed.etag is None and feed.last_modified is None:
        return None
    headers = {}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    return headers


def _max_age(headers: Any) -> float | None:
    """Seconds the server says the document stays fresh (Cache-Control max-age, else Expires)."""
    cc = headers.get("Cache-Control")
    if cc:
        for part in cc.split(","):
            name, _, value = part.strip().partition("=")
            if name.lower() == "max-age":
                try:
                    return max(float(value.strip().strip('"')), 0.0)
                except ValueError:
                    return None
    expires = headers.get("Expires")
    return _seconds_until(expires, headers.get("Date")) if expires else None


def _retry_after(headers: Any) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    return _seconds_until(value, headers.get("Date"))


def _seconds_until(http_date: str, date_header: str | None) -> float | None:
    """Seconds from the response's Date (else our clock) to `http_date`; None if unreadable."""
    try:
        when = parsedate_to_datetime(http_date).timestamp()
        now = parsedate_to_datetime(date_header).timestamp() if date_header else time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(when - now, 0.0)


def _file_path(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise Refusal("bad_url", f"file:// URLs must name a local file (file:///path), not host "
                       f"{parts.netloc!r}. Fix it in the feed list.", permanent=True)
    return url2pathname(parts.path)


def _read_file(path: str, cap: int, etag: str | None) -> tuple[bytes, str, str] | None:
    """(body, etag, mtime as HTTP-date), or None when the file's etag equals `etag`.

    The etag is the file's mtime in nanoseconds and its size: finer than the
    one-second resolution of an HTTP-date.
    """
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        tag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        if etag == tag:
            return None
        body = fh.read(cap + 1)
    if len(body) > cap:
        raise Refusal("too_large", too_large_reason(cap, f"file {path} is bigger"))
    return body, tag, formatdate(st.st_mtime, usegmt=True)
