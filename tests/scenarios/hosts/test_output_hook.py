"""Every host asks the ``uprez_output_path`` hook where a result goes; none names it itself.

One test per host: ``uprez upscale`` (``-o DIR/``, ``-o DIR`` with several inputs, no ``-o``),
the :class:`~uprez.watch.Watcher` and ``uprez watch --once``, the pyblish extractor in a real
headless publish, the Blender add-on (a stand-in ``bpy``, a real background ``uprez upscale``),
``uprez demo`` and ``pm.post_export``. A third-party plugin, installed through a real ``uprez``
entry point (a ``dist-info`` in a temporary site folder on ``sys.path`` and ``PYTHONPATH``, so
subprocesses load it too), answers first with
``(folder or artifact.path.parent) / "plugin-chose" / "<stem>.<step>.mp4"`` and notes each call.
Each test proves that the result and its sidecar land exactly there, that the hook got the host's
own folder (watch's OUT_DIR sub-folder, the staging dir, ``-o DIR``, or None), and that no
``<stem>_4k.mp4`` was written anywhere. Everything runs on the local provider in a small box.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pyblish.api
import pyblish.util
import pytest

from uprez.config import Config, load_config
from uprez.hooks import pyblish_adapter
from uprez.media.probe import probe
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact, PostExportContext
from uprez.step.sidecar import sidecar_path
from uprez.watch import STATE_FILE, Watcher

import support
from support import write_entry_points

ROOT = support.ROOT
ADDON = ROOT / "hooks" / "blender_adapter.py"
STANDINS = support.TESTS / "standins"
BOX = (256, 144)

#: The third-party plugin; ``{calls}`` is the file where it notes each call (one JSON a line).
CHOOSER = """
import json
from pathlib import Path

from uprez.hookspecs import hookimpl

CALLS = Path({calls!r})


@hookimpl(tryfirst=True)
def uprez_output_path(artifact, step, config, folder):
    with CALLS.open("a", encoding="utf-8") as notes:
        notes.write(json.dumps({{
            "source": str(artifact.path),
            "step": step,
            "folder": None if folder is None else str(folder),
        }}) + "\\n")
    chosen = folder or artifact.path.parent
    return chosen / "plugin-chose" / f"{{artifact.path.stem}}.{{step}}.mp4"
"""


class Chooser:
    """The installed plugin as a test sees it: where it chooses, and what it was asked."""

    def __init__(self, calls: Path) -> None:
        self.calls = calls

    def folders(self, source: Path) -> set[str | None]:
        """The folders the hook was handed for ``source`` (by any process)."""
        assert self.calls.exists(), "the plugin's uprez_output_path was never called"
        notes = [json.loads(line) for line in self.calls.read_text().splitlines()]
        asked = {n["folder"] for n in notes if Path(n["source"]) == source}
        assert asked, f"the hook was never asked about {source}: {notes}"
        assert {n["step"] for n in notes if Path(n["source"]) == source} == {"upscale"}
        return asked


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No uprez setting or key of whoever runs the tests; the local provider's small box and
    fast polling, for this process and every process it starts."""
    for name in list(os.environ):
        if name.startswith("UPREZ_") or name == "WAVESPEED_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.setenv("UPREZ_LOCAL__MAX_SIZE", f"{BOX[0]}x{BOX[1]}")
    monkeypatch.setenv("UPREZ_POLLING__FIRST_INTERVAL", "0.02")


@pytest.fixture
def chooser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chooser]:
    """The plugin, installed as a distribution with a ``uprez`` entry point: found by
    ``importlib.metadata`` here (``sys.path``) and in subprocesses (``PYTHONPATH``)."""
    site = tmp_path / "site"
    calls = tmp_path / "hook-calls.jsonl"
    module = f"uprez_fake_chooser_{secrets.token_hex(4)}"  # never one cached by another test
    write_entry_points(site, {"chooser": (module, CHOOSER.format(calls=str(calls)))}, "chooser")
    monkeypatch.syspath_prepend(str(site))
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    importlib.invalidate_caches()
    assert get_plugin_manager().get_plugin("chooser") is not None
    yield Chooser(calls)
    sys.modules.pop(module, None)


@pytest.fixture
def clip(make_clip: Callable[..., Path]) -> Path:
    return make_clip("shot.mp4", seconds=0.5, fps=12, width=64, height=36)


def local_config(**overrides: object) -> Config:
    return load_config(
        env={},
        overrides={
            "provider.name": "local",
            "local.max_size": f"{BOX[0]}x{BOX[1]}",
            "polling.first_interval": 0.02,
            **overrides,
        },
    )


def uprez(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m uprez ...`` in a fresh process, in this (cleaned) environment."""
    return subprocess.run(
        [sys.executable, "-m", "uprez", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def assert_placed(
    output: str | Path, expected: Path, source: Path, root: Path, box: tuple[int, int] | None = BOX
) -> None:
    """The result is at ``expected`` (a real upscale into ``box``), its sidecar beside it naming
    both; no ``*_4k.mp4`` (the template's default) anywhere under ``root``."""
    assert Path(output) == expected
    assert expected.is_file()
    if box is not None:
        info = probe(expected)
        assert (info.width, info.height) == box
    sidecar = sidecar_path(expected)
    assert sidecar == expected.with_name(expected.name + ".uprez.json")
    record = json.loads(sidecar.read_text())
    assert record["output"]["path"] == str(expected)
    assert record["source"]["path"] == str(source)
    assert sorted(root.rglob("*_4k.mp4")) == []


# -- uprez upscale ---------------------------------------------------------------------------------


def test_upscale_one_input_into_an_existing_folder_asks_the_hook_with_that_folder(
    chooser: Chooser, clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()

    run = uprez("upscale", clip, "-o", f"{out}/", "--provider", "local", "--json", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)["results"]
    expected = out / "plugin-chose" / "shot.upscale.mp4"
    assert_placed(result["output"], expected, clip, tmp_path)
    assert result["sidecar"] == str(sidecar_path(expected))
    assert chooser.folders(clip) == {str(out)}


def test_upscale_several_inputs_into_a_folder_asks_the_hook_with_that_folder(
    chooser: Chooser, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    first = make_clip("a.mp4", seconds=0.5, fps=12, width=64, height=36)
    second = make_clip("b.mp4", seconds=0.5, fps=12, width=64, height=36)
    out = tmp_path / "made" / "here"  # made by the command

    run = uprez("upscale", first, second, "-o", out, "--provider", "local", "--json", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    results = {Path(r["source"]): r for r in json.loads(run.stdout)["results"]}
    assert sorted(results) == [first, second]
    for source in (first, second):
        expected = out / "plugin-chose" / f"{source.stem}.upscale.mp4"
        assert_placed(results[source]["output"], expected, source, tmp_path)
        assert results[source]["sidecar"] == str(sidecar_path(expected))
        assert chooser.folders(source) == {str(out)}


def test_upscale_without_output_asks_the_hook_with_no_folder(
    chooser: Chooser, clip: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"  # the working folder is not where the result goes
    elsewhere.mkdir()

    run = uprez("upscale", clip, "--provider", "local", cwd=elsewhere)

    assert run.returncode == 0, run.stderr
    expected = clip.parent / "plugin-chose" / "shot.upscale.mp4"
    assert run.stdout.strip() == str(expected)
    assert_placed(expected, expected, clip, tmp_path)
    assert chooser.folders(clip) == {None}


# -- uprez watch -----------------------------------------------------------------------------------


def test_the_watcher_hands_the_out_dir_subfolder_to_the_hook(
    chooser: Chooser, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    (in_dir / "sub").mkdir(parents=True)
    source = make_clip("shot.mp4", seconds=0.5, fps=12).rename(in_dir / "sub" / "shot.mp4")
    config = local_config(**{"watch.interval": 0.05, "watch.settle": 0})
    pm = get_plugin_manager()
    provider = pm.make_provider(config)
    try:
        watcher = Watcher(in_dir, out_dir, config=config, pm=pm, provider=provider)
        watcher.run(once=True)
    finally:
        provider.close()

    expected = out_dir / "sub" / "plugin-chose" / "shot.upscale.mp4"
    [entry] = watcher.state.entries().values()
    assert entry["status"] == "done", entry
    assert_placed(entry["output"], expected, source, tmp_path)
    assert chooser.folders(source) == {str(out_dir / "sub")}
    assert watcher.failures == []


def test_uprez_watch_once_hands_the_out_dir_subfolder_to_the_hook(
    chooser: Chooser, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    in_dir, out_dir = tmp_path / "drop", tmp_path / "4k"
    (in_dir / "sub").mkdir(parents=True)
    source = make_clip("shot.mp4", seconds=0.5, fps=12).rename(in_dir / "sub" / "shot.mp4")
    settings = tmp_path / "settings.toml"
    settings.write_text("[watch]\ninterval = 0.05\nsettle = 0\n")

    run = uprez(
        "watch",
        in_dir,
        out_dir,
        "--once",
        "--provider",
        "local",
        "--config",
        settings,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stderr
    expected = out_dir / "sub" / "plugin-chose" / "shot.upscale.mp4"
    [entry] = json.loads((out_dir / STATE_FILE).read_text()).values()
    assert entry["status"] == "done", entry
    assert_placed(entry["output"], expected, source, tmp_path)
    assert chooser.folders(source) == {str(out_dir / "sub")}


# -- pyblish ---------------------------------------------------------------------------------------


@pytest.fixture
def clean_pyblish() -> Iterator[None]:
    pyblish.api.deregister_all_plugins()
    pyblish.api.deregister_all_paths()
    try:
        yield
    finally:
        pyblish_adapter.deregister()
        pyblish.api.deregister_all_plugins()
        pyblish.api.deregister_all_paths()


def test_a_publish_hands_the_staging_dir_to_the_hook(
    chooser: Chooser, clean_pyblish: None, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    review = staging / "shot010_review.mp4"

    class CollectShot(pyblish.api.ContextPlugin):  # type: ignore[misc]
        order = pyblish.api.CollectorOrder

        def process(self, context: Any) -> None:
            instance = context.create_instance("shot010", family="review")
            instance.data["representations"] = []

    class ExtractReview(pyblish.api.InstancePlugin):  # type: ignore[misc]
        order = pyblish.api.ExtractorOrder + 0.02  # ayon-core's, before uprez (+0.025)

        def process(self, instance: Any) -> None:
            make_clip("review.mp4", seconds=0.5, fps=12, width=64, height=36).rename(review)
            instance.data["representations"].append(
                {"name": "h264", "ext": "mp4", "files": review.name, "stagingDir": str(staging)}
            )

    for plugin in (CollectShot, ExtractReview):
        pyblish.api.register_plugin(plugin)
    pyblish_adapter.register(local_config())

    context = pyblish.util.publish()

    results = context.data["results"]
    assert [(r["plugin"].__name__, r["error"]) for r in results if not r["success"]] == []
    [instance] = context
    [added] = [r for r in instance.data["representations"] if "uprez-4k" in r.get("tags", [])]
    expected = staging / "plugin-chose" / "shot010_review.upscale.mp4"
    assert_placed(Path(added["stagingDir"]) / added["files"], expected, review, tmp_path)
    assert added["data"]["uprez"]["sidecar"] == str(sidecar_path(expected))
    assert chooser.folders(review) == {str(staging)}


# -- the Blender add-on ----------------------------------------------------------------------------


def uprez_command() -> str:
    """The uprez of this environment, as a user would give it in ``UPREZ_EXECUTABLE``."""
    script = Path(sys.executable).with_name("uprez")
    return str(script) if script.exists() else f"{sys.executable} -m uprez"


@pytest.fixture
def blender(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, ModuleType]]:
    """A fresh stand-in ``bpy`` and the add-on imported as Blender does (``uprez_blender``);
    jobs it started are stopped and its modules dropped after."""
    monkeypatch.syspath_prepend(str(STANDINS))
    sys.modules.pop("bpy", None)
    import bpy

    spec = importlib.util.spec_from_file_location("uprez_blender", ADDON)
    assert spec is not None and spec.loader is not None
    addon = importlib.util.module_from_spec(spec)
    sys.modules["uprez_blender"] = addon
    spec.loader.exec_module(addon)
    try:
        yield bpy, addon
    finally:
        addon.unregister()
        for job in addon.running_jobs():
            if job.process.poll() is None:
                job.process.kill()
            job.process.wait(timeout=10)
        sys.modules.pop("uprez_blender", None)
        sys.modules.pop("bpy", None)


def test_the_blender_addon_leaves_the_result_to_the_hook(
    chooser: Chooser,
    blender: tuple[Any, ModuleType],
    tmp_path: Path,
    make_clip: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bpy, addon = blender
    caplog.set_level(logging.INFO, logger="uprez.blender")
    monkeypatch.setenv("UPREZ_BLENDER_ARGS", "--provider local")
    monkeypatch.setenv("UPREZ_EXECUTABLE", uprez_command())
    bpy.data.filepath = str(tmp_path / "shot010.blend")
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 6
    scene.render.filepath = "//render/shot010_"
    scene.render.image_settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format = "MPEG4"
    addon.register()
    movie = tmp_path / "render" / "shot010_0001-0006.mp4"

    # A render, as Blender plays it: render_init, the movie written, render_complete.
    for handler in list(bpy.app.handlers.render_init):
        handler(scene, None)
    movie.parent.mkdir()
    make_clip("movie.mp4", seconds=0.5, fps=12, width=64, height=36).rename(movie)
    [job] = [handler(scene, None) for handler in list(bpy.app.handlers.render_complete)]

    log_file = Path(addon.log_path(str(movie)))
    assert isinstance(job, subprocess.Popen)
    assert job.wait(timeout=60) == 0, log_file.read_text()
    [result] = addon.read_result(str(log_file))["results"]
    expected = movie.parent / "plugin-chose" / "shot010_0001-0006.upscale.mp4"
    assert_placed(result["output"], expected, movie, tmp_path)
    assert result["sidecar"] == str(sidecar_path(expected))
    assert chooser.folders(movie) == {None}
    # Blender's console names the file the hook chose.
    addon.poll_jobs()
    messages = [r.getMessage() for r in caplog.records if r.name == "uprez.blender"]
    assert f"uprez: done: {movie} -> {expected}" in messages


# -- uprez demo ------------------------------------------------------------------------------------


def test_the_demo_leaves_the_result_to_the_hook(chooser: Chooser, tmp_path: Path) -> None:
    folder = tmp_path / "demo"

    run = uprez("demo", "--dir", folder, "--max-size", "256x144", "--seconds", "0.5", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    clip = folder / "uprez-demo.mp4"
    expected = folder / "plugin-chose" / "uprez-demo.upscale.mp4"
    upscaled = re.search(r"^upscaled\s+(.+?) \(", run.stdout, re.MULTILINE)
    sidecar = re.search(r"^sidecar\s+(.+?) \(", run.stdout, re.MULTILINE)
    assert upscaled and sidecar, run.stdout
    # The demo's clip is 640x360, already larger than the box: its size is not the point here.
    assert_placed(upscaled[1], expected, clip, tmp_path, box=None)
    assert Path(sidecar[1]) == sidecar_path(expected)
    assert chooser.folders(clip) == {None}


# -- pm.post_export --------------------------------------------------------------------------------


def test_post_export_hands_the_context_folder_to_the_hook(
    chooser: Chooser, clip: Path, tmp_path: Path
) -> None:
    pm = get_plugin_manager()
    destination = tmp_path / "publish"
    context = PostExportContext(host="test", config=local_config(), pm=pm, folder=destination)

    [made] = pm.post_export(Artifact(clip), context)

    expected = destination / "plugin-chose" / "shot.upscale.mp4"
    assert_placed(made.path, expected, clip, tmp_path)
    assert made.result is not None and made.result.sidecar == sidecar_path(expected)
    assert chooser.folders(clip) == {str(destination)}


def test_post_export_without_a_folder_asks_the_hook_with_none(
    chooser: Chooser, clip: Path, tmp_path: Path
) -> None:
    pm = get_plugin_manager()
    context = PostExportContext(host="test", config=local_config(), pm=pm)

    [made] = pm.post_export(Artifact(clip), context)

    expected = clip.parent / "plugin-chose" / "shot.upscale.mp4"
    assert_placed(made.path, expected, clip, tmp_path)
    assert chooser.folders(clip) == {None}
