"""KV data rules: expiry arithmetic, key limits, cursors, listing and bulk reads (pure)."""

from __future__ import annotations

import pytest

from cfsim.envelope import CfHttpError
from cfsim.services.kv_data import (
    Entry,
    KvStore,
    Namespace,
    bulk_value,
    check_key,
    decode_cursor,
    encode_cursor,
    resolve_expiration,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("expiration", "ttl", "expected"),
    [
        (None, None, None),
        (None, 60, 1_800_000_060),
        (NOW + 3600, None, 1_800_003_600),
        (NOW + 3600, 120, 1_800_000_120),
    ],
)
def test_resolve_expiration_prefers_ttl(
    expiration: float | None, ttl: float | None, expected: int | None
) -> None:
    """An expiration_ttl wins over an absolute expiration; neither means no expiry."""
    assert expected == resolve_expiration(expiration, ttl, NOW)


@pytest.mark.parametrize(
    ("expiration", "ttl", "code"),
    [
        (None, 59, 10034),
        (None, 0, 10034),
        (NOW - 1, None, 10033),
        (NOW + 59, None, 10033),
    ],
)
def test_resolve_expiration_refuses_under_60_seconds(
    expiration: float | None, ttl: float | None, code: int
) -> None:
    """Expiry must be at least 60 seconds away, however it is given."""
    with pytest.raises(CfHttpError) as err:
        resolve_expiration(expiration, ttl, NOW)
    assert (400, code) == (err.value.status, err.value.errors[0]["code"])


@pytest.mark.parametrize(
    ("key", "status"),
    [("", 400), (".", 400), ("..", 400), ("k" * 513, 414), ("é" * 257, 414)],
)
def test_check_key_refuses_illegal_names(key: str, status: int) -> None:
    """Empty, dot names and keys over 512 UTF-8 bytes are refused."""
    with pytest.raises(CfHttpError) as err:
        check_key(key)
    assert status == err.value.status


def test_check_key_accepts_512_bytes() -> None:
    """512 bytes is the limit itself."""
    check_key("k" * 512)


def test_cursor_round_trips() -> None:
    """A cursor decodes to the key it was made from, whatever its characters."""
    assert "flag:ünïcode/ä b" == decode_cursor(encode_cursor("flag:ünïcode/ä b"))


def test_garbage_cursor_is_10041() -> None:
    """A cursor KV did not hand out is refused."""
    with pytest.raises(CfHttpError) as err:
        decode_cursor("!!not-a-cursor!!")
    assert 10041 == err.value.errors[0]["code"]


def test_listing_pages_in_byte_order_and_skips_expired() -> None:
    """Keys list in UTF-8 byte order, expired ones vanish, and the cursor resumes."""
    ns = Namespace("a" * 32, "T")
    for key in ("b", "a", "Z", "c"):
        ns.entries[key] = Entry(b"v")
    ns.entries["gone"] = Entry(b"v", expiration=int(NOW))
    first, cursor = ns.list_keys(NOW, prefix="", limit=2, cursor="")
    second, end = ns.list_keys(NOW, prefix="", limit=2, cursor=cursor)
    assert (["Z", "a"], ["b", "c"], "") == (
        [k["name"] for k in first],
        [k["name"] for k in second],
        end,
    )


def test_bulk_value_decodes_json_and_passes_missing_keys_as_null() -> None:
    """type=json parses stored JSON; a missing key reads as null."""
    assert ({"on": True}, None) == (
        bulk_value(Entry(b'{"on": true}'), True),
        bulk_value(None, True),
    )


def test_bulk_value_refuses_non_json_for_type_json() -> None:
    """A value that is not JSON cannot be read with type=json."""
    with pytest.raises(CfHttpError):
        bulk_value(Entry(b"2.4.0"), True)


@pytest.mark.parametrize(
    ("namespace_id", "status", "code"),
    [("not-a-uuid", 400, 10011), ("f" * 32, 404, 10013)],
)
def test_unknown_namespace_errors(namespace_id: str, status: int, code: int) -> None:
    """Malformed ids are 10011, unknown well-formed ids 10013."""
    with pytest.raises(CfHttpError) as err:
        KvStore().get(namespace_id, "get")
    assert (status, code) == (err.value.status, err.value.errors[0]["code"])


def test_duplicate_title_is_10014() -> None:
    """A second namespace with the same title is refused."""
    store = KvStore()
    store.create("CONFIG")
    with pytest.raises(CfHttpError) as err:
        store.create("CONFIG")
    assert 10014 == err.value.errors[0]["code"]
