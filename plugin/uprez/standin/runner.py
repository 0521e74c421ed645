"""Starting and stopping the local server, in-process or as ``uprez serve``."""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from uprez.errors import ServerError
from uprez.standin.app import ServiceApp
from uprez.standin.link import ShapedFace
from uprez.standin.serving import BoundedServer, bind
from uprez.standin.settings import ServerSettings
from uprez.standin.tls import server_context

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class LocalServer:
    """A WaveSpeed-compatible server that really upscales, on loopback by default.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with LocalServer(ServerSettings(api_key="k", max_size=(256, 144))) as server:
            print(server.base_url)     # the API:     http://127.0.0.1:<port>
            print(server.storage_url)  # uploads:     http://127.0.0.1:<another port>
            print(server.cdn_url)      # outputs:     http://127.0.0.1:<a third port>

    As on the real service, upload targets and ``download_url``s live on a storage host and
    outputs on a CDN host, never on the API host. Port 0 (the default for each) picks a free
    port. Its files live in a temporary directory that :meth:`stop` removes.

    With ``settings.tls_cert`` (and ``tls_key``), every port serves HTTPS with that certificate,
    and every URL the server hands out (task URLs, upload targets, ``download_url``s, outputs)
    is an ``https://`` one.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        storage_port: int = 0,
        cdn_port: int = 0,
    ) -> None:
        self.settings = settings or ServerSettings()
        self._host = host
        self._ports = {"api": port, "storage": storage_port, "cdn": cdn_port}
        self._root: Path | None = None
        self._tls: ssl.SSLContext | None = None
        self._servers: dict[str, BoundedServer] = {}
        self._threads: dict[str, threading.Thread] = {}
        self.app: ServiceApp | None = None
        # Called once the sockets are bound, before serving (``uprez serve`` prints the URLs here).
        self.on_ready: Callable[[], None] | None = None

    def _url(self, name: str) -> str:
        server = self._servers.get(name)
        if server is None:
            raise ServerError("the local server is not running")
        host = self._host if ":" not in self._host else f"[{self._host}]"
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{server.port}"

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the API (``https://`` over TLS)."""
        return self._url("api")

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context every port serves with (None over plain HTTP). A certificate chain
        loaded into it (``load_cert_chain``) is presented from the next connection on."""
        return self._tls

    @property
    def storage_url(self) -> str:
        """``http://host:port`` of the storage host (upload PUT targets and ``download_url``s)."""
        return self._url("storage")

    @property
    def cdn_url(self) -> str:
        """``http://host:port`` of the CDN host (task outputs)."""
        return self._url("cdn")

    @property
    def root(self) -> Path:
        """The temporary directory that holds uploads, work files and outputs."""
        if self._root is None:
            raise ServerError("the local server is not running")
        return self._root

    def _bind(self) -> None:
        settings = self.settings
        if settings.tls_cert is not None:
            self._tls = server_context(settings.tls_cert, settings.tls_key)
        self._root = Path(tempfile.mkdtemp(prefix="uprez-serve-"))
        self.app = app = ServiceApp(settings, self._root)
        faces = {"api": app, "storage": app.storage, "cdn": app.cdn}
        try:
            for name, face in faces.items():
                # Every port sits behind the studio's link (a no-op unless it is shaped).
                shaped = ShapedFace(face, app.link)
                self._servers[name] = bind(
                    self._host, self._ports[name], shaped, settings, self._tls
                )
        except OSError as exc:
            for server in self._servers.values():
                server.server_close()
            self._servers.clear()
            app.close()
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            port = self._ports[name]
            raise ServerError(f"cannot listen on {self._host}:{port} ({name}): {exc}") from exc
        app.storage_port = self._servers["storage"].port
        app.cdn_port = self._servers["cdn"].port
        if self._host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("serving on %s: reachable beyond this machine", self._host)

    def _serve_in_background(self, names: tuple[str, ...]) -> None:
        for name in names:
            thread = threading.Thread(
                target=self._servers[name].serve_forever, name=f"uprez-serve-{name}", daemon=True
            )
            thread.start()
            self._threads[name] = thread

    def start(self) -> LocalServer:
        """Bind and serve in background threads; return self."""
        self._bind()
        self._serve_in_background(("api", "storage", "cdn"))
        log.info(
            "local server listening on %s (storage %s, cdn %s)",
            self.base_url,
            self.storage_url,
            self.cdn_url,
        )
        return self

    def serve_forever(self) -> None:
        """Bind and serve the API in this thread until interrupted (Ctrl-C), then clean up."""
        self._bind()
        try:
            self._serve_in_background(("storage", "cdn"))
            if self.on_ready is not None:
                self.on_ready()
            self._servers["api"].serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, abort tasks in progress, and remove the server's files."""
        servers, self._servers = self._servers, {}
        for name, server in servers.items():
            thread = self._threads.pop(name, None)
            if thread is not None:
                server.shutdown()
                thread.join(timeout=10)
            server.server_close()
        if self.app is not None:
            self.app.close()
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
        state = self.base_url if self._servers else "stopped"
        return f"LocalServer({state})"
