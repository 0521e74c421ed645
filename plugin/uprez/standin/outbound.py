"""How the server reaches out to other hosts: fetching task inputs and delivering webhooks."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from uprez.loopback import is_loopback


def session_for(url: str) -> requests.Session:
    """A plain session for ``url``: no key, no cookies; proxies from the environment only for
    hosts beyond this machine (a loopback storage port must never go through a proxy)."""
    session = requests.Session()
    session.trust_env = not is_loopback(urlsplit(url).hostname or "")
    return session
