"""A real, throwaway PostgreSQL server for the tests.

``PostgresServer`` makes a new cluster in a temporary folder, starts it on a free loopback port
(127.0.0.1 only) and removes everything again when it exits. It needs the server programs
(``initdb`` and ``postgres``) on this machine: on Debian, ``apt-get install postgresql``.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

#: The environment variable that names the folder holding ``initdb`` and ``postgres``.
BIN_ENV = "UPREZ_TEST_PG_BIN"
#: The role the tests connect as (a superuser; every connection is trusted) and its database.
USER = "uprez"
DATABASE = "uprez"
#: How long the server may take to accept connections, and to stop.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: Server settings for tests: nothing is worth syncing to disk, and many node processes connect.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}

# Runs beside the server and removes it if the test process dies without stopping it (killed,
# say): it waits for "done" on its stdin, and an end of input without it means the process died.
_WATCHDOG = """\
import os, shutil, signal, sys, time
pid, folder = int(sys.argv[1]), sys.argv[2]
if sys.stdin.readline() != "done\\n":
    for number in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, number)
        except OSError:
            break
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
    shutil.rmtree(folder, ignore_errors=True)
"""

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server programs are not on this machine."""


def find_bin_dir() -> Path:
    """Return the folder holding ``initdb`` and ``postgres``.

    The search order: the folder named by ``UPREZ_TEST_PG_BIN``; the folder ``pg_config
    --bindir`` names, if it holds ``initdb``; the newest ``/usr/lib/postgresql/*/bin``.
    """
    named = os.environ.get(BIN_ENV)
    if named:
        folder = Path(named)
        if not _has_server(folder):
            raise PostgresNotFound(f"{BIN_ENV}={named} holds no initdb and postgres programs")
        return folder
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=False
        )
        folder = Path(result.stdout.strip())
        if result.returncode == 0 and _has_server(folder):
            return folder
    found = [
        folder
        for folder in Path("/usr/lib/postgresql").glob("*/bin")
        if folder.parent.name.isdigit() and _has_server(folder)
    ]
    if found:
        return max(found, key=lambda folder: int(folder.parent.name))
    raise PostgresNotFound(
        "The tests need the PostgreSQL server programs (initdb, postgres) and found none: "
        "install them (Debian and Ubuntu: apt-get install postgresql; macOS: brew install "
        f"postgresql), or set {BIN_ENV} to the folder that holds them."
    )


def _has_server(folder: Path) -> bool:
    """Whether ``folder`` holds runnable ``initdb`` and ``postgres`` programs."""
    return all(os.access(folder / name, os.X_OK) for name in ("initdb", "postgres"))


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: none (this one) unless this is root, which PostgreSQL
    refuses to run as; then the ``postgres`` system user if there is one, else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresNotFound("Running as root, and there is no postgres or nobody user to run as")


def _base_folder(account: pwd.struct_passwd | None) -> str:
    """Where to make the temporary folder: the usual place, unless its path is too long for the
    server's unix socket, or another account (the server's) could not reach it; then /tmp."""
    base = tempfile.gettempdir()
    if len(base) > 60:
        return "/tmp"
    if account is not None:
        for folder in (Path(base), *Path(base).parents):
            if not folder.stat().st_mode & stat.S_IXOTH:
                return "/tmp"
    return base


class PostgresServer:
    """A PostgreSQL server of its own in a temporary folder, on 127.0.0.1 only.

    ``with PostgresServer() as server:`` gives a running server: ``server.url`` is its
    ``uprez`` database and ``server.fresh_database(name)`` makes another, empty one. Leaving
    the block stops the server and removes its folder.
    """

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.port = 0
        self.folder: Path | None = None
        self._account = _server_account()
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The connection URL of the ``uprez`` database."""
        return self.database_url(DATABASE)

    def database_url(self, name: str) -> str:
        """The connection URL of the database ``name`` on this server."""
        if not self.port:
            raise RuntimeError("The server is not running")
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def fresh_database(self, name: str) -> str:
        """Create the empty database ``name`` (lowercase letters, digits and underscores, at
        most 63) and return its URL."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"Not a plain database name: {name!r}")
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop the database ``name``, closing any connections still open to it."""
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Make the cluster, start the server and create the ``uprez`` database."""
        self.folder = Path(tempfile.mkdtemp(prefix="uprez-pg-", dir=_base_folder(self._account)))
        if self._account is not None:
            os.chown(self.folder, self._account.pw_uid, self._account.pw_gid)
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.folder / "data"),
                "--auth",
                "trust",
                "--username",
                USER,
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        # Another process may take the free port before the server does: then try another.
        for _attempt in range(3):
            self.port = _free_port()
            if self._launch():
                break
        else:
            raise RuntimeError("PostgreSQL found each of three free ports taken as it started")
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def stop(self) -> None:
        """Stop the server (an immediate shutdown) and remove its folder. Safe to call twice."""
        if self._watchdog is not None:
            self._stop_watchdog(self._watchdog)
            self._watchdog = None
        if self._process is not None:
            self._process.send_signal(signal.SIGQUIT)
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT)
            self._process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self.port = 0

    def _launch(self) -> bool:
        """Start the server on ``self.port`` and wait until it accepts connections. Return
        False if it stopped because the port was taken; raise on any other failure."""
        assert self.folder is not None
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.folder / "data"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.folder),
        ]
        for setting, value in SETTINGS.items():
            command += ["-c", f"{setting}={value}"]
        log = self.folder / "server.log"
        with log.open("ab") as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_account(),
            )
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self._process.pid), str(self.folder)],
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                text = log.read_text(errors="replace")
                self._stop_watchdog(self._watchdog)
                self._process = self._watchdog = None
                if "could not bind" in text or "already in use" in text:
                    return False
                raise RuntimeError(f"PostgreSQL stopped as it started:\n{text[-3000:]}")
            try:
                with psycopg.connect(self.database_url("postgres"), connect_timeout=2):
                    return True
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s: "
                        f"{error}\n{log.read_text(errors='replace')[-3000:]}"
                    ) from error
            time.sleep(0.05)

    @staticmethod
    def _stop_watchdog(watchdog: subprocess.Popen[str]) -> None:
        """Tell the watchdog the server is being stopped as planned, and let it go."""
        assert watchdog.stdin is not None
        try:
            watchdog.stdin.write("done\n")
            watchdog.stdin.close()
        except BrokenPipeError:
            pass
        try:
            watchdog.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait(STOP_TIMEOUT)

    def _run(self, command: list[str]) -> None:
        """Run a PostgreSQL program to its end (bounded), raising with its output on failure."""
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self._as_account(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )

    def _as_account(self) -> dict[str, Any]:
        """The subprocess options that run a program as the server's account, in its folder."""
        options: dict[str, Any] = {"cwd": self.folder}
        if self._account is not None:
            options.update(user=self._account.pw_uid, group=self._account.pw_gid, extra_groups=[])
        return options
