"""`uprez serve` misbehaves on purpose when told to by flag or file, for studios' own tests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
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


BAD_FAULTS = {
    "status-too-big": ({"route": "submit", "kind": "http", "status": 1000}, "status"),
    "status-too-small": ({"route": "submit", "kind": "http", "status": 42}, "status"),
    "status-text": ({"route": "submit", "kind": "http", "status": "503"}, "status"),
    "times-zero": ({"route": "balance", "kind": "http", "times": 0}, "times"),
    "times-negative": ({"route": "balance", "kind": "http", "times": -5}, "times"),
    "unknown-route": ({"route": "predictionz", "kind": "http"}, "unknown fault route"),
    "kind-off-its-route": ({"route": "submit", "kind": "cut"}, "applies only to"),
    "negative-delay": ({"route": "submit", "kind": "delay", "delay": -1}, "delay"),
}


@pytest.mark.parametrize(("fault", "says"), BAD_FAULTS.values(), ids=BAD_FAULTS.keys())
def test_an_invalid_fault_flag_is_a_usage_error(fault: dict[str, object], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uprez", "serve", "--port", "0", "--fault", json.dumps(fault)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert "uprez local server on" not in done.stdout


@pytest.mark.parametrize(("fault", "says"), BAD_FAULTS.values(), ids=BAD_FAULTS.keys())
def test_an_invalid_fault_is_a_400_on_the_admin_route(fault: dict[str, object], says: str) -> None:
    from uprez.standin.runner import LocalServer
    from uprez.standin.settings import ServerSettings

    with LocalServer(ServerSettings(api_key=KEY)) as server:
        headers = {"Authorization": f"Bearer {KEY}"}
        answer = requests.post(
            f"{server.base_url}/_uprez/faults", json=[fault], headers=headers, timeout=10
        )
        mixed = requests.post(
            f"{server.base_url}/_uprez/faults",
            json=[{"route": "balance", "kind": "http"}, fault],
            headers=headers,
            timeout=10,
        )
        not_objects = requests.post(
            f"{server.base_url}/_uprez/faults", json=["submit"], headers=headers, timeout=10
        )
        pending = requests.get(f"{server.base_url}/_uprez/faults", headers=headers, timeout=10)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 400
    assert says in answer.json()["message"]
    assert mixed.status_code == 400
    assert not_objects.status_code == 400
    # Nothing of a refused list was queued, not even its valid faults.
    assert pending.json()["data"]["pending"] == []


def test_copy_mode_serves_the_input_repeated_for_overhead_benchmarks(tmp_path: Path) -> None:
    from uprez.standin.runner import LocalServer
    from uprez.standin.settings import ServerSettings

    from support import upload, wait_for

    data = bytes(range(256)) * 40
    source = tmp_path / "bytes.mp4"
    source.write_bytes(data)
    settings = ServerSettings(
        api_key=KEY, copy_factor=3, task_seconds=0.3, account_level="unlimited"
    )
    with LocalServer(settings) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {KEY}"
        url = upload(session, server.base_url, source)
        task = session.post(
            f"{server.base_url}/api/v3/runwayml/upscale-v1", json={"video": url}, timeout=10
        )
        done = wait_for(session, task.json()["data"]["urls"]["get"])
        assert done["status"] == "completed"
        assert done["timings"]["inference"] >= 300
        assert requests.get(done["outputs"][0], timeout=10).content == data * 3
