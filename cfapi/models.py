"""The base of every typed result: pydantic models that keep what they do not know.

Results are pydantic v2 models with ``extra="allow"``: fields flarewatch reads are typed and
validated once, at the edge; fields Cloudflare adds later are kept (``model_extra``) instead
of breaking the client. Only fields the schema marks required and that every answer carries
are required here; the rest default to ``None``.

Each model's validator is built the first time it is used (``defer_build``), not when
:mod:`cfapi` is imported: a daemon uses a handful of the client's fifty-odd result types,
and building all of them cost every start about 40 ms and 1.5 MB.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound="CfModel")


class CfModel(BaseModel):
    """A Cloudflare object: known fields typed, unknown fields kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    @classmethod
    def parse(cls: type[M], raw: Any) -> M:
        """Validate one decoded JSON object."""
        return cls.model_validate(raw)


class Deleted(CfModel):
    """What a delete answers: the id of the object that is gone (when the API says it)."""

    id: str | None = None
