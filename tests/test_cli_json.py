"""`uprez upscale --json` is a contract for farm scripts: it validates against its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from jsonschema import Draft202012Validator

from uprez.schema_files import load_schema


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UPREZ_LOCAL__MAX_SIZE": "256x144"}
    env.pop("WAVESPEED_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "uprez", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_the_json_of_a_batch_with_a_success_and_a_failure_matches_the_schema(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    good = make_clip("good.mp4", seconds=0.5, fps=12)
    out = tmp_path / "out"
    done = run_cli("upscale", str(good), "-o", str(out), "--provider", "local", "--json")

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    Draft202012Validator(load_schema("cli-result")).validate(answer)
    [result] = answer["results"]
    assert Path(result["output"]).exists()
    assert Path(result["sidecar"]).exists()
    assert result["segments"] == 1 and result["cost"] == "0.10"


def test_a_failed_job_reports_its_exit_code_and_task_in_the_json(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("shot.mp4", seconds=0.5, fps=12)
    # Verified against a size the local server does not make, the job fails after its task
    # ran: the entry must carry exit code 5 and the task id, for a rerun or a support ticket.
    config = tmp_path / "uprez.toml"
    config.write_text('[local]\nmax_size = "256x144"\n[verify]\ntarget_size = "512x288"\n')

    done = run_cli("upscale", str(clip), "--provider", "local", "--json", "--config", str(config))

    assert done.returncode == 5, done.stderr
    answer = json.loads(done.stdout)
    Draft202012Validator(load_schema("cli-result")).validate(answer)
    [result] = answer["results"]
    assert result["exit_code"] == 5
    assert len(result["task_id"]) == 32
    assert "does not match its source" in result["error"]


def test_compare_writes_a_picture_next_to_the_output_and_names_it_in_the_json(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("look.mp4", seconds=0.5, fps=12)
    out = tmp_path / "look_4k.mp4"

    done = run_cli(
        "upscale", str(clip), "-o", str(out), "--provider", "local", "--json", "--compare"
    )

    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    picture = Path(result["compare"])
    assert picture == tmp_path / "look_4k.mp4.compare.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    Draft202012Validator(load_schema("cli-result")).validate(json.loads(done.stdout))
