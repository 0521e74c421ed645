"""The examples in ``uprez.hookspecs`` work as written: each plugin example registers against
the hookspecs, and the host example runs a real post-export on the local provider."""

from __future__ import annotations

import re
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez import hookspecs
from uprez.config import load_config
from uprez.plugins import get_plugin_manager
from uprez.providers import UHD
from uprez.records import Artifact


def examples() -> dict[str, str]:
    """Each hook's ``Example::`` block, dedented, by hook name."""
    found = {}
    for name, spec in vars(hookspecs).items():
        if name.startswith("uprez_") and spec.__doc__:
            match = re.search(r"Example[^\n]*::\n\n(.*?)(?:\n\s*$|\Z)", spec.__doc__, re.S)
            assert match, f"{name} has no example"
            found[name] = textwrap.dedent(match[1])
    return found


PLUGIN_EXAMPLES = sorted(set(examples()) - {"uprez_post_export"})


@pytest.mark.parametrize("name", PLUGIN_EXAMPLES)
def test_each_plugin_example_registers_as_written(name: str) -> None:
    plugin = types.ModuleType(f"example_{name}")
    exec(compile(examples()[name], f"hookspecs.{name} example", "exec"), plugin.__dict__)
    pm = get_plugin_manager(env={"UPREZ_LOAD_PLUGINS": ""})

    pm.register(plugin)  # pluggy checks the hookimpl against the hookspec

    assert plugin in [impl.plugin for impl in getattr(pm.hook, name).get_hookimpls()]
    if name == "uprez_steps":
        assert "grain" in pm.steps()
    if name == "uprez_providers":
        provider = pm.make_provider(load_config(env={}), "inhouse")
        assert (provider.name, provider.identity, provider.box) == ("inhouse", "inhouse", UHD)
    if name == "uprez_output_path":
        answer = pm.hook.uprez_output_path(
            artifact=Artifact(Path("/exports/shot.mp4")),
            step="upscale",
            config=load_config(env={}),
            folder=None,
        )
        assert answer == Path("/publish/4k/shot.mp4")


def test_the_post_export_example_runs_as_written(
    make_clip: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_clip("shot.mp4", seconds=0.5, fps=12, width=64, height=36)
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("UPREZ_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("UPREZ_PROVIDER__NAME", "local")  # no key, no network
    monkeypatch.setenv("UPREZ_LOCAL__MAX_SIZE", "256x144")

    exec(compile(examples()["uprez_post_export"], "post-export example", "exec"), {})

    [line] = capsys.readouterr().out.splitlines()
    assert line == "renders/4k/shot_4k.mp4 0.10"
    assert (tmp_path / "renders/4k/shot_4k.mp4").is_file()
