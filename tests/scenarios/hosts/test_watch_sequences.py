"""A watch folder takes a rendered image sequence as one input, once, when all of it is there.

The frames are real PNG files (PyAV), rendered into a folder beside the watched one and copied
in chunk by chunk, out of order and with pauses, as a farm's tasks land them; the watcher runs
in a thread against the local server on loopback, as ``uprez watch`` runs it.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from uprez.config import load_config
from uprez.media.image_sequence import ImageSequence
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.standin.runner import LocalServer
from uprez.watch import Watcher
from uprez.wavespeed.provider import WaveSpeedProvider

from sequences import png_sequence
from support import FAST, TEST_KEY, stats

#: Seconds a sequence must stay unchanged: a pause longer than this lets it settle.
SETTLE = 0.4
LONG, SHORT = 1.0, 0.1
CHUNK = 8


@pytest.fixture
def render(tmp_path: Path) -> ImageSequence:
    """48 frames 1001-1048, 64x36 8-bit PNG, rendered outside the watched folder."""
    return png_sequence(tmp_path / "render", bits=8, width=64, height=36)


def config_for(**overrides: object) -> Any:
    return load_config(
        env={},
        overrides={
            **FAST,
            "watch.interval": 0.05,
            "watch.settle": SETTLE,
            "watch.patterns": ["*.mp4", "*.png"],
            "sequence.fps": 4,
            **overrides,
        },
    )


class Watching:
    """A watcher running in a thread over ``in_dir`` into ``out_dir``."""

    def __init__(
        self, in_dir: Path, out_dir: Path, server: LocalServer, pm: PluginManager, config: Any
    ) -> None:
        self.provider = WaveSpeedProvider.from_config(
            config, base_url=server.base_url, api_key=TEST_KEY
        )
        self.watcher = Watcher(in_dir, out_dir, config=config, pm=pm, provider=self.provider)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.watcher.run, kwargs={"stop": self.stop}, daemon=True
        )

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self.watcher

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)
        self.provider.close()


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    yield in_dir, out_dir


def land(render: ImageSequence, folder: Path, chunk: int) -> None:
    """Copy chunk ``chunk`` (from 0: frames 1001-1008, 1009-1016...) into ``folder``, each frame
    written in place (not renamed into it), as a render node writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in render.numbers[chunk * CHUNK : (chunk + 1) * CHUNK]:
        shutil.copyfile(render.path(number), folder / render.frame_name(number))


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def submissions(server: LocalServer) -> int:
    count: int = stats(server.base_url, TEST_KEY)["submissions"]
    return count


def test_chunks_landing_out_of_order_with_pauses_make_one_job_once_the_range_is_whole(
    render: ImageSequence,
    folders: tuple[Path, Path],
    server: LocalServer,
    pm: PluginManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_dir, out_dir = folders
    shot = in_dir / "sh010"
    caplog.set_level(logging.INFO, logger="uprez.watch")
    # A farm's order: the third chunk first, the fourth last. Long pauses (the sequence
    # settles) come only while a chunk inside the range is missing.
    order = [(2, SHORT), (0, LONG), (4, LONG), (1, LONG), (5, LONG), (3, 0)]
    with Watching(in_dir, out_dir, server, pm, config_for()) as watcher:
        for chunk, pause in order:
            land(render, shot, chunk)
            time.sleep(pause)
            assert submissions(server) == 0, f"started before chunk {chunk + 1} of 6 was whole"
        wait_until(lambda: len(list((out_dir / "sh010").glob("sh010_4k.*.png"))) == 48)
        time.sleep(1.0)  # more scans: nothing is taken twice, the results are not inputs

    assert submissions(server) == 1
    [entry] = watcher.state.entries().values()
    assert entry["status"] == "done" and entry["source"] == str(shot / "sh010.####.png")
    assert entry["output"] == str(out_dir / "sh010" / "sh010_4k.####.png")
    made = sorted(p.name for p in (out_dir / "sh010").glob("sh010_4k.*.png"))
    assert made == [f"sh010_4k.{n}.png" for n in range(1001, 1049)]
    assert server.app is not None
    [proxy] = server.app.uploads.files()
    assert probe(proxy).frames == 48
    held = [r.getMessage() for r in caplog.records if "settled, not started" in r.getMessage()]
    assert any("frames 1009-1016 (8 of 24) are not there yet" in m for m in held), held


def test_results_written_into_the_watched_folder_are_never_inputs_and_a_restart_redoes_nothing(
    render: ImageSequence, folders: tuple[Path, Path], server: LocalServer, pm: PluginManager
) -> None:
    in_dir, _ = folders
    for chunk in range(6):
        land(render, in_dir, chunk)
    config = config_for(**{"output.sidecar": False, "watch.settle": 0.1})

    for _ in range(2):  # and again, as a restarted watcher
        provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=TEST_KEY)
        try:
            watcher = Watcher(in_dir, in_dir, config=config, pm=pm, provider=provider)
            watcher.run(once=True)  # must end: its own frames are not new work
        finally:
            provider.close()

    assert submissions(server) == 1
    assert len(list(in_dir.glob("sh010_4k.*.png"))) == 48
    [entry] = watcher.state.entries().values()
    assert entry["source"] == str(in_dir / "sh010.####.png")


def test_a_ready_file_holds_a_sequence_until_its_whole_range_is_there_and_gives_its_rate(
    render: ImageSequence, folders: tuple[Path, Path], server: LocalServer, pm: PluginManager
) -> None:
    """Without it, the first half would settle with no gap and be taken alone."""
    in_dir, out_dir = folders
    ready = in_dir / "sh010.####.png.ready"
    ready.write_text(json.dumps({"first": 1001, "last": 1048, "fps": "24000/1001"}))
    with Watching(in_dir, out_dir, server, pm, config_for(**{"sequence.fps": None})):
        for chunk in range(3):
            land(render, in_dir, chunk)
        time.sleep(LONG)
        assert submissions(server) == 0  # 1001-1024 settled, 1025-1048 to come
        for chunk in range(3, 6):
            land(render, in_dir, chunk)
        wait_until(lambda: len(list(out_dir.glob("sh010_4k.*.png"))) == 48)

    assert submissions(server) == 1
    sidecar = json.loads((out_dir / "sh010_4k.####.png.uprez.json").read_text())
    assert sidecar["source"]["probe"]["fps"] in ("24000/1001", 24000 / 1001)


def test_a_ready_range_leaves_out_stale_frames_beyond_it(
    render: ImageSequence, folders: tuple[Path, Path], server: LocalServer, pm: PluginManager
) -> None:
    """A shorter re-render into the folder of a longer one: the frames past its end are old."""
    in_dir, out_dir = folders
    for chunk in range(6):
        land(render, in_dir, chunk)
    (in_dir / "sh010.####.png.ready").write_text('{"first": 1001, "last": 1024}')
    config = config_for(**{"watch.settle": 0.1})
    provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=TEST_KEY)
    try:
        Watcher(in_dir, out_dir, config=config, pm=pm, provider=provider).run(once=True)
    finally:
        provider.close()

    made = sorted(int(p.name.split(".")[1]) for p in out_dir.glob("sh010_4k.*.png"))
    assert made == list(range(1001, 1025))


@pytest.mark.parametrize("why", ["gap", "placeholders", "no frame rate"])
def test_a_settled_sequence_that_cannot_start_is_held_not_failed_and_once_still_ends(
    render: ImageSequence,
    folders: tuple[Path, Path],
    server: LocalServer,
    pm: PluginManager,
    caplog: pytest.LogCaptureFixture,
    why: str,
) -> None:
    in_dir, out_dir = folders
    for chunk in (0, 1, 3) if why == "gap" else range(6):
        land(render, in_dir, chunk)
    if why == "placeholders":  # Blender's Placeholders: empty files for frames being rendered
        for number in (1030, 1031):
            render_path = in_dir / render.frame_name(number)
            render_path.write_bytes(b"")
    overrides: dict[str, object] = {"watch.settle": 0.1}
    if why == "no frame rate":
        overrides["sequence.fps"] = None
    config = config_for(**overrides)
    caplog.set_level(logging.INFO, logger="uprez.watch")
    provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=TEST_KEY)
    try:
        watcher = Watcher(in_dir, out_dir, config=config, pm=pm, provider=provider)
        watcher.run(once=True)  # ends: a held sequence is not waited for
    finally:
        provider.close()

    assert submissions(server) == 0 and watcher.state.entries() == {}
    [said] = [r for r in caplog.records if "settled, not started" in r.getMessage()]
    expected = {
        "gap": "frames 1017-1024 (8 of 32) are not there yet",
        "placeholders": "frames 1030-1031 are empty",
        "no frame rate": "no frame rate: set sequence.fps in the config",
    }[why]
    assert expected in said.getMessage()
    assert said.levelname == ("WARNING" if why == "no frame rate" else "INFO")
