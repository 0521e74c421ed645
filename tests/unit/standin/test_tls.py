"""The local server over HTTPS: a certificate it refuses to start without, handshakes that hold
up no one, and its own uploads fetched over TLS with no authority to trust."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from uprez.errors import ConfigError
from uprez.net.session import ServiceSession
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from studio_net import NETWORK_VARIABLES, Pki, make_pki
from support import TEST_KEY, ticket, wait_for

HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture(autouse=True)
def bare_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https_server(pki: Pki) -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=(256, 144), account_level="silver", tls_cert=pki.server
    )
    with LocalServer(settings) as running:
        yield running


def test_a_task_reads_its_upload_over_tls_trusting_the_certificate_the_server_presents(
    https_server: LocalServer, pki: Pki, make_clip: Callable[..., Path]
) -> None:
    # The server's fetch of its own storage trusts nothing in the environment (it is clear)
    # and has not been told of the authority: it trusts the certificate it serves.
    api = ServiceSession(ca_bundle=pki.ca)
    clip = make_clip("tls.mp4", seconds=0.5)
    base = https_server.base_url
    api.headers.update(HEADERS)
    given = ticket(api, base, clip.stat().st_size, clip.name)
    upload = given["upload"]
    put = api.put(upload["url"], data=clip.read_bytes(), headers=upload["headers"])
    assert put.status_code == 200
    video = {"video": given["download_url"]}
    submitted = api.post(f"{base}/api/v3/runwayml/upscale-v1", json=video)
    task = wait_for(api, submitted.json()["data"]["urls"]["get"])

    assert given["download_url"].startswith("https://")
    assert task["status"] == "completed", task
    assert task["outputs"][0].startswith("https://")


def test_a_client_stalled_mid_handshake_holds_up_no_one_else(
    https_server: LocalServer, pki: Pki
) -> None:
    port = int(https_server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.sendall(b"\x16\x03\x01")  # the start of a handshake record, and no more
        started = time.monotonic()
        answer = ServiceSession(ca_bundle=pki.ca).get(
            f"{https_server.base_url}/api/v3/balance", headers=HEADERS, timeout=5
        )
    assert answer.status_code == 200
    assert time.monotonic() - started < 2


def test_settings_that_cannot_serve_tls_refuse_to_start(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_key needs tls_cert"):
        ServerSettings(tls_key=pki.server)
    with pytest.raises(ConfigError, match="does not exist"):
        ServerSettings(tls_cert=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="not a PEM certificate chain"):
        ServerSettings(tls_cert=pki.ca)  # a certificate without its key


def test_uprez_serve_refuses_a_key_without_its_certificate(pki: Pki) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uprez", "serve", "--port", "0", "--tls-key", str(pki.server)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--tls-key: needs --tls-cert" in done.stderr
