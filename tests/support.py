"""Helpers the tests share: waiting on a task and uploading a file, over plain HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from uprez.config import Config, load_config
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.standin.app import ServiceApp
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer

#: The tests folder (support files: contract/, standins/) and the checkout it belongs to.
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TEST_KEY = "test-key-for-the-local-server"
# Small enough that a test upscale takes a fraction of a second on two cores.
TEST_BOX = (256, 144)
#: The account level of the shared test servers: a real, documented paid level (500 submits a
#: minute, 300 tasks at once) that a test suite does not run into. Tests of the limits
#: themselves start their own server at another level.
TEST_LEVEL = "silver"


def wait_for(api: requests.Session, url: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a prediction URL until its status is terminal; return the ``data`` object."""
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(url, timeout=10)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        if data["status"] in ("completed", "failed"):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"task still {data['status']} after {timeout} s")
        time.sleep(0.05)


def ticket(
    api: requests.Session, base_url: str, size: int, filename: str = "clip.mp4"
) -> dict[str, Any]:
    """Ask for an upload ticket (``POST /api/v3/media/uploads``); return its ``data``."""
    answer = api.post(
        f"{base_url}/api/v3/media/uploads",
        json={"filename": filename, "size": size, "content_type": "video/mp4"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def upload(api: requests.Session, base_url: str, path: Path) -> str:
    """Upload a file by the ticket + PUT flow; return its download URL."""
    data = ticket(api, base_url, path.stat().st_size, path.name)
    with path.open("rb") as body:
        put = requests.put(
            data["upload"]["url"], data=body, headers=data["upload"]["headers"], timeout=30
        )
    assert put.status_code == 200, put.text
    url: str = data["download_url"]
    return url


def upscale_by_api(api: requests.Session, base_url: str, path: Path) -> tuple[str, dict[str, Any]]:
    """Upload ``path``, submit it and wait for the task to end, as a plain client of the API
    would; return the upload's URL and the finished task (completed or not)."""
    url = upload(api, base_url, path)
    task = api.post(
        f"{base_url}/api/v3/runwayml/upscale-v1", json={"video": url}, timeout=10
    ).json()["data"]
    return url, wait_for(api, task["urls"]["get"])


class GatedOrigin:
    """A plain HTTP origin on loopback serving one file, which answers only once its gate opens.

    A task whose input comes from here stays "processing" (fetching) for as long as the test
    wants, so queueing and sync time-outs can be observed without racing the upscale.
    """

    def __init__(self, body: bytes) -> None:
        self.gate = threading.Event()
        self.requests = 0
        self._count = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with origin._count:
                    origin.requests += 1
                origin.gate.wait(30)
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, name: str = "gated.mp4") -> str:
        return f"http://127.0.0.1:{self._http.server_port}/{name}"

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.requests < count:
            assert time.monotonic() < deadline, f"only {self.requests} fetches began"
            time.sleep(0.01)

    def __enter__(self) -> GatedOrigin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self._http.shutdown()
        self._http.server_close()


# -- client-side helpers -------------------------------------------------------------------------

#: A key that is easy to spot if it ever leaks into a log, a sidecar or an error message.
SECRET_KEY = "sk-uprez-SECRET-4242"

#: Polling and retry settings that keep a test's waits in the tens of milliseconds.
FAST: dict[str, object] = {
    "polling.first_interval": 0.02,
    "polling.max_interval": 0.1,
    "retry.backoff_base": 0.01,
    "retry.backoff_cap": 0.05,
    # The test servers upscale into TEST_BOX, not 4K: results are verified against that.
    "verify.target_size": f"{TEST_BOX[0]}x{TEST_BOX[1]}",
    # The test servers run at the silver level: the client paces itself for that.
    "account.level": TEST_LEVEL,
}


@contextmanager
def serving(*flags: str) -> Iterator[tuple[list[str], str]]:
    """``uprez serve --port 0 --api-key TEST_KEY FLAGS`` in a child process: yields the lines of
    its start-up banner (up to "press Ctrl-C to stop") and its base URL; stopped with Ctrl-C."""
    child = subprocess.Popen(
        [sys.executable, "-m", "uprez", "serve", "--port", "0", "--api-key", TEST_KEY, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("press Ctrl-C"):
            line = child.stdout.readline()
            assert line, f"uprez serve ended early: {lines}"
            lines.append(line.rstrip("\n"))
        yield lines, lines[0].split()[-1]
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(timeout=30)


def fast_config(overrides: dict[str, object] | None = None) -> Config:
    """A config from the defaults (no environment) with fast polling, plus ``overrides``."""
    return load_config(env={}, overrides={**FAST, **(overrides or {})})


def stats(base_url: str, key: str) -> dict[str, Any]:
    """The local server's counters (``submissions``, ``uploads``, ``injected``)."""
    answer = requests.get(
        f"{base_url}/_uprez/stats", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def write_entry_points(
    folder: Path, modules: dict[str, tuple[str, str]], dist: str = "fakeplug"
) -> None:
    """Install a fake distribution in ``folder`` whose ``uprez`` entry points name ``modules``.

    ``modules`` maps an entry-point name to a ``(module name, source)`` pair, written as
    ``folder/<module>.py``. With ``folder`` on ``sys.path`` (or ``PYTHONPATH``),
    ``importlib.metadata`` discovers the entry points as it would an installed plugin's.
    """
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = ["[uprez]"]
    for entry, (module, source) in modules.items():
        (folder / f"{module}.py").write_text(source)
        lines.append(f"{entry} = {module}")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@dataclass
class Service:
    """A shared local server as one test sees it: faults to inject, and what was spent since
    the test began (or since :meth:`reset`)."""

    server: LocalServer
    start: dict[str, Any]
    known_tasks: set[str]
    known_uploads: set[Path] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def app(self) -> ServiceApp:
        assert self.server.app is not None
        return self.server.app

    def inject(self, *faults: Fault) -> None:
        """Queue copies of ``faults`` (the server consumes them in place)."""
        self.app.faults.add(*(replace(fault) for fault in faults))

    def injected(self) -> dict[str, int]:
        return dict(self.app.faults.injected)

    def clear(self) -> None:
        """Forget the pending faults."""
        self.app.faults.clear()

    def stats(self) -> dict[str, Any]:
        return stats(self.base_url, SECRET_KEY)

    def spent(self) -> tuple[int, int]:
        """Uploads and submissions since the test began (or the last :meth:`reset`)."""
        now = self.stats()
        return (
            now["uploads"] - self.start["uploads"],
            now["submissions"] - self.start["submissions"],
        )

    def upscale(self, source: object, pm: PluginManager, **overrides: object) -> Artifact:
        """Run the upscale step on ``source`` (a file, a sequence) against this server, with the
        fast test config plus ``overrides``, as a host would; return the result."""
        from uprez.step.run import run_upscale  # PyAV loads with the step's modules
        from uprez.wavespeed.provider import WaveSpeedProvider

        config = fast_config(overrides)
        provider = WaveSpeedProvider.from_config(config, base_url=self.base_url, api_key=SECRET_KEY)
        try:
            return run_upscale(Artifact(source), config=config, pm=pm, provider=provider)  # type: ignore[arg-type]
        finally:
            provider.close()

    def uploaded_files(self) -> list[Path]:
        """The files the server received since the test began (or the last :meth:`reset`)."""
        return [p for p in self.app.uploads.files() if p not in self.known_uploads]

    def reset(self) -> None:
        """Count from now on."""
        self.known_uploads = set(self.app.uploads.files())
        self.start = self.stats()
        self.known_tasks = set(task_ids(self.base_url))

    def new_task_ids(self) -> set[str]:
        """The tasks created since the test began (or the last :meth:`reset`)."""
        return set(task_ids(self.base_url)) - self.known_tasks

    def new_task_id(self) -> str:
        """The one task created since the test began."""
        [task_id] = self.new_task_ids()
        return task_id


def task_ids(base_url: str, key: str = SECRET_KEY) -> list[str]:
    """Ids of the server's recent tasks, newest first, by the documented listing
    (``POST /api/v3/predictions``), every page of it."""
    ids: list[str] = []
    page = 1
    while True:
        answer = requests.post(
            f"{base_url}/api/v3/predictions",
            json={"page": page, "page_size": 100},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        ids.extend(item["id"] for item in data["items"])
        if not data["items"] or len(ids) >= data["total"]:
            return ids
        page += 1


def service_env(
    base_url: str,
    *,
    key: str = SECRET_KEY,
    box: tuple[int, int] = TEST_BOX,
    **settings: str,
) -> dict[str, str]:
    """The caller's environment, without its uprez settings, aimed at ``base_url`` with
    ``key``, results verified against ``box``, plus ``settings`` (more variables)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_") and name != "WAVESPEED_API_KEY"
    }
    env.update(
        UPREZ_PROVIDER__NAME="wavespeed",
        UPREZ_PROVIDER__BASE_URL=base_url,
        WAVESPEED_API_KEY=key,
        UPREZ_VERIFY__TARGET_SIZE=f"{box[0]}x{box[1]}",
        UPREZ_ACCOUNT__LEVEL=TEST_LEVEL,
    )
    env.update(settings)
    return env
