"""AiohttpFetcher over real HTTP on 127.0.0.1 (tests/support/feedserver.py).

Feeds that must reach the local server are marked allow_private=True; the
address-refusal tests use allow_private=False and check that nothing was
sent (refusal happens before any connection). The only traffic goes to
127.0.0.1 / 127.0.0.2.
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote

import pytest
from aiohttp.abc import AbstractResolver

import bot
from bot.adapters.http import AiohttpFetcher
from bot.types import Feed, FetchFailed, Fetched, NotModified
from tests.support.feedserver import FeedServer, black_hole


def local(url: str, **kw) -> Feed:
    return Feed(id=1, url=url, allow_private=kw.pop("allow_private", True), **kw)


@pytest.fixture
async def srv():
    async with FeedServer(feeds=4, items=10, extra_hosts=("127.0.0.2",)) as server:
        yield server


@pytest.fixture
async def fetcher():
    async with AiohttpFetcher() as f:
        yield f


# ---------------------------------------------------------------------- conditional GET


async def test_first_fetch_returns_the_document_and_its_validators(srv, fetcher):
    got = await fetcher.fetch(local(srv.url(1)))
    assert isinstance(got, Fetched)
    assert (got.status, got.body, got.final_url) == (200, srv.body(1), srv.url(1))
    assert (got.etag, got.last_modified) == (srv.etag(1), srv.last_modified(1))
    assert got.content_type and got.content_type.startswith("application/rss+xml")


@pytest.mark.parametrize("use_etag, use_last_modified", [(True, False), (False, True), (True, True)])
async def test_conditional_get_gives_304_until_the_feed_changes(srv, fetcher, use_etag,
                                                                use_last_modified):
    first = await fetcher.fetch(local(srv.url(0)))
    assert isinstance(first, Fetched)
    known = local(srv.url(0), etag=first.etag if use_etag else None,
                  last_modified=first.last_modified if use_last_modified else None)

    second = await fetcher.fetch(known)
    assert isinstance(second, NotModified)
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    sent = srv.last_headers
    assert ("If-None-Match" in sent) == use_etag
    assert ("If-Modified-Since" in sent) == use_last_modified

    srv.advance(0)
    third = await fetcher.fetch(known)
    assert isinstance(third, Fetched)
    assert third.body == srv.body(0) != first.body
    assert third.etag != first.etag


async def test_fetcher_works_without_a_context_manager_and_closes(srv):
    f = AiohttpFetcher()
    got = await f.fetch(local(srv.url(0)))
    await f.close()
    assert isinstance(got, Fetched) and got.body == srv.body(0)


@pytest.mark.parametrize("agent", [None, "test-agent/2.0 (+https://example.org/bot)"])
async def test_user_agent_is_sent(srv, agent):
    kwargs = {"user_agent": agent} if agent else {}
    async with AiohttpFetcher(**kwargs) as f:
        await f.fetch(local(srv.url(0)))
    assert srv.last_headers["User-Agent"] == (agent or bot.USER_AGENT)


@pytest.mark.parametrize("header, expected", [
    ("Cache-Control:public, max-age=600", 600.0),
    ("Cache-Control:no-cache", None),
    (None, None),
])
async def test_cache_control_max_age_is_reported(srv, fetcher, header, expected):
    url = srv.url(0) + (f"?h={quote(header)}" if header else "")
    got = await fetcher.fetch(local(url))
    assert isinstance(got, Fetched) and got.max_age_s == expected


async def test_expires_is_reported_relative_to_the_server_date(srv, fetcher):
    expires = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    got = await fetcher.fetch(local(srv.url(0) + f"?h={quote('Expires:' + expires)}"))
    assert isinstance(got, Fetched) and got.max_age_s is not None
    assert 298 <= got.max_age_s <= 301


# ---------------------------------------------------------------------- redirects


@pytest.mark.parametrize("hops", [1, 3, 5])
async def test_redirects_up_to_the_limit_are_followed(srv, fetcher, hops):
    got = await fetcher.fetch(local(srv.redirect_url(hops, srv.url(2))))
    assert isinstance(got, Fetched)
    assert got.final_url == srv.url(2) and got.body == srv.body(2)
    assert srv.requests == hops + 1


@pytest.mark.parametrize("limit, hops", [(5, 6), (0, 1), (2, 3)])
async def test_one_redirect_too_many_is_refused(srv, limit, hops):
    async with AiohttpFetcher(max_redirects=limit) as f:
        got = await f.fetch(local(srv.redirect_url(hops, srv.url(2))))
    assert isinstance(got, FetchFailed) and got.kind == "too_many_redirects"
    assert "final address" in got.reason
    assert srv.by_path["/feeds/2.xml"] == 0


async def test_redirect_to_a_non_http_scheme_is_refused(srv, fetcher):
    got = await fetcher.fetch(local(srv.redirect_url(1, "file:///etc/passwd")))
    assert isinstance(got, FetchFailed) and got.kind == "bad_url"


@pytest.mark.parametrize("target_host", ["127.0.0.1", "localhost"])
async def test_redirect_to_a_private_address_is_refused_before_connecting(srv, target_host):
    # 127.0.0.2 stands in for a public server; the redirect leads to loopback.
    async with AiohttpFetcher(allowed_networks=["127.0.0.2/32"]) as f:
        direct = await f.fetch(local(srv.url(0, host="127.0.0.2"), allow_private=False))
        assert isinstance(direct, Fetched)
        start = local(srv.redirect_url(1, srv.url(3, host=target_host), host="127.0.0.2"),
                      allow_private=False)
        refused = await f.fetch(start)
        allowed = await f.fetch(local(start.url, allow_private=True))
    assert isinstance(refused, FetchFailed) and refused.kind == "private_address"
    assert refused.permanent and "allow_private: true" in refused.reason
    assert isinstance(allowed, Fetched) and allowed.body == srv.body(3)
    assert srv.by_path["/feeds/3.xml"] == 1     # only the allow_private fetch got there


# ---------------------------------------------------------------------- addresses


@pytest.mark.parametrize("template", [
    "http://127.0.0.1:{port}/feeds/0.xml",
    "http://localhost:{port}/feeds/0.xml",
    "http://[::1]:{port}/feeds/0.xml",
    "http://[::ffff:127.0.0.1]:{port}/feeds/0.xml",
    "http://0.0.0.0:{port}/feeds/0.xml",
    "http://10.0.0.1/feed.xml",
    "http://192.168.1.1/feed.xml",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/feed.xml",
    "http://224.0.0.1/feed.xml",
    "http://[fe80::1]/feed.xml",
    "http://[fd00::1]/feed.xml",
])
async def test_non_public_addresses_are_refused_without_allow_private(srv, fetcher, template):
    got = await fetcher.fetch(local(template.format(port=srv.port), allow_private=False))
    assert isinstance(got, FetchFailed) and got.kind == "private_address"
    assert got.permanent and "allow_private: true" in got.reason
    assert srv.requests == 0


class MapResolver(AbstractResolver):
    """A DNS stand-in: every name resolves to the given addresses."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for a in self.addresses]

    async def close(self) -> None:
        pass


async def test_a_name_resolving_to_a_private_address_is_refused(srv):
    async with AiohttpFetcher(resolver=MapResolver(["10.0.0.7"])) as f:
        got = await f.fetch(Feed(id=1, url="http://feeds.example/rss.xml"))
    assert isinstance(got, FetchFailed) and got.kind == "private_address"
    assert "feeds.example" in got.reason and "10.0.0.7" in got.reason


async def test_only_the_checked_addresses_are_connected_to(srv):
    # The name resolves to two addresses; only 127.0.0.2 counts as public here.
    resolver = MapResolver(["127.0.0.1", "127.0.0.2"])
    async with AiohttpFetcher(resolver=resolver, allowed_networks=["127.0.0.2/32"]) as f:
        for _ in range(3):
            got = await f.fetch(Feed(id=1, url=f"http://feeds.example:{srv.port}/feeds/1.xml"))
            assert isinstance(got, Fetched) and got.body == srv.body(1)
    assert srv.by_address == {"127.0.0.2": 3}
    assert srv.by_host == {"feeds.example": 3}


class FailingResolver(MapResolver):
    """A DNS stand-in that knows no names."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("allow_private", [False, True])
async def test_unknown_host_name_is_a_dns_failure(allow_private):
    async with AiohttpFetcher(resolver=FailingResolver([])) as f:
        got = await f.fetch(Feed(id=1, url="http://feeds.example/rss.xml",
                                 allow_private=allow_private))
    assert isinstance(got, FetchFailed) and got.kind == "dns"
    assert "feeds.example could not be resolved" in got.reason


# ---------------------------------------------------------------------- size cap


@pytest.mark.parametrize("size, length, encoding, ok", [
    (200_000, True, None, False),       # Content-Length says too big: stopped at once
    (200_000, False, None, False),      # no length: stopped while streaming
    (2_000_000, True, "gzip", False),   # small on the wire, too big once decoded
    (100_000, True, None, True),        # exactly the cap is fine
    (100_000, False, None, True),
])
async def test_body_size_cap(srv, size, length, encoding, ok):
    async with AiohttpFetcher(max_body_bytes=100_000) as f:
        got = await f.fetch(local(srv.big_url(size, length=length, encoding=encoding)))
    if ok:
        assert isinstance(got, Fetched) and len(got.body) == size
    else:
        assert isinstance(got, FetchFailed) and got.kind == "too_large"
        assert "100,000-byte limit" in got.reason and "fetch.max_body_bytes" in got.reason


# ---------------------------------------------------------------------- timeouts


@pytest.fixture
async def impatient():
    async with AiohttpFetcher(connect_timeout_s=0.3, read_timeout_s=0.3,
                              total_timeout_s=1.0) as f:
        yield f


async def test_connect_timeout(impatient):
    with black_hole() as port:
        got = await impatient.fetch(local(f"http://127.0.0.1:{port}/feed.xml"))
    assert isinstance(got, FetchFailed) and got.kind == "timeout"
    assert "connect timeout" in got.reason
    assert got.elapsed_s < 1.0


@pytest.mark.parametrize("chunks", [0, 3])   # stalls before the headers / inside the body
async def test_read_timeout(srv, impatient, chunks):
    got = await impatient.fetch(local(srv.slow_url(1.5, chunks=chunks)))
    assert isinstance(got, FetchFailed) and got.kind == "timeout"
    assert "read timeout" in got.reason
    assert got.elapsed_s < 1.0


async def test_total_timeout_stops_a_trickling_server(srv, impatient):
    # Each gap (0.2 s) is under the read timeout; all of them together are not.
    got = await impatient.fetch(local(srv.slow_url(0.2, chunks=20)))
    assert isinstance(got, FetchFailed) and got.kind == "timeout"
    assert "total timeout" in got.reason
    assert 0.9 < got.elapsed_s < 1.5


async def test_a_slow_server_within_the_limits_is_fine(srv, impatient):
    got = await impatient.fetch(local(srv.slow_url(0.2)))
    assert isinstance(got, Fetched) and got.body == srv.body(0)


async def test_connection_refused_is_a_connect_failure(fetcher):
    with black_hole() as port:
        pass    # closed again: nothing listens on that port now
    got = await fetcher.fetch(local(f"http://127.0.0.1:{port}/feed.xml"))
    assert isinstance(got, FetchFailed) and got.kind == "connect"
    assert "Could not connect" in got.reason


# ---------------------------------------------------------------------- encodings


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_compressed_bodies_are_decoded(srv, fetcher, encoding):
    got = await fetcher.fetch(local(srv.encoded_url(2, encoding)))
    assert isinstance(got, Fetched) and got.body == srv.body(2)
    assert encoding in srv.last_headers["Accept-Encoding"]


# ---------------------------------------------------------------------- HTTP errors


def _in(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize("code, retry_after, permanent, expect_retry", [
    (404, None, True, None),
    (410, None, True, None),
    (500, None, False, None),
    (403, None, False, None),
    (429, "120", False, (120, 120)),
    (429, None, False, None),
    (503, "7", False, (7, 7)),
    (503, "date:90", False, (88, 91)),
    (429, "date:45", False, (43, 46)),
    (429, "soon", False, None),
])
async def test_http_errors(srv, fetcher, code, retry_after, permanent, expect_retry):
    if retry_after and retry_after.startswith("date:"):
        retry_after = _in(int(retry_after[5:]))
    got = await fetcher.fetch(local(srv.status_url(code, retry_after=retry_after)))
    assert isinstance(got, FetchFailed)
    assert (got.kind, got.status, got.permanent) == ("http", code, permanent)
    assert f"HTTP {code}" in got.reason
    if expect_retry is None:
        assert got.retry_after_s is None
    else:
        assert expect_retry[0] <= got.retry_after_s <= expect_retry[1]


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/feed.xml", "http:///feed.xml",
                                 "mailto:someone@example.com"])
async def test_bad_urls_are_reported_not_raised(fetcher, url):
    got = await fetcher.fetch(Feed(id=1, url=url))
    assert isinstance(got, FetchFailed) and got.kind == "bad_url"
    assert "feed list" in got.reason


# ---------------------------------------------------------------------- file://


async def test_file_feed_is_read_and_then_not_modified(tmp_path, fetcher):
    path = tmp_path / "local feed.xml"
    path.write_bytes(b"<rss><channel><title>one</title></channel></rss>")
    url = path.as_uri()

    first = await fetcher.fetch(Feed(id=1, url=url))
    assert isinstance(first, Fetched) and first.body == path.read_bytes()
    second = await fetcher.fetch(Feed(id=1, url=url, etag=first.etag))
    assert isinstance(second, NotModified)

    path.write_bytes(b"<rss><channel><title>two</title></channel></rss>")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))
    third = await fetcher.fetch(Feed(id=1, url=url, etag=first.etag))
    assert isinstance(third, Fetched) and b"two" in third.body


async def test_missing_file_feed_says_which_file(tmp_path, fetcher):
    missing = tmp_path / "nope.xml"
    got = await fetcher.fetch(Feed(id=1, url=missing.as_uri()))
    assert isinstance(got, FetchFailed) and got.kind == "file" and got.permanent
    assert str(missing) in got.reason


async def test_file_feed_over_the_cap_is_refused(tmp_path):
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 5000)
    async with AiohttpFetcher(max_body_bytes=4096) as f:
        got = await f.fetch(Feed(id=1, url=path.as_uri()))
    assert isinstance(got, FetchFailed) and got.kind == "too_large"


async def test_file_url_naming_another_host_is_refused(fetcher):
    got = await fetcher.fetch(Feed(id=1, url="file://fileserver/share/feed.xml"))
    assert isinstance(got, FetchFailed) and got.kind == "bad_url"


# ---------------------------------------------------------------------- concurrency


async def test_global_concurrency_limit_is_honoured(srv):
    async with AiohttpFetcher(max_concurrency=3, per_host_concurrency=50) as f:
        results = await asyncio.gather(*(f.fetch(local(srv.slow_url(0.05))) for _ in range(12)))
    assert all(isinstance(r, Fetched) for r in results)
    assert srv.max_in_flight == 3


async def test_per_host_limit_is_honoured_and_hosts_do_not_block_each_other(srv):
    async with AiohttpFetcher(max_concurrency=50, per_host_concurrency=2) as f:
        feeds = [local(srv.slow_url(0.05, host=h)) for h in ("127.0.0.1", "127.0.0.2")
                 for _ in range(8)]
        results = await asyncio.gather(*(f.fetch(feed) for feed in feeds))
    assert all(isinstance(r, Fetched) for r in results)
    assert srv.max_in_flight_by_host == {"127.0.0.1": 2, "127.0.0.2": 2}
    assert srv.max_in_flight == 4
