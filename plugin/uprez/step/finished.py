"""The one record that a segment is finished: its upscaled file in the work folder, and beside
it what made it (``seg-000.up.json``: the provider's :class:`~uprez.providers.ProviderResult`).

A rerun skips a segment on this record alone, and the journal's segment row does not say it
again (it keeps no file, no size), because this record

- is there with the journal off (``journal.enabled = false``) as with it on;
- is written only once the segment passed its checks (frames, frame rate), where the
  journal's "downloaded" is noted by the provider before any check;
- lives and goes with the file it describes (the work folder is removed whole), so it never
  names a file that is gone, nor outlives a file deleted for failing its checks.

The journal stays the truth for what was paid for: which task a segment has, so that it is
never submitted twice and an unfinished one is waited on again. Its segment states
("completed", "downloaded") are progress, for ``uprez jobs`` and onlookers, not a result.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from uprez.atomic import write_text_atomic
from uprez.providers import ProviderResult


def record_path(up: Path) -> Path:
    """Where the record of the finished segment ``up`` is kept: beside it, ``.json``."""
    return up.with_suffix(".json")


def load_finished(up: Path) -> ProviderResult | None:
    """What made the finished segment ``up``, or None when it is not finished: either file
    missing, or a record that cannot be read (the segment is then run again)."""
    record = record_path(up)
    if not (up.exists() and record.exists()):
        return None
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return ProviderResult(**{**data, "nsfw": tuple(data.get("nsfw", ()))})
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def save_finished(up: Path, result: ProviderResult) -> None:
    """Record the segment ``up`` as finished, by ``result``; call only once it passed its
    checks. Written whole or not at all."""
    write_text_atomic(record_path(up), json.dumps(asdict(result)))
