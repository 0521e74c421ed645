"""Where a result goes: the ``uprez_output_path`` hook decides (the built-in fills
``output.template``); an existing output is replaced only when the user allows it or it is
uprez's own result of an older version of the same source, and handed back when it is this
very job's result."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from uprez.errors import ConfigError, InputError
from uprez.journal.jobs import finished_before
from uprez.media.image_sequence import ImageSequence
from uprez.step.checks import where
from uprez.step.stale import older_version

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.plugins import PluginManager
    from uprez.records import Artifact

log = logging.getLogger(__name__)
STEP = "upscale"


@dataclass(frozen=True)
class Placement:
    """Where one result goes, and what becomes of a file already there."""

    target: Path
    #: A file at ``target`` is replaced (``output.overwrite``, or a stale result of ours).
    replace: bool = False
    #: The file at ``target`` is this very job's result: a rerun hands it back, at no cost.
    made_before: bool = False


def place(
    artifact: Artifact,
    config: Config,
    pm: PluginManager,
    *,
    folder: Path | None = None,
    output: Path | None = None,
) -> Placement:
    """Place the result of upscaling ``artifact``: at ``output`` when the user named the file,
    else where the ``uprez_output_path`` hook says, given the host's ``folder`` (watch's
    OUT_DIR, ``upscale -o DIR``, a publish's staging dir) or None (the source's own folder)."""
    target = output or pm.hook.uprez_output_path(
        artifact=artifact, step=STEP, config=config, folder=folder
    )
    if target is None:
        raise ConfigError("no plugin chose an output path (is the built-in plugin disabled?)")
    target = Path(target)
    if target.resolve() == where(artifact.path):
        raise InputError(f"{target}: the output would replace its own source", path=str(target))
    if not _exists(target, artifact):
        return Placement(target)
    if config.output.overwrite:
        return Placement(target, replace=True)
    if finished_before(config, where(artifact.path), target.resolve()) is not None:
        return Placement(target, made_before=True)
    stale = older_version(artifact.path, target, config)
    if stale is not None:
        log.info("%s will be replaced: %s", target, stale)
        return Placement(target, replace=True)
    raise InputError(
        f"{target} exists; set output.overwrite = true (or --overwrite) to replace it",
        path=str(target),
    )


def _exists(target: Path, artifact: Artifact) -> bool:
    """Whether the result is there already: the file, or any frame of a result sequence
    (an output frame that is one of the source's own frames is refused)."""
    source = artifact.path
    if not isinstance(source, ImageSequence):
        return target.exists()
    from uprez.step.conforming import result_sequence

    frames = result_sequence(target, source)
    if frames is None:
        return target.exists()
    own = {source.path(n).resolve() for n in source.numbers}
    paths = [frames.path(n) for n in frames.numbers]
    if any(p.resolve() in own for p in paths):
        raise InputError(
            f"{target}: the result's frames would replace the source's own", path=str(target)
        )
    return any(p.exists() for p in paths)
