"""``uprez audit``: which files left this studio's machines for a service, when, to which host,
for whom, and until when the service keeps them; and the deletions asked of the service."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from uprez.cli.spend import utc_date
from uprez.config import load_config
from uprez.journal.audit import AuditRow
from uprez.journal.jobs import open_journal

EPILOG = """\
Each 'upload' row is one file sent: a segment cut from the source (path) or the source itself,
its SHA-256 and size, the host its bytes went to (never the URL: a signed URL's query string is
not kept), the task that read it, the project, user and machine, and when the service deletes it
on its own (7 days after the upload). State 'failed' means the send broke off: part of the file
may have left. A 'delete' row is a task uprez asked the service to delete after its result was
downloaded (privacy.delete_after_download): 'pending' until the service confirmed it (retried by
every run until then), 'done' with the time; the uploads that task read show that time as
deleted. Times are UTC; --since takes a UTC date.
"""
FIELDS = (
    "at",
    "kind",
    "state",
    "project",
    "user",
    "machine",
    "service",
    "host",
    "path",
    "source",
    "bytes",
    "sha256",
    "task_id",
    "expires",
    "deleted_at",
    "deleted_by",
    "kept_until",
    "attempts",
    "error",
)


def register(commands: Any) -> None:
    """Add the ``audit`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "audit",
        help="the files sent to services, and the deletions asked of them",
        description="List the ledger's audit: every file uprez sent, and every task deletion.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--since", type=utc_date, metavar="YYYY-MM-DD", help="rows from this UTC date on"
    )
    parser.add_argument("--project", metavar="P", help="only the rows of project (show) P")
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON on stdout")
    formats.add_argument("--csv", action="store_true", help="print CSV on stdout")
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON config file (default: $UPREZ_CONFIG)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the audit."""
    config = load_config(args.config)
    journal = open_journal(config)
    if journal is None:
        print("the journal is off (journal.enabled = false): nothing is audited")
        return 0
    try:
        rows = journal.audit_rows(since=args.since, project=args.project)
    finally:
        journal.close()
    entries = [entry(row) for row in rows]
    if args.json:
        report = {
            "since": None if args.since is None else _iso(args.since),
            "project": args.project,
            "rows": entries,
            "pending_deletions": sum(1 for e in entries if _pending_deletion(e)),
        }
        print(json.dumps(report, indent=2))
    elif args.csv:
        print(to_csv(entries), end="")
    else:
        print(to_table(entries))
    return 0


def entry(row: AuditRow) -> dict[str, Any]:
    """One row as the report shows it (times as ISO 8601 UTC)."""
    kept = row.deleted_at if row.deleted_at is not None else row.expires
    return {
        "at": _iso(row.at),
        "kind": row.kind,
        "state": row.state,
        "project": row.project,
        "user": row.user_name,
        "machine": row.machine,
        "service": row.service,
        "host": row.host,
        "path": row.path,
        "source": row.source,
        "bytes": row.bytes,
        "sha256": row.sha256,
        "task_id": row.task_id,
        "expires": _iso(row.expires),
        "deleted_at": _iso(row.deleted_at),
        "deleted_by": row.deleted_by,
        "kept_until": _iso(kept) if row.kind == "upload" else None,
        "attempts": row.attempts,
        "error": row.error,
    }


def to_csv(entries: Sequence[dict[str, Any]]) -> str:
    """The entries as CSV with a header line (empty cells for what a row does not have)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for item in entries:
        writer.writerow({k: "" if item[k] is None else item[k] for k in FIELDS})
    return out.getvalue()


def to_table(entries: Sequence[dict[str, Any]]) -> str:
    """A terminal table: one line per row, the longest values (paths, hashes) shortened."""
    if not entries:
        return "nothing in the audit"
    lines = [
        (
            item["at"],
            f"{item['kind']}/{item['state']}",
            item["project"] or "-",
            f"{item['user'] or '-'}@{item['machine']}",
            item["host"] or item["service"],
            "" if item["bytes"] is None else str(item["bytes"]),
            (item["sha256"] or "")[:12],
            item["task_id"] or "-",
            _until(item),
            _what_file(item),
        )
        for item in entries
    ]
    heads = ("time (UTC)", "what", "project", "who", "to", "bytes", "sha256", "task", "until", "")
    widths = [max(len(str(cell)) for cell in column) for column in zip(heads, *lines, strict=True)]
    shown = []
    for line in (heads, *lines):
        cells = (str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        shown.append("  ".join(cells).rstrip())
    return "\n".join(shown)


def _what_file(item: dict[str, Any]) -> str:
    """The source sent, naming the segment when a cut of it was (the cut's own path, in the
    work folder, is in --json and --csv); a deletion's last error, if any."""
    if item["kind"] != "upload":
        return item["error"] or ""
    source, path = item["source"] or "", item["path"] or ""
    if path == source:
        return source
    return f"{source} ({Path(path).name})"


def _until(item: dict[str, Any]) -> str:
    if item["kind"] == "upload":
        word = "deleted" if item["deleted_at"] else "kept to"
        return f"{word} {item['kept_until'][:10]}" if item["kept_until"] else "-"
    if item["state"] == "done":
        return f"done {item['deleted_at']}"
    return f"pending ({item['attempts']} tries)"


def _pending_deletion(item: dict[str, Any]) -> bool:
    return bool(item["kind"] == "delete" and item["state"] == "pending")


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
