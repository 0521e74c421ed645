"""Checking a WaveSpeed webhook in a studio's own receiver.

The service POSTs the bare prediction object (no envelope) when a task completes or fails, signed
with three headers: ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
``webhook-signature: v3,<hex>``, where the hex is the HMAC-SHA256 of
``"{webhook-id}.{webhook-timestamp}.{raw body}"`` keyed with the account's webhook secret minus
its ``whsec_`` prefix, used as text (not base64-decoded). The secret comes from
``GET /api/v3/webhook/secret``. :func:`verify` checks all of it and returns the prediction.

A Flask (werkzeug) receiver::

    import os
    from flask import Flask, abort, request
    from uprez.wavespeed.webhooks import WebhookError, verify

    app = Flask(__name__)
    SECRET = os.environ["WAVESPEED_WEBHOOK_SECRET"]      # "whsec_..."

    @app.post("/hooks/wavespeed")
    def wavespeed_hook():
        try:
            prediction = verify(SECRET, request.headers, request.get_data())
        except WebhookError as exc:
            abort(400, str(exc))
        if prediction["status"] == "completed":
            queue_download(prediction["id"], prediction["outputs"])
        return "", 204

Pass the body exactly as received (``request.get_data()``, never a re-serialised
``request.json``). A delivery may come more than once: remember the ``webhook-id`` values seen
in the last few minutes if acting twice would hurt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from uprez.errors import WebhookError

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_VERSION", "WebhookError", "verify"]

#: The signature scheme the service uses (the part before the comma).
SIGNATURE_VERSION = "v3"
#: How far, in seconds, a delivery's timestamp may be from now (either way).
DEFAULT_TOLERANCE = 300.0
SECRET_PREFIX = "whsec_"

_ID = "webhook-id"
_TIMESTAMP = "webhook-timestamp"
_SIGNATURE = "webhook-signature"
_MAX_TIMESTAMP_DIGITS = 12


def _header_values(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Every value of every header, by lower-cased name (header names ignore case)."""
    values: dict[str, list[str]] = {}
    for name, value in headers.items():
        values.setdefault(str(name).strip().lower(), []).append(str(value))
    return values


def _one(values: dict[str, list[str]], name: str) -> str:
    given = {value.strip() for value in values.get(name, [])}
    given.discard("")
    if not given:
        raise WebhookError(f"webhook: the {name} header is missing")
    if len(given) > 1:
        raise WebhookError(f"webhook: the {name} header is given more than once")
    return given.pop()


def _timestamp(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookError("webhook: the webhook-timestamp header is not whole unix seconds")
    return int(text)


def _candidates(header_values: list[str]) -> list[bytes]:
    """The ``v3`` digests of the signature header(s): several may be given, space-separated."""
    found: list[bytes] = []
    for value in header_values:
        for entry in value.split():
            version, sep, digest = entry.partition(",")
            if sep and version == SIGNATURE_VERSION and digest:
                found.append(digest.strip().lower().encode("utf-8", "surrogateescape"))
    return found


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """The prediction a webhook delivered, once its signature and timestamp are checked.

    ``secret`` is the account's webhook secret, with or without its ``whsec_`` prefix;
    ``headers`` the request's headers (any mapping; names in any case); ``body`` the raw request
    body. ``now`` (unix seconds, default: the clock) and ``tolerance`` bound the timestamp both
    ways: older or newer than ``tolerance`` seconds is refused, as a replay.

    Raises :class:`~uprez.errors.WebhookError` with a one-line reason when a header is missing,
    no ``v3`` signature matches (several may be given; one match is enough, compared in constant
    time), the timestamp is out of bounds, or the body is not a JSON object.

    >>> verify("whsec_k", {}, b"{}")
    Traceback (most recent call last):
    ...
    uprez.errors.WebhookError: webhook: the webhook-id header is missing
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("verify() takes the raw request body as bytes, exactly as received")
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError("tolerance must be a finite number of seconds, 0 or more")
    key = secret.removeprefix(SECRET_PREFIX) if isinstance(secret, str) else ""
    if not key:
        raise WebhookError("webhook: no webhook secret was given to check the signature with")
    raw = bytes(body)

    values = _header_values(headers)
    webhook_id = _one(values, _ID)
    stamp_text = _one(values, _TIMESTAMP)
    if not any(value.strip() for value in values.get(_SIGNATURE, [])):
        raise WebhookError(f"webhook: the {_SIGNATURE} header is missing")
    stamp = _timestamp(stamp_text)

    clock = time.time() if now is None else float(now)
    if not math.isfinite(clock):
        raise ValueError("now must be a finite unix time")
    age = clock - stamp
    if age > tolerance:
        raise WebhookError(
            f"webhook: the timestamp is too old ({age:.0f} s ago, more than {tolerance:g} s): "
            "a replay, or this machine's clock is off"
        )
    if -age > tolerance:
        raise WebhookError(
            f"webhook: the timestamp is in the future ({-age:.0f} s ahead, more than "
            f"{tolerance:g} s): this machine's clock is off, or the delivery is forged"
        )

    candidates = _candidates(values[_SIGNATURE])
    if not candidates:
        raise WebhookError(
            f"webhook: the {_SIGNATURE} header holds no {SIGNATURE_VERSION},<hex> signature"
        )
    signed = f"{webhook_id}.{stamp_text}.".encode() + raw
    expected = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest().encode("ascii")
    # Compare with every candidate (no early exit), each in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookError(
            f"webhook: the signature does not match (webhook-id {webhook_id[:64]!r}): "
            "a wrong secret, or the body was changed"
        )

    try:
        prediction = json.loads(raw)
    except (ValueError, RecursionError):
        raise WebhookError("webhook: the signed body is not JSON") from None
    if not isinstance(prediction, dict):
        raise WebhookError("webhook: the signed body is not a JSON object (a prediction)")
    return prediction
