"""The life of a task on the local server: queued, processed, completed or failed, with a real
upscale whose output is downloaded and probed."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.media.probe import Probe, probe
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, GatedOrigin, upload, wait_for

MODEL = "runwayml/upscale-v1"


# -- helpers -------------------------------------------------------------------------------------


@contextmanager
def local_server(**settings: Any) -> Iterator[LocalServer]:
    """A second server with its own settings (the test key, box and level unless told otherwise)."""
    options: dict[str, Any] = {
        "api_key": TEST_KEY,
        "max_size": TEST_BOX,
        "account_level": TEST_LEVEL,
        **settings,
    }
    with LocalServer(ServerSettings(**options)) as running:
        yield running


def submit(api: requests.Session, server: LocalServer, video: str, **extra: Any) -> dict[str, Any]:
    answer = api.post(
        f"{server.base_url}/api/v3/{MODEL}", json={"video": video, **extra}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["code"] == 200
    data: dict[str, Any] = body["data"]
    return data


def status_of(api: requests.Session, task: dict[str, Any]) -> str:
    status: str = api.get(task["urls"]["get"], timeout=10).json()["data"]["status"]
    return status


def balance(api: requests.Session, server: LocalServer) -> float:
    value: float = api.get(f"{server.base_url}/api/v3/balance", timeout=10).json()["data"][
        "balance"
    ]
    return value


def download(url: str, target: Path) -> Probe:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "video/mp4"
    target.write_bytes(answer.content)
    return probe(target)


def upscale_via_server(
    api: requests.Session, server: LocalServer, clip: Path, tmp_path: Path
) -> tuple[dict[str, Any], Probe]:
    """Upload, submit, wait, download: the finished task and a probe of its output."""
    task = submit(api, server, upload(api, server.base_url, clip))
    done = wait_for(api, task["urls"]["get"])
    assert done["status"] == "completed", done
    assert len(done["outputs"]) == 1
    return done, download(done["outputs"][0], tmp_path / f"out-{clip.name}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- a task that succeeds ------------------------------------------------------------------------


def test_a_task_goes_from_created_or_processing_to_completed(
    server: LocalServer, api: requests.Session, make_clip: Callable[..., Path]
) -> None:
    url = upload(api, server.base_url, make_clip("life.mp4", seconds=1.0, fps=24))
    task = submit(api, server, url)
    assert task["status"] in ("created", "processing")
    assert task["outputs"] == []

    seen = [task["status"]]
    deadline = time.monotonic() + 60
    while seen[-1] not in ("completed", "failed"):
        assert time.monotonic() < deadline, seen
        seen.append(status_of(api, task))
        time.sleep(0.01)
    done = api.get(task["urls"]["get"], timeout=10).json()["data"]

    order = ["created", "processing", "completed"]
    assert all(status in order for status in seen), seen
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen), seen
    assert done["status"] == "completed"
    assert done["error"] == ""
    assert "code" not in done or done["code"] == 0
    assert len(done["outputs"]) == 1
    assert done["outputs"][0].startswith(f"{server.cdn_url}/outputs/{task['id']}/")
    assert done["has_nsfw_contents"] == [False]
    assert isinstance(done["timings"]["inference"], int)
    assert done["timings"]["inference"] > 0


@pytest.mark.parametrize("fps", [12, 24, Fraction(24000, 1001)], ids=["12", "24", "23.976"])
def test_the_output_is_an_h264_upscale_with_the_same_fps_frames_and_audio(
    server: LocalServer,
    api: requests.Session,
    make_clip: Callable[..., Path],
    tmp_path: Path,
    fps: int | Fraction,
) -> None:
    clip = make_clip("land.mp4", seconds=1.0, fps=fps, width=64, height=36, audio=True)
    source = probe(clip)

    _, out = upscale_via_server(api, server, clip, tmp_path)

    assert (out.width, out.height) == (256, 144)
    assert out.fps == source.fps
    assert out.frames == source.frames
    assert out.video_codec == "h264"
    assert out.audio_streams == 1
    assert out.audio_codecs == ("aac",)
    assert out.duration == pytest.approx(source.duration, abs=0.1)


def test_a_portrait_input_is_fitted_in_the_transposed_box(
    server: LocalServer, api: requests.Session, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("portrait.mp4", seconds=0.5, fps=12, width=36, height=64)

    _, out = upscale_via_server(api, server, clip, tmp_path)

    assert (out.width, out.height) == (144, 256)
    assert out.frames == probe(clip).frames


def test_a_silent_input_gives_a_silent_output(
    server: LocalServer, api: requests.Session, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("silent.mp4", seconds=0.5, fps=12, audio=False)

    _, out = upscale_via_server(api, server, clip, tmp_path)

    assert out.audio_streams == 0
    assert out.audio_codecs == ()
    assert (out.width, out.height) == (256, 144)


def test_an_input_on_another_host_is_fetched_over_http(
    server: LocalServer, api: requests.Session, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("remote.mp4", seconds=0.5, fps=12)
    with local_server() as other:
        remote_url = upload(api, other.base_url, clip)
        task = submit(api, server, remote_url)
        done = wait_for(api, task["urls"]["get"])

    assert done["status"] == "completed", done
    out = download(done["outputs"][0], tmp_path / "fetched.mp4")
    assert (out.width, out.height, out.frames) == (256, 144, 6)


# -- tasks that fail -----------------------------------------------------------------------------


def check_failed(data: dict[str, Any], code: int) -> None:
    assert data["status"] == "failed", data
    assert data["code"] == code, data
    assert isinstance(data["error"], str) and data["error"].strip()
    assert data["outputs"] == []
    assert data["has_nsfw_contents"] == []


UNREACHABLE: dict[str, Callable[[LocalServer], str]] = {
    "own-media-missing": lambda s: f"{s.storage_url}/media/000/none.mp4",
    "http-404": lambda s: f"{s.cdn_url}/outputs/{'0' * 32}/none.mp4",
    "api-host-serves-no-media": lambda s: f"{s.base_url}/media/000/none.mp4",
    "connection-refused": lambda s: f"http://127.0.0.1:{free_port()}/a.mp4",
}


@pytest.mark.parametrize("make_url", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_an_input_that_cannot_be_fetched_fails_with_1402_in_a_200_answer(
    server: LocalServer, api: requests.Session, make_url: Callable[[LocalServer], str]
) -> None:
    before = balance(api, server)
    task = submit(api, server, make_url(server))

    answer = None
    deadline = time.monotonic() + 30
    while answer is None or answer.json()["data"]["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        answer = api.get(task["urls"]["get"], timeout=10)
        time.sleep(0.02)

    assert answer.status_code == 200
    assert answer.json()["code"] == 200
    check_failed(answer.json()["data"], 1402)
    assert balance(api, server) == before


@pytest.mark.parametrize(
    "content", [b"this is plain text, not a video\n" * 20, b""], ids=["text", "empty"]
)
def test_an_upload_that_is_not_a_video_fails_with_1401(
    server: LocalServer, api: requests.Session, tmp_path: Path, content: bytes
) -> None:
    fake = tmp_path / "x.mp4"
    fake.write_bytes(content)
    before = balance(api, server)

    task = submit(api, server, upload(api, server.base_url, fake))
    done = wait_for(api, task["urls"]["get"])

    check_failed(done, 1401)
    assert balance(api, server) == before


def test_a_video_longer_than_max_duration_fails_with_1401_and_costs_nothing(
    api: requests.Session, make_clip: Callable[..., Path]
) -> None:
    long_clip = make_clip("long.mp4", seconds=2.0, fps=12)
    exact_clip = make_clip("exact.mp4", seconds=1.0, fps=12)
    with local_server(max_duration=1.0) as limited:
        before = balance(api, limited)
        too_long = submit(api, limited, upload(api, limited.base_url, long_clip))
        failed = wait_for(api, too_long["urls"]["get"])
        after_failure = balance(api, limited)
        at_limit = submit(api, limited, upload(api, limited.base_url, exact_clip))
        completed = wait_for(api, at_limit["urls"]["get"])

    check_failed(failed, 1401)
    assert "limit" in failed["error"]
    assert after_failure == before
    # The limit is inclusive: a clip of exactly max_duration is upscaled.
    assert completed["status"] == "completed", completed


# -- sync mode -----------------------------------------------------------------------------------


def test_sync_mode_answers_the_completed_task_in_the_post(
    server: LocalServer, api: requests.Session, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    url = upload(api, server.base_url, make_clip("sync.mp4", seconds=0.5, fps=12))

    data = submit(api, server, url, enable_sync_mode=True)

    assert data["status"] == "completed", data
    assert len(data["outputs"]) == 1
    assert data["error"] == ""
    out = download(data["outputs"][0], tmp_path / "sync-out.mp4")
    assert (out.width, out.height) == (256, 144)
    again = api.get(data["urls"]["get"], timeout=10).json()["data"]
    assert again["status"] == "completed"
    assert again["outputs"] == data["outputs"]


def test_a_sync_post_that_outlasts_sync_timeout_answers_5004_and_the_task_goes_on(
    api: requests.Session, make_clip: Callable[..., Path]
) -> None:
    body = make_clip("slow.mp4", seconds=0.5, fps=12).read_bytes()
    with local_server(sync_timeout=0.2, workers=1) as server, GatedOrigin(body) as origin:
        started = time.monotonic()
        answer = api.post(
            f"{server.base_url}/api/v3/{MODEL}",
            json={"video": origin.url(), "enable_sync_mode": True},
            timeout=30,
        )
        waited = time.monotonic() - started

        assert answer.status_code == 200, answer.text
        assert answer.json()["code"] == 200
        data = answer.json()["data"]
        assert data["status"] in ("created", "processing"), data
        assert data["code"] == 5004
        assert data["outputs"] == []
        assert 0.15 <= waited < 10

        origin.gate.set()
        done = wait_for(api, data["urls"]["get"])

    assert done["status"] == "completed", done
    assert len(done["outputs"]) == 1


# -- concurrency ---------------------------------------------------------------------------------


def submit_all(
    api: requests.Session, server: LocalServer, videos: list[str]
) -> list[dict[str, Any]]:
    """POST every video at the same time, from as many threads."""
    with ThreadPoolExecutor(len(videos)) as pool:
        return list(pool.map(lambda video: submit(api, server, video), videos))


def test_one_worker_runs_three_simultaneous_tasks_one_at_a_time(
    api: requests.Session, make_clip: Callable[..., Path]
) -> None:
    clips = [make_clip(f"w1-{i}.mp4", seconds=1.0, fps=12) for i in range(3)]
    with local_server(workers=1) as server:
        urls = [upload(api, server.base_url, clip) for clip in clips]
        before = balance(api, server)
        tasks = submit_all(api, server, urls)
        finished = [wait_for(api, task["urls"]["get"]) for task in tasks]
        assert server.app is not None
        peak = server.app.processor.peak_running
        after = balance(api, server)

    assert [t["status"] for t in finished] == ["completed"] * 3
    assert len({t["id"] for t in finished}) == 3
    assert peak == 1
    assert after == pytest.approx(before - 0.30, abs=1e-9)


def test_tasks_beyond_the_workers_wait_as_created_while_another_processes(
    api: requests.Session, make_clip: Callable[..., Path]
) -> None:
    clip = make_clip("queue.mp4", seconds=0.5, fps=12)
    with local_server(workers=1) as server, GatedOrigin(clip.read_bytes()) as origin:
        first = submit(api, server, origin.url())
        origin.wait_for_requests(1)
        queued = submit_all(api, server, [upload(api, server.base_url, clip) for _ in range(2)])

        snapshot = [status_of(api, task) for task in (first, *queued)]
        time.sleep(0.2)
        still = [status_of(api, task) for task in queued]

        origin.gate.set()
        finished = [wait_for(api, task["urls"]["get"]) for task in (first, *queued)]
        assert server.app is not None
        peak = server.app.processor.peak_running

    assert snapshot == ["processing", "created", "created"]
    assert still == ["created", "created"]
    assert [t["status"] for t in finished] == ["completed"] * 3
    assert peak == 1


def test_two_workers_run_at_most_two_tasks_at_once(
    api: requests.Session, make_clip: Callable[..., Path]
) -> None:
    clip = make_clip("two.mp4", seconds=0.5, fps=12)
    with local_server(workers=2) as server, GatedOrigin(clip.read_bytes()) as origin:
        held = submit_all(api, server, [origin.url("a.mp4"), origin.url("b.mp4")])
        origin.wait_for_requests(2)
        waiting = submit_all(api, server, [upload(api, server.base_url, clip) for _ in range(2)])

        snapshot = [status_of(api, task) for task in (*held, *waiting)]

        origin.gate.set()
        finished = [wait_for(api, task["urls"]["get"]) for task in (*held, *waiting)]
        assert server.app is not None
        peak = server.app.processor.peak_running

    assert snapshot == ["processing", "processing", "created", "created"]
    assert [t["status"] for t in finished] == ["completed"] * 4
    assert peak == 2
