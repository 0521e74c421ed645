"""``uprez demo``: make a short clip, upscale it on the local server, say where the result is."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from uprez.cli.progress import TerminalProgress
from uprez.cli.upscale import compare_png
from uprez.config import load_config
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact


def register(commands: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="upscale a generated clip with the local server (no key, no network)",
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
    """Make the clip, upscale it with the ``local`` provider, print both paths."""
    from uprez.media.probe import probe  # PyAV
    from uprez.media.synth import make_clip  # PyAV
    from uprez.step.run import run_upscale  # PyAV loads with the step's modules

    args.dir.mkdir(parents=True, exist_ok=True)
    clip = args.dir / "uprez-demo.mp4"
    make_clip(clip, seconds=args.seconds, fps=24, width=640, height=360, audio=True)
    print(f"made      {clip} (640x360, {args.seconds:g} s, 24 fps, with sound)")
    pm = get_plugin_manager()
    config = load_config(
        fragments=pm.config_fragments(),
        overrides={
            "provider.name": "local",
            "local.max_size": args.max_size,
            "output.overwrite": True,
        },
    )
    if sys.stderr.isatty():
        pm.register(TerminalProgress(), name="cli-progress")
    result = run_upscale(Artifact(path=clip), config=config, pm=pm)
    picture = compare_png(clip, result.path)
    made = result.result
    assert made is not None, "the upscale step returns its result"
    info = probe(made.output)
    print(
        f"upscaled  {made.output} ({info.width}x{info.height}, "
        f"{info.frames} frames, task {made.task_id})"
    )
    print(f"compare   {picture} (source and result side by side, and a 1:1 crop)")
    print(f"sidecar   {made.sidecar} (on WaveSpeed this would cost ${made.cost})")
    return 0
