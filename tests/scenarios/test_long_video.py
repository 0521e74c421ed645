"""A video over the service's 10-minute limit goes through the local provider end to end:
planned, cut, upscaled as parallel segments, merged back frame-exact with its audio in sync."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from uprez.config import load_config
from uprez.media.probe import probe
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact
from uprez.step.run import run_upscale

FPS = 2
SECONDS = 601
RATE = 8000
CLICKS = [12.0, 150.25, 300.5, 301.0, 450.75, 599.5]  # two sit right at the balanced join


def _picture(index: int, width: int, height: int) -> bytes:
    """RGBA pixels whose brightness encodes the frame index, so joins can be checked."""
    level = (index * 37) % 200 + 28
    return bytes([level, level, level, 255]) * (width * height)


def _samples(start: int, count: int) -> bytes:
    click_at = {round(t * RATE) for t in CLICKS}
    values = [
        30000 if any(0 <= (start + i) - c < 40 for c in click_at) else 0 for i in range(count)
    ]
    return struct.pack(f"<{count}h", *values)


def write_long_clip(path: Path, width: int = 32, height: int = 18) -> None:
    """601 s of tiny video at 2 fps (a keyframe every 10 s) with clicks at known times."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = 20
        video.options = {"preset": "ultrafast", "keyint_min": "20", "sc_threshold": "0"}
        audio = out.add_stream("aac", rate=RATE, layout="mono")
        for index in range(SECONDS * FPS):
            frame = av.VideoFrame.from_bytes(
                _picture(index, width, height), width, height, format="rgba"
            ).reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        chunk = 1024
        for start in range(0, SECONDS * RATE, chunk):
            count = min(chunk, SECONDS * RATE - start)
            sound = av.AudioFrame(format="s16", layout="mono", samples=count)
            sound.planes[0].update(_samples(start, count))
            sound.sample_rate, sound.pts = RATE, start
            sound.time_base = Fraction(1, RATE)
            out.mux(audio.encode(sound))
        out.mux(audio.encode(None))


def click_times(path: Path) -> list[float]:
    """Times of the loud clicks in the first audio stream, each counted once."""
    found: list[float] = []
    with av.open(str(path)) as media:
        stream = media.streams.audio[0]
        for frame in media.decode(stream):
            plane = bytes(frame.planes[0])
            fmt = frame.format.name
            size = {"fltp": 4, "flt": 4, "s16": 2, "s16p": 2}[fmt]
            count = frame.samples
            values: Iterator[float] = (
                iter(struct.unpack(f"<{count}f", plane[: count * 4]))
                if size == 4
                else (v / 32768 for v in struct.unpack(f"<{count}h", plane[: count * 2]))
            )
            start = float(frame.pts * frame.time_base)
            for i, value in enumerate(values):
                if abs(value) > 0.5:
                    when = start + i / frame.sample_rate
                    if not found or when - found[-1] > 0.2:
                        found.append(when)
    return found


def frame_levels(path: Path) -> list[int]:
    """The mean brightness of each decoded frame (top-left pixel of the luma plane)."""
    levels = []
    with av.open(str(path)) as media:
        for frame in media.decode(media.streams.video[0]):
            levels.append(bytes(frame.planes[0])[0])
    return levels


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long_take.mp4"
    write_long_clip(path)
    return path


@pytest.mark.slow
def test_a_clip_over_ten_minutes_comes_back_whole_and_in_sync(long_clip: Path) -> None:
    config = load_config(
        env={},
        overrides={
            "provider.name": "local",
            "local.max_size": "64x36",
            "limits.concurrency": 3,
            "polling.first_interval": 0.05,
            "polling.max_interval": 0.2,
        },
    )
    pm = get_plugin_manager(env={})

    result = run_upscale(Artifact(long_clip), config=config, pm=pm)

    source, out = probe(long_clip), probe(result.path)
    assert (out.width, out.height) == (64, 36)
    assert out.frames == source.frames == SECONDS * FPS
    assert out.fps == source.fps
    assert abs(out.duration - source.duration) <= 1 / FPS
    assert out.audio_streams == 1

    sidecar = json.loads(Path(f"{result.path}.uprez.json").read_text())
    assert len(sidecar["segments"]) == 2
    # With a keyframe every 10 s the cheapest stream-copy cut is 300 s + 301 s; the planner
    # does not re-encode to save one billed second (tests/test_plan.py shows 601 s -> 600 s
    # where keyframes allow it).
    assert [s["copy"] for s in sidecar["segments"]] == [True, True]
    assert sidecar["billed_seconds"] == 601
    assert sidecar["cost"] == "12.02"
    assert sidecar["verification"] == {"ok": True, "problems": []}
    assert len({s["task_id"] for s in sidecar["segments"]}) == 2

    # No frame lost or repeated at the join: brightness follows the source frame by frame.
    src_levels, out_levels = frame_levels(long_clip), frame_levels(result.path)
    assert len(out_levels) == len(src_levels)
    assert max(abs(a - b) for a, b in zip(src_levels, out_levels, strict=True)) <= 6

    # Audio in sync: every click where it was, to 10 ms.
    src_clicks, out_clicks = click_times(long_clip), click_times(result.path)
    assert len(src_clicks) == len(CLICKS)
    assert out_clicks == pytest.approx(src_clicks, abs=0.010)

    # The work folder is gone once the result is in place.
    assert not (result.path.parent / ".uprez-work").exists()
