"""Starting and stopping the local server: in-process with LocalServer, and as ``uprez serve``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from uprez.errors import ServerError
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_KEY, upload

# The command line as a module (uprez/__main__.py); ``python -m uprez.cli`` does not exist.
UPREZ = [sys.executable, "-m", "uprez"]
SERVE_DIRS = "uprez-serve-*"


def keyed(key: str = TEST_KEY) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


def answers(base_url: str, key: str = TEST_KEY) -> bool:
    """Whether a server answers on ``base_url`` (with the right key, a 200 balance)."""
    try:
        return keyed(key).get(f"{base_url}/api/v3/balance", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def settings(**options: Any) -> ServerSettings:
    return ServerSettings(**{"api_key": TEST_KEY, "max_size": (256, 144), **options})


# -- LocalServer ---------------------------------------------------------------------------------


def test_port_zero_binds_loopback_on_a_free_port_for_each_server() -> None:
    with LocalServer(settings()) as first, LocalServer(settings()) as second:
        urls = [first.base_url, second.base_url]
        ports = [int(url.rsplit(":", 1)[1]) for url in urls]

        assert all(url.startswith("http://127.0.0.1:") for url in urls)
        assert all(port > 0 for port in ports)
        assert ports[0] != ports[1]
        assert answers(first.base_url)
        assert answers(second.base_url)
        assert first.root != second.root


def test_stop_removes_the_temporary_directory_and_closes_the_port(
    make_clip: Callable[..., Path],
) -> None:
    server = LocalServer(settings()).start()
    base, root = server.base_url, server.root
    upload(keyed(), base, make_clip("kept.mp4", seconds=0.5, fps=12))
    assert root.is_dir()
    assert any((root / "uploads").iterdir())

    server.stop()

    assert not root.exists()
    assert not answers(base)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/api/v3/balance", timeout=2)


def test_a_stopped_server_has_no_url_or_root_and_stops_twice_harmlessly() -> None:
    server = LocalServer(settings()).start()
    server.stop()
    server.stop()

    with pytest.raises(ServerError):
        _ = server.base_url
    with pytest.raises(ServerError):
        _ = server.root
    assert repr(server) == "LocalServer(stopped)"


@pytest.mark.parametrize("key", [TEST_KEY, None], ids=["given-key", "random-key"])
def test_no_repr_shows_the_api_key(key: str | None) -> None:
    config = ServerSettings(api_key=key) if key else ServerSettings()
    secret = config.api_key
    assert len(secret) > 8

    server = LocalServer(config)
    texts = [repr(config), str(config), repr(server), f"{server!r} {config}"]
    server.start()
    try:
        texts += [repr(server), str(server), repr(server.settings)]
    finally:
        server.stop()
    texts.append(repr(server))

    assert all(secret not in text for text in texts), texts
    assert all(config.webhook_secret not in text for text in texts), texts
    assert "redacted" in repr(config)


def test_stop_during_an_upscale_aborts_it_promptly_and_leaves_no_directory(
    make_clip: Callable[..., Path],
) -> None:
    # A 4K box makes the upscale last seconds, so the stop lands in the middle of it.
    server = LocalServer(settings(max_size=(3840, 2160), workers=1)).start()
    root = server.root
    try:
        url = upload(keyed(), server.base_url, make_clip("long.mp4", seconds=1.0, fps=24))
        task = (
            keyed()
            .post(f"{server.base_url}/api/v3/runwayml/upscale-v1", json={"video": url}, timeout=10)
            .json()["data"]
        )
        wait_until(lambda: any((root / "outputs").glob(f"{task['id']}/*.part")))
    finally:
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started

    assert took < 15, f"stop took {took:.1f} s"
    assert not root.exists()
    assert server.app is not None
    (pred,) = server.app.predictions.all()
    assert pred.status == "failed"
    assert pred.code == 5003
    assert pred.done.is_set()


def test_a_sync_post_held_open_gets_an_answer_when_the_server_stops(
    make_clip: Callable[..., Path],
) -> None:
    server = LocalServer(settings(max_size=(3840, 2160), workers=1)).start()
    root = server.root
    url = upload(keyed(), server.base_url, make_clip("held.mp4", seconds=1.0, fps=24))
    answers_seen: list[requests.Response | Exception] = []

    def hold() -> None:
        try:
            answers_seen.append(
                keyed().post(
                    f"{server.base_url}/api/v3/runwayml/upscale-v1",
                    json={"video": url, "enable_sync_mode": True},
                    timeout=30,
                )
            )
        except requests.RequestException as exc:
            answers_seen.append(exc)

    client = threading.Thread(target=hold)
    client.start()
    wait_until(lambda: any((root / "outputs").glob("*/*.part")))
    server.stop()
    client.join(timeout=15)

    assert not client.is_alive()
    (answer,) = answers_seen
    assert isinstance(answer, requests.Response), answer
    assert answer.status_code == 200
    assert answer.json()["data"]["status"] == "failed"
    assert answer.json()["data"]["code"] == 5003


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


# -- uprez serve ---------------------------------------------------------------------------------


def child_env(tmp: Path) -> dict[str, str]:
    """The environment of a ``uprez serve`` child: its temporary files go under ``tmp`` (so its
    uprez-serve-* directory is found without racing anyone else's), and no key comes from it."""
    env = {k: v for k, v in os.environ.items() if k != "UPREZ_SERVE_API_KEY"}
    env["TMPDIR"] = str(tmp)
    return env


def serve_dirs_in(tmp: Path) -> set[Path]:
    return set(tmp.glob(SERVE_DIRS))


@contextmanager
def uprez_serve(tmp: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``uprez serve ARGS`` in a child process; yields it and the base URL it printed."""
    child = subprocess.Popen(
        [*UPREZ, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(tmp),
    )
    try:
        assert child.stdout is not None
        base_url = read_base_url(child.stdout)
        yield child, base_url
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


def read_base_url(stdout: IO[str]) -> str:
    """The base URL from the first line of ``uprez serve``'s output."""
    found: list[str] = []

    def read() -> None:
        line = stdout.readline()
        found.extend(word for word in line.split() if word.startswith("http://"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert found, "uprez serve printed no URL"
    return found[0]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_uprez_serve_prints_its_url_serves_and_cleans_up_on_a_signal(
    make_clip: Callable[..., Path], tmp_path: Path, stop_signal: signal.Signals
) -> None:
    key = "cli-key-for-this-test"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    args = ("--port", "0", "--api-key", key, "--max-size", "256x144")
    with uprez_serve(tmp, *args) as (child, url):
        host, _, port = url.removeprefix("http://").partition(":")
        assert host == "127.0.0.1"
        assert port.isdigit() and int(port) > 0
        assert answers(url, key)
        assert not answers(url, "wrong-key")
        media = upload(keyed(key), url, make_clip("cli.mp4", seconds=0.5, fps=12))
        media_id = media.split("/")[-2]
        (root,) = serve_dirs_in(tmp)
        assert (root / "uploads" / media_id).is_dir()

        child.send_signal(stop_signal)
        code = child.wait(timeout=15)
        _, err = child.communicate(timeout=5)

    assert code == 0, err
    assert not root.exists()
    assert serve_dirs_in(tmp) == set()
    assert "Traceback" not in err
    assert not answers(url, key)


def test_uprez_serve_prints_a_random_key_when_given_none(tmp_path: Path) -> None:
    with uprez_serve(tmp_path, "--port", "0", "--max-size", "256x144") as (child, url):
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("key: ")
        key = line.split()[1]
        assert key.startswith("uprez-local-")
        assert answers(url, key)
        assert not answers(url, TEST_KEY)

        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=15) == 0
    assert serve_dirs_in(tmp_path) == set()


@pytest.mark.parametrize("size", ["bogus", "0x100", "256", "-1x5"])
def test_uprez_serve_refuses_a_bad_max_size_with_exit_code_2(size: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [*UPREZ, "serve", "--port", "0", f"--max-size={size}"],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(tmp_path),
    )

    assert done.returncode == 2, done
    assert "--max-size" in done.stderr
    assert "Traceback" not in done.stderr
    assert "http://" not in done.stdout
    assert serve_dirs_in(tmp_path) == set()


# -- regressions: stop blocked by a task fetching its input; a busy port ------------------------


class _StalledOrigin:
    """An HTTP origin on loopback that accepts a request and answers only when released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests = 0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                origin.requests += 1
                origin.release.wait(30)
                self.send_response(404)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.release.set()
        self.http.shutdown()
        self.http.server_close()


def test_stop_while_a_task_fetches_from_a_stalled_origin_returns_promptly() -> None:
    # A worker inside resolve_input's requests.get cannot be interrupted; stop() once waited for
    # it until the origin answered (up to the read timeout, per chunk). Here the origin gives up
    # after 6 s; stop() must not wait it out.
    origin = _StalledOrigin()
    server = LocalServer(settings()).start()
    root = server.root
    giving_up = threading.Timer(6.0, origin.release.set)
    giving_up.start()
    try:
        keyed().post(
            f"{server.base_url}/api/v3/runwayml/upscale-v1",
            json={"video": f"http://127.0.0.1:{origin.http.server_port}/a.mp4"},
            timeout=10,
        )
        wait_until(lambda: origin.requests == 1)
        started = time.monotonic()
        server.stop()
        took = time.monotonic() - started
    finally:
        server.stop()
        giving_up.cancel()
        origin.close()

    assert took < 5, f"stop took {took:.1f} s while a task was fetching its input"
    assert not root.exists()


def test_a_port_in_use_is_a_server_error_that_leaves_no_directory() -> None:
    # werkzeug's make_server reports a busy port with sys.exit(1): start() once raised SystemExit
    # instead of ServerError and left the uprez-serve-* directory it had just made behind.
    with LocalServer(settings()) as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        second = LocalServer(settings(), port=port)
        try:
            with pytest.raises(ServerError, match=str(port)):
                second.start()
        finally:
            leaked = leftover_root(second)
        assert answers(running.base_url)
    assert leaked is None, f"{leaked} was left behind"


def test_uprez_serve_on_a_busy_port_exits_with_the_server_error_code(tmp_path: Path) -> None:
    # The same case from the command line: the server error's exit code (not werkzeug's 1), a
    # message naming the port, and no uprez-serve-* directory left in the temporary folder.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*UPREZ, "serve", "--port", str(port), "--max-size", "256x144"],
            capture_output=True,
            text=True,
            timeout=30,
            env=child_env(tmp_path),
        )

    assert str(port) in done.stderr
    assert "Traceback" not in done.stderr
    assert serve_dirs_in(tmp_path) == set()
    assert done.returncode == ServerError.exit_code, done


def leftover_root(server: LocalServer) -> Path | None:
    """The directory a failed start left behind (removed here, so runs leave no litter)."""
    try:
        root = server.root
    except ServerError:
        return None
    shutil.rmtree(root, ignore_errors=True)
    return root
