"""Credentials for the v4 API: an API token (preferred) or the legacy email + global key.

Secrets are :class:`pydantic.SecretStr`, so ``repr``, ``str`` and pydantic dumps show
``**********``; only :meth:`Credentials.headers` ever reveals them, to build a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

ENV_TOKEN = "CLOUDFLARE_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_KEY = "CLOUDFLARE_API_KEY"
ENV_EMAIL = "CLOUDFLARE_EMAIL"


class Credentials(BaseModel):
    """How requests authenticate: ``token``, or ``email`` + ``key`` (legacy global API key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = None
    email: str | None = None
    key: SecretStr | None = None

    @model_validator(mode="after")
    def _one_scheme(self) -> Credentials:
        if self.token is not None:
            if self.email is not None or self.key is not None:
                raise ValueError("give either token, or email and key, not both")
            if not self.token.get_secret_value().strip():
                raise ValueError("token is empty")
            return self
        if not self.email or self.key is None or not self.key.get_secret_value():
            raise ValueError("credentials need a token, or both email and key")
        return self

    @classmethod
    def bearer(cls, token: str) -> Credentials:
        """Credentials for an API token."""
        return cls(token=SecretStr(token))

    @classmethod
    def legacy(cls, email: str, key: str) -> Credentials:
        """Credentials for the legacy email + global API key."""
        return cls(email=email, key=SecretStr(key))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        """Read ``CLOUDFLARE_API_TOKEN``, else ``CLOUDFLARE_EMAIL`` + ``CLOUDFLARE_API_KEY``."""
        source = os.environ if env is None else env
        token = source.get(ENV_TOKEN, "").strip()
        if token:
            return cls.bearer(token)
        email, key = source.get(ENV_EMAIL, "").strip(), source.get(ENV_KEY, "").strip()
        if email and key:
            return cls.legacy(email, key)
        raise ValueError(f"set {ENV_TOKEN} (or {ENV_EMAIL} and {ENV_KEY})")

    @property
    def scheme(self) -> str:
        """``token`` or ``legacy`` — safe to log."""
        return "token" if self.token is not None else "legacy"

    def secret(self) -> str:
        """The secret part (for identity hashing); never log it."""
        if self.token is not None:
            return self.token.get_secret_value()
        assert self.key is not None
        return f"{self.email}:{self.key.get_secret_value()}"

    def headers(self) -> dict[str, str]:
        """The request headers that authenticate; the only place secrets are revealed."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token.get_secret_value().strip()}"}
        assert self.email is not None
        assert self.key is not None
        return {"X-Auth-Email": self.email, "X-Auth-Key": self.key.get_secret_value()}
