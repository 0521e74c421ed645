"""A forward proxy and a TCP relay of the tests' own, on 127.0.0.1, for uprez on studio networks.

:class:`ForwardProxy` is an HTTP proxy as a studio runs one: it opens CONNECT tunnels (to
loopback only: it never connects to another address) and records every request line it is sent;
any other request is recorded and answered 501. :class:`Relay` forwards every connection made to
its port to one upstream port, recording the first bytes of each (a TLS handshake starts with
``0x16``, a plain HTTP request with a method name).

Both watch every byte they carry, both ways, for a secret (the API key) in clear, and both
misbehave on demand (:class:`Fault`): refuse a tunnel with a status (407, 502), close a
connection during the TLS handshake (once the client's hello has arrived), or drop it after so
many bytes of the server's answer (a download cut mid-body). A small threaded server rather than
a package: the faults and the records are what the tests need, and proxy.py or mitmproxy would
bring their own (mitmproxy intercepts TLS, which is the opposite of the point).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

LOOPBACK = "127.0.0.1"
_REASONS = {407: "Proxy Authentication Required", 403: "Forbidden", 502: "Bad Gateway"}


@dataclass
class Fault:
    """What to do to the next ``times`` connections (``-1``: every one) to ``port`` (None: to
    any): ``refuse`` with ``status`` (the proxy only), close during the ``handshake``, or
    ``drop`` after ``after`` bytes of the answer."""

    kind: str
    port: int | None = None
    status: int = 502
    after: int = 0
    times: int = 1


class _Base:
    """What the proxy and the relay share: faults, records, the secret watch, the sockets."""

    def __init__(self, secret: bytes | None) -> None:
        self.secret = secret
        self.leaks: list[str] = []  # where the secret was seen in clear
        self.injected: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._server = socketserver.ThreadingTCPServer((LOOPBACK, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take(self, port: int) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.port in (None, port):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    self.injected[fault.kind] += 1
                    return fault
        return None

    def _watch(self, data: bytes, where: str) -> None:
        if self.secret and self.secret in data:
            self.leaks.append(where)

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                client: socket.socket = self.request
                with owner._lock:
                    owner._open.add(client)
                try:
                    with contextlib.suppress(OSError):
                        owner._serve(client)
                finally:
                    _close(client)

        return Handler

    def _serve(self, client: socket.socket) -> None:
        raise NotImplementedError

    def _tunnel(
        self, client: socket.socket, port: int, fault: Fault | None, first: bytes = b""
    ) -> None:
        """Carry bytes both ways between ``client`` and loopback ``port`` until both end."""
        if fault is not None and fault.kind == "handshake":
            if not first:
                first = client.recv(65536)  # the client's hello: then hang up on it
            return
        try:
            upstream = socket.create_connection((LOOPBACK, port), timeout=5)
        except OSError:
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.add(upstream)
        limit = fault.after if fault is not None and fault.kind == "drop" else None
        try:
            if first:
                self._watch(first, "request")
                upstream.sendall(first)
            up = threading.Thread(
                target=self._copy, args=(client, upstream, None, "request"), daemon=True
            )
            up.start()
            self._copy(upstream, client, limit, "answer")
            if limit is not None:
                _close(client)
            up.join(timeout=10)
        finally:
            _close(upstream)

    def _copy(
        self, source: socket.socket, target: socket.socket, limit: int | None, where: str
    ) -> None:
        """Bytes from ``source`` to ``target`` until the end (or ``limit`` bytes: then cut)."""
        tail, sent = b"", 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                self._watch(tail + data, where)
                tail = data[-64:]
                if limit is not None and sent + len(data) >= limit:
                    target.sendall(data[: max(0, limit - sent)])
                    return
                target.sendall(data)
                sent += len(data)
        except OSError:
            return

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._open):
                _close(sock)


class ForwardProxy(_Base):
    """An HTTP proxy on 127.0.0.1 that tunnels CONNECT to loopback and records each request
    line (``lines``) and each tunnel's port (``tunnels``)."""

    def __init__(self, secret: bytes | None = None) -> None:
        super().__init__(secret)
        self.lines: list[str] = []
        self.tunnels: list[int] = []

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            data = client.recv(4096)
            if not data:
                return
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        self._watch(head, "proxy request")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        with self._lock:
            self.lines.append(line)
        method, _, target = line.partition(" ")
        target = target.rpartition(" ")[0]
        host, _, port_text = target.rpartition(":")
        if method != "CONNECT":
            client.sendall(_answer(501, "Not Implemented"))
            return
        if host.strip("[]") not in (LOOPBACK, "localhost") or not port_text.isdigit():
            client.sendall(_answer(502))  # never another address
            return
        port = int(port_text)
        with self._lock:
            self.tunnels.append(port)
        fault = self._take(port)
        if fault is not None and fault.kind == "refuse":
            extra = 'Proxy-Authenticate: Basic realm="studio"\r\n' if fault.status == 407 else ""
            client.sendall(_answer(fault.status, extra=extra))
            return
        client.settimeout(None)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._tunnel(client, port, fault, rest)


class Relay(_Base):
    """A TCP relay on 127.0.0.1 to ``upstream`` (a port on loopback), recording the first bytes
    of each connection (``first_bytes``)."""

    def __init__(self, upstream: int, secret: bytes | None = None) -> None:
        super().__init__(secret)
        self.upstream = upstream
        self.first_bytes: list[bytes] = []

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(10)
        first = client.recv(65536)
        if not first:
            return
        client.settimeout(None)
        with self._lock:
            self.first_bytes.append(first[:8])
        self._tunnel(client, self.upstream, self._take(self.upstream), first)


def _answer(status: int, reason: str | None = None, extra: str = "") -> bytes:
    words = reason or _REASONS.get(status, "Refused")
    return (
        f"HTTP/1.1 {status} {words}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


def _close(sock: socket.socket) -> None:
    """Hang up at once (shutting down first wakes a thread blocked reading it)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
