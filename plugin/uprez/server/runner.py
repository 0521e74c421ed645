"""Starting and stopping the local server, in-process or as ``uprez serve``."""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from uprez.errors import ServerError
from uprez.server.app import ServiceApp
from uprez.server.settings import ServerSettings

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the ``uprez.server`` logger at DEBUG, not to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class LocalServer:
    """A WaveSpeed-compatible server that really upscales, on loopback by default.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with LocalServer(ServerSettings(api_key="k", max_size=(256, 144))) as server:
            print(server.base_url)   # http://127.0.0.1:<free port>

    Port 0 (the default) picks a free port. Its files live in a temporary directory
    that :meth:`stop` removes.
    """

    def __init__(
        self, settings: ServerSettings | None = None, *, host: str = LOOPBACK, port: int = 0
    ) -> None:
        self.settings = settings or ServerSettings()
        self._host = host
        self._port = port
        self._root: Path | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app: ServiceApp | None = None
        # Called once the socket is bound, before serving (``uprez serve`` prints the URL here).
        self.on_ready: Callable[[], None] | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise ServerError("the local server is not running")
        host = self._host if ":" not in self._host else f"[{self._host}]"
        return f"http://{host}:{self._server.port}"

    @property
    def root(self) -> Path:
        """The temporary directory that holds uploads, work files and outputs."""
        if self._root is None:
            raise ServerError("the local server is not running")
        return self._root

    def _bind(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="uprez-serve-"))
        own_hosts: set[str] = set()
        self.app = ServiceApp(self.settings, self._root, own_hosts)
        try:
            # Bind here, not in werkzeug: it answers a busy port with sys.exit().
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            with socket.create_server((self._host, self._port), family=family) as sock:
                self._server = make_server(
                    self._host,
                    self._port,
                    self.app,
                    threaded=True,
                    request_handler=_QuietHandler,
                    fd=sock.fileno(),
                )
        except OSError as exc:
            self.app.processor.shutdown()
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            raise ServerError(f"cannot listen on {self._host}:{self._port}: {exc}") from exc
        # The server recognises its own media URLs by these host names.
        port = self._server.port
        own_hosts.update({f"{self._host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})
        if self._host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("serving on %s: reachable beyond this machine", self._host)

    def start(self) -> LocalServer:
        """Bind and serve in a background thread; return self."""
        self._bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="uprez-serve", daemon=True
        )
        self._thread.start()
        log.info("local server listening on %s", self.base_url)
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until interrupted (Ctrl-C), then clean up."""
        self._bind()
        assert self._server is not None
        try:
            if self.on_ready is not None:
                self.on_ready()
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, abort tasks in progress, and remove the server's files."""
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
                self._thread.join(timeout=10)
                self._thread = None
            server.server_close()
        if self.app is not None:
            self.app.processor.shutdown()
            for pred in self.app.predictions.all():
                pred.done.set()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return f"LocalServer({state})"
