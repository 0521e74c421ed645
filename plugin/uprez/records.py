"""The typed records that pass between uprez, its plugins and host pipelines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from uprez.config import Config


@dataclass
class Artifact:
    """A file a pipeline produced: an export going in, or a result coming out.

    ``tags`` are free words a host attaches (``{"review"}``); ``metadata`` carries what a step
    learned (the sidecar of an upscale, for instance).
    """

    path: Path
    kind: str = "video"
    tags: frozenset[str] = frozenset()
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)


@dataclass(frozen=True)
class JobEvent:
    """A notice about a job: ``kind`` is one of ``EVENT_KINDS``.

    ``fraction`` is the progress of the current phase (0..1) when known.
    """

    kind: str
    source: Path
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


@dataclass(frozen=True)
class ProviderResult:
    """What a provider tells of the job it ran."""

    task_id: str
    model: str
    output_url: str
    inference_ms: int | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderInfo:
    """An upscaling backend a plugin offers; ``factory(config)`` builds it."""

    name: str
    description: str
    factory: Callable[[Config], Provider]
    options_schema: dict[str, Any] | None = None
