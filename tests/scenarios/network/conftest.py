"""Fixtures of the studio-network scenarios: a private authority, the local server over TLS,
and an environment that trusts nothing and goes through no proxy unless a test says so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from studio_net import NETWORK_VARIABLES, Pki, Twin, make_pki
from support import SECRET_KEY, TEST_BOX, TEST_LEVEL


@pytest.fixture(autouse=True)
def bare_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No bundle and no proxy from the machine running the tests."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[LocalServer]:
    """One local server over TLS per module, holding SECRET_KEY, at the silver level."""
    settings = ServerSettings(
        api_key=SECRET_KEY,
        max_size=TEST_BOX,
        workers=2,
        account_level=TEST_LEVEL,
        tls_cert=pki.server,
    )
    with LocalServer(settings) as running:
        yield running


@pytest.fixture
def twin(tls_server: LocalServer, pki: Pki) -> Iterator[Twin]:
    """The shared TLS server, no fault pending, spending counted from now; it presents its
    good certificate again after the test."""
    app = tls_server.app
    assert app is not None
    app.faults.clear()
    running = Twin(tls_server, pki)
    running.start = running.counts()
    yield running
    app.faults.clear()
    running.present(pki.server)
