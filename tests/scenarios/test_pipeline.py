"""A long job as a pipeline: segments go up while earlier ones are submitted, and come down
while later ones still go up (issue 18: time to 4K), without spending before every cut is
known to fit and the first upload is taken."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from uprez.hookspecs import hookimpl
from uprez.media.probe import probe
from uprez.plugins import PluginManager, get_plugin_manager
from uprez.records import Artifact, JobEvent
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.run import run_upscale
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, TEST_BOX, TEST_LEVEL, fast_config, stats

# The uplink of the studio: slow enough that each segment's upload takes a while.
UPLINK = 100_000  # bytes a second


class Timeline:
    """When each segment's events happened, by kind."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.events: list[tuple[float, str, int, float | None]] = []
        self._lock = threading.Lock()

    @hookimpl
    def uprez_job_event(self, event: JobEvent) -> None:
        segment = int(event.detail.get("segment", -1))
        with self._lock:
            self.events.append(
                (time.monotonic() - self.started, event.kind, segment, event.fraction)
            )

    def first(self, kind: str, segment: int | None = None) -> float:
        return min(t for t, k, s, _ in self.events if k == kind and segment in (None, s))

    def last(self, kind: str, segment: int | None = None) -> float:
        return max(t for t, k, s, _ in self.events if k == kind and segment in (None, s))


@pytest.fixture(scope="module")
def shaped_server() -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=SECRET_KEY,
        max_size=TEST_BOX,
        workers=4,
        account_level=TEST_LEVEL,
        bandwidth_up=UPLINK,
    )
    with LocalServer(settings) as running:
        yield running


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """4 s of 1280x720 noise at 12 fps, about 100 kB a second, a keyframe every second: four
    segments of 1 s, each cut by a stream copy (at once) and some 100 kB to upload."""
    path = tmp_path / "long.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        video.bit_rate = 800_000
        video.codec_context.gop_size = 12
        video.options = {"preset": "ultrafast", "keyint_min": "12", "sc_threshold": "0"}
        for index in range(48):
            frame = av.VideoFrame(1280, 720, "yuv420p")
            frame.planes[0].update(os.urandom(1280 * 720))
            frame.planes[1].update(bytes([128]) * (640 * 360))
            frame.planes[2].update(bytes([128]) * (640 * 360))
            frame.pts, frame.time_base = index, Fraction(1, 12)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def _upscale(clip: Path, server: LocalServer, timeline: Timeline, **overrides: object) -> Artifact:
    pm: PluginManager = get_plugin_manager(env={})
    pm.register(timeline, name="timeline")
    config = fast_config({"limits.max_duration": 1.0, **overrides})
    provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=SECRET_KEY)
    try:
        return run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
    finally:
        provider.close()


def test_segments_are_submitted_and_downloaded_while_later_ones_still_upload(
    clip: Path, shaped_server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uprez.media.segments")
    timeline = Timeline()
    before = stats(shaped_server.base_url, SECRET_KEY)

    result = _upscale(clip, shaped_server, timeline, **{"journal.path": str(tmp_path / "j.db")})

    after = stats(shaped_server.base_url, SECRET_KEY)
    segments = result.metadata["segments"]
    assert len(segments) == 4
    assert after["uploads"] - before["uploads"] == 4  # uploaded ahead, never again in the run
    assert after["submissions"] - before["submissions"] == 4
    last_upload_end = timeline.last("uploading", 3)
    # the first segment was paid for and fetched back while the last one was still going up
    assert timeline.first("submitted", 0) < timeline.first("uploading", 3)
    assert timeline.first("downloading", 0) < last_upload_end
    # and the uploads went one after another, each started once the one before had ended
    for n in range(1, 4):
        assert timeline.first("uploading", n) >= timeline.last("uploading", n - 1) - 0.05
    # the parts were joined as they came down, not all again once the last was here
    joins = [r.getMessage() for r in caplog.records if "joined" in r.getMessage()]
    assert len(joins) == 1 and "as they came" in joins[0], joins
    output = probe(result.path)
    assert (output.frames, output.fps) == (48, 12)


def test_without_a_journal_a_segment_uploaded_ahead_is_not_sent_again(
    clip: Path, shaped_server: LocalServer
) -> None:
    timeline = Timeline()
    before = stats(shaped_server.base_url, SECRET_KEY)

    _upscale(clip, shaped_server, timeline, **{"journal.enabled": False})

    after = stats(shaped_server.base_url, SECRET_KEY)
    assert after["uploads"] - before["uploads"] == 4
    assert after["submissions"] - before["submissions"] == 4


def test_without_a_journal_a_later_job_of_the_same_file_uploads_it_afresh(
    clip: Path, shaped_server: LocalServer, tmp_path: Path
) -> None:
    # An upload made ahead is its own run's, once: a later job may find it deleted with its task.
    config = fast_config({"limits.max_duration": 1.0, "journal.enabled": False})
    provider = WaveSpeedProvider.from_config(
        config, base_url=shaped_server.base_url, api_key=SECRET_KEY
    )
    before = stats(shaped_server.base_url, SECRET_KEY)
    try:
        for name in ("first_4k.mp4", "second_4k.mp4"):
            run_upscale(
                Artifact(clip),
                config=config,
                pm=get_plugin_manager(env={}),
                provider=provider,
                output=tmp_path / name,
            )
    finally:
        provider.close()

    after = stats(shaped_server.base_url, SECRET_KEY)
    assert after["uploads"] - before["uploads"] == 8
    assert after["submissions"] - before["submissions"] == 8
