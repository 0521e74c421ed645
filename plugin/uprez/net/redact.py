"""Keeping secrets out of logs: signed URLs lose their query strings."""

from __future__ import annotations

import logging
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


class QueryRedactingFilter(logging.Filter):
    """Strips query strings from the arguments of log records (urllib3 logs request paths
    with their signatures at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _strip_query(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


def _strip_query(text: str) -> str:
    head, _, _ = text.partition("?")
    return head + "?<redacted>"


def install_log_redaction() -> None:
    """Make urllib3's request logging redact query strings (idempotent)."""
    pool_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, QueryRedactingFilter) for f in pool_log.filters):
        pool_log.addFilter(QueryRedactingFilter())
