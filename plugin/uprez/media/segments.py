"""Cut a video into segments and join upscaled segments back, with the source's own sound.

The upscale service takes at most 600 s of video at a time, so a longer video is cut into
segments (:func:`cut_segment`, in :mod:`uprez.media.cut`), each is upscaled, and the results are
joined again (:func:`concat_with_source_audio`, in :mod:`uprez.media.join`). The join copies the
video packets (no re-encode), numbers the frames one after another at exactly ``1/fps`` each,
and takes every audio and subtitle stream from the original source
(:mod:`uprez.media.source_streams`), so the sound is continuous and stays in sync across the
joins.

Frames are counted in presentation order from 0, as in :mod:`uprez.media.keyframes`. Outputs are
always MP4, written in place: write to a temporary name and rename it when readers must never
see a partial file. Packets stream one at a time, so memory stays flat however long the video
(only a few integers per frame are kept, to put the frames in order).

This module is the one name callers import both halves by; it holds no code of its own.
"""

from __future__ import annotations

from uprez.media.cut import cut_segment
from uprez.media.join import concat_with_source_audio, join_as_they_come
from uprez.media.source_streams import TEXT_SUBTITLE_CODECS

__all__ = ["TEXT_SUBTITLE_CODECS", "concat_with_source_audio", "cut_segment", "join_as_they_come"]
