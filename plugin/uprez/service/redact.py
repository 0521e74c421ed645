"""Keeping secrets out of logs: signed URLs lose their query strings."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """The URL without its query string and fragment (where signatures and tokens live).

    >>> redact_url("https://cdn.example/out.mp4?X-Signature=abc")
    'https://cdn.example/out.mp4?<redacted>'
    """
    parts = urlsplit(url)
    query = "<redacted>" if parts.query else ""
    host = parts.netloc.rpartition("@")[2]  # user:password@ is a secret too
    return urlunsplit((parts.scheme, host, parts.path, query, ""))
