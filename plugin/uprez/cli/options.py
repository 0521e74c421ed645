"""Options that several sub-commands share."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from uprez.media.remote import Source
from uprez.protocol import VIDEO_EXTENSIONS


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--provider``, shared by the commands that run jobs."""
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON config file (default: $UPREZ_CONFIG)"
    )
    parser.add_argument("--provider", help="wavespeed, local, or a plugin's provider")


def add_payer_options(parser: argparse.ArgumentParser) -> None:
    """``--project`` and ``--user``: who the tasks are charged to (budgets, ``uprez spend``)."""
    parser.add_argument(
        "--project",
        metavar="NAME",
        help="the project (show) the tasks are charged to (default: $UPREZ_PROJECT)",
    )
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="the user the tasks are charged to (default: $UPREZ_USER, else the login name)",
    )


def add_sequence_options(parser: argparse.ArgumentParser) -> None:
    """``--fps``: the frame rate of image-sequence inputs (they have none of their own)."""
    parser.add_argument(
        "--fps",
        metavar="RATE",
        type=_rate,
        help="frame rate of image-sequence inputs (24, 23.976, 24000/1001); default: "
        "sequence.fps in the config",
    )


def _rate(text: str) -> Fraction:
    from uprez.config.sections import frame_rate

    try:
        rate = frame_rate(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"not a frame rate: {text!r}") from exc
    if rate is None or rate <= 0:
        raise argparse.ArgumentTypeError(f"not a frame rate: {text!r}")
    return rate


def inputs(given: Sequence[Source], fps: Fraction | None) -> list[Source]:
    """The inputs as sources: an argument naming an image sequence (a pattern such as
    ``sh010.####.exr``, a folder of frames, or one frame) becomes the sequence, at ``fps``."""
    from uprez.media.sequence import find_sequence, is_sequence

    return [
        find_sequence(s, fps=fps)
        if isinstance(s, Path) and s.suffix.lower() not in VIDEO_EXTENSIONS and is_sequence(s)
        else s
        for s in given
    ]
