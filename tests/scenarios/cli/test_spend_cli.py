"""`uprez spend` over a real ledger that real upscales filled: its totals are the sum of the
sidecars, and `--reconcile` finds the task a machine off the ledger paid for."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from uprez.media.synth import make_clip
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_LEVEL, service_env, upscale_by_api

KEY = "spend-test-key"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    settings = ServerSettings(api_key=KEY, max_size=TEST_BOX, workers=2, account_level=TEST_LEVEL)
    with LocalServer(settings) as running:
        yield running


def uprez(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_spend_adds_up_to_the_sidecars_by_project_and_reconcile_finds_an_unknown_task(
    tmp_path: Path, server: LocalServer
) -> None:
    env = service_env(
        server.base_url,
        key=KEY,
        XDG_DATA_HOME=str(tmp_path / "data"),
        UPREZ_POLLING__FIRST_INTERVAL="0.02",
        UPREZ_POLLING__MAX_INTERVAL="0.1",
    )
    a = Path(make_clip(tmp_path / "a.mp4", seconds=1, fps=12))
    b = Path(make_clip(tmp_path / "b.mp4", seconds=1, fps=10))
    c = Path(make_clip(tmp_path / "c.mp4", seconds=1, fps=8))
    copy = tmp_path / "a_again.mp4"
    shutil.copyfile(a, copy)
    out = tmp_path / "out"
    out.mkdir()
    for project, clips in (("alpha", [a, b, copy]), ("beta", [c])):
        done = uprez(env, "upscale", *map(str, clips), "-o", f"{out}/", "--project", project)
        assert done.returncode == 0, done.stderr

    report = uprez(env, "spend", "--by", "project", "--json")

    assert report.returncode == 0, report.stderr
    spend = json.loads(report.stdout)
    by_project = {line["project"]: line for line in spend["lines"]}
    assert (by_project["alpha"]["tasks"], by_project["alpha"]["cost"]) == (2, "0.20")
    assert (by_project["beta"]["tasks"], by_project["beta"]["cost"]) == (1, "0.10")
    sidecars = [json.loads(p.read_text()) for p in sorted(out.glob("*.uprez.json"))]
    assert len(sidecars) == 4  # the copy has its sidecar too, and paid nothing
    assert sum(Decimal(s["paid"]) for s in sidecars) == Decimal(spend["total"]["cost"])
    assert {s["project"] for s in sidecars} == {"alpha", "beta"}

    csv = uprez(env, "spend", "--by", "user", "--csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines()[-1] == "total,3,15,0.30"

    clean = json.loads(uprez(env, "spend", "--reconcile", "--json").stdout)
    assert clean["reconcile"]["unknown"] == [] and clean["reconcile"]["missing"] == []
    assert clean["reconcile"]["on_ledger"] == clean["reconcile"]["listed"] == 3
    # Another machine, not on this ledger, pays for a task with the same account.
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {KEY}"
    _, task = upscale_by_api(api, server.base_url, a)
    stranger = task["id"]

    checked = uprez(env, "spend", "--reconcile", "--json")

    assert checked.returncode == 0, checked.stderr
    unknown = json.loads(checked.stdout)["reconcile"]["unknown"]
    assert [task["id"] for task in unknown] == [stranger]
