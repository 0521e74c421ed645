"""The farm recipes are files of the repository that a TD copies onto a farm server: the README
names the ones that exist, and the uprez wheel does not carry them."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def test_every_farm_file_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    named = set(re.findall(r"hooks/farm/[\w./-]*[\w]", readme))
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert missing == []


def test_the_recipes_are_not_packages_and_stay_out_of_the_wheel(farm: Path) -> None:
    """hooks/ is the uprez.hooks package; what lies under hooks/farm/ is not imported from uprez,
    so it is neither a subpackage nor package data."""
    assert list(farm.rglob("__init__.py")) == []
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    assert not [p for p in setuptools["packages"] if p.startswith("uprez.hooks.")]
    assert "farm/*" in setuptools["exclude-package-data"]["uprez.hooks"]


def test_the_deadline_job_files_in_the_readme_are_the_ones_the_plugin_writes(
    farm: Path, load_recipe: Callable[[Path], ModuleType]
) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    blocks = {
        block.split("=", 1)[0]: dict(line.split("=", 1) for line in block.splitlines())
        for block in re.findall(r"```ini\n(.*?)\n```", readme, re.DOTALL)
    }
    assert "Plugin" in blocks, "the README's farm section shows no Deadline job files"
    plugin = load_recipe(farm / "deadline" / "UprezUpscale" / "UprezUpscale.py")
    render = plugin.RenderJob(
        job_id="<render job id>",
        name="sh010_comp_v003",
        plugin="Nuke",
        batch_name="sh010",
        user="ana",
        department="comp",
        priority=60,
        pool="comp",
        group="linux",
        output_directories=("/shows/abc/sh010/out",),
        output_file_names=("sh010_v003.mov",),
    )
    [movie] = plugin.job_outputs(render, plugin.Settings())
    assert blocks["Plugin"] == plugin.job_info(render, movie.path, plugin.Settings())
    assert blocks["Executable"] == plugin.plugin_info(movie.path, plugin.Settings())
