"""Credentials: the two schemes, the environment, and secrets that never show."""

from __future__ import annotations

import pytest

from cfapi.credentials import Credentials
from cfapi.transport import RequestHeaders

TOKEN = "tok_SECRET_1234567890abcdef"


def test_token_becomes_a_bearer_header() -> None:
    """API tokens authenticate with Authorization: Bearer."""
    assert {"Authorization": f"Bearer {TOKEN}"} == Credentials.bearer(TOKEN).headers()


def test_legacy_key_uses_email_and_key_headers() -> None:
    """The legacy global key sends X-Auth-Email and X-Auth-Key."""
    expected = {"X-Auth-Email": "ops@example.com", "X-Auth-Key": "k" * 37}
    assert expected == Credentials.legacy("ops@example.com", "k" * 37).headers()


@pytest.mark.parametrize(
    ("env", "scheme"),
    [
        ({"CLOUDFLARE_API_TOKEN": TOKEN}, "token"),
        ({"CLOUDFLARE_EMAIL": "a@b.c", "CLOUDFLARE_API_KEY": "k"}, "legacy"),
        ({"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_EMAIL": "a@b.c"}, "token"),
    ],
)
def test_from_env_reads_wranglers_variable_names(env: dict[str, str], scheme: str) -> None:
    """CLOUDFLARE_API_TOKEN first, else CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY."""
    assert scheme == Credentials.from_env(env).scheme


def test_from_env_without_credentials_says_what_to_set() -> None:
    """A missing token is a clear configuration error naming the variable."""
    with pytest.raises(ValueError, match="CLOUDFLARE_API_TOKEN"):
        Credentials.from_env({})


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"email": "a@b.c"}, {"token": "t", "email": "a@b.c", "key": "k"}, {"token": " "}],
)
def test_incomplete_or_mixed_credentials_are_refused(kwargs: dict[str, str]) -> None:
    """Exactly one scheme, complete: anything else is refused at construction."""
    with pytest.raises(ValueError, match=r"token|email|key"):
        Credentials.model_validate(kwargs)


def test_repr_and_dump_hide_the_secrets() -> None:
    """repr, str and model_dump_json of credentials never show the token or key."""
    creds = [Credentials.bearer(TOKEN), Credentials.legacy("a@b.c", TOKEN)]
    shown = " ".join(f"{c!r} {c} {c.model_dump_json()}" for c in creds)
    assert TOKEN not in shown


def test_request_headers_hide_credentials_in_repr() -> None:
    """Headers kept in the transport print redacted, e.g. in tracebacks that show locals."""
    headers = RequestHeaders(
        {"Authorization": f"Bearer {TOKEN}", "X-Auth-Key": TOKEN, "User-Agent": "ua"}
    )
    assert (TOKEN in repr(headers), TOKEN in str(headers), headers["X-Auth-Key"]) == (
        False,
        False,
        TOKEN,
    )
