"""``uprez demo`` as a user runs it (``python -m uprez demo`` in a fresh process, the local
server upscaling into the real 4K box): the chart goes in, a 4K result and a comparison
picture that opens at once come out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from uprez.cli.demo import png_size
from uprez.media.probe import probe

# The picture's bound: it opens at once (three full rows at 4096 pixels made 4.5 MB).
MAX_BYTES = 1_000_000
MAX_WIDTH = 1300


def test_the_demo_upscales_the_chart_to_4k_and_its_comparison_stays_small(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_") and name != "WAVESPEED_API_KEY"
    }
    env["UPREZ_POLLING__FIRST_INTERVAL"] = "0.05"

    run = subprocess.run(
        [sys.executable, "-m", "uprez", "demo", "--dir", str(folder), "--seconds", "0.25"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=180,
    )

    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # not a terminal: no progress drawn
    clip = probe(folder / "uprez-demo.mp4")
    assert (clip.width, clip.height, clip.frames, clip.audio_streams) == (640, 360, 6, 1)
    upscaled = re.search(r"^upscaled\s+(.+?) \(", run.stdout, re.MULTILINE)
    assert upscaled, run.stdout
    result = probe(Path(upscaled[1]))
    assert (result.width, result.height, result.frames) == (3840, 2160, 6)
    said = re.search(r"^compare\s+(.+?) \((\d+)x(\d+), ([\d.]+) MB", run.stdout, re.MULTILINE)
    assert said, run.stdout
    picture = Path(said[1])
    width, height = png_size(picture)
    size = picture.stat().st_size
    assert (width, height) == (int(said[2]), int(said[3]))
    assert f"{size / 1e6:.1f}" == said[4]
    # One frame side by side at 640 pixels each, then the centre at 1:1, 640 pixels square.
    assert (width, height) == (1284, 360 + 4 + 640)
    assert width <= MAX_WIDTH
    assert size < MAX_BYTES, size
