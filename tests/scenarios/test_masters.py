"""Studio masters through the local server: proxy out, upscale, conform back onto the master.

Each master is made on the fly (tests/masters.py); each result is probed for what a pipeline
relies on: codec, profile, pixel format, timecode, audio tracks with layouts and languages,
display aspect, colour tags, frame count and duration. What went to the server is checked too:
the proxy, never the master.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest

from uprez.errors import InputError
from uprez.media.master import describe_master
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.step.sidecar import sidecar_path

from masters import (
    MASTER_TIMECODE,
    Track,
    make_dnxhr,
    make_hevc10,
    make_prores,
    make_prores_4444,
)
from support import TEST_BOX, Service
from sync_marks import beep_times, flash_times, make_vfr_sync, sync_times


def upscale(source: Path, service: Service, pm: PluginManager, **overrides: object) -> Artifact:
    return service.upscale(source, pm, **overrides)


def looked_at(path: Path) -> dict[str, object]:
    """What a pipeline TD would check of a result, read back with PyAV."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        ctx = video.codec_context
        display = Fraction(ctx.width * (video.sample_aspect_ratio or 1), ctx.height)
        return {
            "codec": ctx.name,
            "profile": ctx.profile,
            "pix_fmt": ctx.pix_fmt,
            "timecode": video.metadata.get("timecode"),
            "audio": [
                (a.codec_context.name, a.layout.name, a.metadata.get("language"))
                for a in container.streams.audio
            ],
            "display_aspect": display,
            "colour": (ctx.color_primaries, ctx.color_trc, ctx.colorspace),
            "frames": probe(path).frames,
            "duration": round(float(container.duration or 0) / 1e6, 2),
        }


def test_a_prores_master_comes_back_as_prores_of_its_profile_with_all_it_carries(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    bt709 = {"color_primaries": 1, "color_trc": 1, "colorspace": 1}
    source = make_prores(tmp_path / "sh010.mov", colour=bt709, seconds=1)
    before = looked_at(source)

    result = upscale(source, service, pm)

    out = Path(str(result.path))
    assert out.name == "sh010_4k.mov"
    after = looked_at(out)
    assert after["codec"] == "prores" and after["profile"] == "HQ"
    assert after["pix_fmt"] == "yuv422p10le"
    assert after["timecode"] == MASTER_TIMECODE == "01:00:00:00"
    assert after["audio"] == before["audio"]
    assert [(codec, language) for codec, _, language in after["audio"]] == [  # type: ignore[attr-defined]
        ("pcm_s24le", "eng"),
        ("pcm_s24le", "fra"),
    ]
    # 4:3 pixels: the 160x120 master shows 16:9, and so does its upscale.
    assert before["display_aspect"] == after["display_aspect"] == Fraction(16, 9)
    assert after["colour"] == before["colour"] == (1, 1, 1)
    assert (after["frames"], after["duration"]) == (before["frames"], before["duration"])
    height = TEST_BOX[1]
    with av.open(str(out)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (height * 4 // 3, height)  # fitted on stored pixels
    # The service saw an 8-bit H.264 proxy, never the ProRes.
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["master"]["proxy"]["codec"] == "h264"
    assert sidecar["master"]["codec"] == "prores_422hq"
    assert any("10-bit" in line for line in sidecar["master"]["lost"])
    uploaded = [describe_master(p) for p in service.uploaded_files()]
    assert uploaded and all(m.codec == "h264" and m.pix_fmt == "yuv420p" for m in uploaded)


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (lambda p: make_dnxhr(p), "hqx.mov", ("dnxhd", "DNXHR HQX", "yuv422p10le", ".mov")),
        (lambda p: make_dnxhr(p), "hqx.mxf", ("dnxhd", "DNXHR HQX", "yuv422p10le", ".mov")),
        (lambda p: make_hevc10(p, seconds=1), "main10.mp4", ("h264", None, "yuv420p", ".mp4")),
    ],
)
def test_auto_keeps_a_mezzanine_family_and_gives_a_delivery_codec_the_services_h264(
    tmp_path: Path,
    service: Service,
    pm: PluginManager,
    make: object,
    name: str,
    expected: tuple[str, str | None, str, str],
) -> None:
    source = make(tmp_path / name)  # type: ignore[operator]
    before = looked_at(source)

    out = Path(str(upscale(source, service, pm).path))

    codec, profile, pix_fmt, ext = expected
    after = looked_at(out)
    assert (after["codec"], after["pix_fmt"], out.suffix) == (codec, pix_fmt, ext)
    if profile is not None:
        assert after["profile"] == profile
    assert after["frames"] == before["frames"]
    assert [a[2] for a in after["audio"]] == [a[2] for a in before["audio"]]  # type: ignore[union-attr]
    # An MXF keeps its timecode in the container; the result has it on its timecode track.
    assert after["timecode"] == describe_master(source).timecode


@pytest.mark.parametrize(
    ("codec", "expected"),
    [
        # FFmpeg's ProRes decoder gives any 4444 as 12-bit: the file is ProRes 4444 all the same.
        ("prores_4444", ("prores", "4444", "yuv444p12le")),
        ("hevc", ("hevc", "Main 10", "yuv420p10le")),
        ("dnxhr_hqx", ("dnxhd", "DNXHR HQX", "yuv422p10le")),
    ],
)
def test_an_explicit_codec_overrides_auto(
    tmp_path: Path, service: Service, pm: PluginManager, codec: str, expected: tuple[str, ...]
) -> None:
    source = make_prores(tmp_path / "sh020.mov", seconds=0.5, width=256, height=144)
    ext = ".mp4" if codec == "hevc" else ".mov"

    out = Path(str(upscale(source, service, pm, output={"codec": codec}).path))

    after = looked_at(out)
    assert out.suffix == ext
    assert (after["codec"], after["profile"], after["pix_fmt"]) == expected
    assert after["timecode"] == MASTER_TIMECODE


def test_a_prores_4444_master_keeps_its_alpha_upscaled_here(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    source = make_prores_4444(tmp_path / "fx.mov", seconds=0.5)

    out = Path(str(upscale(source, service, pm).path))

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.profile == "4444"
        assert stream.codec_context.pix_fmt == "yuva444p12le"  # how FFmpeg decodes 4444
        frame = next(container.decode(stream))
        alpha = frame.reformat(format="yuva444p").planes[3]
        values = set(bytes(alpha))
    # The master's alpha is a moving shape on transparency: both survive the upscale.
    assert min(values) < 40 and max(values) > 215
    sidecar = json.loads(sidecar_path(out).read_text())
    assert any(line.startswith("alpha") for line in sidecar["master"]["lost"])


def test_alpha_refused_by_config_costs_nothing(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    source = make_prores_4444(tmp_path / "fx.mov", seconds=0.5)

    with pytest.raises(InputError, match="alpha"):
        upscale(source, service, pm, master={"alpha": "refuse"})

    assert service.spent() == (0, 0)


def test_a_mov_named_result_of_an_h264_codec_choice_is_refused_before_spending(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    source = make_prores(tmp_path / "sh030.mov", seconds=0.5)

    with pytest.raises(InputError, match=r"name it \.mov"):
        upscale(source, service, pm, output={"template": "{dir}/{stem}_4k.mp4"})

    assert service.spent() == (0, 0)


def test_a_variable_frame_rate_clip_keeps_flash_and_beep_in_sync(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    source = make_vfr_sync(tmp_path / "vfr.mp4", seconds=3, audio=Track("stereo", "eng", "aac"))
    assert describe_master(source).vfr

    out = Path(str(upscale(source, service, pm).path))

    flashes, beeps = flash_times(out), beep_times(out)
    expected = sync_times(3)
    with av.open(str(out)) as container:
        frame = float(1 / (container.streams.video[0].average_rate or 30))
    assert len(flashes) == len(beeps) == len(expected)
    for flash, beep, when in zip(flashes, beeps, expected, strict=True):
        assert abs(flash - beep) <= frame, (flash, beep)  # in sync within one frame
        assert abs(flash - when) <= frame
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["master"]["source"]["vfr"] is True
    assert any(line.startswith("frame times") for line in sidecar["master"]["lost"])


def test_a_variable_frame_rate_clip_refused_by_config_costs_nothing(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    source = make_vfr_sync(tmp_path / "vfr.mp4", seconds=2)

    with pytest.raises(InputError, match=r"variable frame rate|frame rate"):
        upscale(source, service, pm, master={"vfr": "refuse"})

    assert service.spent() == (0, 0)


def test_a_proxy_over_the_upload_limit_is_cut_into_more_segments_at_full_quality(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    # Four seconds of 256x144 ProRes make a proxy of about 215 kB at CRF 12.
    source = make_prores(tmp_path / "long.mov", seconds=4, width=256, height=144)
    limit = 100_000

    result = upscale(source, service, pm, limits={"max_upload_bytes": limit})

    sidecar = json.loads(sidecar_path(Path(str(result.path))).read_text())
    sent = service.uploaded_files()
    assert len(sidecar["segments"]) == len(sent) >= 3
    assert all(p.stat().st_size <= limit for p in sent)
    assert sidecar["master"]["proxy"]["crf"] == 12  # more segments, never fewer bits
    assert probe(Path(str(result.path))).frames == probe(source).frames == 96
    assert looked_at(Path(str(result.path)))["timecode"] == MASTER_TIMECODE
