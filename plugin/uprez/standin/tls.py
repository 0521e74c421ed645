"""The local server over HTTPS: its TLS context, and the trust its own fetches give its
certificate.

Every port (API, storage, CDN) presents the same certificate, so it must name the host clients
use (``127.0.0.1``, ``localhost``, or a name that resolves there). The server fetches task
inputs over HTTP, its own uploads included; on loopback it trusts exactly the certificate it
serves (pinned: that file's certificates are trust anchors in themselves), so it needs neither
the authority that signed it nor the machine's trust store.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from requests.adapters import HTTPAdapter

from uprez.errors import ConfigError


def server_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A server-side context presenting ``cert`` (a PEM chain, leaf first) with ``key`` (None:
    the key is in ``cert``'s file); TLS 1.2 at least. A file that cannot be read, or a key that
    does not match, is a :class:`ConfigError` naming it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS: {exc.filename or cert} does not exist") from None
    except (OSError, ssl.SSLError) as exc:
        named = f"{cert} and {key}" if key is not None else str(cert)
        raise ConfigError(
            f"TLS: {named}: not a PEM certificate chain and its private key ({exc})"
        ) from None
    return context


class PinnedAdapter(HTTPAdapter):
    """An adapter that trusts the certificates in ``cert`` as anchors of their own (OpenSSL's
    partial chains), besides nothing but what requests passes in: the server's fetches from its
    own ports."""

    def __init__(self, cert: Path, **kwargs: Any) -> None:
        self.cert = cert
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        context = ssl.create_default_context(cafile=str(self.cert))
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        kwargs["ssl_context"] = context
        super().init_poolmanager(*args, **kwargs)
