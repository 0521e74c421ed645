"""``python -m benchmarks.quality [--quick]``: PSNR, SSIM and speed of each upscaling method.

Prints Markdown tables and writes the comparison picture; exits 1 when the learned mode does not
beat Lanczos on PSNR at x2 over the photo clips (texture and graphics clips are reported, not
gated: they show where the network is weakest and strongest).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks.quality import picture
from benchmarks.quality.clips import (
    FRAME,
    GRAPHICS,
    PHOTOS,
    TEXTURES,
    Clip,
    luma,
    make_clip,
    to_rgb,
)
from benchmarks.quality.methods import METHODS, shrink, upscalers
from benchmarks.quality.metrics import psnr, ssim
from benchmarks.quality.report import Scores, per_clip_table, summary_table
from benchmarks.quality.speed import speed_table

FACTORS = (2, 4)
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "compare.png"
PICTURE_CLIP = "astronaut"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality")
    parser.add_argument(
        "--quick", action="store_true", help="fewer frames, photo clips only (under a minute)"
    )
    parser.add_argument(
        "--clips",
        help="comma-separated skimage.data pictures to use instead of the default photos and "
        "textures (all counted as photos, so gated)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the comparison PNG")
    args = parser.parse_args()

    started = time.perf_counter()
    frames = 6 if args.quick else 16
    if args.clips:
        plan = [(name, "photo") for name in args.clips.split(",")]
    else:
        plan = [(name, "photo") for name in PHOTOS]
        if not args.quick:
            plan += [(name, "texture") for name in TEXTURES]
            plan += [(name, "graphics") for name in GRAPHICS]
    clips = [make_clip(name, frames, group) for name, group in plan]
    print(f"{len(clips)} clips of {frames} frames at {FRAME[0]}x{FRAME[1]}", file=sys.stderr)

    scores = Scores()
    for factor in FACTORS:
        _score(clips, factor, scores)
    picture_clip = next((clip for clip in clips if clip.name == PICTURE_CLIP), clips[0])
    _compare(picture_clip, args.out)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()}; load average at the end "
        f"{os.getloadavg()[0]:.1f} (speed figures suffer when other work shares the CPUs)\n"
    )
    for group in dict.fromkeys(clip.group for clip in clips):
        print(summary_table(scores, FACTORS, METHODS, group=group))
    print(per_clip_table(scores, clips, FACTORS))
    print(speed_table(repeats=2 if args.quick else 4))
    print(f"comparison picture: {args.out}")
    print(f"wall time: {time.perf_counter() - started:.0f} s")

    gain = scores.mean("photo", 2, "learned").psnr - scores.mean("photo", 2, "lanczos").psnr
    verdict = "beats" if gain > 0 else "does NOT beat"
    print(f"learned {verdict} lanczos on PSNR at x2 over the photo clips ({gain:+.2f} dB)")
    return 0 if gain > 0 else 1


def _score(clips: list[Clip], factor: int, scores: Scores) -> None:
    """Shrink every clip by ``factor``, enlarge it back by each method, and record the scores."""
    width, height = FRAME
    source = (width // factor, height // factor)
    methods = upscalers(source, FRAME)
    for clip in clips:
        smalls = [shrink(frame, factor) for frame in clip.frames]
        for method, upscale in methods.items():
            seconds = []
            values = []
            for reference, small in zip(clip.frames, smalls, strict=True):
                began = time.perf_counter()
                result = upscale(small, FRAME)
                seconds.append(time.perf_counter() - began)
                want, got = luma(reference), luma(result)
                values.append((psnr(want, got), ssim(want, got)))
            scores.add(clip, factor, method, values, seconds)


def _compare(clip: Clip, out: Path) -> None:
    """Write the comparison picture from the clip's middle frame."""
    reference = clip.frames[len(clip.frames) // 2]
    top, left = picture.busiest_square(luma(reference), 64)
    top, left = top - top % max(FACTORS), left - left % max(FACTORS)
    rows = []
    for factor in FACTORS:
        small = shrink(reference, factor)
        methods = upscalers((small.width, small.height), FRAME)
        rows.append(
            picture.Row(
                factor,
                to_rgb(small),
                to_rgb(methods["lanczos"](small, FRAME)),
                to_rgb(methods["learned"](small, FRAME)),
                to_rgb(reference),
            )
        )
    picture.write(out, rows, (top, left))


if __name__ == "__main__":
    sys.exit(main())
