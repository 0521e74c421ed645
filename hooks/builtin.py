"""uprez's built-in plugin: the ``upscale`` step, the ``wavespeed`` and ``local`` providers,
the default output path and the post-export rule. A host may block it and offer its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uprez.config import Config
from uprez.errors import ConfigError
from uprez.hookspecs import hookimpl
from uprez.media.remote import RemoteVideo
from uprez.records import Artifact, Provider, ProviderInfo, StepInfo


def _upscale(artifact: Artifact, *, config: Config, pm: Any, **options: Any) -> list[Artifact]:
    from uprez.step.run import run_upscale

    return [run_upscale(artifact, config=config, pm=pm, **options)]


def _wavespeed(config: Config) -> Provider:
    from uprez.wavespeed.provider import WaveSpeedProvider

    return WaveSpeedProvider.from_config(config)


def _local(config: Config) -> Provider:
    from .local_provider import LocalProvider

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
def uprez_output_path(artifact: Artifact, step: str, config: Config) -> Path:
    """Fill ``output.template``: {dir}, {stem}, {name}, {ext} (the result's: .mp4),
    {source_ext} and {step}.

    A URL source has no folder of ours: {dir} is the current folder, and {stem}, {name} and
    {source_ext} are those of the URL's last path segment, so ``https://host/a/shot.mp4?sig``
    becomes ``./shot_4k.mp4`` by default. Where the export came from does not decide where
    the result goes: the current folder is where the user stands, as for a download."""
    path = artifact.path
    folder = Path.cwd() if isinstance(path, RemoteVideo) else path.parent
    template = str(config.get("output.template"))
    try:
        text = template.format(
            dir=str(folder),
            stem=path.stem,
            name=path.name,
            ext=".mp4",
            source_ext=path.suffix,
            step=step,
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"$.output.template: cannot fill {template!r} ({type(exc).__name__}: {exc}); "
            "use {dir}, {stem}, {name}, {ext}, {source_ext} and {step}"
        ) from exc
    return Path(text).expanduser()


@hookimpl
def uprez_post_export(artifact: Artifact, context: dict[str, Any]) -> list[Artifact]:
    """Run the steps the config's ``rules`` choose for ``artifact`` (``upscale`` for every
    video when there are no rules); return what they produced."""
    from uprez.config import load_config
    from uprez.plugins import get_plugin_manager
    from uprez.rules import select_steps

    pm = context.get("pm") or get_plugin_manager()
    config = context.get("config") or load_config(fragments=pm.config_fragments())
    steps = pm.steps()
    produced: list[Artifact] = []
    for name in select_steps(artifact, config, set(steps)):
        produced.extend(steps[name].run(artifact, config=config, pm=pm))
    return produced
