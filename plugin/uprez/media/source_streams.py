"""The source's audio and subtitle streams in a joined MP4: copied when MP4 can carry them, else
converted (audio to AAC, text subtitles to ``mov_text``); picture subtitles are left out.

They are taken from the original source rather than the upscaled parts, so the sound is
continuous and in sync across the joins, whatever the service did to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import av
from av.container import InputContainer, OutputContainer
from av.subtitles.codeccontext import SubtitleCodecContext
from av.subtitles.subtitle import SubtitleSet

from uprez.media.audio import add_audio_stream
from uprez.media.keyframes import skip_other_streams

__all__ = ["TEXT_SUBTITLE_CODECS", "SourceStreams", "Timed"]

# The name segment cutting and joining have always logged under (callers filter by it).
log = logging.getLogger("uprez.media.segments")

#: Text subtitle codecs written to MP4 as ``mov_text``; picture subtitles are left out.
TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "text", "mov_text"})

Timed = tuple[float, "av.Packet[Any]"]
"""A packet to mux with its time in seconds: what the joined file's writer merges in order."""


class SourceStreams:
    """The source's audio and subtitle streams, copied or converted for MP4, each with its
    language and title. ``mov`` writes a QuickTime file, which carries every audio codec as it
    is. ``reencoded`` names the audio tracks that had to be converted (for a sidecar)."""

    def __init__(self, inp: InputContainer, out: OutputContainer, *, mov: bool = False) -> None:
        self.inp = inp
        self.copied: dict[int, av.stream.Stream] = {}
        self.audio: dict[int, av.AudioStream] = {}
        self.text: dict[int, SubtitleCodecContext] = {}
        self.reencoded: list[str] = []
        for audio in inp.streams.audio:
            if mov:
                stream: av.stream.Stream = out.add_stream_from_template(audio)
                encode = False
            else:
                stream, encode = add_audio_stream(out, audio)
            for key in ("language", "title"):
                if key in audio.metadata:
                    stream.metadata[key] = audio.metadata[key]
            if encode:
                assert isinstance(stream, av.AudioStream)
                self.audio[audio.index] = stream
                self.reencoded.append(f"audio track {audio.index} ({audio.codec_context.name})")
            else:
                self.copied[audio.index] = stream
        for sub in inp.streams.subtitles:
            name, header = sub.codec_context.name, None
            if name == "mov_text":
                self.copied[sub.index] = out.add_stream_from_template(sub)
                continue
            if name in TEXT_SUBTITLE_CODECS:
                sub.codec_context.open(strict=False)  # its decoder gives the ASS header
                header = sub.codec_context.subtitle_header
            if header is None:
                log.warning("subtitle stream %d (%s) cannot go into MP4: left out", sub.index, name)
                continue
            mov_text = out.add_stream("mov_text")
            assert isinstance(mov_text.codec_context, SubtitleCodecContext)
            mov_text.codec_context.subtitle_header = header
            self.copied[sub.index], self.text[sub.index] = mov_text, mov_text.codec_context

    def packets(self) -> Iterator[Timed]:
        """The packets to mux, in the source's order, each with its time in seconds."""
        wanted = [self.inp.streams[i] for i in (*self.copied, *self.audio)]
        if not wanted:
            return
        skip_other_streams(self.inp, *wanted)  # the source's video is not read at all
        seconds = {s.index: float(s.time_base or 0) for s in wanted}
        for packet in self.inp.demux(*wanted):
            stamp = packet.dts if packet.dts is not None else packet.pts
            if not packet.size or stamp is None:
                continue
            index = packet.stream.index
            when = stamp * seconds[index]
            if index in self.audio:
                for frame in packet.decode():
                    assert isinstance(frame, av.AudioFrame)
                    yield from ((when, p) for p in self.audio[index].encode(frame))
            elif index in self.text:
                yield from ((when, p) for p in self._subtitle(packet, self.copied[index]))
            else:
                packet.stream = self.copied[index]
                yield when, packet

    def _subtitle(self, packet: av.Packet[Any], stream: av.stream.Stream) -> list[av.Packet[Any]]:
        """A text subtitle re-encoded as ``mov_text``, at its source time."""
        decoded = packet.stream.codec_context.decode2(packet)
        encoded = []
        for rect in decoded or ():
            cue = SubtitleSet.create(rect.ass, 0, packet.duration or 0, pts=packet.pts or 0)
            result = self.text[stream.index].encode_subtitle(cue)
            result.time_base, result.stream = packet.time_base, stream
            encoded.append(result)
        return encoded

    def flush(self) -> list[av.Packet[Any]]:
        """What the AAC encoders still hold."""
        return [p for stream in self.audio.values() for p in stream.encode(None)]
