"""``http.connect_to``: send a ``host:port`` elsewhere, like curl's ``--connect-to``.

``{"api.spacevision.app:443": "127.0.0.1:8443"}`` makes every connection to
``api.spacevision.app`` port 443 go to ``127.0.0.1:8443`` while the URL, the ``Host`` header
and the TLS server name stay those of the site, so a check exercises the real request a user's
browser would send, only to another machine (a staging edge, a local simulator in tests and
the demo). Names and ports without an entry are resolved as usual.

Keys are ``host:port`` or ``host:`` (any port); values ``address:port`` or ``address:`` (keep
the port). IPv6 addresses go in brackets (``[::1]:8443``). The target may itself be a name; it
is resolved by the default resolver. A URL whose host is an IP literal is never resolved by
aiohttp, so it cannot be redirected.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class ConnectToError(ValueError):
    """A ``connect_to`` entry that cannot be understood (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host and an optional port (``None``: any port as a key, the same port as a target)."""

    host: str
    port: int | None


def _split(text: str, what: str) -> Endpoint:
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ConnectToError(f"{what} {text!r}: missing ']' after the IPv6 address")
        host, rest = text[1:close], text[close + 1 :]
        if not rest.startswith(":"):
            raise ConnectToError(f"{what} {text!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ConnectToError(
                f"{what} {text!r}: expected HOST:PORT (or HOST: for any port), "
                "for example api.example.com:443"
            )
    if not host:
        raise ConnectToError(f"{what} {text!r}: the host is empty")
    if not port_text:
        return Endpoint(host.rstrip(".").lower(), None)
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ConnectToError(f"{what} {text!r}: the port must be a number from 1 to 65535")
    return Endpoint(host.rstrip(".").lower(), int(port_text))


def parse_connect_to(mapping: Mapping[str, str]) -> dict[Endpoint, Endpoint]:
    """Parse ``connect_to`` entries; raise :class:`ConnectToError` naming the first bad one."""
    parsed: dict[Endpoint, Endpoint] = {}
    for key, value in mapping.items():
        source = _split(key, "connect_to key")
        target = _split(value, f"connect_to[{key!r}]")
        parsed[source] = target
    return parsed


def route(table: Mapping[Endpoint, Endpoint], host: str, port: int) -> Endpoint | None:
    """Where a connection to ``host:port`` goes instead (``None``: nowhere else).

    An exact ``host:port`` entry wins over a ``host:`` (any port) entry.
    """
    name = host.rstrip(".").lower()
    target = table.get(Endpoint(name, port)) or table.get(Endpoint(name, None))
    if target is None:
        return None
    return Endpoint(target.host, port if target.port is None else target.port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ConnectToResolver(AbstractResolver):
    """An aiohttp resolver applying a ``connect_to`` table in front of another resolver."""

    def __init__(self, table: Mapping[Endpoint, Endpoint], fallback: AbstractResolver) -> None:
        self._table = dict(table)
        self._fallback = fallback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses to connect to for ``host:port`` (the mapped ones when listed)."""
        target = route(self._table, host, port)
        if target is None:
            return await self._fallback.resolve(host, port, family)
        assert target.port is not None
        if _is_ip(target.host):
            ip = ipaddress.ip_address(target.host)
            af = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            return [
                ResolveResult(
                    hostname=host,
                    host=target.host,
                    port=target.port,
                    family=af,
                    proto=0,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            ]
        resolved = await self._fallback.resolve(target.host, target.port, family)
        return [
            ResolveResult(
                hostname=host,
                host=r["host"],
                port=r["port"],
                family=r["family"],
                proto=r["proto"],
                flags=r["flags"],
            )
            for r in resolved
        ]

    async def close(self) -> None:
        """Release the fallback resolver."""
        await self._fallback.close()


def connect_to_resolver(
    mapping: Mapping[str, str], fallback: AbstractResolver | None = None
) -> AbstractResolver:
    """An aiohttp resolver with curl ``--connect-to`` semantics for ``mapping``.

    Call it inside the running event loop (aiohttp's default resolver binds to it). Raises
    :class:`ConnectToError` for an entry it cannot parse.
    """
    table = parse_connect_to(mapping)
    return ConnectToResolver(table, fallback if fallback is not None else DefaultResolver())
