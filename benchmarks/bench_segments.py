"""A 25-minute source in three segments, run three at a time against one after another.

The server takes service time proportional to each segment's length (``speed_factor``), as the
real service does, so what the parallel run can save is the sum of the segments' waits less the
longest. Everything else is uprez's real step: probe, plan, cut, upload, submit, poll,
download, verify each segment, merge with the source's audio, verify the result, journal.

One short job runs first on the same journal, as a user's journal holds earlier jobs: polls then
wait for a task's likely end. With no history at all they follow the growing schedule, and
three segments at once are done only when the last of them is noticed, which costs the parallel
run more than the sequential one (about 0.46-0.55x instead of 0.35x on 5-10 s segments).
"""

from __future__ import annotations

import math
import struct
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from benchmarks.common import LENIENT_TWIN, UNPACED_CLIENT, Row, interleaved, median
from uprez.config import Config, load_config
from uprez.hookspecs import hookimpl
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact, JobEvent
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.run import run_upscale
from uprez.wavespeed.provider import WaveSpeedProvider

KEY = "bench-key"
SECONDS = 1500  # 25 minutes: three segments under the 600 s limit
FPS = 2
BOX = (64, 36)  # the server's upscale target: tiny, so the real upscale is quick
RATE = 8000
CHUNK = 1024  # AAC frame size
PERIOD = 25  # chunks holding a whole number of 440 Hz periods at 8 kHz (25 * 1024 = 128 * 200)
TARGET = 0.45


def write_long_source(
    path: Path, seconds: int = SECONDS, width: int = 32, height: int = 18, title: str = ""
) -> None:
    """A long, tiny, real MP4 with sound, written in about a second.

    Encoding 25 minutes of AAC takes ~20 s, so a few seconds of a steady tone are encoded and
    their packets repeated (a periodic tone encodes to the same packets once the encoder has
    settled). Keyframes every 10 s give the planner stream-copy cuts near the balanced ones.
    ``title`` makes otherwise identical sources differ, so each is a new job to the journal.
    """
    with av.open(str(path), "w") as out:
        if title:
            out.metadata["title"] = title
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = 10 * FPS
        video.options = {"preset": "ultrafast", "keyint_min": str(10 * FPS), "sc_threshold": "0"}
        audio = out.add_stream("aac", rate=RATE, layout="mono")
        pictures = [
            av.VideoFrame.from_bytes(
                bytes([level, level, level, 255]) * (width * height), width, height, format="rgba"
            ).reformat(format="yuv420p")
            for level in range(28, 228, 8)
        ]
        for index in range(seconds * FPS):
            frame = pictures[index % len(pictures)]
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for number, packet in enumerate(tone_packets(audio, seconds * RATE // CHUNK)):
            packet.stream = audio
            packet.time_base = Fraction(1, RATE)
            packet.pts = packet.dts = number * CHUNK
            out.mux(packet)


def tone_packets(audio: av.AudioStream, count: int) -> list[av.Packet[Any]]:
    """``count`` AAC packets of a steady 440 Hz tone: one period encoded, then repeated."""
    step = 2 * math.pi * 440 / RATE
    samples = [int(8000 * math.sin(step * i)) for i in range(CHUNK * PERIOD)]
    encoded: list[bytes] = []
    for n in range(3 * PERIOD):  # the last period is past the encoder's start-up
        at = (n % PERIOD) * CHUNK
        sound = av.AudioFrame(format="s16", layout="mono", samples=CHUNK)
        sound.planes[0].update(struct.pack(f"<{CHUNK}h", *samples[at : at + CHUNK]))
        sound.sample_rate, sound.pts = RATE, n * CHUNK
        sound.time_base = Fraction(1, RATE)
        encoded.extend(bytes(p) for p in audio.encode(sound))
    steady = encoded[-PERIOD:]
    return [av.Packet(steady[n % PERIOD]) for n in range(count)]


class PhaseClock:
    """A throw-away plugin that notes when each job event first and last happened."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._lock = threading.Lock()

    @hookimpl
    def uprez_job_event(self, event: JobEvent) -> None:
        now = time.perf_counter() - self.started
        with self._lock:
            self.first.setdefault(event.kind, now)
            self.last[event.kind] = now


def _config(base_url: str, folder: Path, concurrency: int) -> Config:
    return load_config(
        env={},
        overrides={
            "provider.name": "wavespeed",
            "provider.base_url": base_url,
            **UNPACED_CLIENT,
            "limits.concurrency": concurrency,
            "verify.target_size": f"{BOX[0]}x{BOX[1]}",
            # One journal for the whole benchmark, as a user's persists between jobs (it is
            # also where the client learns how long the service takes); never the user's own.
            "journal.path": str(folder / "journal.sqlite3"),
        },
    )


def upscale_once(
    source: Path, base_url: str, folder: Path, concurrency: int
) -> tuple[float, PhaseClock, dict[str, Any]]:
    """One real upscale of ``source``, as a host runs it (its own provider, closed after);
    its wall seconds, event times and sidecar."""
    config = _config(base_url, folder, concurrency)
    output = source.with_name(f"{source.stem}_c{concurrency}_up.mp4")
    return timed_upscale(source, config, base_url, output)


def timed_upscale(
    source: Path, config: Config, base_url: str, output: Path
) -> tuple[float, PhaseClock, dict[str, Any]]:
    """Upscale ``source`` into ``output`` (removed after) with ``config``, through a provider
    of its own; the wall seconds from the call (imports done), the events' times, the sidecar."""
    pm = get_plugin_manager(env={})
    clock = PhaseClock()
    pm.register(clock, name="bench-clock")
    provider = WaveSpeedProvider.from_config(config, base_url=base_url, api_key=KEY)
    try:
        clock.started = started = time.perf_counter()
        result = run_upscale(
            Artifact(source), config=config, pm=pm, provider=provider, output=output
        )
        wall = time.perf_counter() - started
    finally:
        provider.close()
    output.unlink(missing_ok=True)
    return wall, clock, result.metadata


class Runs:
    """Timed upscales of fresh 25-minute sources: each run is a new job (a source the journal
    has not seen), or the journal would hand back the tasks of the one before."""

    def __init__(self, base_url: str, folder: Path) -> None:
        self.base_url = base_url
        self.folder = folder
        self.count = 0
        self.clocks: dict[int, list[PhaseClock]] = {}

    def source(self, seconds: int = SECONDS) -> Path:
        self.count += 1
        path = self.folder / f"take{self.count:02d}.mp4"
        write_long_source(path, seconds, title=f"take {self.count}")
        return path

    def timed(self, concurrency: int) -> float:
        source = self.source()
        wall, clock, sidecar = upscale_once(source, self.base_url, self.folder, concurrency)
        source.unlink()
        if len(sidecar["segments"]) != 3:  # a 1500 s source under the 600 s limit
            raise RuntimeError(f"expected 3 segments, ran {len(sidecar['segments'])}")
        self.clocks.setdefault(concurrency, []).append(clock)
        return wall

    def phases(self, concurrency: int) -> str:
        """Where the client's own time went: before the last submit, after the last download."""
        clocks = self.clocks[concurrency]
        start = median([c.last["submitted"] for c in clocks])
        tail = median([c.last["completed"] - c.last["downloading"] for c in clocks])
        return f"{start:.2f} s to the last submit, {tail:.2f} s from the last download to done"


def run(quick: bool) -> list[Row]:
    repeats = 1 if quick else 3
    speed = 0.01 if quick else 0.02  # service seconds per second of video
    settings = ServerSettings(
        api_key=KEY, max_size=BOX, workers=3, speed_factor=speed, **LENIENT_TWIN
    )
    with tempfile.TemporaryDirectory() as temp, LocalServer(settings) as server:
        runs = Runs(server.base_url, Path(temp))
        # A one-minute job first: imports and caches warm, and the journal holds one task's
        # service time, as it would after a user's first job.
        upscale_once(runs.source(60), server.base_url, runs.folder, 3)
        a, b = interleaved(lambda: runs.timed(3), lambda: runs.timed(1), repeats)
    ratio = median(a) / median(b)
    return [
        Row(
            f"{SECONDS // 60}-min source, 3 segments at once vs one after another",
            median(a),
            median(b),
            "s",
            f"<= {TARGET}x",
            ratio <= TARGET,
            note=(
                f"service {speed} s per s of video, so {SECONDS // 3 * speed:g} s a segment; "
                f"{repeats} repeat(s); at once: {runs.phases(3)}"
            ),
        )
    ]
