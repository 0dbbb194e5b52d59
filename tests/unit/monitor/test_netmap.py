"""``http.connect_to``: parsing and routing (pure), and the resolver over a fake fallback."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.netmap import (
    ConnectToError,
    Endpoint,
    connect_to_resolver,
    parse_connect_to,
    route,
)


class RecordingResolver(AbstractResolver):
    """A fallback resolver that answers 192.0.2.7 for every name and records the questions."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Answer one fixed address."""
        self.asked.append((host, port))
        return [
            ResolveResult(
                hostname=host, host="192.0.2.7", port=port, family=family, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        """Remember being closed."""
        self.closed = True


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (
            {"api.spacevision.app:80": "127.0.0.1:8787"},
            {Endpoint("api.spacevision.app", 80): Endpoint("127.0.0.1", 8787)},
        ),
        (
            {"Example.COM.:443": "10.0.0.1:"},
            {Endpoint("example.com", 443): Endpoint("10.0.0.1", None)},
        ),
        ({"example.com:": "[::1]:8443"}, {Endpoint("example.com", None): Endpoint("::1", 8443)}),
    ],
)
def test_parse_connect_to_reads_host_port_pairs(
    mapping: dict[str, str], expected: dict[Endpoint, Endpoint]
) -> None:
    """Entries are read like curl's --connect-to: names lowercased, empty ports mean any/same."""
    assert expected == parse_connect_to(mapping)


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ({"example.com": "127.0.0.1:1"}, "expected HOST:PORT"),
        ({"example.com:http": "127.0.0.1:1"}, "port must be a number"),
        ({"example.com:80": "[::1:80"}, "missing ']'"),
        ({":80": "127.0.0.1:1"}, "host is empty"),
        ({"example.com:80": "127.0.0.1:70000"}, "port must be a number"),
    ],
)
def test_parse_connect_to_names_the_bad_entry(mapping: dict[str, str], fragment: str) -> None:
    """A malformed entry is an error saying which entry and what is wrong, not a silent skip."""
    with pytest.raises(ConnectToError, match=fragment):
        parse_connect_to(mapping)


def test_route_prefers_an_exact_port_over_any_port() -> None:
    """``host:443`` beats ``host:`` so one port can be sent elsewhere than the rest."""
    table = parse_connect_to({"a.test:": "10.0.0.1:", "a.test:443": "10.0.0.2:8443"})
    assert Endpoint("10.0.0.2", 8443) == route(table, "a.test", 443)
    assert Endpoint("10.0.0.1", 80) == route(table, "A.TEST.", 80)


def test_route_leaves_other_names_alone() -> None:
    """Only listed names move; everything else is resolved normally."""
    table = parse_connect_to({"a.test:80": "10.0.0.1:1"})
    assert route(table, "b.test", 80) is None
    assert route(table, "a.test", 81) is None


async def test_resolver_sends_a_listed_host_to_its_address() -> None:
    """The mapped address is used directly and the original host name kept (for TLS/SNI)."""
    fallback = RecordingResolver()
    resolver = connect_to_resolver({"api.spacevision.app:80": "127.0.0.1:8787"}, fallback)
    [answer] = await resolver.resolve("api.spacevision.app", 80)
    assert ("api.spacevision.app", "127.0.0.1", 8787, socket.AF_INET) == (
        answer["hostname"],
        answer["host"],
        answer["port"],
        answer["family"],
    )
    assert [] == fallback.asked


async def test_resolver_falls_through_for_other_names() -> None:
    """A name without an entry goes to the default resolver unchanged."""
    fallback = RecordingResolver()
    resolver = connect_to_resolver({"api.spacevision.app:80": "127.0.0.1:8787"}, fallback)
    await resolver.resolve("spacevision.app", 443)
    assert [("spacevision.app", 443)] == fallback.asked


async def test_resolver_resolves_a_named_target_and_keeps_the_site_name() -> None:
    """A target given by name is resolved, but the connection still belongs to the site."""
    fallback = RecordingResolver()
    resolver = connect_to_resolver({"www.example.com:443": "edge.internal:8443"}, fallback)
    [answer] = await resolver.resolve("www.example.com", 443)
    assert [("edge.internal", 8443)] == fallback.asked
    assert ("www.example.com", "192.0.2.7", 8443) == (
        answer["hostname"],
        answer["host"],
        answer["port"],
    )


async def test_resolver_supports_ipv6_targets() -> None:
    """An IPv6 target is answered as an AF_INET6 address."""
    resolver = connect_to_resolver({"a.test:443": "[::1]:8443"}, RecordingResolver())
    [answer] = await resolver.resolve("a.test", 443, socket.AF_UNSPEC)
    assert ("::1", 8443, socket.AF_INET6) == (answer["host"], answer["port"], answer["family"])


async def test_resolver_closes_its_fallback() -> None:
    """Closing the session's resolver releases the default resolver behind it."""
    fallback = RecordingResolver()
    await connect_to_resolver({}, fallback).close()
    assert fallback.closed
