"""Versioned, JSON-safe records of the engine's dataclasses, for the daemon's store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


class RecordCodec(Generic[T]):
    """Dump a dataclass to JSON-safe data with a ``record_version``, and read it back.

    A record of another version is refused with a ``ValueError`` rather than misread; a
    field of the wrong type is a ``ValueError`` naming it (pydantic's ``ValidationError``).
    """

    def __init__(self, kind: str, cls: type[T], version: int) -> None:
        self.kind = kind
        self.version = version
        self._adapter: TypeAdapter[T] = TypeAdapter(cls)

    def dump(self, value: T) -> dict[str, Any]:
        """The value as JSON-safe data, with ``record_version``."""
        record: dict[str, Any] = self._adapter.dump_python(value, mode="json")
        record["record_version"] = self.version
        return record

    def load(self, record: Mapping[str, Any]) -> T:
        """Read a record written by :meth:`dump` of this version."""
        data = dict(record)
        version = data.pop("record_version", None)
        if version != self.version:
            raise ValueError(
                f"unsupported {self.kind} record version {version!r} "
                f"(this flarewatch reads {self.version})"
            )
        return self._adapter.validate_python(data)
