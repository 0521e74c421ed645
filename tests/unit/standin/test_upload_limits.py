"""The documented upload limit, 100 MB per file, on every upload route: 413 with the envelope for
a ticket declaring more, a multipart stream going over, and a PUT body over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, ticket

LIMIT = 100_000_000


@pytest.fixture(scope="module")
def strict() -> Iterator[LocalServer]:
    """A server at its default upload limit."""
    settings = ServerSettings(api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL)
    with LocalServer(settings) as running:
        yield running


def test_the_default_upload_limit_is_the_documented_100_mb() -> None:
    assert ServerSettings().max_upload_bytes == LIMIT


def test_a_ticket_declaring_more_than_100_mb_is_413(
    strict: LocalServer, keyed: requests.Session
) -> None:
    over = keyed.post(
        f"{strict.base_url}/api/v3/media/uploads",
        json={"filename": "big.mp4", "size": LIMIT + 1, "content_type": "video/mp4"},
        timeout=10,
    )
    at_limit = ticket(keyed, strict.base_url, LIMIT)

    assert over.status_code == 413, over.text
    assert over.json()["code"] == 413
    assert at_limit["size"] == LIMIT


def multipart_stream(size: int) -> Iterator[bytes]:
    """A multipart body holding ``size`` zero bytes as the field ``file``, made as it is sent."""
    yield (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n"
    )
    block = bytes(1 << 20)
    sent = 0
    while sent < size:
        yield block[: min(len(block), size - sent)]
        sent += min(len(block), size - sent)
    yield b"\r\n--BOUNDARY--\r\n"


@pytest.mark.parametrize("route", ["/api/v3/media/upload/binary", "/api/v3/upload"])
def test_a_multipart_stream_over_100_mb_is_413(
    strict: LocalServer, keyed: requests.Session, route: str
) -> None:
    answer = keyed.post(
        strict.base_url + route,
        data=multipart_stream(LIMIT + 1),
        headers={"Content-Type": "multipart/form-data; boundary=BOUNDARY"},
        timeout=60,
    )

    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == 413
    assert answer.json()["data"] is None


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_put_over_100_mb_is_413(
    strict: LocalServer, keyed: requests.Session, tmp_path: Path, chunked: bool
) -> None:
    data = ticket(keyed, strict.base_url, LIMIT)
    sparse = tmp_path / "over.bin"
    with sparse.open("wb") as out:
        out.truncate(LIMIT + 1)  # a sparse file: no disk used

    with sparse.open("rb") as body:
        sent: Any = iter(lambda: body.read(1 << 20), b"") if chunked else body
        answer = requests.put(
            data["upload"]["url"], data=sent, headers=data["upload"]["headers"], timeout=60
        )

    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == 413
    assert requests.get(data["download_url"], timeout=10).status_code == 404


def test_a_smaller_limit_applies_to_every_route(keyed: requests.Session) -> None:
    settings = ServerSettings(api_key=TEST_KEY, max_upload_bytes=1000)
    with LocalServer(settings) as server:

        def multipart(route: str, size: int) -> int:
            files = {"file": ("a.mp4", bytes(size), "video/mp4")}
            return keyed.post(server.base_url + route, files=files, timeout=10).status_code

        statuses = {
            "ticket": [
                keyed.post(
                    f"{server.base_url}/api/v3/media/uploads",
                    json={"filename": "a.mp4", "size": size},
                    timeout=10,
                ).status_code
                for size in (1000, 1001)
            ],
            "binary": [multipart("/api/v3/media/upload/binary", n) for n in (1000, 1001)],
            "legacy": [multipart("/api/v3/upload", n) for n in (1000, 1001)],
        }

    assert statuses == {"ticket": [200, 413], "binary": [200, 413], "legacy": [200, 413]}
