"""The passthrough output, for benchmarks of time-to-4K: the input's own video and sound in a
fresh MP4, padded with a top-level ``free`` box to N times the input's size, after at least the
time ``speed_factor`` says, and billed as an upscale is."""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import av
import requests

from uprez.media.probe import probe
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, upscale_by_api

FACTOR = 4


def top_level_boxes(path: Path) -> list[tuple[str, int]]:
    """The file's top-level MP4 boxes: (type, size), in order, through to its last byte."""
    boxes = []
    with path.open("rb") as data:
        end = path.stat().st_size
        offset = 0
        while offset < end:
            data.seek(offset)
            size, kind = struct.unpack(">I4s", data.read(8))
            if size == 1:
                (size,) = struct.unpack(">Q", data.read(8))
            elif size == 0:
                size = end - offset
            boxes.append((kind.decode("latin-1"), size))
            offset += size
        assert offset == end, "the boxes overrun the file"
    return boxes


def decoded(path: Path) -> dict[str, Any]:
    """What a player sees: decoded video frames, frame rate, duration, decoded audio."""
    with av.open(str(path)) as media:
        video = media.streams.video[0]
        rate = video.average_rate
        size = (video.codec_context.width, video.codec_context.height)
        seconds = float(media.duration or 0) / av.time_base
        frames = sum(1 for _ in media.decode(video=0))
    with av.open(str(path)) as media:
        samples = (
            sum(frame.samples for frame in media.decode(audio=0)) if media.streams.audio else 0
        )
    return {"frames": frames, "fps": rate, "size": size, "seconds": seconds, "samples": samples}


def passed_through(
    settings: ServerSettings, clip: Path, tmp_path: Path, *, with_balance: bool = False
) -> Any:
    """Upscale ``clip`` through the API of a server with ``settings``; the output downloaded,
    the task, and (``with_balance``) the account's balance after it."""
    with LocalServer(settings) as server:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {TEST_KEY}"
        _, task = upscale_by_api(api, server.base_url, clip)
        assert task["status"] == "completed", task
        output = tmp_path / "output.mp4"
        output.write_bytes(requests.get(task["outputs"][0], timeout=30).content)
        if not with_balance:
            return output, task
        balance = api.get(f"{server.base_url}/api/v3/balance", timeout=10).json()["data"]
        return output, task, balance


def test_the_output_is_the_input_passed_through_and_padded_to_n_times_its_size(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("shot.mp4", seconds=1.5, fps=12, width=160, height=90, audio=True)
    settings = ServerSettings(
        api_key=TEST_KEY,
        max_size=TEST_BOX,
        account_level=TEST_LEVEL,
        passthrough=FACTOR,
        speed_factor=1.0,
    )
    output, task, balance = passed_through(settings, clip, tmp_path, with_balance=True)

    source, result = decoded(clip), decoded(output)
    assert result["frames"] == source["frames"] == 18
    assert result["fps"] == source["fps"]
    assert result["size"] == source["size"]  # passed through, not upscaled
    assert abs(result["seconds"] - source["seconds"]) < 0.1
    assert result["samples"] > 0
    assert abs(result["samples"] - source["samples"]) <= 1024  # one AAC frame
    assert output.stat().st_size == FACTOR * clip.stat().st_size
    boxes = top_level_boxes(output)
    assert {"ftyp", "moov", "mdat"} <= {kind for kind, _ in boxes}
    assert boxes[-1][0] == "free"
    assert boxes[-1][1] > (FACTOR - 2) * clip.stat().st_size  # most of the file is padding
    # The service's time is the speed factor's: at least 1 s per second of video.
    assert task["timings"]["inference"] >= 1400
    # Billed as an upscale: at least 5 s at $0.02.
    assert Decimal(str(balance["balance"])) == settings.balance - settings.price.cost(1.5)


def test_a_passthrough_output_is_what_the_client_checks_pass(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    # The project's own probe reads it as the input's video: same frames, rate, rotation.
    clip = make_clip("turned.mp4", seconds=1.0, fps=10, width=96, height=54, rotation=90)
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL, passthrough=3
    )
    output, _ = passed_through(settings, clip, tmp_path)

    source, result = probe(str(clip)), probe(str(output))
    assert (result.frames, result.fps, result.rotation) == (source.frames, source.fps, 90)
    assert (result.width, result.height) == (source.width, source.height)
    assert result.audio_streams == source.audio_streams == 1
    assert output.stat().st_size == 3 * clip.stat().st_size


def test_sound_mp4_cannot_carry_comes_back_as_aac(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("pcm.mov", seconds=1.0, fps=10, audio_codec="pcm_s16le")
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL, passthrough=2
    )
    output, _ = passed_through(settings, clip, tmp_path)

    with av.open(str(output)) as media:
        codecs = [stream.codec_context.name for stream in media.streams]
    result = decoded(output)
    assert codecs == ["h264", "aac"]
    assert result["frames"] == 10
    assert result["samples"] >= 48000 - 1024
