"""An image sequence as the rest of uprez sees a video: a :class:`~uprez.media.probe.Probe`.

A sequence has no container: its frame count is its frames, its frame rate the one it was given
(``--fps``, ``sequence.fps``, the host's), its picture what its first frame holds.
"""

from __future__ import annotations

from uprez.errors import InputError
from uprez.media.image_sequence import ImageSequence
from uprez.media.probe import Probe

__all__ = ["probe_sequence"]


def probe_sequence(seq: ImageSequence) -> Probe:
    """``seq`` described as a video (no sound): its frames at its frame rate.

    Raises:
        InputError: the sequence has no frame rate.
        MediaError: its first frame cannot be read.
    """
    from uprez.media.sequence import describe_sequence  # PyAV

    if not seq.fps:
        raise InputError(
            f"{seq}: a sequence has no frame rate of its own: give --fps, sequence.fps in the "
            "config, or the host's (the pyblish instance's fps, the Blender scene's); nothing "
            "was spent",
            path=str(seq),
        )
    info = describe_sequence(seq)
    return Probe(
        path=str(seq),
        duration=float(seq.count / seq.fps),
        fps=seq.fps,
        width=info.width,
        height=info.height,
        frames=seq.count,
        video_codec=info.codec,
        audio_streams=0,
        audio_codecs=(),
        subtitle_streams=0,
        size_bytes=info.size_bytes,
        format_name="image2",
    )
