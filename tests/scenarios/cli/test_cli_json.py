"""`uprez upscale --json` is a contract for farm scripts: it validates against its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from uprez.schema_files import load_schema
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, service_env, stats


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if env is None:
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


def stopped_answer(done: subprocess.CompletedProcess[str], code: int) -> dict[str, Any]:
    """The --json answer of a run that stopped as a whole with ``code``: valid, on stdout."""
    assert done.returncode == code, done.stderr
    assert done.stdout.strip(), f"nothing on stdout; stderr: {done.stderr}"
    answer: dict[str, Any] = json.loads(done.stdout)
    Draft202012Validator(load_schema("cli-result")).validate(answer)
    assert answer["error"]["exit_code"] == code
    assert answer["results"] == []
    return answer


@pytest.mark.parametrize("where", ["file", "argument"])
def test_a_config_error_before_any_input_is_checked_still_answers_on_stdout(
    tmp_path: Path, where: str
) -> None:
    # The input does not even exist: the config is refused before inputs are looked at.
    missing = str(tmp_path / "nowhere.mp4")
    if where == "file":
        config = tmp_path / "uprez.toml"
        config.write_text("[polling]\ndeadline = -1\n")
        done = run_cli("upscale", missing, "--json", "--config", str(config))
    else:  # argparse refuses the command line itself: a usage error, exit 2 as well
        done = run_cli("upscale", missing, "--json", "--max-cost", "lots")

    answer = stopped_answer(done, 2)
    expected = "$.polling.deadline" if where == "file" else "--max-cost"
    assert expected in answer["error"]["message"]
    assert answer["error"]["path"] is None


def test_a_refused_input_answers_on_stdout_naming_it(clip: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"

    done = run_cli("upscale", str(clip), str(missing), "--provider", "local", "--json")

    answer = stopped_answer(done, 3)
    assert answer["error"]["path"] == str(missing)
    assert "no such file" in answer["error"]["message"]


def test_a_budget_refusal_answers_on_stdout(clip: Path) -> None:
    done = run_cli("upscale", str(clip), "--provider", "local", "--json", "--max-cost", "0.05")

    answer = stopped_answer(done, 4)
    assert "limit per job" in answer["error"]["message"]
    assert not (clip.parent / "shot_4k.mp4").exists()


def test_a_balance_refusal_answers_on_stdout_before_any_upload(clip: Path) -> None:
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL, balance=Decimal("0.05")
    )
    with LocalServer(settings) as server:
        done = run_cli(
            "upscale", str(clip), "--json", env=service_env(server.base_url, key=TEST_KEY)
        )
        spent = stats(server.base_url, TEST_KEY)

    answer = stopped_answer(done, 4)
    assert "balance" in answer["error"]["message"]
    assert (spent["uploads"], spent["submissions"]) == (0, 0)
