"""Fetch feeds over HTTP(S) with aiohttp, and local `file://` feeds.

`AiohttpFetcher.fetch(feed)` returns `Fetched`, `NotModified` or
`FetchFailed`; it never raises for a feed's own failure. It sends a
conditional GET (If-None-Match / If-Modified-Since), accepts gzip, deflate
and brotli, follows at most `max_redirects` redirects itself so each hop is
checked, caps the decoded body (Content-Length checked first, then counted
while streaming), and limits how many requests run at once, in total and
per host. All foreign errors become a `FetchFailed` in one place,
`_failure()`, with a reason that says what to do.

Addresses (SSRF). Unless `feed.allow_private`, a feed may only reach public
addresses. Two checks, both before any connection is made:
- an IP literal in the URL (every hop) is checked directly;
- host names are checked in the resolver: the connector used for these feeds
  resolves through `_PublicOnlyResolver`, which drops non-public addresses
  and refuses the host when none is left. The connector connects only to
  the addresses that resolver returned (and caches only those), so a DNS
  answer that changes between a check and the connect (rebinding) cannot
  slip a private address in. Feeds with `allow_private` use a second
  session whose resolver does not filter, so the two never share a DNS
  cache or pooled connections. No proxy is used (`trust_env=False`).

`file://` URLs are read from disk (in a thread, size-capped). Every feed in
the database comes from the operator's feed lists in this version (members
cannot add feeds), so `file://` is always allowed; a feed added by members
later must be refused `file://` by whoever adds it.

The same machinery fetches article pages for `full_text` feeds
(`bot.adapters.article`): `fetch` takes another Accept header, a smaller body
cap and a flag to leave failure logging to that caller.

Not here: parsing, scheduling (`bot.core.schedule`), storing validators.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

import bot
from bot.types import Feed, FetchFailed, Fetched, FetchResult, NotModified

log = structlog.get_logger(__name__)

ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOST_SLOTS = 10_000        # per-host limiter entries kept while idle


class _Refusal(Exception):
    """A fetch we stop ourselves (policy, size, redirects); mapped in `_failure`."""

    def __init__(self, kind: str, reason: str, *, status: int | None = None,
                 permanent: bool = False) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.status, self.permanent = kind, reason, status, permanent


class PrivateAddressError(OSError):
    """A host name resolved only to addresses a feed without allow_private may not reach."""

    def __init__(self, host: str, addresses: Iterable[str]) -> None:
        self.host, self.addresses = host, tuple(addresses)
        super().__init__(f"{host} resolves only to non-public addresses {', '.join(self.addresses)}")


class AddressPolicy:
    """Which IP addresses count as public. `allowed_networks` are treated as public too."""

    def __init__(self, allowed_networks: Iterable[str] = ()) -> None:
        self._allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        self._cache: dict[str, bool] = {}

    def is_public(self, address: str) -> bool:
        verdict = self._cache.get(address)
        if verdict is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            verdict = self._cache[address] = self._classify(address)
        return verdict

    def _classify(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if any(ip in net for net in self._allowed):
            return True
        if isinstance(ip, ipaddress.IPv6Address) and (
                ip.ipv4_mapped or ip.sixtofour or ip.teredo):
            return False        # an IPv4 address in IPv6 clothing: refuse rather than guess
        return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified
                                     or ip.is_loopback or ip.is_link_local or ip.is_private)


class _PublicOnlyResolver(AbstractResolver):
    """Resolves through `inner`, keeps only public addresses, refuses a host with none."""

    def __init__(self, inner: AbstractResolver, policy: AddressPolicy) -> None:
        self._inner, self._policy = inner, policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        infos = await self._inner.resolve(host, port, family)
        public = [i for i in infos if self._policy.is_public(i["host"])]
        if not public:
            raise PrivateAddressError(host, (i["host"] for i in infos))
        return public

    async def close(self) -> None:
        return None     # the fetcher closes the inner resolver


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
        except _Refusal as exc:
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
        self._public = self._session(_PublicOnlyResolver(self._resolver, self.policy))
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
        raise _Refusal("too_many_redirects",
                       f"The feed redirected more than {self.max_redirects} times (last to {url}). "
                       f"Open it in a browser and put the final address in the feed list.")

    def _check_literal(self, url: URL) -> None:
        host = url.host or ""
        if _is_ip_literal(host) and not self.policy.is_public(host):
            raise _Refusal("private_address", _private_reason(host, (host,)), permanent=True)

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
        return FetchFailed(url=feed.url, kind="http", reason=_http_reason(status, retry_after),
                           status=status, retry_after_s=retry_after,
                           permanent=status in (404, 410), elapsed_s=time.monotonic() - start)

    async def _read_capped(self, resp: aiohttp.ClientResponse, cap: int) -> bytes:
        length = resp.content_length
        if length is not None and length > cap:
            raise _Refusal("too_large", _too_large_reason(cap, f"announces {length:,} bytes"),
                           status=resp.status)
        if length is not None and "Content-Encoding" not in resp.headers:
            return await resp.read()
        chunks, total = [], 0
        async for chunk in resp.content.iter_any():     # decoded bytes, as they arrive
            total += len(chunk)
            if total > cap:
                raise _Refusal("too_large", _too_large_reason(cap, "sent more than that"),
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
        kind, reason, status, permanent = _classify(exc, feed.url, self)
        failed = FetchFailed(url=feed.url, kind=kind, reason=reason,  # type: ignore[arg-type]
                             status=status, permanent=permanent,
                             elapsed_s=time.monotonic() - start)
        if log_it:
            event = "feed_address_refused" if kind == "private_address" else "feed_fetch_failed"
            log.info(event, feed_url=feed.url, kind=kind, status=status, reason=reason)
        return failed


# ---------------------------------------------------------------------- error mapping


def _classify(exc: BaseException, url: str, f: AiohttpFetcher) -> tuple[str, str, int | None, bool]:
    """(kind, reason, status, permanent) for an exception raised while fetching `url`."""
    host = urlsplit(url).hostname or url
    if isinstance(exc, _Refusal):
        return exc.kind, exc.reason, exc.status, exc.permanent
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, PrivateAddressError):
        return "private_address", _private_reason(os_error.host, os_error.addresses), None, True
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ("dns", f"The host name {host} could not be resolved. Check the URL for typos; "
                f"if it worked before, the domain may have lapsed or DNS is down.", None, False)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ("tls", f"The TLS certificate of {host} is not valid ({exc.certificate_error}). "
                f"The site must fix it; newsbot will not skip the check.", None, False)
    if isinstance(exc, aiohttp.ClientSSLError):
        return ("tls", f"The TLS handshake with {host} failed ({exc}). The site's HTTPS setup is "
                f"broken or blocks us; check it in a browser.", None, False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ("timeout", f"Connecting to {host} took longer than {f.connect_timeout_s:g} s "
                f"(connect timeout). The server may be down or dropping us; newsbot retries "
                f"later. Raise fetch.connect_timeout only if the host is known to be slow.",
                None, False)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return ("timeout", f"{host} sent nothing for {f.read_timeout_s:g} s (read timeout). "
                f"The server is overloaded or stuck; newsbot retries later.", None, False)
    if isinstance(exc, TimeoutError):
        return ("timeout", f"Fetching from {host} took longer than {f.total_timeout_s:g} s in all "
                f"(total timeout): the server is very slow. Raise fetch.total_timeout if this "
                f"feed is known to be slow.", None, False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ("connect", f"Could not connect to {host} ({exc.strerror or exc}). The server may "
                f"be down or the port closed; newsbot retries later.", None, False)
    if isinstance(exc, (aiohttp.InvalidURL, ValueError, UnicodeError)):
        return ("bad_url", f"The address {url!r} is not a valid feed URL ({exc}). Fix it in "
                f"the feed list.", None, True)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ("http", f"{host} sent a malformed HTTP response ({exc.message}). The server is "
                f"misbehaving; if it persists, tell the site owner.", exc.status or None, False)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ("network", f"{host} broke off or garbled the body ({exc}). Usually temporary; "
                f"newsbot retries later.", None, False)
    if isinstance(exc, FileNotFoundError):
        return ("file", f"The local feed file {exc.filename} does not exist. Fix the file:// "
                f"path in the feed list or create the file.", None, True)
    if isinstance(exc, OSError) and exc.filename is not None:
        return ("file", f"The local feed file {exc.filename} could not be read "
                f"({exc.strerror}). Check the path and its permissions.", None, False)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return ("network", f"The connection to {host} failed ({type(exc).__name__}: {exc}). "
                f"Usually temporary; newsbot retries later.", None, False)
    raise exc      # a bug, not the feed's failure


def _private_reason(host: str, addresses: Iterable[str]) -> str:
    listed = ", ".join(addresses)
    what = (f"{host} is a non-public address" if _is_ip_literal(host)
            else f"{host} resolves only to non-public addresses ({listed})")
    return (f"Refused: {what} (private, loopback, link-local or reserved). If this operator "
            f"feed really lives on your network, set allow_private: true on it in the feed list.")


def _too_large_reason(cap: int, what: str) -> str:
    return (f"The feed is larger than the {cap:,}-byte limit (the server {what}); the download "
            f"was stopped. Raise fetch.max_body_bytes if this feed is legitimately that big.")


def _http_reason(status: int, retry_after: float | None) -> str:
    wait = f" It asked us to wait {retry_after:g} s, which newsbot will." if retry_after else ""
    if status == 404:
        return "The server says the feed does not exist (HTTP 404). Check the URL, or remove the feed."
    if status == 410:
        return "The server says the feed is gone for good (HTTP 410). Remove it from the feed list."
    if status in (401, 403):
        return (f"The server refused access (HTTP {status}). The feed may need a login or block "
                f"bots; open it in a browser, or remove it.")
    if status == 429:
        return (f"The server is rate-limiting us (HTTP 429).{wait} If it persists, raise this "
                f"feed's min_interval.")
    if status >= 500:
        return (f"The server failed (HTTP {status}).{wait} Usually temporary; newsbot retries "
                f"with backoff. If it persists, tell the site owner.")
    return f"Unexpected answer HTTP {status}. Open the feed URL in a browser to see what it serves."


# ---------------------------------------------------------------------- small helpers


def _http_url(raw: str) -> URL:
    try:
        url = URL(raw)
    except (ValueError, TypeError) as exc:
        raise _Refusal("bad_url", f"The address {raw!r} is not a valid URL ({exc}). Fix it in "
                       f"the feed list.", permanent=True) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise _Refusal("bad_url", f"The address {raw!r} is not an http(s):// or file:// URL. "
                       f"Fix it in the feed list.", permanent=True)
    return url


def _redirect_target(url: URL, resp: aiohttp.ClientResponse) -> URL:
    location = resp.headers.get("Location")
    if not location:
        raise _Refusal("http", f"The server answered HTTP {resp.status} (redirect) without a "
                       f"Location. It is misconfigured; tell the site owner.", status=resp.status)
    try:
        target = url.join(URL(location))
    except ValueError as exc:
        raise _Refusal("bad_url", f"The feed redirected to an invalid address {location!r}.",
                       status=resp.status) from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise _Refusal("bad_url", f"The feed redirected to {location!r}, which is not http(s). "
                       f"Refused; put a working address in the feed list.", status=resp.status)
    return target


def _is_ip_literal(host: str) -> bool:
    if not host:
        return False
    if ":" in host:
        return True
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return last.isdigit()       # all-numeric last label: an IPv4 literal, never a real TLD


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
        raise _Refusal("bad_url", f"file:// URLs must name a local file (file:///path), not host "
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
        raise _Refusal("too_large", _too_large_reason(cap, f"file {path} is bigger"))
    return body, tag, formatdate(st.st_mtime, usegmt=True)
