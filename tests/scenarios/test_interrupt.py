"""Ctrl-C while a job waits on its task: ``uprez upscale`` stops at once with exit 130, the task
stays in the journal, and a rerun collects that same task without submitting again.

Python delivers SIGINT to the main thread only, and the task is waited on by a worker thread;
the command is run as a user runs it, in its own process, and sent one real SIGINT.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from uprez.schema_files import load_schema
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, service_env, stats, task_ids

pytestmark = pytest.mark.slow

# Long enough that an interrupt not honoured until the task ends shows; short enough that the
# rerun, which waits for the task to end, keeps the test brief.
TASK_SECONDS = 8.0
# How soon after SIGINT the command must have exited.
PROMPTLY = 2.0


@pytest.fixture
def slow_server() -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=TEST_KEY,
        max_size=TEST_BOX,
        workers=2,
        account_level=TEST_LEVEL,
        task_seconds=TASK_SECONDS,
    )
    with LocalServer(settings) as running:
        yield running


def submissions(server: LocalServer) -> int:
    return int(stats(server.base_url, TEST_KEY)["submissions"])


def test_ctrl_c_while_waiting_exits_130_at_once_and_a_rerun_collects_the_same_task(
    slow_server: LocalServer, clip: Path, tmp_path: Path
) -> None:
    env = service_env(
        slow_server.base_url,
        key=TEST_KEY,
        UPREZ_POLLING__FIRST_INTERVAL="0.05",
        UPREZ_POLLING__MAX_INTERVAL="0.5",
    )
    output = tmp_path / "shot_4k.mp4"
    command = [sys.executable, "-m", "uprez", "upscale", str(clip), "-o", str(output), "--json"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while submissions(slow_server) == 0:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the task was never submitted"
            time.sleep(0.05)
        time.sleep(0.5)  # polling the task now, a worker thread doing it
        assert process.poll() is None, "the run ended before it could be interrupted"
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=TASK_SECONDS + 30)
        except subprocess.TimeoutExpired:
            pytest.fail("the run did not stop after SIGINT")
        took = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, stderr
    assert took < PROMPTLY, f"exited {took:.1f} s after SIGINT"
    [line] = stderr.strip().splitlines()
    assert "interrupted" in line and "run the same command again" in line
    assert "tasks are kept" in line
    answer = json.loads(stdout)
    Draft202012Validator(load_schema("cli-result")).validate(answer)
    assert answer["results"] == [] and answer["error"]["exit_code"] == 130
    assert not output.exists()
    [task] = task_ids(slow_server.base_url, TEST_KEY)

    # The task goes on at the service; the journal knows it: the rerun waits for it to end.
    rerun = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=TASK_SECONDS + 60
    )

    assert rerun.returncode == 0, rerun.stderr
    [result] = json.loads(rerun.stdout)["results"]
    assert result["task_id"] == task
    assert submissions(slow_server) == 1
    assert output.exists()
