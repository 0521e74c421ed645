"""What the studio-network tests share: a private certificate authority on disk, the local
server over real TLS, and runs of the upscale step against it.

The authority and its certificates are made on the fly with trustme: nothing is trusted by this
machine unless a test says so (``provider.ca_bundle``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from uprez.config import Config
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.standin.app import ServiceApp
from uprez.standin.runner import LocalServer
from uprez.step.run import run_upscale
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, fast_config

#: Where requests, OpenSSL and curl look for trust and proxies: cleared for every network test,
#: so the machine's own settings (a CI image often sets REQUESTS_CA_BUNDLE) decide nothing.
NETWORK_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    *(f"{name}_PROXY" for name in ("HTTPS", "HTTP", "ALL", "NO")),
    *(f"{name}_proxy" for name in ("https", "http", "all", "no")),
)


@dataclass(frozen=True)
class Pki:
    """A studio's certificate authority and the files a test points uprez or the server at."""

    ca: Path  # the studio's authority (PEM): what a machine must be told to trust
    server: Path  # key and chain of a certificate for 127.0.0.1 and localhost, signed by it
    expired: Path  # the same names and authority, but expired yesterday
    other_host: Path  # signed by it, valid, but made out to another host
    other_ca: Path  # an authority that signed none of these


def make_pki(folder: Path) -> Pki:
    """Make the authority and its certificates as PEM files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, other = trustme.CA(), trustme.CA()
    now = datetime.datetime.now(datetime.UTC)
    files = {
        "ca": ca.cert_pem,
        "other_ca": other.cert_pem,
        "server": ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem,
        "expired": ca.issue_cert(
            "127.0.0.1",
            "localhost",
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        ).private_key_and_cert_chain_pem,
        "other_host": ca.issue_cert("render.example.test").private_key_and_cert_chain_pem,
    }
    paths = {name: folder / f"{name}.pem" for name in files}
    for name, blob in files.items():
        blob.write_to_path(str(paths[name]))
    return Pki(**paths)


@dataclass
class Twin:
    """The local server over TLS as one test sees it: what was spent since the test began."""

    server: LocalServer
    pki: Pki
    start: tuple[int, int] = (0, 0)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def app(self) -> ServiceApp:
        assert self.server.app is not None
        return self.server.app

    def port(self, face: str) -> int:
        """The port of ``api``, ``storage`` or ``cdn``."""
        url = {"api": self.base_url, "storage": self.server.storage_url}.get(face)
        return int((url or self.server.cdn_url).rsplit(":", 1)[1])

    def counts(self) -> tuple[int, int]:
        """Uploads and submissions so far (what ``/_uprez/stats`` reports)."""
        return self.app.uploads.count(), self.app.submissions

    def spent(self) -> tuple[int, int]:
        """Uploads and submissions since the test began."""
        now = self.counts()
        return now[0] - self.start[0], now[1] - self.start[1]

    def present(self, chain: Path) -> None:
        """Present ``chain`` (key and certificate) from the next connection on."""
        context = self.server.tls_context
        assert context is not None
        context.load_cert_chain(chain)


def upscale(
    clip: Path,
    base_url: str,
    pm: PluginManager,
    overrides: dict[str, object] | None = None,
) -> Artifact:
    """Run the step on ``clip`` against ``base_url`` as a host would (the config's trust and
    proxy settings in ``overrides``; the environment's are read by the client as always)."""
    config: Config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(config, base_url=base_url, api_key=SECRET_KEY)
    try:
        return run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
    finally:
        provider.close()


def ca_config(pki: Pki, **more: Any) -> dict[str, object]:
    """Overrides that trust the studio's authority (``provider.ca_bundle``), plus ``more``."""
    return {"provider.ca_bundle": str(pki.ca), **more}
