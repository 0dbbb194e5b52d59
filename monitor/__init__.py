"""The flarewatch daemon: configuration, scheduling, HTTP surface, state and the CLI.

Importing the package first imports structlog without its optional extras: ``import
structlog`` otherwise imports ``rich`` (with pygments, attrs and decimal) to pretty-print
tracebacks, and ``greenlet`` for its deprecated thread-local context, when they are
installed — about 5 MB and 60 ms of every daemon start for nothing, since
:mod:`monitor.logging` renders tracebacks without them. They are hidden only while structlog
is imported, so anything that imports ``rich`` later still gets it.
"""

import sys as _sys


def _import_structlog_plain() -> None:
    if "structlog" in _sys.modules:
        return
    hidden = [name for name in ("rich", "greenlet") if name not in _sys.modules]
    for name in hidden:
        _sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        import structlog  # noqa: F401
    finally:
        for name in hidden:
            if _sys.modules.get(name, ...) is None:
                del _sys.modules[name]


_import_structlog_plain()
