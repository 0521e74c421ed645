"""The typed records that pass between uprez, its plugins and host pipelines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from uprez.media.remote import Source, as_source

if TYPE_CHECKING:
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

    def __post_init__(self) -> None:
        self.path = as_source(self.path)

    def upscaled(self, output: Path, metadata: dict[str, Any]) -> Artifact:
        """The result of upscaling this export into ``output``: its tags plus ``upscaled``, and
        what the step learned (the sidecar) as ``metadata``."""
        return Artifact(
            path=output,
            kind="video",
            tags=self.tags | {"upscaled"},
            metadata=metadata,
            source=self.path,
        )


@dataclass(frozen=True)
class JobEvent:
    """A notice about a job: ``kind`` is one of ``EVENT_KINDS``.

    ``fraction`` is the progress of the current phase (0..1) when known.
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


class Provider(Protocol):
    """An upscaling backend: turns a local source video into a local result file."""

    name: str

    def run(
        self, source: Path, target: Path, *, emit: Callable[[JobEvent], None]
    ) -> ProviderResult:
        """Upscale ``source`` into ``target`` (written atomically); report progress by ``emit``."""
        ...

    def close(self) -> None:
        """Release what the provider holds (sessions, an in-process server)."""
        ...


@runtime_checkable
class FundedProvider(Protocol):
    """A provider backed by an account whose balance can be read before spending."""

    def check_funds(self, cost: Decimal, price_per_second: Decimal | None = None) -> None:
        """Raise :class:`~uprez.errors.BudgetError` if the account cannot pay ``cost``."""
        ...


@runtime_checkable
class Uploader(Protocol):
    """A journaled provider that can upload a segment ahead of submitting it, so that every
    segment of a job is on the service before the first one is paid for. Its service reads
    inputs by URL: it also takes a :class:`~uprez.media.remote.RemoteVideo` source (in
    ``upload`` and ``run``), which it submits as that URL."""

    def upload(self, source: Source, *, record: Any, emit: Callable[[JobEvent], None]) -> str:
        """Upload ``source`` unless ``record`` holds a reusable upload (or it is a URL source);
        return the URL the service reads it from."""
        ...


@dataclass(frozen=True)
class ProviderResult:
    """What a provider tells of the job it ran."""

    task_id: str
    model: str
    output_url: str
    inference_ms: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # The service's ``has_nsfw_contents``: one flag per output, when it says.
    nsfw: tuple[bool, ...] = ()


@dataclass(frozen=True)
class ProviderInfo:
    """An upscaling backend a plugin offers; ``factory(config)`` builds it."""

    name: str
    description: str
    factory: Callable[[Config], Provider]
    options_schema: dict[str, Any] | None = None
