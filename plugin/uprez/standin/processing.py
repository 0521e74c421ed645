"""The server's worker pool: each task is fetched, checked, upscaled and charged here."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from uprez import protocol
from uprez.atomic import atomic_path
from uprez.errors import MediaError
from uprez.standin.inputs import TaskFailure, fetch_input
from uprez.standin.settings import ServerSettings
from uprez.standin.store import Prediction
from uprez.standin.uploads import safe_filename
from uprez.standin.webhooks import WebhookSender

log = logging.getLogger(__name__)


class _Stopping(Exception):
    """Raised inside a running upscale when the server shuts down."""


class Processor:
    """Runs tasks on a pool as large as the account's concurrency (within the workers); tasks
    beyond it wait in the queue as ``created`` until a running one finishes. A task that ends
    (completed or failed) with a webhook set is announced through ``webhooks``.
    ``input_headers(url)`` gives the headers of a task's fetch of its input (the mark of the
    server's own fetch, which a shaped link lets through: see :mod:`uprez.standin.link`)."""

    def __init__(
        self,
        settings: ServerSettings,
        root: Path,
        webhooks: WebhookSender,
        input_headers: Callable[[str], dict[str, str]] | None = None,
    ) -> None:
        self._settings = settings
        self._input_headers = input_headers or (lambda url: {})
        self._root = root
        self._webhooks = webhooks
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.concurrency, thread_name_prefix="uprez-task"
        )
        self._lock = threading.Lock()
        self._balance = settings.balance
        self._running = 0
        self.peak_running = 0
        # Tasks submitted and not yet ended (queued or running): what the account's "tasks at
        # once" counts. Above the concurrency, the service's queue holds them.
        self._outstanding = 0
        self.peak_outstanding = 0

    @property
    def balance(self) -> Decimal:
        """What is left of the account's money."""
        with self._lock:
            return self._balance

    def enqueue(self, pred: Prediction) -> None:
        """Queue a created task for processing."""
        with self._lock:
            self._outstanding += 1
            self.peak_outstanding = max(self.peak_outstanding, self._outstanding)
        self._pool.submit(self._run, pred)

    def shutdown(self, grace: float = 3.0) -> None:
        """Stop taking work and abort running upscales, waiting at most ``grace`` seconds.

        A task blocked on a slow origin is not waited for: it fails on its own when its fetch
        times out, and finds the server's directory gone.
        """
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                if self._running == 0:
                    return
            time.sleep(0.02)
        log.warning("stopped with %d task(s) still waiting on their input", self._running)

    def _run(self, pred: Prediction) -> None:
        try:
            self._run_task(pred)
        finally:
            with self._lock:
                self._outstanding -= 1

    def _run_task(self, pred: Prediction) -> None:
        if self._stopping.is_set():
            return
        with self._lock:
            self._running += 1
            self.peak_running = max(self.peak_running, self._running)
        pred.status = protocol.PROCESSING
        workdir = Path(tempfile.mkdtemp(prefix=f"{pred.id}-", dir=self._root / "work"))
        started = time.monotonic()
        try:
            self._process(pred, workdir)
        except TaskFailure as failure:
            self._fail(pred, failure.code, str(failure))
        except _Stopping:
            self._fail(pred, protocol.CODE_UNAVAILABLE, "the server shut down during the task")
        except Exception:  # a bug must fail one task, never the server
            log.exception("task %s crashed", pred.id)
            self._fail(pred, protocol.CODE_INTERNAL, "internal error while upscaling")
        finally:
            if not pred.inference_ms:
                pred.inference_ms = int((time.monotonic() - started) * 1000)
            shutil.rmtree(workdir, ignore_errors=True)
            with self._lock:
                self._running -= 1
            pred.done.set()
        if pred.webhook and not self._stopping.is_set() and not pred.forgotten:
            self._webhooks.send(pred.webhook, pred.to_json())

    def _process(self, pred: Prediction, workdir: Path) -> None:
        started = time.monotonic()
        from uprez.media.probe import probe  # PyAV
        from uprez.standin.passthrough import passthrough_file  # PyAV
        from uprez.standin.upscale import upscale_file  # PyAV

        settings = self._settings
        if pred.forced_code is not None:
            raise TaskFailure(pred.forced_code, "injected task failure")
        url = pred.input["video"]
        source = fetch_input(
            url, workdir, settings.max_fetch_bytes, settings.tls_cert, self._input_headers(url)
        )
        if settings.copy_factor > 0:
            self._copy(pred, source, started)
            return
        try:
            info = probe(str(source))
        except MediaError as exc:
            raise TaskFailure(
                protocol.CODE_INVALID_PARAMETER, f"not a readable video: {exc}"
            ) from exc
        if info.duration > settings.max_duration:
            raise TaskFailure(
                protocol.CODE_INVALID_PARAMETER,
                f"video is {info.duration:.1f} s long; the limit is {settings.max_duration:.0f} s",
            )
        stem = Path(urlsplit(pred.input["video"]).path).stem or "video"
        name = safe_filename(stem + "_upscaled.mp4")
        if self._stopping.is_set():
            raise _Stopping
        out_dir = self._root / "outputs" / pred.id
        out_dir.mkdir()  # never parents: a stopped server's directory must stay gone
        final = out_dir / name

        def check_stop(done: int, total: int) -> None:
            if self._stopping.is_set():
                raise _Stopping

        # The output appears whole, once the task has taken its time, as the service's would.
        with atomic_path(final) as partial:
            try:
                if settings.passthrough > 0:
                    # Benchmarks of time-to-4K: a 4K result's bytes, the service's time
                    # simulated by the pace below (see uprez.standin.passthrough).
                    passthrough_file(
                        source,
                        partial,
                        settings.passthrough,
                        rotation=info.rotation,
                        keep_audio=not pred.drop_audio,
                    )
                else:
                    upscale_file(
                        str(source),
                        str(partial),
                        max_size=settings.max_size,
                        preset=settings.preset,
                        crf=settings.crf,
                        progress=check_stop,
                        keep_audio=not pred.drop_audio,
                        tamper=pred.tamper,
                        mode=settings.mode,
                    )
            except MediaError as exc:
                raise TaskFailure(protocol.CODE_TASK_FAILED, f"upscale failed: {exc}") from exc
            self._pace(max(info.duration * settings.speed_factor, settings.task_seconds), started)
        cost = settings.price.cost(info.duration)
        with self._lock:
            self._balance -= cost
        pred.output_files = [final]
        pred.outputs = [f"{pred.cdn_base}/outputs/{pred.id}/{name}"]
        self._finish(pred, protocol.COMPLETED, started)
        log.info("task %s completed (%.1f s of video, $%s)", pred.id, info.duration, cost)
        if pred.forgotten:  # deleted while it ran: its output goes too
            shutil.rmtree(out_dir, ignore_errors=True)

    def _copy(self, pred: Prediction, source: Path, started: float) -> None:
        """The benchmark mode: the output is the input repeated, made in no time at all."""
        out_dir = self._root / "outputs" / pred.id
        out_dir.mkdir()
        final = out_dir / "output.mp4"
        with atomic_path(final) as partial:
            with partial.open("wb") as out:
                for _ in range(self._settings.copy_factor):
                    with source.open("rb") as data:
                        shutil.copyfileobj(data, out, 1 << 20)
            self._pace(self._settings.task_seconds, started)
        pred.output_files = [final]
        pred.outputs = [f"{pred.cdn_base}/outputs/{pred.id}/{final.name}"]
        self._finish(pred, protocol.COMPLETED, started)
        if pred.forgotten:  # deleted while it ran: its output goes too
            shutil.rmtree(out_dir, ignore_errors=True)

    def _pace(self, seconds: float, started: float) -> None:
        """Wait until the task has taken ``seconds``, as a slower service would (interruptible)."""
        remaining = started + seconds - time.monotonic()
        if remaining > 0 and self._stopping.wait(remaining):
            raise _Stopping

    @staticmethod
    def _finish(pred: Prediction, status: str, started: float) -> None:
        """End the task: its timings first, so no answer shows the status without them."""
        pred.finished_at = time.monotonic()
        pred.inference_ms = int((pred.finished_at - started) * 1000)
        pred.status = status

    @staticmethod
    def _fail(pred: Prediction, code: int, message: str) -> None:
        pred.error = message
        pred.code = code
        pred.finished_at = time.monotonic()
        pred.status = protocol.FAILED
        log.info("task %s failed (%d): %s", pred.id, code, message)
