"""The conform step's 4K encode against the FFmpeg command line doing the same work (issue 15).

The sources: a 1080p ProRes 422 HQ master (1920x1080, 24 fps, 10-bit 4:2:2, BT.709 tags, a
timecode from 01:00:00:00, a stereo "eng" and a 5.1 "fra" 24-bit PCM track) with detail
everywhere (texture at three scales panning, fresh grain on every frame, a moving box), and the
"service result": that master upscaled to 3840x2160 by the local server's own scaler (Lanczos,
x264 at its preset and CRF, 8-bit 4:2:0, no sound). A 4K encode of 10 s takes minutes on two
cores, so they are made once and kept in SOURCES for later runs.

* uprez: ``conform([result], master, out.mov, Conform(CODECS["prores_422hq"]))`` in a fresh
  Python process, timed from after its imports (a pipeline calling it has them) to its exit.
* FFmpeg: ``ffmpeg -i result -i master -map 0:v -map 1:a -c:v prores_ks -profile:v 3 -vendor
  apl0 -pix_fmt yuv422p10le -color_*`` (the master's tags) ``-c:a copy -timecode`` (the
  master's) ``out.mov``, from its start to its exit.

Threads: both sides are left to the libraries' defaults. conform sets ``thread_type`` AUTO
(frame and slice threads: FFmpeg's default) on the decoder and the encoder and leaves the thread
count at 0 (automatic), which is what the command line asks of both; so each side decodes
H.264 and encodes ProRes with as many threads (on 2 cores: 3 decoding, 2 encoding), and
converts to 4:2:2 in a filter graph (swscale, bicubic), uprez in its decoding thread, FFmpeg in
a filter thread.

Same work, checked on the warm-up's outputs before the rounds and on the last round's after
them: both outputs hold the same video packets byte for byte (the same frames went into the same
encoder), and the same codec, profile, pixel format, size, frame count, frame rate, timecode,
colour tags, aspect and audio tracks (codec, layout, language) as each other, with every frame
of the result and every audio track of the master.

Rounds: on a shared machine other work comes and goes within seconds, and runs made one after
the other differ by far more than the sides do (two full runs of rounds made so: 1.03, 1.08,
0.56, 1.01 and 0.85, 0.93, 2.14). So in each round the two run at once, taking turns of TURN
seconds on the whole machine, the other stopped (:mod:`benchmarks.turns`): the same load falls
on both. A round's ratio is FFmpeg's seconds over uprez's; the first to run alternates between
rounds, and the row is the round whose ratio is the median, with every round's in the note.

Memory: each side's peak resident memory is its own process's (uprez's ``VmHWM``, FFmpeg's
``ru_maxrss`` from ``wait4``), at the timed length and at half of it (the warm-up). Flat: uprez's
peak at the full length (the median of the rounds) is within FLAT of its peak at half.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from benchmarks.common import Row, median, table
from benchmarks.turns import TURN, Turned, take_turns
from uprez.media.master import Master, describe_master
from uprez.media.probe import probe
from uprez.standin.settings import ServerSettings
from uprez.standin.upscale import upscale_file

#: Where the sources are kept between runs (the version changes when the maker does).
SOURCES = Path(tempfile.gettempdir()) / "uprez-bench-sources" / "conform-v2"
MASTER_SIZE = (1920, 1080)
FPS = 24
TIMECODE = "01:00:00:00"
AUDIO = (("stereo", "eng"), ("5.1", "fra"))
SAMPLE_RATE = 48000
BT709 = 1  # AVCOL_PRI/TRC/SPC_BT709; range 1 is MPEG ("tv")
#: Frames timed (the memory is also measured at half), and rounds, (quick, full).
FRAMES = (48, 240)
ROUNDS = (3, 3)  # odd: the median is a round
TARGET = 0.95
#: uprez's peak at the full length may exceed its peak at half by this fraction at most.
FLAT = 0.10
MB = 1024 * 1024

#: The uprez side, run by ``python -c`` with the result, the master and the output: it stops
#: itself once imported (see :mod:`benchmarks.turns`), conforms, and prints what it could not
#: keep, its CPU time and its peak memory (its own, from /proc: ``VmHWM``).
CHILD = """
import json, os, resource, signal, sys
from uprez.media.codecs import CODECS
from uprez.media.conform import Conform, conform
os.kill(os.getpid(), signal.SIGSTOP)
result, master, out = sys.argv[1:4]
lost = conform([result], master, out, Conform(CODECS["prores_422hq"]))
usage = resource.getrusage(resource.RUSAGE_SELF)
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(json.dumps({"lost": lost, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak": int(status) * 1024}), flush=True)
"""

#: The FFmpeg side: stops itself, then runs the command given and prints its exit status, CPU
#: time and peak memory as the kernel accounts its finished process. (A process started by
#: another begins with a peak of at least its parent's memory: Linux counts the parent's pages
#: until the new program is loaded. This small process is the parent, not the benchmark's,
#: which holds what the sources' maker left.)
LAUNCH = """
import json, os, signal, subprocess, sys
os.kill(os.getpid(), signal.SIGSTOP)
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({"status": child.returncode, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak": usage.ru_maxrss * 1024}), flush=True)
"""


def ffmpeg_exe() -> str:
    """The FFmpeg binary of the ``imageio-ffmpeg`` package."""
    import imageio_ffmpeg  # type: ignore[import-untyped]

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def progress(message: str) -> None:
    print(f"  bench_conform: {message}", file=sys.stderr, flush=True)


# --- the sources ----------------------------------------------------------------------------


def _texture(width: int, height: int, rng: np.random.Generator) -> NDArray[np.int16]:
    """Smooth random colour at three scales (blobs, patches, fine detail), ``(h, w, 3)``."""
    canvas = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((12, 0.5), (96, 0.3), (480, 0.2)):
        small = rng.integers(0, 256, (max(2, cells * height // width), cells, 3), np.uint8)
        frame = av.VideoFrame.from_ndarray(small, format="rgb24")
        canvas += weight * frame.reformat(width, height, interpolation="BICUBIC").to_ndarray()
    return canvas.astype(np.int16)


def _pictures(frames: int) -> Iterator[av.VideoFrame]:
    """The master's frames in yuv422p10le: the texture panning 4 px right and 2 px down a
    frame, with grain of its own on every frame and a light box crossing it."""
    width, height = MASTER_SIZE
    rng = np.random.default_rng(15)
    texture = _texture(width + 4 * frames + 8, height + 2 * frames + 8, rng)
    for index in range(frames):
        x, y = 4 * index, 2 * index
        grain = rng.integers(-6, 7, (height, width, 1), np.int16)
        rgb = np.clip(texture[y : y + height, x : x + width] + grain, 16, 235).astype(np.uint8)
        top, left = (40 + 7 * index) % (height - 200), (100 + 6 * index) % (width - 200)
        rgb[top : top + 160, left : left + 160] = 230
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        picture = frame.reformat(
            format="yuv422p10le", dst_colorspace="ITU709", dst_color_range="MPEG"
        )
        # ProRes writes the frame's tags into every frame's header: all of them, not the
        # matrix alone (what swscale sets)
        picture.color_primaries = picture.color_trc = BT709
        yield picture


def _sound(stream: av.AudioStream, channels: int, frames: int) -> Iterator[av.Packet[Any]]:
    """A quiet tone per channel (each its own pitch) for ``frames`` frames of picture."""
    total = frames * SAMPLE_RATE // FPS
    pitches = 330.0 * (1 + 0.25 * np.arange(channels))[None, :]
    for start in range(0, total, 1024):
        count = min(1024, total - start)
        t = (np.arange(count) + start)[:, None] / SAMPLE_RATE
        signal = 0.2 * np.sin(2 * np.pi * pitches * t)
        samples = (signal * 2**31 * 0.999).astype(np.int32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s32", layout=stream.layout.name)
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, stream.time_base
        yield from stream.encode(frame)
    yield from stream.encode(None)


def make_master(path: Path, frames: int) -> None:
    """The 1080p ProRes 422 HQ master with a timecode and two PCM tracks."""
    with av.open(str(path), "w", format="mov") as out:
        out.metadata["timecode"] = TIMECODE
        video = out.add_stream("prores_ks", rate=FPS)
        video.width, video.height = MASTER_SIZE
        video.pix_fmt = "yuv422p10le"
        video.options = {"profile": "3", "vendor": "apl0"}
        video.metadata["timecode"] = TIMECODE
        video.thread_type = "AUTO"
        ctx = video.codec_context
        ctx.color_primaries = ctx.color_trc = ctx.colorspace = ctx.color_range = BT709
        tracks = []
        for layout, language in AUDIO:
            track = out.add_stream("pcm_s24le", rate=SAMPLE_RATE, layout=layout)
            track.metadata["language"] = language
            tracks.append(track)
        for index, picture in enumerate(_pictures(frames)):
            picture.pts, picture.time_base = index, Fraction(1, FPS)
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
        for track in tracks:
            for packet in _sound(track, track.layout.nb_channels, frames):
                out.mux(packet)


def sources(frames: int) -> tuple[Path, Path]:
    """The master and the service's 4K result of ``frames`` frames, made unless kept."""
    master, result = SOURCES / f"master-{frames}.mov", SOURCES / f"result-{frames}.mp4"
    SOURCES.mkdir(parents=True, exist_ok=True)
    if not master.is_file():
        progress(f"making a {frames}-frame 1080p ProRes 422 HQ master (kept in {SOURCES})")
        partial = master.with_suffix(".part.mov")
        make_master(partial, frames)
        partial.replace(master)
    if not result.is_file():
        progress(f"making its 4K H.264 service result ({frames} frames; kept)")
        settings = ServerSettings(api_key="bench")
        partial = result.with_suffix(".part.mp4")
        upscale_file(
            master,
            partial,
            max_size=settings.max_size,
            preset=settings.preset,
            crf=settings.crf,
            keep_audio=False,
        )
        partial.replace(result)
    return master, result


# --- the two sides --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One side's run: seconds of its turns, CPU seconds and peak memory of its process."""

    seconds: float
    cpu: float
    peak: int


def _run_of(turned: Turned, side: str) -> Run:
    """A side's run, from its turns and the last line it printed (CHILD's or LAUNCH's)."""
    lines = turned.output.strip().splitlines()
    said = json.loads(lines[-1]) if turned.status == 0 and lines else {}
    if said.get("status", 0) != 0 or not said:
        raise RuntimeError(f"{side} failed ({turned.status}):\n{turned.output[-2000:]}")
    if said.get("lost"):
        raise RuntimeError(f"conform could not keep: {said['lost']}")
    return Run(turned.seconds, float(said["cpu"]), int(said["peak"]))


def uprez_command(result: Path, master: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", CHILD, str(result), str(master), str(out)]


def ffmpeg_command(result: Path, master: Path, out: Path, tags: Master) -> list[str]:
    """The command line doing conform's work, started by LAUNCH: the same encoder and options,
    the master's sound copied, its timecode and colour tags (FFmpeg's default threads)."""
    colour = (
        ("-color_primaries", tags.color_primaries),
        ("-color_trc", tags.color_transfer),
        ("-colorspace", tags.color_matrix),
        ("-color_range", tags.color_range),
    )
    return [
        *(sys.executable, "-c", LAUNCH, ffmpeg_exe()),
        *("-hide_banner", "-nostdin", "-v", "error", "-y"),
        *("-i", str(result), "-i", str(master), "-map", "0:v", "-map", "1:a"),
        *("-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0", "-pix_fmt", "yuv422p10le"),
        *(word for option, value in colour if value for word in (option, value)),
        *("-c:a", "copy", "-timecode", tags.timecode or TIMECODE, str(out)),
    ]


def _video_digest(path: Path) -> str:
    """One hash of every video packet's bytes, in order."""
    digest = hashlib.sha256()
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                digest.update(bytes(packet))
    return digest.hexdigest()


def check_same_work(ours: Path, theirs: Path, master: Path, frames: int) -> None:
    """Both outputs are the same conform: the same video bytes, the same master's things."""
    mine, yours = describe_master(ours), describe_master(theirs)
    source = describe_master(master)

    def kept(m: Master) -> Master:  # what differs by nature: the path and the writer's tag
        return replace(m, path="", metadata={})

    problems = []
    if kept(mine) != kept(yours):
        problems.append(f"outputs differ:\n  uprez  {kept(mine)}\n  ffmpeg {kept(yours)}")
    if (mine.codec, mine.profile, mine.pix_fmt) != ("prores", "HQ", "yuv422p10le"):
        problems.append(f"uprez wrote {mine.codec} {mine.profile} {mine.pix_fmt}")
    if (mine.width, mine.height, mine.timecode) != (3840, 2160, source.timecode):
        problems.append(f"uprez wrote {mine.width}x{mine.height} from {mine.timecode}")
    if [replace(t, index=0) for t in mine.audio] != [replace(t, index=0) for t in source.audio]:
        problems.append(f"audio {mine.audio} is not the master's {source.audio}")
    counts = (probe(ours).frames, probe(theirs).frames)
    if counts != (frames, frames):
        problems.append(f"frames {counts}, not {frames} each")
    if not problems and _video_digest(ours) != _video_digest(theirs):
        problems.append("the video packets differ (not the same frames into the same encoder)")
    if problems:
        raise RuntimeError("unequal work: " + "; ".join(problems))


# --- the row --------------------------------------------------------------------------------


def _read(path: Path) -> None:
    with path.open("rb") as file:
        while file.read(16 * MB):
            pass


def _mb(value: float) -> str:
    return f"{value / MB:.0f} MB"


def run(quick: bool) -> list[Row]:
    frames, rounds = FRAMES[0 if quick else 1], ROUNDS[0 if quick else 1]
    half = frames // 2
    master, result = sources(frames)
    short = sources(half)
    tags = describe_master(master)
    with tempfile.TemporaryDirectory(prefix="uprez-bench-conform-", dir="/tmp") as name:
        ours_out, their_out = Path(name) / "uprez.mov", Path(name) / "ffmpeg.mov"

        def both(clip: tuple[Path, Path], uprez_first: bool) -> tuple[Run, Run]:
            """One round: both sides at once, taking turns; uprez's run and FFmpeg's."""
            clip_master, clip_result = clip
            for out in (ours_out, their_out):
                out.unlink(missing_ok=True)
            os.sync()  # the last round's outputs are on disk before this one starts
            commands = [
                uprez_command(clip_result, clip_master, ours_out),
                ffmpeg_command(clip_result, clip_master, their_out, tags),
            ]
            order = commands if uprez_first else commands[::-1]
            turned = take_turns(order)
            if not uprez_first:
                turned.reverse()
            ours, theirs = _run_of(turned[0], "uprez"), _run_of(turned[1], "FFmpeg")
            count = probe(clip_result).frames
            for who, done in (("uprez", ours), ("ffmpeg", theirs)):
                progress(
                    f"{who:6} {count} frames: {done.seconds:5.1f} s, CPU {done.cpu:5.1f} s, "
                    f"peak {_mb(done.peak)}"
                )
            return ours, theirs

        progress(f"warm-up, and memory at half length ({half} frames)")
        half_ours, half_theirs = both(short, True)
        check_same_work(ours_out, their_out, short[0], half)
        for path in (master, result):
            _read(path)  # in the page cache for the first round, as for the others
        progress(f"{rounds} rounds of {frames} frames, taking turns, the first alternating")
        runs = [both((master, result), uprez_first=i % 2 == 0) for i in range(rounds)]
        check_same_work(ours_out, their_out, master, frames)
    ours, theirs = [r[0] for r in runs], [r[1] for r in runs]
    a, b = [r.seconds for r in ours], [r.seconds for r in theirs]
    # The row is the round whose ratio is the median (see the module's docstring).
    ratios = [theirs_s / ours_s for ours_s, theirs_s in zip(a, b, strict=True)]
    middle = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    ours_fps, their_fps = frames / a[middle], frames / b[middle]
    peak, half_peak = median([r.peak for r in ours]), half_ours.peak
    their_peak = median([r.peak for r in theirs])
    flat = peak <= (1 + FLAT) * half_peak
    spread = ", ".join(f"{r:.2f}" for r in ratios)
    note = (
        f"{frames} frames 3840x2160 H.264 -> ProRes 422 HQ onto a 1080p master with timecode "
        f"and 2 PCM tracks, default threads both, taking turns of {TURN:g} s; the median of "
        f"{rounds} rounds "
        f"({spread}x; medians of all runs {frames / median(a):.2f} vs "
        f"{frames / median(b):.2f} fps); CPU {median([r.cpu for r in ours]):.0f} vs "
        f"{median([r.cpu for r in theirs]):.0f} s; peak RSS uprez {_mb(half_peak)} at {half} "
        f"frames, {_mb(peak)} at {frames} ({'flat' if flat else 'GROWS'}), FFmpeg "
        f"{_mb(half_theirs.peak)}, {_mb(their_peak)}"
    )
    met = ratios[middle] >= TARGET and flat
    name = "conform 4K encode (baseline: FFmpeg CLI)"
    target = f">= {TARGET:g}x, flat memory"
    return [Row(name, ours_fps, their_fps, "fps", target, met, note=note)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_conform")
    parser.add_argument("--quick", action="store_true", help=f"{FRAMES[0]} frames, not {FRAMES[1]}")
    rows = run(parser.parse_args().quick)
    print(table(rows))
    sys.exit(0 if all(row.met for row in rows) else 1)
