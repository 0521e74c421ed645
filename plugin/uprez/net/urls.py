"""Which hosts a URL really names, read the way the HTTP library reads it.

``urlsplit`` and urllib3 disagree on URLs such as ``http://evil.example\\@127.0.0.1:8765``
(the first sees loopback, the second connects to ``evil.example``), so every check here uses
urllib3's parser, the one requests connects with, and refuses what the two could read
differently: user information, backslashes, whitespace and control characters.
"""

from __future__ import annotations

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from uprez.loopback import is_loopback


def parse_strict(url: str, what: str) -> Url:
    """``url`` parsed as requests will connect to it; ``ValueError`` naming ``what`` if it is
    not a plain http(s) URL with a host and without user information."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"{what}: not a URL")
    if "\\" in url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError(f"{what}: backslashes, spaces and control characters are not allowed")
    try:
        parts = parse_url(url)
    except LocationParseError as exc:
        raise ValueError(f"{what}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise ValueError(f"{what}: an http:// or https:// URL with a host is needed")
    if parts.auth is not None or "@" in (parts.netloc or ""):
        raise ValueError(f"{what}: user information (user@host) is not allowed in the URL")
    return parts


def host_of(url: str) -> str:
    """``host:port`` as the HTTP library connects to it (empty for an unreadable URL)."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return ""
    host = (parts.host or "").lower()
    return f"{host}:{parts.port}" if parts.port is not None else host


def plain_http_allowed(parts: Url, allow_insecure_http: bool) -> bool:
    """HTTPS always; plain HTTP to loopback, or anywhere when the user allowed it."""
    if parts.scheme == "https":
        return True
    return allow_insecure_http or is_loopback(parts.host or "")
