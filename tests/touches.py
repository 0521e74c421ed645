"""What a run of uprez touched, told by something other than uprez: the kernel says whether a
file was opened (by Python, by FFmpeg's C code, by any process), and Python's audit hooks say
every connection a process attempted.

Python's own ``open`` audit event would not do for files: PyAV opens a video in C, unseen by
audit hooks, so only the kernel (inotify) can say that a probe never happened.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

_IN_ACCESS, _IN_OPEN = 0x1, 0x20
_IN_NONBLOCK, _IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class FileOpens:
    """Counts the opens and reads of one file while it is watched (Linux inotify)::

    with FileOpens(clip) as opens:
        ...
    assert opens.count == 0
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fd = -1

    def __enter__(self) -> FileOpens:
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        watch = libc.inotify_add_watch(self._fd, os.fsencode(self.path), _IN_OPEN | _IN_ACCESS)
        if watch < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {self.path}")
        return self

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                _wd, mask, _cookie, size = _EVENT.unpack_from(data, offset)
                if mask & (_IN_OPEN | _IN_ACCESS):
                    self.count += 1
                offset += _EVENT.size + size

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._drain()
        os.close(self._fd)


# Run in a fresh interpreter: records every address the process looks up or connects to (a name
# lookup is already a touch of the network), refuses any that is not loopback when told to, and
# runs the command line. Audit hooks see every socket Python opens, in every thread.
_GUARD = r"""
import ipaddress, json, socket, sys

log_path, strict, args = sys.argv[1], sys.argv[2] == "strict", sys.argv[3:]
seen = []
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

def loopback(host):
    if host is None or host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False

def hook(event, payload):
    if event == "socket.connect":
        sock, address = payload
        if sock.family == socket.AF_UNIX:
            return
        host = address[0]
    elif event == "socket.getaddrinfo":
        host = payload[0]
        host = host.decode() if isinstance(host, bytes) else host
    else:
        return
    seen.append({"event": event, "host": host, "loopback": loopback(host)})
    if strict and not loopback(host):
        raise ConnectionRefusedError(f"refused by the test: {event} to {host}")

sys.addaudithook(hook)
from uprez.cli import main
try:
    code = main(args)
finally:
    with open(log_path, "w") as out:
        json.dump(seen, out)
sys.exit(code)
"""


def run_guarded(
    *args: str | Path,
    log: Path,
    cwd: Path,
    env: dict[str, str],
    loopback_only: bool = False,
    timeout: float = 120,
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """``uprez ARGS`` in a fresh process that records every name lookup and connection it
    attempts (``loopback_only``: and fails any that is not to this machine); the finished
    process and what it attempted, in order."""
    done = subprocess.run(
        [sys.executable, "-c", _GUARD, str(log), "strict" if loopback_only else "record"]
        + [str(arg) for arg in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    attempts: list[dict[str, Any]] = json.loads(log.read_text()) if log.exists() else []
    return done, attempts
