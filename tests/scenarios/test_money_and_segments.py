"""Money and long videos: estimates, budgets, segments run in parallel and rerun after a failure,
audio restored from the source, results verified, and the local server's simulated pace.

The command line runs as a user runs it (``python -m uprez`` in a fresh process, the local provider
kept to a small box); everything else runs in-process against a real local server over HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.config import load_config
from uprez.errors import BudgetError, TaskFailed, VerificationError
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.estimate import estimate
from uprez.step.run import run_upscale
from uprez.step.segments import WORK_FOLDER
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.provider import WaveSpeedProvider

from support import (
    SECRET_KEY,
    TEST_BOX,
    TEST_KEY,
    Service,
    fast_config,
    stats,
    upload,
    wait_for,
)

# -- command line helpers --------------------------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    """The caller's environment without uprez settings or a key, plus the small upscale box."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_") and name != "WAVESPEED_API_KEY"
    }
    env["UPREZ_LOCAL__MAX_SIZE"] = "256x144"
    env["UPREZ_POLLING__FIRST_INTERVAL"] = "0.05"
    env.update(extra)
    return env


def uprez(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m uprez ARGS`` in ``cwd`` with :func:`cli_env` plus ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "uprez", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(**env),
        timeout=120,
    )


def money_strings(value: Any) -> list[object]:
    """Every ``cost``/``total_cost`` value found anywhere in a JSON document."""
    found: list[object] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("cost", "total_cost"):
                found.append(item)
            found.extend(money_strings(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(money_strings(item))
    return found


# -- in-process fixtures ---------------------------------------------------------------------------


@pytest.fixture
def long_clip(make_clip: Callable[..., Path]) -> Path:
    """A 2 s, 12 fps, 64x36 clip with sound: four segments with ``limits.max_duration`` 0.5."""
    return make_clip("long.mp4", seconds=2, fps=12, width=64, height=36, audio=True)


def upscale(
    clip: Path,
    service: Service | LocalServer,
    pm: PluginManager,
    overrides: dict[str, object] | None = None,
) -> Artifact:
    """Run the step on ``clip`` against ``service`` with fast polling, as a host would."""
    config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(
        fast_config(overrides), base_url=service.base_url, api_key=SECRET_KEY
    )
    try:
        return run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
    finally:
        provider.close()


def sidecar(result: Artifact) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(sidecar_path(result.path).read_text())
    return record


SEGMENTED: dict[str, object] = {"limits.max_duration": 0.5}


# -- 1. uprez estimate -----------------------------------------------------------------------------


def test_estimate_json_lists_each_file_with_money_as_strings_and_sums_the_total(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    one = make_clip("one.mp4", seconds=1, fps=12, width=64, height=36)
    other = make_clip("other.mp4", seconds=1, fps=12, width=64, height=36, audio=False)

    single = uprez("estimate", one, "--json", "--project", "tentpole", cwd=tmp_path)
    both = uprez("estimate", one, other, "--json", cwd=tmp_path)

    assert single.returncode == 0, single.stderr
    data = json.loads(single.stdout)
    assert set(data) == {"files", "total_cost"}
    [item] = data["files"]
    assert set(item) == {
        "path",
        "duration",
        "segments",
        "billed_seconds",
        "cost",
        "output",
        "project",
        "user",
    }
    assert item["path"] == str(one)
    assert item["project"] == "tentpole"  # whose budget it would be charged to
    assert item["output"] == str(one.with_name("one_4k.mp4"))  # where `upscale` would put it
    assert item["duration"] == pytest.approx(1.0, abs=0.05)
    assert len(item["segments"]) == 1
    assert item["billed_seconds"] == 5
    assert item["cost"] == "0.10"
    assert data["total_cost"] == "0.10"
    # Money is a decimal string everywhere, never a JSON number.
    amounts = money_strings(data)
    assert amounts and all(isinstance(a, str) for a in amounts), amounts
    assert '"cost": 0' not in single.stdout

    assert both.returncode == 0, both.stderr
    data = json.loads(both.stdout)
    assert [f["path"] for f in data["files"]] == [str(one), str(other)]
    assert data["total_cost"] == str(sum(Decimal(f["cost"]) for f in data["files"]))
    assert data["total_cost"] == "0.20"
    assert all(isinstance(a, str) for a in money_strings(data))
    assert not list(tmp_path.glob("*_4k.mp4")), "an estimate must not upscale anything"


def test_estimate_without_json_prints_each_file_and_the_total(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    one = make_clip("one.mp4", seconds=1, fps=12, width=64, height=36)
    other = make_clip("other.mp4", seconds=1, fps=12, width=64, height=36)

    run = uprez("estimate", one, other, cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert str(one) in run.stdout and str(other) in run.stdout
    assert "$0.10" in run.stdout
    assert re.search(r"total\W+\$0\.20\b", run.stdout, re.IGNORECASE), run.stdout
    with pytest.raises(ValueError):
        json.loads(run.stdout)


def test_estimate_of_a_missing_file_exits_3_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"

    run = uprez("estimate", missing, "--json", cwd=tmp_path)

    assert run.returncode == 3, run.stderr
    assert str(missing) in run.stderr
    assert run.stdout.strip() == ""


def test_estimate_with_a_bad_config_exits_2_naming_the_json_path(
    clip: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[limits]\nprice_per_second = "two cents"\n')

    run = uprez("estimate", clip, "--config", bad, "--json", cwd=tmp_path)

    assert run.returncode == 2, run.stderr
    assert "price_per_second" in run.stderr
    assert run.stdout.strip() == ""


def test_estimate_with_max_duration_from_the_environment_plans_segments_billed_each(
    clip: Path, tmp_path: Path
) -> None:
    run = uprez("estimate", clip, "--json", cwd=tmp_path, UPREZ_LIMITS__MAX_DURATION="0.5")

    assert run.returncode == 0, run.stderr
    [item] = json.loads(run.stdout)["files"]
    segments = item["segments"]
    assert len(segments) == 2
    for segment in segments:
        assert segment["end"] - segment["start"] <= 0.5 + 1e-9
        assert segment["billed_seconds"] == 5  # the minimum, per task
        assert segment["cost"] == "0.10"
    assert segments[0]["start"] == 0
    assert segments[0]["end"] == segments[1]["start"]
    assert segments[-1]["end"] == pytest.approx(1.0, abs=1e-3)
    assert sum(s["frames"] for s in segments) == 12
    assert sum(s["billed_seconds"] for s in segments) == item["billed_seconds"] == 10
    assert item["cost"] == "0.20"


# -- 2. the service's price table, through the estimate module -------------------------------------


@pytest.fixture(scope="module")
def table_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Clips of exactly 3 s and 15 s (4 fps, 32x18, no audio)."""
    from uprez.media.synth import make_clip

    folder = tmp_path_factory.mktemp("table")
    clips = {}
    for seconds in (3, 15):
        path = folder / f"clip{seconds}.mp4"
        make_clip(path, seconds=seconds, fps=4, width=32, height=18, audio=False)
        clips[seconds] = path
    return clips


@pytest.mark.parametrize(
    ("seconds", "overrides", "billed", "cost"),
    [
        (3, {}, 5, "0.10"),
        (15, {}, 15, "0.30"),
        (15, {"limits.price_per_second": "0.05"}, 15, "0.75"),
        (3, {"limits.price_per_second": "0.05"}, 5, "0.25"),
        (3, {"limits.minimum_seconds": 0}, 3, "0.06"),
        (15, {"limits.minimum_seconds": 0}, 15, "0.30"),
    ],
    ids=[
        "3s-default",
        "15s-default",
        "15s-price-0.05",
        "3s-price-0.05",
        "3s-no-minimum",
        "15s-no-minimum",
    ],
)
def test_estimates_reproduce_the_price_table_and_follow_the_config(
    table_clips: dict[int, Path],
    seconds: int,
    overrides: dict[str, object],
    billed: int,
    cost: str,
) -> None:
    path = table_clips[seconds]
    config = load_config(env={}, overrides=overrides)

    job = estimate(path, config)

    assert job.probe.duration == pytest.approx(seconds, abs=1e-3)
    assert len(job.plan.segments) == 1
    assert job.plan.billed_seconds == billed
    assert job.plan.cost == Decimal(cost)
    data = job.to_json()
    assert data["cost"] == cost
    assert isinstance(data["cost"], str)
    assert data["billed_seconds"] == billed
    assert data["segments"][0]["cost"] == cost


def test_no_minimum_bills_exactly_the_seconds_times_the_price(table_clips: dict[int, Path]) -> None:
    config = load_config(
        env={}, overrides={"limits.minimum_seconds": 0, "limits.price_per_second": "0.07"}
    )

    job = estimate(table_clips[3], config)

    assert job.plan.billed_seconds == 3
    assert job.to_json()["cost"] == str(3 * Decimal("0.07")) == "0.21"


# -- 3. budgets ------------------------------------------------------------------------------------


def test_max_cost_below_the_estimate_exits_4_with_the_estimate_and_writes_nothing(
    clip: Path, tmp_path: Path
) -> None:
    run = uprez("upscale", clip, "--provider", "local", "--max-cost", "0.05", cwd=tmp_path)

    assert run.returncode == 4, run.stderr
    assert "$0.10" in run.stderr
    assert "0.05" in run.stderr
    assert not (tmp_path / "shot_4k.mp4").exists()
    assert not (tmp_path / WORK_FOLDER).exists()
    assert run.stdout.strip() == ""


def test_max_run_cost_below_the_total_of_two_inputs_exits_4_and_writes_nothing(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    one = make_clip("one.mp4", seconds=1, fps=12, width=64, height=36)
    two = make_clip("two.mp4", seconds=1, fps=12, width=64, height=36)

    run = uprez("upscale", one, two, "--provider", "local", "--max-run-cost", "0.15", cwd=tmp_path)

    assert run.returncode == 4, run.stderr
    assert "$0.20" in run.stderr
    assert not list(tmp_path.glob("*_4k.mp4"))


def test_max_cost_per_job_from_the_environment_refuses_like_the_flag(
    clip: Path, tmp_path: Path
) -> None:
    run = uprez(
        "upscale", clip, "--provider", "local", cwd=tmp_path, UPREZ_LIMITS__MAX_COST_PER_JOB="0.05"
    )

    assert run.returncode == 4, run.stderr
    assert "$0.10" in run.stderr
    assert not (tmp_path / "shot_4k.mp4").exists()


def test_dry_run_prints_the_plan_and_cost_and_writes_nothing(clip: Path, tmp_path: Path) -> None:
    # A limit equal to the estimate is not "above" it: the dry run passes the budget check.
    text = uprez(
        "upscale", clip, "--provider", "local", "--dry-run", "--max-cost", "0.10", cwd=tmp_path
    )
    as_json = uprez("upscale", clip, "--provider", "local", "--dry-run", "--json", cwd=tmp_path)

    assert text.returncode == 0, text.stderr
    assert str(clip) in text.stdout
    assert "$0.10" in text.stdout
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    [item] = data["files"]
    assert item["path"] == str(clip)
    assert item["cost"] == "0.10"
    assert item["billed_seconds"] == 5
    assert data["total_cost"] == "0.10"
    assert "results" not in data
    assert not (tmp_path / "shot_4k.mp4").exists()
    assert not (tmp_path / "shot_4k.mp4.uprez.json").exists()
    assert not (tmp_path / WORK_FOLDER).exists()


@pytest.mark.parametrize("key", ["limits.max_cost_per_job", "limits.max_cost_per_run"])
def test_an_in_process_job_over_budget_is_refused_before_any_upload(
    clip: Path, service: Service, pm: PluginManager, key: str
) -> None:
    with pytest.raises(BudgetError, match=r"\$0\.10") as caught:
        upscale(clip, service, pm, {key: "0.05"})

    assert caught.value.exit_code == 4
    assert service.spent() == (0, 0)
    assert not (clip.parent / "shot_4k.mp4").exists()
    assert not (clip.parent / WORK_FOLDER).exists()


# -- 4. segments in parallel, and a failed segment rerun -------------------------------------------


@pytest.fixture(scope="module")
def paced_server() -> Iterator[LocalServer]:
    """A server with room for four tasks at once, each taking at least its video's length."""
    settings = ServerSettings(
        api_key=SECRET_KEY, max_size=TEST_BOX, workers=4, speed_factor=1.0, account_level="silver"
    )
    with LocalServer(settings) as running:
        yield running


def test_segments_run_concurrency_at_a_time_and_come_back_as_one_whole_video(
    long_clip: Path, paced_server: LocalServer, pm: PluginManager
) -> None:
    before = stats(paced_server.base_url, SECRET_KEY)

    result = upscale(long_clip, paced_server, pm, {**SEGMENTED, "limits.concurrency": 2})

    after = stats(paced_server.base_url, SECRET_KEY)
    assert after["submissions"] - before["submissions"] == 4
    assert after["uploads"] - before["uploads"] == 4
    # Two at once, never more, although the server could run four.
    assert after["peak_running"] == 2
    record = sidecar(result)
    segments = record["segments"]
    assert [s["index"] for s in segments] == [0, 1, 2, 3]
    assert len({s["task_id"] for s in segments}) == 4
    assert not any(s["reused"] for s in segments)
    assert record["billed_seconds"] == 20
    assert record["cost"] == "0.40"
    source, output = probe(long_clip), probe(result.path)
    assert output.frames == source.frames == 24
    assert output.fps == source.fps
    assert output.audio_streams == source.audio_streams == 1
    assert (output.width, output.height) == TEST_BOX
    assert record["verification"]["ok"], record["verification"]
    assert not (long_clip.parent / WORK_FOLDER).exists()


def test_a_failed_segment_keeps_the_others_and_a_rerun_redoes_only_it(
    long_clip: Path, service: Service, pm: PluginManager
) -> None:
    target = long_clip.parent / "long_4k.mp4"
    work = long_clip.parent / WORK_FOLDER
    service.inject(Fault("submit", "task_fail", code=1403))

    with pytest.raises(TaskFailed) as caught:
        upscale(long_clip, service, pm, SEGMENTED)

    message = str(caught.value)
    assert "segment" in message
    assert "for a rerun" in message
    assert str(work) in message
    assert caught.value.code == 1403
    assert caught.value.task_id
    found = re.search(r"segment (\d) of 4", message)
    assert found, message
    failed = int(found.group(1)) - 1
    assert service.spent()[1] == 4  # the others ran on, all four were submitted
    assert not target.exists()
    assert not sidecar_path(target).exists()
    assert work.is_dir()
    finished = sorted(p.name for p in work.rglob("seg-*.up.mp4"))
    assert finished == [f"seg-{i:03d}.up.mp4" for i in range(4) if i != failed]

    submitted = service.spent()[1]
    result = upscale(long_clip, service, pm, SEGMENTED)

    assert service.spent()[1] - submitted == 1
    segments = sidecar(result)["segments"]
    assert [s["reused"] for s in segments] == [i != failed for i in range(4)]
    assert segments[failed]["task_id"] != caught.value.task_id
    assert probe(result.path).frames == probe(long_clip).frames
    assert not work.exists()


# -- 5. audio restored from the source -------------------------------------------------------------


def test_a_result_that_comes_back_silent_gets_the_source_audio_back(
    clip: Path, service: Service, pm: PluginManager, tmp_path: Path
) -> None:
    service.inject(Fault("submit", "drop_audio"))

    result = upscale(clip, service, pm)

    assert service.spent() == (1, 1)
    assert service.stats()["injected"].get("submit:drop_audio") == 1
    record = sidecar(result)
    # What the server handed back really has no sound...
    answer = requests.get(
        f"{service.base_url}/api/v3/predictions/{record['task_id']}/result",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        timeout=10,
    )
    [url] = answer.json()["data"]["outputs"]
    served = tmp_path / "served.mp4"
    served.write_bytes(requests.get(url, timeout=10).content)
    assert probe(served).audio_streams == 0
    # ...yet the output carries the source's.
    output = probe(result.path)
    assert output.audio_streams == probe(clip).audio_streams == 1
    assert output.frames == probe(clip).frames
    assert record["verification"] == {"ok": True, "problems": []}


# -- 6. verification -------------------------------------------------------------------------------


def test_a_result_smaller_than_the_target_size_is_not_handed_over(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    target = clip.parent / "shot_4k.mp4"

    with pytest.raises(VerificationError, match="size") as caught:
        upscale(clip, service, pm, {"verify.target_size": "512x288"})

    message = str(caught.value)
    assert "256x144" in message and "512x288" in message
    assert caught.value.task_id
    assert not target.exists()
    assert not sidecar_path(target).exists()
    kept = list((clip.parent / WORK_FOLDER).rglob("*.mp4"))
    assert kept, "the result should wait in the work folder"
    assert any(str(k) in message for k in kept), message
    assert all((probe(k).width, probe(k).height) == TEST_BOX for k in kept if ".up." in k.name)


def test_on_mismatch_warn_hands_the_result_over_and_records_the_problem(
    clip: Path, service: Service, pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    result = upscale(
        clip, service, pm, {"verify.target_size": "512x288", "verify.on_mismatch": "warn"}
    )

    assert result.path.exists()
    assert (probe(result.path).width, probe(result.path).height) == TEST_BOX
    verification = sidecar(result)["verification"]
    assert verification["ok"] is False
    assert any("size" in p and "512x288" in p for p in verification["problems"]), verification
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("size" in r.getMessage() for r in warnings), caplog.text
    assert not (clip.parent / WORK_FOLDER).exists()


# -- 7. the server's speed factor ------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.5, 0.0])
def test_the_speed_factor_makes_a_task_take_at_least_that_long_per_second(
    clip: Path, factor: float
) -> None:
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, speed_factor=factor, account_level="silver"
    )
    with LocalServer(settings) as server:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {TEST_KEY}"
        url = upload(api, server.base_url, clip)
        submit = api.post(
            f"{server.base_url}/api/v3/runwayml/upscale-v1", json={"video": url}, timeout=10
        )
        assert submit.status_code == 200, submit.text
        data = wait_for(api, submit.json()["data"]["urls"]["get"])

    assert data["status"] == "completed", data
    assert len(data["outputs"]) == 1
    inference = data["timings"]["inference"]
    assert isinstance(inference, int)
    if factor:
        # 0.5 s per second of a 1 s video: a lower bound, not a benchmark.
        assert inference >= 500


# -- budgets given to a fraction of a cent, or out of range ----------------------------------------
# (last in the file, so that a run with -x still exercises everything above)


@pytest.mark.parametrize(("flag", "limit"), [("--max-cost", "0.099"), ("--max-run-cost", "0.095")])
def test_a_limit_given_to_a_fraction_of_a_cent_is_a_usage_error_not_rounded(
    clip: Path, tmp_path: Path, flag: str, limit: str
) -> None:
    # Rounding $0.099 to $0.10 would admit a $0.10 job over the limit: the flag is refused.
    run = uprez("upscale", clip, "--provider", "local", "--dry-run", flag, limit, cwd=tmp_path)

    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "dollars and cents" in run.stderr
    assert not (tmp_path / f"{clip.stem}_4k.mp4").exists()


def test_a_huge_max_cost_is_accepted_or_a_usage_error_never_a_crash(
    clip: Path, tmp_path: Path
) -> None:
    run = uprez(
        "upscale", clip, "--provider", "local", "--dry-run", "--max-cost", "1e30", cwd=tmp_path
    )

    assert run.returncode in (0, 2), run.stderr
    assert "Traceback" not in run.stderr
