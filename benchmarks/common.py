"""What every benchmark shares: a result row, medians, interleaved repetitions, the table, and
the process's resident memory (current and peak, with the peak resettable on Linux)."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
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
