"""The typed records that pass between uprez, its plugins and host pipelines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.media.remote import Source, as_source

if TYPE_CHECKING:
    import pluggy

    from uprez.config import Config


@dataclass
class Artifact:
    """A file a pipeline produced: an export going in, or a result coming out.

    ``tags`` are free words a host attaches (``{"review"}``); ``metadata`` carries what a step
    learned (the sidecar of an upscale, for instance). An export the service can read by URL
    (a presigned object-storage URL, say) is ``Artifact(RemoteVideo(url))``, or the URL as
    text: it is upscaled without being uploaded.
    """

    path: Source
    kind: str = "video"
    tags: frozenset[str] = frozenset()
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Source | None = None
    #: What the upscale step made, typed (a result of the upscale step; None otherwise).
    result: UpscaleResult | None = None
    #: The project (show) and user its tasks are charged to; None: ``--project`` or
    #: ``UPREZ_PROJECT``, and ``UPREZ_USER`` or the login name (budgets, ``uprez spend``).
    project: str | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        self.path = as_source(self.path)

    def upscaled(self, result: UpscaleResult, record: dict[str, Any]) -> Artifact:
        """The result of upscaling this export: its tags plus ``upscaled``, the typed
        ``result``, and the sidecar ``record`` as ``metadata``."""
        return Artifact(
            path=result.output,
            kind="video",
            tags=self.tags | {"upscaled"},
            metadata=record,
            source=self.path,
            result=result,
            project=self.project,
            user=self.user,
        )


@dataclass(frozen=True)
class UpscaleResult:
    """What one upscale made: the facts a host reads (its sidecar holds them all)."""

    output: Path
    task_id: str
    billed_seconds: int
    cost: Decimal
    segments: int
    #: The sidecar beside the output; None when ``output.sidecar`` is off.
    sidecar: Path | None = None
    #: Handed back or copied from an earlier run's result: nothing was spent now.
    reused: bool = False

    @classmethod
    def from_record(
        cls, output: Path, record: Mapping[str, Any], sidecar: Path | None, *, reused: bool
    ) -> UpscaleResult:
        """Read from a sidecar record (``schemas/artifact.schema.json``)."""
        return cls(
            output=output,
            task_id=str(record.get("task_id") or ""),
            billed_seconds=int(record.get("billed_seconds") or 0),
            cost=Decimal(str(record.get("cost") or "0.00")),
            segments=len(record.get("segments") or ()),
            sidecar=sidecar if sidecar is not None and sidecar.exists() else None,
            reused=reused,
        )


@dataclass(frozen=True)
class PostExportContext:
    """What a host knows when it calls ``uprez_post_export``.

    ``host`` names it (``"blender"``, ``"watch"``...); ``config`` and ``pm`` are loaded when
    left out; ``folder`` is the host's own destination, handed to ``uprez_output_path`` (None:
    beside the export); ``options`` go to each step (``resubmit=True``, say)."""

    host: str = "api"
    config: Config | None = None
    #: A :class:`uprez.plugins.PluginManager` (typed by pluggy's base: records import no
    #: plugin machinery).
    pm: pluggy.PluginManager | None = None
    folder: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobEvent:
    """A notice about a job: ``kind`` is one of ``EVENT_KINDS``.

    ``fraction`` is the progress of the current phase (0..1) when known. ``detail`` holds what
    else is known: ``bytes`` and ``total`` of a transfer; ``expected_s``, the service seconds
    a submitted task should take by the rates learned so far (absent with no history); and,
    for each event of a segment, ``segment`` (from 0), ``segments``, its video ``seconds``,
    its ``billed_seconds`` and its ``cost`` (dollars, as text).
    """

    kind: str
    source: Source
    step: str = "upscale"
    task_id: str | None = None
    fraction: float | None = None
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


EVENT_KINDS = ("submitted", "uploading", "processing", "downloading", "completed", "failed")

#: A step's callable: ``run(artifact, config=..., pm=...)`` returns the new artifacts.
StepRunner = Callable[..., list[Artifact]]


@dataclass(frozen=True)
class StepInfo:
    """A step a plugin offers to pipelines (``upscale`` is the built-in one)."""

    name: str
    description: str
    run: StepRunner
    options_schema: dict[str, Any] | None = None
