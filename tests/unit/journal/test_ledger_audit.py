"""The audit (uprez.journal.audit) on both engines: every file sent is written down before its
bytes go, with its hash, size, host, project, user and machine, and when the service deletes it;
the task that read it is filled in when that task is submitted; deletions are due, pending and
done once per task, whichever node asks; and a task another node is collecting is not deleted."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from uprez.journal.audit import Sending, scrub
from uprez.journal.charges import Payer
from uprez.journal.leases import HOST
from uprez.journal.store import Journal
from uprez.journal.tasks import Price, TaskRecord
from uprez.protocol import RETENTION_SECONDS

OpenLedger = Callable[..., Journal]
SERVICE = "wavespeed https://api.example"
STORAGE = "storage.example:443"


def sending(idx: int = 0, *, project: str = "show-a") -> Sending:
    return Sending(
        service=SERVICE,
        job_key="job-1",
        idx=idx,
        path="/work/seg-000.src.mp4",
        source="/renders/shot.mp4",
        sha256="ab" * 32,
        size=1234,
        host=STORAGE,
        project=project,
        user="ann",
        retention=RETENTION_SECONDS,
    )


def add_job(journal: Journal, segments: int = 2) -> None:
    journal.open_job(
        "job-1",
        source=Path("/renders/shot.mp4"),
        source_hash="h",
        output=Path("/renders/shot_4k.mp4"),
        model="m",
        plan=[{} for _ in range(segments)],
    )


def test_a_file_sent_is_written_down_before_and_marked_sent_after(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    before = journal.now()

    row_id = journal.audit_sending(sending())
    [while_sending] = journal.audit_rows()
    journal.audit_sent(row_id, "https://storage.example/media/abc/seg.mp4?X-Sig=secret")
    [row] = journal.audit_rows()

    assert (while_sending.id, while_sending.state) == (row_id, "sending")
    assert (row.kind, row.state, row.service) == ("upload", "sent", SERVICE)
    assert (row.path, row.source, row.sha256, row.bytes, row.host) == (
        "/work/seg-000.src.mp4",
        "/renders/shot.mp4",
        "ab" * 32,
        1234,
        STORAGE,
    )
    assert (row.project, row.user_name, row.machine, row.job_key, row.idx) == (
        "show-a",
        "ann",
        HOST,
        "job-1",
        0,
    )
    assert before <= row.at <= journal.now()
    assert row.expires == row.at + RETENTION_SECONDS
    assert (row.task_id, row.deleted_at, row.error) == (None, None, None)
    with journal._read() as db:
        stored = db.execute("SELECT * FROM audit").fetchall()
    assert "X-Sig" not in repr(stored) and "?" not in repr(stored)


def test_a_send_that_broke_off_stays_in_the_audit_as_failed_without_urls(
    open_ledger: OpenLedger,
) -> None:
    journal = open_ledger()
    row_id = journal.audit_sending(sending())

    journal.audit_send_failed(
        row_id, "PUT https://storage.example/put/tok?X-Amz-Signature=deadbeef failed: reset"
    )

    [row] = journal.audit_rows()
    assert row.state == "failed"
    assert row.error == "PUT https://storage.example/put/tok failed: reset"


def test_scrub_drops_every_urls_query_and_fragment() -> None:
    text = "a http://h/p?k=v#f and https://x.example:8443/a/b?sig=1 end?"
    assert scrub(text) == "a http://h/p and https://x.example:8443/a/b end?"


def test_the_audit_lists_oldest_first_from_a_moment_and_by_project(
    open_ledger: OpenLedger,
) -> None:
    journal = open_ledger()
    first = journal.audit_sending(sending(0, project="show-a"))
    time.sleep(0.01)
    middle = journal.now()
    time.sleep(0.01)
    second = journal.audit_sending(sending(1, project="show-b"))
    third = journal.audit_sending(sending(0, project="show-a"))

    assert [r.id for r in journal.audit_rows()] == [first, second, third]
    assert [r.id for r in journal.audit_rows(since=middle)] == [second, third]
    assert [r.id for r in journal.audit_rows(project="show-a")] == [first, third]
    assert [r.id for r in journal.audit_rows(since=middle, project="show-a")] == [third]
    assert journal.audit_rows(project="nobody") == []


def test_a_task_names_the_upload_it_reads_and_no_other(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    url_a, url_b = "https://s/media/a/seg.mp4", "https://s/media/b/seg.mp4"
    a = journal.audit_sending(sending(0))
    journal.audit_sent(a, url_a)
    b = journal.audit_sending(sending(0))  # another node's copy of the same segment
    journal.audit_sent(b, url_b)
    other = journal.audit_sending(sending(1))
    journal.audit_sent(other, url_a)

    journal.audit_task("job-1", 0, url_a, "task-1")
    journal.audit_task("job-1", 0, url_a, "task-2")  # a second task on the same upload

    tasks = {row.id: row.task_id for row in journal.audit_rows()}
    assert tasks == {a: "task-1", b: None, other: None}


def test_a_task_record_audits_its_upload_and_names_its_task_when_submitted(
    open_ledger: OpenLedger,
) -> None:
    journal = open_ledger()
    add_job(journal)
    payer = Payer(SERVICE, "m", "show-a", "ann")
    record = TaskRecord(
        journal, "job-1", 1, price=Price(payer, 5, Decimal("0.10")), source="/renders/shot.mp4"
    )
    url = "https://s/media/x/seg-001.src.mp4"

    row_id = record.sending(
        service=SERVICE,
        path="/work/seg-001.src.mp4",
        sha256="cd" * 32,
        size=99,
        host=STORAGE,
        retention=RETENTION_SECONDS,
    )
    record.sent(row_id, url)
    record.uploaded(url)
    assert record.claim()[0] == "submit"
    record.about_to_submit()
    record.submitted("task-9")

    [row] = journal.audit_rows()
    assert (row.idx, row.source, row.project, row.user_name, row.task_id) == (
        1,
        "/renders/shot.mp4",
        "show-a",
        "ann",
        "task-9",
    )


def test_a_deletion_is_due_once_per_task_whichever_node_asks(open_ledger: OpenLedger) -> None:
    here = open_ledger()
    there = open_ledger(owner="other-host:4242:beef")

    due_here = here.queue_deletions(
        SERVICE, ["t1", "t2", "t1"], job_key="job-1", project="p", user="u"
    )
    due_there = there.queue_deletions(SERVICE, ["t2", "t3"], job_key="job-1", project="p", user="u")

    assert due_here == ["t1", "t2"]
    assert due_there == ["t2", "t3"]  # t2 is due already: the same pending row
    deletions = [r for r in here.audit_rows() if r.kind == "delete"]
    assert sorted(r.task_id or "" for r in deletions) == ["t1", "t2", "t3"]
    assert {r.state for r in deletions} == {"pending"}
    assert sorted(here.pending_deletions(SERVICE)) == ["t1", "t2", "t3"]
    assert here.pending_deletions("another service") == []


def test_a_deletion_done_is_never_due_again_and_stamps_the_uploads_it_removed(
    open_ledger: OpenLedger,
) -> None:
    here = open_ledger()
    there = open_ledger(owner="other-host:4242:beef")
    upload = here.audit_sending(sending(0))
    here.audit_sent(upload, "https://s/media/a/seg.mp4")
    here.audit_task("job-1", 0, "https://s/media/a/seg.mp4", "t1")
    here.queue_deletions(SERVICE, ["t1", "t2"], job_key="job-1", project="p", user="u")

    here.deletions_done(SERVICE, ["t1"])
    again = there.queue_deletions(SERVICE, ["t1", "t2"], job_key="job-1", project="p", user="u")

    assert again == ["t2"]  # t1 was deleted once: that is enough
    rows = {(r.kind, r.task_id): r for r in here.audit_rows()}
    done = rows[("delete", "t1")]
    assert (done.state, done.deleted_by, done.attempts, done.error) == ("done", HOST, 1, None)
    assert done.deleted_at is not None
    assert rows[("upload", "t1")].deleted_at == done.deleted_at
    assert rows[("delete", "t2")].state == "pending"
    assert here.pending_deletions(SERVICE) == ["t2"]
    assert here.deleted_on_request(SERVICE, "t1") == done
    assert here.deleted_on_request(SERVICE, "t2") is None


def test_a_failed_deletion_stays_pending_with_its_reason_and_tries(
    open_ledger: OpenLedger,
) -> None:
    journal = open_ledger()
    journal.queue_deletions(SERVICE, ["t1"], job_key="job-1", project="p", user="u")

    journal.deletions_failed(SERVICE, ["t1"], "delete: HTTP 503 https://api.example/x?k=v")
    journal.deletions_failed(SERVICE, ["t1"], "delete: HTTP 503 again")
    journal.deletions_waiting(SERVICE, ["t1"], "still being downloaded by node-b")

    [row] = journal.audit_rows()
    assert (row.state, row.attempts) == ("pending", 2)
    assert row.error == "still being downloaded by node-b"
    assert journal.pending_deletions(SERVICE) == ["t1"]
    journal.deletions_failed(SERVICE, ["t1"], "delete: HTTP 503 https://api.example/x?k=v")
    assert journal.audit_rows()[0].error == "delete: HTTP 503 https://api.example/x"


def test_a_task_another_node_is_collecting_is_known_until_it_is_done_or_its_lease_lapses(
    open_ledger: OpenLedger, lapsed: Callable[..., None]
) -> None:
    here = open_ledger()
    there = open_ledger(owner="other-host:4242:beef")
    quick = open_ledger(owner="third-host:1:cafe", lease_seconds=0.2)

    here.collecting("t-mine")
    there.collecting("t1")
    quick.collecting("t2")
    quick.close()  # stops renewing: its lease lapses
    lapsed(here, "third-host:1:cafe", "collectors")

    assert here.collected_elsewhere(["t-mine", "t1", "t2", "t3"]) == {"t1": "other-host:4242:beef"}
    assert there.collected_elsewhere(["t-mine"]) == {"t-mine": here.owner}
    there.collected("t1")
    assert here.collected_elsewhere(["t1"]) == {}
    assert here.collected_elsewhere([]) == {}
