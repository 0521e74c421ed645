"""The watch folder: every finished video that lands in a folder is upscaled once.

A file is taken only when it has stopped changing (same size and modification time for
``watch.settle`` seconds), so a render still being written is never touched. A rendered image
sequence whose frames match ``watch.patterns`` is one input, taken when all of it has settled
with no gap (see :mod:`uprez.watch_sequences`). What was done is kept in
``OUT_DIR/.uprez-watch.json``, so a restart does not redo (nor pay for) anything.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.account import concurrency
from uprez.atomic import write_text_atomic
from uprez.errors import UprezError, message
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source
from uprez.records import Artifact
from uprez.step.sidecar import sidecar_path
from uprez.watch_sequences import is_frame, is_ready_file, look, sequences_among

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.plugins import PluginManager
    from uprez.providers import Provider

log = logging.getLogger(__name__)
STATE_FILE = ".uprez-watch.json"


@dataclass(frozen=True)
class Sighting:
    """A file as last seen: its size and modification time, and when they were first seen
    (a sequence's: all its frames', and the signature of every frame)."""

    size: int
    mtime_ns: int
    since: float
    signature: str = ""


class WatchState:
    """The record of files handled, by ``relative path|size|mtime``; saved atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                self._items = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("%s is unreadable; starting a new record", path)

    def known(self, key: str) -> bool:
        """True when the file was handled (done or failed) before."""
        with self._lock:
            return key in self._items

    def record(self, key: str, entry: dict[str, Any]) -> None:
        """Remember how a file ended, and save the record."""
        with self._lock:
            self._items[key] = entry
            write_text_atomic(self.path, json.dumps(self._items, indent=2))

    def entries(self) -> dict[str, dict[str, Any]]:
        """A copy of the record."""
        with self._lock:
            return dict(self._items)


class Watcher:
    """Upscales finished videos from ``in_dir`` into ``out_dir``, ``limits.concurrency`` at once."""

    def __init__(
        self,
        in_dir: Path,
        out_dir: Path,
        *,
        config: Config,
        pm: PluginManager,
        provider: Provider,
        clock: Any = time.monotonic,
        project: str | None = None,
        user: str | None = None,
    ) -> None:
        self.in_dir = in_dir
        self.project, self.user = project, user
        self.out_dir = out_dir
        self.config = config
        self.pm = pm
        self.provider = provider
        self.state = WatchState(out_dir / STATE_FILE)
        self._clock = clock
        self._seen: dict[str, Sighting] = {}
        #: Sequences settled but not startable (a gap, no frame rate...), with the reason.
        self._held: dict[str, str] = {}
        self._running: dict[str, Future[None]] = {}
        self._targets: set[str] = set()  # outputs of jobs started by this run
        self._claims = threading.Lock()
        self.failures: list[str] = []  # sources that failed during this run
        self.interval = config.watch.interval
        self.settle = config.watch.settle
        self.patterns = config.watch.patterns

    def _key(self, path: Path, stat: os.stat_result) -> str:
        return f"{path.relative_to(self.in_dir)}|{stat.st_size}|{stat.st_mtime_ns}"

    def _not_an_input(self, path: Path, outputs: set[str]) -> bool:
        """True for what uprez itself writes: anything in OUT_DIR (which may lie inside IN_DIR,
        or be it), in a hidden folder (work folders, ``.uprez-work``), a result recognised by
        its sidecar, or the sidecar itself. Taking those would pay for results of results."""
        rel = path.relative_to(self.in_dir)
        if any(part.startswith(".") for part in rel.parts) or is_ready_file(path):
            return True
        resolved = path.resolve()
        if sidecar_path(path).exists() or str(resolved) in outputs:
            return True  # a result of uprez, with its sidecar or without one
        out = self.out_dir.resolve()
        return out != self.in_dir.resolve() and resolved.is_relative_to(out)

    def _outputs(self) -> set[str]:
        """Every output this watcher made or is making (the record survives restarts)."""
        entries = self.state.entries().values()
        made = {str(Path(e["output"]).resolve()) for e in entries if e.get("output")}
        with self._claims:
            return made | set(self._targets)

    def ready(self) -> list[tuple[Source, str]]:
        """Files and image sequences that match, have stopped changing, were never handled,
        and are not uprez's own output (see :meth:`_not_an_input`)."""
        now = self._clock()
        found: list[tuple[Source, str]] = []
        frames: list[Path] = []
        outputs = self._outputs()
        for path in sorted(self.in_dir.rglob("*")):
            name = path.name
            if not any(fnmatch.fnmatch(name, p) for p in self.patterns):
                continue
            if self._not_an_input(path, outputs):
                continue
            if is_frame(path):
                frames.append(path)  # taken as its sequence, below
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # gone or unreadable since the listing
            if not path.is_file() or stat.st_size == 0:
                continue
            rel = str(path.relative_to(self.in_dir))
            seen = self._seen.get(rel)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._seen[rel] = Sighting(stat.st_size, stat.st_mtime_ns, now)
                continue  # new or still changing: look again later
            key = self._key(path, stat)
            settled = now - seen.since >= self.settle
            if settled and key not in self._running and not self.state.known(key):
                found.append((path, key))
        for seq in sequences_among(frames):
            if not self._not_an_input(seq.pattern, outputs):  # our results, by their sidecar
                found.extend(self._sequence_ready(seq, now))
        return found

    def _sequence_ready(self, seq: ImageSequence, now: float) -> list[tuple[Source, str]]:
        """``seq`` when all of it has settled with no gap and was never handled (see
        :mod:`uprez.watch_sequences`), else nothing; why it is held is logged once."""
        rel = str(seq.pattern.relative_to(self.in_dir))
        arrival = look(seq, self.config.sequence.fps)
        seen = self._seen.get(rel)
        if seen is None or seen.signature != arrival.signature:
            self._seen[rel] = Sighting(arrival.size, arrival.mtime_ns, now, arrival.signature)
            self._held.pop(rel, None)
            return []  # new or still changing: look again later
        if now - seen.since < self.settle:
            return []
        if arrival.held:
            if self._held.get(rel) != arrival.held:
                self._held[rel] = arrival.held
                say = log.info if arrival.waiting else log.warning
                say("%s: settled, not started: %s", seq, arrival.held)
            return []
        key = arrival.key(rel)
        if key in self._running or self.state.known(key):
            return []
        return [(arrival.sequence, key)]

    def _claim(self, output: Source) -> None:
        """Remember ``output`` as this watcher's own: never an input."""
        if isinstance(output, Path):
            with self._claims:
                self._targets.add(str(output.resolve()))

    def _process(self, path: Source, key: str) -> None:
        """Prepare and run ``path`` (a file or a sequence) as a post-export: the config's rules
        choose its steps, and ``uprez_output_path`` places the result in the matching folder
        under OUT_DIR."""
        from uprez.step.prepare import prepare  # the step's modules load when a file is ready
        from uprez.step.run import run  # PyAV loads with the step's modules

        assert not isinstance(path, RemoteVideo), "a watch folder holds files"
        parent = path.folder if isinstance(path, ImageSequence) else path.parent
        folder = self.out_dir / parent.relative_to(self.in_dir)
        entry: dict[str, Any] = {"source": str(path), "output": None}
        failure: BaseException | None
        try:
            batch = prepare(
                [Artifact(path, project=self.project, user=self.user)],
                config=self.config,
                pm=self.pm,
                folder=folder,
                rules=True,
            )
            for job in batch.jobs:
                # Known before anything is spent, so a scan never takes it for an input.
                self._claim(job.target)
                entry["output"] = str(job.target)
            outcomes = run(batch, provider=self.provider)
        except (UprezError, OSError) as exc:
            outcomes, failure = [], exc
        else:
            failure = next((o.error for o in outcomes if o.error is not None), None)
            for made in (item for o in outcomes for item in o.produced):
                self._claim(made.path)  # what other steps wrote is no input either
        if failure is not None:
            log.error("%s: %s", path, message(failure))
            entry.update(
                status="failed", error=message(failure), task_id=getattr(failure, "task_id", None)
            )
            self.failures.append(str(path))
        elif not outcomes:
            entry.update(status="skipped")
            log.info("%s: no rule chooses a step for it", path)
        else:
            first = outcomes[0].result
            result = None if first is None else first.result
            entry.update(
                status="done",
                task_id=None if result is None else result.task_id,
                cost=None if result is None else str(result.cost),
            )
            log.info("%s -> %s", path, entry["output"])
        entry["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.state.record(key, entry)

    def run(self, *, stop: threading.Event | None = None, once: bool = False) -> None:
        """Watch until ``stop`` is set (or, with ``once``, until what is there now is done)."""
        stop = stop or threading.Event()
        workers = concurrency(self.config)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="uprez-watch") as pool:
            try:
                while not stop.is_set():
                    for path, key in self.ready():
                        self._running[key] = pool.submit(self._process, path, key)
                    for key, future in list(self._running.items()):
                        if future.done():
                            del self._running[key]
                            future.result()  # a bug surfaces here, not silently
                    if once and not self._running and not self._pending():
                        break
                    stop.wait(self.interval)
            finally:
                for future in self._running.values():
                    future.cancel()

    def _pending(self) -> bool:
        """True while some matching file has been seen but not yet settled and handled."""
        return bool(self.ready_candidates())

    def ready_candidates(self) -> list[str]:
        """Files and sequences seen but neither handled, running, nor held (a sequence with a
        gap, say) yet: still settling."""
        handled = {k.split("|", 1)[0] for k in self.state.entries()}
        running = {k.split("|", 1)[0] for k in self._running}
        return [
            rel
            for rel in self._seen
            if rel not in handled and rel not in running and rel not in self._held
        ]
