"""The codecs a result can be written in, and which one ``output.codec = "auto"`` gives a source.

The service returns 8-bit H.264. A delivery-codec source gets that as it is (``h264``: the
service's video is copied, never encoded again). A mezzanine master gets its own codec family
and profile back at 4K: ProRes stays ProRes of that profile and DNxHR stays DNxHR, in MOV. An
explicit choice encodes the service's result into that codec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["CODECS", "OutputCodec", "auto_codec", "output_codec", "source_extension"]


@dataclass(frozen=True)
class OutputCodec:
    """How a result is written: ``encoder`` None copies the service's H.264 untouched."""

    name: str
    encoder: str | None
    format: str
    profile: str | None = None
    pix_fmt: str | None = None
    #: The pixel format when the source has alpha (None: this codec cannot carry alpha).
    alpha_pix_fmt: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def ext(self) -> str:
        """The result's file extension."""
        return ".mov" if self.format == "mov" else ".mp4"

    @property
    def mezzanine(self) -> bool:
        """An intra-frame editing codec (ProRes, DNxHR)."""
        return self.encoder in ("prores_ks", "dnxhd")


def _prores(name: str, profile: int, pix_fmt: str, alpha: str | None = None) -> OutputCodec:
    # prores_ks names its profiles 0..5 (proxy .. 4444xq); "ap10"/"apch"... come from them.
    return OutputCodec(
        name, "prores_ks", "mov", str(profile), pix_fmt, alpha, (("vendor", "apl0"),)
    )


def _dnxhr(name: str, pix_fmt: str) -> OutputCodec:
    return OutputCodec(name, "dnxhd", "mov", name, pix_fmt)


#: Every explicit ``output.codec``.
CODECS: dict[str, OutputCodec] = {
    "h264": OutputCodec("h264", None, "mp4"),
    "hevc": OutputCodec(
        "hevc",
        "libx265",
        "mp4",
        None,
        "yuv420p10le",
        options=(("crf", "16"), ("preset", "fast"), ("x265-params", "log-level=error")),
    ),
    "prores_proxy": _prores("prores_proxy", 0, "yuv422p10le"),
    "prores_lt": _prores("prores_lt", 1, "yuv422p10le"),
    "prores_422": _prores("prores_422", 2, "yuv422p10le"),
    "prores_422hq": _prores("prores_422hq", 3, "yuv422p10le"),
    "prores_4444": _prores("prores_4444", 4, "yuv444p10le", "yuva444p10le"),
    "prores_4444xq": _prores("prores_4444xq", 5, "yuv444p10le", "yuva444p10le"),
    "dnxhr_lb": _dnxhr("dnxhr_lb", "yuv422p"),
    "dnxhr_sq": _dnxhr("dnxhr_sq", "yuv422p"),
    "dnxhr_hq": _dnxhr("dnxhr_hq", "yuv422p"),
    "dnxhr_hqx": _dnxhr("dnxhr_hqx", "yuv422p10le"),
    "dnxhr_444": _dnxhr("dnxhr_444", "yuv444p10le"),
}

# FFmpeg's names of the decoders' profiles, as PyAV reports them, to our codec names.
_PRORES_PROFILES = {
    "proxy": "prores_proxy",
    "lt": "prores_lt",
    "standard": "prores_422",
    "hq": "prores_422hq",
    "4444": "prores_4444",
    "xq": "prores_4444xq",
}
_DNXHR_PROFILES = {
    "dnxhr lb": "dnxhr_lb",
    "dnxhr sq": "dnxhr_sq",
    "dnxhr hq": "dnxhr_hq",
    "dnxhr hqx": "dnxhr_hqx",
    "dnxhr 444": "dnxhr_444",
}


def auto_codec(codec: str, profile: str | None, bits: int = 8) -> OutputCodec:
    """What ``"auto"`` gives a source of ``codec`` (FFmpeg's decoder name) and ``profile``.

    DNxHD (the HD-only family) becomes DNxHR of its depth, the one that exists at 4K; a
    ProRes or DNxHR whose profile is not told keeps its family at its usual master profile
    (422 HQ, DNxHR HQX at 10 bits, else HQ)."""
    name = (profile or "").strip().lower()
    if codec == "prores":
        return CODECS[_PRORES_PROFILES.get(name, "prores_422hq")]
    if codec == "dnxhd":
        if name in _DNXHR_PROFILES:
            return CODECS[_DNXHR_PROFILES[name]]
        return CODECS["dnxhr_hqx" if bits > 8 else "dnxhr_hq"]
    return CODECS["h264"]


def output_codec(choice: str, codec: str, profile: str | None, bits: int = 8) -> OutputCodec:
    """The codec a result is written in: ``choice`` (``output.codec``), ``"auto"`` deciding
    from the source's ``codec``, ``profile`` and bit depth."""
    if choice == "auto":
        return auto_codec(codec, profile, bits)
    return CODECS[choice]


def source_extension(path: str | os.PathLike[str]) -> str:
    """The extension ``"auto"`` gives the result of the file at ``path``, from its headers:
    ``.mov`` for a ProRes or DNxHR master, else ``.mp4`` (also for a file FFmpeg cannot read:
    it is refused later, with its reason)."""
    import av

    try:
        with av.open(os.fspath(path), metadata_errors="replace") as container:
            stream = next(iter(container.streams.video), None)
            if stream is None:
                return ".mp4"
            ctx = stream.codec_context
            return auto_codec(ctx.name, ctx.profile).ext
    except (av.FFmpegError, OSError, ValueError, UnicodeError):
        return ".mp4"
