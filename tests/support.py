"""Helpers the tests share: waiting on a task and uploading a file, over plain HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

TEST_KEY = "test-key-for-the-local-server"
# Small enough that a test upscale takes a fraction of a second on two cores.
TEST_BOX = (256, 144)


def wait_for(api: requests.Session, url: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a prediction URL until its status is terminal; return the ``data`` object."""
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(url, timeout=10)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        if data["status"] in ("completed", "failed"):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"task still {data['status']} after {timeout} s")
        time.sleep(0.05)


def upload(api: requests.Session, base_url: str, path: Path) -> str:
    """Upload a file by the ticket + PUT flow; return its download URL."""
    ticket = api.post(
        f"{base_url}/api/v3/media/uploads",
        json={"filename": path.name, "size": path.stat().st_size, "content_type": "video/mp4"},
        timeout=10,
    )
    assert ticket.status_code == 200, ticket.text
    data = ticket.json()["data"]
    with path.open("rb") as body:
        put = requests.put(
            data["upload"]["url"], data=body, headers=data["upload"]["headers"], timeout=30
        )
    assert put.status_code == 200, put.text
    url: str = data["download_url"]
    return url
