"""Three hosts, as on the real service: the API on one port, uploads (PUT targets and
``download_url``s) on a storage port, outputs on a CDN port — with signed PUTs, and inputs
fetched over HTTP like the real model does (an expired upload fails its task with 1402)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, ticket, upload, wait_for

MODEL = "runwayml/upscale-v1"


@pytest.fixture(scope="module")
def hosts() -> Iterator[LocalServer]:
    """A server at its strict defaults but for the level (uploads at the documented limit)."""
    settings = ServerSettings(api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL)
    with LocalServer(settings) as running:
        yield running


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


# -- the three ports -----------------------------------------------------------------------------


def test_api_storage_and_cdn_are_three_loopback_ports(hosts: LocalServer) -> None:
    urls = [hosts.base_url, hosts.storage_url, hosts.cdn_url]

    assert all(urlsplit(url).hostname == "127.0.0.1" for url in urls)
    assert len({port_of(url) for url in urls}) == 3


def test_uploads_live_on_storage_and_outputs_on_the_cdn(
    hosts: LocalServer, keyed: requests.Session, make_clip: Callable[..., Path]
) -> None:
    url = upload(keyed, hosts.base_url, make_clip("hosted.mp4", seconds=0.5, fps=12))
    task = keyed.post(f"{hosts.base_url}/api/v3/{MODEL}", json={"video": url}, timeout=10)
    done = wait_for(keyed, task.json()["data"]["urls"]["get"])

    assert url.startswith(hosts.storage_url + "/media/")
    assert done["status"] == "completed", done
    [output] = done["outputs"]
    assert output.startswith(hosts.cdn_url + "/outputs/")
    assert requests.get(output, timeout=10).status_code == 200
    # Each host serves its own files only.
    assert requests.get(hosts.base_url + urlsplit(output).path, timeout=10).status_code == 404
    assert requests.get(hosts.storage_url + urlsplit(output).path, timeout=10).status_code == 404
    assert requests.get(hosts.base_url + urlsplit(url).path, timeout=10).status_code == 404
    assert requests.get(hosts.cdn_url + urlsplit(url).path, timeout=10).status_code == 404


def test_the_api_port_serves_no_upload_target_media_or_output(
    hosts: LocalServer, keyed: requests.Session, make_clip: Callable[..., Path]
) -> None:
    media = upload(keyed, hosts.base_url, make_clip("elsewhere.mp4", seconds=0.5, fps=12))
    task = keyed.post(f"{hosts.base_url}/api/v3/{MODEL}", json={"video": media}, timeout=10)
    [output] = wait_for(keyed, task.json()["data"]["urls"]["get"])["outputs"]
    target = ticket(keyed, hosts.base_url, len(b"abc"))["upload"]

    on_api = {
        "put": keyed.put(
            hosts.base_url + urlsplit(target["url"]).path,
            data=b"abc",
            headers=target["headers"],
            timeout=10,
        ),
        "media": keyed.get(hosts.base_url + urlsplit(media).path, timeout=10),
        "media-head": keyed.head(hosts.base_url + urlsplit(media).path, timeout=10),
        "output": keyed.get(hosts.base_url + urlsplit(output).path, timeout=10),
    }
    # The same URLs on their own hosts work.
    stored = requests.put(target["url"], data=b"abc", headers=target["headers"], timeout=10)

    assert {name: answer.status_code for name, answer in on_api.items()} == dict.fromkeys(
        on_api, 404
    )
    assert stored.status_code == 200
    assert requests.get(media, timeout=10).status_code == 200
    assert requests.get(output, timeout=10).status_code == 200


def test_storage_and_cdn_serve_no_api(hosts: LocalServer, keyed: requests.Session) -> None:
    for base in (hosts.storage_url, hosts.cdn_url):
        assert keyed.get(f"{base}/api/v3/balance", timeout=10).status_code == 404
        submitted = keyed.post(f"{base}/api/v3/{MODEL}", json={"video": "http://a/b"}, timeout=10)
        assert submitted.status_code == 404


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_uprez_serve_prints_all_three_urls_on_the_ports_asked() -> None:
    storage, cdn = free_port(), free_port()
    child = subprocess.Popen(
        [
            *(sys.executable, "-m", "uprez", "serve", "--port", "0", "--api-key", TEST_KEY),
            *("--storage-port", str(storage), "--cdn-port", str(cdn)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline() for _ in range(3)]
    finally:
        child.terminate()
        child.wait(timeout=30)

    assert lines[0].startswith("uprez local server on http://127.0.0.1:")
    assert lines[1].strip() == f"storage on http://127.0.0.1:{storage}"
    assert lines[2].strip() == f"cdn on http://127.0.0.1:{cdn}"


# -- signed PUTs ---------------------------------------------------------------------------------

PAYLOAD = b"0123456789" * 100


def altered(headers: dict[str, str], change: str) -> dict[str, str]:
    sent = dict(headers)
    signature = next(name for name in sent if name.lower() != "content-type")
    if change == "content-type":
        sent["Content-Type"] = "application/octet-stream"
    elif change == "no-content-type":
        sent["Content-Type"] = ""
    elif change == "signature":
        sent[signature] = sent[signature][:-1] + ("0" if sent[signature][-1] != "0" else "1")
    elif change == "no-signature":
        del sent[signature]
    return sent


@pytest.mark.parametrize("change", ["content-type", "no-content-type", "signature", "no-signature"])
def test_a_put_whose_signed_headers_differ_is_403_and_the_ticket_stays_usable(
    hosts: LocalServer, keyed: requests.Session, change: str
) -> None:
    data = ticket(keyed, hosts.base_url, len(PAYLOAD))
    headers = data["upload"]["headers"]
    assert len(headers) >= 2  # the Content-Type and a signature

    refused = requests.put(
        data["upload"]["url"], data=PAYLOAD, headers=altered(headers, change), timeout=10
    )
    before = requests.get(data["download_url"], timeout=10)
    stored = requests.put(data["upload"]["url"], data=PAYLOAD, headers=headers, timeout=10)

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == 403
    assert before.status_code == 404
    assert stored.status_code == 200, stored.text
    assert requests.get(data["download_url"], timeout=10).content == PAYLOAD


def test_the_ticket_type_is_the_kind_of_media(hosts: LocalServer, keyed: requests.Session) -> None:
    kinds = {}
    for name, ctype in [("a.mp4", "video/mp4"), ("b.png", "image/png"), ("c.wav", "audio/wav")]:
        answer = keyed.post(
            f"{hosts.base_url}/api/v3/media/uploads",
            json={"filename": name, "size": 1, "content_type": ctype},
            timeout=10,
        )
        kinds[name] = answer.json()["data"]["type"]

    assert kinds == {"a.mp4": "video", "b.png": "image", "c.wav": "audio"}


# -- inputs fetched over HTTP --------------------------------------------------------------------


def test_the_server_fetches_its_own_uploads_over_http_from_storage(
    hosts: LocalServer, keyed: requests.Session, make_clip: Callable[..., Path]
) -> None:
    url = upload(keyed, hosts.base_url, make_clip("fetched.mp4", seconds=0.5, fps=12))
    assert hosts.app is not None
    hosts.app.faults.add(Fault("media", "http", status=503))

    task = keyed.post(f"{hosts.base_url}/api/v3/{MODEL}", json={"video": url}, timeout=10)
    done = wait_for(keyed, task.json()["data"]["urls"]["get"])

    # The storage host refused the model's fetch: the task could not have its input.
    assert done["status"] == "failed"
    assert done["code"] == 1402
    assert hosts.app.faults.injected.get("media:http") == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("lifetime", [None, 60.0], ids=["default-24h", "one-minute"])
def test_an_expired_upload_fails_the_task_with_1402_and_costs_nothing(
    keyed: requests.Session, make_clip: Callable[..., Path], lifetime: float | None
) -> None:
    clock = Clock()
    options: dict[str, Any] = {"upload_lifetime": lifetime} if lifetime else {}
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL, clock=clock, **options
    )
    with LocalServer(settings) as server:
        clip = make_clip("stale.mp4", seconds=0.5, fps=12)
        url = upload(keyed, server.base_url, clip)
        balance = keyed.get(f"{server.base_url}/api/v3/balance", timeout=10).json()["data"]
        clock.now += (lifetime or 24 * 3600) - 1
        still_there = requests.get(url, timeout=10).status_code
        clock.now += 2
        gone = requests.get(url, timeout=10).status_code

        task = keyed.post(f"{server.base_url}/api/v3/{MODEL}", json={"video": url}, timeout=10)
        done = wait_for(keyed, task.json()["data"]["urls"]["get"])
        after = keyed.get(f"{server.base_url}/api/v3/balance", timeout=10).json()["data"]

    assert (still_there, gone) == (200, 404)
    assert done["status"] == "failed"
    assert done["code"] == 1402
    assert after == balance
