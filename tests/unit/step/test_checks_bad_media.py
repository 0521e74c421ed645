"""Bad media: every input that is not a video the service takes is refused before anything is
spent — exit code 3, one line on stderr naming the file, no upload, no submission — and files
that are fine but oddly named are not refused.

The command line runs as a user runs it (``python -m uprez upscale BAD --provider wavespeed``)
against a local server in this process, which counts uploads and submissions. In-process, the
same files go through :func:`uprez.step.run.check_source`, which must raise :class:`InputError` (or
its :class:`MediaError`) and nothing else: no PyAV error, no ``OSError``.

The unreadable file: the tests may run as root, who reads a ``chmod 000`` file anyway. There,
the child process is started without the two capabilities that let root ignore permissions
(``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``, dropped from its bounding set with ``prctl``
before ``exec``), so it sees the permissions as any user would. Where even that is not allowed,
the case is skipped with the reason. A FIFO is a case of its own (opening it would block).
"""

from __future__ import annotations

import ctypes
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from uprez.config import load_config
from uprez.errors import InputError
from uprez.media.synth import make_clip
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.checks import check_source

from support import stats

KEY = "bad-media-key"
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2

# -- the bad files: each builder makes its file in ``folder`` and returns the argument to pass --

Builder = Callable[[Path], str]


def _real(folder: Path) -> bytes:
    return (folder / "real.mp4").read_bytes()


def missing(folder: Path) -> str:
    return "missing.mp4"


def directory(folder: Path) -> str:
    (folder / "a folder").mkdir()
    return "a folder"


def directory_named_mp4(folder: Path) -> str:
    (folder / "folder.mp4").mkdir()
    return "folder.mp4"


def empty_file(folder: Path) -> str:
    (folder / "empty.mov").touch()
    return "empty.mov"


def zero_length_mp4(folder: Path) -> str:
    (folder / "zero.mp4").touch()
    return "zero.mp4"


def truncated_300_bytes(folder: Path) -> str:
    (folder / "truncated.mp4").write_bytes(_real(folder)[:300])
    return "truncated.mp4"


def cut_in_half(folder: Path) -> str:
    data = _real(folder)
    (folder / "half.mp4").write_bytes(data[: len(data) // 2])
    return "half.mp4"


def scrambled_pictures(folder: Path) -> str:
    """Container intact, every byte of the coded pictures replaced by noise."""
    data = bytearray(_real(folder))
    start, end = data.find(b"mdat") + 4, data.find(b"moov") - 4
    assert 0 < start < end, "the clip's mdat is not before its moov"
    noise = random.Random(7)
    data[start:end] = bytes(noise.randrange(256) for _ in range(end - start))
    (folder / "scrambled.mp4").write_bytes(bytes(data))
    return "scrambled.mp4"


def _write_audio(path: Path, fmt: str, codec: str) -> None:
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=48000, layout="mono")
        assert isinstance(stream, av.AudioStream)
        sample_format = "fltp" if codec == "aac" else "s16"
        width = 4 if codec == "aac" else 2
        for start in range(0, 48000, 1024):
            frame = av.AudioFrame(format=sample_format, layout="mono", samples=1024)
            frame.planes[0].update(bytes(1024 * width))
            frame.sample_rate, frame.pts = 48000, start
            frame.time_base = Fraction(1, 48000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def audio_only_mp4(folder: Path) -> str:
    _write_audio(folder / "audio.mp4", "mp4", "aac")
    return "audio.mp4"


def audio_only_mkv(folder: Path) -> str:
    _write_audio(folder / "audio.mkv", "matroska", "pcm_s16le")
    return "audio.mkv"


def _picture(width: int, height: int, pix_fmt: str) -> av.VideoFrame:
    frame = av.VideoFrame.from_bytes(bytes([10, 200, 30, 255]) * (width * height), width, height)
    frame = frame.reformat(format=pix_fmt)
    frame.pts, frame.time_base = 0, Fraction(1)
    return frame


def _write_still(path: Path, codec: str, pix_fmt: str) -> None:
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream(codec, rate=1)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 36, pix_fmt
        out.mux(stream.encode(_picture(64, 36, pix_fmt)))
        out.mux(stream.encode(None))


def png_named_mp4(folder: Path) -> str:
    _write_still(folder / "still.png", "png", "rgb24")
    (folder / "still.png").rename(folder / "still.mp4")
    return "still.mp4"


def jpeg_named_mov(folder: Path) -> str:
    _write_still(folder / "still.jpg", "mjpeg", "yuvj420p")
    (folder / "still.jpg").rename(folder / "photo.mov")
    return "photo.mov"


def _write_cover_art(path: Path, fmt: str, audio_codec: str) -> None:
    """Sound with one attached picture (album art), and no video."""
    with av.open(str(path), "w", format=fmt) as out:
        sound = out.add_stream(audio_codec, rate=44100, layout="mono")
        cover = out.add_stream("mjpeg", rate=1)
        assert isinstance(sound, av.AudioStream) and isinstance(cover, av.VideoStream)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        out.mux(cover.encode(_picture(64, 64, "yuvj420p")))
        out.mux(cover.encode(None))
        sample_format = "fltp" if audio_codec == "aac" else "s16p"
        width = 4 if audio_codec == "aac" else 2
        for start in range(0, 44100, 1152):
            frame = av.AudioFrame(format=sample_format, layout="mono", samples=1152)
            frame.planes[0].update(bytes(1152 * width))
            frame.sample_rate, frame.pts = 44100, start
            frame.time_base = Fraction(1, 44100)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))


def cover_art_only_mp4(folder: Path) -> str:
    _write_cover_art(folder / "cover.mp4", "mp4", "aac")
    return "cover.mp4"


def mp3_with_cover_named_mp4(folder: Path) -> str:
    _write_cover_art(folder / "song.mp3", "mp3", "libmp3lame")
    (folder / "song.mp3").rename(folder / "song.mp4")
    return "song.mp4"


def no_frames_mp4(folder: Path) -> str:
    """A video track declared, no frame in it."""
    with av.open(str(folder / "noframes.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        out.start_encoding()
    return "noframes.mp4"


def text_named_mp4(folder: Path) -> str:
    (folder / "notes.mp4").write_text("render notes: shot 010, v003\n" * 20)
    return "notes.mp4"


def random_bytes_mov(folder: Path) -> str:
    noise = random.Random(42)
    (folder / "noise.mov").write_bytes(bytes(noise.randrange(256) for _ in range(65536)))
    return "noise.mov"


def video_named_txt(folder: Path) -> str:
    (folder / "video.txt").write_bytes(_real(folder))
    return "video.txt"


def video_without_extension(folder: Path) -> str:
    (folder / "shot010").write_bytes(_real(folder))
    return "shot010"


def fifo_named_mp4(folder: Path) -> str:
    os.mkfifo(folder / "pipe.mp4")
    return "pipe.mp4"


def symlink_loop(folder: Path) -> str:
    (folder / "loop_a.mp4").symlink_to("loop_b.mp4")
    (folder / "loop_b.mp4").symlink_to("loop_a.mp4")
    return "loop_a.mp4"


def dangling_symlink(folder: Path) -> str:
    (folder / "dangling.mp4").symlink_to("gone.mp4")
    return "dangling.mp4"


def device_named_mp4(folder: Path) -> str:
    (folder / "null.mp4").symlink_to("/dev/null")
    return "null.mp4"


def unreadable(folder: Path) -> str:
    (folder / "locked.mp4").write_bytes(_real(folder))
    (folder / "locked.mp4").chmod(0)
    return "locked.mp4"


BAD: list[Builder] = [
    missing,
    directory,
    directory_named_mp4,
    empty_file,
    zero_length_mp4,
    truncated_300_bytes,
    cut_in_half,
    scrambled_pictures,
    audio_only_mp4,
    audio_only_mkv,
    png_named_mp4,
    jpeg_named_mov,
    cover_art_only_mp4,
    mp3_with_cover_named_mp4,
    no_frames_mp4,
    text_named_mp4,
    random_bytes_mov,
    video_named_txt,
    video_without_extension,
    fifo_named_mp4,
    symlink_loop,
    dangling_symlink,
    device_named_mp4,
    unreadable,
]

# Valid videos with names that trip up careless code; they must pass the checks.
ODD_NAMES = [
    "with space.mp4",
    "ünïcødé 映像.mp4",
    "./-x.mp4",
    'it\'s "quoted".mp4',
    "UPPER.MP4",
    "semi;colon $HOME &.mov",
    "dots.in.name.v003.mkv",
]


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """One server for the module: whatever any case sends, it counts."""
    with LocalServer(
        ServerSettings(api_key=KEY, max_size=(128, 72), account_level="silver")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def real_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    return Path(make_clip(folder / "real.mp4", seconds=1, fps=12, width=64, height=36))


@pytest.fixture
def folder(tmp_path: Path, real_clip: Path) -> Iterator[Path]:
    """A fresh folder holding a copy of a real clip; made readable again for clean-up."""
    place = tmp_path / "media"
    place.mkdir()
    (place / "real.mp4").write_bytes(real_clip.read_bytes())
    yield place
    for path in place.iterdir():
        if not path.is_symlink():
            path.chmod(0o755)


def _drop_dac_capabilities() -> None:
    """In the child, before exec: lose root's right to ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_CAPBSET_DROP): {os.strerror(errno)}")


def _permission_preexec(builder: Builder) -> Callable[[], None] | None:
    """How to start a child that must see ``builder``'s file as unreadable (None: as is)."""
    if builder is not unreadable or os.geteuid() != 0:
        return None
    try:  # can this process drop capabilities at all?
        subprocess.run(["true"], preexec_fn=_drop_dac_capabilities, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"running as root without CAP_SETPCAP, a chmod 000 file stays readable: {exc}")
    return _drop_dac_capabilities


def cli_env(base_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_") and name != "WAVESPEED_API_KEY"
    }
    env.update(WAVESPEED_API_KEY=KEY, UPREZ_PROVIDER__BASE_URL=base_url)
    return env


def uprez(
    args: list[str], cwd: Path, base_url: str, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(base_url),
        preexec_fn=preexec,
        timeout=60,
    )


def assert_nothing_spent(server: LocalServer) -> None:
    counts = stats(server.base_url, KEY)
    assert counts["uploads"] == 0, counts
    assert counts["submissions"] == 0, counts


# -- tests -------------------------------------------------------------------------------------


def test_there_are_at_least_15_bad_inputs() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("builder", BAD, ids=[b.__name__ for b in BAD])
def test_cli_refuses_bad_media_before_anything_is_spent(
    builder: Builder, folder: Path, server: LocalServer
) -> None:
    preexec = _permission_preexec(builder)
    argument = builder(folder)
    done = uprez(["upscale", argument, "--provider", "wavespeed"], folder, server.base_url, preexec)
    assert done.returncode == 3, f"exit {done.returncode}\n{done.stderr}"
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{done.stderr}"
    [line] = lines
    assert line.startswith("uprez: error: "), line
    assert Path(argument).name in line, f"the message does not name {argument!r}: {line}"
    assert "Traceback" not in done.stderr
    assert not (folder / f"{Path(argument).stem}_4k.mp4").exists()
    assert_nothing_spent(server)


@pytest.mark.parametrize("builder", BAD, ids=[b.__name__ for b in BAD])
def test_check_source_raises_input_error_only(
    builder: Builder, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(folder)
    argument = builder(folder)
    if builder is unreadable and os.geteuid() == 0:
        # Root reads it anyway: ask a child without root's file-permission capabilities.
        preexec = _permission_preexec(builder)
        code = (
            "import sys\nfrom pathlib import Path\nfrom uprez.config import load_config\n"
            "from uprez.step.checks import check_source\nfrom uprez.errors import InputError\n"
            "try:\n    check_source(Path(sys.argv[1]), load_config(env={}))\n"
            "except InputError as exc:\n    print(type(exc).__name__, exc)\n    sys.exit(0)\n"
            "sys.exit('not refused')\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, argument],
            capture_output=True,
            text=True,
            cwd=folder,
            preexec_fn=preexec,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert argument in done.stdout
        return
    with pytest.raises(InputError) as refused:
        check_source(Path(argument), load_config(env={}))
    assert Path(argument).name in str(refused.value)
    assert refused.value.path is not None
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_of_valid_videos_are_not_refused(
    name: str, folder: Path, server: LocalServer
) -> None:
    (folder / name).write_bytes((folder / "real.mp4").read_bytes())
    done = uprez(["upscale", name, "--provider", "wavespeed", "--dry-run"], folder, server.base_url)
    assert done.returncode == 0, f"{name!r} was refused (exit {done.returncode}):\n{done.stderr}"
    assert Path(name).name in done.stdout
    assert_nothing_spent(server)


def test_one_bad_input_refuses_the_whole_batch(folder: Path, server: LocalServer) -> None:
    """All inputs are checked before the first is uploaded: a good file beside a bad one is
    not sent either."""
    bad = text_named_mp4(folder)
    done = uprez(["upscale", "real.mp4", bad, "--provider", "wavespeed"], folder, server.base_url)
    assert done.returncode == 3, done.stderr
    assert bad in done.stderr
    assert_nothing_spent(server)
