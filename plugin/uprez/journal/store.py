"""The journal: what every job and segment did, so a rerun resumes instead of paying twice.

One SQLite file (WAL, so readers never block the writer), by default in the user's data folder.
Each side effect is written down before and after it happens: the upload's URL, "submitting",
the task id, "completed", "downloaded". A job is keyed by the source's content hash, the
model and its inputs, and the segment plan (:mod:`.keys`): the same work, asked again, finds
its record.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

from uprez.journal.jobs_table import JobTable
from uprez.journal.learned import Learned
from uprez.journal.segments_table import SegmentTable


def default_path() -> Path:
    """``<user data dir>/uprez/journal.sqlite3``."""
    return Path(platformdirs.user_data_dir("uprez")) / "journal.sqlite3"


class Journal(JobTable, SegmentTable, Learned):
    """The journal database: its jobs, their segments, and what the service taught; safe to
    share between threads and processes. Open with ``Journal(path)``; :meth:`close` when done.
    """
