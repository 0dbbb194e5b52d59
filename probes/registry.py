"""Probe types by name: the built-in ones plus any installed under ``flarewatch.probes``.

A third-party package adds a probe type by declaring an entry point::

    [project.entry-points."flarewatch.probes"]
    redis = "mypkg.probe:RedisProbe"

The entry point's name must equal the class's ``type_name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from probes.base import Probe

ENTRY_POINT_GROUP = "flarewatch.probes"

BUILTIN: Mapping[str, str] = {
    "workers": "probes.workers:WorkersProbe",
    "pages": "probes.pages:PagesProbe",
    "kv": "probes.kv:KvProbe",
    "r2": "probes.r2:R2Probe",
    "d1": "probes.d1:D1Probe",
    "dns": "probes.dns:DnsProbe",
    "http": "probes.http:HttpProbe",
    "api": "probes.api:ApiProbe",
}
"""Built-in types, loaded lazily so importing the registry stays cheap."""


class RegistryError(Exception):
    """A probe type that cannot be loaded, or two plugins claiming one name."""


ProbeType = type[Probe[Any]]


def _load(target: str) -> ProbeType:
    module_name, _, attr = target.partition(":")
    cls = getattr(import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Probe)):
        raise RegistryError(f"{target} is not a Probe subclass")
    return cls


class Registry:
    """A mapping of probe type name → probe class, validated when built."""

    def __init__(self, types: Mapping[str, ProbeType]) -> None:
        for name, cls in types.items():
            if cls.type_name != name:
                raise RegistryError(
                    f"probe type {name!r} is registered for {cls.__qualname__}, whose "
                    f"type_name is {cls.type_name!r}: make them equal"
                )
            unknown = set(cls.metrics) - cls.values
            if unknown:
                raise RegistryError(
                    f"probe type {name!r} maps undeclared values to metrics: {sorted(unknown)}"
                )
        self._types = dict(types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __getitem__(self, name: str) -> ProbeType:
        return self._types[name]

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._types)

    def values_by_type(self) -> dict[str, frozenset[str]]:
        """What each type publishes (every type also publishes ``duration_ms``)."""
        return {name: cls.values | {"duration_ms"} for name, cls in self._types.items()}


def builtin_registry() -> Registry:
    """Only the built-in probe types (tests, and a daemon that ignores plugins)."""
    return Registry({name: _load(target) for name, target in BUILTIN.items()})


def default_registry(extra: Iterable[tuple[str, str]] | None = None) -> Registry:
    """Built-in types plus installed ``flarewatch.probes`` entry points (plus ``extra``).

    A plugin may not replace a built-in type or another plugin: that is an error naming both.
    """
    types: dict[str, ProbeType] = {name: _load(target) for name, target in BUILTIN.items()}
    found = [(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    for name, target in [*found, *(extra or ())]:
        if name in types:
            if BUILTIN.get(name) == target:
                continue
            raise RegistryError(
                f"probe plugin {target} claims type {name!r}, which "
                f"{types[name].__module__}.{types[name].__qualname__} already provides"
            )
        try:
            types[name] = _load(target)
        except (ImportError, AttributeError) as err:
            raise RegistryError(
                f"probe plugin {name!r} ({target}) cannot be loaded: {err}"
            ) from err
    return Registry(types)
