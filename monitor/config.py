"""The daemon's typed, frozen configuration (what users write in YAML).

Only the models live here; :mod:`monitor.configload` reads files, expands ``${ENV}`` and
``*_file`` secrets, and turns validation errors into file:line messages. Probe entries are
validated by their type's own settings model, found in the probe registry passed as
validation context (``Config.model_validate(data, context={"registry": registry})``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)

from probes.base import ProbeSettings
from probes.registry import Registry, builtin_registry
from probes.units import Duration

DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CloudflareSettings(_Model):
    """How to reach the Cloudflare API (``CLOUDFLARE_*`` variables fill what is left out)."""

    account_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    api_token: SecretStr
    api_base_url: str = DEFAULT_API_BASE_URL
    budget_share: float = Field(default=0.5, gt=0, le=1)


class ServerSettings(_Model):
    """The daemon's HTTP surface."""

    listen: str = "127.0.0.1:9310"
    admin_token: SecretStr | None = None


class Defaults(_Model):
    """Interval and timeout of probes that do not set their own."""

    interval: Duration = Field(default=30.0, gt=0)
    timeout: Duration = Field(default=10.0, gt=0)


class HttpSettings(_Model):
    """Checks of public URLs.

    ``connect_to`` sends a ``host:port`` to another address, like curl's ``--connect-to``
    (``{"api.spacevision.app:80": "127.0.0.1:8787"}``): the URL, ``Host`` header and TLS name
    stay those of the site.
    """

    connect_to: dict[str, str] = Field(default_factory=dict)
    user_agent: str = "flarewatch"


class LoggingSettings(_Model):
    """Log level and format (``auto``: JSON when stderr is not a terminal)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Config(_Model):
    """The whole configuration file."""

    cloudflare: CloudflareSettings
    server: ServerSettings = ServerSettings()
    state_dir: str = "/var/lib/flarewatch"
    defaults: Defaults = Defaults()
    http: HttpSettings = HttpSettings()
    logging: LoggingSettings = LoggingSettings()
    probes: tuple[SerializeAsAny[ProbeSettings], ...] = ()

    @field_validator("probes", mode="before")
    @classmethod
    def _probe_types(cls, value: Any, info: ValidationInfo) -> Any:
        """Validate each entry with its type's settings model."""
        registry: Registry = (info.context or {}).get("registry") or builtin_registry()
        if not isinstance(value, list | tuple):
            return value
        out: list[Any] = []
        for entry in value:
            kind = entry.get("type") if isinstance(entry, dict) else None
            if isinstance(kind, str) and kind in registry:
                out.append(
                    registry[kind].settings_model.model_validate(entry, context=info.context)
                )
            else:
                out.append(entry)
        return out

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for probe in self.probes:
            if probe.name in seen:
                raise ValueError(f"two probes are named {probe.name!r}: probe names must be unique")
            seen.add(probe.name)
        return self
