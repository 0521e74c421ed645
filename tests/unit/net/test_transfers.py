"""Uploads and downloads against the real local server: every size round-trips byte for byte,
through both upload routes, with progress reaching the whole file; a file that shrinks while it
is sent is an error, never a short upload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from uprez.errors import TransferError
from uprez.net.transfers import WRITEBACK_STEP
from uprez.net.upload_bodies import SEND_CHUNK, ProgressReader
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.wavespeed.client import WaveSpeedClient

from support import TEST_KEY


def client_of(server: LocalServer) -> WaveSpeedClient:
    return WaveSpeedClient(server.base_url, TEST_KEY)


@pytest.mark.parametrize("size", [0, 1, SEND_CHUNK - 1, SEND_CHUNK, SEND_CHUNK + 1, 3_000_000])
def test_an_upload_of_any_size_arrives_whole(
    server: LocalServer, tmp_path: Path, size: int
) -> None:
    source = tmp_path / "export.mp4"
    source.write_bytes(os.urandom(size))
    seen: list[tuple[int, int | None]] = []

    url = client_of(server).upload(source, progress=lambda done, total: seen.append((done, total)))

    assert requests.get(url, timeout=10).content == source.read_bytes()
    if size:
        assert seen[-1] == (size, size)


def test_the_multipart_fallback_arrives_whole(server: LocalServer, tmp_path: Path) -> None:
    assert server.app is not None
    server.app.faults.add(Fault("upload_ticket", "http", status=404))
    source = tmp_path / "export.mp4"
    source.write_bytes(os.urandom(SEND_CHUNK * 2 + 7))

    url = client_of(server).upload(source)

    assert server.app.faults.injected == {"upload_ticket:http": 1}
    assert requests.get(url, timeout=10).content == source.read_bytes()


def test_a_file_that_shrinks_while_it_is_sent_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "export.mp4"
    source.write_bytes(b"x" * 100)

    with source.open("rb") as handle, pytest.raises(TransferError, match="changed while"):
        list(ProgressReader(handle, 150, None))  # the size taken before it was cut short


def test_a_download_past_several_writeback_steps_is_whole(
    server: LocalServer, tmp_path: Path
) -> None:
    source = tmp_path / "export.mp4"
    source.write_bytes(os.urandom(2 * WRITEBACK_STEP + 12345))
    client = client_of(server)
    url = client.upload(source)
    target = tmp_path / "back.mp4"
    seen: list[int] = []

    size = client.download(url, target, progress=lambda done, total: seen.append(done))

    assert size == source.stat().st_size
    assert target.read_bytes() == source.read_bytes()
    assert seen[-1] == size
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
