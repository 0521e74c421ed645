"""What every benchmark shares: a result row, medians, interleaved repetitions, the table, the
process's resident memory (current and peak, with the peak resettable on Linux), and the twin
kept off the client's disk (in memory) and, where asked, out of its interpreter."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The one leniency the benchmarks ask of the twin, by name: no account limits (the strict
#: default is bronze: 2 submits a minute, 2 tasks at once) and uploads as large as the files
#: measured (the strict default is 100 MB). Tests never use it.
LENIENT_TWIN: dict[str, Any] = {"account_level": "unlimited", "max_upload_bytes": 4 * 1024**3}

#: The matching client settings: an account that paces nothing, and no cutting for size.
UNPACED_CLIENT: dict[str, object] = {
    "account.level": "custom",
    "account.submits_per_minute": 1_000_000,
    "account.concurrent_tasks": 64,
    "limits.max_upload_bytes": 4 * 1024**3,
}


@dataclass(frozen=True)
class Row:
    """One line of the table: uprez's figure, the baseline's, their ratio and the target."""

    name: str
    uprez: float
    baseline: float
    unit: str
    target: str
    met: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.uprez / self.baseline if self.baseline else float("nan")


def interleaved(
    first: Callable[[], float], second: Callable[[], float], repeats: int
) -> tuple[list[float], list[float]]:
    """Run two measurements alternately ``repeats`` times each (so drift hits both alike)."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a.append(first())
        b.append(second())
    return a, b


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def table(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| benchmark | uprez | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        note = f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.name}{note} | {row.uprez:.3g} {row.unit} | {row.baseline:.3g} {row.unit} "
            f"| {row.ratio:.2f} | {row.target} | {'yes' if row.met else 'NO'} |"
        )
    return "\n".join(lines)


def alternating(
    first: Callable[[], float], second: Callable[[], float], repeats: int
) -> tuple[list[float], list[float]]:
    """Like :func:`interleaved`, but the order flips every round (AB, BA, AB, ...).

    For runs that leave something behind that slows the next one (a disk still writing back the
    last file), so that it falls on each side alike rather than always on the second.
    """
    a: list[float] = []
    b: list[float] = []
    for round_ in range(repeats):
        if round_ % 2:
            b.append(second())
            a.append(first())
        else:
            a.append(first())
            b.append(second())
    return a, b


def rss_bytes(field_name: str) -> int:
    """``VmRSS`` or ``VmHWM`` of this process, in bytes (0 where /proc is missing)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux); False where it cannot be."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- the twin's own files ------------------------------------------------------------------------

#: A RAM disk (Linux's ``/dev/shm``), where a twin started by a benchmark keeps its files.
MEMORY_DISK = Path("/dev/shm")
_REPO = Path(__file__).resolve().parent.parent


def memory_disk() -> str | None:
    """The RAM disk's path if this system has a writable one, else None."""
    return str(MEMORY_DISK) if MEMORY_DISK.is_dir() and os.access(MEMORY_DISK, os.W_OK) else None


@contextlib.contextmanager
def twin_files_in_memory() -> Iterator[str]:
    """While this block runs, temporary folders made without a ``dir`` (a ``LocalServer``'s, as
    it starts) go on the RAM disk; yields where they go.

    The real service keeps uploads and outputs on machines of its own. A twin on this machine
    writes each upload and each output to the same shared disk the client writes its download
    to, and its unsynced pages are written back while either side is timed, slowing whichever
    that is: a whole job's twin wrote 100 MB a job, and its copy took 0.02 to 0.2 s from one job
    to the next. On the RAM disk those writes cost what they cost the service: nothing on the
    client's disk. Start only the server in this block (the client's own files belong on disk).
    """
    folder = memory_disk()
    saved = tempfile.tempdir
    if folder is not None:
        tempfile.tempdir = folder
    try:
        yield folder or tempfile.gettempdir()
    finally:
        tempfile.tempdir = saved


def serve_twin(settings: str) -> None:
    """A twin process's body: ``ServerSettings(**json.loads(settings))``, files on the RAM disk;
    prints its base URL, then serves until SIGINT."""
    from uprez.standin.runner import LocalServer
    from uprez.standin.settings import ServerSettings

    server = LocalServer(ServerSettings(**json.loads(settings)))
    server.on_ready = lambda: print(server.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt), twin_files_in_memory():
        server.serve_forever()


@contextlib.contextmanager
def twin_process(settings: dict[str, Any], log_path: Path) -> Iterator[str]:
    """A twin in a process of its own (so its threads share no interpreter, no GIL, with the
    client measured, as the real service shares none), its files on the RAM disk (see
    :func:`twin_files_in_memory`); yields its base URL and stops it afterwards. ``settings``
    are ``ServerSettings`` fields, as JSON; what it logs goes to ``log_path``."""
    code = f"from benchmarks.common import serve_twin; serve_twin({json.dumps(settings)!r})"
    paths = [str(_REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with log_path.open("wb") as errors:
        child = subprocess.Popen(
            [sys.executable, "-c", code], cwd=_REPO, env=env, stdout=subprocess.PIPE, stderr=errors
        )
        try:
            assert child.stdout is not None
            base_url = child.stdout.readline().decode().strip()
            if not base_url.startswith("http"):
                raise RuntimeError(f"the twin did not start: {log_path.read_text()[-2000:]}")
            yield base_url
        finally:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def ratio_spread(ratios: list[float]) -> str:
    """Every round's ratio, in the order taken, for a row's note: ``0.98, 1.02, 0.95``."""
    return ", ".join(f"{r:.2f}" for r in ratios)
