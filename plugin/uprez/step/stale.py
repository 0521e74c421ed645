"""Is an existing output uprez's own result of an older version of the very same source?

Without ``output.overwrite`` an existing output is refused, except such a stale result, which
is replaced: a movie rendered again to the same path (Blender rewrites it even with its own
*Overwrite* off) gets a fresh 4K file instead of a refusal and a stale one. All of these must
hold, or the output is refused as before:

1. its sidecar (``<output>.uprez.json``) validates against the artifact schema, and still
   describes the file there: the output's size is the ``output.size_bytes`` it recorded (a file
   put there or changed by someone else is never replaced);
2. it was made from this very source file: the journal's record of the job that made it (the
   newest finished job from this source to this output, holding the sidecar's ``task_id``)
   names this source, or, without such a record, the sidecar's ``source.path`` is absolute and
   is this source's path (a relative one could name another file from another folder);
3. the source has changed since: with that journal record, its SHA-256 differs from the one
   recorded there (an unchanged source gets its result back at no cost instead, as before);
   without one, its size differs from the sidecar's ``source.size_bytes`` or it was modified
   after the output was written (both times read from the file system now).

URL sources never qualify: nothing shows that the same address serves another video.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import ValidationError

from uprez.journal.jobs import content_hash, open_journal
from uprez.step.sidecar import sidecar_path, validate_sidecar

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.remote import Source


def older_version(source: Source, output: Path, config: Config) -> str | None:
    """Why ``output`` is uprez's result of an older version of ``source`` (for the log), or
    None when it is not shown to be (see the module's rule): then it must not be replaced."""
    if not isinstance(source, Path) or not output.is_file():
        return None
    record = _sidecar(output)
    if record is None:
        return None
    try:
        now, made = source.stat(), output.stat()
    except OSError:
        return None
    if made.st_size != record["output"]["size_bytes"]:
        return None  # not the file the sidecar describes
    recorded_hash = _journal_hash(config, source.resolve(), output.resolve(), record["task_id"])
    if recorded_hash is not None:
        if recorded_hash != content_hash(source):
            return f"it was made from an earlier version of {source} (its content changed)"
        return None
    recorded = Path(record["source"]["path"])
    if not recorded.is_absolute() or recorded.resolve() != source.resolve():
        return None  # made from another source, or no telling which
    if now.st_size != record["source"]["size_bytes"]:
        return f"it was made from an earlier version of {source} (its size changed)"
    if now.st_mtime_ns > made.st_mtime_ns:
        return f"it was made from an earlier version of {source} (modified since)"
    return None


def _sidecar(output: Path) -> dict[str, Any] | None:
    """The output's sidecar, when it is there and valid."""
    try:
        record = json.loads(sidecar_path(output).read_text(encoding="utf-8"))
        validate_sidecar(record)
    except (OSError, ValueError, ValidationError):
        return None
    return record if isinstance(record, dict) else None


def _journal_hash(config: Config, source: Path, output: Path, task_id: str) -> str | None:
    """The source's SHA-256 as the journal recorded it for the job that made ``output``
    (the sidecar's ``task_id`` among its tasks), or None when the journal has no such job."""
    journal = open_journal(config)
    if journal is None:
        return None
    try:
        job = journal.done_job_for(source, output)
        if job is None or task_id not in journal.task_ids(job["key"]):
            return None
        recorded: str = job["source_hash"]
        return recorded
    finally:
        journal.close()
