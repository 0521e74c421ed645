"""How the server reaches out to other hosts: fetching task inputs and delivering webhooks."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import requests

from uprez.loopback import is_loopback
from uprez.standin.tls import PinnedAdapter


def session_for(url: str, own_cert: Path | None = None) -> requests.Session:
    """A plain session for ``url``: no key, no cookies; proxies from the environment only for
    hosts beyond this machine (a loopback storage port must never go through a proxy). A server
    over HTTPS passes its certificate, ``own_cert``, which it trusts besides the usual
    authorities: its own ports present it, whatever name the client reached them by."""
    session = requests.Session()
    session.trust_env = not is_loopback(urlsplit(url).hostname or "")
    if own_cert is not None:
        session.mount("https://", PinnedAdapter(own_cert))
    return session
