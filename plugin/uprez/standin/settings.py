"""What the local stand-in server is told at start-up.

By default the server is as strict as the documented service: the lowest account level (bronze:
2 submits a minute, 2 tasks at once), 100 MB uploads, one known model, uploads fetchable for 24 h.
Leniency is a named setting (``account_level="unlimited"`` for benchmarks), never a default.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from uprez.billing import PriceRule
from uprez.errors import ConfigError
from uprez.protocol import DEFAULT_MODEL, MAX_VIDEO_SECONDS, RETENTION_SECONDS
from uprez.standin.limits import LEVELS
from uprez.standin.signing import random_secret
from uprez.standin.tls import server_context

#: How the server makes its pictures: ``lanczos`` (swscale's Lanczos, fast: the default) or
#: ``learned`` (a small CNN, pyanime4k, several times slower; extra ``uprez[learned]``).
MODES = ("lanczos", "learned")

#: The only hard documented upload limit: 100 MB per file (413 above it).
MAX_UPLOAD_BYTES = 100_000_000


def random_key() -> str:
    """A fresh key for a server started without one."""
    return "uprez-local-" + secrets.token_hex(16)


@dataclass
class ServerSettings:
    """Settings of one local server.

    ``max_size`` is the box a video is fitted in (landscape; portrait inputs get it transposed).
    ``workers`` bounds the tasks processed at once; the account level may bound them further,
    and further tasks queue as ``created``. ``account_level`` is one of
    :data:`uprez.standin.limits.LEVELS` (``bronze``, ``silver``, ``gold``, ``unlimited``);
    ``submits_per_minute`` and
    ``concurrent_tasks``, when given, override the level's. ``models`` are the model ids the
    server answers to (any other path is a 404). ``mode`` is one of :data:`MODES`. Settings that
    cannot run raise ConfigError when made, so a server refuses to start rather than failing
    every task.
    """

    api_key: str = field(default_factory=random_key)
    max_size: tuple[int, int] = (3840, 2160)
    workers: int = 2
    max_duration: float = MAX_VIDEO_SECONDS
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    # The account's level and its limits (see uprez.standin.limits).
    account_level: str = "bronze"
    submits_per_minute: int | None = None
    concurrent_tasks: int | None = None
    # Longest an ``enable_sync_mode`` POST is held open before answering "still processing" (5004).
    sync_timeout: float = 120.0
    # Largest upload accepted by every upload route, in bytes (413 above it).
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    # Largest input a task fetches over HTTP, in bytes (the task fails above it).
    max_fetch_bytes: int = 4 * 1024**3
    # How long an uploaded file's download_url stays fetchable, in seconds. Undocumented for
    # the real service; one official client trusts it for 24 h only.
    upload_lifetime: float = 24 * 3600.0
    # Starting balance in USD; each completed task is charged by ``price``.
    balance: Decimal = Decimal("1000.00")
    price: PriceRule = field(default_factory=PriceRule)
    # How long an upload ticket's PUT URL stays valid.
    upload_ticket_seconds: float = 3600.0
    retention_seconds: float = RETENTION_SECONDS
    # The secret webhooks are signed with (GET /api/v3/webhook/secret tells it to key holders).
    webhook_secret: str = field(default_factory=random_secret)
    # A client that sends nothing for this long (seconds) loses its connection.
    socket_timeout: float = 30.0
    # Connections served at once on each port; more are answered 503 and closed.
    max_connections: int = 64
    # Simulated service time: a task takes at least this many seconds per second of video
    # (0: as fast as the upscale runs). Lets benchmarks show what parallel segments save.
    speed_factor: float = 0.0
    # Every task takes at least this long, whatever its video (benchmarks of polling).
    task_seconds: float = 0.0
    # N > 0 replaces the upscale by a copy: the output is the input's bytes N times over, not
    # probed (benchmarks of the client's overhead, where the service's work must not count).
    copy_factor: int = 0
    # N > 0 replaces the upscale by the input's own streams copied into a fresh MP4, padded
    # with a ``free`` box to N times the input's size: a valid video of the input's frames,
    # duration and sound with a 4K result's bytes, for benchmarks of time-to-4K where the
    # service's time is ``speed_factor``'s (uprez.standin.passthrough). Billed as normal.
    passthrough: int = 0
    # The studio's link, played by every port (uprez.standin.link). None/0: not shaped.
    # Bytes a second of the client's uploads (ticket PUTs, multipart upload bodies), shared
    # by all connections; the server's own fetch of its uploads is not the studio's traffic.
    bandwidth_up: float | None = None
    # Bytes a second of the client's downloads from the storage and CDN hosts, all shared.
    bandwidth_down: float | None = None
    # Seconds every request on every port waits before it is answered (once per request).
    latency: float = 0.0
    # x264 settings of the local upscale.
    preset: str = "veryfast"
    crf: int = 18
    # How frames are scaled: "lanczos" or "learned" (see MODES).
    mode: str = "lanczos"
    # The server's idea of "now" (unix seconds): upload expiry, rate windows, webhook timestamps.
    clock: Callable[[], float] = time.time
    # HTTPS on every port: the certificate chain (PEM, leaf first) and its private key (None:
    # in the certificate's file). None: plain HTTP.
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            choices = ", ".join(f'"{mode}"' for mode in MODES)
            raise ConfigError(f"mode {self.mode!r} is not one of {choices}")
        if self.account_level not in LEVELS:
            raise ConfigError(
                f"account level {self.account_level!r} is not one of {', '.join(LEVELS)}"
            )
        for name in ("submits_per_minute", "concurrent_tasks"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
        for name in ("workers", "max_upload_bytes", "max_connections"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        self._check_link()
        self._check_simulation()
        if not self.models or not all(isinstance(m, str) and m.strip("/") for m in self.models):
            raise ConfigError("models must name at least one model id")
        self.models = tuple(m.strip("/") for m in self.models)
        if self.tls_key is not None and self.tls_cert is None:
            raise ConfigError("tls_key needs tls_cert, the certificate it goes with")
        if self.tls_cert is not None:
            server_context(self.tls_cert, self.tls_key)  # a bad file refuses to start
        if self.mode == "learned":
            from uprez.standin.learned import load_backend  # the learned extra, if installed

            load_backend()

    def _check_link(self) -> None:
        for name in ("bandwidth_up", "bandwidth_down"):
            value = getattr(self, name)
            if value is not None and not _is_number(value, above=0.0):
                raise ConfigError(
                    f"{name} must be a number of bytes a second above 0, not {value!r}"
                )
        if not _is_number(self.latency, at_least=0.0):
            raise ConfigError(
                f"latency must be a number of seconds, 0 or more, not {self.latency!r}"
            )

    def _check_simulation(self) -> None:
        for name in ("speed_factor", "task_seconds"):
            if not _is_number(getattr(self, name), at_least=0.0):
                raise ConfigError(
                    f"{name} must be a number, 0 or more, not {getattr(self, name)!r}"
                )
        for name in ("copy_factor", "passthrough"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a whole number, 0 or more, not {value!r}")
        if self.copy_factor and self.passthrough:
            raise ConfigError("copy_factor and passthrough are two outputs: set one of them")

    @property
    def rate_limit(self) -> int | None:
        """Submits accepted in any 60 s (None: no limit; see uprez.standin.limits)."""
        if self.submits_per_minute is not None:
            return self.submits_per_minute
        return LEVELS[self.account_level].submits_per_minute

    @property
    def concurrency(self) -> int:
        """Tasks processed at once: the account's limit, within the server's workers."""
        limit = self.concurrent_tasks or LEVELS[self.account_level].concurrent_tasks
        return min(self.workers, limit) if limit is not None else self.workers

    def __repr__(self) -> str:  # the key and the webhook secret stay out of every repr
        return (
            f"ServerSettings(max_size={self.max_size!r}, workers={self.workers}, "
            f"max_duration={self.max_duration}, mode={self.mode!r}, "
            f"account_level={self.account_level!r}, api_key=<redacted>)"
        )


def _is_number(value: object, *, above: float | None = None, at_least: float | None = None) -> bool:
    """Whether ``value`` is a finite int or float (not a bool) within the bound given."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    if above is not None and not value > above:
        return False
    return at_least is None or value >= at_least
