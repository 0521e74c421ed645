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
    from uprez.media.image_sequence import ImageSequence
    from uprez.media.master import Master
    from uprez.media.ocio import ViewTransform
    from uprez.media.probe import Probe

__all__ = ["BITS_PER_PIXEL", "Proxy", "planned_bytes", "proxy_for", "sequence_proxy"]

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
    #: The view a scene-linear sequence is shown to the service through (None: sent as it is).
    colour: ViewTransform | None = None

    def key(self) -> str:
        """What makes two proxies of one source differ (work folders are keyed by it)."""
        view = "" if self.colour is None else f":{self.colour.source}>{self.colour.view}"
        return f"proxy:crf{self.crf}:{self.preset}:{self.fps}{view}"

    def to_json(self) -> dict[str, object]:
        """For the sidecar."""
        record: dict[str, object] = {
            "codec": "h264",
            "crf": self.crf,
            "preset": self.preset,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
        }
        if self.colour is not None:
            record["colour"] = self.colour.to_json()
        return record


def proxy_for(master: Master | None, info: Probe, config: Config) -> Proxy | None:
    """The proxy a file source is sent as (None: it goes as it is), by ``master.proxy``."""
    mode = config.master.proxy
    if master is None or mode == "never":
        return None
    if mode == "auto" and master.service_ready:
        return None
    section = config.master
    return Proxy(section.proxy_crf, section.proxy_preset, info.fps)


def sequence_proxy(seq: ImageSequence, info: Probe, config: Config) -> Proxy:
    """The proxy of an image sequence: always one (frames are not video). A scene-linear
    sequence (EXR) is made through the OCIO view ``colour.*`` chooses; every name in it is
    checked here, before anything is spent."""
    from uprez.media.sequence import describe_sequence  # PyAV

    section = config.master
    colour = None
    # Its frames were checked frame by frame at admission: the first one tells the rest.
    if describe_sequence(seq, check_frames=False).scene_linear:
        from uprez.media.ocio import require_invertible, view_transform  # OpenColorIO

        colour = view_transform(config.colour)
        if config.sequence.output == "auto":  # frames come back in the source's colourspace
            require_invertible(colour)
    return Proxy(section.proxy_crf, section.proxy_preset, info.fps, colour)


def planned_bytes(info: Probe) -> int:
    """What a proxy of ``info`` is planned to weigh."""
    return int(info.width * info.height * info.frames * BITS_PER_PIXEL / 8)
