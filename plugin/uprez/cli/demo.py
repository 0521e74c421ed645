"""``uprez demo``: make a test chart clip, upscale it on the local server, say where the result
and the picture comparing them are."""

from __future__ import annotations

import argparse
import struct
from pathlib import Path
from typing import Any

from uprez.cli.progress import TerminalProgress, shows_progress
from uprez.config import load_config
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact

# The comparison picture: the whole frame once, side by side, then the centre of the result
# at 1:1 beside the same region of the source (where the chart's finest text and lines are).
# A picture this size opens at once; three full rows at 4096 pixels made 4 MB.
COMPARE_FRAMES = 1
COMPARE_CROP = 640
COMPARE_WIDTH = 2 * COMPARE_CROP + 4


def register(commands: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="upscale a generated test chart with the local server (no key, no network)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("uprez-demo"),
        help="where the clip and its upscale go (default ./uprez-demo)",
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length (default 2)")
    parser.add_argument(
        "--max-size",
        default="3840x2160",
        help="the box to upscale into (default 3840x2160, 4K UHD)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Make the clip, upscale it with the ``local`` provider, print the paths."""
    from uprez.media.compare import write_comparison  # PyAV
    from uprez.media.demo_clip import DEMO_SIZE, make_demo_clip  # PyAV
    from uprez.media.probe import probe  # PyAV
    from uprez.step.run import run_upscale  # PyAV loads with the step's modules

    args.dir.mkdir(parents=True, exist_ok=True)
    clip = make_demo_clip(args.dir / "uprez-demo.mp4", seconds=args.seconds)
    width, height = DEMO_SIZE
    print(
        f"made      {clip} ({width}x{height}, {args.seconds:g} s, 24 fps: fine text, thin "
        "lines, a zone plate and a star, a beep each second)"
    )
    pm = get_plugin_manager()
    config = load_config(
        fragments=pm.config_fragments(),
        overrides={
            "provider.name": "local",
            "local.max_size": args.max_size,
            "output.overwrite": True,
        },
    )
    progress = TerminalProgress() if shows_progress() else None
    if progress is not None:
        pm.register(progress, name="cli-progress")
    try:
        result = run_upscale(Artifact(path=clip), config=config, pm=pm)
    finally:
        if progress is not None:
            progress.close()
    made = result.result
    assert made is not None, "the upscale step returns its result"
    output = made.output
    # Named as ``uprez upscale --compare`` names it.
    picture = write_comparison(
        clip,
        output,
        output.with_name(output.name + ".compare.png"),
        frames=COMPARE_FRAMES,
        crop=COMPARE_CROP,
        max_width=COMPARE_WIDTH,
    )
    info = probe(output)
    shown_w, shown_h = png_size(picture)
    print(
        f"upscaled  {output} ({info.width}x{info.height}, {info.frames} frames, "
        f"task {made.task_id})"
    )
    print(
        f"compare   {picture} ({shown_w}x{shown_h}, "
        f"{picture.stat().st_size / 1e6:.1f} MB: the frame side by side, then its centre "
        "at 1:1)"
    )
    print(f"sidecar   {made.sidecar} (on WaveSpeed this would cost ${made.cost})")
    return 0


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its header."""
    with path.open("rb") as handle:
        head = handle.read(24)
    width, height = struct.unpack(">II", head[16:24])
    return width, height
