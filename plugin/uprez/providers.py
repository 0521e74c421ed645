"""The provider contract: everything the upscale step asks of an upscaling backend.

A plugin offers a backend as a :class:`ProviderInfo`; ``factory(config)`` builds a
:class:`Provider`. The step uses exactly what :class:`Provider` declares (no probing of
signatures or attributes). A provider may also be :class:`Funded` (its account's balance is
checked before a run spends), an :class:`Uploader` (segments go up before the first is
paid for; it also takes URL sources) and :class:`Forgetting` (its service's copies of a task
can be deleted once the result is here: ``privacy.delete_after_download``). Subclass
:class:`Provider` to inherit its defaults::

    class InHouse(Provider):
        name = "inhouse"

        def run(self, source, target, *, emit, record=None):
            ...
            return ProviderResult(task_id="farm-1", model="farm/x", output_url="https://farm/x")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from uprez.media.remote import Source

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.journal.tasks import TaskRecord
    from uprez.records import JobEvent

#: The box a result fills when a provider does not say otherwise: 4K UHD.
UHD = (3840, 2160)


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


@runtime_checkable
class Provider(Protocol):
    """An upscaling backend: turns a source video into a local result file."""

    #: The name the config's ``provider.name`` chooses it by.
    name: str

    @property
    def identity(self) -> str:
        """Where its tasks live (a service, an account, a server): journal keys include it, so
        a rerun never waits on a task of another place. Default: its name."""
        return self.name

    @property
    def box(self) -> tuple[int, int]:
        """The (width, height) box its results fill, keeping the source's aspect; a result is
        verified against it unless ``verify.target_size`` says otherwise. Default: 4K UHD."""
        return UHD

    def run(
        self,
        source: Source,
        target: Path,
        *,
        emit: Callable[[JobEvent], None],
        record: TaskRecord | None = None,
    ) -> ProviderResult:
        """Upscale ``source`` into ``target`` (written whole, atomically); report progress by
        ``emit``. ``record`` is the segment's journal record when the journal is on: a provider
        that can keep its uploads and task ids there makes reruns free; others ignore it."""
        ...

    def close(self) -> None:
        """Release what the provider holds (sessions, an in-process server)."""
        ...


@runtime_checkable
class Funded(Protocol):
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

    def upload(
        self, source: Source, *, record: TaskRecord | None, emit: Callable[[JobEvent], None]
    ) -> str:
        """Upload ``source`` unless ``record`` holds a reusable upload (or it is a URL source);
        return the URL the service reads it from."""
        ...


@runtime_checkable
class Forgetting(Protocol):
    """A provider whose service keeps what a task read and made (its input, its output, its
    record) after the result is downloaded, and deletes them when told to. A provider that is
    not one keeps nothing uprez could delete, or cannot say: ``privacy.delete_after_download``
    passes it by."""

    def forget(self, task_ids: Sequence[str]) -> None:
        """Delete these tasks on the service, with their inputs and outputs; a task it no
        longer knows counts as deleted. Raise :class:`~uprez.errors.ServiceError` when the
        service could not be told (it is asked again on a later run)."""
        ...


@dataclass(frozen=True)
class ProviderInfo:
    """An upscaling backend a plugin offers; ``factory(config)`` builds it."""

    name: str
    description: str
    factory: Callable[[Config], Provider]
    options_schema: dict[str, Any] | None = None
