"""Rows of ``httpRequestsAdaptiveGroups``: the zone's edge requests by host, path and status.

Built from the Workers and Pages invocations the simulated edge really served (each records
its hostname and path), so a dashboard or ``flarewatch perf`` sees which paths are slow or
failing. Background traffic has no paths and does not appear here. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cfsim.analytics import Sample
from cfsim.graphql_model import Record

EDGE_KINDS = frozenset({"workers", "pages"})


def zone_of(host: str, zones: Mapping[str, str]) -> str | None:
    """The id of the zone ``host`` belongs to (the longest matching zone name), if any."""
    host = host.lower().rstrip(".")
    best: tuple[int, str] | None = None
    for zone_id, name in zones.items():
        name = name.lower().rstrip(".")
        if (host == name or host.endswith("." + name)) and (best is None or len(name) > best[0]):
            best = (len(name), zone_id)
    return best[1] if best is not None else None


def http_request_records(
    samples: Sequence[Sample],
    zones: Mapping[str, str],
    zone: str,
    start: float,
    end: float,
    width: int | None,
) -> list[Record]:
    """One record per edge request to a host of ``zone`` in ``[start, end)``.

    ``zones`` maps zone ids to names; ``width`` is unused (requests are exact events).
    """
    del width
    records: list[Record] = []
    for sample in samples:
        if sample.kind not in EDGE_KINDS or not sample.host or not start <= sample.ts < end:
            continue
        if zone_of(sample.host, zones) != zone:
            continue
        ttfb = sample.duration_ms
        records.append(
            Record(
                ts=sample.ts,
                dims={
                    "clientRequestHTTPHost": sample.host,
                    "clientRequestPath": sample.item or "/",
                    "edgeResponseStatus": sample.http_status,
                },
                sums={"edgeResponseBytes": float(sample.bytes), "edgeTimeToFirstByteMs": ttfb},
                dists={"edgeTimeToFirstByteMs": {ttfb: 1.0}},
            )
        )
    return records
