"""A job's segments as a pipeline: cut -> upload -> submit, wait, download, each stage busy.

One worker cuts the segments in order and another uploads each the moment it is cut, so the
first upload starts while the rest are still being cut and the uplink stays busy while tasks
wait for the account's slots and its rate; each segment's run (submit, wait, download) starts
as soon as its own upload is on the service, so results come down the moment they are ready
while later segments are still going up.

Nothing is spent early: no segment is submitted before every cut is known to be within the
upload limit (:func:`uprez.step.segment_checks.check_sizes`) and the first upload — a segment
of the largest size the plan makes — has been taken by the service. Uploading costs no money;
a size refused then stops the job with nothing submitted, and it is planned again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from uprez.errors import UploadTooLarge, UprezError
from uprez.interrupt import check
from uprez.journal.tasks import TaskRecord
from uprez.media.remote import Source
from uprez.providers import Uploader
from uprez.records import JobEvent
from uprez.step.plan import Segment

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# How often a waiting worker looks at its run's stop event (Ctrl-C).
_LOOK = 0.25


def awaited(future: Future[_T]) -> _T:
    """``future``'s result, waited for in a way an interrupted run cuts short."""
    while True:
        try:
            return future.result(timeout=_LOOK)
        except FutureTimeout:
            check()


class Stages:
    """The cut and the upload of every segment to do, each a future a segment's run awaits;
    ``checked`` once every cut is within the limit, ``taken`` once the first upload is."""

    def __init__(self, todo: Sequence[Segment]) -> None:
        self.todo = list(todo)
        self.cuts: dict[int, Future[Source]] = {s.index: Future() for s in todo}
        self.uploads: dict[int, Future[None]] = {s.index: Future() for s in todo}
        self.checked: Future[None] = Future()
        self.taken: Future[None] = Future()

    def cut_all(self, cut: Callable[[Segment], Source], check_all: Callable[[], None]) -> None:
        """Cut the segments in order, each handed on at once; then check them all."""
        try:
            for segment in self.todo:
                self.cuts[segment.index].set_result(cut(segment))
            check_all()
            self.checked.set_result(None)
        except BaseException as exc:
            self._fail(exc)
            raise

    def upload_all(
        self,
        provider: Uploader | None,
        records: Sequence[TaskRecord] | None,
        tagger: Callable[[Segment], Callable[[JobEvent], None]],
    ) -> None:
        """Upload each segment once it is cut, in order (one at a time: the first is on the
        service soonest, and the link is no faster for sharing). A provider that cannot
        upload ahead does it in its run; a failure other than a size refusal is left for the
        segment's own run to meet again and report."""
        try:
            for position, segment in enumerate(self.todo):
                source = awaited(self.cuts[segment.index])
                if provider is not None:
                    record = records[segment.index] if records is not None else None
                    try:
                        provider.upload(source, record=record, emit=tagger(segment))
                    except UploadTooLarge:
                        raise
                    except UprezError as exc:
                        log.info(
                            "upload of segment %d failed (%s); its run will try again",
                            segment.index + 1,
                            exc,
                        )
                self.uploads[segment.index].set_result(None)
                if position == 0:
                    self.taken.set_result(None)
        except BaseException as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: BaseException) -> None:
        """Every stage not yet reached fails as ``exc``: no segment is submitted after it."""
        futures: list[Future[Source] | Future[None]] = [*self.cuts.values(), *self.uploads.values()]
        futures += [self.checked, self.taken]
        for future in futures:
            if not future.done():
                future.set_exception(exc)

    def source_for(self, segment: Segment) -> Source:
        """The segment's cut, once nothing stands in the way of submitting it: every cut
        checked, the first upload taken, and its own upload done."""
        source = awaited(self.cuts[segment.index])
        awaited(self.checked)
        awaited(self.taken)
        awaited(self.uploads[segment.index])
        return source
