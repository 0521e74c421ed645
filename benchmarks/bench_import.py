"""`import uprez` plus plugin discovery: fast, and without PyAV, werkzeug or rich."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.common import Row, median

_PROBE = """
import json, sys, time
started = time.perf_counter()
import uprez
from uprez.plugins import get_plugin_manager
pm = get_plugin_manager()
pm.steps(); pm.providers()
took = time.perf_counter() - started
heavy = [m for m in ("av", "werkzeug", "rich") if m in sys.modules]
print(json.dumps({"seconds": took, "heavy": heavy}))
"""
_BASELINE = """
import json, time
started = time.perf_counter()
import requests, pluggy, jsonschema
print(json.dumps({"seconds": time.perf_counter() - started, "heavy": []}))
"""


def _run(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def run(quick: bool) -> list[Row]:
    repeats = 3 if quick else 7
    ours = [_run(_PROBE) for _ in range(repeats)]
    base = [_run(_BASELINE) for _ in range(repeats)]
    heavy = sorted({m for r in ours for m in r["heavy"]})  # type: ignore[attr-defined]
    return [
        Row(
            "import uprez + plugin discovery",
            median([float(r["seconds"]) for r in ours]),  # type: ignore[arg-type]
            median([float(r["seconds"]) for r in base]),  # type: ignore[arg-type]
            "s",
            "no av/werkzeug/rich imported",
            not heavy,
            note="vs importing requests+pluggy+jsonschema"
            + (f"; imported {heavy}" if heavy else ""),
        )
    ]
