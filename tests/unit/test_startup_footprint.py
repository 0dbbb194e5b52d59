"""Start-up work the daemon defers or avoids: the system CA store, garbage collection."""

from __future__ import annotations

import gc
import ssl
from collections.abc import Iterator

import pytest

from monitor.daemon import settle_startup_heap
from probes.httpcheck import new_ssl_context


def test_system_ca_store_is_loaded_at_the_first_handshake_not_before() -> None:
    """Loading the CA store costs tens of milliseconds of the first round; a daemon whose
    checks are all plain http never needs it, and one with https checks still verifies."""
    context = new_ssl_context(verify=True)
    assert 0 == context.cert_store_stats()["x509_ca"]
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.test")
    assert ssl.create_default_context().get_ca_certs() == context.get_ca_certs()


def test_verifying_context_checks_certificates_and_hostnames() -> None:
    """Built without ``ssl.create_default_context``, the context must verify just as strictly."""
    context = new_ssl_context(verify=True)
    assert (ssl.CERT_REQUIRED, True) == (context.verify_mode, context.check_hostname)


def test_non_verifying_context_loads_no_ca_store() -> None:
    """``tls_verify: false`` never uses the CA store, so it does not load it at all."""
    context = new_ssl_context(verify=False)
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.test")
    assert (ssl.CERT_NONE, False) == (context.verify_mode, context.check_hostname)
    assert 0 == context.cert_store_stats()["x509_ca"]


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """Undo the freeze and keep the collector on for the rest of the test session."""
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.usefixtures("collector_restored")
def test_settled_start_up_heap_is_frozen_and_collected_again() -> None:
    """``flarewatch run`` starts with the collector off; forgetting to turn it back on would
    let reference cycles pile up for the daemon's whole life."""
    gc.disable()
    settle_startup_heap()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
