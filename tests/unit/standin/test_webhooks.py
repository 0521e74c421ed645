"""Webhooks as the service documents them: POSTed when a task completes or fails, the bare
prediction object as the body, signed with ``v3,<hex HMAC-SHA256 of id.timestamp.body>`` keyed
with the secret minus ``whsec_`` — checked here by hand, with the standard library only."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, upload, wait_for

MODEL = "runwayml/upscale-v1"
SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tz"


class Receiver:
    """A webhook receiver on loopback that records each delivery; it answers with the statuses
    in ``answers`` (then 200), and waits for ``gate`` before answering."""

    def __init__(self, answers: tuple[int, ...] = ()) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        self.answers = list(answers)
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver.arrived:
                    receiver.deliveries.append((headers, body))
                    receiver.arrived.notify_all()
                receiver.gate.wait(30)
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_port}/hook?token=abc"

    def wait(self, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout), (
                f"{len(self.deliveries)} deliveries"
            )
            return list(self.deliveries)

    def close(self) -> None:
        self.gate.set()
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def hooked() -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL, webhook_secret=SECRET
    )
    with LocalServer(settings) as running:
        yield running


def expected_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The documented scheme, written out here independently of the server's signer."""
    key = secret[len("whsec_") :].encode()
    message = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v3," + hmac.new(key, message, hashlib.sha256).hexdigest()


def check_signed(headers: dict[str, str], body: bytes, secret: str = SECRET) -> None:
    assert headers["webhook-id"]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300
    assert headers["webhook-signature"] == expected_signature(
        secret, headers["webhook-id"], headers["webhook-timestamp"], body
    )


def test_the_secret_is_told_to_key_holders(hooked: LocalServer, keyed: requests.Session) -> None:
    answer = keyed.get(f"{hooked.base_url}/api/v3/webhook/secret", timeout=10)
    anonymous = requests.get(f"{hooked.base_url}/api/v3/webhook/secret", timeout=10)

    assert answer.status_code == 200
    assert answer.json()["data"]["secret"] == SECRET
    assert anonymous.status_code == 401
    assert ServerSettings().webhook_secret.startswith("whsec_")
    assert ServerSettings().webhook_secret != ServerSettings().webhook_secret


def test_a_completed_task_is_posted_signed_as_the_bare_prediction(
    hooked: LocalServer,
    keyed: requests.Session,
    receiver: Receiver,
    make_clip: Callable[..., Path],
) -> None:
    url = upload(keyed, hooked.base_url, make_clip("hook.mp4", seconds=0.5, fps=12))
    task = keyed.post(
        f"{hooked.base_url}/api/v3/{MODEL}",
        params={"webhook": receiver.url},
        json={"video": url},
        timeout=10,
    ).json()["data"]
    done = wait_for(keyed, task["urls"]["get"])

    [(headers, body)] = receiver.wait(1)
    check_signed(headers, body)
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    sent = json.loads(body)
    assert "data" not in sent and "message" not in sent  # no envelope
    assert sent["id"] == task["id"]
    assert sent["status"] == "completed"
    assert sent["outputs"] == done["outputs"]


def test_a_failed_task_is_posted_too_from_the_body_webhook_url(
    hooked: LocalServer, keyed: requests.Session, receiver: Receiver
) -> None:
    video = f"{hooked.storage_url}/media/000/none.mp4"
    task = keyed.post(
        f"{hooked.base_url}/api/v3/{MODEL}",
        json={"video": video, "webhook_url": receiver.url},
        timeout=10,
    ).json()["data"]

    [(headers, body)] = receiver.wait(1)
    check_signed(headers, body)
    sent = json.loads(body)
    assert (sent["id"], sent["status"], sent["code"]) == (task["id"], "failed", 1402)
    # The webhook is not one of the task's inputs.
    result = keyed.get(task["urls"]["get"], timeout=10).json()["data"]
    assert result["input"] == {"video": video}


def test_a_refused_delivery_is_retried_with_the_same_id(
    hooked: LocalServer, keyed: requests.Session
) -> None:
    receiver = Receiver(answers=(500,))
    try:
        video = f"{hooked.storage_url}/media/000/none.mp4"
        keyed.post(
            f"{hooked.base_url}/api/v3/{MODEL}",
            json={"video": video, "webhook_url": receiver.url},
            timeout=10,
        )
        (first, body1), (second, body2) = receiver.wait(2)
    finally:
        receiver.close()

    assert first["webhook-id"] == second["webhook-id"]
    assert body1 == body2
    check_signed(first, body1)
    check_signed(second, body2)


def test_a_slow_receiver_does_not_hold_up_the_task(
    hooked: LocalServer, keyed: requests.Session
) -> None:
    receiver = Receiver()
    receiver.gate.clear()
    try:
        video = f"{hooked.storage_url}/media/000/none.mp4"
        first = keyed.post(
            f"{hooked.base_url}/api/v3/{MODEL}",
            json={"video": video, "webhook_url": receiver.url},
            timeout=10,
        ).json()["data"]
        receiver.wait(1)
        second = keyed.post(
            f"{hooked.base_url}/api/v3/{MODEL}",
            json={"video": video, "webhook_url": receiver.url},
            timeout=10,
        ).json()["data"]
        # Both tasks end while the receiver still holds the first delivery.
        done = [wait_for(keyed, task["urls"]["get"], timeout=10) for task in (first, second)]
        assert not receiver.gate.is_set()
    finally:
        receiver.close()

    assert [task["status"] for task in done] == ["failed", "failed"]


@pytest.mark.parametrize("webhook", ["file:///etc/passwd", "not a url", 42])
def test_a_webhook_that_is_not_an_http_url_is_400_and_no_task(
    hooked: LocalServer, keyed: requests.Session, webhook: Any
) -> None:
    before = keyed.get(f"{hooked.base_url}/_uprez/stats", timeout=10).json()["data"]
    answer = keyed.post(
        f"{hooked.base_url}/api/v3/{MODEL}",
        json={"video": "http://127.0.0.1:9/a.mp4", "webhook_url": webhook},
        timeout=10,
    )
    after = keyed.get(f"{hooked.base_url}/_uprez/stats", timeout=10).json()["data"]

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 1401
    assert after["submissions"] == before["submissions"]


def test_a_delivery_passes_the_verifier_studios_use_and_a_tampered_one_does_not(
    hooked: LocalServer,
    keyed: requests.Session,
    receiver: Receiver,
    make_clip: Callable[..., Path],
) -> None:
    # The twin's signer and uprez.wavespeed.webhooks.verify are written apart; the one must
    # pass the other.
    from uprez.errors import WebhookError
    from uprez.wavespeed.webhooks import verify

    secret = keyed.get(f"{hooked.base_url}/api/v3/webhook/secret", timeout=10).json()["data"]
    url = upload(keyed, hooked.base_url, make_clip("verify.mp4", seconds=0.5, fps=12))
    task = keyed.post(
        f"{hooked.base_url}/api/v3/{MODEL}",
        json={"video": url, "webhook_url": receiver.url},
        timeout=10,
    ).json()["data"]
    [(headers, body)] = receiver.wait(1)

    prediction = verify(secret["secret"], headers, body)

    assert prediction["id"] == task["id"]
    with pytest.raises(WebhookError):
        verify(secret["secret"], headers, body.replace(b'"completed"', b'"failed"'))
    with pytest.raises(WebhookError):
        verify("whsec_another", headers, body)
