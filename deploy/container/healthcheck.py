"""The container's health check: ``GET /healthz`` of the daemon; exit 0 when it answers 200.

Docker runs this every interval inside the container, so it stays tiny: standard library
only (it never imports flarewatch), no proxy (``HTTP_PROXY`` must not divert a loopback
check), and a hard timeout. Exit status 0 is healthy, 1 unhealthy — never 2, which Docker
reserves.

Environment:

- ``FLAREWATCH_HEALTHCHECK_URL``: default ``http://127.0.0.1:9310/healthz``, the port of the
  shipped configs' ``server.listen`` (keep the two in step if you change it).
- ``FLAREWATCH_HEALTHCHECK_TIMEOUT``: seconds, default 3.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9310/healthz"


def check(url: str, timeout_s: float) -> tuple[bool, str]:
    """Whether ``url`` answers 200 within ``timeout_s``, and a one-line reason."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as err:
        return False, f"{url} answered {err.code}"
    except (OSError, ValueError) as err:
        return False, f"{url}: {err}"
    return status == 200, f"{url} answered {status}"


def main() -> int:
    """Check once; print the reason when unhealthy (Docker keeps it in `docker inspect`)."""
    url = os.environ.get("FLAREWATCH_HEALTHCHECK_URL") or DEFAULT_URL
    try:
        timeout_s = float(os.environ.get("FLAREWATCH_HEALTHCHECK_TIMEOUT") or 3)
    except ValueError:
        timeout_s = 3.0
    healthy, reason = check(url, timeout_s)
    if not healthy:
        sys.stdout.write(f"unhealthy: {reason}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
