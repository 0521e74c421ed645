"""The hooks of uprez: what a plugin can offer and what a host pipeline can call.

A plugin is any module or object with functions marked ``@uprez.hookimpl``, registered through
the ``uprez`` entry-point group. Hooks are called with keyword arguments only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.records import Artifact, JobEvent, ProviderInfo, StepInfo

PROJECT = "uprez"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def uprez_steps() -> list[StepInfo]:
    """Steps this plugin offers to pipelines, as :class:`~uprez.records.StepInfo` records.

    Example::

        @hookimpl
        def uprez_steps():
            return [StepInfo("grain", "add film grain", run=add_grain)]
    """


@hookspec
def uprez_providers() -> list[ProviderInfo]:
    """Upscaling backends this plugin offers, as :class:`~uprez.records.ProviderInfo` records.

    The config's ``provider.name`` chooses one by name; names must be unique.

    Example::

        @hookimpl
        def uprez_providers():
            return [ProviderInfo("inhouse", "our render farm's upscaler", factory=InHouse)]
    """


@hookspec(firstresult=True)
def uprez_output_path(artifact: Artifact, step: str, config: Config) -> Path | None:
    """Where the result of ``step`` on ``artifact`` goes; the first non-None answer wins.

    The built-in answer fills the config's ``output.template`` (``{dir}/{stem}_4k{ext}``).

    Example::

        @hookimpl(tryfirst=True)
        def uprez_output_path(artifact, step, config):
            return Path("/publish/4k") / artifact.path.name
    """


@hookspec
def uprez_job_event(event: JobEvent) -> None:
    """A job's progress and life: submitted, uploading, processing, downloading, completed, failed.

    Example::

        @hookimpl
        def uprez_job_event(event):
            tracker.note(event.source, event.kind, event.task_id)
    """


@hookspec
def uprez_post_export(artifact: Artifact, context: dict[str, Any]) -> list[Artifact]:
    """Called by a host after it exported ``artifact``; returns what uprez's steps produced.

    ``context`` carries what the host knows (``{"config": Config, "host": "blender"}``).

    Example::

        results = pm.hook.uprez_post_export(artifact=Artifact(Path("shot.mp4")), context={})
    """
