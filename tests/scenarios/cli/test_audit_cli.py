"""``uprez audit`` over a ledger that real upscales filled (JSON, CSV, the table; --since and
--project), and deletion after download by machines that share a ledger: two nodes collecting
one task delete it once (never under the other's download), and a node that comes for it
afterwards is told who deleted it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from uprez.cli.audit import FIELDS
from uprez.journal.store import Journal
from uprez.media.synth import make_clip
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_LEVEL, service_env, stats, task_ids

KEY = "audit-test-key-SECRET"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    settings = ServerSettings(api_key=KEY, max_size=TEST_BOX, workers=2, account_level=TEST_LEVEL)
    with LocalServer(settings) as running:
        yield running


@pytest.fixture
def slow_server() -> Iterator[LocalServer]:
    """Each task takes 3 s per second of video: long enough for a second node to join it."""
    settings = ServerSettings(
        api_key=KEY, max_size=TEST_BOX, workers=2, account_level=TEST_LEVEL, speed_factor=3.0
    )
    with LocalServer(settings) as running:
        yield running


def uprez(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", *args], env=env, capture_output=True, text=True, timeout=180
    )


def env_for(server: LocalServer, home: Path, **more: str) -> dict[str, str]:
    return service_env(
        server.base_url,
        key=KEY,
        XDG_DATA_HOME=str(home / "data"),
        UPREZ_POLLING__FIRST_INTERVAL="0.02",
        UPREZ_POLLING__MAX_INTERVAL="0.1",
        **more,
    )


def day(delta: int = 0) -> str:
    return (datetime.now(UTC) + timedelta(days=delta)).date().isoformat()


def test_audit_lists_the_uploads_and_deletions_as_json_csv_and_a_table_by_date_and_project(
    tmp_path: Path, server: LocalServer
) -> None:
    env = env_for(server, tmp_path)
    a = Path(make_clip(tmp_path / "a.mp4", seconds=1, fps=12))
    b = Path(make_clip(tmp_path / "b.mp4", seconds=1, fps=10))
    out = tmp_path / "out"
    out.mkdir()
    done = uprez(env, "upscale", str(a), "-o", f"{out}/", "--project", "alpha", "--user", "ann")
    assert done.returncode == 0, done.stderr
    deleting = {**env, "UPREZ_PRIVACY__DELETE_AFTER_DOWNLOAD": "true"}
    done = uprez(deleting, "upscale", str(b), "-o", f"{out}/", "--project", "beta", "--user", "bo")
    assert done.returncode == 0, done.stderr

    listed = uprez(env, "audit", "--json")

    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    rows = report["rows"]
    assert [(r["kind"], r["project"], r["user"]) for r in rows] == [
        ("upload", "alpha", "ann"),
        ("upload", "beta", "bo"),
        ("delete", "beta", "bo"),
    ]
    alpha, beta, deletion = rows
    assert alpha["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest()
    assert alpha["bytes"] == a.stat().st_size and alpha["path"] == str(a.resolve())
    assert alpha["host"] == server.storage_url.split("://")[1]
    assert alpha["task_id"] in task_ids(server.base_url, KEY)
    assert alpha["deleted_at"] is None and alpha["kept_until"] == alpha["expires"]
    assert beta["task_id"] == deletion["task_id"] not in task_ids(server.base_url, KEY)
    assert beta["deleted_at"] == deletion["deleted_at"] == beta["kept_until"]
    assert (deletion["state"], report["pending_deletions"]) == ("done", 0)
    assert "?" not in listed.stdout and KEY not in listed.stdout

    only = json.loads(uprez(env, "audit", "--project", "alpha", "--json").stdout)
    assert [r["task_id"] for r in only["rows"]] == [alpha["task_id"]]
    assert only["project"] == "alpha"

    # An upload from last month, as a ledger a month old holds it.
    journal = Journal(tmp_path / "data" / "uprez" / "journal.sqlite3")
    try:
        with journal._write() as db:
            db.execute("UPDATE audit SET at = at - ? WHERE project = 'alpha'", (40 * 86400,))
    finally:
        journal.close()
    recent = json.loads(uprez(env, "audit", "--since", day(-1), "--json").stdout)
    assert [r["project"] for r in recent["rows"]] == ["beta", "beta"]
    assert recent["since"] == f"{day(-1)}T00:00:00Z"
    older = json.loads(uprez(env, "audit", "--since", day(-60), "--json").stdout)
    assert [r["project"] for r in older["rows"]] == ["alpha", "beta", "beta"]
    assert json.loads(uprez(env, "audit", "--since", day(1), "--json").stdout)["rows"] == []

    table = uprez(env, "audit", "--csv", "--project", "beta")
    assert table.returncode == 0, table.stderr
    parsed = list(csv.DictReader(io.StringIO(table.stdout)))
    assert table.stdout.splitlines()[0] == ",".join(FIELDS)
    assert [(r["kind"], r["state"], r["task_id"]) for r in parsed] == [
        ("upload", "sent", beta["task_id"]),
        ("delete", "done", beta["task_id"]),
    ]
    assert parsed[0]["bytes"] == str(b.stat().st_size) and parsed[1]["bytes"] == ""

    shown = uprez(env, "audit")
    assert shown.returncode == 0, shown.stderr
    assert "upload/sent" in shown.stdout and "delete/done" in shown.stdout
    assert KEY not in shown.stdout + shown.stderr

    wrong = uprez(env, "audit", "--since", "2024-13-01")
    assert wrong.returncode == 2 and "YYYY-MM-DD" in wrong.stderr

    # The task uprez deleted is no longer listed by the service: no "missing" in a reconcile.
    checked = json.loads(uprez(env, "spend", "--reconcile", "--json").stdout)["reconcile"]
    assert (checked["missing"], checked["unknown"]) == ([], [])
    assert checked["deleted_on_request"] == 1


def test_two_nodes_collecting_one_task_delete_it_once_and_a_latecomer_is_told_who_did(
    tmp_path: Path, slow_server: LocalServer, postgres_url: str
) -> None:
    # Machines that share a PostgreSQL ledger (each has its own results there).
    clip = Path(make_clip(tmp_path / "shot.mp4", seconds=1, fps=12))
    # Every delete request is counted (a delay of nothing, on every request of that route).
    assert slow_server.app is not None
    slow_server.app.faults.add(Fault("delete_predictions", "delay", delay=0.0, times=-1))
    # The first download is held 2 s: the other node downloads, hands over and would delete
    # the task under it, were it not still collecting it.
    slow_server.app.faults.add(Fault("output", "delay", delay=2.0))
    before = stats(slow_server.base_url, KEY)

    def node(name: str) -> tuple[dict[str, str], Path]:
        home = tmp_path / name
        (home / "out").mkdir(parents=True)
        env = env_for(
            slow_server,
            home,
            UPREZ_NODE=name,
            UPREZ_JOURNAL__URL=postgres_url,
            UPREZ_PRIVACY__DELETE_AFTER_DOWNLOAD="true",
        )
        return env, home / "out"

    def start(env: dict[str, str], out: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "uprez", "upscale", str(clip), "-o", f"{out}/"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    (env_a, out_a), (env_b, out_b) = node("node-a"), node("node-b")
    first = start(env_a, out_a)
    deadline = time.monotonic() + 60
    while not task_ids(slow_server.base_url, KEY):  # node-a's task is running: node-b joins
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = start(env_b, out_b)
    ends = [(p.wait(120), *p.communicate()) for p in (first, second)]

    assert [code for code, _, _ in ends] == [0, 0], ends
    assert (out_a / "shot_4k.mp4").is_file() and (out_b / "shot_4k.mp4").is_file()
    after = stats(slow_server.base_url, KEY)
    assert after["submissions"] - before["submissions"] == 1
    assert after["deleted"] - before["deleted"] == 1  # deleted once, and not before both had it
    # One node deletes it; the other finds it done in the ledger, or, when both hand over at
    # the same moment, asks too and is told it is gone already (deleted_count 0): done.
    assert 1 <= after["injected"]["delete_predictions:delay"] <= 2
    assert task_ids(slow_server.base_url, KEY) == []
    journal = Journal(postgres_url)
    try:
        deletions = [r for r in journal.audit_rows() if r.kind == "delete"]
    finally:
        journal.close()
    assert [(r.state, r.deleted_by in ("node-a", "node-b")) for r in deletions] == [("done", True)]
    # Each sidecar says what its node saw: deleted, or left for the node still downloading.
    task_id, deleter = deletions[0].task_id, deletions[0].deleted_by
    seen = {}
    for name, out in (("node-a", out_a), ("node-b", out_b)):
        record: dict[str, Any] = json.loads((out / "shot_4k.mp4.uprez.json").read_text())
        seen[name] = record["deletion"]
    assert seen[deleter or ""] == {"deleted": [task_id], "pending": [], "reason": None}
    other = seen["node-b" if deleter == "node-a" else "node-a"]
    assert other in (
        {"deleted": [task_id], "pending": [], "reason": None},  # it came second: done already
        {
            "deleted": [],
            "pending": [task_id],
            "reason": f"still being downloaded by {deleter}, which deletes it after",
        },
    )

    # A third node wants the same shot after both: the task it would collect is gone on purpose.
    env_c, out_c = node("node-c")
    late = uprez(env_c, "upscale", str(clip), "-o", f"{out_c}/")

    assert late.returncode == 6, late.stderr
    assert f"{deletions[0].deleted_by} deleted it at" in late.stderr
    assert "privacy.delete_after_download" in late.stderr and "--resubmit" in late.stderr
