"""The journal (the ledger): what every job and segment did, so a rerun resumes instead of
paying twice, and, shared, so that many machines pay once and stay within the account's limits
and the studio's budgets.

By default one SQLite file (WAL, so readers never block the writer) in the user's data folder;
with ``journal.url`` a PostgreSQL database that every machine shares (:mod:`.engine`). Each side
effect is written down before and after it happens: the upload's URL, "submitting", the task
id, "completed", "downloaded". A job is keyed by the source's content hash, the model and its
inputs, and the segment plan (:mod:`.keys`): the same work, asked again, finds its record.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

from uprez.journal.audit import Audit
from uprez.journal.charges import Charges
from uprez.journal.collectors import Collectors
from uprez.journal.jobs_table import JobTable
from uprez.journal.learned import Learned
from uprez.journal.reservations import Reservations
from uprez.journal.segments_table import SegmentTable
from uprez.journal.turns import Turns


def default_path() -> Path:
    """``<user data dir>/uprez/journal.sqlite3``."""
    return Path(platformdirs.user_data_dir("uprez")) / "journal.sqlite3"


class Journal(JobTable, SegmentTable, Learned, Charges, Turns, Reservations, Audit, Collectors):
    """The ledger: its jobs, their segments, what the service taught, what each task cost, the
    account's turns, the budgets' reservations, the audit of what left the machine and what the
    service was told to delete, and who is collecting which task; safe to share between threads,
    processes and (PostgreSQL) machines. Open with ``Journal(path_or_url)``; :meth:`close` when
    done.
    """
