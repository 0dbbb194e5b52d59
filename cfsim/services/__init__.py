"""One module per simulated Cloudflare service.

Each module owns its store (the service's state), ``add_routes(app, prefix)`` for its
endpoints and ``seed(state)`` for the SpaceVision account. Handlers answer through
:mod:`cfsim.envelope` and read the state with :func:`cfsim.state.state_of`.
"""
