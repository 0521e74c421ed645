"""The OpenCue recipe (hooks/farm/opencue/uprez_outline.py), with the real PyOutline: the upscale
layer's command as a POSIX shell runs it, its dependency on the render layer, and the job spec
PyOutline writes for the cue. Only the call that needs a Cuebot is replaced, in the launch test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import opencue.api
import outline
import outline.backend.cue
import outline.cuerun
import outline.depend
import outline.modules.shell
import pytest

HOSTILE = '/shows/abc/sh 010/it\'s "final"; $(touch PWNED) `touch PWNED` & echo \\ v2.mov'


@pytest.fixture
def recipe(farm: Path, load_recipe: Callable[[Path], ModuleType]) -> ModuleType:
    return load_recipe(farm / "opencue" / "uprez_outline.py")


def job_with_render() -> tuple[object, object]:
    ol = outline.Outline("sh010_v003", shot="sh010", show="abc", user="ana")
    render = outline.modules.shell.Shell("render", command=["true"], range="1-10")
    ol.add_layer(render)
    return ol, render


def spec_of(ol: object, maxretries: int) -> ET.Element:
    """The job spec PyOutline sends the cue for ``ol`` launched without pycuerun."""
    launcher = outline.cuerun.OutlineLauncher(ol, maxretries=maxretries)
    text = outline.backend.cue.serialize_simple(launcher)
    return ET.fromstring(text.split("?>", 1)[1].split(">", 1)[1])  # past the XML and DOCTYPE


def test_the_upscale_command_is_the_readme_command_with_every_word_quoted(
    recipe: ModuleType,
) -> None:
    assert recipe.upscale_command("/shows/abc/sh010/sh010_v003.mov") == (
        "uprez upscale --json --output /shows/abc/sh010/ -- /shows/abc/sh010/sh010_v003.mov"
    )
    assert recipe.upscale_command(
        "/shows/abc/sh010/a.mov", output="/shows/abc/4k", executable="/opt/uprez/bin/uprez"
    ) == ("/opt/uprez/bin/uprez upscale --json --output /shows/abc/4k/ -- /shows/abc/sh010/a.mov")


def test_a_shell_runs_the_command_with_a_hostile_name_as_one_argument_and_nothing_else(
    recipe: ModuleType, tmp_path: Path
) -> None:
    """RQD writes a frame's command to a file that a POSIX shell runs: run it the same way, with
    a stand-in uprez that prints the arguments it got."""
    stand_in = tmp_path / "uprez"
    stand_in.write_text(
        f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n", "utf-8"
    )
    stand_in.chmod(0o755)
    command = recipe.upscale_command(HOSTILE, executable=str(stand_in))
    done = subprocess.run(
        ["/bin/sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == [
        "upscale",
        "--json",
        "--output",
        "/shows/abc/sh 010/",
        "--",
        HOSTILE,
    ]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("movie", "why"),
    [
        ("renders/sh010.mov", "absolute"),
        ("/shows/abc/sh010\nrm -rf ~.mov", "control character"),
        ("/shows/abc/#JOB#.mov", "#TOKEN#"),
    ],
)
def test_a_path_that_cannot_run_as_written_is_refused(
    recipe: ModuleType, movie: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        recipe.upscale_command(movie)


def test_the_upscale_layer_runs_once_after_every_frame_of_the_render_layer(
    recipe: ModuleType,
) -> None:
    ol, render = job_with_render()
    layer = recipe.add_upscale_layer(ol, render, "/shows/abc/sh010/sh010_v003.mov")
    assert isinstance(layer, outline.modules.shell.ShellCommand)  # one frame, whatever the range
    [depend] = layer.get_depends()
    assert depend.get_depend_on_layer() is render
    assert depend.get_type() == outline.depend.DependType.LayerOnLayer
    assert ol.get_layer("uprez") is layer


def test_the_job_spec_carries_the_command_the_dependency_the_retries_and_the_limit(
    recipe: ModuleType,
) -> None:
    ol, render = job_with_render()
    recipe.add_upscale_layer(ol, render, HOSTILE, limits=["uprez"])
    spec = spec_of(ol, maxretries=3)
    assert spec.findtext("job/maxretries") == "3"
    [layer] = [e for e in spec.iterfind("job/layers/layer") if e.get("name") == "uprez"]
    assert layer.findtext("cmd") == recipe.upscale_command(HOSTILE)
    assert [e.text for e in layer.iterfind("limits/limit")] == ["uprez"]
    [depend] = spec.iterfind("depends/depend")
    assert depend.get("type") == "LAYER_ON_LAYER"
    assert (depend.findtext("deplayer"), depend.findtext("onlayer")) == ("uprez", "render")


def test_launch_sends_the_cue_a_spec_without_pycuerun_and_with_the_jobs_retries(
    recipe: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # PyOutline keeps its session under ~/.opencue
    sent: list[str] = []

    def launch_spec_and_wait(spec: str) -> list[str]:  # the call that needs a Cuebot
        sent.append(spec)
        return ["job"]

    monkeypatch.setattr(opencue.api, "launchSpecAndWait", launch_spec_and_wait)
    ol, render = job_with_render()
    recipe.add_upscale_layer(ol, render, "/shows/abc/sh010/sh010_v003.mov")
    assert recipe.launch(ol, maxretries=4) == ["job"]
    [text] = sent
    spec = ET.fromstring(text.split("?>", 1)[1].split(">", 1)[1])
    assert spec.findtext("job/maxretries") == "4"
    commands = {e.get("name"): e.findtext("cmd") for e in spec.iterfind("job/layers/layer")}
    assert commands["uprez"] == recipe.upscale_command("/shows/abc/sh010/sh010_v003.mov")
    assert "pycuerun" not in text
    assert os.listdir(tmp_path)  # the session went where HOME pointed, not the real home
