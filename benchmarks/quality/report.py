"""Collecting the scores and printing them as Markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks.quality.clips import FRAME, Clip


@dataclass(frozen=True)
class Score:
    """Mean PSNR (dB) and SSIM of a clip (or a group of clips), and frames per second.

    Speed is one over the median frame's time, so that a burst of other work on a shared machine
    does not skew it."""

    psnr: float
    ssim: float
    fps: float


@dataclass
class Scores:
    """Every (clip, factor, method) score, and the groups the clips belong to."""

    by_clip: dict[tuple[str, int, str], Score] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    times: dict[tuple[str, int, str], list[float]] = field(default_factory=dict)

    def add(
        self,
        clip: Clip,
        factor: int,
        method: str,
        values: Sequence[tuple[float, float]],
        seconds: Sequence[float],
    ) -> None:
        """Record one clip's per-frame (PSNR, SSIM) and the seconds each frame's upscale took."""
        self.groups[clip.name] = clip.group
        self.by_clip[clip.name, factor, method] = Score(
            statistics.fmean(v[0] for v in values),
            statistics.fmean(v[1] for v in values),
            1 / statistics.median(seconds),
        )
        self.times[clip.name, factor, method] = list(seconds)

    def mean(self, group: str, factor: int, method: str) -> Score:
        """The mean over the clips of ``group``; speed over all their frames."""
        names = [name for name, of in self.groups.items() if of == group]
        scores = [self.by_clip[name, factor, method] for name in names]
        times = [t for name in names for t in self.times[name, factor, method]]
        return Score(
            statistics.fmean(s.psnr for s in scores),
            statistics.fmean(s.ssim for s in scores),
            1 / statistics.median(times),
        )


def summary_table(
    scores: Scores, factors: Sequence[int], methods: Sequence[str], *, group: str
) -> str:
    """Mean PSNR, SSIM and fps of each method at each factor over the clips of ``group``."""
    count = sum(1 for of in scores.groups.values() if of == group)
    width, height = FRAME
    lines = [
        f"{group} clips ({count}), luma, back to {width}x{height}:",
        "",
        "| scale | method | PSNR (dB) | SSIM | fps |",
        "|---|---|---|---|---|",
    ]
    for factor in factors:
        for method in methods:
            s = scores.mean(group, factor, method)
            lines.append(f"| x{factor} | {method} | {s.psnr:.2f} | {s.ssim:.4f} | {s.fps:.0f} |")
    return "\n".join(lines) + "\n"


def per_clip_table(scores: Scores, clips: Sequence[Clip], factors: Sequence[int]) -> str:
    """PSNR of lanczos and learned per clip, and what learned gains (negative: loses)."""
    header = "| clip | group |" + "".join(
        f" x{f} lanczos | x{f} learned | x{f} gain |" for f in factors
    )
    lines = ["PSNR (dB) per clip:", "", header, "|---|---|" + "---|---|---|" * len(factors)]
    for clip in clips:
        cells = [clip.name, clip.group]
        for factor in factors:
            lanczos = scores.by_clip[clip.name, factor, "lanczos"].psnr
            learned = scores.by_clip[clip.name, factor, "learned"].psnr
            cells += [f"{lanczos:.2f}", f"{learned:.2f}", f"{learned - lanczos:+.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
