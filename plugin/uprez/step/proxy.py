"""What is sent to the service for a master: a proxy made for it, and how it is planned.

The service takes 8-bit H.264 best, and at most ``limits.max_upload_bytes`` a file. A source it
would not take as it is (ProRes, DNxHR, 10-bit or 4:2:2, alpha, a variable frame rate, MXF: see
:attr:`uprez.media.master.Master.service_ready`) is sent as a proxy: every frame, in order,
encoded with x264 at ``master.proxy_crf`` (a quality that keeps what the upscale can use), at a
constant frame rate, its colour tags, pixel aspect and rotation carried. The proxy's size is not
known before it is made, so segments are planned from :data:`BITS_PER_PIXEL`; a cut that turns
out over the limit is planned again smaller before anything is uploaded — a proxy is cut into
more segments, never given fewer bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.master import Master
    from uprez.media.probe import Probe

__all__ = ["BITS_PER_PIXEL", "Proxy", "planned_bytes", "proxy_for"]

#: Bits a proxy frame is planned to take per pixel: x264 at CRF 12 on detailed 1080p footage
#: (film grain, foliage) rarely needs more; flat CG takes a fraction of it.
BITS_PER_PIXEL = 0.5


@dataclass(frozen=True)
class Proxy:
    """How a master's proxy is encoded: ``fps`` is the constant rate its frames are sent at
    (a variable-frame-rate source's frames get their own times back in the conform)."""

    crf: int
    preset: str
    fps: Fraction

    def key(self) -> str:
        """What makes two proxies of one source differ (work folders are keyed by it)."""
        return f"proxy:crf{self.crf}:{self.preset}:{self.fps}"

    def to_json(self) -> dict[str, object]:
        """For the sidecar."""
        return {
            "codec": "h264",
            "crf": self.crf,
            "preset": self.preset,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
        }


def proxy_for(master: Master | None, info: Probe, config: Config) -> Proxy | None:
    """The proxy a file source is sent as (None: it goes as it is), by ``master.proxy``."""
    mode = config.master.proxy
    if master is None or mode == "never":
        return None
    if mode == "auto" and master.service_ready:
        return None
    section = config.master
    return Proxy(section.proxy_crf, section.proxy_preset, info.fps)


def planned_bytes(info: Probe) -> int:
    """What a proxy of ``info`` is planned to weigh."""
    return int(info.width * info.height * info.frames * BITS_PER_PIXEL / 8)
