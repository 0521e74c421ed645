"""A watch folder never takes uprez's own results as inputs: with OUT_DIR inside IN_DIR (or the
same folder), every result used to come back as a new, paid submission, and --once never ended."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez.config import load_config
from uprez.plugins import PluginManager
from uprez.standin.runner import LocalServer
from uprez.watch import Watcher
from uprez.wavespeed.provider import WaveSpeedProvider

from support import FAST, TEST_KEY, stats


def watch_once(
    in_dir: Path, out_dir: Path, server: LocalServer, pm: PluginManager, **overrides: object
) -> Watcher:
    config = load_config(
        env={},
        overrides={**FAST, "watch.interval": 0.05, "watch.settle": 0.1, **overrides},
    )
    provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=TEST_KEY)
    watcher = Watcher(in_dir, out_dir, config=config, pm=pm, provider=provider)
    try:
        watcher.run(once=True)  # must end: results are not new work
    finally:
        provider.close()
    return watcher


@pytest.mark.parametrize("layout", ["same folder", "out inside in"])
@pytest.mark.parametrize("sidecars", [True, False])
def test_results_in_the_watched_folder_are_never_taken_as_inputs(
    layout: str,
    sidecars: bool,
    tmp_path: Path,
    server: LocalServer,
    pm: PluginManager,
    make_clip: Callable[..., Path],
) -> None:
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    out_dir = in_dir if layout == "same folder" else in_dir / "4k"
    for name, seconds in (("a.mp4", 0.5), ("b.mp4", 0.75)):  # two contents: two tasks
        make_clip(name, seconds=seconds, fps=12).rename(in_dir / name)

    watcher = watch_once(in_dir, out_dir, server, pm, **{"output.sidecar": sidecars})
    # A second pass (a restarted watcher) takes nothing either.
    watch_once(in_dir, out_dir, server, pm, **{"output.sidecar": sidecars})

    assert stats(server.base_url, TEST_KEY)["submissions"] == 2
    assert sorted(p.name for p in out_dir.glob("*_4k*.mp4")) == ["a_4k.mp4", "b_4k.mp4"]
    sources = sorted(Path(e["source"]).name for e in watcher.state.entries().values())
    assert sources == ["a.mp4", "b.mp4"]


def test_a_result_of_uprez_dropped_into_the_folder_is_skipped_by_its_sidecar(
    tmp_path: Path, server: LocalServer, pm: PluginManager, make_clip: Callable[..., Path]
) -> None:
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    result = make_clip("shot_4k.mp4", seconds=0.5, fps=12).rename(in_dir / "shot_4k.mp4")
    Path(f"{result}.uprez.json").write_text(json.dumps({"step": "upscale"}))
    work = in_dir / ".uprez-work" / "shot-abc"
    work.mkdir(parents=True)
    make_clip("seg.mp4", seconds=0.5, fps=12).rename(work / "seg-000.up.mp4")

    watch_once(in_dir, out_dir, server, pm)

    assert stats(server.base_url, TEST_KEY)["submissions"] == 0
    assert not out_dir.exists() or list(out_dir.glob("*.mp4")) == []
