"""uprez's media work against the FFmpeg command line doing the same (issue 7).

* Split and merge by stream copy: a ~1 GB 1080p export with sound is cut into 3 segments at
  keyframes the way a long job is (``index_video`` once, then ``cut_segment`` per segment) and
  the segments are joined back with the source's sound (``concat_with_source_audio``), against
  FFmpeg's segment muxer and concat demuxer cutting at the same frames. Throughput is MB of
  source per second of wall time, so a ratio of 0.9 or more meets the target.
* Local upscale: ``upscale_file`` (what the local server runs) against ``ffmpeg -vf
  scale=...:flags=lanczos -c:v libx264`` with the server's preset, CRF and output size. Frames
  per second, so a ratio of 0.95 or more meets the target.

The FFmpeg binary is the ``imageio-ffmpeg`` package's (extra ``bench``). Sources are made once
per run in a temporary folder under /tmp and deleted at the end. Each side's earlier outputs are
deleted before it runs, and the split's parts are written to disk (not timed) before the merge,
so no timed step pays for writing back another's output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from benchmarks.common import Row, interleaved, median, timed
from uprez.media.keyframes import forget_indexes, index_video
from uprez.media.probe import probe
from uprez.media.segments import concat_with_source_audio, cut_segment
from uprez.standin.settings import ServerSettings
from uprez.standin.upscale import upscale_file

SEGMENTS = 3
TILE_SECONDS = 2  # one GOP: the export is this clip repeated, stream-copied
TILE_FPS = 30
TILE_SIZE = "1920x1080"
TILE_BITRATE = "60M"  # a high-quality master; ultrafast x264 lands near 45 Mbit/s on testsrc2
UPSCALE_SOURCE = "1280x720"
UPSCALE_FPS = 24
MB = 1024 * 1024


def ffmpeg_exe() -> str:
    """The FFmpeg binary of the ``imageio-ffmpeg`` package."""
    import imageio_ffmpeg  # type: ignore[import-untyped]

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg(*args: str) -> None:
    """Run the FFmpeg command line quietly; fail loudly."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args]
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)


def progress(message: str) -> None:
    print(f"  bench_media: {message}", file=sys.stderr, flush=True)


def fresh(paths: Sequence[Path]) -> None:
    """Delete earlier outputs: their pages never get written back during a later run."""
    for path in paths:
        path.unlink(missing_ok=True)


def flush(paths: Sequence[Path]) -> None:
    """Write ``paths`` to disk now (not timed), so the next timed step does not pay for it."""
    for path in paths:
        with path.open("rb") as file:
            os.fsync(file.fileno())


# --- the ~1 GB export ---------------------------------------------------------------------


def make_export(folder: Path, megabytes: int) -> Path:
    """An H.264 (B-frames, a keyframe every 2 s) + AAC MP4 of about ``megabytes`` MB.

    Encoding a whole gigabyte would take minutes; one 2-second GOP is encoded and repeated by
    the concat demuxer with stream copy, which takes seconds and still gives a file of real
    packets with a keyframe at the start of every tile.
    """
    tile = folder / "tile.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size={TILE_SIZE}:rate={TILE_FPS}"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
        *("-t", str(TILE_SECONDS), "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2"),
        *("-g", str(TILE_SECONDS * TILE_FPS), "-b:v", TILE_BITRATE, "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "192k", "-shortest", str(tile)),
    )
    repeats = max(1, round(megabytes * MB / tile.stat().st_size))
    listing = folder / "tiles.txt"
    listing.write_text(f"file '{tile}'\n" * repeats, encoding="utf-8")
    export = folder / "export.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(export))
    tile.unlink()
    return export


def cut_points(source: Path) -> list[int]:
    """Frame numbers of the segment boundaries: the keyframes nearest equal thirds."""
    index = index_video(source)
    keys = [k for k in index.keyframe_indexes if k > 0]
    inner = [
        min(keys, key=lambda k: abs(k - index.frames * j / SEGMENTS)) for j in range(1, SEGMENTS)
    ]
    return [0, *inner, index.frames]


@dataclass(frozen=True)
class SplitJob:
    """One source, its cut points and where each side writes."""

    source: Path
    cuts: list[int]
    folder: Path

    def parts(self, side: str) -> list[Path]:
        return [self.folder / f"{side}-{i}.mp4" for i in range(SEGMENTS)]

    def merged(self, side: str) -> Path:
        return self.folder / f"{side}-merged.mp4"

    def outputs(self, side: str) -> list[Path]:
        return [*self.parts(side), self.merged(side)]


def uprez_split(job: SplitJob) -> None:
    """What a long job does: one index of the source (to plan), then each segment copied by its
    own worker, as ``segmenting.run_segments`` cuts them (``limits.concurrency``, 3 by default)."""
    forget_indexes()  # a job reads its source's index once (to plan): count that read
    index = index_video(job.source)
    spans = zip(job.parts("uprez"), job.cuts, job.cuts[1:], strict=False)
    with ThreadPoolExecutor(max_workers=SEGMENTS) as pool:
        cuts = [
            pool.submit(cut_segment, job.source, p, a, b, copy=True, index=index)
            for p, a, b in spans
        ]
        for cut in cuts:
            cut.result()


def uprez_merge(job: SplitJob, fps: Fraction) -> None:
    concat_with_source_audio(job.parts("uprez"), job.source, job.merged("uprez"), fps=fps)


def ffmpeg_split(job: SplitJob) -> None:
    """The segment muxer: one pass, video only (as uprez cuts), cut at the same frames."""
    ffmpeg(
        *("-i", str(job.source), "-map", "0:v", "-c", "copy", "-f", "segment"),
        *("-segment_frames", ",".join(str(c) for c in job.cuts[1:-1])),
        *("-segment_format", "mp4", "-reset_timestamps", "1"),
        str(job.folder / "ffmpeg-%d.mp4"),
    )


def ffmpeg_merge(job: SplitJob) -> None:
    """The concat demuxer, video from the parts and sound from the source, all copied.

    ``-auto_convert 0``: by default the demuxer turns H.264 into Annex B and the MP4 muxer turns
    it back, which more than doubles the time; parts encoded alike do not need it.
    """
    listing = job.folder / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in job.parts("ffmpeg")), encoding="utf-8")
    ffmpeg(
        *("-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(listing)),
        *("-i", str(job.source), "-map", "0:v", "-map", "1:a", "-c", "copy"),
        *("-f", "mp4", str(job.merged("ffmpeg"))),
    )


def check_same_work(job: SplitJob) -> None:
    """Both sides cut the same frames and merge back every one (else the race is unfair)."""
    ours = [probe(p).frames for p in job.parts("uprez")]
    theirs = [probe(p).frames for p in job.parts("ffmpeg")]
    whole = probe(job.source).frames
    merged = (probe(job.merged("uprez")).frames, probe(job.merged("ffmpeg")).frames)
    if ours != theirs or merged != (whole, whole):
        raise RuntimeError(f"unequal work: parts {ours} vs {theirs}, merged {merged} of {whole}")


def split_merge_rows(folder: Path, quick: bool) -> list[Row]:
    megabytes, repeats = (256, 3) if quick else (1024, 5)
    progress(f"making a {megabytes} MB export")
    source = make_export(folder, megabytes)
    size = source.stat().st_size / MB
    fps = probe(source).fps
    job = SplitJob(source, cut_points(source), folder)
    seconds: dict[str, list[float]] = {}

    def rep(side: str, split: Callable[[], None], merge: Callable[[], None]) -> float:
        fresh(job.outputs(side))
        os.sync()  # the other side's files are written out before this side's clock starts
        seconds.setdefault(f"{side} split", []).append(timed(split))
        flush(job.parts(side))
        seconds.setdefault(f"{side} merge", []).append(timed(merge))
        return seconds[f"{side} split"][-1] + seconds[f"{side} merge"][-1]

    def ours() -> float:
        return rep("uprez", lambda: uprez_split(job), lambda: uprez_merge(job, fps))

    def theirs() -> float:
        return rep("ffmpeg", lambda: ffmpeg_split(job), lambda: ffmpeg_merge(job))

    ours(), theirs()  # warm up both (imports, page cache of the source)
    check_same_work(job)
    seconds.clear()
    progress(f"split/merge x{repeats}")
    a, b = interleaved(ours, theirs, repeats)
    fresh([*job.outputs("uprez"), *job.outputs("ffmpeg")])
    # The target is the whole round trip; each half's ratio is shown beside it, as measured.
    halves = ", ".join(
        f"{half} alone {median(seconds[f'ffmpeg {half}']) / median(seconds[f'uprez {half}']):.2f}x"
        for half in ("split", "merge")
    )
    note = f"{size:.0f} MB 1080p H.264+AAC, {SEGMENTS} segments, MB/s of source; {halves}"
    ours_rate, their_rate = size / median(a), size / median(b)
    met = ours_rate >= 0.9 * their_rate
    name = "split + merge by stream copy (baseline: FFmpeg CLI)"
    return [Row(name, ours_rate, their_rate, "MB/s", ">= 0.9x", met, note=note)]


# --- the local upscale -------------------------------------------------------------------


def make_clip(folder: Path, frames: int) -> Path:
    """A 1280x720 clip with sound, tagged BT.709 as real exports are."""
    clip = folder / "clip.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size={UPSCALE_SOURCE}:rate={UPSCALE_FPS}"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
        *("-frames:v", str(frames), "-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv420p"),
        *("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"),
        *("-color_range", "tv", "-c:a", "aac", "-shortest", str(clip)),
    )
    return clip


def upscale_rows(folder: Path, quick: bool) -> list[Row]:
    frames, repeats = (16, 2) if quick else (48, 5)
    settings = ServerSettings(api_key="bench")
    clip = make_clip(folder, frames)
    ours_out, their_out = folder / "uprez-4k.mp4", folder / "ffmpeg-4k.mp4"

    def upscale() -> tuple[int, int]:
        done = upscale_file(
            clip, ours_out, max_size=settings.max_size, preset=settings.preset, crf=settings.crf
        )
        return done.width, done.height

    width, height = upscale()  # also warms uprez's side up

    def command_line() -> None:
        ffmpeg(
            *("-i", str(clip), "-vf", f"scale={width}:{height}:flags=lanczos"),
            *("-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf)),
            *("-pix_fmt", "yuv420p", "-c:a", "copy", "-f", "mp4", str(their_out)),
        )

    def ours() -> float:
        fresh([ours_out])
        return frames / timed(upscale)

    def theirs() -> float:
        fresh([their_out])
        return frames / timed(command_line)

    progress(f"upscale {frames} frames {UPSCALE_SOURCE} -> {width}x{height} x{repeats}")
    theirs()  # warm-up
    for out in (ours_out, their_out):
        info = probe(out)
        if (info.width, info.height, info.frames) != (width, height, frames):
            raise RuntimeError(f"{out}: {info.width}x{info.height}, {info.frames} frames")
    a, b = interleaved(ours, theirs, repeats)
    fresh([ours_out, their_out])
    met = median(a) >= 0.95 * median(b)
    note = (
        f"{UPSCALE_SOURCE} -> {width}x{height}, {frames} frames, "
        f"x264 {settings.preset} crf {settings.crf}"
    )
    return [
        Row("local upscale (Lanczos + x264)", median(a), median(b), "fps", ">= 0.95x", met, note)
    ]


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="uprez-bench-media-", dir="/tmp") as name:
        folder = Path(name)
        return [*split_merge_rows(folder, quick), *upscale_rows(folder, quick)]
