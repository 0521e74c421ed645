"""Disk: free space is checked before a download; running out mid-download gives a clean error
and removes the temporary file; a rerun then fetches the result without paying again.

Running out of space is made real in two ways, without touching uprez's code:

* ``RLIMIT_FSIZE`` on the CLI process (``SIGXFSZ`` ignored, so a write past the limit fails with
  ``EFBIG`` instead of killing the process): every file the run writes is capped, as on a disk
  that fills up mid-run.
* A real small filesystem (a ``tmpfs`` mounted for the test; skipped, with the reason, where
  mounting is not allowed), so that ``shutil.disk_usage`` reports exactly the free space wanted.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from uprez.errors import TransferError
from uprez.media.probe import probe
from uprez.media.synth import make_clip
from uprez.net import transfers
from uprez.net.retry import RetryPolicy
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import service_env, stats, upload, wait_for

KEY = "disk-test-key"
BIG_BOX = (1280, 720)  # a 64x36 clip comes back ~20 times its size
SMALL_BOX = (640, 360)
PAGE = 4096


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    return Path(make_clip(folder / "src.mp4", seconds=2, fps=12, width=64, height=36))


@pytest.fixture(scope="module")
def big_server() -> Iterator[LocalServer]:
    with LocalServer(
        ServerSettings(api_key=KEY, max_size=BIG_BOX, workers=2, account_level="silver")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def small_server() -> Iterator[LocalServer]:
    with LocalServer(
        ServerSettings(api_key=KEY, max_size=SMALL_BOX, workers=2, account_level="silver")
    ) as running:
        yield running


def cli_env(base_url: str, box: tuple[int, int], data_dir: Path) -> dict[str, str]:
    return service_env(
        base_url,
        key=KEY,
        box=box,
        UPREZ_POLLING__FIRST_INTERVAL="0.02",
        UPREZ_POLLING__MAX_INTERVAL="0.1",
        XDG_DATA_HOME=str(data_dir),
        PYTHONDONTWRITEBYTECODE="1",  # the limit is for uprez's files, not the bytecode cache
    )


def file_size_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: writes past ``limit`` bytes fail with EFBIG (SIGXFSZ is ignored)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def uprez(
    source: Path, output: Path, env: dict[str, str], preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", "upscale", str(source), "-o", str(output)],
        capture_output=True,
        text=True,
        env=env,
        cwd=output.parent,
        preexec_fn=preexec,
        timeout=120,
    )


def partial_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".part" in p.name)


def submissions(server: LocalServer) -> int:
    return int(stats(server.base_url, KEY)["submissions"])


# -- (a) running out mid-download ----------------------------------------------------------------


def test_running_out_mid_download_is_a_clean_error_and_the_rerun_pays_nothing(
    big_server: LocalServer, source: Path, tmp_path: Path
) -> None:
    # Above the source and everything else the run writes (journal, sidecar), far below the
    # result: only the download can hit the limit.
    limit = 192 * 1024
    assert source.stat().st_size < limit
    out = tmp_path / "out"
    out.mkdir()
    output = out / "src_4k.mp4"
    env = cli_env(big_server.base_url, BIG_BOX, tmp_path / "data")
    before = submissions(big_server)

    failed = uprez(source, output, env, file_size_limit(limit))

    assert failed.returncode == 5, failed.stderr
    assert "Traceback" not in failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1, failed.stderr
    message = lines[0]
    assert "cannot write" in message, message
    assert "File too large" in message, message
    assert "rerun" in message, message  # and the task is named, so it can be fetched again
    assert submissions(big_server) - before == 1
    assert not output.exists(), "a partial result was left at the output path"
    assert partial_files(out) == []

    rerun = uprez(source, output, env)

    assert rerun.returncode == 0, rerun.stderr
    assert submissions(big_server) - before == 1, "the rerun submitted the task again"
    result = probe(output)
    assert (result.width, result.height) == BIG_BOX
    assert result.frames == probe(source).frames
    assert result.audio_streams == 1
    assert output.stat().st_size > limit, "the result fits under the limit: nothing was tested"
    assert partial_files(out) == []
    assert not (out / ".uprez-work").exists()


@pytest.mark.parametrize("limit", [28_000, 36_000, 44_000, 52_000, 60_000, 68_000])
def test_running_out_of_space_anywhere_in_a_run_is_a_clean_error(
    small_server: LocalServer, source: Path, tmp_path: Path, limit: int
) -> None:
    """The same cap, lower: the write that fails is then the journal's (opening it, recording
    the job, the upload, the submit, or the failure itself) rather than the download. Wherever
    it happens, the user gets one line and an exit code a farm can act on, never a traceback,
    and the rerun finishes the job with the one task it already paid for."""
    out = tmp_path / "out"
    out.mkdir()
    output = out / "src_4k.mp4"
    env = cli_env(small_server.base_url, SMALL_BOX, tmp_path / "data")
    before = submissions(small_server)

    failed = uprez(source, output, env, file_size_limit(limit))
    rerun = uprez(source, output, env)

    tail = "\n".join(failed.stderr.strip().splitlines()[-6:])
    assert "Traceback" not in failed.stderr, f"limit {limit} bytes, the run ended with:\n{tail}"
    assert failed.returncode in (2, 5), failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert rerun.returncode == 0, rerun.stderr
    assert submissions(small_server) - before == 1
    assert (probe(output).width, probe(output).height) == SMALL_BOX
    assert partial_files(out) == []


# -- (b) free space is checked before a download ---------------------------------------------------


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """Mount a tmpfs of a given size (bytes, whole pages) and return its folder."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        assert size % PAGE == 0
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(
                "a small real filesystem is needed and mounting a tmpfs is not allowed here: "
                + (done.stderr.strip() or f"mount exited {done.returncode}")
            )
        mounted.append(folder)
        assert transfers.free_space(folder) == size, "an empty tmpfs should be all free"
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture(scope="module")
def output_url(small_server: LocalServer, source: Path) -> str:
    """The URL of a real result on the local server."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {KEY}"
    video = upload(api, small_server.base_url, source)
    answer = api.post(
        f"{small_server.base_url}/api/v3/runwayml/upscale-v1", json={"video": video}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    task = answer.json()["data"]
    done = wait_for(api, f"{small_server.base_url}/api/v3/predictions/{task['id']}/result")
    assert done["status"] == "completed", done
    url: str = done["outputs"][0]
    return url


def content_length(url: str) -> int:
    with requests.get(url, stream=True, timeout=10) as answer:
        length: str = answer.headers["Content-Length"]
    return int(length)


def fetch(url: str, target: Path, written: list[int]) -> int:
    """The real download, with a progress callback that records every chunk written."""
    with requests.Session() as session:
        return transfers.download(
            session,
            url,
            target,
            timeout=(5.0, 30.0),
            retry=RetryPolicy(attempts=0),
            progress=lambda done, total: written.append(done),
        )


def test_a_download_bigger_than_the_disk_is_refused_before_writing(
    mount_tmpfs: Callable[[int], Path], output_url: str
) -> None:
    size = content_length(output_url)
    disk = mount_tmpfs(16 * PAGE)
    assert size > 16 * PAGE
    written: list[int] = []

    with pytest.raises(TransferError) as refused:
        fetch(output_url, disk / "result.mp4", written)

    assert "not enough free space" in str(refused.value)
    assert f"{size} bytes needed" in str(refused.value)
    assert written == [], "bytes were written before the space was checked"
    assert list(disk.iterdir()) == [], "a temporary or partial file was left"
    assert transfers.free_space(disk) == 16 * PAGE


def test_the_space_margin_is_honoured(mount_tmpfs: Callable[[int], Path], output_url: str) -> None:
    """A disk with room for the file but not for the file plus ``SPACE_MARGIN`` refuses it; one
    a few pages larger than file plus margin takes it."""
    size = content_length(output_url)
    margin = transfers.SPACE_MARGIN
    pages = -(-(size + margin) // PAGE)  # file + margin, in whole pages

    tight = mount_tmpfs((pages - 4) * PAGE)
    assert transfers.free_space(tight) > 10 * size, "the file itself fits with room to spare"
    written: list[int] = []
    with pytest.raises(TransferError) as refused:
        fetch(output_url, tight / "result.mp4", written)
    assert "not enough free space" in str(refused.value)
    assert f"+{margin // 2**20} MiB margin" in str(refused.value)
    assert written == []
    assert list(tight.iterdir()) == []

    roomy = mount_tmpfs((pages + 4) * PAGE)
    got = fetch(output_url, roomy / "result.mp4", written)
    assert got == size
    assert (roomy / "result.mp4").stat().st_size == size
    assert [p.name for p in roomy.iterdir()] == ["result.mp4"]
