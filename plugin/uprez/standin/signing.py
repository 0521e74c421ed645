"""Webhook secrets and signatures as the service documents them: ``whsec_`` secrets, and
``v3,<hex>`` signatures, the HMAC-SHA256 of ``"{id}.{timestamp}.{raw body}"`` keyed with the
secret minus its prefix, taken as text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def random_secret() -> str:
    """A fresh webhook secret, ``whsec_`` and random text."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery: ``v3,<hex HMAC-SHA256>``."""
    key = secret.removeprefix(SECRET_PREFIX).encode("utf-8")
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v3," + hmac.new(key, signed, hashlib.sha256).hexdigest()
