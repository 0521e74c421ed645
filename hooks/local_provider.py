"""The ``local`` provider: the stand-in server, run in-process on loopback, driven by the very
same WaveSpeed provider as the real service.

It is put together here, with the built-ins, so that the service client never imports the
stand-in server (the twin must not share the client's beliefs). The in-process server is as
strict as ``uprez serve`` but for one thing: it does not limit submits per minute, where a
user's job would merely wait (and the client does not pace them either).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from uprez.media.geometry import parse_size
from uprez.media.remote import Source
from uprez.providers import ProviderResult
from uprez.standin.settings import ServerSettings
from uprez.wavespeed.provider import Emit, WaveSpeedProvider

if TYPE_CHECKING:
    from decimal import Decimal

    from uprez.config import Config
    from uprez.journal.tasks import TaskRecord
    from uprez.standin.runner import LocalServer  # werkzeug loads when the local provider is used


class LocalProvider:
    """The local stand-in server, run in-process on loopback, driven by the same adapter."""

    name = "local"

    def __init__(self, config: Config) -> None:
        # PyAV and werkzeug load only when the local provider is used.
        from uprez.standin.runner import LocalServer

        settings = ServerSettings(
            max_size=parse_size(config.local.max_size),
            workers=config.local.workers,
            max_duration=config.limits.max_duration,
            speed_factor=config.local.speed_factor,
            mode=config.local.mode,
            # Strict as bronze in all but the per-minute rate, where a job would only wait.
            account_level="bronze",
            submits_per_minute=1_000_000,
        )
        self._server: LocalServer | None = LocalServer(settings).start()
        self._inner = WaveSpeedProvider.from_config(
            config, base_url=self._server.base_url, api_key=settings.api_key, paced=False
        )
        # Its uploads go to this process, on loopback: nothing leaves the machine to audit.
        # Nor does it delete (it is no Forgetting provider): its server and files end with it.
        self._inner.audit_uploads = False

    @property
    def server(self) -> LocalServer:
        """The running in-process server."""
        assert self._server is not None
        return self._server

    @property
    def identity(self) -> str:
        """Which server the tasks live on (it lives as long as this process)."""
        return self._inner.identity

    @property
    def box(self) -> tuple[int, int]:
        """The in-process server's ``local.max_size``."""
        return self.server.settings.max_size

    def check_funds(self, cost: Decimal, price_per_second: Decimal | None = None) -> None:
        """The in-process server's balance, checked as the real one's is."""
        self._inner.check_funds(cost, price_per_second)

    def upload(self, source: Path, *, record: TaskRecord | None, emit: Emit) -> str:
        """Upload ``source`` to the in-process server (see :meth:`WaveSpeedProvider.upload`)."""
        return self._inner.upload(source, record=record, emit=emit)

    def run(
        self, source: Source, target: Path, *, emit: Emit, record: TaskRecord | None = None
    ) -> ProviderResult:
        """Upscale through the in-process server."""
        return self._inner.run(source, target, emit=emit, record=record)

    def close(self) -> None:
        """Stop the server and remove its files."""
        self._inner.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
