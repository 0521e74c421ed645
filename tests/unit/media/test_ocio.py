"""OCIO view transforms for scene-linear sequences: which config, which names, and the frames.

Tolerances, stated once:

* exact OCIO, float all the way: a grey ramp 0.01..64 comes back within 1e-3 relative (ACES 2.0
  SDR measures 5e-4, the un-tone-mapped view 4e-5);
* the baked path (shaper + 65³ LUT, used for ACES 2.0): within 2 % relative for greys 0.01..64;
* through 8 bits (what the service sees and sends back): each grey comes back inside the
  scene-linear span of its 8-bit code ±1 (one code's slack for the bake), computed with OCIO's
  exact inverse — so the bound is as wide as 8 bits are at that brightness, no wider.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import PyOpenColorIO as OCIO
import pytest

from uprez.config.sections import ColourSection
from uprez.errors import ConfigError
from uprez.media.ocio import (
    BUILTIN_CONFIG,
    ViewTransform,
    load_ocio_config,
    ocio_config_source,
    require_invertible,
    view_transform,
)
from uprez.media.ocio_render import ColourProcessor

ACES_SDR = "ACES 2.0 - SDR 100 nits (Rec.709)"
UNTONEMAPPED = "Un-tone-mapped"
# Greys in scene-linear: the ramp 0..1 and highlights above it.
RAMP = np.concatenate([np.linspace(0.0, 1.0, 101), [1.5, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]]).astype(
    np.float32
)


def greys(values: np.ndarray) -> np.ndarray:
    """A 1-row packed RGB image of grey ``values``."""
    return np.ascontiguousarray(np.repeat(values[None, :, None], 3, axis=2), dtype=np.float32)


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """A planar float frame's planes in FFmpeg's order (G, B, R, A), without row padding."""
    return [
        np.frombuffer(p, np.float32).reshape(p.height, p.line_size // 4)[:, : p.width]
        for p in frame.planes
    ]


def srgb_encode(linear: float) -> float:
    """IEC 61966-2-1's sRGB encoding (the studio config's "sRGB - Display")."""
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


@pytest.fixture(scope="module")
def studio() -> ViewTransform:
    return view_transform(ColourSection(), env={})


@pytest.fixture(scope="module")
def baked(studio: ViewTransform) -> ColourProcessor:
    return ColourProcessor(studio)


@pytest.fixture(scope="module")
def exact(studio: ViewTransform) -> ColourProcessor:
    return ColourProcessor(studio, exact=True)


def write_test_config(folder: Path) -> Path:
    """A small OCIO config of our own: a linear space, an sRGB display with a "Standard" view
    and a "Clipped" view that throws away everything above scene-linear 0.5."""
    config = OCIO.Config.CreateRaw()
    config.setName("uprez-test")
    config.removeDisplayView("sRGB", "Raw")
    linear = OCIO.ColorSpace(name="linear")
    linear.setEncoding("scene-linear")
    srgb = OCIO.ColorSpace(name="srgb")
    encode = OCIO.ExponentWithLinearTransform(
        gamma=[2.4] * 3 + [1.0], offset=[0.055] * 3 + [0.0], direction=OCIO.TRANSFORM_DIR_INVERSE
    )
    srgb.setTransform(encode, OCIO.COLORSPACE_DIR_FROM_REFERENCE)
    clipped = OCIO.ColorSpace(name="clipped")
    clip = OCIO.RangeTransform(minInValue=0.0, maxInValue=0.5, minOutValue=0.0, maxOutValue=0.5)
    clipped.setTransform(OCIO.GroupTransform([clip, encode]), OCIO.COLORSPACE_DIR_FROM_REFERENCE)
    for space in (linear, srgb, clipped):
        config.addColorSpace(space)
    config.setRole("scene_linear", "linear")
    config.setRole("default", "linear")
    config.addDisplayView("sRGB", "Standard", "srgb")
    config.addDisplayView("sRGB", "Clipped", "clipped")
    config.setActiveDisplays("")
    config.setActiveViews("")
    path = folder / "test.ocio"
    path.write_text(config.serialize())
    return path


# ---- which config ------------------------------------------------------------------------


def test_the_builtin_studio_config_serves_when_no_ocio_is_set() -> None:
    assert ocio_config_source(ColourSection(), env={}) == (BUILTIN_CONFIG, "built-in")
    config = load_ocio_config(ColourSection(), env={})
    assert config.getName().startswith("studio-config")


def test_ocio_env_wins_over_the_builtin_and_colour_config_over_both(tmp_path: Path) -> None:
    path = str(write_test_config(tmp_path))

    from_env = view_transform(ColourSection(), env={"OCIO": path})
    assert (from_env.config, from_env.config_name) == (path, "uprez-test")
    assert (from_env.source, from_env.display, from_env.view) == ("linear", "sRGB", "Standard")

    named = view_transform(ColourSection(config="ocio://cg-config-latest"), env={"OCIO": path})
    assert named.config == "ocio://cg-config-latest"
    assert named.config_name.startswith("cg-config")


def test_the_record_says_what_the_sidecar_needs(studio: ViewTransform) -> None:
    record = studio.to_json()
    assert record["ocio_config"] == BUILTIN_CONFIG
    assert str(record["ocio_config_name"]).startswith("studio-config")
    assert record["source_colourspace"] == "ACEScg"  # the studio config's scene_linear role
    assert (record["display"], record["view"]) == ("sRGB - Display", ACES_SDR)
    assert record["invertible"] is True
    assert record["ocio_version"] == OCIO.__version__


# ---- bad names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "a_valid_choice"),
    [
        (ColourSection(view="Nope-view"), "$.colour.view", "'Raw'"),
        (ColourSection(display="Nope-display"), "$.colour.display", "'sRGB - Display'"),
        (ColourSection(scene_linear="Nope-space"), "$.colour.scene_linear", "'ACEScg'"),
        (ColourSection(config="/no/such/config.ocio"), "$.colour.config", "ocio://"),
    ],
)
def test_a_bad_name_is_a_config_error_naming_the_key_and_valid_choices(
    section: ColourSection, key: str, a_valid_choice: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        view_transform(section, env={})

    (problem,) = caught.value.problems
    assert problem.path == key  # type: ignore[attr-defined]
    assert a_valid_choice in str(caught.value)
    assert "Nope" not in str(caught.value)  # a config value is never quoted back
    assert "/no/such" not in str(caught.value)


def test_a_bad_ocio_env_says_it_came_from_the_environment() -> None:
    with pytest.raises(ConfigError) as caught:
        load_ocio_config(ColourSection(), env={"OCIO": "/no/such/config.ocio"})
    assert caught.value.problems[0].source == "$OCIO"  # type: ignore[attr-defined]


def test_a_colourspace_the_file_names_but_the_config_lacks_is_refused() -> None:
    with pytest.raises(ConfigError, match="Weird Space") as caught:
        view_transform(ColourSection(), source="Weird Space", env={})
    assert caught.value.problems[0].path == "$.colour.config"  # type: ignore[attr-defined]


def test_missing_opencolorio_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PyOpenColorIO", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'uprez\[sequences\]'"):
        view_transform(ColourSection(), env={})


def test_importing_the_colour_modules_loads_neither_ocio_nor_numpy() -> None:
    code = (
        "import sys, uprez, uprez.media.ocio, uprez.media.ocio_render\n"
        "print(sorted(m for m in ('PyOpenColorIO', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---- invertibility -----------------------------------------------------------------------


def test_the_studio_configs_srgb_views_are_invertible_and_say_where_they_clip() -> None:
    aces = view_transform(ColourSection(view=ACES_SDR), env={})
    plain = view_transform(ColourSection(view=UNTONEMAPPED), env={})
    assert aces.invertible and plain.invertible
    # ACES 2.0 SDR reaches display white at scene-linear 128; un-tone-mapped at 1.0.
    assert aces.clips_above is not None and 100 < aces.clips_above <= 128
    assert plain.clips_above == pytest.approx(1.0, abs=1e-3)


def test_a_view_that_throws_highlights_away_is_not_invertible_and_refused(tmp_path: Path) -> None:
    path = str(write_test_config(tmp_path))
    clipped = view_transform(ColourSection(config=path, view="Clipped"), env={})
    assert not clipped.invertible

    with pytest.raises(ConfigError, match="'Standard'") as caught:
        require_invertible(clipped)
    assert caught.value.problems[0].path == "$.colour.view"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        ColourProcessor(clipped).from_display_array(greys(RAMP[:10]))


# ---- known values ------------------------------------------------------------------------


def test_mid_grey_lands_where_the_views_definitions_put_it(
    baked: ColourProcessor, exact: ColourProcessor
) -> None:
    # ACES 2.0's SDR output puts scene-linear 0.18 at 10 cd/m² of a 100 cd/m² display, which
    # the sRGB display encodes by IEC 61966-2-1.
    expected = srgb_encode(10 / 100)
    for processor in (baked, exact):
        shown = processor.to_display_array(greys(np.array([0.18], np.float32)))
        assert shown[0, 0] == pytest.approx([expected] * 3, abs=0.5 / 255)

    # The un-tone-mapped view is the colorimetric encoding: 0.18 → sRGB-encoded 0.18.
    plain = ColourProcessor(view_transform(ColourSection(view=UNTONEMAPPED), env={}))
    shown = plain.to_display_array(greys(np.array([0.18], np.float32)))
    assert shown[0, 0] == pytest.approx([srgb_encode(0.18)] * 3, abs=1e-3)


def test_the_baked_view_matches_ocios_own_processor_built_another_way(
    studio: ViewTransform, baked: ColourProcessor
) -> None:
    config = load_ocio_config(ColourSection(), env={})
    reference = config.getProcessor(
        studio.source, studio.display, studio.view, OCIO.TRANSFORM_DIR_FORWARD
    ).getDefaultCPUProcessor()
    image = greys(RAMP)
    expected = image.copy()
    reference.applyRGB(expected)
    assert np.abs(baked.to_display_array(image) - expected).max() < 0.5 / 255


# ---- round trips -------------------------------------------------------------------------


def relative(back: np.ndarray, ramp: np.ndarray) -> float:
    keep = ramp >= 0.01
    return float(np.max(np.abs(back[0, keep, 0] - ramp[keep]) / ramp[keep]))


def test_a_grey_ramp_with_highlights_comes_back_through_the_exact_view(
    exact: ColourProcessor,
) -> None:
    back = exact.from_display_array(exact.to_display_array(greys(RAMP)))
    assert relative(back, RAMP) < 1e-3
    assert np.abs(back[0, RAMP < 0.01] - RAMP[RAMP < 0.01, None]).max() < 1e-4


def test_a_grey_ramp_with_highlights_comes_back_through_the_baked_view(
    baked: ColourProcessor,
) -> None:
    back = baked.from_display_array(baked.to_display_array(greys(RAMP)))
    assert relative(back, RAMP) < 0.02


def test_a_grey_ramp_through_8_bits_comes_back_within_its_codes_span(
    baked: ColourProcessor, exact: ColourProcessor
) -> None:
    shown = baked.to_display_array(greys(RAMP))
    codes = np.round(shown * 255) / 255
    back = baked.from_display_array(codes.astype(np.float32))

    def scene(code: np.ndarray) -> np.ndarray:
        return exact.from_display_array(np.clip(code, 0, 1).astype(np.float32))

    low, high = scene(codes - 1 / 255), scene(codes + 1 / 255)
    assert np.all((low <= back) & (back <= high))


# ---- frames ------------------------------------------------------------------------------


def test_planes_stay_in_ffmpegs_gbr_order_a_red_frame_stays_red() -> None:
    rec709 = view_transform(
        ColourSection(view=UNTONEMAPPED), source="Linear Rec.709 (sRGB)", env={}
    )
    red = np.zeros((4, 6, 3), np.float32)
    red[..., 0] = 1.0
    frame = av.VideoFrame.from_ndarray(red, format="gbrpf32le")

    shown = ColourProcessor(rec709).to_display(frame)

    g, b, r = planes(shown)  # FFmpeg's order: G, B, R
    assert shown.format.name == "gbrpf32le"
    assert np.allclose(r, 1.0, atol=1e-5) and np.allclose(g, 0, atol=1e-5)
    assert np.allclose(b, 0, atol=1e-5)


def test_the_baked_view_keeps_red_red(baked: ColourProcessor) -> None:
    red = np.zeros((2, 1998, 3), np.float32)  # 1998: rows padded in the frame's planes
    red[..., 0] = 0.5
    shown = baked.to_display(av.VideoFrame.from_ndarray(red, format="gbrpf32le"))
    g, b, r = planes(shown)
    assert r.min() > 0.4 and g.max() < 0.1 and b.max() < 0.1


def test_alpha_passes_through_untouched(baked: ColourProcessor) -> None:
    rng = np.random.default_rng(7)
    rgba = rng.uniform(-0.5, 4.0, size=(9, 70, 4)).astype(np.float32)
    frame = av.VideoFrame.from_ndarray(rgba, format="gbrapf32le")

    shown = baked.to_display(frame)
    back = baked.from_display(shown)

    assert shown.format.name == back.format.name == "gbrapf32le"
    assert np.array_equal(shown.to_ndarray()[..., 3], rgba[..., 3])
    assert np.array_equal(back.to_ndarray()[..., 3], rgba[..., 3])
    assert np.array_equal(baked.to_display_array(rgba)[..., 3], rgba[..., 3])


def test_frames_and_arrays_agree_and_the_source_frame_is_not_written(
    baked: ColourProcessor,
) -> None:
    image = np.ascontiguousarray(np.tile(greys(RAMP), (5, 1, 1)))
    frame = av.VideoFrame.from_ndarray(image, format="gbrpf32le")
    frame.pts = 1001

    shown = baked.to_display(frame)

    assert shown.pts == 1001
    assert np.array_equal(frame.to_ndarray(), image)
    assert np.abs(shown.to_ndarray() - baked.to_display_array(image)).max() < 1e-6
    assert shown.to_ndarray().min() >= 0.0 and shown.to_ndarray().max() <= 1.0


def half_frame(rgba: np.ndarray) -> av.VideoFrame:
    """A ``gbrapf16le`` frame of ``rgba`` (R, G, B, A), as FFmpeg decodes a half EXR (PyAV
    makes no frame of a half format from an array: its planes are written here)."""
    frame = av.VideoFrame(rgba.shape[1], rgba.shape[0], "gbrapf16le")
    for plane, channel in zip(frame.planes, (1, 2, 0, 3), strict=True):
        rows = np.frombuffer(plane, np.float16).reshape(plane.height, plane.line_size // 2)
        rows[:, : plane.width] = rgba[..., channel]
    return frame


@pytest.mark.parametrize("which", ["baked", "exact"])
def test_a_half_float_frame_goes_through_as_its_widened_self_would(
    which: str, baked: ColourProcessor
) -> None:
    # Half is read as it is (no widened copy), through a processor made for half input: the
    # same display values as the float frame, highlights above 1 and alpha kept.
    processor = (
        baked
        if which == "baked"
        else ColourProcessor(view_transform(ColourSection(view=UNTONEMAPPED), env={}))
    )
    rng = np.random.default_rng(16)
    rgba = rng.uniform(-0.01, 1.0, size=(6, 1998, 4)).astype(np.float16)  # 1998: padded rows
    rgba[3:, :, :3] *= np.float16(64)  # highlights
    wide = av.VideoFrame.from_ndarray(rgba.astype(np.float32), "gbrapf32le")

    shown = processor.to_display(half_frame(rgba))

    assert shown.format.name == "gbrapf32le"
    assert np.abs(shown.to_ndarray() - processor.to_display(wide).to_ndarray()).max() < 1e-4
    assert np.array_equal(shown.to_ndarray()[..., 3], rgba[..., 3].astype(np.float32))


def test_a_frame_done_with_is_written_over_only_when_it_fits(baked: ColourProcessor) -> None:
    image = np.ascontiguousarray(np.tile(greys(RAMP), (5, 1, 1)))
    frame = av.VideoFrame.from_ndarray(image, format="gbrpf32le")
    spent = baked.to_display(frame)
    other = av.VideoFrame.from_ndarray(np.zeros((5, 7, 3), np.float32), format="gbrpf32le")

    again = baked.to_display(frame, into=spent)
    fresh = baked.to_display(frame, into=other)

    assert again is spent and fresh is not other
    assert np.array_equal(again.to_ndarray(), fresh.to_ndarray())
    assert not other.to_ndarray().any()


def test_a_half_float_frame_is_widened_exactly_on_the_way_back(baked: ColourProcessor) -> None:
    # swscale's half → float would clamp it to 0..1 first.
    rgba = np.full((2, 8, 4), 0.5, np.float16)
    rgba[..., 0] = 0.99
    back = baked.from_display(half_frame(rgba))
    wide = av.VideoFrame.from_ndarray(rgba.astype(np.float32), "gbrapf32le")
    assert np.array_equal(back.to_ndarray(), baked.from_display(wide).to_ndarray())


@pytest.mark.parametrize("code", [0, 1, 128, 254, 255])
def test_an_8_bit_display_frame_is_read_at_full_scale(baked: ColourProcessor, code: int) -> None:
    # 255 is display white: swscale's own 8-bit → float gives 0.9962, which the inverse of
    # ACES 2.0 would bring back as half of white's scene value.
    grey = np.full((4, 8, 3), code, np.uint8)
    back = baked.from_display(av.VideoFrame.from_ndarray(grey, format="rgb24"))
    assert back.format.name == "gbrpf32le"
    expected = baked.from_display_array(greys(np.array([code / 255], np.float32)))[0, 0]
    # Planar and packed buffers take different paths through OCIO: equal to float rounding.
    assert back.to_ndarray()[0, 0] == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert np.isfinite(expected).all()


def test_the_services_8_bit_white_comes_back_as_the_views_white(
    baked: ColourProcessor, studio: ViewTransform
) -> None:
    # What the service returns: H.264, 4:2:0, BT.709, TV range (white is Y = 235).
    white = np.full((16, 16, 3), 255, np.uint8)
    movie = av.VideoFrame.from_ndarray(white, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709"
    )

    back = baked.from_display(movie).to_ndarray()

    assert studio.clips_above is not None
    assert back.min() == pytest.approx(studio.clips_above, rel=0.02)  # not half of it
