"""The fault matrix's network rows: TLS and proxy faults on real sockets, with 0 duplicate
submissions.

Each row breaks one thing between uprez and the local server over TLS: a relay in front of the
API that hangs up mid-handshake, a certificate that expires, a forward proxy that refuses tunnels
(407, 502), cuts a download mid-body, or is not there. The run either survives it or stops with
the row's error and exit code, with no partial output, the key nowhere, and the task named when
one was paid for. Then the same command runs again on a healthy network: it completes, and the
server has made exactly one task for the clip over both runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from uprez import hookimpl
from uprez.errors import (
    ProxyRefused,
    ServiceError,
    TransferError,
    UntrustedCertificate,
    UprezError,
)
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.records import Artifact, JobEvent
from uprez.step.sidecar import sidecar_path

from proxy import Fault, ForwardProxy, Relay
from studio_net import Twin, ca_config, upscale
from support import SECRET_KEY, TEST_BOX

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there
OK = None


@dataclass(frozen=True)
class Row:
    """One network fault and what uprez must do about it.

    ``via``: ``relay`` (a relay in front of the API, no proxy), ``proxy`` (every leg through a
    forward proxy), ``dead-proxy`` (a proxy that is not there). ``faults``: ``(kind, face,
    status, after, times)``, ``face`` being ``api``, ``storage``, ``cdn`` or None (any).
    ``expire``: present an expired certificate from the start (``start``) or from the download
    on (``download``). ``submitted``: tasks made by the failing run.
    """

    id: str
    via: str
    faults: tuple[tuple[str, str | None, int, int, int], ...] = ()
    expire: str | None = None
    outcome: type[UprezError] | None = OK
    exit_code: int = 0
    submitted: int = 1
    match: str = ""


ROWS = [
    # The server hangs up during the TLS handshake: once (retried), always (exit 5, nothing
    # submitted), at the CDN (the task is paid: exit 5 naming it).
    Row("handshake-refused-once", "relay", (("handshake", "api", 0, 0, 1),)),
    Row(
        "handshake-refused-always",
        "relay",
        (("handshake", "api", 0, 0, -1),),
        outcome=TransferError,
        exit_code=5,
        submitted=0,
        match="nothing was submitted",
    ),
    Row(
        "handshake-refused-at-the-cdn",
        "proxy",
        (("handshake", "cdn", 0, 0, -1),),
        outcome=TransferError,
        exit_code=5,
        match="rerun to download its result",
    ),
    # A certificate that has expired: refused at once, never retried (exit 2).
    Row(
        "certificate-expired",
        "relay",
        expire="start",
        outcome=UntrustedCertificate,
        exit_code=2,
        submitted=0,
        match="certificate has expired",
    ),
    Row(
        "certificate-expired-before-the-download",
        "direct",
        expire="download",
        outcome=UntrustedCertificate,
        exit_code=2,
        match="rerun to download its result",
    ),
    # The proxy refuses tunnels: 407 is not retried; 502 is, as any outage.
    Row(
        "proxy-407",
        "proxy",
        (("refuse", None, 407, 0, -1),),
        outcome=ProxyRefused,
        exit_code=5,
        submitted=0,
        match="407 Proxy Authentication Required",
    ),
    Row(
        "proxy-407-at-the-cdn",
        "proxy",
        (("refuse", "cdn", 407, 0, -1),),
        outcome=TransferError,
        exit_code=5,
        match="rerun to download its result",
    ),
    Row(
        "proxy-502",
        "proxy",
        (("refuse", None, 502, 0, -1),),
        outcome=TransferError,
        exit_code=5,
        submitted=0,
        match="nothing was submitted",
    ),
    Row("proxy-502-at-the-cdn-once", "proxy", (("refuse", "cdn", 502, 0, 1),)),
    # The proxy drops the download's tunnel mid-body: once (resumed), always (exit 5).
    Row("proxy-drop-mid-download-once", "proxy", (("drop", "cdn", 0, 6000, 1),)),
    Row(
        "proxy-drop-mid-download-always",
        "proxy",
        (("drop", "cdn", 0, 6000, -1),),
        outcome=TransferError,
        exit_code=5,
        match="rerun to download its result",
    ),
    # No proxy where the settings say one is.
    Row(
        "proxy-gone",
        "dead-proxy",
        outcome=TransferError,
        exit_code=5,
        submitted=0,
        match="ProxyError",
    ),
]


class _ExpireAtDownload:
    """Makes the server present an expired certificate once the download begins."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin

    @hookimpl
    def uprez_job_event(self, event: JobEvent) -> None:
        if event.kind == "downloading":
            self.twin.present(self.twin.pki.expired)


@pytest.fixture
def network(twin: Twin) -> Iterator[tuple[ForwardProxy, Relay]]:
    with (
        ForwardProxy(secret=SECRET_KEY.encode()) as proxy,
        Relay(twin.port("api"), secret=SECRET_KEY.encode()) as relay,
    ):
        yield proxy, relay


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_network_fault(
    row: Row,
    clip: Path,
    twin: Twin,
    network: tuple[ForwardProxy, Relay],
    pm: PluginManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy, relay = network
    base = f"https://127.0.0.1:{relay.port}" if row.via == "relay" else twin.base_url
    overrides = ca_config(twin.pki)
    if row.via in ("proxy", "dead-proxy"):
        overrides["provider.proxy"] = proxy.url if row.via == "proxy" else DEAD_PROXY
    broken = relay if row.via == "relay" else proxy
    for kind, face, status, after, times in row.faults:
        port = twin.port(face) if face else None
        broken.inject(Fault(kind, port=port, status=status, after=after, times=times))
    if row.expire == "start":
        twin.present(twin.pki.expired)
    elif row.expire == "download":
        pm.register(_ExpireAtDownload(twin), name="expire-at-download")
    target = clip.parent / "shot_4k.mp4"

    error: UprezError | None = None
    try:
        upscale(clip, base, pm, overrides)
    except UprezError as exc:
        error = exc

    # Every fault of the row happened.
    for kind, *_ in row.faults:
        assert broken.injected[kind] >= 1, broken.injected
    assert twin.spent()[1] == row.submitted, error
    if row.outcome is OK:
        assert error is None, f"{type(error).__name__}: {error}"
        assert (probe(target).width, probe(target).height) == TEST_BOX
        if any(face == "cdn" for _, face, *_ in row.faults):
            # The download was cut or refused once, and asked for again.
            assert proxy.tunnels.count(twin.port("cdn")) == 2
    else:
        assert isinstance(error, row.outcome), f"{type(error).__name__}: {error}"
        assert error.exit_code == row.exit_code
        assert row.match in str(error), str(error)
        assert not target.exists()
        assert sorted(p.name for p in clip.parent.iterdir()) == [clip.name]
        if row.submitted:
            # The task is paid for: the error says which, so the run can collect it.
            named = [p.id for p in twin.app.predictions.all() if p.id in str(error)]
            assert len(named) == 1, str(error)
    texts = [caplog.text, *(str(e) for e in _chain(error))]
    assert not any(SECRET_KEY in text for text in texts), "the key leaked"
    assert proxy.leaks == [] and relay.leaks == []
    assert all(line.startswith("CONNECT 127.0.0.1:") for line in proxy.lines), proxy.lines
    assert all(first.startswith(b"\x16\x03") for first in relay.first_bytes)

    # The same command on a healthy network: done, and one task for the clip over both runs.
    proxy.clear()
    relay.clear()
    twin.present(twin.pki.server)
    if row.expire == "download":
        pm.unregister(name="expire-at-download")
    if row.via == "dead-proxy":
        overrides["provider.proxy"] = proxy.url
    rerun = upscale(clip, base, pm, overrides)

    assert isinstance(rerun, Artifact) and rerun.path == target
    assert sidecar_path(target).is_file()
    assert twin.spent()[1] == 1, "a second task was paid for"


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_a_tunnel_the_proxy_refuses_with_407_is_asked_for_once_per_request(
    clip: Path, twin: Twin, pm: PluginManager
) -> None:
    # A 502 from the proxy is retried as an outage; a 407 would be refused the same way again.
    overrides = ca_config(twin.pki, **{"retry.attempts": 3})
    with ForwardProxy() as proxy:
        proxy.inject(Fault("refuse", status=502, times=-1))
        with pytest.raises(ServiceError):
            upscale(clip, twin.base_url, pm, {**overrides, "provider.proxy": proxy.url})
        outage = len(proxy.tunnels)
        proxy.clear()
        proxy.tunnels.clear()
        proxy.inject(Fault("refuse", status=407, times=-1))
        with pytest.raises(ProxyRefused):
            upscale(clip, twin.base_url, pm, {**overrides, "provider.proxy": proxy.url})
        refused = len(proxy.tunnels)

    # The balance, the two price routes, and the upload ticket of the early upload and of the
    # job's own: once each, where a refusal retried would cost each idempotent request 3 more.
    assert refused == 5
    assert outage > refused
    assert twin.spent() == (0, 0)
