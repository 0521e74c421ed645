"""What left the machine, and what the service was told to forget (issue 17, points 4 and 5),
against the strict twin over real HTTP: every upload is in the ledger's audit with the hash and
size of the very bytes the twin stored, the host they went to, the task that read them, the
project, user and machine, and the service's retention; neither the key nor a capability URL is
ever written down. With ``privacy.delete_after_download`` the twin forgets the task, its input
and its output once the result is in place; a deletion that fails is reported, kept pending and
made by the next run."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from uprez.errors import ConfigError, StorageError
from uprez.journal.audit import AuditRow
from uprez.journal.leases import HOST
from uprez.journal.store import Journal, default_path
from uprez.net.urls import host_of
from uprez.plugins import PluginManager
from uprez.protocol import RETENTION_SECONDS
from uprez.records import Artifact
from uprez.standin.faults import Fault
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, Service, fast_config

DELETE: dict[str, object] = {"privacy.delete_after_download": True}


def upscale(
    clip: Path,
    service: Service,
    pm: PluginManager,
    overrides: dict[str, object] | None = None,
    *,
    project: str = "show-a",
    user: str = "ann",
) -> Artifact:
    """Run the step on ``clip`` for ``project`` and ``user``, as a host would."""
    config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(config, base_url=service.base_url, api_key=SECRET_KEY)
    try:
        artifact = Artifact(clip, project=project, user=user)
        return run_upscale(artifact, config=config, pm=pm, provider=provider)
    finally:
        provider.close()


@contextmanager
def ledger() -> Iterator[Journal]:
    journal = Journal(default_path())
    try:
        yield journal
    finally:
        journal.close()


def audit(kind: str | None = None) -> list[AuditRow]:
    with ledger() as journal:
        return [row for row in journal.audit_rows() if kind is None or row.kind == kind]


def api(service: Service) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SECRET_KEY}"
    return session


def task(service: Service, task_id: str) -> requests.Response:
    return api(service).get(f"{service.base_url}/api/v3/predictions/{task_id}/result", timeout=10)


def stored(service: Service, video_url: str) -> Path:
    """Where the twin keeps the file it received for an upload's URL."""
    _, media, media_id, name = urlsplit(video_url).path.split("/")
    assert media == "media"
    return service.server.root / "uploads" / media_id / name


def upload_url_of(task_id: str) -> str:
    """The URL the segment of ``task_id`` was uploaded to, as the journal keeps it."""
    with ledger() as journal:
        for job in journal.recent():
            for segment in job["segments"]:
                if segment["task_id"] == task_id:
                    url = journal.segment(job["key"], segment["index"]).upload_url
                    assert url is not None
                    return url
    raise AssertionError(f"no segment of task {task_id}")


def sidecar(result: Artifact) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sidecar_path(Path(str(result.path))).read_text())
    return loaded


def assert_nothing_secret_in_the_ledger() -> None:
    """Neither the key, nor an upload's one-time PUT URL, nor any URL's query string."""
    files = sorted(default_path().parent.glob(default_path().name + "*"))  # with -wal, -shm
    assert files
    for path in files:
        data = path.read_bytes()
        assert SECRET_KEY.encode() not in data, path
        assert b"/put/" not in data, path
        assert re.search(rb"https?://[^\s\x00]*\?[^\s\x00]*=", data) is None, path
    for row in audit():
        for value in vars(row).values():
            assert "?" not in str(value), row
            assert SECRET_KEY not in str(value), row


@pytest.fixture
def two_seconds(make_clip: Callable[..., Path]) -> Path:
    return make_clip("long.mp4", seconds=2, fps=12, width=64, height=36, audio=True)


# -- the audit ------------------------------------------------------------------------------------


def test_every_upload_is_audited_with_the_hash_and_size_of_the_bytes_the_service_stored(
    two_seconds: Path, service: Service, pm: PluginManager
) -> None:
    result = upscale(two_seconds, service, pm, {"limits.max_duration": 1.0}, project="show-a")

    rows = audit()
    uploads, _ = service.spent()
    assert uploads >= 2 and len(rows) == uploads  # one row per file sent: each segment's cut
    tasks = {s["task_id"] for s in sidecar(result)["segments"]}
    storage = host_of(service.server.storage_url)
    for row in rows:
        assert (row.kind, row.state) == ("upload", "sent")
        assert row.service == f"wavespeed {service.base_url}"
        assert row.task_id in tasks
        received = stored(service, task(service, row.task_id).json()["data"]["input"]["video"])
        assert row.sha256 == hashlib.sha256(received.read_bytes()).hexdigest()
        assert row.bytes == received.stat().st_size
        assert row.host == storage
        assert Path(row.path or "").name == f"seg-{row.idx:03d}.src.mp4"  # the cut that was sent
        assert row.source == str(two_seconds.resolve())  # and the job's source
        assert (row.project, row.user_name, row.machine) == ("show-a", "ann", HOST)
        assert row.expires == pytest.approx(row.at + RETENTION_SECONDS)
        assert row.deleted_at is None
    assert sorted(row.idx or 0 for row in rows) == list(range(len(rows)))
    assert {row.task_id for row in rows} == tasks
    assert_nothing_secret_in_the_ledger()


def test_a_whole_file_sent_is_audited_as_itself(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    upscale(clip, service, pm)

    [row] = audit()
    assert row.path == row.source == str(clip.resolve())
    assert row.sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert row.bytes == clip.stat().st_size


def test_an_upload_sent_again_by_the_other_route_is_audited_twice(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # The PUT fails: the ticket's storage host got (part of) the file, then the API's binary
    # route got all of it. Both left the machine; both are in the audit.
    service.inject(Fault("put_target", "http", status=500))

    upscale(clip, service, pm)

    failed, sent = audit()
    assert (failed.state, failed.host) == ("failed", host_of(service.server.storage_url))
    assert failed.task_id is None  # no task read that copy
    assert (sent.state, sent.host) == ("sent", host_of(service.base_url))
    assert sent.task_id is not None and sent.sha256 == failed.sha256


def test_an_upload_the_ledger_cannot_record_is_never_sent(
    clip: Path, service: Service, pm: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> str:
        raise StorageError("the disk is full")

    monkeypatch.setattr(Journal, "audit_sending", full)

    with pytest.raises(StorageError):
        upscale(clip, service, pm)
    assert service.spent() == (0, 0)


# -- deletion after download ----------------------------------------------------------------------


def test_delete_after_download_makes_the_twin_forget_the_task_its_input_and_its_output(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    deleted_before = service.stats()["deleted"]

    result = upscale(clip, service, pm, DELETE)

    record = sidecar(result)
    task_id = record["task_id"]
    assert Path(str(result.path)).is_file()
    assert record["deletion"] == {"deleted": [task_id], "pending": [], "reason": None}
    # The twin forgot all of it: the task, the listing, the output, the upload, their files.
    assert task(service, task_id).status_code == 404
    assert task_id not in service.new_task_ids()
    assert requests.get(record["output_url"], timeout=10).status_code == 404
    upload = upload_url_of(task_id)
    assert requests.get(upload, timeout=10).status_code == 404
    assert not stored(service, upload).exists()
    assert not (service.server.root / "outputs" / task_id).exists()
    assert service.stats()["deleted"] == deleted_before + 1
    # The audit says so: the deletion, and the upload it removed.
    [sent] = audit("upload")
    [gone] = audit("delete")
    assert (gone.task_id, gone.state, gone.deleted_by, gone.project) == (
        task_id,
        "done",
        HOST,
        "show-a",
    )
    assert sent.task_id == task_id and sent.deleted_at == gone.deleted_at
    assert_nothing_secret_in_the_ledger()


def test_each_segments_task_is_deleted(
    two_seconds: Path, service: Service, pm: PluginManager
) -> None:
    result = upscale(two_seconds, service, pm, {**DELETE, "limits.max_duration": 1.0})

    tasks = [s["task_id"] for s in sidecar(result)["segments"]]
    assert len(tasks) >= 2
    assert sorted(sidecar(result)["deletion"]["deleted"]) == sorted(tasks)
    assert all(task(service, t).status_code == 404 for t in tasks)
    assert {row.deleted_at is not None for row in audit("upload")} == {True}


def test_the_policy_of_a_project_decides_over_the_global_setting(
    make_clip: Callable[..., Path], service: Service, pm: PluginManager
) -> None:
    nda = make_clip("nda.mp4", seconds=1, fps=12, width=64, height=36)
    other = make_clip("other.mp4", seconds=1, fps=10, width=64, height=36)
    keep = make_clip("keep.mp4", seconds=1, fps=8, width=64, height=36)
    overrides: dict[str, object] = {
        "privacy.delete_after_download": False,
        "privacy.policies": [
            {"project": "nda-show", "upload": "allow", "delete_after_download": True},
            {"project": "archive", "upload": "allow", "delete_after_download": None},
        ],
    }

    secret = sidecar(upscale(nda, service, pm, overrides, project="nda-show"))
    plain = sidecar(upscale(other, service, pm, overrides, project="other-show"))
    kept = sidecar(upscale(keep, service, pm, overrides, project="archive"))

    assert task(service, secret["task_id"]).status_code == 404
    assert task(service, plain["task_id"]).status_code == 200
    assert task(service, kept["task_id"]).status_code == 200  # None: the global setting
    assert "deletion" not in plain and "deletion" not in kept
    assert [row.task_id for row in audit("delete")] == [secret["task_id"]]


def test_a_failed_deletion_is_reported_kept_pending_and_made_by_the_next_run(
    clip: Path, service: Service, pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    service.inject(Fault("delete_predictions", "http", status=503, times=-1))

    with caplog.at_level(logging.WARNING, logger="uprez"):
        result = upscale(clip, service, pm, DELETE)

    # The result is handed over all the same; the deletion waits, and everyone is told.
    record = sidecar(result)
    task_id = record["task_id"]
    assert Path(str(result.path)).is_file()
    assert record["deletion"]["deleted"] == [] and record["deletion"]["pending"] == [task_id]
    assert "503" in record["deletion"]["reason"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"could not delete task(s) {task_id}" in line for line in warned), warned
    assert task(service, task_id).status_code == 200
    [pending] = audit("delete")
    assert (pending.state, pending.task_id) == ("pending", task_id)
    assert pending.attempts == 1 and "503" in (pending.error or "")

    # A later run (here the same command, which makes nothing new) fails again: still pending,
    # and said again. Then the service is back: the run deletes it before anything else.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uprez"):
        upscale(clip, service, pm, DELETE)
    assert any("could not delete" in r.getMessage() for r in caplog.records)
    assert audit("delete")[0].attempts == 2
    service.clear()

    upscale(clip, service, pm)  # deletion off now: what is pending is still made

    [done] = audit("delete")
    assert (done.state, done.attempts, done.error) == ("done", 3, None)
    assert task(service, task_id).status_code == 404
    assert audit("upload")[0].deleted_at == done.deleted_at


def test_a_404_from_the_delete_route_means_the_task_is_gone_already(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("delete_predictions", "http", status=404))

    result = upscale(clip, service, pm, DELETE)

    task_id = sidecar(result)["task_id"]
    assert sidecar(result)["deletion"] == {"deleted": [task_id], "pending": [], "reason": None}
    assert [(row.task_id, row.state) for row in audit("delete")] == [(task_id, "done")]


def test_the_same_content_again_elsewhere_is_copied_not_lost(
    clip: Path, service: Service, pm: PluginManager, tmp_path: Path
) -> None:
    # The first result's tasks are deleted; the same content asked again on this machine (a
    # renamed copy) is the same job: its result is copied here, nothing is asked of the twin.
    first = upscale(clip, service, pm, DELETE)
    copy = tmp_path / "renamed" / "shot_v2.mp4"
    copy.parent.mkdir()
    copy.write_bytes(clip.read_bytes())
    spent = service.spent()

    second = upscale(copy, service, pm, DELETE)

    assert Path(str(second.path)).read_bytes() == Path(str(first.path)).read_bytes()
    assert service.spent() == spent
    assert len(audit("delete")) == 1


def test_deletion_without_the_journal_is_refused_before_anything_is_spent(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # A deletion that fails is kept in the journal to be retried: without it, none is promised.
    with pytest.raises(ConfigError, match=r"\$\.privacy\.delete_after_download: .*journal"):
        upscale(clip, service, pm, {**DELETE, "journal.enabled": False})
    assert service.spent() == (0, 0)
