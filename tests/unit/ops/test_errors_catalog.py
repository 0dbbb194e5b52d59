"""The error catalogue: every entry sourced, codes and messages matched to the right product."""

from __future__ import annotations

import re

import pytest

from cfapi.errors import ApiError, AuthError, ErrorDetail, NotFound
from ops.errors_catalog import (
    BY_KEY,
    ENTRIES,
    SERVICES,
    Service,
    codes_in,
    explain,
    explain_error,
    merge,
    parse_service,
    service_hints,
    service_of_path,
    summary,
)

CLOUDFLARE_SOURCES = (
    "https://developers.cloudflare.com/",
    "https://github.com/cloudflare/",
)


def keys(query: str | int, service: Service | None = None) -> list[str]:
    """The keys of the entries that explain ``query``, best first."""
    return [e.entry.key for e in explain(query, service=service)]


def test_every_entry_cites_a_cloudflare_source() -> None:
    """Nothing is invented: each entry names the Cloudflare page or file it comes from."""
    unsourced = [e.key for e in ENTRIES if not e.source.startswith(CLOUDFLARE_SOURCES)]
    assert [] == unsourced


def test_edge_pages_carry_the_http_status_only_for_5xx() -> None:
    """A 5xx page is that HTTP status; a 1xxx code is in the page body, not the status line."""
    assert (522, None) == (BY_KEY["edge:522"].http_status, BY_KEY["edge:1004"].http_status)


def test_keys_are_unique() -> None:
    """A key identifies one entry, so JSON consumers and alert templates can refer to it."""
    assert len(ENTRIES) == len(BY_KEY)


def test_every_entry_says_what_and_what_to_do() -> None:
    """An explanation without a fix (or the other way round) does not help at 3 a.m."""
    empty = [e.key for e in ENTRIES if not (e.title and e.explanation and e.fix and e.context)]
    assert [] == empty


def test_every_pattern_compiles_and_matches_its_own_title_or_code() -> None:
    """A pattern that never matches anything a user would see is dead weight."""
    for entry in ENTRIES:
        for pattern in entry.patterns:
            re.compile(pattern, re.IGNORECASE)
        if entry.code is None:
            assert explain(entry.title), entry.key


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("10000", "api:10000"),
        ("7003", "api:7003"),
        ("1004", "edge:1004"),
        ("10220", "workers:10220"),
        (1101, "edge:1101"),
        ("522", "edge:522"),
    ],
)
def test_codes_from_the_brief_are_explained(query: str | int, expected: str) -> None:
    """The codes people paste most (auth, routing, rollback, edge pages) are all there."""
    assert expected == keys(query)[0]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("D1_ERROR: Network connection lost.", "d1:network-connection-lost"),
        (
            "D1_ERROR: D1 DB is overloaded. Too many requests queued.",
            "d1:overloaded-too-many-queued",
        ),
        ("D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'", "d1:D1_TYPE_ERROR"),
        ("KV PUT failed: 429 Too Many Requests", "kv:put-429"),
        (
            "put: Your metadata headers exceed the maximum allowed metadata size. (10012)",
            "r2:10012",
        ),
        ("get: We encountered an internal error. Please try again. (10001)", "r2:10001"),
        ("get: Reduce your rate of requests. (10058)", "r2:10058"),
        ("Authentication error [code: 10000]", "api:10000"),
        ("Error 1101 Worker threw exception", "edge:1101"),
        ("<Error><Code>NoSuchBucket</Code></Error>", "r2:10006"),
        ("rate limiter budget depleted, try again after 5 minutes", "graphql:budget-depleted"),
    ],
)
def test_messages_are_matched_to_their_entry(message: str, expected: str) -> None:
    """Users paste what they saw; the binding's or API's wording finds the entry."""
    assert expected == keys(message)[0]


def test_d1_network_loss_outranks_the_generic_runtime_entry() -> None:
    """The D1_ERROR prefix says which product failed, so D1's own advice comes first."""
    assert ["d1:network-connection-lost", "workers:network-connection-lost"] == keys(
        "D1_ERROR: Network connection lost."
    )


def test_an_r2_message_picks_r2_where_workers_shares_the_code() -> None:
    """10007 is a missing Worker to the Workers API and a missing object to R2."""
    assert "r2:10007" == keys("get: The specified key does not exist. (10007)")[0]


def test_a_bare_shared_code_returns_every_product() -> None:
    """Without context the command cannot know, so it shows both and says so."""
    assert {"workers:10007", "r2:10007"} == set(keys("10007"))


def test_the_service_filter_narrows_a_shared_code() -> None:
    """--service r2 answers R2's meaning only."""
    assert ["r2:10054"] == keys("10054", service="r2")


def test_a_generic_word_is_not_read_as_an_s3_code() -> None:
    """'Unauthorized' in an API message is not R2's <Code>Unauthorized</Code>."""
    assert [] == keys("Unauthorized to access requested resource")


def test_unknown_input_is_an_empty_answer() -> None:
    """Nothing documented: an empty list, never a guess."""
    assert [] == keys("KV GET failed: 503 Service Unavailable")
    assert [] == keys("   ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10000", ((10000, None),)),
        ("Authentication error [code: 10000]", ((10000, None),)),
        ("put: too big (10012)", ((10012, "r2"),)),
        ("error code: 1015", ((1015, None),)),
        ("no digits here", ()),
    ],
)
def test_codes_are_read_from_their_usual_places(text: str, expected: object) -> None:
    """wrangler's [code: N], R2's trailing (N) and 'error N' are how codes reach users."""
    assert expected == codes_in(text)


def test_service_hints_come_from_the_wording() -> None:
    """Prefixes name the product: D1_ERROR, 'KV PUT failed', an R2 operation with a code."""
    assert {"d1"} == service_hints("D1_ERROR: boom")
    assert {"kv"} == service_hints("KV GET failed: 503")
    assert {"r2"} == service_hints("head: oops (10001)")


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/accounts/a/r2/buckets/b", "r2"),
        ("/accounts/a/d1/database/x/query", "d1"),
        ("/accounts/a/storage/kv/namespaces/n/values/k", "kv"),
        ("/accounts/a/workers/scripts/api/deployments", "workers"),
        ("/zones/z/dns_records", "dns"),
        ("/graphql", "graphql"),
        ("/zones", "api"),
    ],
)
def test_api_paths_name_the_product(path: str, service: str) -> None:
    """An error's request path is the best evidence of which product answered."""
    assert service == service_of_path(path)


def test_a_cloudflare_error_is_explained_by_its_path_and_codes() -> None:
    """A failed rollback's 10220 is the Workers entry, found from the error cfapi raised."""
    err = ApiError(
        "deploy failed",
        status=400,
        errors=(ErrorDetail(10220, "A secret has changed since this version was active."),),
        method="POST",
        path="/accounts/a/workers/scripts/api/deployments",
    )
    assert "workers:10220" == explain_error(err)[0].entry.key


def test_an_r2_not_found_is_not_explained_as_a_missing_worker() -> None:
    """The path keeps Workers' 10007 out of an R2 answer."""
    err = NotFound(
        "missing",
        status=404,
        errors=(ErrorDetail(10007, "The specified key does not exist."),),
        method="GET",
        path="/accounts/a/r2/buckets/b/objects/k",
    )
    assert ["r2:10007"] == [e.entry.key for e in explain_error(err)]


def test_an_auth_error_chain_is_explained() -> None:
    """Codes in an error chain count too."""
    err = AuthError(
        "refused",
        status=403,
        errors=(ErrorDetail(10000, "Authentication error"),),
        method="GET",
        path="/zones",
    )
    assert "api:10000" == explain_error(err)[0].entry.key


def test_merge_keeps_each_entry_once_with_its_best_score() -> None:
    """Explanations of a code and of its message combine without duplicates."""
    merged = merge([explain("10000"), explain("Authentication error [code: 10000]")])
    assert [("api:10000", 90)] == [(m.entry.key, m.score) for m in merged]


def test_summary_is_one_line_with_the_fix() -> None:
    """Alerts and probe messages get the title and what to do, on one line."""
    line = summary(explain("10220"))
    assert line is not None
    assert line.startswith("10220 Secrets changed")
    assert "?force=true" in line
    assert "\n" not in line
    assert summary([]) is None


def test_parse_service_names_the_choices() -> None:
    """A mistyped service is bad input with the accepted values listed."""
    assert "r2" == parse_service(" R2 ")
    with pytest.raises(ValueError, match=", ".join(SERVICES)):
        parse_service("s3")


def test_to_dict_is_json_ready() -> None:
    """--json prints entries as plain data, patterns as a list."""
    data = explain("10012")[0].to_dict()
    assert isinstance(data["patterns"], list)
    assert ("r2", "code", 400) == (data["service"], data["matched"], data["http_status"])
