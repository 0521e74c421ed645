"""The passthrough output: the input's own streams in a fresh MP4, padded to a 4K result's size.

For benchmarks of time-to-4K, where the service's work is simulated (``speed_factor``) but the
bytes moved must be realistic: a real 4K result is several times the bytes of its 1080p input,
and upscaling here would cost the benchmark's machine what the service's would not. The video
and audio packets are copied as they are — the same frames, frame rate, duration and sound, so
the client's checks of a result pass — and a top-level MP4 ``free`` box after them brings the
file to ``factor`` times the input's size. Readers skip ``free`` boxes by definition; the
padding is written as a sparse extension of the file, so it costs no disk time to make.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import av

from uprez.errors import MediaError
from uprez.media.audio import add_audio_stream
from uprez.media.av_errors import AV_ERRORS
from uprez.media.probe import is_cover_art

log = logging.getLogger(__name__)

_BOX_HEADER = 8  # 32-bit size and type


def passthrough_file(
    source: Path, target: Path, factor: int, *, rotation: int = 0, keep_audio: bool = True
) -> int:
    """Write ``source``'s video (and, with ``keep_audio``, its audio) into an MP4 at ``target``
    without re-encoding the picture, padded to ``factor`` times ``source``'s size; return the
    size written. Audio MP4 cannot carry is re-encoded as AAC, as the upscale does; the
    source's display ``rotation`` (degrees, from its probe) is kept.

    Raises:
        MediaError: ``source`` has no video, or its video cannot be copied into MP4.
    """
    try:
        _remux(source, target, rotation, keep_audio)
    except MediaError:
        raise
    except AV_ERRORS as exc:
        raise MediaError(f"could not copy {source} into MP4: {exc}", path=str(source)) from exc
    return pad_with_free_box(target, factor * source.stat().st_size)


def pad_with_free_box(path: Path, size: int) -> int:
    """Append one top-level ``free`` box so ``path`` is ``size`` bytes (left as it is when
    there is no room for a box's header); return the file's size."""
    have = path.stat().st_size
    room = size - have
    if room < _BOX_HEADER:
        return have
    with path.open("r+b") as out:
        out.seek(have)
        if room <= 0xFFFFFFFF:
            out.write(struct.pack(">I4s", room, b"free"))
        else:  # over 4 GiB of padding: a box with a 64-bit size
            out.write(struct.pack(">I4sQ", 1, b"free", room))
        out.truncate(size)  # zeros, sparse on disk: the box's payload
    return size


def _remux(source: Path, target: Path, rotation: int, keep_audio: bool) -> None:
    with (
        av.open(os.fspath(source), metadata_errors="replace") as inp,
        av.open(os.fspath(target), "w", format="mp4") as out,
    ):
        video = next((s for s in inp.streams.video if not is_cover_art(s)), None)
        if video is None:
            raise MediaError(f"{source} has no video stream", path=str(source))
        picture = out.add_stream_from_template(video)
        if rotation:
            picture.set_display_rotation(rotation)
        # Input audio stream index -> (output stream, whether it is re-encoded).
        audio: dict[int, tuple[av.AudioStream, bool]] = {}
        if keep_audio:
            for sound in inp.streams.audio:
                audio[sound.index] = add_audio_stream(out, sound)
        sounds = [s for s in inp.streams.audio if s.index in audio]
        for packet in inp.demux(video, *sounds):
            index = packet.stream.index
            if index != video.index and audio[index][1]:  # audio MP4 cannot carry: AAC
                for frame in packet.decode():
                    if isinstance(frame, av.AudioFrame):
                        out.mux(audio[index][0].encode(frame))
            elif packet.size and packet.dts is not None:
                packet.stream = picture if index == video.index else audio[index][0]
                out.mux(packet)
        for stream, transcode in audio.values():
            if transcode:
                out.mux(stream.encode(None))
    log.debug("copied %s into %s", source, target)
