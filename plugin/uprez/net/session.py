"""The HTTP session every leg of a service client uses (API, upload, download): which
certificate authorities it trusts, which proxy it goes through, and what a refused certificate
or a refusing proxy means.

requests reads both from the environment at each request, lets the environment win over the
session's own settings (``REQUESTS_CA_BUNDLE`` over ``session.verify``, ``HTTPS_PROXY`` over
``session.proxies``), and ignores ``SSL_CERT_FILE``, which OpenSSL, curl and many studio
machines use. So :class:`ServiceSession` decides once, when it is made, in this order:

* trust: ``provider.ca_bundle``; else the first of ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``
  and ``SSL_CERT_FILE`` that is set; else the public authorities (certifi). The file is read
  then, so a missing or empty one is a config error before anything is sent.
* proxy: never for plain HTTP to loopback (the local server: a proxy would read its key in
  clear, and could not reach this machine's loopback anyway); never for a host in
  ``NO_PROXY``; else ``provider.proxy``; else ``HTTPS_PROXY``, ``HTTP_PROXY`` and
  ``ALL_PROXY``, as requests reads them. HTTPS goes through a proxy as a CONNECT tunnel: the
  proxy learns the host and port, never the key.

Under every request, its transport adapter turns a certificate that fails verification into
:class:`~uprez.errors.UntrustedCertificate` and a proxy's 4xx refusal of a tunnel into
:class:`~uprez.errors.ProxyRefused`: neither is a requests exception, so no leg retries it,
falls back to another route, or reports it as an outage.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy, should_bypass_proxies
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from uprez.errors import ConfigError, ProxyRefused, UntrustedCertificate
from uprez.loopback import is_loopback
from uprez.net.urls import host_of

if TYPE_CHECKING:
    from requests.sessions import _Settings

log = logging.getLogger(__name__)

#: The environment variables that name a bundle of authorities, in the order they are read.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")

# Connections kept open per host. requests keeps 10, so a watch folder or farm node running more
# jobs than that at once would drop connections and open new ones (a TLS handshake each).
POOL_SIZE = 64

# OpenSSL's verification codes that a new bundle cannot cure.
_EXPIRED = frozenset({9, 10})  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
_OTHER_HOST = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_TUNNEL = re.compile(r"Tunnel connection failed: (\d{3})\s*(.*)", re.DOTALL)


@dataclass(frozen=True)
class Trust:
    """The authorities a session trusts: ``bundle`` (a PEM file or folder; None for the public
    authorities) and ``source``, where that choice was made (``$.provider.ca_bundle`` or the
    environment variable)."""

    bundle: str | None = None
    source: str = ""

    @property
    def verify(self) -> str | bool:
        """What requests' ``verify`` takes."""
        return self.bundle if self.bundle is not None else True

    def __str__(self) -> str:
        if self.bundle is None:
            return "the public certificate authorities"
        return f"{self.bundle} (from {self.source})"


def choose_trust(ca_bundle: Path | None, env: Mapping[str, str] | None = None) -> Trust:
    """The authorities to trust: ``ca_bundle`` (``provider.ca_bundle``), else the first bundle
    the environment names (:data:`CA_VARIABLES`), else the public ones. A bundle that cannot be
    read as certificates is a :class:`ConfigError` naming where it was set."""
    if ca_bundle is not None:
        return _readable(str(ca_bundle), "$.provider.ca_bundle")
    environ = os.environ if env is None else env
    for name in CA_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return _readable(value, name)
    return Trust()


def _readable(path: str, source: str) -> Trust:
    """``path`` as the trusted bundle, once OpenSSL has read certificates from it."""
    try:
        if os.path.isdir(path):
            ssl.create_default_context(capath=path)
        else:
            ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: {path} does not exist; point it at the PEM file of the certificate "
            "authorities to trust"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{source}: {path} holds no certificate OpenSSL can read ({_short(exc)}); point "
            "it at a PEM file of certificate authorities"
        ) from None
    return Trust(path, source)


class ServiceSession(requests.Session):
    """A :class:`requests.Session` whose trust and proxy are chosen once (see the module), with
    a connection pool for many jobs at once and the typed refusals of :class:`_Adapter`.

    >>> session = ServiceSession(proxy="http://proxy.studio.lan:3128")
    >>> session.proxies_for("https://api.wavespeed.ai/api/v3/balance")["https"]
    'http://proxy.studio.lan:3128'
    >>> session.proxies_for("http://127.0.0.1:8765/api/v3/balance")  # plain HTTP, loopback
    {}
    """

    def __init__(self, *, ca_bundle: Path | None = None, proxy: str | None = None) -> None:
        super().__init__()
        self.trust = choose_trust(ca_bundle)
        self.proxy = proxy
        self.verify = self.trust.verify
        adapter = _Adapter(self.trust, pool_connections=8, pool_maxsize=POOL_SIZE)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        log.debug(
            "trusting %s; proxy: %s",
            self.trust,
            host_of(proxy) if proxy else "from the environment",
        )

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies a request to ``url`` goes through (empty: straight there)."""
        return dict(self.merge_environment_settings(url, {}, None, None, None)["proxies"])

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> _Settings:
        """requests' settings for one request, but with the trust and proxy chosen here (the
        environment does not override them)."""
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings["verify"] = self.trust.verify if verify is None else verify
        text = url.decode() if isinstance(url, bytes) else (url or "")
        if _plain_loopback(text):
            settings["proxies"] = {}
        elif self.proxy is not None:
            bypass = self.trust_env and should_bypass_proxies(text, no_proxy=None)
            settings["proxies"] = {} if bypass else {"http": self.proxy, "https": self.proxy}
        return settings


def _plain_loopback(url: str) -> bool:
    """Whether ``url`` is plain HTTP to this machine, as urllib3 reads it."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return False
    return parts.scheme == "http" and is_loopback(parts.host or "")


class _Adapter(HTTPAdapter):
    """requests' adapter, raising uprez's errors for what no retry can fix: a certificate that
    fails verification, and a proxy's 4xx refusal of a tunnel."""

    def __init__(self, trust: Trust, **kwargs: Any) -> None:
        self.trust = trust
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().send(request, *args, **kwargs)
        except requests.exceptions.SSLError as exc:
            failed = _verification_failure(exc)
            if failed is None:
                raise
            raise _untrusted(host_of(request.url or ""), failed, self.trust) from exc
        except requests.exceptions.ProxyError as exc:
            status, reason = tunnel_refusal(exc)
            if status is None or not 400 <= status < 500:
                raise  # the proxy is down or cannot reach the host: an outage, retried
            proxy = select_proxy(request.url or "", kwargs.get("proxies") or {})
            raise _refused(proxy, host_of(request.url or ""), status, reason) from exc


def _untrusted(
    host: str, failed: ssl.SSLCertVerificationError, trust: Trust
) -> UntrustedCertificate:
    why = failed.verify_message or _short(failed)
    if failed.verify_code in _EXPIRED:
        fix = "the server's certificate must be renewed (or this machine's clock is wrong)"
    elif failed.verify_code in _OTHER_HOST:
        fix = "the certificate is made out to another host: check provider.base_url"
    else:
        fix = (
            "if your studio has its own certificate authority (or a proxy that inspects HTTPS), "
            "set provider.ca_bundle (or REQUESTS_CA_BUNDLE or SSL_CERT_FILE) to its PEM file"
        )
    return UntrustedCertificate(
        f"the certificate of {host} is not trusted ({why}; trusting {trust}): nothing was sent "
        f"to it; {fix}"
    )


def _refused(proxy: str | None, host: str, status: int, reason: str) -> ProxyRefused:
    shown = host_of(proxy) if proxy else "the proxy"
    if status == 407:
        fix = (
            "it wants credentials: give them in HTTPS_PROXY (http://user:password@host:port), "
            "or ask for this machine to be let through"
        )
    elif status == 403:
        fix = f"its rules forbid {host}: ask for the service's hosts to be allowed"
    else:
        fix = "ask whoever runs the proxy"
    answer = f"HTTP {status} {reason}".strip()
    return ProxyRefused(
        f"the proxy {shown} refused a tunnel to {host} ({answer}): nothing went past it; {fix}",
        status=status,
    )


def tunnel_refusal(exc: BaseException) -> tuple[int | None, str]:
    """The status and reason with which a proxy refused a CONNECT tunnel somewhere behind
    ``exc``; ``(None, "")`` if it did not."""
    for cause in _causes(exc):
        # http.client's own words, in the OSError urllib3 wraps (requests' errors quote it)
        found = _TUNNEL.fullmatch(str(cause))
        if found:
            return int(found.group(1)), found.group(2).strip()
    return None, ""


def describe(exc: BaseException) -> str:
    """Why a request failed, in a few words for messages and logs: the exception's type and,
    for TLS and proxy failures, what happened; never its URL (a signed URL holds a capability
    in its path or query).

    >>> describe(requests.ConnectionError())
    'ConnectionError'
    """
    name = type(exc).__name__
    status, reason = tunnel_refusal(exc)
    if status is not None:
        return f"{name}: the proxy refused the tunnel (HTTP {status} {reason})".replace(" )", ")")
    if isinstance(exc, requests.exceptions.ProxyError):
        return f"{name}: the proxy could not be reached"
    if isinstance(exc, requests.exceptions.SSLError):
        inner = next((c for c in _causes(exc) if isinstance(c, ssl.SSLError)), None)
        return f"{name}: {_short(inner)}" if inner is not None else name
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"{name}: the connection was cut before the end of the answer"
    return name


def _verification_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what lies behind it: its causes and contexts, the exceptions in its
    ``args`` and urllib3's ``reason`` (a requests error wraps urllib3's, which wraps ssl's)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 32:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        behind = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        behind += [arg for arg in current.args if isinstance(arg, BaseException)]
        todo += [b for b in behind if isinstance(b, BaseException)]


def _short(exc: BaseException | None) -> str:
    """An error's words without OpenSSL's source location (``(_ssl.c:1006)``)."""
    if exc is None:
        return ""
    text = getattr(exc, "strerror", None) or str(exc)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(text)).strip() or type(exc).__name__
