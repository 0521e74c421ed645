"""The Blender add-on against a stand-in ``bpy`` (``tests/standins/bpy``), with the real CLI.

The add-on file is imported fresh for each test, under the module name Blender gives the
installed add-on (``uprez_blender``), with the stand-in ``bpy`` on ``sys.path``. A render is
played as Blender plays it: the ``render_init`` handlers, the movie written where the scene's
render settings say (a real clip made with PyAV), then the ``render_complete`` handlers. The
upscale runs as a real background ``uprez upscale`` process on the local provider.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest

import uprez
from uprez import protocol
from uprez.cli import blender as blender_cmd
from uprez.errors import ConfigError, UprezError
from uprez.media.probe import probe
from uprez.media.synth import make_clip

import support
from sequences import png_sequence

ROOT = support.ROOT
ADDON = ROOT / "hooks" / "blender_adapter.py"
STANDINS = support.TESTS / "standins"
ADAPTER_ENV = ("UPREZ_BLENDER_AUTO", "UPREZ_BLENDER_ARGS", "UPREZ_EXECUTABLE", "UPREZ_CONFIG")


def uprez_command() -> str:
    """The uprez of this environment, as a user would give it in ``UPREZ_EXECUTABLE``."""
    script = Path(sys.executable).with_name("uprez")
    return str(script) if script.exists() else f"{sys.executable} -m uprez"


def load_addon(path: Path, name: str = "uprez_blender") -> ModuleType:
    """Import an add-on file as Blender does: a fresh module under its own name."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bpy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh stand-in ``bpy`` (nothing registered), and a clean adapter environment."""
    for name in ADAPTER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(STANDINS))
    sys.modules.pop("bpy", None)
    import bpy as standin

    try:
        yield standin
    finally:
        sys.modules.pop("bpy", None)


@pytest.fixture
def addon(bpy: Any, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    """The add-on module, fresh; jobs it started are stopped and its modules dropped after."""
    caplog.set_level(logging.DEBUG, logger="uprez.blender")
    loaded: list[ModuleType] = []

    def load(path: Path = ADDON, name: str = "uprez_blender") -> Any:
        module = load_addon(path, name)
        loaded.append(module)
        return module

    module = load()
    module.load = load  # a test that needs a second copy (a reload, the other layout)
    try:
        yield module
    finally:
        for each in loaded:
            each.unregister()
            for job in each.running_jobs():
                if job.process.poll() is None:
                    job.process.kill()
                job.process.wait(timeout=10)
            sys.modules.pop(each.__name__, None)


@pytest.fixture
def scene(bpy: Any, tmp_path: Path) -> Any:
    """The current scene of a saved ``shot010.blend``, rendering 12 frames to an MPEG-4 movie."""
    bpy.data.filepath = str(tmp_path / "shot010.blend")
    current = bpy.context.scene
    current.frame_start, current.frame_end = 1, 12
    current.render.filepath = "//render/shot010_"
    current.render.image_settings.file_format = "FFMPEG"
    current.render.ffmpeg.format = "MPEG4"
    return current


def render(bpy: Any, scene: Any, write: bool = True, seconds: float = 1) -> list[Any]:
    """Play a render as Blender does; return what each render_complete handler returned."""
    for handler in list(bpy.app.handlers.render_init):
        handler(scene, None)
    if write:
        movie = Path(scene.render.frame_path(frame=scene.frame_start))
        movie.parent.mkdir(parents=True, exist_ok=True)
        make_clip(str(movie), seconds=seconds, fps=12, width=64, height=36, audio=True)
    return [handler(scene, None) for handler in list(bpy.app.handlers.render_complete)]


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "uprez.blender"]


# -- registration ----------------------------------------------------------------------------------


def test_register_adds_one_persistent_handler_and_the_operator_and_unregister_removes_them(
    bpy: Any, addon: Any
) -> None:
    addon.register()
    addon.register()  # twice: still one of each

    handlers = bpy.app.handlers
    assert handlers.render_complete == [addon.uprez_render_complete]
    assert handlers.render_init == [addon.uprez_render_init]
    for handler in (*handlers.render_complete, *handlers.render_init):
        assert hasattr(handler, "_bpy_persistent")  # kept when another .blend is loaded
    assert bpy.utils.registered == [addon.UprezPreferences, addon.UPREZ_OT_upscale_render]
    assert addon.UPREZ_OT_upscale_render.bl_idname == "render.uprez_upscale"
    assert addon.UPREZ_OT_upscale_render.bl_label == "Upscale Render to 4K (uprez)"
    assert bpy.types.TOPBAR_MT_render._dyn_ui_initialize() == [addon.uprez_menu_draw]
    assert bpy.app.timers.is_registered(addon.poll_jobs)
    prefs = bpy.context.preferences.addons["uprez_blender"].preferences
    assert (prefs.auto_upscale, prefs.executable, prefs.extra_args) == (True, "", "")

    addon.unregister()
    addon.unregister()  # twice: nothing left, no error

    assert handlers.render_complete == [] and handlers.render_init == []
    assert bpy.utils.registered == []
    assert bpy.types.TOPBAR_MT_render._dyn_ui_initialize() == []
    assert not bpy.app.timers.is_registered(addon.poll_jobs)
    assert "uprez_blender" not in bpy.context.preferences.addons


def test_a_reloaded_addon_replaces_the_handlers_of_its_earlier_load(bpy: Any, addon: Any) -> None:
    addon.register()
    again = addon.load()  # Blender's "Reload Scripts" without an unregister first
    again.register()

    assert bpy.app.handlers.render_complete == [again.uprez_render_complete]
    assert bpy.app.handlers.render_init == [again.uprez_render_init]
    assert bpy.types.TOPBAR_MT_render._dyn_ui_initialize() == [again.uprez_menu_draw]


def test_with_both_layouts_enabled_a_render_is_upscaled_once_and_either_can_be_disabled(
    bpy: Any, addon: Any, scene: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A command that starts and ends at once: this test is about who starts it.
    monkeypatch.setenv("UPREZ_EXECUTABLE", f"{sys.executable} -c pass")
    legacy = addon
    extension = addon.load(ADDON, "bl_ext.user_default.uprez")
    handlers = bpy.app.handlers
    menu = bpy.types.TOPBAR_MT_render

    def menu_entries() -> int:
        drawn = SimpleNamespace(layout=bpy.types.UILayout())
        for draw in menu._dyn_ui_initialize():
            draw(drawn, bpy.context)
        return drawn.layout.drawn.count(("operator", "render.uprez_upscale"))

    def operators() -> list[type]:
        return [c for c in bpy.utils.registered if issubclass(c, bpy.types.Operator)]

    legacy.register()
    extension.register()
    # Each has its own handlers; only the first in the list acts, so one job per render.
    assert handlers.render_complete == [
        legacy.uprez_render_complete,
        extension.uprez_render_complete,
    ]
    assert handlers.render_init == [legacy.uprez_render_init, extension.uprez_render_init]
    first, second = render(bpy, scene)
    assert isinstance(first, subprocess.Popen) and second is None
    assert menu_entries() == 1

    # Disabling the extension leaves the legacy add-on working: handlers, menu, operator.
    extension.unregister()
    assert handlers.render_complete == [legacy.uprez_render_complete]
    assert handlers.render_init == [legacy.uprez_render_init]
    assert menu_entries() == 1
    assert operators() == [legacy.UPREZ_OT_upscale_render]
    [job] = render(bpy, scene, seconds=0.5)
    assert isinstance(job, subprocess.Popen)

    # And the other way round.
    extension.register()
    legacy.unregister()
    assert handlers.render_complete == [extension.uprez_render_complete]
    assert handlers.render_init == [extension.uprez_render_init]
    assert menu_entries() == 1
    assert operators() == [extension.UPREZ_OT_upscale_render]
    [job] = render(bpy, scene, seconds=1)
    assert isinstance(job, subprocess.Popen)
    for each in (legacy, extension):
        for started in each.running_jobs():
            assert started.process.wait(timeout=30) == 0


def test_the_preferences_and_the_menu_entry_draw(bpy: Any, addon: Any) -> None:
    addon.register()
    prefs = bpy.context.preferences.addons["uprez_blender"].preferences
    prefs.layout = bpy.types.UILayout()
    prefs.draw(bpy.context)
    menu = SimpleNamespace(layout=bpy.types.UILayout())
    addon.uprez_menu_draw(menu, bpy.context)

    drawn = [name for kind, name in prefs.layout.drawn if kind == "prop"]
    assert drawn == ["auto_upscale", "executable", "extra_args"]
    assert ("operator", "render.uprez_upscale") in menu.layout.drawn


# -- which movie Blender wrote ---------------------------------------------------------------------

# (ffmpeg.format, render.filepath, frame_start, frame_end, the file Blender writes)
MOVIES = [
    ("MPEG4", "//render/shot010_", 1, 250, "render/shot010_0001-0250.mp4"),
    ("MPEG4", "//render/", 1, 12, "render/0001-0012.mp4"),
    ("MPEG4", "//render/shot010_###_v2", 1, 24, "render/shot010_001-024_v2.mp4"),
    ("MPEG4", "//render/shot010.mp4", 1, 24, "render/shot010.mp4"),
    ("MPEG4", "//render/SHOT010.MP4", 1, 24, "render/SHOT010.MP4"),
    ("QUICKTIME", "//render/shot010_####", 1001, 1100, "render/shot010_1001-1100.mov"),
    ("QUICKTIME", "//render/shot010", 1, 24, "render/shot0100001-0024.mov"),
    ("QUICKTIME", "//render/shot010.mp4", 1, 24, "render/shot010.mp40001-0024.mov"),
    ("MKV", "//out/take_#", 5, 12, "out/take_5-12.mkv"),
    ("MKV", "//out/v##/take_", 1, 48, "out/v##/take_0001-0048.mkv"),
    ("AVI", "//out/take_", 1, 2, "out/take_0001-0002.avi"),
    ("WEBM", "//out/take_", 1, 2, "out/take_0001-0002.webm"),
]


@pytest.mark.parametrize(("container", "filepath", "start", "end", "written"), MOVIES)
def test_rendered_movie_is_the_file_blender_writes(
    addon: Any,
    scene: Any,
    tmp_path: Path,
    container: str,
    filepath: str,
    start: int,
    end: int,
    written: str,
) -> None:
    scene.render.ffmpeg.format = container
    scene.render.filepath = filepath
    scene.frame_start, scene.frame_end = start, end

    assert addon.rendered_movie(scene) == str(tmp_path / written)
    # An older Blender whose frame_path answers with a frame: the add-on names it the same way.
    scene.render.frame_path = lambda frame=0, preview=False, view="": "/tmp/0001.png"
    assert addon.rendered_movie(scene) == str(tmp_path / written)


def test_rendered_movie_takes_absolute_paths_and_paths_without_extension(
    addon: Any, scene: Any, tmp_path: Path
) -> None:
    scene.render.filepath = str(tmp_path / "farm" / "shot010_####")
    assert addon.rendered_movie(scene) == str(tmp_path / "farm" / "shot010_0001-0012.mp4")

    scene.render.use_file_extension = False
    assert addon.rendered_movie(scene) == str(tmp_path / "farm" / "shot010_0001-0012")


@pytest.mark.parametrize("file_format", ["PNG", "OPEN_EXR", "JPEG"])
def test_rendered_movie_is_none_for_image_sequences(
    addon: Any, scene: Any, file_format: str
) -> None:
    scene.render.image_settings.file_format = file_format
    assert addon.rendered_movie(scene) is None


# -- the handler -----------------------------------------------------------------------------------


def test_the_handler_upscales_the_rendered_movie_in_a_background_process(
    bpy: Any,
    addon: Any,
    scene: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPREZ_LOCAL__MAX_SIZE", "256x144")
    monkeypatch.setenv("UPREZ_POLLING__FIRST_INTERVAL", "0.02")
    monkeypatch.setenv("UPREZ_BLENDER_ARGS", "--provider local")
    monkeypatch.setenv("UPREZ_EXECUTABLE", uprez_command())
    monkeypatch.delenv("UPREZ_PROJECT", raising=False)
    addon.register()
    movie = tmp_path / "render" / "shot010_0001-0012.mp4"
    output = tmp_path / "render" / "shot010_0001-0012_4k.mp4"
    log_file = tmp_path / "render" / "shot010_0001-0012.mp4.uprez.log"

    [job] = render(bpy, scene)

    # The handler returned while the job runs: no result yet, the process still going.
    assert isinstance(job, subprocess.Popen)
    assert not output.exists()
    assert job.poll() is None
    tail = ["upscale", str(movie), "--json", "--rules", "--overwrite"]
    # A render is a post-export: the config's rules apply; its tasks are charged to the
    # scene's file (no $UPREZ_PROJECT here).
    assert job.args[-9:] == [*tail, "--project", "shot010", "--provider", "local"]
    assert (
        f"uprez: upscaling {movie} in the background; the log at {log_file} names the result"
        in messages(caplog)
    )

    assert job.wait(timeout=60) == 0, log_file.read_text()
    upscaled = probe(output)
    assert (upscaled.width, upscaled.height) == (256, 144)
    [result] = addon.read_result(str(log_file))["results"]
    assert result["source"] == str(movie)
    assert result["output"] == str(output)
    assert result["sidecar"] == f"{output}.uprez.json"

    # Blender's timer notices the end (without waiting) and says where the result is.
    for tick in list(bpy.app.timers.registered):
        assert tick() == addon.POLL_SECONDS
    assert f"uprez: done: {movie} -> {output}" in messages(caplog)
    assert addon.running_jobs() == []

    # A still render (F12) afterwards writes nothing: the same movie is not sent again.
    assert render(bpy, scene, write=False) == [None]


def test_a_rerender_with_overwrite_off_replaces_the_4k_file_of_the_earlier_render(
    bpy: Any,
    addon: Any,
    scene: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPREZ_LOCAL__MAX_SIZE", "256x144")
    monkeypatch.setenv("UPREZ_POLLING__FIRST_INTERVAL", "0.02")
    monkeypatch.setenv("UPREZ_BLENDER_ARGS", "--provider local")
    monkeypatch.setenv("UPREZ_EXECUTABLE", uprez_command())
    scene.render.use_overwrite = False  # Blender rewrites the movie all the same
    addon.register()
    movie = tmp_path / "render" / "shot010_0001-0012.mp4"
    output = tmp_path / "render" / "shot010_0001-0012_4k.mp4"
    log_file = Path(f"{movie}.uprez.log")

    [job] = render(bpy, scene)
    assert "--overwrite" not in job.args
    assert job.wait(timeout=60) == 0, log_file.read_text()
    assert probe(output).frames == 12

    # Rendered again, longer: the 4K file made from the earlier render is replaced.
    [job] = render(bpy, scene, seconds=2)
    assert "--overwrite" not in job.args
    assert job.wait(timeout=60) == 0, log_file.read_text()
    assert probe(output).frames == 24
    sidecar = json.loads(Path(f"{output}.uprez.json").read_text(encoding="utf-8"))
    assert sidecar["source"]["size_bytes"] == movie.stat().st_size

    # A file that is not uprez's result of this movie stays, and the log says why.
    output.write_bytes(b"the grade someone made by hand")
    [job] = render(bpy, scene, seconds=1)
    assert job.wait(timeout=60) == 3
    assert output.read_bytes() == b"the grade someone made by hand"
    for tick in list(bpy.app.timers.registered):
        tick()
    [said] = [m for m in messages(caplog) if "failed (exit code 3)" in m]
    assert f"{output} exists" in said and str(log_file) in said


def test_the_handler_leaves_still_renders_and_image_sequences_alone(
    bpy: Any, addon: Any, scene: Any, tmp_path: Path
) -> None:
    addon.register()
    movie = Path(addon.rendered_movie(scene))
    # F12 with a movie format and no movie yet: Blender writes nothing.
    assert render(bpy, scene, write=False) == [None]
    # F12 with a movie from an earlier session there: not written by this render.
    movie.parent.mkdir(parents=True)
    make_clip(str(movie), seconds=0.5, fps=12)
    assert render(bpy, scene, write=False) == [None]
    # Renders to images.
    scene.render.image_settings.file_format = "PNG"
    assert render(bpy, scene, write=False) == [None]

    assert addon.running_jobs() == []
    assert list(movie.parent.glob("*.uprez.log")) == []


def test_auto_upscale_off_by_preference_or_environment(
    bpy: Any, addon: Any, scene: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon.register()
    prefs = bpy.context.preferences.addons["uprez_blender"].preferences

    prefs.auto_upscale = False
    assert render(bpy, scene) == [None]

    prefs.auto_upscale = True
    monkeypatch.setenv("UPREZ_BLENDER_AUTO", "0")
    assert render(bpy, scene) == [None]
    assert addon.running_jobs() == []


def test_the_handler_logs_instead_of_failing_when_uprez_cannot_be_found(
    bpy: Any,
    addon: Any,
    scene: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    addon.register()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(addon, "_uprez_importable", lambda: False)

    assert render(bpy, scene) == [None]
    assert any("cannot find the uprez command" in m for m in messages(caplog))


def test_start_upscale_detaches_and_never_waits(
    addon: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    movie = tmp_path / "shot.mov"
    movie.write_bytes(b"whatever: the stand-in command does not read it")
    # A stand-in for uprez: says how it was started, then stays busy.
    code = (
        "import json, os, sys, time;"
        "print(json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read(),"
        " 'sid': os.getsid(0) if hasattr(os, 'getsid') else None}), flush=True);"
        "time.sleep(30)"
    )
    started = time.monotonic()
    job = addon.start_upscale(
        str(movie), executable=[sys.executable, "-c", code], extra_args=["-o", "out.mp4"]
    )
    assert time.monotonic() - started < 5
    assert job.poll() is None

    log_file = Path(f"{movie}.uprez.log")
    deadline = time.monotonic() + 30
    while (seen := addon.read_result(str(log_file))) is None:
        assert time.monotonic() < deadline, log_file.read_text()
        time.sleep(0.05)
    assert seen["argv"] == ["upscale", str(movie), "--json", "--rules", "-o", "out.mp4"]
    assert seen["stdin"] == ""  # nothing to read: it can never wait on Blender's console
    if hasattr(os, "getsid"):
        assert seen["sid"] == job.pid  # a session of its own: it outlives Blender
    assert log_file.read_text().startswith("uprez (Blender add-on ")
    assert job.poll() is None
    # Where the result goes is uprez's to say (its hook), not the add-on's: the log names it.
    expected = f"the log at {log_file} names the result"
    assert any(expected in m for m in messages(caplog))


def test_the_timer_reports_a_failed_job_with_its_error_and_log(
    bpy: Any, addon: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon.register()
    movie = tmp_path / "shot.mp4"
    # A stand-in for uprez that fails as uprez does with --json: the error in JSON, exit 5.
    code = (
        "import json; print(json.dumps({'results': [{'source': 'shot.mp4', "
        "'error': 'the service failed (task t-1)', 'exit_code': 5, 'task_id': 't-1'}]}));"
        "raise SystemExit(5)"
    )
    job = addon.start_upscale(str(movie), executable=[sys.executable, "-c", code])
    assert job.wait(timeout=30) == 5

    [tick] = bpy.app.timers.registered
    assert tick() == addon.POLL_SECONDS
    assert (
        f"uprez: upscaling {movie} failed (exit code 5): the service failed (task t-1); "
        f"see {movie}.uprez.log" in messages(caplog)
    )
    assert addon.running_jobs() == []


def test_find_executable_prefers_the_preference_then_the_environment_then_path(
    bpy: Any, addon: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    script = tools / "uprez"
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tools))
    addon.register()
    prefs = bpy.context.preferences.addons["uprez_blender"].preferences

    assert addon.find_executable() == [str(script)]
    monkeypatch.setenv("UPREZ_EXECUTABLE", "/opt/studio/python -m uprez")
    assert addon.find_executable() == ["/opt/studio/python", "-m", "uprez"]
    prefs.executable = str(script)
    assert addon.find_executable() == [str(script)]
    assert addon.find_executable(["x", "-m", "uprez"]) == ["x", "-m", "uprez"]

    prefs.executable = ""
    monkeypatch.delenv("UPREZ_EXECUTABLE")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert addon.find_executable() == [sys.executable, "-m", "uprez"]
    monkeypatch.setattr(addon, "_uprez_importable", lambda: False)
    with pytest.raises(addon.UprezNotFound, match="UPREZ_EXECUTABLE"):
        addon.find_executable()


def test_extra_arguments_come_from_the_preference_else_the_environment(
    bpy: Any, addon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon.register()
    prefs = bpy.context.preferences.addons["uprez_blender"].preferences
    monkeypatch.setenv("UPREZ_BLENDER_ARGS", "--provider local --config '/my studio/u.toml'")
    assert addon.extra_args() == ["--provider", "local", "--config", "/my studio/u.toml"]
    prefs.extra_args = "--max-cost 5"
    assert addon.extra_args() == ["--max-cost", "5"]


# -- the operator ----------------------------------------------------------------------------------


def test_the_operator_starts_the_upscale_of_the_scene_movie_and_reports(
    bpy: Any, addon: Any, scene: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPREZ_EXECUTABLE", uprez_command())
    monkeypatch.setenv("UPREZ_BLENDER_ARGS", "--provider local --dry-run")  # plan only
    addon.register()
    scene.render.ffmpeg.format = "QUICKTIME"
    movie = tmp_path / "render" / "shot010_0001-0012.mov"
    movie.parent.mkdir()
    make_clip(str(movie), seconds=0.5, fps=12)

    operator = addon.UPREZ_OT_upscale_render()
    assert operator.execute(bpy.context) == {"FINISHED"}

    [(kinds, message)] = operator.reports
    assert kinds == {"INFO"}
    assert f"the log at {movie}.uprez.log names the result" in message
    [job] = addon.running_jobs()
    assert job.process.wait(timeout=60) == 0
    [planned] = addon.read_result(f"{movie}.uprez.log")["files"]
    assert planned["path"] == str(movie)


def test_the_operator_reports_what_keeps_it_from_starting(
    bpy: Any, addon: Any, scene: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon.register()

    def run() -> tuple[set[str], set[str], str]:
        operator = addon.UPREZ_OT_upscale_render()
        outcome = operator.execute(bpy.context)
        [(kinds, message)] = operator.reports
        return outcome, kinds, message

    outcome, kinds, message = run()  # nothing rendered yet
    assert (outcome, kinds) == ({"CANCELLED"}, {"ERROR"})
    assert "render the animation first" in message

    movie = Path(addon.rendered_movie(scene))
    movie.parent.mkdir()
    make_clip(str(movie), seconds=0.5, fps=12)
    monkeypatch.setenv("UPREZ_EXECUTABLE", str(tmp_path / "no" / "such" / "uprez"))
    outcome, kinds, message = run()
    assert (outcome, kinds) == ({"CANCELLED"}, {"ERROR"})
    assert "uprez" in message

    scene.render.image_settings.file_format = "JPEG"
    outcome, kinds, message = run()
    assert (outcome, kinds) == ({"CANCELLED"}, {"ERROR"})
    assert "render the animation first" in message
    assert addon.running_jobs() == []


# -- image sequences -------------------------------------------------------------------------------


@pytest.fixture
def frames_scene(scene: Any) -> Any:
    """The scene rendering 1001-1012 to PNG frames ``render/sh010.1001.png``..., at 23.976."""
    scene.frame_start, scene.frame_end = 1001, 1012
    scene.render.filepath = "//render/sh010."
    scene.render.image_settings.file_format = "PNG"
    scene.render.fps, scene.render.fps_base = 24, 1.001
    return scene


def render_frames(
    bpy: Any, scene: Any, *, skip: tuple[int, ...] = (), write: bool = True
) -> list[Any]:
    """Play an animation render to images as Blender does (``render_init``, each frame written
    where the scene says, as a real PNG, ``render_complete`` once at the end); return what each
    ``render_complete`` handler returned."""
    for handler in list(bpy.app.handlers.render_init):
        handler(scene, None)
    if write:
        first = Path(scene.render.frame_path(frame=scene.frame_start))
        made = png_sequence(
            first.parent / ".render",
            name="sh010",
            bits=8,
            first=scene.frame_start,
            count=scene.frame_end - scene.frame_start + 1,
            width=64,
            height=36,
        )
        for number in made.numbers:
            if number not in skip:
                os.replace(made.path(number), scene.render.frame_path(frame=number))
        shutil.rmtree(made.folder)
    return [handler(scene, None) for handler in list(bpy.app.handlers.render_complete)]


# (render.filepath, file_format, frame_start, frame_end, the pattern uprez is given)
PATTERNS = [
    ("//render/sh010.", "PNG", 1001, 1012, "render/sh010.####.png"),
    ("//render/sh010_", "OPEN_EXR", 1, 48, "render/sh010_####.exr"),
    ("//render/sh010.####", "TIFF", 1001, 1100, "render/sh010.####.tif"),
    ("//render/sh010_###_v2", "DPX", 1, 24, "render/sh010_###_v2.dpx"),
    ("//render/", "PNG", 1, 12, "render/####.png"),
    ("//render/sh010.##", "PNG", 98, 101, "render/sh010.##.png"),  # 100 and 101 written whole
]


@pytest.mark.parametrize(("filepath", "file_format", "start", "end", "pattern"), PATTERNS)
def test_rendered_frames_are_named_by_the_pattern_blender_writes_them_by(
    addon: Any,
    scene: Any,
    tmp_path: Path,
    filepath: str,
    file_format: str,
    start: int,
    end: int,
    pattern: str,
) -> None:
    scene.render.filepath = filepath
    scene.render.image_settings.file_format = file_format
    scene.frame_start, scene.frame_end = start, end

    frames = addon.rendered_frames(scene)

    assert frames.pattern == str(tmp_path / pattern)
    assert frames.numbers == list(range(start, end + 1))
    assert frames.paths == [scene.render.frame_path(frame=n) for n in range(start, end + 1)]
    assert addon.rendered_movie(scene) is None
    scene.render.image_settings.file_format = "FFMPEG"
    assert addon.rendered_frames(scene) is None


@pytest.mark.parametrize(
    ("fps", "fps_base", "rate"),
    [(24, 1.0, "24"), (24, 1.001, "24000/1001"), (30, 1.001, "30000/1001"), (25, 1, "25")],
)
def test_the_frame_rate_is_the_scenes_exactly(
    addon: Any, scene: Any, fps: int, fps_base: float, rate: str
) -> None:
    scene.render.fps = fps
    scene.render.fps_base = np.float32(fps_base)  # Blender keeps fps_base as a float32

    assert addon.frame_rate(scene.render) == rate


def test_after_an_animation_render_to_frames_they_are_upscaled_once_at_the_scenes_rate(
    bpy: Any,
    addon: Any,
    frames_scene: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPREZ_LOCAL__MAX_SIZE", "256x144")
    monkeypatch.setenv("UPREZ_POLLING__FIRST_INTERVAL", "0.02")
    monkeypatch.setenv("UPREZ_BLENDER_ARGS", "--provider local")
    monkeypatch.setenv("UPREZ_EXECUTABLE", uprez_command())
    monkeypatch.delenv("UPREZ_PROJECT", raising=False)
    addon.register()
    render = tmp_path / "render"
    pattern = render / "sh010.####.png"
    log_file = render / "sh010.####.png.uprez.log"

    [job] = render_frames(bpy, frames_scene)

    assert isinstance(job, subprocess.Popen)
    assert job.args[-11:] == [
        "upscale",
        str(pattern),
        "--json",
        "--rules",
        "--fps",
        "24000/1001",
        "--overwrite",
        "--project",
        "shot010",
        "--provider",
        "local",
    ]
    assert job.wait(timeout=60) == 0, log_file.read_text()
    made = sorted(p.name for p in render.glob("sh010_4k.*.png"))
    assert made == [f"sh010_4k.{n}.png" for n in range(1001, 1013)]
    with av.open(str(render / made[0])) as frame:
        assert (frame.streams.video[0].width, frame.streams.video[0].height) == (256, 144)
    [result] = addon.read_result(str(log_file))["results"]
    assert result["source"] == str(pattern)
    assert result["output"] == str(render / "sh010_4k.####.png")
    sidecar = json.loads(Path(result["sidecar"]).read_text(encoding="utf-8"))
    assert sidecar["source"]["probe"]["frames"] == 12
    for tick in list(bpy.app.timers.registered):
        tick()
    assert f"uprez: done: {pattern} -> {render / 'sh010_4k.####.png'}" in messages(caplog)

    # A still render (F12) writes none of the frames: nothing is sent again.
    assert render_frames(bpy, frames_scene, write=False) == [None]
    assert addon.running_jobs() == []


@pytest.mark.parametrize(
    "problem", ["missing frame", "frame step", "stale frames", "jpeg", "no extension", "negative"]
)
def test_frames_uprez_cannot_take_whole_are_not_sent_and_the_console_says_why(
    bpy: Any,
    addon: Any,
    frames_scene: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    problem: str,
) -> None:
    monkeypatch.setenv("UPREZ_EXECUTABLE", f"{sys.executable} -c pass")
    addon.register()
    skip: tuple[int, ...] = ()
    expected = {
        "missing frame": "frames 1005-1006 of the range 1001-1012 are missing or empty",
        "frame step": "Frame Step is 2: uprez takes every frame of a range",
        "stale frames": "frames 1013-1020 of an earlier render are beside the range 1001-1012",
        "jpeg": "uprez takes PNG, OpenEXR, TIFF and DPX frames, not JPEG",
        "no extension": "the frames have no file extension",
        "negative": "the range starts below 0",
    }[problem]
    if problem == "missing frame":
        skip = (1005, 1006)
    elif problem == "frame step":
        frames_scene.frame_step = 2
    elif problem == "stale frames":
        frames_scene.frame_end = 1020
        render_frames(bpy, frames_scene)  # an earlier, longer render
        frames_scene.frame_end = 1012
    elif problem == "jpeg":
        frames_scene.render.image_settings.file_format = "JPEG"
    elif problem == "no extension":
        frames_scene.render.use_file_extension = False
    else:
        frames_scene.frame_start = -5
    for started in addon.running_jobs():
        started.process.wait(timeout=30)
    caplog.clear()

    assert render_frames(bpy, frames_scene, skip=skip) == [None]
    [said] = [m for m in messages(caplog) if m.startswith("uprez: not upscaling")]
    assert expected in said
    assert not list((tmp_path / "render").glob("*.uprez.log")) or problem == "stale frames"


def test_the_operator_upscales_the_scenes_rendered_frames_or_says_what_is_missing(
    bpy: Any, addon: Any, frames_scene: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPREZ_EXECUTABLE", uprez_command())
    monkeypatch.setenv("UPREZ_BLENDER_ARGS", "--provider local --dry-run")  # plan only
    addon.register()
    operator = addon.UPREZ_OT_upscale_render()
    assert operator.execute(bpy.context) == {"CANCELLED"}
    [(kinds, message)] = operator.reports
    assert kinds == {"ERROR"} and "render the animation first" in message
    monkeypatch.setattr(addon, "auto_upscale_enabled", lambda: False)
    render_frames(bpy, frames_scene)

    operator = addon.UPREZ_OT_upscale_render()
    assert operator.execute(bpy.context) == {"FINISHED"}

    [(kinds, message)] = operator.reports
    pattern = tmp_path / "render" / "sh010.####.png"
    assert kinds == {"INFO"} and f"the log at {pattern}.uprez.log names the result" in message
    [job] = addon.running_jobs()
    assert job.process.wait(timeout=60) == 0
    assert "--fps" in job.process.args and "24000/1001" in job.process.args
    [planned] = addon.read_result(f"{pattern}.uprez.log")["files"]
    assert planned["path"] == str(pattern) and planned["duration"] == pytest.approx(
        12 / 23.976, abs=1e-3
    )


# -- the add-on file itself ------------------------------------------------------------------------


def test_the_addon_describes_itself_to_blender_and_agrees_with_uprez(addon: Any) -> None:
    tree = ast.parse(ADDON.read_text(encoding="utf-8"))
    # Blender reads bl_info without running the file: it must be a literal.
    [info] = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "bl_info"
    ]
    bl_info = ast.literal_eval(info)
    assert bl_info["name"] == "uprez: upscale renders to 4K"
    assert bl_info["blender"] == (3, 6, 0)
    assert bl_info["category"] == "Render"
    version = ".".join(map(str, bl_info["version"]))
    assert version == addon.ADDON_VERSION == uprez.__version__

    manifest = tomllib.loads(addon.BLENDER_MANIFEST)
    assert manifest["schema_version"] == "1.0.0"
    assert (manifest["id"], manifest["type"]) == ("uprez", "add-on")
    assert manifest["version"] == version
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:MIT"]
    assert manifest["name"] and manifest["maintainer"]
    assert len(manifest["tagline"]) <= 64 and not manifest["tagline"].endswith(".")
    assert blender_cmd.manifest_text() == addon.BLENDER_MANIFEST

    assert addon.VIDEO_EXTENSIONS == protocol.VIDEO_EXTENSIONS
    # Blender's Python usually lacks uprez: the add-on must not import it at load time.
    top_imports = {
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert "uprez" not in top_imports
    assert "__future__" not in top_imports  # property annotations must stay bpy.props calls


# -- uprez blender install / path ------------------------------------------------------------------


def blender_cli(*argv: str) -> int:
    """``uprez blender ...`` through ``uprez.cli.main`` once the command is registered there;
    until then through a parser of its own that handles errors as ``main`` does."""
    from uprez.cli import build_parser, main

    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    if "blender" in commands.choices:
        return main(["blender", *argv])
    parser = argparse.ArgumentParser(prog="uprez")
    blender_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["blender", *argv])
    try:
        code: int = args.handler(args)
    except UprezError as exc:
        print(f"uprez: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code


def test_install_writes_an_addon_that_registers_in_blender(
    bpy: Any, addon: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "scripts" / "addons"

    assert blender_cli("install", "--dir", str(folder)) == 0

    written = folder / "uprez_blender.py"
    assert written.read_text(encoding="utf-8") == ADDON.read_text(encoding="utf-8")
    out = capsys.readouterr().out
    assert f"wrote {written}" in out
    assert "Preferences > Add-ons" in out
    installed = addon.load(written, "uprez_blender")
    installed.register()
    assert bpy.app.handlers.render_complete == [installed.uprez_render_complete]
    assert installed.UPREZ_OT_upscale_render in bpy.utils.registered


def test_install_extension_writes_the_package_and_its_manifest(
    bpy: Any, addon: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "extensions" / "user_default"

    assert blender_cli("install", "--dir", str(folder), "--extension") == 0

    package = folder / "uprez"
    assert (package / "__init__.py").read_text(encoding="utf-8") == ADDON.read_text("utf-8")
    manifest = tomllib.loads((package / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert manifest["id"] == "uprez" and manifest["blender_version_min"] == "4.2.0"
    assert "blender_manifest.toml" in capsys.readouterr().out
    # Blender 4.2 imports an extension as bl_ext.<repository>.<id>; preferences follow the name.
    extension = addon.load(package / "__init__.py", "bl_ext.user_default.uprez")
    extension.register()
    assert "bl_ext.user_default.uprez" in bpy.context.preferences.addons
    assert bpy.app.handlers.render_complete == [extension.uprez_render_complete]


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux layout of Blender's user folder")
def test_install_finds_the_newest_blender_or_asks_for_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_RESOURCES"):
        monkeypatch.delenv(name, raising=False)
    blender = tmp_path / "config" / "blender"

    assert blender_cli("install") == 2  # no Blender has run here
    assert "--dir" in capsys.readouterr().err

    for version in ("3.6", "4.2", "4.10", "config-backup"):
        (blender / version).mkdir(parents=True)
    assert blender_cli("install") == 0
    assert (blender / "4.10" / "scripts" / "addons" / "uprez_blender.py").is_file()
    assert blender_cli("install", "--extension") == 0
    assert (blender / "4.10" / "extensions" / "user_default" / "uprez" / "__init__.py").is_file()
    assert "keep one of the two enabled" in capsys.readouterr().out


def test_install_honours_blender_user_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Blender 4.2+: BLENDER_USER_RESOURCES replaces the user folder, version and all.
    resources = tmp_path / "studio" / "blender-user"
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(resources))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "config"))
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    (tmp_path / "config" / "blender" / "4.2").mkdir(parents=True)  # not where Blender looks
    for name in ("BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS"):
        monkeypatch.delenv(name, raising=False)

    assert blender_cli("install") == 0
    assert (resources / "scripts" / "addons" / "uprez_blender.py").is_file()
    assert blender_cli("install", "--extension") == 0
    assert (resources / "extensions" / "user_default" / "uprez" / "__init__.py").is_file()
    assert f"note: {resources / 'scripts' / 'addons' / 'uprez_blender.py'}" in (
        capsys.readouterr().out
    )
    assert not list((tmp_path / "config").rglob("uprez*"))

    # BLENDER_USER_SCRIPTS and BLENDER_USER_EXTENSIONS still come first, as in Blender.
    env = {
        "BLENDER_USER_RESOURCES": str(resources),
        "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"),
        "BLENDER_USER_EXTENSIONS": str(tmp_path / "extensions"),
    }
    assert blender_cmd.default_dir(False, env=env) == tmp_path / "scripts" / "addons"
    assert blender_cmd.default_dir(True, env=env) == tmp_path / "extensions" / "user_default"


def test_default_dirs_per_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "Library" / "Application Support" / "Blender" / "4.2").mkdir(parents=True)
    roaming = tmp_path / "Roaming"
    (roaming / "Blender Foundation" / "Blender" / "3.6").mkdir(parents=True)

    mac = blender_cmd.default_dir(True, platform="darwin", env={}, home=home)
    assert mac == home / "Library/Application Support/Blender/4.2/extensions/user_default"
    windows = blender_cmd.default_dir(
        False, platform="win32", env={"APPDATA": str(roaming)}, home=home
    )
    assert windows == roaming / "Blender Foundation" / "Blender" / "3.6" / "scripts" / "addons"
    with pytest.raises(ConfigError, match=r"4\.2 or newer"):  # 3.6 has no extensions
        blender_cmd.default_dir(True, platform="win32", env={"APPDATA": str(roaming)}, home=home)
    scripts = blender_cmd.default_dir(
        False, platform="linux", env={"BLENDER_USER_SCRIPTS": str(tmp_path / "s")}, home=home
    )
    assert scripts == tmp_path / "s" / "addons"


def test_blender_path_prints_the_addon_source_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert blender_cli("path") == 0

    printed = Path(capsys.readouterr().out.strip())
    assert printed.read_text(encoding="utf-8") == blender_cmd.addon_source()
    assert printed.samefile(ADDON)


# -- in a real Blender -----------------------------------------------------------------------------

#: Another Python that imports the real ``bpy``, for an environment whose own cannot (the test
#: extra installs the ``bpy`` 4.2 wheel where one exists: Python 3.11 on Linux x86_64, macOS
#: and Windows), in which case this Python runs Blender.
BPY_PYTHON_ENV = "UPREZ_TEST_BPY_PYTHON"

#: Run by that Python, headless: enable both layouts, render a tiny animation with Cycles,
#: disable one, render again with Overwrite off; print what was seen as JSON on the last line.
REAL_BLENDER_SCRIPT = """
import json, sys
import bpy
import addon_utils  # importable once bpy is

def fail(exc):
    raise exc

def state():
    def ours(functions, name):
        return [f.__module__ for f in functions if getattr(f, "__name__", "") == name]
    handlers = bpy.app.handlers
    return {
        "render_complete": ours(handlers.render_complete, "uprez_render_complete"),
        "render_init": ours(handlers.render_init, "uprez_render_init"),
        "menu": ours(bpy.types.TOPBAR_MT_render._dyn_ui_initialize(), "uprez_menu_draw"),
        "operator": hasattr(bpy.types, "RENDER_OT_uprez_upscale"),
    }

layouts = [
    addon_utils.enable(name, default_set=True, handle_error=fail)
    for name in ("uprez_blender", "bl_ext.user_default.uprez")
]
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
scene.cycles.device = "CPU"
scene.render.resolution_x, scene.render.resolution_y = 64, 36
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end, scene.render.fps = 1, 12, 12
scene.render.image_settings.file_format = "FFMPEG"
scene.render.ffmpeg.format = "MPEG4"
scene.render.ffmpeg.codec = "H264"
scene.render.use_overwrite = False
scene.render.filepath = sys.argv[1]

def render():
    bpy.ops.render.render(animation=True)
    jobs = [job for module in layouts for job in module.running_jobs()]
    codes = [job.process.wait(timeout=300) for job in jobs]
    for module in layouts:
        module.poll_jobs()
    return {"movie": scene.render.frame_path(frame=1), "codes": codes}

seen = {"both": state(), "first": render()}
addon_utils.disable("bl_ext.user_default.uprez", default_set=True)
seen["one"] = state()
bpy.data.objects["Cube"].location.x += 0.5  # the scene changed: rendered again
seen["second"] = render()
print(json.dumps(seen))
"""


def bpy_python() -> str | None:
    """``$UPREZ_TEST_BPY_PYTHON``, or this Python when it imports the real ``bpy``."""
    chosen = os.environ.get(BPY_PYTHON_ENV)
    if chosen:
        return chosen
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None or Path(spec.origin).is_relative_to(STANDINS):
        return None
    return sys.executable


#: The real-Blender tests run wherever ``bpy`` imports, and are never skipped on CI (``$CI``):
#: there, a ``bpy`` that does not import is a broken install, and the tests fail saying so.
real_blender = pytest.mark.skipif(
    bpy_python() is None and not os.environ.get("CI"),
    reason="no real Blender here: the bpy wheel (test extra) exists for Python 3.11 on Linux "
    f"x86_64, macOS and Windows; or set {BPY_PYTHON_ENV} to a Python that imports bpy",
)


def real_blender_python() -> str:
    python = bpy_python()
    assert python is not None, (
        "CI runs the real-Blender tests: `import bpy` must work (pip install -e '.[test]' "
        f"installs the bpy wheel on Python 3.11), or set {BPY_PYTHON_ENV}"
    )
    return python


@pytest.mark.slow
@real_blender
def test_in_a_real_blender_both_layouts_install_enable_render_and_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = real_blender_python()
    resources = tmp_path / "blender-user"
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(resources))
    for name in ("BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", *ADAPTER_ENV):
        monkeypatch.delenv(name, raising=False)
    # Installed where this Blender looks, without --dir.
    assert blender_cli("install") == 0
    assert blender_cli("install", "--extension") == 0
    script = tmp_path / "scene.py"
    script.write_text(REAL_BLENDER_SCRIPT, encoding="utf-8")
    env = {
        **os.environ,
        "UPREZ_EXECUTABLE": uprez_command(),
        "UPREZ_BLENDER_ARGS": "--provider local",
        "UPREZ_LOCAL__MAX_SIZE": "256x144",
        "UPREZ_POLLING__FIRST_INTERVAL": "0.02",
    }

    ran = subprocess.run(
        [python, str(script), str(tmp_path / "render" / "shot_")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert ran.returncode == 0, ran.stderr[-4000:]
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    both = ["uprez_blender", "bl_ext.user_default.uprez"]
    assert seen["both"] == {
        "render_complete": both,
        "render_init": both,
        "menu": both,
        "operator": True,
    }
    assert seen["first"]["codes"] == [0]  # one job for one render
    assert seen["one"] == {
        "render_complete": ["uprez_blender"],
        "render_init": ["uprez_blender"],
        "menu": ["uprez_blender"],
        "operator": True,
    }
    # Rendered again with Overwrite off: the stale 4K file was replaced.
    assert seen["second"]["codes"] == [0]
    movie = Path(seen["second"]["movie"])
    output = movie.with_name(f"{movie.stem}_4k.mp4")
    assert probe(output).frames == 12
    sidecar = json.loads(Path(f"{output}.uprez.json").read_text(encoding="utf-8"))
    assert sidecar["source"]["size_bytes"] == movie.stat().st_size
    assert sidecar["source"]["path"] == str(movie)


#: Run by that Python, headless: enable the add-on, render an 8-frame animation to PNG frames
#: with the Workbench engine at 23.976, wait for the job the handler started, render a still;
#: print what was seen as JSON on the last line.
REAL_BLENDER_FRAMES_SCRIPT = """
import json, sys
import bpy
import addon_utils

def fail(exc):
    raise exc

addon = addon_utils.enable("uprez_blender", default_set=True, handle_error=fail)
scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x, scene.render.resolution_y = 64, 36
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1001, 1008
scene.render.fps, scene.render.fps_base = 24, 1.001
scene.render.image_settings.file_format = sys.argv[2]
scene.render.filepath = sys.argv[1]
bpy.ops.render.render(animation=True)
jobs = addon.running_jobs()
seen = {
    "jobs": [
        {"args": job.process.args, "code": job.process.wait(timeout=300), "log": job.log}
        for job in jobs
    ],
    "frames": [scene.render.frame_path(frame=n) for n in range(1001, 1009)],
}
addon.poll_jobs()
bpy.ops.render.render(write_still=True)  # a still: none of the frames is written again
seen["after_still"] = len(addon.running_jobs())
print(json.dumps(seen))
"""


@pytest.mark.slow
@real_blender
@pytest.mark.parametrize(("file_format", "ext"), [("PNG", "png"), ("OPEN_EXR", "exr")])
def test_in_a_real_blender_an_animation_rendered_to_frames_is_upscaled_once_after_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_format: str, ext: str
) -> None:
    python = real_blender_python()
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(tmp_path / "blender-user"))
    for name in ("BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", *ADAPTER_ENV):
        monkeypatch.delenv(name, raising=False)
    assert blender_cli("install") == 0
    script = tmp_path / "frames.py"
    script.write_text(REAL_BLENDER_FRAMES_SCRIPT, encoding="utf-8")
    env = {
        **os.environ,
        "UPREZ_EXECUTABLE": uprez_command(),
        "UPREZ_BLENDER_ARGS": "--provider local",
        "UPREZ_LOCAL__MAX_SIZE": "256x144",
        "UPREZ_POLLING__FIRST_INTERVAL": "0.02",
    }
    env.pop("UPREZ_PROJECT", None)
    render = tmp_path / "render"

    ran = subprocess.run(
        [python, str(script), str(render / "sh010."), file_format],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert ran.returncode == 0, ran.stderr[-4000:]
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    pattern = render / f"sh010.####.{ext}"
    assert seen["frames"] == [str(render / f"sh010.{n}.{ext}") for n in range(1001, 1009)]
    [job] = seen["jobs"]  # one job, after the last frame
    log_text = Path(job["log"]).read_text(encoding="utf-8")
    assert job["code"] == 0, log_text
    tail = ["upscale", str(pattern), "--json", "--rules", "--fps", "24000/1001", "--overwrite"]
    assert job["args"][-9:] == [*tail, "--provider", "local"]
    assert seen["after_still"] == 0
    made = sorted(p.name for p in render.glob(f"sh010_4k.*.{ext}"))
    assert made == [f"sh010_4k.{n}.{ext}" for n in range(1001, 1009)]
    with av.open(str(render / made[-1])) as frame:
        assert (frame.streams.video[0].width, frame.streams.video[0].height) == (256, 144)
    sidecar = json.loads(Path(f"{render / f'sh010_4k.####.{ext}'}.uprez.json").read_text())
    assert sidecar["source"]["probe"]["frames"] == 8
    assert sidecar["source"]["probe"]["fps"] in ("24000/1001", 24000 / 1001)
    view = sidecar["master"]["proxy"].get("colour")
    if ext == "exr":  # Blender's scene-linear EXR went through an OCIO view, and back
        assert view["invertible"] and view["source_colourspace"]
    else:
        assert view is None
