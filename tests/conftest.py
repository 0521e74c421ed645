"""Shared fixtures: a real local server on loopback and real clips made with PyAV."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from uprez.plugins import PluginManager, get_plugin_manager
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import SECRET_KEY, TEST_BOX, TEST_KEY, TEST_LEVEL, Service, stats, task_ids

if TYPE_CHECKING:
    # Imported where used: the rest of the suite runs without the PostgreSQL driver.
    from postgres import PostgresServer


@pytest.fixture(autouse=True)
def private_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own user data folder, so journals never leak between tests (or into
    the home folder of whoever runs them)."""
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local server on free loopback ports, with a known key and a small upscale box, at the
    silver account level: a real, documented level that a test suite does not run into."""
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, workers=2, account_level=TEST_LEVEL
    )
    with LocalServer(settings) as running:
        yield running


@pytest.fixture
def api(server: LocalServer) -> requests.Session:
    """A session that sends the test key, as any client of the service would."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TEST_KEY}"
    return session


@pytest.fixture(scope="module")
def keyed() -> requests.Session:
    """A session that sends the test key, shared by a module's tests (no server of its own)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TEST_KEY}"
    return session


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """Make a small real video with PyAV: ``make_clip("a.mp4", seconds=1, audio=True)``."""
    from uprez.media.synth import make_clip as synth

    def factory(name: str = "clip.mp4", **options: Any) -> Path:
        path = tmp_path / name
        synth(str(path), **options)
        return path

    return factory


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LocalServer]:
    """One local server per module (stopping one takes half a second), holding SECRET_KEY, at
    the silver account level."""
    settings = ServerSettings(
        api_key=SECRET_KEY, max_size=TEST_BOX, workers=2, account_level=TEST_LEVEL
    )
    with LocalServer(settings) as running:
        yield running


@pytest.fixture
def service(shared_server: LocalServer) -> Iterator[Service]:
    """The shared server with no fault pending, fresh fault counters, and spending counted
    from the start of the test."""
    app = shared_server.app
    assert app is not None
    app.faults.clear()
    app.faults.injected.clear()
    yield Service(
        shared_server,
        stats(shared_server.base_url, SECRET_KEY),
        set(task_ids(shared_server.base_url)),
        set(app.uploads.files()),
    )
    app.faults.clear()


@pytest.fixture
def pm() -> PluginManager:
    """The plugin manager with the built-ins only (no environment switches)."""
    return get_plugin_manager(env={})


@pytest.fixture
def clip(make_clip: Callable[..., Path]) -> Path:
    """A 1 s, 12 fps, 64x36 clip with sound, named shot.mp4."""
    return make_clip("shot.mp4", seconds=1, fps=12, width=64, height=36, audio=True)


_DATABASES = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server of the session's own on 127.0.0.1, started on first use and
    stopped (its folder removed) when the session ends."""
    from postgres import PostgresServer

    with PostgresServer() as running:
        yield running


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, for this test alone; it is
    dropped after the test."""
    words = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    name = f"t{next(_DATABASES)}_{words}"[:63]
    yield postgres_server.fresh_database(name)
    postgres_server.drop_database(name)
