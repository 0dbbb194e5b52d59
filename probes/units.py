"""Durations and sizes as users write them in YAML (``30s``, ``1m30s``, ``200ms``, ``10GB``).

Pure parsing, shared by probe settings and the daemon's config. Durations become seconds
(``float``), sizes bytes (``int``); a bare number is taken as seconds or bytes.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a number, or ``"1h30m"``, ``"45s"``, ``"250ms"``.

    Raises ``ValueError`` with a hint for anything else, or a negative number.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 2m or 250ms, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration: write a number of seconds")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(
            f"expected a duration such as 30s, 2m or 250ms, got {type(value).__name__}"
        )
    text = value.strip().lower()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            f"{value!r} is not a duration: write a number with a unit (ms, s, m, h, d, w), "
            "e.g. 30s, 1m30s or 250ms"
        )
    return total


def parse_size(value: object) -> int:
    """Bytes in ``value``: a number, or ``"10GB"``, ``"512 MiB"`` (SI and binary units)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 10GB or 512MiB, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a size such as 10GB or 512MiB, got {type(value).__name__}")
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"{value!r} is not a size: write a number with a unit (B, KB, MB, GB, TB, KiB, MiB, "
            "GiB, TiB), e.g. 10GB"
        )
    unit = (match.group(2) or "B").lower()
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written as ``30s``, ``2m``, ``250ms`` or a number of seconds."""

ByteSize = Annotated[int, BeforeValidator(parse_size)]
"""Bytes, written as ``10GB``, ``512MiB`` or a number of bytes."""
