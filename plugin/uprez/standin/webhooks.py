"""Webhooks the server sends when a task ends, signed as the service documents.

Each delivery is a POST of the bare prediction object (no envelope) with the headers
``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature: v3,<hex>``, where
``<hex>`` is the HMAC-SHA256 of ``"{id}.{timestamp}.{raw body}"`` keyed with the secret minus its
``whsec_`` prefix, taken as text. Deliveries run on their own threads with a short timeout and
a couple of retries (same id, fresh timestamp and signature), so a slow receiver never holds up
a task.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from uprez.standin.outbound import session_for
from uprez.standin.signing import sign

log = logging.getLogger(__name__)


class WebhookSender:
    """Delivers signed webhooks in the background; ``delivered`` and ``failed`` count them."""

    def __init__(
        self,
        secret: str,
        clock: Callable[[], float],
        *,
        attempts: int = 3,
        timeout: float = 5.0,
        backoff: float = 0.5,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._attempts = attempts
        self._timeout = timeout
        self._backoff = backoff
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="uprez-webhook")
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def send(self, url: str, prediction: dict[str, Any]) -> None:
        """Queue one delivery of ``prediction`` to ``url``; returns at once."""
        body = json.dumps(prediction, separators=(",", ":")).encode("utf-8")
        try:
            self._pool.submit(self._deliver, url, body)
        except RuntimeError:  # shut down: the server is stopping
            log.debug("webhook for %s not sent: the server is stopping", prediction.get("id"))

    def close(self) -> None:
        """Stop delivering: queued deliveries are dropped, a retry's wait ends at once."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, url: str, body: bytes) -> None:
        message_id = "msg_" + secrets.token_hex(12)
        with session_for(url) as session:
            for attempt in range(1, self._attempts + 1):
                if self._stopping.is_set():
                    return
                timestamp = int(self._clock())
                headers = {
                    "Content-Type": "application/json",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(self._secret, message_id, timestamp, body),
                }
                try:
                    answer = session.post(
                        url,
                        data=body,
                        headers=headers,
                        timeout=(2.0, self._timeout),
                        allow_redirects=False,
                        stream=True,
                    )
                    answer.close()
                    if 200 <= answer.status_code < 300:
                        with self._lock:
                            self.delivered += 1
                        return
                    problem = f"HTTP {answer.status_code}"
                except requests.RequestException as exc:
                    problem = type(exc).__name__
                log.info("webhook %s attempt %d failed: %s", message_id, attempt, problem)
                if attempt < self._attempts and self._stopping.wait(self._backoff * attempt):
                    return
        with self._lock:
            self.failed += 1
        log.warning("webhook %s gave up after %d attempts", message_id, self._attempts)
