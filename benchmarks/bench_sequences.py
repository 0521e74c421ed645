"""An image sequence's proxy against the FFmpeg command line doing the same (issue 16).

The sources: 1920x1080 frames at 24 fps numbered from 1001, with detail everywhere (texture at
three scales panning, fresh grain on every frame, a bright box crossing it), made once and kept
in SOURCES for later runs (a full run adds the frames a quick run did not need).

* EXR: scene-linear half float, ZIP in blocks of 16 lines (Blender's default), the texture made
  linear with highlights up to 16 in the box. uprez: ``encode_proxy`` through the default OCIO
  view (``$OCIO`` unset, ``colour.*`` unset: OCIO's built-in studio config, ACEScg to
  "sRGB - Display", "ACES 2.0 - SDR 100 nits (Rec.709)", baked on the first frame, inside the
  time). FFmpeg: ``ffmpeg -framerate 24 -start_number 1001 -i sh010.%04d.exr`` with no colour
  step at all (FFmpeg has no OCIO): the linear values go to the encoder as they are, which no
  one would watch, but it is the same decode, reformat and encode without the view.
* PNG: the same pictures display-referred, 16-bit RGB: neither side has a colour step, so this
  row is like for like, and the difference between the rows is what OCIO costs.

Both sides encode ``libx264 -preset veryfast -crf 12`` (uprez's ``master.proxy_*`` defaults)
to yuv420p with BT.709's matrix (the FFmpeg side converts with ``scale=out_color_matrix=bt709``
so its proxy is what its tags say) and the same colour tags, and leave threads to the libraries'
defaults. uprez runs in a fresh Python process, timed from after its imports and planning (the
sequence found, the view resolved: a pipeline has done both before it makes the proxy; the
interpreter and its imports of PyAV, NumPy and OpenColorIO take ~0.8 s more) to its exit, so
the view's baking is in the time; FFmpeg from its start to its exit. Before anything is timed,
and again after, both proxies are checked to hold every frame at 1920x1080 in yuv420p.

Rounds: as bench_conform's, each round runs the two at once, taking turns of TURN seconds on
the whole machine with the other stopped (:mod:`benchmarks.turns`), since on this shared machine
other work comes and goes within seconds and moves runs made one after the other by far more
than the sides differ. A round's ratio is FFmpeg's seconds over uprez's; the first to run
alternates; the row is the round whose ratio is the median, its note every round's ratio, the
medians of all runs and each side's CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext
from numpy.typing import NDArray

from benchmarks.common import Row, median, table
from benchmarks.turns import TURN, Turned, take_turns
from uprez.media.probe import probe

#: Where the sources are kept between runs (the version changes when the maker does).
SOURCES = Path(tempfile.gettempdir()) / "uprez-bench-sources" / "sequences-v2"
SIZE = (1920, 1080)
FPS = 24
FIRST = 1001
#: Frames timed and rounds, (quick, full).
FRAMES = (48, 96)
ROUNDS = (3, 5)  # odd: the median is a round
TARGET = 0.9
CRF, PRESET = 12, "veryfast"

#: The uprez side, run by ``python -c``: arguments kind, pattern, frames, fps, crf, preset,
#: output. It finds the sequence and resolves the view a run would use with no ``colour.*`` and
#: no ``$OCIO`` set (OCIO's built-in studio config), stops itself to be timed (see
#: :mod:`benchmarks.turns`), makes the proxy, and prints the frames written, the view and its
#: CPU seconds since it stopped.
CHILD = """
import json, os, resource, signal, sys
from fractions import Fraction
from uprez.config.sections import ColourSection
from uprez.media.ocio import view_transform
from uprez.media.sequence import find_sequence
from uprez.media.sequence_proxy import encode_proxy
from uprez.step.proxy import Proxy
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
kind, pattern, frames, fps, crf, preset, out = sys.argv[1:8]
seq = find_sequence(pattern, fps=Fraction(fps))
colour = view_transform(ColourSection(), env={}) if kind == "exr" else None  # no $OCIO
proxy = Proxy(int(crf), preset, Fraction(fps), colour)
before = cpu()
os.kill(os.getpid(), signal.SIGSTOP)
written = encode_proxy(seq, 0, int(frames), out, proxy)
view = None if colour is None else f"{colour.source} -> {colour.display} / {colour.view}"
print(json.dumps({"frames": written, "view": view, "cpu": cpu() - before}), flush=True)
"""

#: The FFmpeg side: stops itself, then runs the command given and prints its exit status and
#: CPU seconds as the kernel accounts its finished process.
LAUNCH = """
import json, os, signal, subprocess, sys
os.kill(os.getpid(), signal.SIGSTOP)
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"status": os.waitstatus_to_exitcode(status),
                  "cpu": usage.ru_utime + usage.ru_stime}), flush=True)
"""


def ffmpeg_exe() -> str:
    """The FFmpeg binary of the ``imageio-ffmpeg`` package."""
    import imageio_ffmpeg  # type: ignore[import-untyped]

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def progress(message: str) -> None:
    print(f"  bench_sequences: {message}", file=sys.stderr, flush=True)


# --- the sources ----------------------------------------------------------------------------


def _texture(width: int, height: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """Smooth random colour at three scales (blobs, patches, fine detail), ``(h, w, 3)`` in
    0..1."""
    canvas = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((12, 0.5), (96, 0.3), (480, 0.2)):
        small = rng.integers(0, 256, (max(2, cells * height // width), cells, 3), np.uint8)
        frame = av.VideoFrame.from_ndarray(small, format="rgb24")
        canvas += weight * frame.reformat(width, height, interpolation="BICUBIC").to_ndarray()
    return canvas / np.float32(255)


def pictures(indexes: Iterable[int]) -> Iterator[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """Frames ``indexes`` as (scene-linear RGB, display-referred RGB), float32 ``(h, w, 3)``:
    the texture panning 4 px right and 2 px down a frame, grain of its own on every frame, and
    a box whose linear values run 2..16 (above the display's white) crossing it. Frame ``i`` is
    the same whichever frames are asked for."""
    width, height = SIZE
    most = max(FRAMES)
    texture = _texture(width + 4 * most + 8, height + 2 * most + 8, np.random.default_rng(16))
    for index in indexes:
        x, y = 4 * index, 2 * index
        grain = np.random.default_rng([16, index]).normal(0.0, 0.02, (height, width, 1))
        grain = grain.astype(np.float32)
        display = np.clip(texture[y : y + height, x : x + width] + grain, 0.0, 1.0)
        linear = (display**2.4 * 0.8).astype(np.float32)
        top, left = (40 + 7 * index) % (height - 200), (100 + 6 * index) % (width - 300)
        highlights = np.geomspace(2, 16, 240, dtype=np.float32)
        linear[top : top + 160, left : left + 240] = highlights[None, :, None]
        display[top : top + 160, left : left + 240] = 1.0
        yield linear, display.astype(np.float32)


def _encode(codec: str, pix_fmt: str, options: dict[str, str], frame: av.VideoFrame) -> bytes:
    context = av.CodecContext.create(codec, "w")
    assert isinstance(context, VideoCodecContext)
    context.width, context.height, context.pix_fmt = frame.width, frame.height, pix_fmt
    context.time_base = Fraction(1, FPS)
    context.options = options
    return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])


def _keep(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a hidden name first: no reader takes it for a frame)."""
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    partial.replace(path)


def frame_path(folder: Path, ext: str, index: int) -> Path:
    return folder / ext / f"sh010.{FIRST + index:04d}.{ext}"


def sources(frames: int) -> Path:
    """The folder holding ``exr/`` (half float, zip16) and ``png/`` (16-bit RGB) frames
    ``sh010.1001`` onwards, at least ``frames`` of each: made unless kept (a full run adds to
    what a quick one made)."""
    missing = [
        i
        for i in range(frames)
        if not (frame_path(SOURCES, "exr", i).is_file() and frame_path(SOURCES, "png", i).is_file())
    ]
    if missing:
        progress(
            f"making {len(missing)} EXR and PNG frames at {SIZE[0]}x{SIZE[1]} (kept in {SOURCES})"
        )
        (SOURCES / "exr").mkdir(parents=True, exist_ok=True)
        (SOURCES / "png").mkdir(parents=True, exist_ok=True)
        half = {"format": "half", "compression": "zip16"}
        for index, (linear, display) in zip(missing, pictures(missing), strict=True):
            planar = av.VideoFrame.from_ndarray(np.ascontiguousarray(linear), format="gbrpf32le")
            _keep(frame_path(SOURCES, "exr", index), _encode("exr", "gbrpf32le", half, planar))
            codes = np.round(display * 65535).astype(np.uint16)
            packed = av.VideoFrame.from_ndarray(codes, format="rgb48be")
            _keep(frame_path(SOURCES, "png", index), _encode("png", "rgb48be", {}, packed))
    return SOURCES


# --- the two sides --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One side's run: seconds of its turns, CPU seconds, and what it printed last."""

    seconds: float
    cpu: float
    said: dict[str, Any]


def _run_of(turned: Turned, side: str) -> Run:
    """A side's run, from its turns and the last line it printed (CHILD's or LAUNCH's)."""
    lines = turned.output.strip().splitlines()
    said = json.loads(lines[-1]) if turned.status == 0 and lines else {}
    if said.get("status", 0) != 0 or not said:
        raise RuntimeError(f"{side} failed ({turned.status}):\n{turned.output[-2000:]}")
    return Run(turned.seconds, float(said["cpu"]), said)


def uprez_command(kind: str, folder: Path, frames: int, out: Path) -> list[str]:
    pattern = folder / kind / f"sh010.####.{kind}"
    settings = [str(frames), str(FPS), str(CRF), PRESET]
    return [sys.executable, "-c", CHILD, kind, str(pattern), *settings, str(out)]


def ffmpeg_command(kind: str, folder: Path, frames: int, out: Path) -> list[str]:
    """The command line doing encode_proxy's work, bar the colour step, started by LAUNCH: the
    image2 demuxer, the same encoder and options, BT.709's matrix and uprez's tags (FFmpeg's
    default threads)."""
    trc = "iec61966-2-1"  # the sRGB display's transfer, as uprez tags its proxies
    return [
        sys.executable,
        "-c",
        LAUNCH,
        ffmpeg_exe(),
        *("-hide_banner", "-nostdin", "-v", "error", "-y"),
        *("-framerate", str(FPS), "-start_number", str(FIRST)),
        *("-i", str(folder / kind / f"sh010.%04d.{kind}"), "-frames:v", str(frames)),
        *("-vf", "scale=out_color_matrix=bt709:out_range=tv", "-pix_fmt", "yuv420p"),
        *("-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF)),
        *("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", trc),
        *("-color_range", "tv", "-f", "mp4", str(out)),
    ]


def check_same_work(ours: Path, theirs: Path, frames: int) -> None:
    """Both proxies hold every frame, at the source's size, in yuv420p."""
    problems = []
    for side, path in (("uprez", ours), ("ffmpeg", theirs)):
        info = probe(path)
        with av.open(str(path)) as container:
            fmt = container.streams.video[0].codec_context.pix_fmt
        got = (info.width, info.height, info.frames, fmt)
        if got != (*SIZE, frames, "yuv420p"):
            problems.append(f"{side} wrote {got}")
    if problems:
        raise RuntimeError("unequal work: " + "; ".join(problems))


# --- the rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One row's source: its extension, its name in the table, what its note says."""

    ext: str
    name: str
    what: str


KINDS = (
    Kind(
        "exr",
        "sequence -> proxy, OCIO on uprez's side only (baseline: FFmpeg CLI, no colour step)",
        "half-float EXR zip16, scene-linear",
    ),
    Kind(
        "png",
        "sequence -> proxy, no OCIO either side (baseline: FFmpeg CLI)",
        "16-bit PNG, display-referred",
    ),
)


def row(kind: Kind, folder: Path, frames: int, rounds: int, scratch: Path) -> Row:
    ours_out, their_out = scratch / "uprez.mp4", scratch / "ffmpeg.mp4"

    def both(uprez_first: bool) -> tuple[Run, Run]:
        """One round: both sides at once, taking turns; uprez's run and FFmpeg's."""
        for out in (ours_out, their_out):
            out.unlink(missing_ok=True)
        os.sync()  # the last round's outputs are on disk before this one starts
        commands = [
            uprez_command(kind.ext, folder, frames, ours_out),
            ffmpeg_command(kind.ext, folder, frames, their_out),
        ]
        turned = take_turns(commands if uprez_first else commands[::-1])
        if not uprez_first:
            turned.reverse()
        ours, theirs = _run_of(turned[0], "uprez"), _run_of(turned[1], "FFmpeg")
        for who, done in (("uprez", ours), ("ffmpeg", theirs)):
            progress(
                f"{kind.ext} {who:6} {frames} frames: {done.seconds:5.2f} s, CPU {done.cpu:5.1f} s"
            )
        return ours, theirs

    progress(f"{kind.ext}: warm-up (page cache), then {rounds} rounds taking turns")
    view = both(True)[0].said.get("view")
    check_same_work(ours_out, their_out, frames)
    runs = [both(uprez_first=i % 2 == 0) for i in range(rounds)]
    check_same_work(ours_out, their_out, frames)
    a, b = [r[0].seconds for r in runs], [r[1].seconds for r in runs]
    ratios = [theirs_s / ours_s for ours_s, theirs_s in zip(a, b, strict=True)]
    middle = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    ours_fps, their_fps = frames / a[middle], frames / b[middle]
    spread = ", ".join(f"{r:.2f}" for r in ratios)
    colour = f"uprez through the default OCIO view ({view})" if view else "no colour step"
    note = (
        f"{frames} frames {SIZE[0]}x{SIZE[1]} {kind.what}, x264 {PRESET} crf {CRF} yuv420p, "
        f"{colour}, default threads both, taking turns of {TURN:g} s; the median of {rounds} "
        f"rounds ({spread}x; medians of all runs {frames / median(a):.1f} vs "
        f"{frames / median(b):.1f} fps); CPU {median([r[0].cpu for r in runs]):.1f} vs "
        f"{median([r[1].cpu for r in runs]):.1f} s"
    )
    met = ratios[middle] >= TARGET
    return Row(kind.name, ours_fps, their_fps, "fps", f">= {TARGET:g}x", met, note=note)


def run(quick: bool) -> list[Row]:
    frames, rounds = FRAMES[0 if quick else 1], ROUNDS[0 if quick else 1]
    folder = sources(frames)
    with tempfile.TemporaryDirectory(prefix="uprez-bench-sequences-", dir="/tmp") as name:
        return [row(kind, folder, frames, rounds, Path(name)) for kind in KINDS]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sequences")
    parser.add_argument("--quick", action="store_true", help=f"{FRAMES[0]} frames, not {FRAMES[1]}")
    rows = run(parser.parse_args().quick)
    print(table(rows))
    sys.exit(0 if all(row.met for row in rows) else 1)
