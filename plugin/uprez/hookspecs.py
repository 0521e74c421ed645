"""The hooks of uprez: what a plugin can offer and what a host pipeline can call.

A plugin is any module or object with functions marked ``@uprez.hookimpl``, registered through
the ``uprez`` entry-point group. Hooks are called with keyword arguments only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.providers import ProviderInfo
    from uprez.records import Artifact, JobEvent, PostExportContext, StepInfo

PROJECT = "uprez"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def uprez_steps() -> list[StepInfo]:
    """Steps this plugin offers to pipelines, as :class:`~uprez.records.StepInfo` records.

    Example::

        from uprez import Artifact, StepInfo, hookimpl

        def add_grain(artifact, *, config, pm, **options):
            grained = artifact.path.with_name(f"{artifact.path.stem}_grain.mp4")
            ...  # write the grained copy
            return [Artifact(grained, tags=artifact.tags | {"grain"}, source=artifact.path)]

        @hookimpl
        def uprez_steps():
            return [StepInfo("grain", "add film grain", run=add_grain)]
    """


@hookspec
def uprez_providers() -> list[ProviderInfo]:
    """Upscaling backends this plugin offers, as :class:`~uprez.records.ProviderInfo` records.

    The config's ``provider.name`` chooses one by name; names must be unique.

    Example::

        from uprez import Provider, ProviderInfo, ProviderResult, hookimpl

        class InHouse(Provider):  # the contract's defaults: identity = name, box = 4K UHD
            name = "inhouse"

            def __init__(self, config):
                self.config = config

            def run(self, source, target, *, emit, record=None):
                ...  # upscale source into target
                return ProviderResult(task_id="farm-1", model="farm/x", output_url="")

            def close(self):
                pass

        @hookimpl
        def uprez_providers():
            return [ProviderInfo("inhouse", "our render farm's upscaler", factory=InHouse)]
    """


@hookspec(firstresult=True)
def uprez_output_path(
    artifact: Artifact, step: str, config: Config, folder: Path | None
) -> Path | None:
    """Where the result of ``step`` on ``artifact`` goes; the first non-None answer wins.

    ``folder`` is the host's own destination when it has one (``uprez watch``'s OUT_DIR,
    ``uprez upscale -o DIR``, a publish's staging dir), else None. The built-in answer fills the
    config's ``output.template`` (``{dir}/{stem}_4k{ext}``) with ``{dir}`` = ``folder``, or
    the export's own folder. Every host asks this hook; none names a result itself.

    Example::

        from pathlib import Path

        from uprez import hookimpl

        @hookimpl(tryfirst=True)
        def uprez_output_path(artifact, step, config, folder):
            return Path("/publish/4k") / artifact.path.name
    """


@hookspec
def uprez_job_event(event: JobEvent) -> None:
    """A job's progress and life: submitted, uploading, processing, downloading, completed, failed.

    Example::

        import logging

        from uprez import hookimpl

        @hookimpl
        def uprez_job_event(event):
            logging.getLogger("studio.tracker").info("%s %s", event.kind, event.source)
    """


@hookspec
def uprez_post_export(artifact: Artifact, context: PostExportContext) -> list[Artifact]:
    """Called by a host after it exported ``artifact``; returns what uprez's steps produced.

    ``context`` is a :class:`~uprez.records.PostExportContext`: the host's name, and the
    config, plugins and destination folder when it has them. The built-in runs the steps the
    config's ``rules`` choose. :meth:`uprez.plugins.PluginManager.post_export` calls this hook
    and flattens the answers into one list.

    Example (a host, after it exported ``shot.mp4``)::

        from pathlib import Path

        import uprez

        pm = uprez.get_plugin_manager()
        context = uprez.PostExportContext(host="nuke", folder=Path("renders/4k"))
        for made in pm.post_export(uprez.Artifact(Path("shot.mp4")), context):
            print(made.path, made.result.cost)
    """
