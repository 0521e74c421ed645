"""The studio's link, as the twin plays it: one uplink and one downlink shared by every connection,
a latency on every request, and the model's own fetch of an input left off the studio's line.

Timings are lower bounds only ("at least this slow"), which a loaded machine cannot break; the one
upper bound, on the model's own fetch, leaves a margin of several times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.errors import ConfigError
from uprez.standin.bucket import TokenBucket
from uprez.standin.link import OWN_FETCH_HEADER
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, serving, ticket, upload, wait_for

MODEL = "runwayml/upscale-v1"
MB = 1_000_000


@contextmanager
def shaped(**settings: Any) -> Iterator[tuple[LocalServer, requests.Session]]:
    options: dict[str, Any] = {
        "api_key": TEST_KEY,
        "max_size": TEST_BOX,
        "account_level": TEST_LEVEL,
        **settings,
    }
    with LocalServer(ServerSettings(**options)) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TEST_KEY}"
        yield server, session


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.monotonic()
    result = call(*args, **kwargs)
    return time.monotonic() - started, result


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


# -- the bucket ----------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_lets_its_burst_through_then_charges_the_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(1000, burst=100, clock=fake.clock, sleep=fake.sleep)

    waits = [bucket.take(100), bucket.take(500), bucket.take(250)]

    assert waits == [0.0, pytest.approx(0.5), pytest.approx(0.25)]
    assert fake.now == pytest.approx(100.75)  # 850 bytes, 100 of them free, at 1000 a second


def test_the_default_burst_is_small_a_chunk_or_10_ms_of_the_rate() -> None:
    assert TokenBucket(8 * MB).burst == 80_000
    assert TokenBucket(1000).burst == 64 * 1024


# -- the uplink ----------------------------------------------------------------------------------


def test_a_put_goes_no_faster_than_the_uplink(tmp_path: Path) -> None:
    body = os.urandom(4 * MB)
    with shaped(bandwidth_up=8 * MB) as (server, api):
        data = ticket(api, server.base_url, len(body))
        elapsed, put = timed(
            requests.put,
            data["upload"]["url"],
            data=body,
            headers=data["upload"]["headers"],
            timeout=60,
        )
        assert server.app is not None
        stored = [path.read_bytes() for path in server.app.uploads.files()]

    assert put.status_code == 200, put.text
    assert stored == [body]
    assert elapsed >= 0.45  # 4 MB at 8 MB/s is 0.5 s, less a burst of 10 ms


def test_a_multipart_upload_goes_no_faster_than_the_uplink(tmp_path: Path) -> None:
    source = random_file(tmp_path / "clip.mp4", 2 * MB)
    with shaped(bandwidth_up=4 * MB) as (server, api), source.open("rb") as body:
        elapsed, answer = timed(
            api.post,
            f"{server.base_url}/api/v3/media/upload/binary",
            files={"file": ("clip.mp4", body, "video/mp4")},
            timeout=60,
        )

    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["size"] == 2 * MB
    assert elapsed >= 0.45  # 2 MB at 4 MB/s


def test_two_puts_at_once_share_one_uplink(tmp_path: Path) -> None:
    bodies = [os.urandom(2 * MB), os.urandom(2 * MB)]
    with shaped(bandwidth_up=4 * MB) as (server, api):
        tickets = [ticket(api, server.base_url, len(body)) for body in bodies]
        elapsed = together(
            lambda i: requests.put(
                tickets[i]["upload"]["url"],
                data=bodies[i],
                headers=tickets[i]["upload"]["headers"],
                timeout=60,
            ).raise_for_status(),
            2,
        )

    # Alone, each would take 0.5 s; sharing the line, together they take 1 s.
    assert max(elapsed) >= 0.9
    assert min(elapsed) >= 0.6


# -- the downlink --------------------------------------------------------------------------------


def together(work: Any, count: int) -> list[float]:
    """Run ``work(i)`` for each i in threads started at once; return each one's seconds."""
    start = threading.Barrier(count)
    elapsed = [0.0] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        began = time.monotonic()
        try:
            work(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        elapsed[index] = time.monotonic() - began

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return elapsed


def test_downloads_from_storage_and_cdn_at_once_share_one_downlink(tmp_path: Path) -> None:
    # The output of a copy_factor task is the input's bytes twice: 3 MB from the CDN, while
    # the 1.5 MB input comes back from the storage host (a download_url).
    source = random_file(tmp_path / "input.mp4", 1_500_000)
    with shaped(bandwidth_down=3 * MB, copy_factor=2) as (server, api):
        url = upload(api, server.base_url, source)
        task = api.post(f"{server.base_url}/api/v3/{MODEL}", json={"video": url}, timeout=10)
        done = wait_for(api, task.json()["data"]["urls"]["get"])
        assert done["status"] == "completed", done
        urls = [done["outputs"][0], url]
        got: list[bytes] = [b"", b""]

        def fetch(index: int) -> None:
            answer = requests.get(urls[index], timeout=60)
            answer.raise_for_status()
            got[index] = answer.content

        elapsed = together(fetch, 2)

    assert got == [source.read_bytes() * 2, source.read_bytes()]
    # 4.5 MB at 3 MB/s is 1.5 s for both; alone, the smaller would take 0.5 s, but it shares
    # the line with the larger all the way.
    assert max(elapsed) >= 1.35
    assert min(elapsed) >= 0.8


# -- latency -------------------------------------------------------------------------------------


def test_every_request_on_every_host_waits_the_latency(tmp_path: Path) -> None:
    source = random_file(tmp_path / "input.mp4", 10_000)
    with shaped(latency=0.2, copy_factor=1) as (server, api):
        url = upload(api, server.base_url, source)
        task = api.post(f"{server.base_url}/api/v3/{MODEL}", json={"video": url}, timeout=10)
        output = wait_for(api, task.json()["data"]["urls"]["get"])["outputs"][0]
        requests_made = {
            "api": lambda: api.get(f"{server.base_url}/api/v3/balance", timeout=10),
            "api, refused": lambda: requests.get(f"{server.base_url}/api/v3/balance", timeout=10),
            "storage": lambda: requests.get(url, timeout=10),
            "storage, not found": lambda: requests.get(f"{server.storage_url}/nothing", timeout=10),
            "cdn": lambda: requests.get(output, timeout=10),
            # The mark of the server's own fetch cannot be guessed.
            "storage, marked wrongly": lambda: requests.get(
                url, headers={OWN_FETCH_HEADER: "guess"}, timeout=10
            ),
        }
        timings = {name: timed(call) for name, call in requests_made.items()}

    assert {name: answer.status_code for name, (_, answer) in timings.items()} == {
        "api": 200,
        "api, refused": 401,
        "storage": 200,
        "storage, not found": 404,
        "cdn": 200,
        "storage, marked wrongly": 200,
    }
    slow = {name: seconds >= 0.2 for name, (seconds, _) in timings.items()}
    assert all(slow.values()), timings


# -- the model's own fetch -----------------------------------------------------------------------


def test_the_servers_own_fetch_of_an_upload_is_not_on_the_studios_line(tmp_path: Path) -> None:
    # 2 MB at 20 kB/s would take 100 s each way; the model fetches on its own network.
    source = random_file(tmp_path / "input.mp4", 2 * MB)
    with shaped(bandwidth_up=20_000, bandwidth_down=20_000, latency=0.3, copy_factor=1) as (
        server,
        api,
    ):
        assert server.app is not None
        with source.open("rb") as body:  # put in place on the storage host, not over the line
            media = server.app.uploads.store_stream(
                "input.mp4", "video/mp4", body, 10 * MB, server.settings.clock()
            )
        url = f"{server.storage_url}/media/{media.id}/{media.filename}"
        task = api.post(f"{server.base_url}/api/v3/{MODEL}", json={"video": url}, timeout=10)
        done = wait_for(api, task.json()["data"]["urls"]["get"], timeout=120)

    assert done["status"] == "completed", done
    # Fetched, copied and done in a fraction of a second; a fifth of what the line would cost
    # one way leaves room for any load.
    assert done["timings"]["inference"] < 20_000


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"bandwidth_up": 0}, "bandwidth_up"),
        ({"bandwidth_down": -1.0}, "bandwidth_down"),
        ({"bandwidth_up": "fast"}, "bandwidth_up"),
        ({"bandwidth_down": float("nan")}, "bandwidth_down"),
        ({"bandwidth_up": True}, "bandwidth_up"),
        ({"latency": -0.1}, "latency"),
        ({"latency": float("inf")}, "latency"),
        ({"speed_factor": -1.0}, "speed_factor"),
        ({"passthrough": -1}, "passthrough"),
        ({"passthrough": 2.5}, "passthrough"),
        ({"passthrough": 4, "copy_factor": 2}, "passthrough"),
    ],
)
def test_an_impossible_link_or_simulation_is_a_config_error_naming_it(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        ServerSettings(**options)


def test_the_link_is_off_by_default() -> None:
    settings = ServerSettings()

    assert (settings.bandwidth_up, settings.bandwidth_down, settings.latency) == (None, None, 0.0)
    assert settings.passthrough == 0


# -- uprez serve ---------------------------------------------------------------------------------


def test_uprez_serve_plays_the_link_and_says_so() -> None:
    with serving(
        *("--bandwidth-up", "12.5", "--bandwidth-down", "50", "--latency", "250"),
        *("--passthrough", "4", "--speed-factor", "1.5"),
    ) as (lines, base):
        elapsed, answer = timed(
            requests.get,
            f"{base}/api/v3/balance",
            headers={"Authorization": f"Bearer {TEST_KEY}"},
            timeout=10,
        )

    assert "link: uplink 12.5 MB/s, downlink 50 MB/s, latency 250 ms per request" in lines
    assert (
        "service: each task takes at least 1.5 s per second of video; outputs are the input "
        "passed through, padded to 4 x its size"
    ) in lines
    assert answer.status_code == 200
    assert elapsed >= 0.25


def test_uprez_serve_says_when_the_link_is_not_shaped() -> None:
    with serving() as (lines, _):
        pass

    assert "link: not shaped (no bandwidth limit, no added latency)" in lines
    assert not any(line.startswith("service:") for line in lines)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--bandwidth-up", "0"), "must be more than 0"),
        (("--bandwidth-down", "fast"), "not a number"),
        (("--bandwidth-up", "nan"), "not a finite number"),
        (("--latency", "-5"), "must be 0 or more"),
        (("--speed-factor", "-1"), "must be 0 or more"),
        (("--passthrough", "2.5"), "not a whole number"),
        (("--passthrough", "-1"), "must be 0 or more"),
    ],
)
def test_uprez_serve_refuses_an_impossible_link(flags: tuple[str, str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uprez", "serve", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done
    assert f"argument {flags[0]}: {says}" in done.stderr
    assert "Traceback" not in done.stderr
