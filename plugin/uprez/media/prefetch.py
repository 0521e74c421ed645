"""Run a generator in a thread ahead of its consumer, so reading overlaps with writing.

FFmpeg's demuxers and muxers release the GIL while they read and write, so a reader thread
and a writer thread do run at once. Handing items over one at a time costs a GIL handoff per
item, which for small items (copied packets) is more than the overlap saves: ``batch`` hands
them over in lists instead.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

__all__ = ["Prefetch"]

_T = TypeVar("_T")


class Prefetch(Generic[_T]):
    """Runs ``produce()`` in a thread, at most ``depth`` hand-overs ahead of the consumer.

    Each hand-over is one item, or with ``batch`` up to that many; either way the consumer
    iterates single items. Leaving the ``with`` block early (an error, or an abort raised by a
    progress callback) stops the thread within one hand-over and waits for it, so the containers
    it reads can be closed safely; an error in the thread is raised in the consumer, after the
    items produced before it.
    """

    _END = object()

    def __init__(
        self, produce: Callable[[], Iterator[_T]], depth: int, *, batch: int = 1, name: str
    ) -> None:
        self._produce, self._batch = produce, max(1, batch)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def __enter__(self) -> Iterator[_T]:
        self._thread.start()
        return self._items()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a thread waiting to put
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _items(self) -> Iterator[_T]:
        while (item := self._queue.get()) is not self._END:
            if isinstance(item, _Failure):
                raise item.error
            if isinstance(item, _Batch):
                yield from cast("Sequence[_T]", item.items)
            else:
                yield cast(_T, item)

    def _work(self) -> None:
        pending: list[_T] = []
        try:
            for item in self._produce():
                pending.append(item)
                if len(pending) >= self._batch:
                    if not self._hand(pending):
                        return
                    pending = []
            if self._hand(pending):
                self._put(self._END)
        except BaseException as error:  # handed to the consumer, raised there
            if self._hand(pending):
                self._put(_Failure(error))

    def _hand(self, pending: list[_T]) -> bool:
        """Queue what was produced since the last hand-over; False if the consumer has left."""
        if not pending:
            return True
        return self._put(pending[0] if self._batch == 1 else _Batch(pending))

    def _put(self, item: object) -> bool:
        """Queue ``item`` unless the consumer has left; say whether it was queued."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False


@dataclass(frozen=True)
class _Batch:
    """Items handed over together (a list, so an item that is itself a list stays one)."""

    items: Sequence[object]


@dataclass(frozen=True)
class _Failure:
    """An exception raised in the producing thread, on its way to the consumer."""

    error: BaseException
