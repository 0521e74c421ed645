"""uprez over real TLS to the local server, whose certificate a studio authority made on the fly:
trusted only when this machine is told to (``provider.ca_bundle``, ``REQUESTS_CA_BUNDLE``,
``SSL_CERT_FILE``), refused otherwise at once, in one line that names the fix, and never
bypassed: no retry, no other route, no plain HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez.errors import ConfigError, UntrustedCertificate
from uprez.media.probe import probe
from uprez.plugins import PluginManager

from proxy import Relay
from studio_net import Pki, Twin, ca_config, upscale
from support import SECRET_KEY, TEST_BOX, service_env

TLS_RECORD = b"\x16\x03"  # what every TLS connection starts with: a handshake record


def test_every_leg_runs_over_https_when_the_studio_authority_is_trusted(
    clip: Path, twin: Twin, pm: PluginManager
) -> None:
    result = upscale(clip, twin.base_url, pm, ca_config(twin.pki))

    assert isinstance(result.path, Path)
    assert (probe(result.path).width, probe(result.path).height) == TEST_BOX
    assert twin.spent() == (1, 1)
    # Every URL the server handed out is https: the upload it fetched, and the output.
    [task] = [p for p in twin.app.predictions.all() if p.id == result.metadata["task_id"]]
    assert task.input["video"].startswith(f"https://127.0.0.1:{twin.port('storage')}/")
    assert result.metadata["output_url"].startswith(f"https://127.0.0.1:{twin.port('cdn')}/")


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_the_authority_is_trusted_from_the_environment(
    variable: str,
    clip: Path,
    twin: Twin,
    pm: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, str(twin.pki.ca))

    upscale(clip, twin.base_url, pm)

    assert twin.spent() == (1, 1)


def test_an_untrusted_certificate_is_refused_at_once_in_one_line_and_nothing_is_sent(
    clip: Path, twin: Twin, pm: PluginManager
) -> None:
    with (
        Relay(twin.port("api"), secret=SECRET_KEY.encode()) as relay,
        pytest.raises(UntrustedCertificate) as caught,
    ):
        upscale(clip, f"https://127.0.0.1:{relay.port}", pm)

    error = caught.value
    text = str(error)
    assert error.exit_code == 2  # a retry cannot fix it: a farm must not requeue it
    assert "\n" not in text
    assert "not trusted" in text and "unable to get local issuer certificate" in text
    assert "set provider.ca_bundle" in text and "REQUESTS_CA_BUNDLE" in text
    assert "trusting the public certificate authorities" in text
    assert SECRET_KEY not in text
    # One connection, never retried, never another route: it began a TLS handshake and the
    # key was never sent on it; nothing reached the storage or the API.
    assert len(relay.first_bytes) == 1
    assert relay.first_bytes[0].startswith(TLS_RECORD)
    assert relay.leaks == []
    assert twin.spent() == (0, 0)


def test_the_config_bundle_wins_over_the_environment(
    make_clip: Callable[..., Path],
    clip: Path,
    twin: Twin,
    pm: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, str(twin.pki.other_ca))
    upscale(clip, twin.base_url, pm, ca_config(twin.pki))
    assert twin.spent() == (1, 1)

    # And the other way round: the config's (wrong) bundle is the one trusted, and named.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(twin.pki.ca))
    other = make_clip("other.mp4", seconds=0.5, fps=12, width=64, height=36)
    with pytest.raises(UntrustedCertificate) as caught:
        upscale(other, twin.base_url, pm, {"provider.ca_bundle": str(twin.pki.other_ca)})
    assert f"trusting {twin.pki.other_ca} (from $.provider.ca_bundle)" in str(caught.value)


@pytest.mark.parametrize("where", ["$.provider.ca_bundle", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
@pytest.mark.parametrize("bundle", ["missing", "not-pem"])
def test_a_bundle_that_cannot_be_read_is_a_config_error_before_anything_is_sent(
    where: str,
    bundle: str,
    clip: Path,
    twin: Twin,
    pm: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path = tmp_path / "studio-ca.pem"
    if bundle == "not-pem":
        path.write_text("this is not a certificate\n")
    overrides: dict[str, object] = {}
    if where.startswith("$"):
        overrides["provider.ca_bundle"] = str(path)
    else:
        monkeypatch.setenv(where, str(path))

    with pytest.raises(ConfigError) as caught:
        upscale(clip, twin.base_url, pm, overrides)

    assert not isinstance(caught.value, UntrustedCertificate)
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"{where}: {path}")
    assert twin.spent() == (0, 0)


@pytest.mark.parametrize(
    ("chain", "why", "fix"),
    [
        ("expired", "certificate has expired", "must be renewed"),
        ("other_host", "mismatch", "check provider.base_url"),
    ],
)
def test_a_certificate_no_bundle_can_cure_says_what_to_fix_instead(
    chain: str, why: str, fix: str, clip: Path, twin: Twin, pm: PluginManager
) -> None:
    twin.present(getattr(twin.pki, chain))

    with pytest.raises(UntrustedCertificate) as caught:
        upscale(clip, twin.base_url, pm, ca_config(twin.pki))

    assert why in str(caught.value) and fix in str(caught.value)
    assert "set provider.ca_bundle" not in str(caught.value)
    assert twin.spent() == (0, 0)


# -- the command line ------------------------------------------------------------------------------


def test_the_command_line_refuses_with_exit_2_and_trusts_the_bundle_it_is_given(
    make_clip: Callable[..., Path], twin: Twin, tmp_path: Path
) -> None:
    source = make_clip("cli.mp4", seconds=0.5, fps=12, width=64, height=36)
    env = service_env(
        twin.base_url, UPREZ_POLLING__FIRST_INTERVAL="0.05", UPREZ_RETRY__BACKOFF_BASE="0.01"
    )

    def uprez(**more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "uprez", "upscale", str(source)],
            capture_output=True,
            text=True,
            env={**env, **more},
            cwd=tmp_path,
            timeout=120,
        )

    refused = uprez()
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert "not trusted" in line and "provider.ca_bundle" in line
    assert twin.spent() == (0, 0)

    done = uprez(UPREZ_PROVIDER__CA_BUNDLE=str(twin.pki.ca))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_file()
    assert twin.spent() == (1, 1)
    assert SECRET_KEY not in refused.stderr + done.stderr + done.stdout
    assert os.environ.get("REQUESTS_CA_BUNDLE") is None


def test_uprez_serve_serves_https_with_the_certificate_it_is_given(pki: Pki) -> None:
    import requests

    from uprez.net.session import ServiceSession

    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uprez",
            "serve",
            "--port",
            "0",
            "--api-key",
            SECRET_KEY,
            "--tls-cert",
            str(pki.server),
            "--tls-key",
            str(pki.server),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        if not first.startswith("uprez local server on https://127.0.0.1:"):
            serve.kill()
            pytest.fail(f"uprez serve said {first!r}; stderr: {serve.communicate()[1]}")
        storage = serve.stdout.readline()
        base = first.split()[-1]
        headers = {"Authorization": f"Bearer {SECRET_KEY}"}
        answer = ServiceSession(ca_bundle=pki.ca).get(f"{base}/api/v3/balance", headers=headers)
        assert answer.status_code == 200
        assert storage.startswith("storage on https://"), storage
        # Plain HTTP on the same port is not answered as HTTP.
        with pytest.raises(requests.ConnectionError):
            requests.get(base.replace("https://", "http://") + "/api/v3/balance", timeout=5)
    finally:
        serve.terminate()
        serve.wait(timeout=10)
