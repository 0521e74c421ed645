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


def test_copy_mode_serves_the_input_repeated_for_overhead_benchmarks(tmp_path: Path) -> None:
    from uprez.server.runner import LocalServer
    from uprez.server.settings import ServerSettings

    from support import upload, wait_for

    data = bytes(range(256)) * 40
    source = tmp_path / "bytes.mp4"
    source.write_bytes(data)
    with LocalServer(ServerSettings(api_key=KEY, copy_factor=3, task_seconds=0.3)) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {KEY}"
        url = upload(session, server.base_url, source)
        task = session.post(f"{server.base_url}/api/v3/m", json={"video": url}, timeout=10)
        done = wait_for(session, task.json()["data"]["urls"]["get"])
        assert done["status"] == "completed"
        assert done["timings"]["inference"] >= 300
        assert requests.get(done["outputs"][0], timeout=10).content == data * 3
