"""Time to 4K at a studio's real bandwidth, against the physical bound of the same job.

A 10-minute and a 25-minute 1080p H.264 source (about 700 MB and 1.75 GB, so 8 and 18 uploads
under the service's 100 MB cap) are upscaled through uprez's real step — probe, plan, cut,
upload, submit, poll, download, verify, join, verify, sidecar, journal — against the local
server playing the real service at the lowest account level (bronze: 2 submits in any 60 s,
2 tasks at once) behind a studio's link: 40 MB/s up and 100 MB/s down, and 12/25 MB/s, 30 ms a
request. The service takes ``SPEED`` seconds per second of video; its result is the segment's
own streams padded to ``OUTPUT_RATIO`` times its bytes (a 4K result's size; the pictures are not
upscaled: 25 minutes of 1080p cannot be upscaled on this machine in a benchmark's time).

The baseline is the physical bound of the same job (:mod:`uprez.step.ideal`): the best wall
time any client could reach on that link, that service and that account, with the cut and the
join at this machine's file-copying speed measured in the same run. The full run does the four
jobs one after another; ``--quick`` runs them at once, each against its own server and link,
so the machine is shared four ways: it must reach the same verdicts.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from benchmarks.bench_segments import KEY, timed_upscale, tone_packets
from benchmarks.common import Row
from uprez.config import load_config
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step import ideal

FPS = 25
GOP = 2 * FPS  # keyframes every 2 s, as delivery exports have them
CHUNK = 10 * FPS  # frames encoded once, then repeated
BITRATE = 9_330_000  # bits/s of video: ~700 MB in 10 minutes
SPEED = 0.5  # service seconds per second of video
OUTPUT_RATIO = 4
LATENCY = 0.03
TARGET = 1.10
MB = 1_000_000
RATE = 8000
LINKS = ((40, 100), (12, 25))


def write_source(path: Path, seconds: int, title: str) -> None:
    """A ``seconds`` long 1080p H.264 MP4 at about ``BITRATE``, with a sound track, written
    in seconds: ten seconds of moving noise are encoded once and their packets repeated
    (every repeat starts on a keyframe of a closed group)."""
    width, height = 1920, 1080
    with av.open(str(path), "w") as out:
        out.metadata["title"] = title
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = BITRATE
        video.codec_context.gop_size = GOP
        video.options = {"preset": "ultrafast", "keyint_min": str(GOP), "sc_threshold": "0"}
        audio = out.add_stream("aac", rate=RATE, layout="mono")
        encoded: list[bytes] = []
        keys: list[bool] = []
        grain = os.urandom(width * height * 2)
        grey = bytes([128]) * (width * height // 4)
        for index in range(CHUNK):
            at = (index * 7919) % (width * height // 2)
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(grain[at : at + width * height])
            frame.planes[1].update(grey)
            frame.planes[2].update(grey)
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in video.encode(frame):
                encoded.append(bytes(packet))
                keys.append(bool(packet.is_keyframe))
        for packet in video.encode(None):
            encoded.append(bytes(packet))
            keys.append(bool(packet.is_keyframe))
        assert len(encoded) == CHUNK, "ultrafast has no B-frames: one packet a frame"
        sound = tone_packets(audio, seconds * RATE // 1024)
        count = seconds * FPS
        chunk_seconds = Fraction(CHUNK, FPS)
        for repeat in range(count // CHUNK):
            for n, (data, key) in enumerate(zip(encoded, keys, strict=True)):
                packet = av.Packet(data)
                packet.stream, packet.time_base = video, Fraction(1, FPS)
                packet.pts = packet.dts = repeat * CHUNK + n
                packet.duration, packet.is_keyframe = 1, key
                out.mux(packet)
            start = int(repeat * chunk_seconds * RATE) // 1024
            stop = int((repeat + 1) * chunk_seconds * RATE) // 1024
            for number in range(start, stop):
                packet = sound[number]
                packet.stream, packet.time_base = audio, Fraction(1, RATE)
                packet.pts = packet.dts = number * 1024
                out.mux(packet)


def copy_rate(source: Path, folder: Path, size: int = 100 * MB) -> float:
    """Bytes a second this machine copies a file at, written whole and synced: the floor of a
    cut (a stream copy reads and writes every byte) and of a join."""
    target = folder / "copy-rate.bin"
    started = time.perf_counter()
    with source.open("rb") as src, target.open("wb") as dst:
        left = size
        while left > 0 and (block := src.read(min(left, 1 << 20))):
            dst.write(block)
            left -= len(block)
        dst.flush()
        os.fsync(dst.fileno())
    seconds = time.perf_counter() - started
    target.unlink()
    return (size - left) / seconds


@dataclass
class Outcome:
    """One job: uprez's wall time, the bound's, and what each planned."""

    name: str
    wall: float
    bound: float
    timeline: ideal.Timeline
    segments: list[float]
    phases: dict[str, float]


def run_job(source: Path, up: int, down: int, folder: Path, name: str) -> Outcome:
    """Upscale ``source`` once through a server behind an ``up``/``down`` MB/s link."""
    settings = ServerSettings(
        api_key=KEY,
        passthrough=OUTPUT_RATIO,
        speed_factor=SPEED,
        bandwidth_up=up * MB,
        bandwidth_down=down * MB,
        latency=LATENCY,
    )
    work = folder / name
    work.mkdir()
    with LocalServer(settings) as server:
        config = load_config(
            env={},
            overrides={
                "provider.name": "wavespeed",
                "provider.base_url": server.base_url,
                "verify.target_size": "1920x1080",  # the passthrough's pictures are the input's
                "journal.path": str(work / "journal.sqlite3"),
            },
        )
        wall, clock, sidecar = timed_upscale(source, config, server.base_url, work / "out_4k.mp4")
        segments = [s["end"] - s["start"] for s in sidecar["segments"]]
    rate = copy_rate(source, folder)
    seconds = _seconds(source)
    bound, timeline = ideal.best_time(
        ideal.Source(seconds, source.stat().st_size, OUTPUT_RATIO),
        ideal.Link(up * MB, down * MB, LATENCY),
        ideal.Service(SPEED, per_minute=2, at_once=2, max_upload=100 * MB),
        ideal.Machine(rate, rate),
    )
    phases = {
        "first submit": clock.first["submitted"],
        "last submit": clock.last["submitted"],
        "last download": clock.last["downloading"],
    }
    return Outcome(name, wall, bound, timeline, segments, phases)


def _seconds(source: Path) -> float:
    with av.open(str(source)) as container:
        return float(container.duration or 0) / 1e6


def _jobs(sources: dict[int, Path]) -> list[tuple[Path, int, int, str]]:
    return [
        (sources[minutes], up, down, f"{minutes}min-{up}-{down}")
        for minutes in sorted(sources)
        for up, down in LINKS
    ]


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="uprez-t4k-") as temp:
        folder = Path(temp)
        sources = {}
        for minutes in (10, 25):
            sources[minutes] = folder / f"source_{minutes}min.mp4"
            write_source(sources[minutes], minutes * 60, f"{minutes} minutes")
        jobs = _jobs(sources)
        outcomes: dict[str, Outcome] = {}
        if quick:  # all four at once, each on its own server and link
            errors: list[BaseException] = []

            def one(job: tuple[Path, int, int, str]) -> None:
                try:
                    outcomes[job[3]] = run_job(*job[:3], folder, job[3])
                except BaseException as exc:  # reported below, after the others end
                    errors.append(exc)

            threads = [threading.Thread(target=one, args=(job,)) for job in jobs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
        else:
            for job in jobs:
                outcomes[job[3]] = run_job(*job[:3], folder, job[3])
        rows = []
        for source, up, down, name in jobs:
            outcome = outcomes[name]
            size = source.stat().st_size / MB
            minutes = round(_seconds(source) / 60)
            ratio = outcome.wall / outcome.bound
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.phases.items())
            bound_cut = [round(p.seconds) for p in outcome.timeline.pieces]
            rows.append(
                Row(
                    f"time to 4K, {minutes}-min 1080p H.264 ({size:.0f} MB), link {up}/{down} MB/s",
                    outcome.wall,
                    outcome.bound,
                    "s",
                    f"<= {TARGET}x",
                    ratio <= TARGET,
                    note=(
                        f"baseline: the physical bound; bronze (2 submits in any 60 s, 2 at once), "
                        f"{LATENCY * 1000:.0f} ms a request, service {SPEED} s per s of video, "
                        f"results {OUTPUT_RATIO}x the bytes sent; uprez "
                        f"{len(outcome.segments)} segments "
                        f"({', '.join(f'{s:.0f}' for s in outcome.segments)} s), the bound "
                        f"{len(bound_cut)} ({', '.join(map(str, bound_cut))} s); uprez {phases}; "
                        f"{'four jobs at once' if quick else 'alone'}"
                    ),
                )
            )
    return rows
