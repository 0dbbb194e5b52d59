"""The CEL engine (``common-expression-language``), imported without its command-line tool.

``cel/__init__.py`` imports ``cel.cli`` (typer, rich, prompt_toolkit), which flarewatch never
uses: 7.9 MB of RSS and about 50 ms of every start (benchmarks/RESULTS.md, daemon footprint).
A placeholder stands in for ``cel.cli`` while ``cel`` is imported and is removed afterwards,
so a later ``import cel.cli`` still loads the real module.
"""

from __future__ import annotations

import sys
import types

if "cel" not in sys.modules and "cel.cli" not in sys.modules:
    sys.modules["cel.cli"] = types.ModuleType("cel.cli", "placeholder: see alerting.celengine")
    try:
        import cel
    finally:
        del sys.modules["cel.cli"]
    if getattr(cel, "cli", None) is not None and getattr(cel.cli, "__doc__", "").startswith(
        "placeholder"
    ):
        del cel.cli
else:
    import cel

__all__ = ["cel"]
