"""The audit of one upload, in the ledger: each send of the file written down before its first
byte leaves, then marked sent (with a digest of the URL the service reads it from, which later
links it to its task) or failed (part of it may have left: the row stays)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from uprez import protocol
from uprez.errors import UprezError, message

if TYPE_CHECKING:
    from uprez.journal.tasks import TaskRecord
    from uprez.net.transfers import ByteProgress
    from uprez.wavespeed.client import WaveSpeedClient
    from uprez.wavespeed.uploading import Outgoing


def upload_audited(
    client: WaveSpeedClient,
    path: Path,
    record: TaskRecord | None,
    service: str,
    progress: ByteProgress | None = None,
) -> str:
    """Upload ``path`` through ``client``; with a ``record``, every send of it is audited in the
    ledger for a task that will live on ``service``. Returns the URL the service reads it from."""
    audit = UploadAudit(record, service) if record is not None else None
    try:
        url = client.upload(path, progress=progress, on_send=audit)
    except BaseException as exc:
        if audit is not None:
            audit.failed(exc)
        raise
    if audit is not None:
        audit.sent(url)
    return url


class UploadAudit:
    """Hears of each send of one upload (a :data:`~uprez.wavespeed.uploading.SendWatch`) and
    keeps the segment's ``record`` of it, for a task that will live on ``service``."""

    def __init__(self, record: TaskRecord, service: str) -> None:
        self._record = record
        self._service = service
        self._row: str | None = None

    def __call__(self, outgoing: Outgoing) -> None:
        """A send is about to start: written down first (if the ledger cannot be written,
        the exception stops the send)."""
        if self._row is not None:
            self._record.send_failed(self._row, "the upload broke off; it was sent again")
        self._row = self._record.sending(
            service=self._service,
            path=str(outgoing.path),
            sha256=outgoing.sha256,
            size=outgoing.size,
            host=outgoing.host,
            retention=protocol.RETENTION_SECONDS,
        )

    def sent(self, url: str) -> None:
        """The service has the file and reads it from ``url``."""
        if self._row is not None:
            self._record.sent(self._row, url)

    def failed(self, error: BaseException) -> None:
        """The upload failed (or was interrupted) after a send began. A ledger that cannot be
        written now is not what the user needs to hear: the upload's own error is."""
        if self._row is not None:
            with contextlib.suppress(UprezError):
                self._record.send_failed(self._row, message(error) or type(error).__name__)
