"""`uprez serve` misbehaves on purpose when told to by flag or file, for studios' own tests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests

KEY = "serve-fault-key"


def serve(*extra: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uprez", "serve", "--port", "0", "--api-key", KEY, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("uprez local server on http://127.0.0.1:"), line
    return process, line.split()[-1]


def balance(base: str) -> int:
    answer = requests.get(
        f"{base}/api/v3/balance", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    return answer.status_code


def test_a_fault_flag_is_injected_then_the_server_answers_normally() -> None:
    fault = {"route": "balance", "kind": "http", "status": 503, "times": 2}
    process, base = serve("--fault", json.dumps(fault))
    try:
        assert [balance(base) for _ in range(3)] == [503, 503, 200]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_faults_from_a_file_are_listed_by_the_admin_route(tmp_path: Path) -> None:
    plan = tmp_path / "faults.json"
    plan.write_text(
        json.dumps(
            [
                {"route": "prediction", "kind": "task_status", "task_status": "weird", "times": 3},
                {"route": "output", "kind": "cut"},
            ]
        )
    )
    process, base = serve("--faults", str(plan))
    try:
        pending = requests.get(
            f"{base}/_uprez/faults", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        ).json()["data"]["pending"]
        assert [(f["route"], f["kind"], f["times"]) for f in pending] == [
            ("prediction", "task_status", 3),
            ("output", "cut", 1),
        ]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_a_bad_fault_is_a_usage_error_naming_the_known_kinds() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uprez", "serve", "--fault", '{"route": "submit", "kind": "boom"}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown fault kind 'boom'" in done.stderr and "drop_after" in done.stderr
