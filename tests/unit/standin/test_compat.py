"""The official WaveSpeed SDK and the documented curl calls work against the local server
unchanged but for the base URL."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import wavespeed  # in the test extra: its absence must fail, not skip

from uprez.media.probe import probe
from uprez.standin.runner import LocalServer

from support import TEST_KEY

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def sdk_client(server: LocalServer) -> Any:
    return wavespeed.Client(api_key=TEST_KEY, base_url=server.base_url, retry_interval=0.1)


def test_sdk_uploads_runs_and_gets_a_real_upscale(
    server: LocalServer, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    client = sdk_client(server)
    clip = make_clip("sdk.mp4", seconds=0.5, fps=12)
    url = client.upload(str(clip))
    # The SDK PUTs with the ticket's signed headers to the storage host, not the API host.
    assert url.startswith(server.storage_url + "/media/")

    result = client.run("runwayml/upscale-v1", {"video": url}, timeout=60, poll_interval=0.05)

    assert len(result["outputs"]) == 1
    assert result["outputs"][0].startswith(server.cdn_url + "/outputs/")
    out = tmp_path / "out.mp4"
    out.write_bytes(requests.get(result["outputs"][0], timeout=10).content)
    info = probe(str(out))
    assert (info.width, info.height) == (256, 144)
    assert info.frames == 6


def test_sdk_sync_mode_returns_outputs_from_the_post(
    server: LocalServer, make_clip: Callable[..., Path]
) -> None:
    client = sdk_client(server)
    url = client.upload(str(make_clip("sync.mp4", seconds=0.5, fps=12)))

    result = client.run("runwayml/upscale-v1", {"video": url}, enable_sync_mode=True, timeout=60)

    assert result["outputs"][0].startswith(server.cdn_url + "/outputs/")


def test_sdk_reports_a_failed_task_with_its_id(server: LocalServer) -> None:
    client = sdk_client(server)
    missing = f"{server.storage_url}/media/0000/missing.mp4"

    with pytest.raises(RuntimeError, match=r"failed \(task_id: [0-9a-f]{32}\)"):
        client.run("runwayml/upscale-v1", {"video": missing}, timeout=60, poll_interval=0.05)


def test_sdk_with_a_wrong_key_gets_the_401(server: LocalServer) -> None:
    client = wavespeed.Client(api_key="wrong", base_url=server.base_url)
    with pytest.raises(RuntimeError, match="HTTP 401"):
        client.run("runwayml/upscale-v1", {"video": "https://example.invalid/a.mp4"}, timeout=5)


def curl(*args: str) -> Any:
    assert CURL is not None
    done = subprocess.run(
        [CURL, "--silent", "--show-error", "--location", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout)


@needs_curl
def test_documented_curl_calls_upload_submit_and_fetch_the_result(
    server: LocalServer, make_clip: Callable[..., Path]
) -> None:
    auth = f"Authorization: Bearer {TEST_KEY}"
    clip = make_clip("curl.mp4", seconds=0.5, fps=12)
    uploaded = curl(
        "--request",
        "POST",
        f"{server.base_url}/api/v3/media/upload/binary",
        "--header",
        auth,
        "--form",
        f"file=@{clip}",
    )
    video_url = uploaded["data"]["download_url"]

    submitted = curl(
        "--request",
        "POST",
        f"{server.base_url}/api/v3/runwayml/upscale-v1",
        "--header",
        "Content-Type: application/json",
        "--header",
        auth,
        "--data-raw",
        json.dumps({"video": video_url}),
    )
    assert submitted["code"] == 200
    request_id = submitted["data"]["id"]

    for _ in range(600):
        result = curl(
            "--request",
            "GET",
            f"{server.base_url}/api/v3/predictions/{request_id}/result",
            "--header",
            auth,
        )
        if result["data"]["status"] == "completed":
            break
        time.sleep(0.1)
    assert result["data"]["outputs"], result
