"""What is refused before anything is spent: a source the service would refuse, and a batch
whose outputs would collide or replace one of its own inputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from uprez import protocol
from uprez.billing import PriceRule
from uprez.errors import InputError
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.master import Master
    from uprez.media.probe import Probe

#: Masters the service never sees as they are: they go as a proxy (``master.proxy``).
MASTER_EXTENSIONS = frozenset({".mxf"})


def where(source: Source) -> Source:
    """How the journal and the batch checks know a source: a file by its absolute path, a
    sequence by its frames' absolute pattern, a URL source as itself."""
    if isinstance(source, ImageSequence):
        return replace(source, folder=source.folder.resolve())
    return source.resolve() if isinstance(source, Path) else source


def check_source(path: Source, config: Config) -> Probe:
    """Probe ``path`` and refuse, before anything is spent, what the service would refuse and
    what uprez cannot upscale faithfully (see :func:`admit`)."""
    return admit(path, config)[0]


def admit(path: Source, config: Config) -> tuple[Probe, Master | None]:
    """Probe ``path``, describe it as a master when it is a file, and refuse (``InputError``,
    before anything is spent) what the service would refuse and what uprez cannot upscale
    faithfully: one line a reason (:func:`uprez.media.master.refusals`).

    Length is no reason to refuse a file: a video over the limit is planned as segments. A URL
    source is refused when it is longer (see :func:`check_remote`); it has no master record.
    """
    # PyAV loads when a video is first looked at
    from uprez.media.master import probe_master, refusals

    if isinstance(path, RemoteVideo):
        return check_remote(path, config), None
    if isinstance(path, ImageSequence):
        return admit_sequence(path, config), None
    if not path.exists():
        raise InputError(f"{path}: no such file", path=str(path))
    if not path.is_file():
        raise InputError(f"{path}: not a regular file", path=str(path))
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (check its permissions)", path=str(path))
    _check_extension(path, config)
    info, master = probe_master(path)
    reasons = refusals(master, config.master)
    if reasons:
        lines = "".join(f"\n  {reason}" for reason in reasons)
        raise InputError(f"{path} is refused; nothing was spent:{lines}", path=str(path))
    return info, master


def admit_sequence(seq: ImageSequence, config: Config) -> Probe:
    """Probe an image sequence and refuse, before anything is spent, one with missing frames or
    no frame rate (its own, else ``sequence.fps``), or whose colour cannot be managed."""
    from uprez.media.sequence import check_complete
    from uprez.media.sequence_probe import probe_sequence

    if seq.fps is None and config.sequence.fps is not None:
        seq = seq.with_fps(config.sequence.fps)
    check_complete(seq)
    return probe_sequence(seq)


def _check_extension(path: Path, config: Config) -> None:
    suffix = path.suffix.lower()
    if suffix in protocol.VIDEO_EXTENSIONS:
        return
    known = ", ".join(sorted(protocol.VIDEO_EXTENSIONS))
    if suffix not in MASTER_EXTENSIONS:
        raise InputError(f"{path}: the service takes {known} files", path=str(path))
    if config.master.proxy == "never":
        raise InputError(
            f"{path}: the service takes {known} files; a {suffix} master goes as a proxy "
            '(master.proxy = "auto" or "always", not "never")',
            path=str(path),
        )


def check_remote(video: RemoteVideo, config: Config) -> Probe:
    """Probe a URL source over HTTP and refuse what the service would refuse: a URL that is not
    plain http(s), a video FFmpeg cannot describe from it or whose length it cannot tell, and
    one over ``limits.max_duration`` (it goes whole: cutting it would mean downloading it).
    ``provider.connect_timeout`` bounds opening it (connection and headers), and
    ``provider.read_timeout`` each read after that."""
    video.check()
    info = video.probe(timeout=config.provider.timeouts)
    limit = config.limits.max_duration
    seconds = max(info.duration, float(info.frames / info.fps))
    if seconds > limit:
        raise InputError(
            f"{video}: {seconds:.1f} s of video, over the service's limit of {limit:g} s "
            "(limits.max_duration); a URL source cannot be cut into segments without "
            "downloading it: download it and upscale the file instead",
            path=str(video),
        )
    return info


def price_rule(config: Config) -> PriceRule:
    """The billing rule from the config's ``limits`` section."""
    return PriceRule(
        per_second=config.limits.price_per_second,
        minimum_seconds=config.limits.minimum_seconds,
    )


def check_batch(sources: Sequence[Source], targets: Sequence[Path]) -> None:
    """Refuse, before anything is spent, a batch where two inputs would make one output (the
    second would replace the first's result, paid for) or an output is another input of the
    batch (``x.mp4 x_4k.mp4 --overwrite`` would destroy the second input)."""
    inputs = {where(s): s for s in sources}
    made: dict[Path, Source] = {}
    for source, target in zip(sources, targets, strict=True):
        resolved = target.resolve()
        if resolved in made:
            raise InputError(
                f"{made[resolved]} and {source} would both be upscaled into {target}: "
                "give them different names or outputs",
                path=str(target),
            )
        if resolved in inputs and inputs[resolved] != source:
            raise InputError(
                f"{target}, the output of {source}, is another input of this run: it would be "
                "replaced; choose another output",
                path=str(target),
            )
        made[resolved] = source
