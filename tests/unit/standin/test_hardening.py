"""The twin holds up against a key holder who misbehaves: bounded JSON bodies and depth (400,
never a 500 with a traceback), idle connections closed, a bounded number of connections, and no
one-time upload token in any log line."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_KEY, TEST_LEVEL, task_ids

MODEL = "runwayml/upscale-v1"


@pytest.fixture(scope="module")
def hardened() -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=TEST_KEY, account_level=TEST_LEVEL, socket_timeout=0.5, max_connections=4
    )
    with LocalServer(settings) as running:
        yield running


# Each route with a body it would accept, but for the padding put in place of {pad}: what is
# refused is the size or the depth, never the content.
JSON_ROUTES = {
    "submit": (f"/api/v3/{MODEL}", '{"video": "http://127.0.0.1:9/a.mp4", "note": {pad}}'),
    "listing": ("/api/v3/predictions", '{"page": 1, "page_size": 10, "note": {pad}}'),
    "ticket": ("/api/v3/media/uploads", '{"filename": "a.mp4", "size": 1, "note": {pad}}'),
    "faults": ("/_uprez/faults", '[{"route": "balance", "kind": "http", "task_status": {pad}}]'),
}
PADS = {
    "over-1-mb": '"' + "x" * 1_000_001 + '"',
    "40-deep": "[" * 40 + "]" * 40,
    "100000-deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("route", JSON_ROUTES.keys())
@pytest.mark.parametrize("pad", PADS.keys())
@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
def test_an_oversized_or_deep_json_body_is_a_400_envelope(
    hardened: LocalServer, keyed: requests.Session, route: str, pad: str, chunked: bool
) -> None:
    path, template = JSON_ROUTES[route]
    body = template.replace("{pad}", PADS[pad]).encode()
    small = template.replace("{pad}", '"x"').encode()
    sent: Any = iter([body[: len(body) // 2], body[len(body) // 2 :]]) if chunked else body

    before = task_ids(hardened.base_url, TEST_KEY)
    answer = keyed.post(
        hardened.base_url + path,
        data=sent,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    refused_tasks = task_ids(hardened.base_url, TEST_KEY)
    accepted = keyed.post(
        hardened.base_url + path,
        data=small,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert answer.status_code == 400, answer.text[:200]
    assert answer.json()["code"] == 400
    assert answer.json()["data"] is None
    assert "Traceback" not in answer.text
    assert refused_tasks == before
    assert accepted.status_code == 200, accepted.text  # the same body, small and flat
    if route == "faults":
        keyed.delete(f"{hardened.base_url}/_uprez/faults", timeout=10)


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


@pytest.mark.parametrize("port", ["base_url", "storage_url", "cdn_url"])
@pytest.mark.parametrize("sent", [b"", b"GET /api/v3/bal"], ids=["silent", "half-a-line"])
def test_an_idle_connection_is_closed_by_the_server(
    hardened: LocalServer, port: str, sent: bytes
) -> None:
    with connect(getattr(hardened, port)) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        try:
            closed = sock.recv(1024) == b""
        except ConnectionResetError:
            closed = True
        waited = time.monotonic() - started

    assert closed
    assert waited < 5


def test_connections_over_the_bound_are_turned_away_then_served_again(
    hardened: LocalServer, keyed: requests.Session
) -> None:
    # Four connections that say nothing hold every slot until the idle timeout frees them.
    idle = [connect(hardened.base_url) for _ in range(4)]
    time.sleep(0.1)
    try:
        try:
            status = keyed.get(f"{hardened.base_url}/api/v3/balance", timeout=10).status_code
        except requests.ConnectionError:
            status = 0  # closed before the answer could be read: turned away all the same
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    later = keyed.get(f"{hardened.base_url}/api/v3/balance", timeout=10).status_code

    assert status in (503, 0)
    assert later == 200


def test_no_upload_token_appears_in_any_log_line(
    hardened: LocalServer, keyed: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = keyed.post(
        f"{hardened.base_url}/api/v3/media/uploads",
        json={"filename": "a.mp4", "size": 3, "content_type": "video/mp4"},
        timeout=10,
    ).json()["data"]
    target = ticket["upload"]["url"]
    token = target.rsplit("/", 1)[1]
    headers = ticket["upload"]["headers"]

    refused = requests.put(target, data=b"abc", timeout=10)  # unsigned: 403
    stored = requests.put(target, data=b"abc", headers=headers, timeout=10)
    again = requests.put(target, data=b"abc", headers=headers, timeout=10)  # used: 409
    with connect(target) as sock:  # a request line the server cannot parse
        sock.sendall(f"PUT {urlsplit(target).path} HTTP/9.9\r\n\r\n".encode())
        sock.recv(1024)

    assert (refused.status_code, stored.status_code, again.status_code) == (403, 200, 409)
    # Every line but the test client's own (urllib3 logs the URLs it was asked to fetch).
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith("urllib3")]
    assert "PUT /put/<token> -> 200" in lines  # the requests were logged, their tokens hidden
    assert not [line for line in lines if token in line]
