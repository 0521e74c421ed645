"""``python -m benchmarks [--quick] [NAME ...]``: run every benchmark (or those whose module
name contains a NAME, e.g. ``conform``) and print one table."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks import (
    bench_command,
    bench_conform,
    bench_farm,
    bench_import,
    bench_ledger,
    bench_many,
    bench_media,
    bench_overhead,
    bench_polling,
    bench_segments,
    bench_sequences,
    bench_time_to_4k,
    bench_transfers,
)
from benchmarks.common import Row, table

BENCHMARKS = [
    bench_import,
    bench_overhead,
    bench_command,
    bench_polling,
    bench_transfers,
    bench_segments,
    bench_many,
    bench_ledger,
    bench_farm,
    bench_media,
    bench_conform,
    bench_sequences,
    bench_time_to_4k,
]


def machine() -> str:
    """What the figures were measured on: CPU model and count, memory, Python, OS."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024**2:.0f} GiB"
    return (
        f"{model}, {os.cpu_count()} cores{memory}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repetitions, smaller files, the four time-to-4K jobs at once (about 12 min)",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="only the benchmarks whose module name has it"
    )
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.names or any(n in b.__name__ for n in args.names)]
    if not chosen:
        parser.error(f"no benchmark is named like {' or '.join(args.names)}")
    rows: list[Row] = []
    started = time.monotonic()
    for bench in chosen:
        print(f"running {bench.__name__} ...", file=sys.stderr, flush=True)
        rows.extend(bench.run(args.quick))
    print(f"machine: {machine()}")
    print(f"wall time: {time.monotonic() - started:.0f} s ({'quick' if args.quick else 'full'})")
    print(table(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
