"""``python -m benchmarks [--quick]``: run every benchmark and print one table."""

from __future__ import annotations

import argparse
import platform
import sys

from benchmarks import (
    bench_import,
    bench_many,
    bench_overhead,
    bench_polling,
    bench_segments,
)
from benchmarks.common import Row, table

BENCHMARKS = [bench_import, bench_overhead, bench_polling, bench_segments, bench_many]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under 3 min)")
    args = parser.parse_args()
    rows: list[Row] = []
    for bench in BENCHMARKS:
        print(f"running {bench.__name__} ...", file=sys.stderr, flush=True)
        rows.extend(bench.run(args.quick))
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()}"
    )
    print(table(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
