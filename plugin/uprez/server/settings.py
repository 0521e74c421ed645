"""What the local stand-in server is told at start-up."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from uprez.billing import PriceRule
from uprez.errors import ConfigError
from uprez.protocol import MAX_VIDEO_SECONDS, RETENTION_SECONDS

#: How the server makes its pictures: ``lanczos`` (swscale's Lanczos, fast: the default) or
#: ``learned`` (a small CNN, pyanime4k, several times slower; extra ``uprez[learned]``).
MODES = ("lanczos", "learned")


def random_key() -> str:
    """A fresh key for a server started without one."""
    return "uprez-local-" + secrets.token_hex(16)


@dataclass
class ServerSettings:
    """Settings of one local server.

    ``max_size`` is the box a video is fitted in (landscape; portrait inputs get it transposed).
    ``workers`` bounds the tasks processed at once; further tasks queue as ``created``.
    ``mode`` is one of :data:`MODES`. Settings that cannot run raise ConfigError when made, so a
    server refuses to start rather than failing every task.
    """

    api_key: str = field(default_factory=random_key)
    max_size: tuple[int, int] = (3840, 2160)
    workers: int = 2
    max_duration: float = MAX_VIDEO_SECONDS
    # Longest an ``enable_sync_mode`` POST is held open before answering "still processing" (5004).
    sync_timeout: float = 120.0
    # Largest upload accepted by the ticket and binary flows, in bytes.
    max_upload_bytes: int = 4 * 1024**3
    # Largest input fetched from a remote URL, in bytes.
    max_fetch_bytes: int = 4 * 1024**3
    # Starting balance in USD; each completed task is charged by ``price``.
    balance: Decimal = Decimal("1000.00")
    price: PriceRule = field(default_factory=PriceRule)
    # How long an upload ticket's PUT URL stays valid.
    upload_ticket_seconds: float = 3600.0
    retention_seconds: float = RETENTION_SECONDS
    # Simulated service time: a task takes at least this many seconds per second of video
    # (0: as fast as the upscale runs). Lets benchmarks show what parallel segments save.
    speed_factor: float = 0.0
    # Every task takes at least this long, whatever its video (benchmarks of polling).
    task_seconds: float = 0.0
    # N > 0 replaces the upscale by a copy: the output is the input's bytes N times over, not
    # probed (benchmarks of the client's overhead, where the service's work must not count).
    copy_factor: int = 0
    # x264 settings of the local upscale.
    preset: str = "veryfast"
    crf: int = 18
    # How frames are scaled: "lanczos" or "learned" (see MODES).
    mode: str = "lanczos"
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            choices = ", ".join(f'"{mode}"' for mode in MODES)
            raise ConfigError(f"mode {self.mode!r} is not one of {choices}")
        if self.mode == "learned":
            from uprez.media.learned import load_backend

            load_backend()

    def __repr__(self) -> str:  # the key stays out of every repr
        return (
            f"ServerSettings(max_size={self.max_size!r}, workers={self.workers}, "
            f"max_duration={self.max_duration}, mode={self.mode!r}, api_key=<redacted>)"
        )
