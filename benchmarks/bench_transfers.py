"""Moving big files: uprez's download and upload against ``curl`` on the same URLs.

The local server (in this process) serves one file from its upload store; ``curl -s -o FILE``
and ``WaveSpeedClient.download`` fetch that same media URL into files in the same folder, in
turns (AB, BA, ...: each leaves dirty pages behind). An upload is a ticket (POST
/api/v3/media/uploads) and a PUT of the same file to its URL: ``WaveSpeedClient.upload`` does
both, and so does the baseline, with two curl runs (the second ``curl -T``).

uprez runs in a child process of its own, so the server's thread does not share its
interpreter (curl does not share it either), and so its memory can be measured alone: the
child resets its peak RSS after its imports, transfers, and reports how far the peak rose.
Its time is the transfer's alone, after a one-byte upload that pays what a fresh interpreter
pays once (not counted, as curl's ``time_total`` leaves out its start-up); curl's time is its
``time_total``.
Both sides land a download alike: uprez's writes a temporary file beside the target, syncs it
and renames it into place; curl writes the same kind of temporary file (``-o``), and this
process then syncs it (``fsync``) and renames it, timed, the time added to curl's. (The fsync
is most of a download's time on this shared disk: without it curl was measured 1.6 to 1.8 times
as fast as uprez, whose CPU time per GB was the lower.) An upload leaves nothing on the client's
disk on either side.

The server is werkzeug's, in Python, and the slower side of every transfer: both clients meet
that ceiling, so the CPU time each spends per GB is in the notes too. It keeps its files in
memory (:func:`benchmarks.common.twin_files_in_memory`): the real service's disk is not the
client's, and here each upload it stored was written back to the shared disk during the next
runs. The sides run in alternating order (AB, BA, ...); each round's ratio is in the note, and
the verdict is the median round's.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast
from urllib.parse import urlsplit

from benchmarks.common import (
    LENIENT_TWIN,
    UNPACED_CLIENT,
    Row,
    alternating,
    median,
    ratio_spread,
    reset_peak_rss,
    rss_bytes,
    twin_files_in_memory,
)
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

KEY = "bench-key"
CURL = "/usr/bin/curl"
MiB = 1024 * 1024
MB = 1000 * 1000
REPO = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 50 * MB


@dataclass(frozen=True)
class Sizes:
    """What is moved: the throughput runs use ``*_timed``; memory compares big and small."""

    download_big: int = 1024 * MiB
    download_small: int = 256 * MiB
    upload_big: int = 500 * MB
    upload_small: int = 100 * MB
    repeats: int = 9  # odd: the median is a round
    # Rounds of uploads: a 100 MB upload is under 0.1 s, and single rounds differ by half.
    upload_repeats: int = 15
    quick: bool = False

    @property
    def download_timed(self) -> int:
        return self.download_small if self.quick else self.download_big

    @property
    def upload_timed(self) -> int:
        return self.upload_small if self.quick else self.upload_big


@dataclass(frozen=True)
class Run:
    """One uprez transfer, as its child process reports it."""

    seconds: float
    cpu: float  # user + system seconds the transfer took
    growth: int  # peak RSS growth during the transfer, in bytes
    url: str = ""  # an upload's download URL


# -- the child process: uprez alone --------------------------------------------------------------


def _reset_peak() -> int:
    """Reset the peak RSS to the current RSS (Linux's clear_refs); return the current RSS.

    Where that is refused, the peak so far: growth is then only what rises above it.
    """
    return rss_bytes("VmRSS") if reset_peak_rss() else rss_bytes("VmHWM")


def _child(kind: str, base: str, what: str, target: str) -> None:
    """Transfer once through uprez's client, then print seconds and peak RSS growth as JSON."""
    from uprez.config import load_config
    from uprez.wavespeed.provider import WaveSpeedProvider

    config = load_config(env={}, overrides=UNPACED_CLIENT)
    client = WaveSpeedProvider.from_config(config, base_url=base, api_key=KEY).client
    _warm_up(client.upload, Path(target or what))
    seen = [0]

    def progress(done: int, total: int | None) -> None:  # a job passes a throttle: as cheap
        seen[0] = done

    before = _reset_peak()
    cpu = _cpu_seconds()
    started = time.perf_counter()
    if kind == "download":
        client.download(what, Path(target), progress=progress)
        url = ""
    else:
        url = client.upload(Path(what), progress=progress)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    growth = rss_bytes("VmHWM") - before
    client.session.close()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "growth": growth, "url": url}))


def _warm_up(upload: Callable[[Path], str], beside: Path) -> None:
    """Upload a one-byte file once, so that what a fresh interpreter does only once (read the
    system's MIME types, import what requests imports lazily) is not counted: curl's
    ``time_total`` leaves out its own start-up too. Costs about 10 ms on this path."""
    tiny = beside.with_name(f".warm-up-{os.getpid()}.mp4")
    tiny.write_bytes(b"\0")
    try:
        upload(tiny)
    finally:
        tiny.unlink()


def _uprez(kind: str, base: str, what: str, target: str = "") -> Run:
    command = [sys.executable, "-m", "benchmarks.bench_transfers", kind, base, what, target]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(
        float(answer["seconds"]), float(answer["cpu"]), int(answer["growth"]), str(answer["url"])
    )


# -- curl ----------------------------------------------------------------------------------------


def _cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Curled:
    """One curl run: what it printed, its ``time_total`` (the transfer's start to its end) and
    its CPU time."""

    body: str
    seconds: float
    cpu: float


def _curl(*args: str) -> Curled:
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)  # children waited for: only this one meanwhile
    done = subprocess.run(
        [CURL, "-s", "-S", "-f", "-w", "\n%{time_total}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, seconds = done.stdout.rpartition("\n")
    return Curled(body, float(seconds), _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu)


def _curl_download(url: str, target: Path) -> tuple[float, float]:
    """``curl -o`` into a temporary file beside ``target``, then an fsync of it and a rename
    onto ``target``, as uprez's download lands a file. Returns curl's ``time_total`` plus the
    fsync's and the rename's time, and the CPU seconds of both."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    measured = _curl("-o", str(temp), url)
    cpu = _cpu_seconds(resource.RUSAGE_THREAD)  # this thread's: the server's run beside it
    started = time.perf_counter()
    handle = os.open(temp, os.O_RDONLY)  # an fsync syncs the file, whichever handle asks
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
    os.replace(temp, target)
    seconds = time.perf_counter() - started
    return measured.seconds + seconds, measured.cpu + _cpu_seconds(resource.RUSAGE_THREAD) - cpu


def _curl_upload(base: str, source: Path) -> tuple[float, float, str]:
    """Ask for a ticket as the client does (POST /api/v3/media/uploads), then ``curl -T`` the
    file to its PUT URL; both count, as both count in uprez's ``upload``. Returns the seconds,
    the CPU seconds and the media URL."""
    ask = {"filename": source.name, "size": source.stat().st_size, "content_type": "video/mp4"}
    auth, kind = f"Authorization: Bearer {KEY}", "Content-Type: application/json"
    ticket = _curl("-H", auth, "-H", kind, "-d", json.dumps(ask), f"{base}/api/v3/media/uploads")
    data = json.loads(ticket.body)["data"]
    # Exactly the ticket's (signed) headers, as uprez sends them.
    signed = [arg for k, v in data["upload"]["headers"].items() for arg in ("-H", f"{k}: {v}")]
    put = _curl("-T", str(source), *signed, "-o", os.devnull, data["upload"]["url"])
    return ticket.seconds + put.seconds, ticket.cpu + put.cpu, str(data["download_url"])


# -- the server's side ---------------------------------------------------------------------------


class _Filler:
    """``size`` bytes of incompressible filler (one random block, over and over), as a stream."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = os.urandom(4 * MiB)

    def read(self, amount: int = -1) -> bytes:
        count = min(self._left, len(self._block) if amount < 0 else amount, len(self._block))
        self._left -= count
        return self._block[:count]


def _write_file(path: Path, size: int) -> Path:
    filler = _Filler(size)
    with path.open("wb") as out:
        while chunk := filler.read(MiB):
            out.write(chunk)
    return path


def _serve_media(server: LocalServer, size: int) -> str:
    """Put a file of ``size`` bytes in the server's upload store; return its media URL."""
    assert server.app is not None
    stream = cast(IO[bytes], _Filler(size))  # read() is all store_stream asks of it
    media = server.app.uploads.store_stream("served.mp4", "video/mp4", stream, size, time.time())
    return f"{server.storage_url}/media/{media.id}/{media.filename}"


def _forget_upload(server: LocalServer, media_url: str) -> None:
    """Delete an uploaded file from the server's store (they would fill the disk otherwise)."""
    media_id = urlsplit(media_url).path.split("/")[2]
    shutil.rmtree(server.root / "uploads" / media_id, ignore_errors=True)


# -- the measurements ----------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"  bench_transfers: {message}", file=sys.stderr, flush=True)


@dataclass
class Duel:
    """uprez's runs and curl's (seconds and CPU seconds), taken in alternating order."""

    ours: list[Run]
    curl: list[tuple[float, float]]

    @classmethod
    def of(
        cls, ours: Callable[[], Run], curl: Callable[[], tuple[float, float]], repeats: int
    ) -> Duel:
        duel = cls([], [])

        def one_of_ours() -> float:
            duel.ours.append(ours())
            return duel.ours[-1].seconds

        def one_of_curl() -> float:
            duel.curl.append(curl())
            return duel.curl[-1][0]

        one_of_ours(), one_of_curl()  # warm up: the page cache, the server's first requests
        duel.ours.clear()
        duel.curl.clear()
        alternating(one_of_ours, one_of_curl, repeats)
        return duel

    def throughput_row(self, name: str, size: int, note: str) -> Row:
        """MB/s of the round whose ratio is the median (each round: one run of each side, one
        after the other), so the table's ratio is the verdict. The note gives every round's
        ratio, the ratio of the medians and the CPU seconds per GB."""
        ours = [run.seconds for run in self.ours]
        theirs = [seconds for seconds, _ in self.curl]
        ratios = [t / o for o, t in zip(ours, theirs, strict=True)]
        middle = sorted(range(len(ratios)), key=lambda i: ratios[i])[len(ratios) // 2]
        cpu_ours = median([run.cpu for run in self.ours]) / (size / 1e9)
        cpu_curl = median([cpu for _, cpu in self.curl]) / (size / 1e9)
        return Row(
            name,
            size / MB / ours[middle],
            size / MB / theirs[middle],
            "MB/s",
            ">= 0.9x",
            ratios[middle] >= 0.9,
            note=f"{note}; the median of {len(ratios)} alternating rounds "
            f"({ratio_spread(ratios)}x; medians of all runs {size / MB / median(ours):.0f} vs "
            f"{size / MB / median(theirs):.0f} MB/s); "
            f"CPU s/GB uprez {cpu_ours:.2f}, curl {cpu_curl:.2f}",
        )


def _memory_row(name: str, big: list[int], small: list[int], note: str) -> Row:
    """Peak RSS growth of the big transfer; the baseline is the small one's (flat: ratio ~1)."""
    grown = max(big)
    return Row(
        name,
        grown / MB,
        max(small) / MB,
        "MB",
        f"<= {MEMORY_LIMIT // MB} MB",
        grown <= MEMORY_LIMIT,
        note=f"{note}; worst of {len(big)}",
    )


def _downloads(server: LocalServer, work: Path, sizes: Sizes) -> list[Row]:
    size = sizes.download_timed
    url = _serve_media(server, size)
    ours_file, curl_file = work / "uprez.out", work / "curl.out"

    def ours() -> Run:
        run = _uprez("download", server.base_url, url, str(ours_file))
        ours_file.unlink()
        return run

    def curl() -> tuple[float, float]:
        measured = _curl_download(url, curl_file)
        curl_file.unlink()
        return measured

    duel = Duel.of(ours, curl, sizes.repeats)
    _forget_upload(server, url)
    other = _download_growth(
        server, work, sizes.download_big if sizes.quick else sizes.download_small
    )
    growths = [run.growth for run in duel.ours]
    big, small = ([other], growths) if sizes.quick else (growths, [other])
    return [
        duel.throughput_row(
            f"download {size // MiB} MiB: throughput",
            size,
            "both: a temporary file beside the target, fsync, rename; curl -s -o TEMP",
        ),
        _memory_row(
            f"download {sizes.download_big // MiB} MiB: peak RSS growth",
            big,
            small,
            f"baseline: the same at {sizes.download_small // MiB} MiB",
        ),
    ]


def _download_growth(server: LocalServer, work: Path, size: int) -> int:
    url = _serve_media(server, size)
    target = work / "uprez-memory.out"
    run = _uprez("download", server.base_url, url, str(target))
    target.unlink()
    _forget_upload(server, url)
    return run.growth


def _uploads(server: LocalServer, work: Path, sizes: Sizes) -> list[Row]:
    size = sizes.upload_timed
    source = _write_file(work / "upload.mp4", size)

    def ours() -> Run:
        run = _uprez("upload", server.base_url, str(source))
        _forget_upload(server, run.url)
        return run

    def curl() -> tuple[float, float]:
        seconds, cpu, media_url = _curl_upload(server.base_url, source)
        _forget_upload(server, media_url)
        return seconds, cpu

    duel = Duel.of(ours, curl, sizes.upload_repeats)
    source.unlink()
    other = _upload_growth(server, work, sizes.upload_big if sizes.quick else sizes.upload_small)
    growths = [run.growth for run in duel.ours]
    big, small = ([other], growths) if sizes.quick else (growths, [other])
    return [
        duel.throughput_row(
            f"upload {size // MB} MB: throughput",
            size,
            "both ask for a ticket, then PUT: curl -T",
        ),
        _memory_row(
            f"upload {sizes.upload_big // MB} MB: peak RSS growth",
            big,
            small,
            f"baseline: the same at {sizes.upload_small // MB} MB",
        ),
    ]


def _upload_growth(server: LocalServer, work: Path, size: int) -> int:
    source = _write_file(work / "upload-memory.mp4", size)
    run = _uprez("upload", server.base_url, str(source))
    _forget_upload(server, run.url)
    source.unlink()
    return run.growth


def run(quick: bool) -> list[Row]:
    sizes = Sizes(quick=True) if quick else Sizes(repeats=11)
    started = time.perf_counter()
    with twin_files_in_memory():
        server = LocalServer(ServerSettings(api_key=KEY, **LENIENT_TWIN)).start()
    try:
        with tempfile.TemporaryDirectory(prefix="uprez-bench-transfers-", dir="/tmp") as folder:
            work = Path(folder)
            rows = _downloads(server, work, sizes)
            _say(f"downloads measured ({time.perf_counter() - started:.0f} s)")
            rows += _uploads(server, work, sizes)
            _say(f"uploads measured ({time.perf_counter() - started:.0f} s)")
    finally:
        server.stop()
    return rows


if __name__ == "__main__":
    _child(*sys.argv[1:5])
