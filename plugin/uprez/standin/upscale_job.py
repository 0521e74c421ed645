"""One upscale conversion: the output streams, and the two-thread pipeline that feeds them.

A reading thread demuxes, decodes and scales (Lanczos, then the learned network if asked) while
this one encodes and writes, through a queue of a few frames, so both cores stay busy and memory
stays flat. Output frames are numbered on an exact ``1/fps`` grid from the source's timestamps,
so the frame rate is exact and copied audio stays in sync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeAlias

import av
from av.container import InputContainer, OutputContainer
from av.stream import Stream
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from uprez.media.audio import add_audio_stream
from uprez.media.prefetch import Prefetch
from uprez.media.probe import Probe, is_cover_art
from uprez.standin.learned import LearnedScaler
from uprez.standin.tamper import Tamper

__all__ = ["ProgressCallback", "UpscaleJob"]

#: Called as ``progress(frames_done, frames_total)`` after each video frame is encoded.
ProgressCallback = Callable[[int, int], None]

_INTERPOLATION = "LANCZOS"
# Frames (or audio) the reading thread may run ahead of the encoder: enough to keep both busy,
# few enough that memory stays flat (a 4K frame is 12 MB; x264 holds its own few dozen).
_QUEUE_DEPTH = 4
_AVCOL_SPC_BT709 = 1  # the colour-matrix tag matching what swscale writes with Colorspace.ITU709


class UpscaleJob:
    """One conversion: the output streams and the single demux loop that feeds them."""

    def __init__(
        self,
        inp: InputContainer,
        out: OutputContainer,
        source: Probe,
        size: tuple[int, int],
        preset: str,
        crf: int,
        threads: int,
        progress: ProgressCallback | None,
        learned: LearnedScaler | None = None,
        tamper: Tamper | None = None,
    ) -> None:
        self.inp = inp
        self.out = out
        self.total = source.frames
        self.width, self.height = size
        self.threads = threads
        self.progress = progress
        self.done = 0
        self.last_slot: int | None = None

        self.src_video = next(s for s in inp.streams.video if not is_cover_art(s))
        self.src_video.thread_type = "AUTO"
        self.src_time_base = self.src_video.time_base
        self.fps = source.fps
        # Output timestamps count frames: one tick of 1/fps per frame.
        self.time_base = 1 / source.fps
        pixels = self.src_video.codec_context.format
        self.rgb_source = pixels is not None and (pixels.is_rgb or pixels.name == "pal8")
        self.video = self._add_video(source.rotation, preset, crf)
        self.reformatter = VideoReformatter()
        # The learned mode's network, which redoes the luma of each Lanczos-scaled frame.
        self.learned = learned
        # A fault of the local server: a wrong picture in place of each upscaled frame.
        self.tamper = tamper

        # Input audio stream index -> (output stream, whether it is re-encoded)
        self.audio: dict[int, tuple[av.AudioStream, bool]] = {}

    def add_audio(self, keep: bool) -> None:
        """Carry every audio stream over (``keep``), or none, as a service that drops sound."""
        if keep:
            for stream in self.inp.streams.audio:
                self.audio[stream.index] = add_audio_stream(self.out, stream)

    def _add_video(self, rotation: int, preset: str, crf: int) -> av.VideoStream:
        src = self.src_video.codec_context
        video = self.out.add_stream(
            "libx264", rate=self.fps, options={"preset": preset, "crf": str(crf)}
        )
        video.width = self.width
        video.height = self.height
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = self.time_base
        video.thread_count = self.threads
        # PyAV's default threading, slices of one frame, is kept: x264's frame threads (the
        # FFmpeg command line's choice) were no faster here and took ~10% more CPU and memory.
        video.color_range = ColorRange.MPEG
        video.color_primaries = src.color_primaries
        video.color_trc = src.color_trc
        video.colorspace = _AVCOL_SPC_BT709 if self.rgb_source else src.colorspace
        if self.src_video.sample_aspect_ratio:
            video.sample_aspect_ratio = self.src_video.sample_aspect_ratio
        if rotation:
            video.set_display_rotation(rotation)
        return video

    def run(self) -> int:
        """Convert everything; return the number of video frames written.

        Two threads, as the FFmpeg command line pipelines its stages: this one encodes and
        writes while another reads, decodes and scales the next frames (:meth:`_read`). Both
        spend their time in FFmpeg, which releases the GIL.
        """
        with Prefetch(self._read, _QUEUE_DEPTH, name="uprez-upscale-read") as items:
            for item in items:
                if isinstance(item, av.VideoFrame):
                    self._encode_video(item)
                elif isinstance(item, av.Packet):
                    self._copy_audio(item)
                else:
                    self._encode_audio(*item)
        self.out.mux(self.video.encode(None))
        for stream, transcode in self.audio.values():
            if transcode:
                self.out.mux(stream.encode(None))
        return self.done

    def _read(self) -> Iterator[_Work]:
        """The reading thread's work, in file order: scaled frames ready for the encoder,
        audio packets to copy, and decoded audio to re-encode (with its input stream index)."""
        video_index = self.src_video.index
        audio = [s for s in self.inp.streams.audio if s.index in self.audio]
        for packet in self.inp.demux(self.src_video, *audio):
            index = packet.stream.index
            if index == video_index:
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        yield self._stamped(self._scale(frame), frame.pts)
            elif self.audio[index][1]:
                for sound in packet.decode():
                    if isinstance(sound, av.AudioFrame):
                        yield index, sound
            elif packet.size and packet.dts is not None:
                yield packet

    def _scale(self, frame: av.VideoFrame) -> av.VideoFrame:
        """The output picture of one source frame: the one place its pixels are made.

        Runs in the reading thread, so a slower scaler here still overlaps with the encoder.
        """
        scaled = self.reformatter.reformat(
            frame,
            self.width,
            self.height,
            format="yuv420p",
            interpolation=_INTERPOLATION,
            src_color_range=frame.color_range,
            dst_color_range=ColorRange.MPEG,
            dst_colorspace=Colorspace.ITU709 if self.rgb_source else None,
            threads=self.threads,
        )
        if self.learned is not None:
            scaled = self.learned.refine(frame, scaled)
        if self.tamper is not None:
            scaled = self.tamper(scaled)
        return scaled

    def _stamped(self, scaled: av.VideoFrame, pts: int | None) -> av.VideoFrame:
        """``scaled``, timed at the output frame slot of its source timestamp ``pts``."""
        scaled.pts = self._next_slot(pts)
        scaled.time_base = self.time_base
        scaled.duration = 1
        scaled.pict_type = 0  # let x264 place keyframes; never inherit the source's frame types
        return scaled

    def _encode_video(self, scaled: av.VideoFrame) -> None:
        self.out.mux(self.video.encode(scaled))
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))

    def _next_slot(self, pts: int | None) -> int:
        """The frame slot (in 1/fps ticks) nearest the source timestamp, or the next free one.

        Snapping to an exact ``1/fps`` grid keeps the frame rate exact even when the source
        stores rounded timestamps (Matroska's milliseconds), while keeping the source's start
        offset and any gaps, so copied audio stays in sync.
        """
        slot = 0 if self.last_slot is None else self.last_slot + 1
        if pts is not None and self.src_time_base is not None:
            nearest = round(pts * self.src_time_base * self.fps)
            if self.last_slot is None or nearest > self.last_slot:
                slot = nearest
        self.last_slot = slot
        return slot

    def _copy_audio(self, packet: av.Packet[Stream]) -> None:
        packet.stream = self.audio[packet.stream.index][0]
        self.out.mux(packet)

    def _encode_audio(self, index: int, sound: av.AudioFrame) -> None:
        self.out.mux(self.audio[index][0].encode(sound))


#: What the reading thread hands the encoder: a scaled frame, an audio packet to copy, or
#: decoded audio to re-encode with the index of the input stream it came from.
_Work: TypeAlias = "av.VideoFrame | av.Packet[Stream] | tuple[int, av.AudioFrame]"
