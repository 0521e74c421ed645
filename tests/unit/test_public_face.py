"""``import uprez`` gives hosts and plugin authors what they need, without the heavy parts."""

from __future__ import annotations

import subprocess
import sys

import pytest

import uprez


@pytest.mark.parametrize("name", [n for n in uprez.__all__ if n != "__version__"])
def test_every_public_name_is_there(name: str) -> None:
    assert getattr(uprez, name) is not None
    assert name in dir(uprez)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        uprez.nothing  # noqa: B018


def test_the_hookspecs_example_works_as_written() -> None:
    # hookspecs.py says plugins mark their functions with ``@uprez.hookimpl``.
    pm = uprez.get_plugin_manager(env={})
    seen: list[str] = []

    class Plugin:
        @uprez.hookimpl
        def uprez_job_event(self, event: uprez.JobEvent) -> None:
            seen.append(event.kind)

    pm.register(Plugin(), name="example")
    pm.hook.uprez_job_event(event=uprez.JobEvent("completed", uprez.Artifact("x.mp4").path))

    assert seen == ["completed"]


def test_importing_uprez_and_its_face_stays_light() -> None:
    code = (
        "import sys, uprez\n"
        "uprez.hookimpl, uprez.Artifact, uprez.load_config, uprez.get_plugin_manager()\n"
        "print(sorted(m for m in ('av', 'werkzeug', 'tqdm', 'rich') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
