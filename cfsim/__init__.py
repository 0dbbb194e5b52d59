"""A stateful, fault-injectable simulator of the Cloudflare API.

The simulator serves Cloudflare's REST v4 API under ``/client/v4``, GraphQL Analytics,
the Tail WebSocket and an "edge" that answers HTTP for deployed Workers and Pages
projects, plus its own controls under ``/__sim/``. It is used by the test suite, the
demo and the ``flarewatch simulator`` command for incident drills.

It never imports :mod:`cfapi`: the two are independent sides of the same API, so that
they cannot agree on the same mistake.
"""

from cfsim.server import SimServer

__all__ = ["SimServer"]
