"""The address guard of the feed fetcher (SSRF): which IP addresses a feed may reach.

- `AddressPolicy` says whether one address counts as public (global, not
  private, loopback, link-local, multicast, reserved or unspecified; IPv4
  hidden inside IPv6 is refused). Operator-listed `allowed_networks` count as
  public too.
- `PublicOnlyResolver` wraps an aiohttp resolver, drops every non-public
  answer and raises `PrivateAddressError` when none is left, so a host name is
  checked at resolve time, before any connection.
- `is_ip_literal` tells an IP literal in a URL (checked directly by the
  fetcher) from a host name (checked by the resolver).

Does not: build sessions or connectors, decide which feeds are guarded
(`feed.allow_private`, in `bot.adapters.http`), or word the refusal a user
reads (`bot.adapters.http_failures`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult

_POLICY_CACHE_MAX = 4096        # verdicts kept before the cache starts over


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
            if len(self._cache) > _POLICY_CACHE_MAX:
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


class PublicOnlyResolver(AbstractResolver):
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


def is_ip_literal(host: str) -> bool:
    """True when `host` (from a URL) is an IP address rather than a name to resolve."""
    if not host:
        return False
    if ":" in host:
        return True
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return last.isdigit()       # all-numeric last label: an IPv4 literal, never a real TLD
