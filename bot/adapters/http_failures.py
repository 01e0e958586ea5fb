"""How a failed feed fetch is explained: the fetcher's error mapping and reason texts.

- `Refusal` is what the fetcher raises when it stops a fetch itself (address
  policy, size cap, redirects, bad URL); it already carries its kind and reason.
- `classify_failure` turns any exception raised while fetching (a `Refusal`,
  a `PrivateAddressError` from the resolver, aiohttp's, timeouts, file
  errors) into `(kind, reason, status, permanent)`: the fields of a
  `FetchFailed`. An exception that is not a feed's failure is re-raised (a bug).
- `http_reason`, `too_large_reason`, `private_reason` word what the user reads:
  what happened and what to do about it.

Does not: build the `FetchFailed`, log, or fetch anything (`bot.adapters.http`
does, and calls here from its one mapping place, `AiohttpFetcher._failure`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from bot.adapters.http_guard import PrivateAddressError, is_ip_literal


class Refusal(Exception):
    """A fetch we stop ourselves (policy, size, redirects); mapped in `classify_failure`."""

    def __init__(self, kind: str, reason: str, *, status: int | None = None,
                 permanent: bool = False) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.status, self.permanent = kind, reason, status, permanent


class FetchTimeouts(Protocol):
    """The timeouts a reason quotes (the fetcher's settings)."""

    connect_timeout_s: float
    read_timeout_s: float
    total_timeout_s: float


def classify_failure(exc: BaseException, url: str,
                     f: FetchTimeouts) -> tuple[str, str, int | None, bool]:
    """(kind, reason, status, permanent) for an exception raised while fetching `url`."""
    host = urlsplit(url).hostname or url
    if isinstance(exc, Refusal):
        return exc.kind, exc.reason, exc.status, exc.permanent
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, PrivateAddressError):
        return "private_address", private_reason(os_error.host, os_error.addresses), None, True
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


def private_reason(host: str, addresses: Iterable[str]) -> str:
    listed = ", ".join(addresses)
    what = (f"{host} is a non-public address" if is_ip_literal(host)
            else f"{host} resolves only to non-public addresses ({listed})")
    return (f"Refused: {what} (private, loopback, link-local or reserved). If this operator "
            f"feed really lives on your network, set allow_private: true on it in the feed list.")


def too_large_reason(cap: int, what: str) -> str:
    return (f"The feed is larger than the {cap:,}-byte limit (the server {what}); the download "
            f"was stopped. Raise fetch.max_body_bytes if this feed is legitimately that big.")


def http_reason(status: int, retry_after: float | None) -> str:
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
