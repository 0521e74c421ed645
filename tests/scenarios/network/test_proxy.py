"""uprez through a real forward proxy on loopback: ``HTTPS_PROXY`` (and ``provider.proxy``)
carry every leg (API, upload PUT, download) as CONNECT tunnels, so the proxy sees host names and
ports and never the key; ``NO_PROXY`` sends a host straight there; and the local server over
plain HTTP is never reached through a proxy at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from uprez.errors import AmbiguousSubmit, ProxyRefused, ServiceError
from uprez.net.retry import RetryPolicy
from uprez.net.session import ServiceSession
from uprez.plugins import PluginManager
from uprez.protocol import DEFAULT_MODEL
from uprez.wavespeed.client import WaveSpeedClient

from proxy import Fault, ForwardProxy
from studio_net import Twin, ca_config, upscale
from support import SECRET_KEY, Service

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.mark.parametrize("setting", ["HTTPS_PROXY", "provider.proxy"])
def test_every_leg_goes_through_the_proxy_as_a_tunnel_and_the_key_never_shows(
    setting: str,
    clip: Path,
    twin: Twin,
    pm: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ForwardProxy(secret=SECRET_KEY.encode()) as proxy:
        overrides = ca_config(twin.pki)
        if setting == "HTTPS_PROXY":
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        else:
            # The config's proxy wins over the environment's (which leads nowhere here).
            monkeypatch.setenv("HTTPS_PROXY", DEAD_PROXY)
            overrides["provider.proxy"] = proxy.url

        upscale(clip, twin.base_url, pm, overrides)

    assert twin.spent() == (1, 1)
    # CONNECT tunnels only, to the API, the storage (the PUT) and the CDN (the download).
    assert proxy.lines, "nothing went through the proxy"
    assert all(line.startswith("CONNECT 127.0.0.1:") for line in proxy.lines), proxy.lines
    assert {twin.port(face) for face in ("api", "storage", "cdn")} <= set(proxy.tunnels)
    # Not a byte it carried, either way, held the key in clear.
    assert proxy.leaks == []


@pytest.mark.parametrize("setting", ["HTTPS_PROXY", "provider.proxy"])
def test_no_proxy_sends_a_host_straight_there(
    setting: str,
    clip: Path,
    twin: Twin,
    pm: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with ForwardProxy() as proxy:
        overrides = ca_config(twin.pki)
        if setting == "HTTPS_PROXY":
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        else:
            overrides["provider.proxy"] = proxy.url

        upscale(clip, twin.base_url, pm, overrides)

    assert proxy.lines == []
    assert twin.spent() == (1, 1)


def test_the_local_server_over_plain_http_is_never_reached_through_a_proxy(
    clip: Path, service: Service, pm: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would read the key of a plain-HTTP request, and a real one could not reach this
    # machine's loopback: uprez goes straight there, whatever the settings say.
    with ForwardProxy(secret=SECRET_KEY.encode()) as proxy, monkeypatch.context() as env:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env.setenv(name, proxy.url)

        upscale(clip, service.base_url, pm, {"provider.proxy": proxy.url})

    assert proxy.lines == []
    assert proxy.leaks == []
    assert service.spent() == (1, 1)


@pytest.mark.parametrize(("status", "error"), [(407, ProxyRefused), (502, ServiceError)])
def test_a_submit_the_proxy_would_not_carry_is_known_unsent_not_ambiguous(
    status: int, error: type[ServiceError], twin: Twin
) -> None:
    # Were it ambiguous, the run would have to look for a task that cannot exist.
    with ForwardProxy() as proxy:
        session = ServiceSession(ca_bundle=twin.pki.ca, proxy=proxy.url)
        client = WaveSpeedClient(
            twin.base_url, SECRET_KEY, session=session, retry=RetryPolicy(attempts=0)
        )
        proxy.inject(Fault("refuse", status=status, times=-1))
        with pytest.raises(error) as caught:
            client.submit(DEFAULT_MODEL, {"video": "https://media.example.test/shot.mp4"})

    assert not isinstance(caught.value, AmbiguousSubmit)
    assert proxy.tunnels == [twin.port("api")]
    assert twin.spent() == (0, 0)
