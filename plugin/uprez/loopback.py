"""Whether a host name is this machine: ``localhost`` or a loopback address (any form)."""

from __future__ import annotations

from ipaddress import ip_address


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses, bracketed IPv6 included.

    >>> is_loopback("127.0.0.2"), is_loopback("[::1]"), is_loopback("example.com")
    (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
