"""The service session's choices: which authorities it trusts and which proxy a request goes
through, decided once, from the config first and the environment second, whatever requests
would let the environment override."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import trustme
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError

from uprez.errors import ConfigError
from uprez.net.session import (
    CA_VARIABLES,
    ServiceSession,
    Trust,
    choose_trust,
    describe,
    tunnel_refusal,
)

from studio_net import NETWORK_VARIABLES

API = "https://api.wavespeed.ai/api/v3/balance"
PROXY = "http://proxy.studio.lan:3128"


@pytest.fixture(autouse=True)
def bare_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four readable bundles, one per place a bundle can be named."""
    folder = tmp_path_factory.mktemp("bundles")
    paths = {}
    for name in ("config", *CA_VARIABLES):
        paths[name] = folder / f"{name}.pem"
        trustme.CA().cert_pem.write_to_path(str(paths[name]))
    return paths


# -- trust -----------------------------------------------------------------------------------------


def test_the_config_bundle_comes_first_then_each_variable_in_turn(
    bundles: dict[str, Path],
) -> None:
    env = {name: str(bundles[name]) for name in CA_VARIABLES}
    assert choose_trust(bundles["config"], env) == Trust(
        str(bundles["config"]), "$.provider.ca_bundle"
    )
    for index, name in enumerate(CA_VARIABLES):
        later = {n: str(bundles[n]) for n in CA_VARIABLES[index:]}
        assert choose_trust(None, {**later, "IGNORED": "x"}) == Trust(str(bundles[name]), name)
    assert choose_trust(None, {"REQUESTS_CA_BUNDLE": " "}) == Trust()
    assert str(Trust()) == "the public certificate authorities"
    assert Trust().verify is True


@pytest.mark.parametrize("source", ["$.provider.ca_bundle", *CA_VARIABLES])
def test_a_bundle_that_is_missing_or_holds_no_certificate_names_where_it_was_set(
    source: str, tmp_path: Path
) -> None:
    missing, empty = tmp_path / "missing.pem", tmp_path / "empty.pem"
    empty.write_text("")
    for path, words in ((missing, "does not exist"), (empty, "no certificate")):
        config = path if source.startswith("$") else None
        env = {} if config is not None else {source: str(path)}
        with pytest.raises(ConfigError) as caught:
            choose_trust(config, env)
        assert str(caught.value).startswith(f"{source}: {path}")
        assert words in str(caught.value)


def test_the_environment_cannot_override_the_bundle_the_session_chose(
    bundles: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests alone would let REQUESTS_CA_BUNDLE win over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundles["REQUESTS_CA_BUNDLE"]))
    session = ServiceSession(ca_bundle=bundles["config"])

    settings = session.merge_environment_settings(API, {}, None, None, None)

    assert settings["verify"] == str(bundles["config"])


def test_ssl_cert_file_is_read_which_requests_alone_ignores(
    bundles: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(bundles["SSL_CERT_FILE"]))

    assert ServiceSession().verify == str(bundles["SSL_CERT_FILE"])


# -- proxies ---------------------------------------------------------------------------------------


def test_the_config_proxy_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://other.proxy:8080")

    assert ServiceSession(proxy=PROXY).proxies_for(API) == {"http": PROXY, "https": PROXY}
    assert ServiceSession().proxies_for(API)["https"] == "http://other.proxy:8080"


@pytest.mark.parametrize("proxy", [PROXY, None])
def test_no_proxy_is_honoured_for_the_config_proxy_too(
    proxy: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", ".wavespeed.ai,render.lan")

    session = ServiceSession(proxy=proxy)

    assert session.proxies_for(API) == {}
    assert session.proxies_for("https://storage.example.com/put/x")["https"] == PROXY


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765/api/v3/balance", "http://localhost:1/x", "http://[::1]:80/"]
)
def test_plain_http_to_this_machine_never_goes_through_a_proxy(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, PROXY)

    assert ServiceSession(proxy=PROXY).proxies_for(url) == {}
    assert ServiceSession().proxies_for(url) == {}
    # HTTPS to this machine is a tunnel the proxy cannot read: the settings decide.
    assert ServiceSession(proxy=PROXY).proxies_for("https://127.0.0.1:8765/")["https"] == PROXY


# -- what a failure says ---------------------------------------------------------------------------


def _refused_tunnel(status: str) -> requests.exceptions.ProxyError:
    inner = Urllib3ProxyError(
        "Unable to connect to proxy", OSError(f"Tunnel connection failed: {status}")
    )
    return requests.exceptions.ProxyError(
        MaxRetryError(None, "/put/secret-token?sig=abc", reason=inner)  # type: ignore[arg-type]
    )


def test_a_refused_tunnel_is_read_with_its_status_and_told_without_the_url() -> None:
    error = _refused_tunnel("407 Proxy Authentication Required")

    assert tunnel_refusal(error) == (407, "Proxy Authentication Required")
    assert describe(error) == (
        "ProxyError: the proxy refused the tunnel (HTTP 407 Proxy Authentication Required)"
    )
    assert tunnel_refusal(requests.ConnectionError("Connection aborted.")) == (None, "")
    assert describe(requests.exceptions.ReadTimeout("/put/secret-token")) == "ReadTimeout"
