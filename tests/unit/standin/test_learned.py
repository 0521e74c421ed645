"""The local server's learned mode: a small CNN (pyanime4k) on the CPU instead of Lanczos alone.

Chosen by ``local.mode`` in the config or ``uprez serve --mode``; refused at start-up, with the
command that installs it, when the ``learned`` extra is missing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import av
import pytest
import requests

from uprez.config import ConfigProblem, load_config
from uprez.errors import ConfigError
from uprez.hooks.local_provider import LocalProvider
from uprez.media.probe import probe
from uprez.standin.learned import LearnedScaler, cnn_passes
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.standin.upscale import upscale_file

from support import TEST_BOX, TEST_KEY, fast_config, upscale_by_api

if TYPE_CHECKING:  # numpy comes with the learned extra; tests that need it import it inside
    import numpy as np

#: Run in a child interpreter: pyanime4k cannot be imported there, as on a plain install.
WITHOUT_PYANIME4K = "import sys; sys.modules['pyanime4k'] = None; "


def hard_edged_picture(width: int = 192, height: int = 108) -> av.VideoFrame:
    """A yuv420p frame of sharp shapes (a disc and diagonal bars), the kind of edge a learned
    upscaler is for."""
    import numpy as np

    rows, cols = np.mgrid[0:height, 0:width]
    disc = (rows - height / 2) ** 2 + (cols - width / 3) ** 2 < (height / 3) ** 2
    bars = ((rows + cols) // 9) % 2 == 0
    grey = np.where(disc, 230, np.where(bars & (cols > width // 2), 40, 150)).astype(np.uint8)
    rgb = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a yuv420p frame, as floats."""
    import numpy as np

    return np.asarray(frame.to_ndarray()[: frame.height], dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    return float(10 * np.log10(255**2 / np.mean((a - b) ** 2)))


# -- the scaler ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "passes"),
    [
        ((640, 360), (1280, 720), 1),
        ((640, 360), (1920, 1080), 2),
        ((640, 360), (3840, 2160), 2),
        ((1280, 720), (1536, 864), 1),
        ((640, 360), (640, 360), 0),
    ],
)
def test_the_network_runs_as_many_x2_passes_as_the_nearest_power_of_two(
    source: tuple[int, int], target: tuple[int, int], passes: int
) -> None:
    assert cnn_passes(source, target) == passes


def test_learned_beats_lanczos_on_a_hard_edged_picture_shrunk_by_two() -> None:
    reference = hard_edged_picture()
    small = reference.reformat(96, 54, format="yuv420p", interpolation="AREA")
    lanczos = small.reformat(192, 108, format="yuv420p", interpolation="LANCZOS")
    again = small.reformat(192, 108, format="yuv420p", interpolation="LANCZOS")

    learned = LearnedScaler((96, 54), (192, 108)).refine(small, again)

    assert (learned.width, learned.height, learned.format.name) == (192, 108, "yuv420p")
    assert psnr(luma(learned), luma(reference)) > psnr(luma(lanczos), luma(reference)) + 1.0


def test_the_network_works_in_strips_that_join_without_a_seam() -> None:
    import numpy as np
    import pyanime4k

    # 64 columns by 4200 rows makes three strips of the scaler's, and one call of pyanime4k's.
    rng = np.random.default_rng(8)
    plane = rng.integers(16, 236, size=(4200, 64), dtype=np.uint8)
    whole = pyanime4k.Processor(processor_type="cpu", device=0, model="arnet-hdn")(
        (plane.astype(np.float32) - 16) / 219, 2.0
    )
    expected = np.clip(np.rint(whole * 219 + 16), 0, 255).astype(np.uint8)

    got = LearnedScaler((64, 4200), (128, 8400)).upscale_luma(plane, (128, 8400))

    assert np.array_equal(got, expected)


def test_upscale_file_in_learned_mode_keeps_size_frames_fps_and_audio(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("edges.mp4", seconds=0.5, fps=12, width=64, height=36, audio=True)

    result = upscale_file(clip, tmp_path / "out.mp4", max_size=(160, 90), mode="learned")

    out = probe(tmp_path / "out.mp4")
    assert (result.width, result.height) == (out.width, out.height) == (160, 90)
    assert out.frames == probe(clip).frames
    assert out.fps == 12
    assert out.audio_streams == 1


def test_an_unknown_mode_is_refused_before_anything_is_written(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="lanczos"):
        upscale_file(make_clip(), tmp_path / "out.mp4", mode="neural")
    assert not (tmp_path / "out.mp4").exists()


# -- the server ----------------------------------------------------------------------------------


def test_a_learned_server_upscales_a_clip_end_to_end(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("shot.mp4", seconds=0.5, fps=12, width=64, height=36, audio=True)
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, mode="learned", account_level="silver"
    )
    with LocalServer(settings) as server:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {TEST_KEY}"
        _, done = upscale_by_api(api, server.base_url, clip)
        assert done["status"] == "completed", done
        answer = requests.get(done["outputs"][0], timeout=30)
    (tmp_path / "out.mp4").write_bytes(answer.content)

    out, source = probe(tmp_path / "out.mp4"), probe(clip)
    assert (out.width, out.height) == TEST_BOX
    assert out.frames == source.frames
    assert out.fps == source.fps
    assert out.video_codec == "h264"
    assert out.audio_streams == 1


def test_an_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match='"lanczos", "learned"') as caught:
        ServerSettings(mode="neural")
    assert caught.value.exit_code == 2


def test_the_learned_mode_without_pyanime4k_is_refused_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyanime4k", None)  # as if the extra were not installed

    with pytest.raises(ConfigError, match=r"pip install 'uprez\[learned\]'"):
        ServerSettings(mode="learned")
    ServerSettings(mode="lanczos")  # the default mode needs nothing more


# -- choosing the mode ---------------------------------------------------------------------------


def test_uprez_serve_accepts_mode_learned() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "uprez", "serve", "--port", "0", "--mode", "learned"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("uprez local server on http://127.0.0.1:"), line
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_uprez_serve_without_pyanime4k_refuses_learned_with_exit_code_2() -> None:
    code = WITHOUT_PYANIME4K + (
        "from uprez.cli import main; sys.exit(main(['serve', '--port', '0', '--mode', 'learned']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 2, done.stderr
    assert "pip install 'uprez[learned]'" in done.stderr
    assert "uprez local server on" not in done.stdout


def test_uprez_serve_refuses_an_unknown_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uprez", "serve", "--mode", "neural"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid choice: 'neural'" in done.stderr


def test_local_mode_in_the_config_is_validated_with_its_json_path() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides={"local.mode": "neural"})

    [problem] = caught.value.problems
    assert isinstance(problem, ConfigProblem)
    assert problem.path == "$.local.mode"
    assert problem.message == 'must be one of "lanczos", "learned"'
    assert load_config(env={}).get("local.mode") == "lanczos"


def test_the_local_provider_starts_its_server_in_the_configured_mode() -> None:
    provider = LocalProvider(fast_config({"provider.name": "local", "local.mode": "learned"}))
    try:
        assert provider.server.settings.mode == "learned"
    finally:
        provider.close()


def test_the_local_provider_without_pyanime4k_refuses_learned_before_starting_a_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyanime4k", None)

    with pytest.raises(ConfigError, match=r"uprez\[learned\]"):
        LocalProvider(fast_config({"provider.name": "local", "local.mode": "learned"}))
