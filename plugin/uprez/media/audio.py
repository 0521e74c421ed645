"""Audio for MP4 outputs: copied when MP4 can carry it, re-encoded as AAC when not."""

from __future__ import annotations

import logging

import av
from av.container import OutputContainer

log = logging.getLogger(__name__)

#: Audio codecs copied into the MP4 as they are; any other audio is re-encoded as AAC.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "opus", "ac3", "eac3"})
_AAC_BIT_RATE_PER_CHANNEL = 96_000


def add_audio_stream(out: OutputContainer, stream: av.AudioStream) -> tuple[av.AudioStream, bool]:
    """Add an output stream for ``stream``: a copy when MP4 can carry its codec, else AAC.

    Returns the new stream and whether it re-encodes (decoded frames go to its ``encode``)
    rather than taking ``stream``'s packets as they are.
    """
    name = stream.codec_context.name
    if name in MP4_AUDIO_CODECS:
        try:
            return out.add_stream_from_template(stream), False
        except ValueError:
            log.info("audio stream %d (%s) cannot be copied into MP4", stream.index, name)
    log.info("audio stream %d (%s) will be re-encoded as AAC", stream.index, name)
    aac = out.add_stream("aac", rate=stream.sample_rate or 48000)
    # The AAC encoder refuses a layout without channel order ("1 channels", from Matroska PCM).
    unordered = stream.layout.name.endswith("channels")
    aac.layout = ("mono" if stream.channels == 1 else "stereo") if unordered else stream.layout
    aac.bit_rate = _AAC_BIT_RATE_PER_CHANNEL * max(1, stream.channels)
    return aac, True
