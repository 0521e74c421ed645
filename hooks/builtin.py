"""uprez's built-in plugin: the ``upscale`` step, the ``wavespeed`` and ``local`` providers,
the default output path and the post-export rule. A host may block it and offer its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uprez.config import Config, load_config
from uprez.errors import ConfigError
from uprez.hookspecs import hookimpl
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo
from uprez.plugins import PluginManager, get_plugin_manager
from uprez.providers import Provider, ProviderInfo
from uprez.records import Artifact, PostExportContext, StepInfo
from uprez.wavespeed.provider import WaveSpeedProvider


def _upscale(
    artifact: Artifact, *, config: Config, pm: PluginManager, **options: Any
) -> list[Artifact]:
    """The step as a plugin step: prepare then run, for one artifact."""
    from uprez.step.run import run_upscale  # the step's modules load when a step runs

    return [run_upscale(artifact, config=config, pm=pm, **options)]


def _wavespeed(config: Config) -> Provider:
    return WaveSpeedProvider.from_config(config)


def _local(config: Config) -> Provider:
    from .local_provider import LocalProvider  # the stand-in server loads when used

    return LocalProvider(config)


@hookimpl
def uprez_steps() -> list[StepInfo]:
    return [
        StepInfo(
            "upscale", "upscale a video to 4K (RunwayML Upscale V1 on WaveSpeed)", run=_upscale
        )
    ]


@hookimpl
def uprez_providers() -> list[ProviderInfo]:
    return [
        ProviderInfo("wavespeed", "WaveSpeed's API (needs WAVESPEED_API_KEY)", factory=_wavespeed),
        ProviderInfo(
            "local", "the local stand-in server, in-process: no key, no network", factory=_local
        ),
    ]


@hookimpl(trylast=True)
def uprez_output_path(artifact: Artifact, step: str, config: Config, folder: Path | None) -> Path:
    """Fill ``output.template``: {dir}, {stem}, {name}, {ext} (the result's: .mp4, or .mov for
    a ProRes or DNxHR result),
    {source_ext} and {step}.

    {dir} is the host's ``folder`` when it gives one; else the export's own folder, and for a
    URL source (which has no folder of ours) the current folder: where the user stands, as for
    a download. {stem}, {name} and {source_ext} of a URL are those of its last path segment,
    so ``https://host/a/shot.mp4?sig`` becomes ``./shot_4k.mp4`` by default."""
    path = artifact.path
    if isinstance(path, ImageSequence):
        return _sequence_output(path, step, config, folder)
    if folder is None:
        folder = Path.cwd() if isinstance(path, RemoteVideo) else path.parent
    return _fill(config, folder, path.stem, path.name, _result_ext(path, config), path.suffix, step)


def _fill(
    config: Config, folder: Path, stem: str, name: str, ext: str, source_ext: str, step: str
) -> Path:
    """``output.template`` filled in."""
    template = config.output.template
    try:
        text = template.format(
            dir=str(folder), stem=stem, name=name, ext=ext, source_ext=source_ext, step=step
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"$.output.template: cannot fill {template!r} ({type(exc).__name__}: {exc}); "
            "use {dir}, {stem}, {name}, {ext}, {source_ext} and {step}"
        ) from exc
    return Path(text).expanduser()


def _sequence_output(seq: ImageSequence, step: str, config: Config, folder: Path | None) -> Path:
    """A sequence's result: frames like its own (``sequence.output = "auto"``), {ext} being
    its number run and extension (``.####.exr``, so ``sh010_4k.####.exr`` by default), or a
    movie (``"movie"``: .mp4); {stem} is the name before the number (``sh010``)."""
    if config.sequence.output == "movie":
        ext = ".mp4"
    else:
        ext = f"{seq.separator or '.'}{'#' * max(seq.padding, 1)}{seq.suffix}"
    return _fill(config, folder or seq.folder, seq.stem, seq.name, ext, seq.suffix, step)


def _result_ext(path: Path | RemoteVideo, config: Config) -> str:
    """The result's extension: ``.mov`` for a ProRes or DNxHR result, else ``.mp4``. A file
    whose codec cannot be told here (unreadable: refused later, with the reason) gets .mp4."""
    if isinstance(path, RemoteVideo) or config.output.codec != "auto":
        from uprez.media.codecs import CODECS

        return CODECS.get(config.output.codec, CODECS["h264"]).ext
    from uprez.media.codecs import source_extension  # PyAV reads the file's headers

    return source_extension(path)


@hookimpl
def uprez_post_export(artifact: Artifact, context: PostExportContext) -> list[Artifact]:
    """Run the steps the config's ``rules`` choose for ``artifact`` (``upscale`` for every
    video when there are no rules), the result placed in the context's ``folder``; return
    what they produced."""
    from uprez.step.prepare import prepare  # the step's modules load when a step runs
    from uprez.step.run import run  # PyAV loads with the step's modules

    pm = context.pm if isinstance(context.pm, PluginManager) else get_plugin_manager()
    config = context.config or load_config(fragments=pm.config_fragments())
    batch = prepare([artifact], config=config, pm=pm, folder=context.folder, rules=True)
    produced: list[Artifact] = []
    for outcome in run(batch, resubmit=bool(context.options.get("resubmit"))):
        if outcome.error is not None:
            raise outcome.error
        produced.extend(outcome.produced)
    return produced
